//! A check's findings, as lines for people or JSON for machines.

use std::fmt::Write;

use serde::Serialize;

/// The breaking changes found, and what was looked at to tell whether they are in use.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    #[serde(rename = "breakingChanges")]
    pub findings: Vec<Finding>,
    pub documents_checked: usize,
    pub usage_checked: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub coordinate: String,
    pub message: String,
    /// Whether a trusted document or a client uses what the change breaks.
    pub in_use: bool,
    pub documents: Vec<DocumentUse>,
    pub clients: Vec<ClientUse>,
}

/// A trusted document by its manifest id, with the names of its operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentUse {
    pub id: String,
    pub operations: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientUse {
    pub name: String,
    pub count: u64,
}

impl Report {
    /// How many breaking changes are in use.
    pub fn in_use(&self) -> usize {
        self.findings.iter().filter(|f| f.in_use).count()
    }

    /// One line per breaking change, its documents and clients indented under it, then a
    /// summary.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for finding in &self.findings {
            let verdict = if finding.in_use {
                "breaking, in use"
            } else {
                "breaking, safe to ship"
            };
            // Writing to a String can't fail.
            let _ = writeln!(
                out,
                "{verdict}: {}: {}",
                finding.coordinate, finding.message
            );
            for document in &finding.documents {
                let _ = match document.operations.as_slice() {
                    [] => writeln!(out, "  trusted document {}", document.id),
                    names => writeln!(
                        out,
                        "  trusted document {} ({})",
                        document.id,
                        names.join(", ")
                    ),
                };
            }
            for client in &finding.clients {
                let _ = writeln!(out, "  client {}: {} uses", client.name, client.count);
            }
        }
        let looked_at = match (self.documents_checked, self.usage_checked) {
            (0, false) => "no trusted documents or usage given".to_owned(),
            (n, false) => format!("trusted documents checked: {n}; usage not checked"),
            (n, true) => format!("trusted documents checked: {n}; recorded usage checked"),
        };
        let in_use = self.in_use();
        let _ = writeln!(
            out,
            "breaking changes: {}, in use: {in_use}, safe to ship: {} ({looked_at})",
            self.findings.len(),
            self.findings.len() - in_use
        );
        out
    }
}
