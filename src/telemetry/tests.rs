use super::*;

#[test]
fn stripped_document_keeps_shape_and_drops_every_literal() {
    let document = r#"
        # a comment naming "a secret"
        mutation Create($input: CreateEndpointInput! = {name: "x"}) {
          createEndpoint(input: {name: "hunter2", port: 5060, ratio: -1.5e3, tags: ["a", """b "c" \""" d"""], on: true, kind: VAPI, none: null}) {
            endpoint { id } userErrors { field }
          }
        }"#;
    let stripped = stripped(document);
    assert_eq!(
        stripped,
        r#"mutation Create($input: CreateEndpointInput! = {name: ""}) { createEndpoint(input: {name: "" port: 0 ratio: 0 tags: ["" ""] on: true kind: VAPI none: null}) { endpoint { id } userErrors { field } } }"#
    );
    for secret in ["hunter2", "5060", "1.5e3", "secret", "d\"\"\""] {
        assert!(!stripped.contains(secret), "{secret} in {stripped}");
    }
}

#[test]
fn a_number_after_a_name_is_still_a_number() {
    assert_eq!(stripped("{ f(a: [A-1]) }"), "{ f(a: [A 0]) }");
}

#[test]
fn tracing_settings_send_to_the_traces_path_only_when_configured() {
    let mut settings = TracingSettings::default();
    assert_eq!(settings.traces_endpoint(), None);
    settings.endpoint = Some("http://collector:4318/".into());
    assert_eq!(
        settings.traces_endpoint().as_deref(),
        Some("http://collector:4318/v1/traces")
    );
    settings.traces_endpoint = Some("http://other/x".into());
    assert_eq!(
        settings.traces_endpoint().as_deref(),
        Some("http://other/x")
    );
}

#[test]
fn nothing_is_built_without_an_endpoint_and_an_unknown_protocol_is_refused() {
    let mut settings = TracingSettings {
        protocol: "http/protobuf".into(),
        ..TracingSettings::default()
    };
    assert!(matches!(provider(&settings), Ok(None)));
    settings.endpoint = Some("http://127.0.0.1:1".into());
    settings.protocol = "grpc".into();
    assert!(matches!(
        provider(&settings),
        Err(TelemetryError::Protocol(_))
    ));
}

#[test]
fn garbage_trace_context_is_ignored() {
    // No exporter in unit tests: the span is disabled, and nothing may fail either way.
    let span = tracing::info_span!(target: TARGET, "t");
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-zz-\u{7f}"
            .parse()
            .unwrap_or_else(|_| "x".parse().expect("header")),
    );
    headers.insert("tracestate", "=,,=".parse().expect("header"));
    continue_from(&span, &Carrier::Headers(&headers));
    link_to(&span, "not a traceparent");
    assert_eq!(traceparent_of(&span), None);
}

#[test]
fn the_first_operation_name_is_read_from_a_stripped_document() {
    let name = |d: &str| document::first_operation_name(&stripped(d)).map(str::to_owned);
    assert_eq!(
        name("mutation Create($a: Int) { f }").as_deref(),
        Some("Create")
    );
    assert_eq!(name("query{ f }"), None);
    assert_eq!(name("{ query }"), None);
    assert_eq!(
        name("fragment F on Q { f } query Q2 { ...F }").as_deref(),
        Some("Q2")
    );
}
