//! Conditional requests on one endpoint (RFC 9110 §13): `If-None-Match` on `GET`, `If-Match`
//! on `PATCH` and `DELETE`, against the endpoint's `ETag` (see `etag_of`).

use super::*;

/// Whether `If-None-Match` names the current version (`*` names any): a weak comparison, so a
/// tag a proxy marked weak still matches.
pub(super) fn none_match(headers: &HeaderMap, current: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == current)
}

/// A write's `If-Match`.
#[derive(Debug, Clone)]
pub(super) enum IfMatch {
    Absent,
    /// `*`: any version.
    Any,
    /// The entity tags it lists, as sent.
    Tags(Vec<String>),
}

impl IfMatch {
    pub(super) fn of(headers: &HeaderMap) -> Self {
        let mut values = headers.get_all(header::IF_MATCH).iter().peekable();
        if values.peek().is_none() {
            return Self::Absent;
        }
        let tags: Vec<String> = values
            .flat_map(|v| v.to_str().unwrap_or("\u{0}").split(',').map(str::trim))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        if tags.iter().any(|t| t == "*") {
            Self::Any
        } else {
            Self::Tags(tags)
        }
    }

    /// The `updated_at` the write may change, given the version read now: `None` for any.
    /// A list that doesn't name `current` (strongly: a weak tag never matches) fails at once;
    /// one that does still binds the write to that version, which its `UPDATE … WHERE`
    /// enforces.
    pub(super) fn expected(
        &self,
        current: &Endpoint,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, DomainError> {
        match self {
            Self::Absent | Self::Any => Ok(None),
            Self::Tags(tags) if tags.contains(&etag_of(current.updated_at)) => {
                Ok(Some(current.updated_at))
            }
            Self::Tags(_) => Err(DomainError::Stale(current.updated_at)),
        }
    }
}
