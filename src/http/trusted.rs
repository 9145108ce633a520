//! Trusted documents (persisted operations): a manifest of the operations a frontend ships,
//! by id, as GraphQL Code Generator's client preset (`persistedDocuments`) and the Relay
//! compiler (`persistedQueries`) write it — `{"<id>": "<document>"}` — or as Apollo's
//! persisted query manifest lists them. In `allow` mode a client may send `documentId` (or
//! APQ's `sha256Hash`) instead of the text; in `enforce` mode nothing else runs. The manifest
//! is read again on SIGHUP; requests under way keep the one they started with.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, RwLock};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::apq::Hash;

/// The longest id a manifest may give a document: a client's `documentId` is held to it.
pub const MAX_ID_BYTES: usize = 256;

pub use crate::config::{TrustedMode, TrustedSettings};

/// A manifest, as loaded.
#[derive(Debug, Default)]
pub struct Manifest {
    /// Documents by id, as the manifest spells the id (and without a `sha256:` prefix).
    by_id: HashMap<String, Arc<str>>,
    /// Documents by the SHA-256 of their text, for APQ's hash and for text sent whole.
    by_hash: HashMap<Hash, Arc<str>>,
}

impl Manifest {
    /// The document an id names: as the manifest spells it, or with its `sha256:` prefix
    /// (the GraphQL-over-HTTP draft's spelling) added or taken off.
    pub fn by_id(&self, id: &str) -> Option<Arc<str>> {
        let bare = id.strip_prefix("sha256:").unwrap_or(id);
        self.by_id
            .get(id)
            .or_else(|| self.by_id.get(bare))
            .or_else(|| self.by_id.get(&format!("sha256:{bare}")))
            .cloned()
    }

    /// The document whose text has this SHA-256.
    pub fn by_hash(&self, hash: &Hash) -> Option<Arc<str>> {
        self.by_hash.get(hash).cloned()
    }

    /// Whether `text` is one of the documents, exactly.
    pub fn contains_text(&self, text: &str) -> bool {
        let hash: Hash = Sha256::digest(text.as_bytes()).into();
        self.by_hash.contains_key(&hash)
    }

    /// Every document with its id, as the manifest spells it.
    pub fn documents(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_id.iter().map(|(id, text)| (id.as_str(), &**text))
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Reads and checks a manifest: a JSON object of id → document (Code Generator, Relay), or
    /// Apollo's `{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}]}`.
    /// Every document must parse; ids are unique.
    pub fn load(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let text = crate::files::read_text(path)
            .map_err(|e| format!("the trusted documents {shown} can't be read: {e}"))?;
        // Read as pairs, so that an id given twice is seen (a map keeps the last).
        let Pairs(pairs) = serde_json::from_str(&text)
            .map_err(|e| format!("the trusted documents {shown} are not a JSON object: {e}"))?;
        let apollo = pairs.iter().any(|(key, value)| {
            key == "format" && value.as_str() == Some("apollo-persisted-query-manifest")
        });
        let entries: Vec<(String, String)> = if apollo {
            let operations = pairs
                .iter()
                .find(|(key, _)| key == "operations")
                .and_then(|(_, operations)| operations.as_array())
                .ok_or_else(|| format!("the trusted documents manifest {shown}: an Apollo manifest lists `operations`"))?;
            operations
                .iter()
                .map(|op| match (op.get("id").and_then(Value::as_str), op.get("body").and_then(Value::as_str)) {
                    (Some(id), Some(body)) => Ok((id.to_owned(), body.to_owned())),
                    _ => Err(format!("the trusted documents manifest {shown}: every operation of an Apollo manifest has a string `id` and `body`")),
                })
                .collect::<Result<_, _>>()?
        } else {
            pairs
                .into_iter()
                .map(|(id, document)| match document {
                    Value::String(document) => Ok((id, document)),
                    _ => Err(format!("the trusted documents manifest {shown}: the document of `{id}` is not a string")),
                })
                .collect::<Result<_, _>>()?
        };
        let mut manifest = Self::default();
        let mut ids = HashSet::new();
        for (id, document) in entries {
            if id.is_empty() || id.len() > MAX_ID_BYTES || !ids.insert(id.clone()) {
                return Err(format!(
                    "the trusted documents manifest {shown}: the id `{}` is empty, longer than {MAX_ID_BYTES} bytes, or given twice",
                    id.chars().take(80).collect::<String>()
                ));
            }
            async_graphql::parser::parse_query(&document)
                .map_err(|e| format!("the trusted documents manifest {shown}: the document `{id}` does not parse: {e}"))?;
            let document: Arc<str> = Arc::from(document);
            let hash: Hash = Sha256::digest(document.as_bytes()).into();
            manifest.by_hash.insert(hash, document.clone());
            manifest.by_id.insert(id, document);
        }
        Ok(manifest)
    }
}

/// A JSON object's members in order, duplicates kept.
struct Pairs(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The gateway's trusted documents: its settings and the manifest in force.
pub struct TrustedDocuments {
    pub settings: TrustedSettings,
    // A lock held only to clone an `Arc`; a swap-on-write cell crate would save that much.
    manifest: RwLock<Arc<Manifest>>,
}

impl TrustedDocuments {
    /// Loads the manifest the settings name; a mode other than `off` needs one.
    pub fn new(settings: TrustedSettings) -> Result<Self, String> {
        let manifest = match (&settings.file, settings.mode) {
            (Some(file), _) => Manifest::load(file)?,
            (None, TrustedMode::Off) => Manifest::default(),
            (None, mode) => {
                return Err(format!(
                    "--trusted-documents-mode {} needs a manifest: --trusted-documents FILE",
                    if mode == TrustedMode::Allow {
                        "allow"
                    } else {
                        "enforce"
                    }
                ));
            }
        };
        Ok(Self {
            settings,
            manifest: RwLock::new(Arc::new(manifest)),
        })
    }

    pub fn mode(&self) -> TrustedMode {
        self.settings.mode
    }

    /// The manifest in force now.
    pub fn current(&self) -> Arc<Manifest> {
        match self.manifest.read() {
            Ok(manifest) => manifest.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the manifest again; a manifest that doesn't load leaves the one in force.
    pub fn reload(&self) -> Result<usize, String> {
        let Some(file) = &self.settings.file else {
            return Ok(0);
        };
        let manifest = Manifest::load(file)?;
        let count = manifest.len();
        match self.manifest.write() {
            Ok(mut slot) => *slot = Arc::new(manifest),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(manifest),
        }
        Ok(count)
    }

    /// Reloads on every SIGHUP, for as long as the returned task runs; `None` without a
    /// manifest, which leaves nothing to reload.
    pub fn reload_on(
        self: &Arc<Self>,
        mut hangups: crate::signals::Hangups,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.settings.file.as_ref()?;
        let documents = Arc::downgrade(self);
        Some(tokio::spawn(async move {
            while hangups.next().await {
                let Some(documents) = documents.upgrade() else {
                    return;
                };
                // Reading and parsing a large manifest is blocking work.
                let reloaded = tokio::task::spawn_blocking(move || documents.reload()).await;
                match reloaded.unwrap_or_else(|_| Err("the reload failed".to_owned())) {
                    Ok(count) => {
                        tracing::info!(documents = count, "reloaded the trusted documents")
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "kept the trusted documents in force: the new manifest doesn't load")
                    }
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Result<Manifest, String> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("m.json");
        std::fs::write(&path, text).expect("write");
        Manifest::load(&path)
    }

    #[test]
    fn reads_codegen_relay_and_apollo_manifests() {
        let codegen = manifest(r#"{"abc": "query A { viewer { mode } }"}"#).expect("codegen");
        assert!(codegen.by_id("abc").is_some());
        assert!(codegen.by_id("sha256:abc").is_some());
        assert!(codegen.contains_text("query A { viewer { mode } }"));
        assert!(!codegen.contains_text("query A { viewer { mode } } "));
        let apollo = manifest(
            r#"{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"x1","name":"A","type":"query","body":"query A { viewer { mode } }"}]}"#,
        )
        .expect("apollo");
        assert!(apollo.by_id("x1").is_some());
        let hash: Hash = Sha256::digest(b"query A { viewer { mode } }").into();
        assert!(apollo.by_hash(&hash).is_some());
    }

    #[test]
    fn refuses_manifests_it_cant_trust() {
        for bad in [
            "[]",
            "not json",
            r#"{"a": 1}"#,
            r#"{"a": "query {"}"#,
            r#"{"": "{ viewer { mode } }"}"#,
            format!(
                r#"{{"{}": "{{ viewer {{ mode }} }}"}}"#,
                "a".repeat(MAX_ID_BYTES + 1)
            )
            .as_str(),
            r#"{"a": "{ viewer { mode } }", "a": "mutation { revokeApiKey(input: {id: \"x\"}) { apiKey { id } } }"}"#,
            r#"{"format":"apollo-persisted-query-manifest","operations":[{"id":"a"}]}"#,
        ] {
            assert!(manifest(bad).is_err(), "{bad}");
        }
    }
}
