//! Traces exported over OTLP/HTTP to a receiver the test runs, which decodes what it gets: a
//! client's trace continues through the gateway, by the semantic conventions' names, to the
//! delivery of the change's event (in another process on PostgreSQL), and no variable value
//! is ever in what is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::json;

use crate::helpers::*;
use crate::live::{ENDPOINT_EVENTS, Protocol, Sse, Ws};

/// What the receiver got: every request's bytes, and the spans decoded from them.
#[derive(Clone, Default)]
struct Received {
    bytes: Arc<Mutex<Vec<u8>>>,
    spans: Arc<Mutex<Vec<Span>>>,
}

/// An OTLP/HTTP receiver on a random port; its base URL.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.bytes.lock().expect("bytes").extend_from_slice(&body);
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let spans = request
                    .resource_spans
                    .into_iter()
                    .flat_map(|r| r.scope_spans)
                    .flat_map(|s| s.spans);
                kept.spans.lock().expect("spans").extend(spans);
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver") });
    (url, received)
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|a| a.key == key)?
        .value
        .as_ref()?;
    match value.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        AnyValue::BoolValue(b) => Some(b.to_string()),
        AnyValue::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

impl Received {
    /// Waits (10 s at most) until a span `found` accepts has arrived; returns it.
    async fn wait_for(&self, what: &str, found: impl Fn(&Span) -> bool) -> Span {
        for _ in 0..200 {
            if let Some(span) = self.spans.lock().expect("spans").iter().find(|s| found(s)) {
                return span.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let names: Vec<String> = self
            .spans
            .lock()
            .expect("spans")
            .iter()
            .map(|s| s.name.clone())
            .collect();
        panic!("no {what} span among {names:?}");
    }
}

/// One `createEndpoint` from a client that sends a `traceparent`, while a subscriber (of a
/// second process when `two_processes`) waits for its event.
async fn a_traced_write_reaches_the_receiver(backend: Backend, two_processes: bool) {
    let Some(app) = TestApp::builder(backend).spawn().await else {
        panic!("{POSTGRES_UNSET}");
    };
    let (otlp, received) = receiver().await;
    let env = |name: &'static str| {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.clone()),
            ("OTEL_SERVICE_NAME", name.to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ]
    };
    let writer_env = env("writer");
    let writer_env: Vec<(&str, &str)> = writer_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut writer, writer_address) = serve_process(&app.test_db, &writer_env).await;
    let reader_env = env("reader");
    let reader_env: Vec<(&str, &str)> = reader_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let reader = if two_processes {
        Some(serve_process(&app.test_db, &reader_env).await)
    } else {
        None
    };
    let reader_address = reader
        .as_ref()
        .map_or(writer_address.clone(), |r| r.1.clone());

    let key = app.org.test_key.clone();
    let auth = format!("Bearer {key}");
    let mut sse = Sse::post(
        &format!("http://{reader_address}"),
        &[("authorization", &auth)],
        ENDPOINT_EVENTS,
        json!({}),
    )
    .await;
    assert_eq!(sse.response.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let secret = format!("variable-secret-{}", uuid::Uuid::new_v4().simple());
    let res = app
        .client
        .post(format!("http://{writer_address}/graphql"))
        .header("authorization", &auth)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .header("tracestate", "vendor=value")
        .json(&json!({
            "query": "mutation Create($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } userErrors { code } } }",
            "variables": { "input": { "name": secret, "type": "WEBHOOK", "url": "https://hooks.example.com/in" } },
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let (_, result) = sse.next_result().await;
    assert_eq!(
        result["data"]["endpointEvents"]["endpoint"]["name"],
        secret.as_str()
    );

    let ours = |s: &Span| hex::encode(&s.trace_id) == trace_id;
    let server = received
        .wait_for("HTTP server", |s| {
            ours(s) && attribute(s, "http.route").is_some()
        })
        .await;
    assert_eq!(server.name, "POST /graphql");
    assert_eq!(
        attribute(&server, "http.request.method").as_deref(),
        Some("POST")
    );
    assert_eq!(
        attribute(&server, "http.route").as_deref(),
        Some("/graphql")
    );
    assert_eq!(
        attribute(&server, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(hex::encode(&server.parent_span_id), "00f067aa0ba902b7");

    let operation = received
        .wait_for("GraphQL", |s| {
            ours(s) && attribute(s, "graphql.operation.type").is_some()
        })
        .await;
    assert_eq!(operation.name, "mutation Create");
    assert_eq!(
        attribute(&operation, "graphql.operation.type").as_deref(),
        Some("mutation")
    );
    assert_eq!(
        attribute(&operation, "graphql.operation.name").as_deref(),
        Some("Create")
    );
    let document = attribute(&operation, "graphql.document").expect("document");
    assert!(
        document.starts_with("mutation Create($input: CreateEndpointInput!)"),
        "{document}"
    );

    let system = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
    };
    // On PostgreSQL the write's own statements are in the client's trace; on SQLite a
    // statement of the gateway's is enough.
    let statement = received
        .wait_for("database", |s| {
            (ours(s) || backend == Backend::Sqlite) && attribute(s, "db.system.name").is_some()
        })
        .await;
    assert_eq!(
        attribute(&statement, "db.system.name").as_deref(),
        Some(system)
    );
    assert!(attribute(&statement, "db.operation.name").is_some());

    // The delivery (in the reader process when there are two) links to the write's trace.
    let delivery = received
        .wait_for("delivery", |s| {
            s.name == "deliver event"
                && s.links.iter().any(|l| hex::encode(&l.trace_id) == trace_id)
        })
        .await;
    assert_eq!(
        attribute(&delivery, "cockpit.event.type").as_deref(),
        Some("endpoint.created")
    );

    let bytes = received.bytes.lock().expect("bytes").clone();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(&secret), "a variable's value was exported");
    assert!(!text.contains(&key), "a credential was exported");

    drop(sse);
    let _ = writer.kill();
    let _ = writer.wait();
    if let Some((mut reader, _)) = reader {
        let _ = reader.kill();
        let _ = reader.wait();
    }
}

#[tokio::test]
async fn a_traced_write_and_its_delivery_are_exported_on_sqlite() {
    a_traced_write_reaches_the_receiver(Backend::Sqlite, false).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_traced_write_is_linked_from_its_delivery_in_another_process_postgres() {
    a_traced_write_reaches_the_receiver(Backend::Postgres, true).await;
}

/// Operations over a WebSocket continue the trace their `connection_init` names (here under
/// `headers`), or the one their own `extensions` name; the client's name is on the span.
async fn websocket_operations_continue_their_clients_trace(backend: Backend) {
    let Some(app) = TestApp::builder(backend).spawn().await else {
        panic!("{POSTGRES_UNSET}");
    };
    let (otlp, received) = receiver().await;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
        ("OTEL_SERVICE_NAME", "websocket"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let (mut gateway, address) = serve_process(&app.test_db, &env).await;
    let connection_trace = "0af7651916cd43dd8448eb211c80319c";
    let operation_trace = "5bf92f3577b34da6a3ce929d0e0e4737";
    let mut ws = Ws::connect(
        &format!("http://{address}"),
        Protocol::TransportWs,
        json!({
            "Authorization": format!("Bearer {}", app.org.test_key),
            "headers": {
                "traceparent": format!("00-{connection_trace}-b7ad6b7169203331-01"),
                "graphql-client-name": "ws-dashboard",
            },
        }),
    )
    .await;
    ws.subscribe(
        "1",
        "query First { endpoints(first: 1) { totalCount } }",
        json!({}),
    )
    .await;
    let first_result = ws.next_payload().await;
    assert!(first_result.get("errors").is_none(), "{first_result}");
    let completed = ws
        .next_json()
        .await
        .expect("the first operation's complete");
    assert_eq!(completed["type"], "complete", "{completed}");
    ws.send(json!({ "id": "2", "type": "subscribe", "payload": {
        "query": "query Second { __typename }",
        "extensions": { "traceparent": format!("00-{operation_trace}-00f067aa0ba902b7-01") },
    } }))
    .await;
    let second_result = ws.next_payload().await;
    assert!(second_result.get("errors").is_none(), "{second_result}");

    let named = |name: &'static str| {
        move |s: &Span| attribute(s, "graphql.operation.name").as_deref() == Some(name)
    };
    let first = received.wait_for("First", named("First")).await;
    assert_eq!(hex::encode(&first.trace_id), connection_trace);
    assert_eq!(
        attribute(&first, "cockpit.client.name").as_deref(),
        Some("ws-dashboard")
    );
    let second = received.wait_for("Second", named("Second")).await;
    assert_eq!(hex::encode(&second.trace_id), operation_trace);

    drop(ws);
    let _ = gateway.kill();
    let _ = gateway.wait();
}

#[tokio::test]
async fn websocket_operations_continue_their_clients_trace_on_sqlite() {
    websocket_operations_continue_their_clients_trace(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn websocket_operations_continue_their_clients_trace_postgres() {
    websocket_operations_continue_their_clients_trace(Backend::Postgres).await;
}
