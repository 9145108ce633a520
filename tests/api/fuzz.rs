//! Generated garbage thrown at the server — bodies, JSON, documents, variables, headers —
//! must never produce a 5xx or take the server down. Long: one generator per
//! kind of input.

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::helpers::*;

/// Pieces of GraphQL, mostly of this schema, so that documents get past the parser often.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "$",
    "!",
    "=",
    "...",
    "@",
    "query",
    "mutation",
    "subscription",
    "fragment",
    "on",
    "viewer",
    "mode",
    "endpoints",
    "endpoint",
    "first",
    "after",
    "filter",
    "orderBy",
    "id",
    "name",
    "url",
    "edges",
    "node",
    "nodes",
    "pageInfo",
    "totalCount",
    "createEndpoint",
    "updateEndpoint",
    "deleteEndpoint",
    "input",
    "type",
    "WEBHOOK",
    "VAPI",
    "providerConfig",
    "vapi",
    "assistantId",
    "userErrors",
    "code",
    "field",
    "__schema",
    "__type",
    "__typename",
    "types",
    "fields",
    "skip",
    "include",
    "if",
    "true",
    "null",
    "0",
    "-1",
    "99999999999",
    "1.5",
    "\"x\"",
    "\"\"",
    "\"00000000-0000-0000-0000-000000000000\"",
    "#c",
    "\\u0000",
    "\n",
    " ",
    ",",
    "a:",
    "b:",
    "String",
    "Int",
    "UUID",
];

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.join(" "))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map("[a-zA-Z_]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Garbage {
    Bytes(Vec<u8>),
    Json(Value),
    Operation {
        query: String,
        variables: Value,
        operation_name: Option<String>,
    },
}

fn garbage() -> impl Strategy<Value = Garbage> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512).prop_map(Garbage::Bytes),
        json_value().prop_map(Garbage::Json),
        (document(), json_value(), prop::option::of("[A-Za-z]{0,8}")).prop_map(
            |(query, variables, operation_name)| Garbage::Operation {
                query,
                variables,
                operation_name,
            }
        ),
    ]
}

#[derive(Debug, Clone)]
struct Headers {
    authorization: Option<String>,
    api_key: Option<String>,
    organization: Option<String>,
    accept: Option<String>,
    content_type: Option<String>,
    use_get: bool,
}

fn header_text() -> impl Strategy<Value = String> {
    // Visible ASCII and spaces: what an HTTP client can send as a header value.
    "[ -~]{0,60}"
}

fn headers(valid_key: String) -> impl Strategy<Value = Headers> {
    (
        prop::option::of(prop_oneof![
            header_text(),
            Just(format!("Bearer {valid_key}")),
            header_text().prop_map(|t| format!("Bearer {t}")),
            header_text().prop_map(|t| format!("Bearer kros_test_{t}")),
        ]),
        prop::option::of(header_text()),
        prop::option::of(prop_oneof![
            header_text(),
            Just(uuid::Uuid::new_v4().to_string())
        ]),
        prop::option::of(prop_oneof![
            header_text(),
            Just("application/json".to_owned()),
            Just("application/graphql-response+json".to_owned()),
        ]),
        prop::option::of(prop_oneof![
            header_text(),
            Just("application/json".to_owned())
        ]),
        any::<bool>(),
    )
        .prop_map(
            |(authorization, api_key, organization, accept, content_type, use_get)| Headers {
                authorization,
                api_key,
                organization,
                accept,
                content_type,
                use_get,
            },
        )
}

async fn send(app: &TestApp, garbage: &Garbage, headers: &Headers) -> reqwest::StatusCode {
    let url = format!("{}/graphql", app.address);
    let mut request = if headers.use_get {
        let mut pairs: Vec<(String, String)> = Vec::new();
        match garbage {
            Garbage::Operation {
                query,
                variables,
                operation_name,
            } => {
                pairs.push(("query".into(), query.clone()));
                pairs.push(("variables".into(), variables.to_string()));
                if let Some(name) = operation_name {
                    pairs.push(("operationName".into(), name.clone()));
                }
            }
            Garbage::Json(v) => pairs.push(("extensions".into(), v.to_string())),
            Garbage::Bytes(b) => {
                pairs.push(("query".into(), String::from_utf8_lossy(b).into_owned()))
            }
        }
        app.client.get(&url).query(&pairs)
    } else {
        let body = match garbage {
            Garbage::Bytes(b) => b.clone(),
            Garbage::Json(v) => v.to_string().into_bytes(),
            Garbage::Operation {
                query,
                variables,
                operation_name,
            } => json!({
                "query": query, "variables": variables, "operationName": operation_name
            })
            .to_string()
            .into_bytes(),
        };
        app.client.post(&url).body(body)
    };
    for (name, value) in [
        ("authorization", &headers.authorization),
        ("x-api-key", &headers.api_key),
        ("x-organization-id", &headers.organization),
        ("accept", &headers.accept),
        ("content-type", &headers.content_type),
    ] {
        if let Some(value) = value {
            request = request.header(name, value);
        }
    }
    request.send().await.expect("the server answers").status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_garbage_never_gets_a_5xx_or_downs_the_server() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let handle = tokio::runtime::Handle::current();
    let cases: u32 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(400);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let strategy = (garbage(), headers(app.org.test_key.clone()));
    let result = runner.run(&strategy, |(garbage, headers)| {
        let status =
            tokio::task::block_in_place(|| handle.block_on(send(&app, &garbage, &headers)));
        if status.is_server_error() {
            return Err(TestCaseError::fail(format!(
                "{status} for {garbage:?} with {headers:?}"
            )));
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // Still up, and still answering real work.
    let res = app
        .graphql(&app.org.test_key, "{ viewer { mode } }", json!({}))
        .await;
    assert_eq!(res.assert_ok()["viewer"]["mode"], "TEST");
}

/// One level of a generated nesting: which bracket opens it, and what sits before it.
#[derive(Debug, Clone, Copy)]
enum Level {
    List,
    Object,
    Selection,
}

/// Where a generated deep value goes in the document.
#[derive(Debug, Clone, Copy)]
enum Site {
    Argument,
    VariableDefault,
    DirectiveArgument,
    VariableType,
    Selections,
}

fn nested(levels: &[Level], site: Site, closed: bool) -> String {
    let mut open = String::new();
    let mut close = String::new();
    for level in levels {
        let (o, c) = match (site, level) {
            (Site::VariableType, _) => ("[", "]"),
            (Site::Selections, _) => ("{ a ", "}"),
            (_, Level::List) => ("[", "]"),
            (_, Level::Object) => ("{k: ", "}"),
            (_, Level::Selection) => ("[ \"{[(\" ", "]"),
        };
        open.push_str(o);
        close.insert_str(0, c);
    }
    let inner = if matches!(site, Site::VariableType) {
        "Int"
    } else {
        "1"
    };
    let value = if closed {
        format!("{open}{inner}{close}")
    } else {
        open
    };
    match site {
        Site::Argument => format!("{{ endpoints(filter: {{search: {value}}}) {{ totalCount }} }}"),
        Site::VariableDefault => format!("query($v: [Int] = {value}) {{ __typename }}"),
        Site::DirectiveArgument => format!("{{ __typename @include(if: {value}) }}"),
        Site::VariableType => format!("query($v: {value}) {{ __typename }}"),
        Site::Selections => format!("{{ viewer {value} }}"),
    }
}

/// Deep documents anywhere (arguments, defaults, directives, types, selections), closed or
/// not, by POST and GET, and deep JSON variables: never a 5xx, never a crash, and past the
/// nesting limit always its 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_deep_documents_are_refused_without_recursing() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let handle = tokio::runtime::Handle::current();
    let cases: u32 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(400)
        / 4;
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases.max(10),
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let level = prop_oneof![
        Just(Level::List),
        Just(Level::Object),
        Just(Level::Selection)
    ];
    let site = prop_oneof![
        Just(Site::Argument),
        Just(Site::VariableDefault),
        Just(Site::DirectiveArgument),
        Just(Site::VariableType),
        Just(Site::Selections),
    ];
    let strategy = (
        prop::collection::vec(level, 0..4_000),
        site,
        any::<bool>(),
        any::<bool>(),
    );
    let result = runner.run(&strategy, |(levels, site, closed, via_get)| {
        let document = nested(&levels, site, closed);
        let (status, code) = tokio::task::block_in_place(|| {
            handle.block_on(async {
                let request = if via_get && document.len() < 30_000 {
                    app.client.get(format!(
                        "{}/graphql?{}",
                        app.address,
                        serde_urlencoded::to_string([("query", document.as_str())])
                            .expect("encode")
                    ))
                } else {
                    app.client
                        .post(format!("{}/graphql", app.address))
                        .json(&json!({ "query": document, "variables": { "v": deep_variable(levels.len()) } }))
                };
                let res = request.send().await.expect("the server answers");
                let status = res.status();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                (status, body["errors"][0]["extensions"]["code"].as_str().map(str::to_owned))
            })
        });
        if status.is_server_error() {
            return Err(TestCaseError::fail(format!("{status} for depth {}", levels.len())));
        }
        if levels.len() > 40 && code.as_deref() != Some("NESTING_LIMIT_EXCEEDED") {
            return Err(TestCaseError::fail(format!(
                "{status} {code:?} for depth {} at {site:?}",
                levels.len()
            )));
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let res = app
        .graphql(&app.org.test_key, "{ viewer { mode } }", json!({}))
        .await;
    assert_eq!(res.assert_ok()["viewer"]["mode"], "TEST");
}

/// A JSON list nested `depth` deep (within serde_json's own recursion limit).
fn deep_variable(depth: usize) -> Value {
    let depth = depth.min(100);
    serde_json::from_str(&format!("{}1{}", "[".repeat(depth), "]".repeat(depth)))
        .unwrap_or(Value::Null)
}
