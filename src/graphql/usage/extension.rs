//! The schema extension that counts each field an operation resolves, and each argument,
//! input field and enum value its arguments use, for the operation's client; and answers an
//! operation that used something deprecated (`deprecations.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextResolve,
    ResolveInfo,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{QueryPathSegment, ServerResult, Value, Variables};

use super::deprecations::{DEPRECATION, Deprecations};
use super::{Tally, UsageClient};

/// Makes one [`Recorder`] per operation.
pub struct FieldUsageExtension {
    tally: Arc<Tally>,
    /// Read from the schema's registry by its first operation.
    deprecations: Arc<OnceLock<Deprecations>>,
}

impl FieldUsageExtension {
    pub fn new(tally: Arc<Tally>) -> Self {
        Self {
            tally,
            deprecations: Arc::default(),
        }
    }
}

impl ExtensionFactory for FieldUsageExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Recorder {
            tally: self.tally.clone(),
            deprecations: self.deprecations.clone(),
            client: OnceLock::new(),
            variables: OnceLock::new(),
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
    /// The request's variables, which arguments may name.
    variables: OnceLock<Variables>,
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
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if !variables.is_empty() {
            let _ = self.variables.set(variables.clone());
        }
        next.run(ctx, query, variables).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let mut response = next.run(ctx, operation_name).await;
        let deprecations = self
            .deprecations
            .get_or_init(|| Deprecations::of(&ctx.schema_env.registry));
        if deprecations.is_empty() {
            return response;
        }
        let mut used = self.coordinates();
        used.sort();
        if let Some((warnings, header)) = deprecations.answer(&used) {
            response.http_headers.insert(DEPRECATION, header);
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
            super::inputs::walk(
                &ctx.schema_env.registry,
                info.parent_type,
                info.name,
                &info.field.arguments,
                self.variables.get(),
                &mut |parent, member| self.count(parent, member),
            );
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
