//! The schema extension that counts each field an operation resolves for the operation's
//! client, and answers an operation that used a deprecated field with `extensions.warnings`
//! and a `Deprecation` header (RFC 9745).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
};
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use async_graphql::{QueryPathSegment, ServerResult, Value};
use axum::http::HeaderValue;

use super::{Tally, UsageClient};

/// The code of a warning that the operation used a deprecated field (a warning, not an error).
pub const DEPRECATED_FIELD: &str = "DEPRECATED_FIELD";

/// The schema's deprecated fields, by coordinate (`Type.field`), with the reason given.
#[derive(Debug, Default)]
pub struct Deprecations(HashMap<String, String>);

impl Deprecations {
    /// The fields (of objects and interfaces) an SDL marks `@deprecated`.
    pub fn from_sdl(sdl: &str) -> Self {
        let Ok(document) = async_graphql::parser::parse_schema(sdl) else {
            return Self::default();
        };
        let mut deprecated = HashMap::new();
        for definition in &document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let fields = match &ty.node.kind {
                TypeKind::Object(object) => &object.fields,
                TypeKind::Interface(interface) => &interface.fields,
                _ => continue,
            };
            for field in fields {
                let Some(directive) = field
                    .node
                    .directives
                    .iter()
                    .find(|d| d.node.name.node == "deprecated")
                else {
                    continue;
                };
                let reason = match directive.node.get_argument("reason").map(|r| &r.node) {
                    Some(async_graphql::Value::String(reason)) => reason.clone(),
                    _ => "No longer supported".to_owned(),
                };
                deprecated.insert(
                    format!("{}.{}", ty.node.name.node, field.node.name.node),
                    reason,
                );
            }
        }
        Self(deprecated)
    }

    /// The `Deprecation` header for an operation that used the fields at `coordinates`: the
    /// earliest date (`YYYY-MM-DD`) their reasons name, as an RFC 9745 date; `@0` (deprecated,
    /// no date given) when none names one. `None` when none of them is deprecated.
    fn header(&self, coordinates: &[&str]) -> Option<HeaderValue> {
        let reasons: Vec<&String> = coordinates.iter().filter_map(|c| self.0.get(*c)).collect();
        if reasons.is_empty() {
            return None;
        }
        let since = reasons
            .iter()
            .filter_map(|reason| date_in(reason))
            .min()
            .unwrap_or(0);
        HeaderValue::from_str(&format!("@{since}")).ok()
    }
}

/// The first `YYYY-MM-DD` in `text`, as seconds since the epoch (its midnight, UTC).
fn date_in(text: &str) -> Option<i64> {
    text.char_indices().find_map(|(at, _)| {
        let candidate = text.get(at..at + 10)?;
        let shaped = candidate.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
        if !shaped {
            return None;
        }
        let date = chrono::NaiveDate::parse_from_str(candidate, "%Y-%m-%d").ok()?;
        Some(date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp())
    })
}

/// Makes one [`Recorder`] per operation.
pub struct FieldUsageExtension {
    pub tally: Arc<Tally>,
    /// Set once the schema is built, from its own SDL.
    pub deprecations: Arc<OnceLock<Deprecations>>,
}

impl ExtensionFactory for FieldUsageExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Recorder {
            tally: self.tally.clone(),
            deprecations: self.deprecations.clone(),
            client: OnceLock::new(),
            resolved: Mutex::default(),
        })
    }
}

/// One operation's counts, by parent type then field, added to the tally when it ends (an
/// executed operation, or a subscription's stream), so the shared tally is locked once per
/// operation rather than per field.
struct Recorder {
    tally: Arc<Tally>,
    deprecations: Arc<OnceLock<Deprecations>>,
    client: OnceLock<Arc<str>>,
    resolved: Mutex<HashMap<String, HashMap<String, u64>>>,
}

impl Recorder {
    fn count(&self, parent: &str, field: &str) {
        let mut resolved = self.resolved.lock().unwrap_or_else(PoisonError::into_inner);
        let fields = match resolved.get_mut(parent) {
            Some(fields) => fields,
            None => resolved.entry(parent.to_owned()).or_default(),
        };
        match fields.get_mut(field) {
            Some(count) => *count = count.saturating_add(1),
            None => {
                fields.insert(field.to_owned(), 1);
            }
        }
    }

    /// The coordinates the operation resolved so far.
    fn coordinates(&self) -> Vec<String> {
        let resolved = self.resolved.lock().unwrap_or_else(PoisonError::into_inner);
        resolved
            .iter()
            .flat_map(|(parent, fields)| fields.keys().map(move |f| format!("{parent}.{f}")))
            .collect()
    }
}

#[async_trait::async_trait]
impl Extension for Recorder {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let mut response = next.run(ctx, operation_name).await;
        let Some(deprecations) = self.deprecations.get() else {
            return response;
        };
        let mut used = self.coordinates();
        used.retain(|c| deprecations.0.contains_key(c));
        used.sort();
        let coordinates: Vec<&str> = used.iter().map(String::as_str).collect();
        if let Some(header) = deprecations.header(&coordinates) {
            response.http_headers.insert("deprecation", header);
            let warnings: Vec<serde_json::Value> = coordinates
                .iter()
                .map(|coordinate| {
                    serde_json::json!({
                        "message": format!("`{coordinate}` is deprecated: {}", deprecations.0.get(*coordinate).map_or("", String::as_str)),
                        "code": DEPRECATED_FIELD,
                        "coordinate": coordinate,
                    })
                })
                .collect();
            if let Ok(warnings) = Value::from_json(serde_json::Value::Array(warnings)) {
                response.extensions.insert("warnings".to_owned(), warnings);
            }
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // A list's items pass through here too, each under its index: only fields count.
        let item = matches!(info.path_node.segment, QueryPathSegment::Index(_));
        if !item && !info.is_for_introspection && !info.name.starts_with("__") {
            if self.client.get().is_none()
                && let Some(UsageClient(client)) = ctx.data_opt::<UsageClient>()
            {
                let _ = self.client.set(client.clone());
            }
            self.count(info.parent_type, info.name);
        }
        next.run(ctx, info).await
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let resolved = std::mem::take(
            self.resolved
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if resolved.is_empty() {
            return;
        }
        let client = self.client.take().unwrap_or_else(|| Arc::from("unknown"));
        self.tally.add(
            &client,
            resolved.into_iter().flat_map(|(parent, fields)| {
                fields
                    .into_iter()
                    .map(move |(field, count)| (format!("{parent}.{field}"), count))
            }),
        );
    }
}
