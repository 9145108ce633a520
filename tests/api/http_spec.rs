//! GraphQL over HTTP (graphql.github.io/graphql-over-http): which methods carry which
//! operations, how the response's media type is negotiated, which request bodies are refused
//! and with which status, and the status of each kind of GraphQL response.
//! Long: one test per rule of the spec.

use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::helpers::*;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

const TYPENAME: &str = "{ __typename }";
const VIEWER: &str = "{ viewer { mode } }";

/// A response as it came over the wire, whatever its media type.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    /// The `Content-Type` without parameters, lower-cased ("" when absent).
    fn media_type(&self) -> String {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text))
    }
}

fn graphql_url(app: &TestApp) -> String {
    format!("{}/graphql", app.address)
}

fn bearer(app: &TestApp) -> String {
    format!("Bearer {}", app.org.test_key)
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let res = request.send().await.expect("request");
    Reply {
        status: res.status(),
        headers: res.headers().clone(),
        text: res.text().await.expect("body"),
    }
}

/// POSTs `body` as it is, with exactly the headers given (reqwest adds `Accept: */*` unless
/// one is given).
async fn post_raw(
    app: &TestApp,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut request = app.client.post(graphql_url(app)).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

/// POSTs `body` as `application/json`.
async fn post_json(app: &TestApp, headers: &[(&str, &str)], body: &Value) -> Reply {
    let mut all = vec![("content-type", APPLICATION_JSON)];
    all.extend_from_slice(headers);
    post_raw(app, &all, body.to_string()).await
}

/// GETs `/graphql` with `params` URL-encoded in the query string.
async fn get(app: &TestApp, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Reply {
    let url = Url::parse_with_params(&graphql_url(app), params).expect("url");
    let mut request = app.client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

/// A request sent over a bare socket, so that it carries no `Accept` header at all (reqwest
/// always adds `Accept: */*`). Returns the status, the media type and the body.
async fn without_accept(app: &TestApp, method_and_target: &str, body: Option<&str>) -> Reply {
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let mut request =
        format!("{method_and_target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let raw = String::from_utf8(raw).expect("UTF-8 response");
    let (head, text) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').expect("a header line");
        headers.append(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).expect("name"),
            value.trim().parse().expect("value"),
        );
    }
    Reply {
        status: StatusCode::from_u16(status).expect("status"),
        headers,
        text: text.to_owned(),
    }
}

/// A GraphQL response that executed: `status`, the media type, and a `data` entry.
#[track_caller]
fn assert_executed(reply: &Reply, media: &str) -> Value {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.media_type(), media, "{}", reply.text);
    let body = reply.json();
    assert!(
        body.get("data").is_some(),
        "an executed response has data: {body}"
    );
    body
}

/// The `data` of a response without errors (other `extensions` may come along).
#[track_caller]
fn data_of(body: &Value) -> &Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body.get("data").expect("data")
}

/// The `data` of each response of a batch, in order; none has errors.
#[track_caller]
fn datas_of(body: &Value) -> Vec<Value> {
    body.as_array()
        .expect("a batch answers with a JSON array")
        .iter()
        .map(|result| data_of(result).clone())
        .collect()
}

/// An error response with no `data`: the status, the media type, and a first error with a
/// message and `code`.
#[track_caller]
fn assert_refused(reply: &Reply, status: StatusCode, media: &str, code: &str) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.media_type(), media, "{}", reply.text);
    let body = reply.json();
    assert!(
        body.get("data").is_none(),
        "a refused request has no data: {body}"
    );
    let errors = body["errors"].as_array().expect("errors");
    assert!(!errors.is_empty(), "{body}");
    assert!(
        errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(errors[0]["extensions"]["code"], code, "{body}");
    body
}

// ---------------------------------------------------------------------------------------------
// Methods

db_test! {
    async fn post_with_a_json_body_runs_the_operation(app) {
        let auth = bearer(&app);
        let body = json!({ "query": VIEWER });
        let reply = post_json(&app, &[("authorization", &auth), ("accept", APPLICATION_JSON)], &body).await;
        let body = assert_executed(&reply, APPLICATION_JSON);
        assert_eq!(data_of(&body), &json!({ "viewer": { "mode": "TEST" } }));

        // A charset parameter on the request's media type is fine.
        let reply = post_raw(
            &app,
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("authorization", &auth),
                ("accept", APPLICATION_JSON),
            ],
            json!({ "query": VIEWER, "variables": null, "operationName": null, "extensions": {} }).to_string(),
        )
        .await;
        assert_eq!(assert_executed(&reply, APPLICATION_JSON)["data"]["viewer"]["mode"], "TEST");
    }
}

db_test! {
    async fn get_runs_a_query_from_its_query_parameters(app) {
        app.create_ok(&app.org.test_key, json!({ "name": "First", "type": "WEBHOOK", "url": "https://example.com/1" })).await;
        app.create_ok(&app.org.test_key, json!({ "name": "Second", "type": "WEBHOOK", "url": "https://example.com/2" })).await;
        let auth = bearer(&app);
        let document = "query Page($first: Int) { endpoints(first: $first) { totalCount edges { node { name } } } } \
                        query Me { viewer { mode } }";

        let reply = get(
            &app,
            &[("query", document), ("variables", r#"{"first":1}"#), ("operationName", "Page")],
            &[("authorization", &auth), ("accept", APPLICATION_JSON)],
        )
        .await;
        let body = assert_executed(&reply, APPLICATION_JSON);
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["endpoints"]["totalCount"], 2);
        let edges = body["data"]["endpoints"]["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), 1, "`variables` set the page size: {body}");

        let reply = get(
            &app,
            &[("query", document), ("operationName", "Me")],
            &[("authorization", &auth), ("accept", APPLICATION_JSON)],
        )
        .await;
        let body = assert_executed(&reply, APPLICATION_JSON);
        assert_eq!(data_of(&body), &json!({ "viewer": { "mode": "TEST" } }));
    }
}

db_test! {
    async fn mutation_over_get_is_405_allowing_post(app) {
        let auth = bearer(&app);
        let create = &*CREATE;
        let variables = json!({ "input": { "name": "Via GET", "type": "WEBHOOK", "url": "https://example.com/g" } })
            .to_string();
        let reply = get(
            &app,
            &[("query", create), ("variables", &variables)],
            &[("authorization", &auth), ("accept", APPLICATION_JSON)],
        )
        .await;
        assert_refused(&reply, StatusCode::METHOD_NOT_ALLOWED, APPLICATION_JSON, "BAD_REQUEST");
        assert_eq!(reply.headers.get(ALLOW).and_then(|v| v.to_str().ok()), Some("POST"));
        assert_eq!(app.endpoint_rows().await, 0, "nothing was written");

        // The operation that would run decides, not the document.
        let document = "query Me { viewer { mode } } mutation Write { __typename }";
        let reply = get(
            &app,
            &[("query", document), ("operationName", "Write")],
            &[("authorization", &auth), ("accept", APPLICATION_JSON)],
        )
        .await;
        assert_refused(&reply, StatusCode::METHOD_NOT_ALLOWED, APPLICATION_JSON, "BAD_REQUEST");
        assert_eq!(reply.headers.get(ALLOW).and_then(|v| v.to_str().ok()), Some("POST"));
        let reply = get(
            &app,
            &[("query", document), ("operationName", "Me")],
            &[("authorization", &auth), ("accept", APPLICATION_JSON)],
        )
        .await;
        assert_eq!(assert_executed(&reply, APPLICATION_JSON)["data"]["viewer"]["mode"], "TEST");

        // The same mutation over POST runs.
        let reply = post_json(
            &app,
            &[("authorization", &auth), ("accept", APPLICATION_JSON)],
            &json!({ "query": create, "variables": serde_json::from_str::<Value>(&variables).expect("json") }),
        )
        .await;
        let body = assert_executed(&reply, APPLICATION_JSON);
        assert_eq!(body["data"]["createEndpoint"]["userErrors"], json!([]), "{body}");
        assert_eq!(app.endpoint_rows().await, 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Media types

/// A GraphQL request error's status (parse, validation, variable coercion): 200 with
/// `application/json`, whose clients read errors only from a 200; 400 with
/// `application/graphql-response+json`.
fn request_error_status(accept: &str) -> StatusCode {
    if accept == APPLICATION_JSON {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

#[tokio::test]
async fn graphql_response_json_is_used_when_accepted() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    for accept in [
        GRAPHQL_RESPONSE_JSON,
        "application/graphql-response+json, application/json",
        "application/json, application/graphql-response+json",
        "application/graphql-response+json; charset=utf-8",
        "application/graphql-response+json, */*;q=0.5",
        "application/json;q=0, */*",
    ] {
        let reply = post_json(&app, &[("accept", accept)], &json!({ "query": TYPENAME })).await;
        assert_eq!(
            reply.media_type(),
            GRAPHQL_RESPONSE_JSON,
            "Accept: {accept}"
        );
        let body = assert_executed(&reply, GRAPHQL_RESPONSE_JSON);
        assert_eq!(
            data_of(&body),
            &json!({ "__typename": "Query" }),
            "Accept: {accept}"
        );

        let reply = get(&app, &[("query", TYPENAME)], &[("accept", accept)]).await;
        assert_eq!(
            reply.media_type(),
            GRAPHQL_RESPONSE_JSON,
            "GET, Accept: {accept}"
        );
        assert_executed(&reply, GRAPHQL_RESPONSE_JSON);
    }

    // Refusals are negotiated too.
    let reply = post_json(
        &app,
        &[("accept", GRAPHQL_RESPONSE_JSON)],
        &json!({ "query": "{" }),
    )
    .await;
    assert_refused(
        &reply,
        StatusCode::BAD_REQUEST,
        GRAPHQL_RESPONSE_JSON,
        "GRAPHQL_PARSE_FAILED",
    );
}

#[tokio::test]
async fn application_json_is_used_when_only_it_is_accepted() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    // Wildcards get application/json: it is what most HTTP clients (Node's fetch among
    // them) send `*/*` for, and what they can read.
    for accept in [
        APPLICATION_JSON,
        "application/json; charset=utf-8",
        "text/plain, application/json",
        "application/graphql-response+json;q=0, application/json",
        "*/*",
        "application/*",
        "text/html, */*;q=0.8",
        "application/graphql-response+json;q=0.5, */*",
    ] {
        let reply = post_json(&app, &[("accept", accept)], &json!({ "query": TYPENAME })).await;
        let body = assert_executed(&reply, APPLICATION_JSON);
        assert_eq!(
            data_of(&body),
            &json!({ "__typename": "Query" }),
            "Accept: {accept}"
        );

        let reply = get(&app, &[("query", TYPENAME)], &[("accept", accept)]).await;
        assert_executed(&reply, APPLICATION_JSON);
    }
}

#[tokio::test]
async fn no_accept_header_gets_application_json() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let reply = without_accept(&app, "POST /graphql", Some(r#"{"query":"{ __typename }"}"#)).await;
    assert!(reply.headers.get(ACCEPT).is_none());
    let body = assert_executed(&reply, APPLICATION_JSON);
    assert_eq!(data_of(&body), &json!({ "__typename": "Query" }));

    let reply = without_accept(&app, "GET /graphql?query=%7B%20__typename%20%7D", None).await;
    assert_eq!(
        assert_executed(&reply, APPLICATION_JSON)["data"]["__typename"],
        "Query"
    );

    // Refusals too.
    let reply = without_accept(&app, "POST /graphql", Some("{")).await;
    assert_refused(
        &reply,
        StatusCode::BAD_REQUEST,
        APPLICATION_JSON,
        "BAD_REQUEST",
    );
}

#[tokio::test]
async fn accept_allowing_neither_json_type_is_406() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    for accept in [
        "text/plain",
        "application/xml",
        "application/json;q=0",
        "application/graphql-response+json;q=0, application/json;q=0",
        "image/*",
    ] {
        let reply = post_json(&app, &[("accept", accept)], &json!({ "query": TYPENAME })).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_ACCEPTABLE,
            "Accept: {accept}: {}",
            reply.text
        );

        let reply = get(&app, &[("query", TYPENAME)], &[("accept", accept)]).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_ACCEPTABLE,
            "GET, Accept: {accept}: {}",
            reply.text
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies

#[tokio::test]
async fn body_that_is_not_json_is_400() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    for body in [
        "",
        "{",
        "query={ __typename }",
        r#"{"query": "{ __typename }""#,
        "{ __typename }",
        "\u{fffd}",
    ] {
        let reply = post_raw(
            &app,
            &[
                ("content-type", APPLICATION_JSON),
                ("accept", APPLICATION_JSON),
            ],
            body,
        )
        .await;
        assert_refused(
            &reply,
            StatusCode::BAD_REQUEST,
            APPLICATION_JSON,
            "BAD_REQUEST",
        );
    }
}

#[tokio::test]
async fn json_that_is_not_an_object_is_400() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    for body in [
        json!("x"),
        json!(42),
        json!(null),
        json!(true),
        json!("{ __typename }"),
    ] {
        let reply = post_json(&app, &[("accept", APPLICATION_JSON)], &body).await;
        assert_refused(
            &reply,
            StatusCode::BAD_REQUEST,
            APPLICATION_JSON,
            "BAD_REQUEST",
        );
    }
}

#[tokio::test]
async fn parameters_of_the_wrong_type_are_400() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    for body in [
        json!({ "query": 1 }),
        json!({ "query": ["{ __typename }"] }),
        json!({ "query": { "text": "{ __typename }" } }),
        json!({ "query": TYPENAME, "variables": "x" }),
        json!({ "query": TYPENAME, "variables": "{}" }),
        json!({ "query": TYPENAME, "variables": [] }),
        json!({ "query": TYPENAME, "variables": 1 }),
        json!({ "query": TYPENAME, "operationName": 5 }),
        json!({ "query": TYPENAME, "operationName": ["A"] }),
        json!({ "query": TYPENAME, "extensions": [] }),
        json!({ "query": TYPENAME, "extensions": "x" }),
    ] {
        let reply = post_json(&app, &[("accept", APPLICATION_JSON)], &body).await;
        let refusal = assert_refused(
            &reply,
            StatusCode::BAD_REQUEST,
            APPLICATION_JSON,
            "BAD_REQUEST",
        );
        assert!(refusal.get("data").is_none(), "{body}");
    }

    // In a GET, `variables` is a JSON-encoded object.
    for variables in ["x", "\"x\"", "[]", "1", "{"] {
        let reply = get(
            &app,
            &[("query", TYPENAME), ("variables", variables)],
            &[("accept", APPLICATION_JSON)],
        )
        .await;
        assert_refused(
            &reply,
            StatusCode::BAD_REQUEST,
            APPLICATION_JSON,
            "BAD_REQUEST",
        );
    }
}

#[tokio::test]
async fn missing_query_is_400() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    for body in [
        json!({}),
        json!({ "query": null }),
        json!({ "variables": {} }),
        json!({ "operationName": "A", "extensions": {} }),
    ] {
        let reply = post_json(&app, &[("accept", APPLICATION_JSON)], &body).await;
        assert_refused(
            &reply,
            StatusCode::BAD_REQUEST,
            APPLICATION_JSON,
            "BAD_REQUEST",
        );
    }
    let reply = get(&app, &[], &[("accept", APPLICATION_JSON)]).await;
    assert_refused(
        &reply,
        StatusCode::BAD_REQUEST,
        APPLICATION_JSON,
        "BAD_REQUEST",
    );
    let reply = get(
        &app,
        &[("variables", "{}")],
        &[("accept", APPLICATION_JSON)],
    )
    .await;
    assert_refused(
        &reply,
        StatusCode::BAD_REQUEST,
        APPLICATION_JSON,
        "BAD_REQUEST",
    );
}

#[tokio::test]
async fn post_that_is_not_application_json_is_415() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let body = json!({ "query": TYPENAME }).to_string();
    for content_type in [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "application/graphql",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ] {
        let reply = post_raw(
            &app,
            &[("content-type", content_type), ("accept", APPLICATION_JSON)],
            body.clone(),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type: {content_type}: {}",
            reply.text
        );
        assert_eq!(reply.media_type(), APPLICATION_JSON);
        let refusal = reply.json();
        assert!(refusal.get("data").is_none(), "{refusal}");
        assert!(
            refusal["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{refusal}"
        );
    }

    // No Content-Type at all is a client error too.
    let reply = post_raw(&app, &[("accept", APPLICATION_JSON)], body).await;
    assert!(
        reply.status.is_client_error(),
        "{}: {}",
        reply.status,
        reply.text
    );
}

// ---------------------------------------------------------------------------------------------
// GraphQL request errors and field errors

#[tokio::test]
async fn document_that_does_not_parse_is_a_request_error() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    for query in [
        "{",
        "{ viewer { mode }",
        "query {",
        "}",
        "mutation",
        "{ __typename(",
        "",
    ] {
        for accept in [APPLICATION_JSON, GRAPHQL_RESPONSE_JSON] {
            let reply = post_json(&app, &[("accept", accept)], &json!({ "query": query })).await;
            assert_refused(
                &reply,
                request_error_status(accept),
                accept,
                "GRAPHQL_PARSE_FAILED",
            );
            let reply = get(&app, &[("query", query)], &[("accept", accept)]).await;
            assert_refused(
                &reply,
                request_error_status(accept),
                accept,
                "GRAPHQL_PARSE_FAILED",
            );
        }
    }
}

db_test! {
    async fn document_that_fails_validation_is_a_request_error_without_data(app) {
        let auth = bearer(&app);
        let invalid = [
            // Unknown field.
            (json!({ "query": "{ viewer { nope } }" }), "unknown field"),
            (json!({ "query": "{ nope }" }), "unknown root field"),
            // Wrong argument type.
            (json!({ "query": "{ endpoints(first: \"ten\") { totalCount } }" }), "String for an Int"),
            // Unknown argument.
            (json!({ "query": "{ endpoints(last: 5) { totalCount } }" }), "unknown argument"),
            // Several operations and no operationName.
            (json!({ "query": "query A { viewer { mode } } query B { viewer { mode } }" }), "no operationName"),
            // An operationName the document doesn't define.
            (
                json!({ "query": "query A { viewer { mode } } query B { viewer { mode } }", "operationName": "C" }),
                "unknown operationName",
            ),
            (json!({ "query": "query A { viewer { mode } }", "operationName": "C" }), "unknown operationName, one operation"),
            (json!({ "query": "{ viewer { mode } }", "operationName": "A" }), "operationName for an anonymous operation"),
            // A selection on a leaf.
            (json!({ "query": "{ viewer { mode { x } } }" }), "selection on a leaf"),
        ];
        for (body, case) in invalid {
            for accept in [APPLICATION_JSON, GRAPHQL_RESPONSE_JSON] {
                let reply = post_json(&app, &[("authorization", &auth), ("accept", accept)], &body).await;
                assert_eq!(reply.status, request_error_status(accept), "{case}: {}", reply.text);
                assert_refused(&reply, request_error_status(accept), accept, "GRAPHQL_VALIDATION_FAILED");
            }
        }

        // Over GET too, and before credentials matter for an introspection-only document.
        let reply = get(
            &app,
            &[("query", "{ viewer { nope } }")],
            &[("authorization", &auth), ("accept", APPLICATION_JSON)],
        )
        .await;
        assert_refused(&reply, StatusCode::OK, APPLICATION_JSON, "GRAPHQL_VALIDATION_FAILED");
        let reply = post_json(&app, &[("accept", GRAPHQL_RESPONSE_JSON)], &json!({ "query": "{ __schema { nope } }" })).await;
        assert_refused(&reply, StatusCode::BAD_REQUEST, GRAPHQL_RESPONSE_JSON, "GRAPHQL_VALIDATION_FAILED");
    }
}

db_test! {
    async fn variables_that_cannot_be_coerced_are_a_request_error_without_data(app) {
        // Coercing variables happens before execution (GraphQL spec, CoerceVariableValues): a
        // missing or ill-typed required variable is a request error, like a validation failure.
        let auth = bearer(&app);
        let query = "query($id: UUID!) { endpoint(id: $id) { id } }";
        let count = "query($first: Int!) { endpoints(first: $first) { totalCount } }";
        for (query, variables) in [
            (count, json!({})),
            (count, json!({ "first": "ten" })),
            (query, json!({})),
            (query, json!({ "id": 5 })),
            (query, json!({ "id": "not-a-uuid" })),
        ] {
            for accept in [APPLICATION_JSON, GRAPHQL_RESPONSE_JSON] {
                let reply = post_json(
                    &app,
                    &[("authorization", &auth), ("accept", accept)],
                    &json!({ "query": query, "variables": variables }),
                )
                .await;
                assert_eq!(reply.status, request_error_status(accept), "{query} {variables}: {}", reply.text);
                assert!(reply.json().get("data").is_none(), "{query} {variables}: {}", reply.text);
            }
        }
    }
}

db_test! {
    async fn a_document_validated_before_has_its_variables_checked_as_fully_as_a_new_one(app) {
        // Full validation runs once per document; a document sent again has its variables
        // checked, and must answer exactly as a document never seen: a variable is checked
        // where execution never reaches (a skipped field) and inside input objects and lists.
        let auth = bearer(&app);
        let query = "query($first: Int, $skip: Boolean!, $order: EndpointOrder, $filter: EndpointFilter) { viewer { mode } endpoints(first: $first, orderBy: $order, filter: $filter) @skip(if: $skip) { totalCount } }";
        let valid = json!({ "first": 1, "skip": false, "order": { "field": "NAME", "direction": "ASC" }, "filter": { "types": ["WEBHOOK"], "search": null } });
        for _ in 0..2 {
            let reply = post_json(&app, &[("authorization", &auth)], &json!({ "query": query, "variables": valid })).await;
            let body = assert_executed(&reply, APPLICATION_JSON);
            assert_eq!(data_of(&body)["endpoints"]["totalCount"], 0, "{body}");
        }
        let skipped = |extra: Value| {
            let mut variables = json!({ "first": 1, "skip": true });
            variables.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
            variables
        };
        // Refused, or not (async-graphql's rules let a string pass for an input object, and
        // the field is skipped), the same either way.
        for (variables, refused) in [
            (skipped(json!({ "first": "ten" })), true),
            (skipped(json!({ "first": 1.5 })), true),
            (skipped(json!({ "first": true })), true),
            (skipped(json!({ "order": { "field": "NOPE" } })), true),
            (skipped(json!({ "order": { "field": "NAME", "extra": 1 } })), true),
            (skipped(json!({ "order": { "field": null } })), true),
            (skipped(json!({ "order": "NAME" })), false),
            (skipped(json!({ "filter": { "types": ["NOPE"] } })), true),
            (skipped(json!({ "filter": { "types": [null] } })), true),
            (skipped(json!({ "filter": { "search": 5 } })), true),
            (json!({ "first": 1, "skip": "yes" }), true),
        ] {
            for accept in [APPLICATION_JSON, GRAPHQL_RESPONSE_JSON] {
                let headers = [("authorization", auth.as_str()), ("accept", accept)];
                let seen = post_json(&app, &headers, &json!({ "query": query, "variables": variables })).await;
                // The same operation in a text not seen before (a trailing space).
                let new = post_json(&app, &headers, &json!({ "query": format!("{query} "), "variables": variables })).await;
                if refused {
                    assert_eq!(seen.status, request_error_status(accept), "{variables}: {}", seen.text);
                    assert!(seen.json().get("data").is_none(), "{variables}: {}", seen.text);
                }
                // The same answer; only the rate limit's remaining budget has moved on.
                assert_eq!(
                    (seen.status, split_cost(seen.json()).0),
                    (new.status, split_cost(new.json()).0),
                    "{variables}"
                );
            }
        }
        // Valid values of every kind the check knows still run.
        for variables in [
            skipped(json!({ "skip": false, "first": 2, "order": { "direction": "DESC" } })),
            skipped(json!({ "skip": false, "filter": { "statuses": ["ACTIVE", "ERROR"], "mode": "TEST" } })),
            skipped(json!({ "skip": false, "first": null, "filter": null })),
        ] {
            let reply = post_json(&app, &[("authorization", &auth)], &json!({ "query": query, "variables": variables })).await;
            let body = assert_executed(&reply, APPLICATION_JSON);
            assert_eq!(data_of(&body)["endpoints"]["totalCount"], 0, "{variables}: {body}");
        }
    }
}

db_test! {
    async fn a_document_run_without_some_of_its_variables_is_not_taken_as_validated(app) {
        // async-graphql's arguments rule skips an argument whole, literals and all, when a
        // variable in it wasn't given: such a run vouches for nothing, however it ends.
        let auth = bearer(&app);
        let headers = [("authorization", auth.as_str()), ("accept", GRAPHQL_RESPONSE_JSON)];
        let query = "query($s: String) { viewer { mode } endpoints(filter: {search: $s, mode: BOGUS}) { totalCount } }";
        let refused = post_json(&app, &headers, &json!({ "query": query, "variables": { "s": "x" } })).await;
        assert_refused(&refused, StatusCode::BAD_REQUEST, GRAPHQL_RESPONSE_JSON, "GRAPHQL_VALIDATION_FAILED");
        post_json(&app, &headers, &json!({ "query": query, "variables": {} })).await;
        let again = post_json(&app, &headers, &json!({ "query": query, "variables": { "s": "x" } })).await;
        assert_eq!((again.status, split_cost(again.json()).0), (refused.status, split_cost(refused.json()).0));

        // A mutation whose literal input is wrong runs for nobody, whichever caller went first.
        let create = "mutation($n: String) { createEndpoint(input: {name: \"u1\", type: WEBHOOK, url: \"https://example.com/h\", description: $n}) { endpoint { id } } }";
        let other = app.new_org("Other").await;
        let other_auth = format!("Bearer {}", other.test_key);
        post_json(&app, &[("authorization", other_auth.as_str())], &json!({ "query": create })).await;
        let before = app.endpoint_rows().await;
        let res = post_json(&app, &headers, &json!({ "query": create, "variables": { "n": "x" } })).await;
        assert_refused(&res, StatusCode::BAD_REQUEST, GRAPHQL_RESPONSE_JSON, "GRAPHQL_VALIDATION_FAILED");
        assert_eq!(app.endpoint_rows().await, before);
    }
}

db_test! {
    async fn field_errors_are_200_with_data(app) {
        let auth = bearer(&app);
        let missing = Uuid::new_v4().to_string();
        for accept in [APPLICATION_JSON, GRAPHQL_RESPONSE_JSON] {
            let reply = post_json(
                &app,
                &[("authorization", &auth), ("accept", accept)],
                &json!({ "query": "query($id: UUID!) { endpoint(id: $id) { id } }", "variables": { "id": missing } }),
            )
            .await;
            let body = assert_executed(&reply, accept);
            assert_eq!(body["data"], json!({ "endpoint": null }), "{body}");
            assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
            assert_eq!(body["errors"][0]["path"], json!(["endpoint"]), "{body}");

            // Inline, over GET.
            let query = format!("{{ endpoint(id: \"{missing}\") {{ id }} viewer {{ mode }} }}");
            let reply = get(&app, &[("query", &query)], &[("authorization", &auth), ("accept", accept)]).await;
            let body = assert_executed(&reply, accept);
            assert_eq!(body["data"], json!({ "endpoint": null, "viewer": { "mode": "TEST" } }), "{body}");
            assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
        }
    }
}

db_test! {
    async fn uuid_argument_of_the_wrong_type_is_a_validation_failure(app) {
        // `UUID` literals that can't be coerced fail validation like any other wrong argument.
        let auth = bearer(&app);
        for query in ["{ endpoint(id: 5) { id } }", "{ endpoint(id: \"not-a-uuid\") { id } }"] {
            for accept in [APPLICATION_JSON, GRAPHQL_RESPONSE_JSON] {
                let reply = post_json(
                    &app,
                    &[("authorization", &auth), ("accept", accept)],
                    &json!({ "query": query }),
                )
                .await;
                assert_refused(&reply, request_error_status(accept), accept, "GRAPHQL_VALIDATION_FAILED");
            }
        }
    }
}

db_test! {
    async fn response_fields_come_in_the_order_the_query_selected_them(app) {
        // GraphQL's "serialized map ordering": a client may read fields positionally, and a
        // person reads the answer against the query. Aliases sort otherwise than they're asked,
        // and some fields wait on the database while their siblings don't.
        let app = TestApp::builder(app.backend).with_config(|c| c.limits.max_batch = Some(2)).spawn().await.expect("app");
        app.create_ok(&app.org.test_key, json!({ "name": "Ordered", "type": "WEBHOOK", "url": "https://example.com/o" })).await;
        let auth = bearer(&app);
        let query = "query Q { zeta: viewer { mode } endpoints(first: 1) { totalCount nodes { url ...N id type } } \
                     ... on Query { alpha: viewer { mode } } } fragment N on Endpoint { phoneNumbers { e164 } name }";
        for _ in 0..10 {
            for body in [json!({ "query": query }), json!([{ "query": query, "operationName": "Q" }])] {
                let reply = post_json(&app, &[("authorization", &auth)], &body).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
                let at = |key: &str| {
                    reply
                        .text
                        .find(&format!("\"{key}\":"))
                        .unwrap_or_else(|| panic!("{key} in {}", reply.text))
                };
                let expected = ["zeta", "endpoints", "totalCount", "nodes", "url", "phoneNumbers", "name", "id", "type", "alpha", "extensions"];
                for pair in expected.windows(2) {
                    assert!(at(pair[0]) < at(pair[1]), "{} before {}: {}", pair[0], pair[1], reply.text);
                }
            }
        }
        // A mutation's payload too.
        let mutation = "mutation { createEndpoint(input: {name: \"Second\", type: WEBHOOK, url: \"https://example.com/2\"}) { userErrors { code } endpoint { name id } } }";
        let reply = post_json(&app, &[("authorization", &auth)], &json!({ "query": mutation })).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let payload = &reply.text;
        assert!(payload.find("userErrors") < payload.find("\"endpoint\""), "{payload}");
        assert!(payload.find("\"name\"") < payload.find("\"id\""), "{payload}");
    }
}

// ---------------------------------------------------------------------------------------------
// Credentials

db_test! {
    async fn missing_credentials_are_401_over_get_and_post(app) {
        let reply = post_json(&app, &[("accept", APPLICATION_JSON)], &json!({ "query": VIEWER })).await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, APPLICATION_JSON, "UNAUTHENTICATED");
        assert_eq!(reply.headers.get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()), Some("Bearer"));

        let reply = get(&app, &[("query", VIEWER)], &[("accept", APPLICATION_JSON)]).await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, APPLICATION_JSON, "UNAUTHENTICATED");
        assert_eq!(reply.headers.get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()), Some("Bearer"));

        // Whichever media type is negotiated.
        let reply = get(&app, &[("query", VIEWER)], &[("accept", GRAPHQL_RESPONSE_JSON)]).await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, GRAPHQL_RESPONSE_JSON, "UNAUTHENTICATED");

        // A valid key naming another organization is forbidden, over both methods.
        let auth = bearer(&app);
        let other = Uuid::new_v4().to_string();
        let headers = [("authorization", auth.as_str()), ("x-organization-id", other.as_str()), ("accept", APPLICATION_JSON)];
        let reply = post_json(&app, &headers, &json!({ "query": VIEWER })).await;
        assert_refused(&reply, StatusCode::FORBIDDEN, APPLICATION_JSON, "FORBIDDEN");
        let reply = get(&app, &[("query", VIEWER)], &headers).await;
        assert_refused(&reply, StatusCode::FORBIDDEN, APPLICATION_JSON, "FORBIDDEN");
    }
}

#[tokio::test]
async fn introspection_only_operations_need_no_credentials() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    for (query, expected) in [
        (TYPENAME, json!({ "__typename": "Query" })),
        (
            "{ __schema { queryType { name } } }",
            json!({ "__schema": { "queryType": { "name": "Query" } } }),
        ),
        (
            "{ __type(name: \"Endpoint\") { name } }",
            json!({ "__type": { "name": "Endpoint" } }),
        ),
    ] {
        let reply = post_json(
            &app,
            &[("accept", APPLICATION_JSON)],
            &json!({ "query": query }),
        )
        .await;
        assert_eq!(
            data_of(&assert_executed(&reply, APPLICATION_JSON)),
            &expected
        );
        let reply = get(&app, &[("query", query)], &[("accept", APPLICATION_JSON)]).await;
        assert_eq!(
            data_of(&assert_executed(&reply, APPLICATION_JSON)),
            &expected
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Batches

#[tokio::test]
async fn batches_are_refused_by_default() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    for body in [
        json!([{ "query": TYPENAME }]),
        json!([{ "query": TYPENAME }, { "query": TYPENAME }]),
        json!([]),
    ] {
        let reply = post_json(&app, &[("accept", APPLICATION_JSON)], &body).await;
        assert_refused(
            &reply,
            StatusCode::BAD_REQUEST,
            APPLICATION_JSON,
            "BAD_REQUEST",
        );
    }
}

db_test! {
    async fn batches_up_to_max_batch_return_an_array_of_results(app) {
        let app = TestApp::builder(app.backend).with_config(|c| c.limits.max_batch = Some(3)).spawn().await.expect("app");
        let auth = bearer(&app);
        let headers = [("authorization", auth.as_str()), ("accept", APPLICATION_JSON)];

        let reply = post_json(&app, &headers, &json!([{ "query": VIEWER }])).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.media_type(), APPLICATION_JSON);
        assert_eq!(datas_of(&reply.json()), [json!({ "viewer": { "mode": "TEST" } })]);

        let batch = json!([
            { "query": VIEWER },
            { "query": "query($first: Int) { endpoints(first: $first) { totalCount } }", "variables": { "first": 5 } },
            { "query": "query A { __typename } query B { viewer { mode } }", "operationName": "A" },
        ]);
        let reply = post_json(&app, &headers, &batch).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.media_type(), APPLICATION_JSON);
        assert_eq!(
            datas_of(&reply.json()),
            [
                json!({ "viewer": { "mode": "TEST" } }),
                json!({ "endpoints": { "totalCount": 0 } }),
                json!({ "__typename": "Query" }),
            ]
        );

        // Negotiated like a single response.
        let reply = post_json(
            &app,
            &[("authorization", auth.as_str()), ("accept", GRAPHQL_RESPONSE_JSON)],
            &json!([{ "query": TYPENAME }, { "query": TYPENAME }]),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.media_type(), GRAPHQL_RESPONSE_JSON);
        assert_eq!(reply.json().as_array().map(Vec::len), Some(2));

        // Over the limit, or empty: refused, and nothing runs.
        let four = json!([
            { "query": &*CREATE, "variables": { "input": { "name": "One", "type": "WEBHOOK", "url": "https://example.com/1" } } },
            { "query": VIEWER },
            { "query": VIEWER },
            { "query": VIEWER },
        ]);
        let reply = post_json(&app, &headers, &four).await;
        let refusal = assert_refused(&reply, StatusCode::BAD_REQUEST, APPLICATION_JSON, "BAD_REQUEST");
        let message = refusal["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("batch limit") && message.contains('3'), "{message}");
        assert_eq!(app.endpoint_rows().await, 0);

        let reply = post_json(&app, &headers, &json!([])).await;
        assert_refused(&reply, StatusCode::BAD_REQUEST, APPLICATION_JSON, "BAD_REQUEST");

        // Credentials apply to the whole batch.
        let reply = post_json(&app, &[("accept", APPLICATION_JSON)], &json!([{ "query": TYPENAME }, { "query": VIEWER }])).await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, APPLICATION_JSON, "UNAUTHENTICATED");
    }
}

// ---------------------------------------------------------------------------------------------
// GraphiQL

#[tokio::test]
async fn graphiql_is_served_to_browsers() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    for accept in [
        "text/html",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ] {
        let reply = get(&app, &[], &[("accept", accept)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.media_type(), "text/html");
        assert!(
            reply.text.to_ascii_lowercase().contains("graphiql"),
            "{}",
            reply.text
        );
        assert!(
            reply.text.contains("/graphiql/app.js"),
            "the page loads the gateway's own GraphiQL setup, which talks to /graphql"
        );
    }

    // A browser that sends a query gets the result, not the page.
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let reply = get(&app, &[("query", TYPENAME)], &[("accept", browser)]).await;
    assert_eq!(
        assert_executed(&reply, APPLICATION_JSON)["data"]["__typename"],
        "Query"
    );
}

// ---------------------------------------------------------------------------------------------
// JSON or an event stream

/// What urql's fetch exchange sends by default: streams and multipart among the JSON types.
const URQL_ACCEPT: &str = "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed";
const EVENT_STREAM: &str = "text/event-stream";
const SUBSCRIPTION: &str = "subscription { endpointEvents { type endpoint { name } } }";

/// A query's event stream: one `next` message, then `complete`.
#[track_caller]
fn assert_streamed(reply: &Reply, context: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{context}: {}", reply.text);
    assert_eq!(
        reply.media_type(),
        EVENT_STREAM,
        "{context}: {}",
        reply.text
    );
    let next = reply.text.find("event: next");
    let complete = reply.text.find("event: complete");
    assert!(
        next.is_some() && next < complete,
        "{context}: {}",
        reply.text
    );
}

db_test! {
    async fn urqls_default_accept_gets_json_for_queries_batches_and_keyed_mutations(app) {
        let app = TestApp::builder(app.backend).with_config(|c| c.limits.max_batch = Some(2)).spawn().await.expect("app");
        let auth = bearer(&app);
        let headers = [("authorization", auth.as_str()), ("accept", URQL_ACCEPT)];

        let reply = post_json(&app, &headers, &json!({ "query": VIEWER })).await;
        let body = assert_executed(&reply, GRAPHQL_RESPONSE_JSON);
        assert_eq!(body["data"]["viewer"]["mode"], "TEST");
        assert!(body["extensions"]["cost"].is_object(), "what a query cost is told: {body}");

        let reply = get(&app, &[("query", VIEWER)], &headers).await;
        let body = assert_executed(&reply, GRAPHQL_RESPONSE_JSON);
        assert!(body["extensions"]["cost"].is_object(), "{body}");

        let reply = post_json(&app, &headers, &json!([{ "query": VIEWER }, { "query": TYPENAME }])).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.media_type(), GRAPHQL_RESPONSE_JSON);
        assert_eq!(datas_of(&reply.json()), [json!({ "viewer": { "mode": "TEST" } }), json!({ "__typename": "Query" })]);

        // A keyed mutation runs once, and its retry is replayed.
        let key = Uuid::new_v4().to_string();
        let keyed = [headers[0], headers[1], ("idempotency-key", key.as_str())];
        let body = json!({ "query": &*CREATE, "variables": { "input": { "name": "By urql", "type": "WEBHOOK", "url": "https://example.com/urql" } } });
        let first = post_json(&app, &keyed, &body).await;
        let created = assert_executed(&first, GRAPHQL_RESPONSE_JSON);
        assert_eq!(created["data"]["createEndpoint"]["userErrors"], json!([]), "{created}");
        let retry = post_json(&app, &keyed, &body).await;
        assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
        assert_eq!(retry.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
        assert_eq!(retry.json()["data"], created["data"]);
        let count = app.graphql(&app.org.test_key, "{ endpoints(first: 5) { totalCount } }", json!({})).await;
        assert_eq!(count.assert_ok()["endpoints"]["totalCount"], 1);
    }
}

#[tokio::test]
async fn an_event_stream_answers_a_query_only_when_the_client_prefers_it() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    // Quality first, then the client's order; `multipart/mixed` isn't served.
    let cases: &[(&[&str], Option<&str>)] = &[
        (&[URQL_ACCEPT], Some(GRAPHQL_RESPONSE_JSON)),
        (
            &["application/json, text/event-stream"],
            Some(APPLICATION_JSON),
        ),
        (
            &["text/event-stream;q=0.9, application/json"],
            Some(APPLICATION_JSON),
        ),
        (&["text/event-stream;q=0.5, application/json;q=0.5"], None),
        (&["application/json;q=0.5, text/event-stream"], None),
        (&["text/event-stream, application/json"], None),
        (&[EVENT_STREAM], None),
        (&["*/*"], Some(APPLICATION_JSON)),
        (&["text/*, */*;q=0.5"], None),
        (&["application/*, text/*"], Some(APPLICATION_JSON)),
        (&["*/*, text/event-stream"], Some(APPLICATION_JSON)),
        (&["text/event-stream;q=0, */*"], Some(APPLICATION_JSON)),
        (
            &["TEXT/Event-Stream ;Q=0.3 ,  Application/JSON;q=0.2"],
            None,
        ),
        (
            &["application/json;q=0, application/json, text/event-stream"],
            Some(APPLICATION_JSON),
        ),
        (
            &["multipart/mixed;boundary=\"-\", application/json;q=0.1"],
            Some(APPLICATION_JSON),
        ),
        (
            &["application/json", "text/event-stream"],
            Some(APPLICATION_JSON),
        ),
        (&["text/event-stream", "application/json"], None),
    ];
    for (accept, expected) in cases {
        let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("accept", *a)).collect();
        let context = format!("Accept: {accept:?}");
        let post = post_json(&app, &headers, &json!({ "query": TYPENAME })).await;
        let by_get = get(&app, &[("query", TYPENAME)], &headers).await;
        for reply in [post, by_get] {
            match expected {
                Some(media) => {
                    let body = assert_executed(&reply, media);
                    assert_eq!(
                        data_of(&body),
                        &json!({ "__typename": "Query" }),
                        "{context}"
                    );
                }
                None => assert_streamed(&reply, &context),
            }
        }
    }
    for accept in [
        "multipart/mixed",
        "text/event-stream;q=0",
        "multipart/mixed, text/event-stream;q=0",
    ] {
        let reply = post_json(&app, &[("accept", accept)], &json!({ "query": TYPENAME })).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_ACCEPTABLE,
            "Accept: {accept}: {}",
            reply.text
        );
    }
}

/// Opens `request` and reads its head and what it sends within a second (an event stream
/// doesn't end).
async fn open(request: reqwest::RequestBuilder) -> Reply {
    let mut res = request.send().await.expect("request");
    let (status, headers) = (res.status(), res.headers().clone());
    let mut text = String::new();
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(until, res.chunk()).await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    Reply {
        status,
        headers,
        text,
    }
}

db_test! {
    async fn a_subscription_streams_whenever_its_accept_allows_a_stream(app) {
        let auth = bearer(&app);
        let subscribe = |accept: &str, by_get: bool| {
            let request = if by_get {
                app.client.get(graphql_url(&app)).query(&[("query", SUBSCRIPTION)])
            } else {
                app.client.post(graphql_url(&app)).json(&json!({ "query": SUBSCRIPTION }))
            };
            request.header("authorization", &auth).header("accept", accept)
        };
        for accept in [
            URQL_ACCEPT,
            EVENT_STREAM,
            "application/json, text/event-stream;q=0.1",
            "application/graphql-response+json, text/*;q=0.1",
            "*/*",
        ] {
            for by_get in [false, true] {
                let reply = open(subscribe(accept, by_get)).await;
                assert_eq!(reply.status, StatusCode::OK, "Accept: {accept}, GET: {by_get}: {}", reply.text);
                assert_eq!(reply.media_type(), EVENT_STREAM, "Accept: {accept}, GET: {by_get}");
            }
        }

        // urql's subscription receives its events.
        let mut stream = subscribe(URQL_ACCEPT, false).send().await.expect("request");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.create_ok(&app.org.test_key, json!({ "name": "Streamed to urql", "type": "WEBHOOK", "url": "https://example.com/u" })).await;
        let mut text = String::new();
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while !text.contains("Streamed to urql") {
            match tokio::time::timeout_at(until, stream.chunk()).await {
                Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                other => panic!("no event within 5 s ({other:?}): {text}"),
            }
        }
        assert!(text.contains("event: next"), "{text}");
        drop(stream);

        // An Accept that takes no stream keeps the refusal, which says where to subscribe.
        for accept in [
            APPLICATION_JSON,
            GRAPHQL_RESPONSE_JSON,
            "application/json, text/event-stream;q=0",
            "application/graphql-response+json, multipart/mixed",
        ] {
            for by_get in [false, true] {
                let reply = open(subscribe(accept, by_get)).await;
                let media = reply.media_type();
                let body = assert_refused(&reply, StatusCode::BAD_REQUEST, &media, "BAD_REQUEST");
                let message = body["errors"][0]["message"].as_str().unwrap_or_default();
                assert!(message.contains(EVENT_STREAM), "Accept: {accept}: {message}");
            }
        }
        let body = format!(r#"{{"query":"{SUBSCRIPTION}"}}"#);
        let reply = without_accept(&app, "POST /graphql", Some(&body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert_eq!(reply.media_type(), APPLICATION_JSON);
    }
}

db_test! {
    async fn a_batch_is_refused_whole_for_what_is_the_whole_requests(app) {
        let app = TestApp::builder(app.backend)
            .with_config(|c| {
                c.limits.max_batch = Some(3);
                c.rate_limit.bucket_size = 25;
                c.rate_limit.restore_rate = 1;
            })
            .spawn()
            .await
            .expect("app");
        let auth = bearer(&app);
        let batch = json!([{ "query": VIEWER }, { "query": TYPENAME }]);
        // Credential headers that can't be read refuse the request once, as for one operation.
        for headers in [
            vec![("authorization", auth.as_str()), ("x-api-key", app.org.live_key.as_str())],
            vec![("x-api-key", app.org.test_key.as_str()), ("x-api-key", app.org.test_key.as_str())],
            vec![("authorization", auth.as_str()), ("x-organization-id", "acme")],
        ] {
            let single = post_json(&app, &headers, &json!({ "query": VIEWER })).await;
            let reply = post_json(&app, &headers, &batch).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{headers:?}: {}", reply.text);
            assert_eq!(reply.status, single.status, "{headers:?}");
            assert_eq!(reply.json()["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{}", reply.text);
        }
        // A batch none of whose operations could be paid for is a 429 with Retry-After.
        let headers = [("authorization", auth.as_str())];
        let mut throttled = None;
        for _ in 0..40 {
            let reply = post_json(&app, &headers, &batch).await;
            if reply.status != StatusCode::OK {
                throttled = Some(reply);
                break;
            }
            let codes: Vec<_> = reply.json().as_array().expect("an array").iter()
                .map(|r| r["errors"][0]["extensions"]["code"].clone()).collect();
            assert!(codes.iter().any(Value::is_null), "a 200 ran something: {}", reply.text);
        }
        let reply = throttled.expect("the bucket ran dry");
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", reply.text);
        assert!(reply.headers.get("retry-after").is_some(), "{:?}", reply.headers);
        assert_eq!(reply.json()["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    }
}
