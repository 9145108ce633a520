//! Parsed documents, by their text: a client sends the same few operations again and again, and
//! parsing (async-graphql's pest grammar) was the largest single cost of a small query. Bounded
//! by the size of the texts it holds; only documents of authenticated callers are kept, so
//! anonymous traffic can't fill it. Each remembers whether it passed async-graphql's full
//! validation, which a document needs only once (`analysis::InputTypes` says why).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::parser::types::ExecutableDocument;
use moka::sync::Cache;

use crate::graphql::usage::Usage;

/// The texts held at once, in bytes (a parsed document takes a few times its text).
const CAPACITY_BYTES: u64 = 4 << 20;
/// A longer document is parsed each time rather than kept.
const MAX_KEPT_LEN: usize = 16 << 10;

/// A parsed document, the document it runs as, and whether it has passed full validation.
pub struct ParsedDocument {
    /// As the client sent it: what analysis, ordering and counting read.
    pub document: ExecutableDocument,
    /// What runs, when it differs: with the `__typename`s field usage reads
    /// (`Usage::runnable`).
    runnable: Option<ExecutableDocument>,
    validated: AtomicBool,
}

impl ParsedDocument {
    pub fn new(document: ExecutableDocument, usage: &Usage) -> Self {
        Self {
            runnable: usage.runnable(&document),
            document,
            validated: AtomicBool::new(false),
        }
    }

    /// The document to run.
    pub fn runnable(&self) -> &ExecutableDocument {
        self.runnable.as_ref().unwrap_or(&self.document)
    }

    /// Whether every validation rule passed for this text once.
    pub fn validated(&self) -> bool {
        self.validated.load(Ordering::Relaxed)
    }

    pub fn mark_validated(&self) {
        self.validated.store(true, Ordering::Relaxed);
    }
}

pub struct ParsedDocuments {
    cache: Cache<Arc<str>, Arc<ParsedDocument>>,
}

impl Default for ParsedDocuments {
    fn default() -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|text: &Arc<str>, _| u32::try_from(text.len()).unwrap_or(u32::MAX))
                .build(),
        }
    }
}

impl ParsedDocuments {
    /// The document `query` parses to, when it was kept.
    pub fn get(&self, query: &str) -> Option<Arc<ParsedDocument>> {
        self.cache.get(query)
    }

    /// Keeps a document that parsed (for an authenticated caller).
    pub fn keep(&self, query: &str, document: &Arc<ParsedDocument>) {
        if query.len() <= MAX_KEPT_LEN {
            self.cache.insert(Arc::from(query), Arc::clone(document));
        }
    }
}
