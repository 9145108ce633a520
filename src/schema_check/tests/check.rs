use std::collections::BTreeMap;

use super::*;

/// From BASE: `Endpoint.legacy` removed (a document uses it), `Query.search(term:)` removed
/// (a client used it) and `Status.RETIRED` removed (nobody uses it).
fn three_changes() -> (Schema, Schema) {
    let new = edited(&[
        (" legacy: String", ""),
        ("search(term: String)", "search"),
        (" RETIRED", ""),
    ]);
    (schema(BASE), schema(&new))
}

const DOCUMENTS: [(&str, &str); 2] = [
    ("doc-legacy", "query Legacy { endpoints { id legacy } }"),
    (
        "doc-plain",
        "query Plain { endpoints(first: 1) { name status } }",
    ),
];

fn documents() -> Vec<Document<'static>> {
    DOCUMENTS
        .iter()
        .map(|&(id, text)| Document { id, text })
        .collect()
}

fn usage() -> BTreeMap<String, Vec<(String, u64)>> {
    BTreeMap::from([
        (
            "Query.search(term:)".to_owned(),
            vec![("web".to_owned(), 3), ("ios".to_owned(), 7)],
        ),
        ("Query.endpoints".to_owned(), vec![("web".to_owned(), 40)]),
    ])
}

fn finding<'a>(report: &'a Report, coordinate: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.coordinate == coordinate)
        .expect("the change is found")
}

#[test]
fn a_change_a_trusted_document_uses_is_in_use_with_that_document() {
    let (old, new) = three_changes();
    let report = check(&old, &new, &documents(), None);
    let legacy = finding(&report, "Endpoint.legacy");
    assert!(legacy.in_use);
    assert_eq!(
        legacy.documents,
        vec![DocumentUse {
            id: "doc-legacy".to_owned(),
            operations: vec!["Legacy".to_owned()],
        }]
    );
    assert!(legacy.clients.is_empty());
}

#[test]
fn a_change_a_client_used_is_in_use_with_that_client() {
    let (old, new) = three_changes();
    let usage = usage();
    let report = check(&old, &new, &documents(), Some(&usage));
    let term = finding(&report, "Query.search(term:)");
    assert!(term.in_use);
    assert!(term.documents.is_empty());
    assert_eq!(
        term.clients,
        vec![
            ClientUse {
                name: "ios".to_owned(),
                count: 7
            },
            ClientUse {
                name: "web".to_owned(),
                count: 3
            },
        ]
    );
    assert_eq!(report.in_use(), 2);
}

#[test]
fn a_change_nobody_uses_is_listed_as_safe_to_ship() {
    let (old, new) = three_changes();
    let usage = usage();
    let report = check(&old, &new, &documents(), Some(&usage));
    let retired = finding(&report, "Status.RETIRED");
    assert!(!retired.in_use);
    assert!(retired.documents.is_empty() && retired.clients.is_empty());
    let text = report.text();
    assert!(
        text.contains(
            "breaking, safe to ship: Status.RETIRED: enum value `Status.RETIRED` was removed\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("breaking, in use: Endpoint.legacy: field `Endpoint.legacy` was removed\n  trusted document doc-legacy (Legacy)\n"),
        "{text}"
    );
    assert!(
        text.contains("  client ios: 7 uses\n  client web: 3 uses\n"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "breaking changes: 3, in use: 2, safe to ship: 1 (trusted documents checked: 2; recorded usage checked)\n"
        ),
        "{text}"
    );
}

#[test]
fn nothing_breaking_in_use_when_only_unused_changes() {
    let new = edited(&[(" RETIRED", "")]);
    let report = check(&schema(BASE), &schema(&new), &documents(), None);
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.in_use(), 0);
}

#[test]
fn a_new_required_argument_reaches_every_document_using_its_field() {
    let new = edited(&[("after: String,", "after: String, org: ID!,")]);
    let usage = usage();
    let report = check(&schema(BASE), &schema(&new), &documents(), Some(&usage));
    let org = finding(&report, "Query.endpoints(org:)");
    let ids: Vec<&str> = org.documents.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["doc-legacy", "doc-plain"]);
    assert_eq!(org.clients[0].name, "web");
}

#[test]
fn a_removed_union_member_reaches_documents_spreading_it_there() {
    let new = edited(&[("= Endpoint | Number", "= Endpoint")]);
    let documents = [
        Document {
            id: "spreads",
            text: "{ search { ... on Number { e164 } } }",
        },
        Document {
            id: "elsewhere",
            text: "{ node(id: 1) { ... on Number { e164 } } }",
        },
    ];
    let report = check(&schema(BASE), &schema(&new), &documents, None);
    let ids: Vec<&str> = report.findings[0]
        .documents
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(ids, ["spreads"]);
}

#[test]
fn a_removed_type_reaches_documents_naming_it_or_its_members() {
    let new = edited(&[
        ("input EndpointFilter { status: Status name: String }", ""),
        ("filter: EndpointFilter", ""),
    ]);
    let documents = [
        Document {
            id: "variable",
            text: "query Q($f: EndpointFilter) { endpoints(filter: $f) { id } }",
        },
        Document {
            id: "literal",
            text: "{ endpoints(filter: {name: \"a\"}) { id } }",
        },
        Document {
            id: "neither",
            text: "{ endpoints { id } }",
        },
    ];
    let report = check(&schema(BASE), &schema(&new), &documents, None);
    let filter = finding(&report, "EndpointFilter");
    let ids: Vec<&str> = filter.documents.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["variable", "literal"]);
}

#[test]
fn json_names_each_change_with_its_documents_and_clients() {
    let (old, new) = three_changes();
    let usage = usage();
    let report = check(&old, &new, &documents(), Some(&usage));
    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(json["breakingChanges"][0]["coordinate"], "Endpoint.legacy");
    assert_eq!(json["breakingChanges"][0]["inUse"], true);
    assert_eq!(
        json["breakingChanges"][0]["documents"][0]["id"],
        "doc-legacy"
    );
    assert_eq!(json["breakingChanges"][1]["clients"][0]["name"], "ios");
    assert_eq!(json["documentsChecked"], 2);
    assert_eq!(json["usageChecked"], true);
}
