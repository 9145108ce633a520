//! `schema check`: the breaking changes between two schemas, each with the trusted documents
//! that would stop validating and the clients that used what changed.

use std::collections::BTreeMap;

mod diff;
mod model;
mod report;
mod walk;

pub use diff::{Change, Reach, breaking_changes};
pub use model::{Schema, one_line};
pub use report::{ClientUse, DocumentUse, Finding, Report};
pub use walk::{Uses, uses};

/// Recorded usage: who used a schema coordinate in the period the check asks about.
pub trait Usage {
    /// The clients that used `coordinate`, with how many times each.
    fn clients_of(&self, coordinate: &str) -> Vec<(String, u64)>;
}

/// Usage held in memory, by coordinate.
impl Usage for BTreeMap<String, Vec<(String, u64)>> {
    fn clients_of(&self, coordinate: &str) -> Vec<(String, u64)> {
        self.get(coordinate).cloned().unwrap_or_default()
    }
}

/// A trusted document, by its manifest id.
pub struct Document<'a> {
    pub id: &'a str,
    pub text: &'a str,
}

/// The breaking changes from `old` to `new`, each with the `documents` that use it (read with
/// `old`'s types) and, when `usage` is given, the clients that used it.
pub fn check(
    old: &Schema,
    new: &Schema,
    documents: &[Document],
    usage: Option<&dyn Usage>,
) -> Report {
    let read: Vec<(DocumentUse, Uses)> = documents
        .iter()
        .map(
            |document| match async_graphql::parser::parse_query(document.text) {
                Ok(parsed) => {
                    let operations = parsed
                        .operations
                        .iter()
                        .filter_map(|(name, _)| name.map(|n| n.to_string()))
                        .collect();
                    let used = uses(old, &parsed);
                    (
                        DocumentUse {
                            id: document.id.to_owned(),
                            operations,
                        },
                        used,
                    )
                }
                // A manifest's documents are parsed when it loads; one that doesn't uses nothing.
                Err(_) => (
                    DocumentUse {
                        id: document.id.to_owned(),
                        operations: Vec::new(),
                    },
                    Uses::default(),
                ),
            },
        )
        .collect();
    let findings = breaking_changes(old, new)
        .into_iter()
        .map(|change| {
            let documents: Vec<DocumentUse> = read
                .iter()
                .filter(|(_, used)| reaches(&change.reach, used))
                .map(|(document, _)| document.clone())
                .collect();
            let clients: Vec<ClientUse> = usage
                .map(|u| clients(u, &change.lookups))
                .unwrap_or_default();
            Finding {
                coordinate: change.coordinate,
                message: change.message,
                in_use: !documents.is_empty() || !clients.is_empty(),
                documents,
                clients,
            }
        })
        .collect();
    Report {
        findings,
        documents_checked: documents.len(),
        usage_checked: usage.is_some(),
    }
}

/// Whether a document's uses include what a change breaks.
pub fn reaches(reach: &Reach, used: &Uses) -> bool {
    match reach {
        Reach::Type(name) => used.coordinates.iter().any(|c| {
            c == name
                || c.strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        }),
        Reach::Coordinate(coordinate) => used.coordinates.iter().any(|c| {
            c == coordinate
                || c.strip_prefix(coordinate.as_str())
                    .is_some_and(|rest| rest.starts_with('('))
        }),
        Reach::Spread(a, b) => {
            used.spreads.contains(&(a.clone(), b.clone()))
                || used.spreads.contains(&(b.clone(), a.clone()))
        }
    }
}

/// The clients of any of `coordinates`, their counts added up, the most frequent first.
fn clients(usage: &dyn Usage, coordinates: &[String]) -> Vec<ClientUse> {
    let mut by_client: BTreeMap<String, u64> = BTreeMap::new();
    for coordinate in coordinates {
        for (client, count) in usage.clients_of(coordinate) {
            let total = by_client.entry(client).or_default();
            *total = total.saturating_add(count);
        }
    }
    let mut clients: Vec<ClientUse> = by_client
        .into_iter()
        .map(|(name, count)| ClientUse { name, count })
        .collect();
    clients.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    clients
}

#[cfg(test)]
mod tests;
