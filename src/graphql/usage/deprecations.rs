//! The schema's deprecated fields, arguments, input fields and enum values, and what an
//! operation that used some of them is told: `extensions.warnings` and a `Deprecation` header
//! (RFC 9745).

use std::collections::HashMap;

use async_graphql::registry::{Deprecation, MetaType, Registry};
use axum::http::{HeaderName, HeaderValue};

/// RFC 9745's header: the response used something deprecated, and since when.
pub const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");

/// What was deprecated, which names the code of the warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Field,
    Argument,
    InputField,
    EnumValue,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::Field => "DEPRECATED_FIELD",
            Kind::Argument => "DEPRECATED_ARGUMENT",
            Kind::InputField => "DEPRECATED_INPUT_FIELD",
            Kind::EnumValue => "DEPRECATED_ENUM_VALUE",
        }
    }
}

/// The schema's deprecated members, by schema coordinate (`Type.field`,
/// `Type.field(argument:)`, `Input.field`, `Enum.VALUE`), with the reason given.
#[derive(Debug, Default)]
pub struct Deprecations(HashMap<String, (Kind, String)>);

impl Deprecations {
    /// Every member `registry` marks deprecated, introspection's own types left out.
    pub fn of(registry: &Registry) -> Self {
        let mut deprecated = HashMap::new();
        let mut note = |coordinate: String, kind: Kind, deprecation: &Deprecation| {
            if let Deprecation::Deprecated { reason } = deprecation {
                let reason = reason.as_deref().unwrap_or("No longer supported");
                deprecated.insert(coordinate, (kind, reason.to_owned()));
            }
        };
        for (name, ty) in registry.types.iter().filter(|(n, _)| !n.starts_with("__")) {
            match ty {
                MetaType::Object { fields, .. } | MetaType::Interface { fields, .. } => {
                    for (field, meta) in fields {
                        note(format!("{name}.{field}"), Kind::Field, &meta.deprecation);
                        for (argument, meta) in &meta.args {
                            let coordinate = format!("{name}.{field}({argument}:)");
                            note(coordinate, Kind::Argument, &meta.deprecation);
                        }
                    }
                }
                MetaType::InputObject { input_fields, .. } => {
                    for (field, meta) in input_fields {
                        note(
                            format!("{name}.{field}"),
                            Kind::InputField,
                            &meta.deprecation,
                        );
                    }
                }
                MetaType::Enum { enum_values, .. } => {
                    for (value, meta) in enum_values {
                        note(
                            format!("{name}.{value}"),
                            Kind::EnumValue,
                            &meta.deprecation,
                        );
                    }
                }
                _ => {}
            }
        }
        Self(deprecated)
    }

    /// Whether the schema deprecates nothing (the usual case: nothing to look up).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The warnings and the `Deprecation` header for an operation that used `coordinates`
    /// (sorted), or `None` when none of them is deprecated.
    pub fn answer(&self, coordinates: &[String]) -> Option<(Vec<serde_json::Value>, HeaderValue)> {
        let used: Vec<(&str, Kind, &str)> = coordinates
            .iter()
            .filter_map(|c| {
                let (kind, reason) = self.0.get(c)?;
                Some((c.as_str(), *kind, reason.as_str()))
            })
            .collect();
        let header = header(used.iter().map(|(_, _, reason)| *reason))?;
        let warnings = used
            .iter()
            .map(|(coordinate, kind, reason)| {
                serde_json::json!({
                    "message": format!("`{coordinate}` is deprecated: {reason}"),
                    "code": kind.code(),
                    "coordinate": coordinate,
                })
            })
            .collect();
        Some((warnings, header))
    }
}

/// The `Deprecation` header for deprecations with `reasons`: the earliest date (`YYYY-MM-DD`)
/// they name, as an RFC 9745 date; `@0` (deprecated, no date given) when none names one.
/// `None` when there is no reason (nothing deprecated was used).
fn header<'a>(reasons: impl Iterator<Item = &'a str>) -> Option<HeaderValue> {
    let mut any = false;
    let since = reasons
        .filter_map(|reason| {
            any = true;
            date_in(reason)
        })
        .min()
        .unwrap_or(0);
    if !any {
        return None;
    }
    HeaderValue::from_str(&format!("@{since}")).ok()
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
