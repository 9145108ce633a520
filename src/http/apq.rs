//! Automatic persisted queries (Apollo's protocol): a client sends a query's SHA-256 instead
//! of its text; the gateway answers PERSISTED_QUERY_NOT_FOUND until the client sends both
//! once. Texts live in a cache bounded by total size.

use std::sync::Arc;

use moka::sync::Cache;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub struct PersistedQueries {
    cache: Cache<String, Arc<str>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ApqError {
    /// The hash is unknown: send the query with it (HTTP 200, PERSISTED_QUERY_NOT_FOUND).
    NotFound,
    /// Malformed `extensions.persistedQuery`, or a query that doesn't match its hash.
    Invalid(String),
    /// Persisted queries are turned off.
    NotSupported,
}

impl PersistedQueries {
    /// A cache holding at most `max_bytes` of query text; `None` when `max_bytes` is 0.
    pub fn new(max_bytes: u64) -> Option<Self> {
        (max_bytes > 0).then(|| Self {
            cache: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|hash: &String, query: &Arc<str>| {
                    u32::try_from(hash.len() + query.len()).unwrap_or(u32::MAX)
                })
                .build(),
        })
    }

    /// The query to run: the one sent (remembered under its hash), or the one remembered.
    pub fn resolve(
        &self,
        query: Option<String>,
        extensions: &Map<String, Value>,
    ) -> Result<Option<String>, ApqError> {
        let Some(persisted) = extensions.get("persistedQuery") else {
            return Ok(query);
        };
        let invalid = |m: &str| ApqError::Invalid(m.to_owned());
        let persisted = persisted
            .as_object()
            .ok_or_else(|| invalid("`extensions.persistedQuery` must be an object."))?;
        if persisted.get("version").and_then(Value::as_u64) != Some(1) {
            return Err(invalid("Only version 1 of persisted queries is supported."));
        }
        let hash = persisted
            .get("sha256Hash")
            .and_then(Value::as_str)
            .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| invalid("`sha256Hash` must be 64 hexadecimal digits."))?
            .to_ascii_lowercase();
        match query {
            Some(query) => {
                let digest = Sha256::digest(query.as_bytes());
                let actual: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                if actual != hash {
                    return Err(invalid("The query does not match its `sha256Hash`."));
                }
                self.cache.insert(hash, Arc::from(query.as_str()));
                Ok(Some(query))
            }
            None => self
                .cache
                .get(&hash)
                .map(|q| Some(q.to_string()))
                .ok_or(ApqError::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ext(hash: &str) -> Map<String, Value> {
        json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
            .as_object()
            .expect("object")
            .clone()
    }

    #[test]
    fn registers_then_serves_by_hash() {
        let apq = PersistedQueries::new(1024).expect("on");
        let query = "{ __typename }";
        let hash: String = Sha256::digest(query)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(apq.resolve(None, &ext(&hash)), Err(ApqError::NotFound));
        assert_eq!(
            apq.resolve(Some(query.into()), &ext(&hash)),
            Ok(Some(query.into()))
        );
        assert_eq!(apq.resolve(None, &ext(&hash)), Ok(Some(query.into())));
        assert!(matches!(
            apq.resolve(Some("{ other }".into()), &ext(&hash)),
            Err(ApqError::Invalid(_))
        ));
        assert!(matches!(
            apq.resolve(None, &ext("zz")),
            Err(ApqError::Invalid(_))
        ));
        assert!(PersistedQueries::new(0).is_none());
    }
}
