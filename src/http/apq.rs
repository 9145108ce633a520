//! Automatic persisted queries (Apollo's protocol): a client sends a query's SHA-256 instead
//! of its text; the gateway answers PERSISTED_QUERY_NOT_FOUND until the client sends both
//! once. Texts live in a cache bounded by total size.

use std::sync::Arc;

use moka::sync::Cache;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub struct PersistedQueries {
    cache: Cache<Hash, Arc<str>>,
}

/// A query's SHA-256.
pub type Hash = [u8; 32];

/// What a cache entry costs beyond its query text: the key, the `Arc`'s counts, and moka's
/// own bookkeeping per entry (its node, the access-order deque entry and the hash table slot,
/// about 250 bytes as measured with 64-byte queries), so the byte bound holds for many small
/// queries as well as for a few large ones.
const ENTRY_OVERHEAD: usize = std::mem::size_of::<Hash>() + 2 * std::mem::size_of::<usize>() + 256;

/// The query to run, and the hash to remember it under once the caller is authenticated.
#[derive(Debug, PartialEq, Eq)]
pub struct Resolved {
    pub query: String,
    pub register: Option<Hash>,
}

impl Resolved {
    /// A query sent as text, with no persisted-query extension.
    pub fn sent(query: String) -> Self {
        Self {
            query,
            register: None,
        }
    }
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

/// The bytes an entry holding `query_len` bytes of text counts for against the bound.
fn weight(query_len: usize) -> u32 {
    u32::try_from(ENTRY_OVERHEAD + query_len).unwrap_or(u32::MAX)
}

impl PersistedQueries {
    /// A cache holding at most `max_bytes` (text and overhead); `None` when `max_bytes` is 0.
    pub fn new(max_bytes: u64) -> Option<Self> {
        (max_bytes > 0).then(|| Self {
            cache: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_: &Hash, query: &Arc<str>| weight(query.len()))
                .build(),
        })
    }

    /// The query to run: the one sent (to be remembered under its hash by `remember`), or
    /// the one remembered. Nothing is stored here.
    pub fn resolve(
        &self,
        query: Option<String>,
        extensions: &Map<String, Value>,
    ) -> Result<Option<Resolved>, ApqError> {
        let Some(persisted) = extensions.get("persistedQuery") else {
            return Ok(query.map(Resolved::sent));
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
            .and_then(parse_hash)
            .ok_or_else(|| invalid("`sha256Hash` must be 64 hexadecimal digits."))?;
        match query {
            Some(query) => {
                let digest: Hash = Sha256::digest(query.as_bytes()).into();
                if digest != hash {
                    return Err(invalid("The query does not match its `sha256Hash`."));
                }
                Ok(Some(Resolved {
                    query,
                    register: Some(hash),
                }))
            }
            None => self
                .cache
                .get(&hash)
                .map(|q| Some(Resolved::sent(q.to_string())))
                .ok_or(ApqError::NotFound),
        }
    }

    /// Remembers a query under its hash (from `resolve`), for callers who have authenticated.
    pub fn remember(&self, hash: Hash, query: &str) {
        self.cache.insert(hash, Arc::from(query));
    }
}

/// 64 hex digits as the 32 bytes of a SHA-256 hash.
pub(super) fn parse_hash(digits: &str) -> Option<Hash> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(digits, &mut hash).ok()?;
    Some(hash)
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
        let apq = PersistedQueries::new(4096).expect("on");
        let query = "{ __typename }";
        let hash: String = Sha256::digest(query)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(apq.resolve(None, &ext(&hash)), Err(ApqError::NotFound));
        let resolved = apq
            .resolve(Some(query.into()), &ext(&hash))
            .expect("valid")
            .expect("a query");
        assert_eq!(resolved.query, query);
        // Resolving stores nothing; only `remember` does (after authentication).
        assert_eq!(apq.resolve(None, &ext(&hash)), Err(ApqError::NotFound));
        apq.remember(resolved.register.expect("a hash to register"), query);
        assert_eq!(
            apq.resolve(None, &ext(&hash.to_uppercase())),
            Ok(Some(Resolved::sent(query.into())))
        );
        assert!(matches!(
            apq.resolve(Some("{ other }".into()), &ext(&hash)),
            Err(ApqError::Invalid(_))
        ));
        for bad in ["zz", &"g".repeat(64), &"é".repeat(32)] {
            assert!(matches!(
                apq.resolve(None, &ext(bad)),
                Err(ApqError::Invalid(_))
            ));
        }
        assert!(PersistedQueries::new(0).is_none());
    }

    #[test]
    fn the_bound_counts_each_entrys_overhead() {
        // 100 one-byte queries don't fit in 100 × (1 byte + a few): each costs its overhead.
        let apq = PersistedQueries::new(100 * 64).expect("on");
        for i in 0..100u32 {
            let query = format!("{{a{i}}}");
            apq.remember(Sha256::digest(query.as_bytes()).into(), &query);
        }
        apq.cache.run_pending_tasks();
        assert!(
            apq.cache.weighted_size() <= 100 * 64,
            "held {} bytes",
            apq.cache.weighted_size()
        );
        assert!(
            apq.cache.entry_count() < 100 * 64 / ENTRY_OVERHEAD as u64 + 1,
            "held {} entries",
            apq.cache.entry_count()
        );
        assert!(u64::from(weight(1)) > 256);
    }
}
