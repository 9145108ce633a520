//! Clients name themselves (`graphql-client-name`, `apollographql-client-name`, or the same
//! keys in `connection_init`): the name is in the log line and the metrics, bounded.

use cockpit_gateway::domain::{Mode, usage};
use serde_json::json;

use crate::helpers::*;

/// Scrapes `/metrics`, which must succeed.
async fn scrape(app: &TestApp) -> String {
    let res = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    res.text().await.expect("metrics text")
}

/// The value of the `cockpit_client_requests_total` sample of `client`, 0 when absent.
fn client_requests(text: &str, client: &str) -> f64 {
    let series = format!(r#"cockpit_client_requests_total{{client="{client}"}} "#);
    text.lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map_or(0.0, |v| v.trim().parse().expect("a numeric sample"))
}

/// A query as `key`'s holder, naming the client with `headers`.
async fn named(app: &TestApp, key: &str, headers: &[(&str, &str)]) {
    let auth = format!("Bearer {key}");
    let mut all = vec![("authorization", auth.as_str())];
    all.extend_from_slice(headers);
    app.post(&all, json!({ "query": "{ __typename }" }))
        .await
        .assert_ok();
}

async fn client_names_label_requests_up_to_the_cap(backend: Backend) {
    let Some(app) = TestApp::builder(backend)
        .with_config(|c| c.usage.max_client_names = 2)
        .spawn()
        .await
    else {
        panic!("{POSTGRES_UNSET}");
    };
    let key = app.org.key(Mode::Test).to_owned();
    named(&app, &key, &[("graphql-client-name", "dashboard")]).await;
    named(&app, &key, &[("apollographql-client-name", "ios")]).await;
    // The first header family wins over Apollo's.
    named(
        &app,
        &key,
        &[
            ("apollographql-client-name", "ignored"),
            ("graphql-client-name", "dashboard"),
        ],
    )
    .await;
    // Past the cap: counted as `other`, and known names still count as themselves.
    named(&app, &key, &[("graphql-client-name", "third")]).await;
    named(&app, &key, &[("graphql-client-name", "fourth")]).await;
    named(&app, &key, &[("apollographql-client-name", "ios")]).await;
    named(&app, &key, &[]).await;
    let text = scrape(&app).await;
    assert_eq!(client_requests(&text, "dashboard"), 2.0, "{text}");
    assert_eq!(client_requests(&text, "ios"), 2.0, "{text}");
    assert_eq!(client_requests(&text, "other"), 2.0, "{text}");
    assert!(client_requests(&text, "unknown") >= 1.0, "{text}");
    for name in ["third", "fourth", "ignored"] {
        assert!(!text.contains(name), "{name} is a label:\n{text}");
    }
}

#[tokio::test]
async fn client_names_label_requests_up_to_the_cap_on_sqlite() {
    client_names_label_requests_up_to_the_cap(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn client_names_label_requests_up_to_the_cap_on_postgres() {
    client_names_label_requests_up_to_the_cap(Backend::Postgres).await;
}

#[tokio::test]
async fn the_log_line_names_the_client_and_its_version() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let (mut child, address, log) = serve_process_logged(&db, &[]).await;
    let res = reqwest::Client::new()
        .post(format!("http://{address}/graphql"))
        .header("content-type", "application/json")
        .header("apollographql-client-name", "web\tapp")
        .header("apollographql-client-version", "1.2.3")
        .body(r#"{"query":"{ __typename }"}"#)
        .send()
        .await
        .expect("post");
    let id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("request id")
        .to_owned();
    let line = log.wait_for(json!({ "request_id": id })).await;
    assert_eq!(line["client_name"], "webapp", "{line}");
    assert_eq!(line["client_version"], "1.2.3", "{line}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A gateway writing field usage every 100 ms, over `db` when given.
async fn writing_often(backend: Backend, db: Option<TestDb>) -> TestApp {
    let mut builder = TestApp::builder(backend)
        .with_config(|c| c.usage.flush_interval = std::time::Duration::from_millis(100));
    if let Some(db) = db {
        builder = builder.on(db);
    }
    builder.spawn().await.expect(POSTGRES_UNSET)
}

/// Lists endpoints as `app`'s own organization, naming the client `name` when given.
async fn list_endpoints(app: &TestApp, name: Option<&str>) {
    let headers: Vec<(&str, &str)> = name
        .map(|n| ("graphql-client-name", n))
        .into_iter()
        .collect();
    let auth = format!("Bearer {}", app.org.key(Mode::Test));
    let mut all = vec![("authorization", auth.as_str())];
    all.extend(headers);
    app.post(&all, json!({ "query": "{ endpoints { totalCount } }" }))
        .await
        .assert_ok();
}

/// The clients of `Query.endpoints` today, once they are `expected` (within 5 s).
async fn wait_for_usage(app: &TestApp, expected: &[(&str, i64)]) {
    wait_for_usage_of(app, "Query.endpoints", expected).await;
}

/// The clients of `coordinate` today, once they are `expected` (within 5 s).
async fn wait_for_usage_of(app: &TestApp, coordinate: &str, expected: &[(&str, i64)]) {
    let mut expected: Vec<(String, i64)> = expected
        .iter()
        .map(|(name, count)| ((*name).to_owned(), *count))
        .collect();
    expected.sort();
    let mut found = Vec::new();
    for _ in 0..100 {
        found = usage::clients_of(&app.db, coordinate, 1)
            .await
            .expect("read field usage")
            .into_iter()
            .map(|u| (u.client_name, u.count))
            .collect();
        found.sort();
        if found == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("field usage of {coordinate} is {found:?}, not {expected:?}");
}

/// The fields of an interface's or a union's value count for the object type it is, and its
/// answer holds only what the client selected, `__typename` only where it asked for it —
/// over HTTP, in a batch and in a subscription's results alike.
async fn abstract_values_count_for_their_type_and_answer_only_what_was_selected(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_config(|c| {
            c.usage.flush_interval = std::time::Duration::from_millis(100);
            c.limits.max_batch = Some(2);
        })
        .spawn()
        .await
        .expect(POSTGRES_UNSET);
    let key = app.org.key(Mode::Test).to_owned();
    let input = json!({
        "name": "voice", "type": "VAPI",
        "providerConfig": { "vapi": { "assistantId": "asst-1" } },
    });
    let endpoint = app.create_ok(&key, input).await;
    let id = endpoint["id"].as_str().expect("id").to_owned();
    let auth = format!("Bearer {key}");
    let headers = [
        ("authorization", auth.as_str()),
        ("graphql-client-name", "ui"),
    ];
    let query = "query($id: ID!) { node(id: $id) { id ... on Endpoint { providerConfig { \
                 ... on VapiConfig { assistantId } ... on RetellConfig { agentId } } } } }";
    let expected = json!({ "node": {
        "id": id, "providerConfig": { "assistantId": "asst-1" },
    }});
    let body = json!({ "query": query, "variables": { "id": id } });
    let res = app.post(&headers, body.clone()).await;
    assert_eq!(res.assert_ok(), &expected);
    // Each result of a batch as well.
    let res = app.post(&headers, json!([body.clone(), body])).await;
    assert_eq!(res.status, reqwest::StatusCode::OK, "{}", res.body);
    for result in res.body.as_array().expect("batch") {
        assert_eq!(result["data"], expected, "{result}");
    }
    // A `__typename` the client selects stays.
    let query = "query($id: ID!) { node(id: $id) { __typename ... on Endpoint { \
                 providerConfig { ... on VapiConfig { assistantId } __typename } } } }";
    let res = app
        .post(
            &headers,
            json!({ "query": query, "variables": { "id": id } }),
        )
        .await;
    assert_eq!(
        res.assert_ok(),
        &json!({ "node": {
            "__typename": "Endpoint",
            "providerConfig": { "assistantId": "asst-1", "__typename": "VapiConfig" },
        }})
    );
    // A `__typename` in a fragment for another type, or skipped, is not answered; one in a
    // second selection of the same field is.
    let queries = [
        (
            "query($id: ID!) { node(id: $id) { ... on Endpoint { providerConfig { \
             ... on RetellConfig { __typename agentId } ... on VapiConfig { assistantId } } } } }",
            json!({ "node": { "providerConfig": { "assistantId": "asst-1" } } }),
        ),
        (
            "query($id: ID!, $t: Boolean = false) { node(id: $id) { ... @include(if: $t) { __typename } id } }",
            json!({ "node": { "id": id } }),
        ),
        (
            "query($id: ID!) { node(id: $id) { id } node(id: $id) { __typename } }",
            json!({ "node": { "id": id, "__typename": "Endpoint" } }),
        ),
    ];
    for (query, expected) in queries {
        let res = app
            .post(
                &headers,
                json!({ "query": query, "variables": { "id": id } }),
            )
            .await;
        assert_eq!(res.assert_ok(), &expected, "{query}");
    }
    // A subscription's results, rendered once for all its subscribers, too.
    let mut ws = crate::live::Ws::connect(
        &app.address,
        crate::live::Protocol::TransportWs,
        json!({ "Authorization": auth, "graphql-client-name": "ui" }),
    )
    .await;
    let subscription = "subscription($after: String) { endpointEvents(after: $after) { \
                        endpoint { providerConfig { ... on VapiConfig { assistantId } } } } }";
    // From the start: the endpoint's creation comes first.
    ws.subscribe("1", subscription, json!({ "after": app.start_cursor() }))
        .await;
    assert_eq!(
        ws.next_event().await,
        json!({ "endpoint": { "providerConfig": { "assistantId": "asst-1" } } })
    );
    // The creation above counts too, for no client.
    wait_for_usage_of(&app, "Endpoint.id", &[("ui", 5), ("unknown", 1)]).await;
    let each = [("ui", 6), ("unknown", 1)];
    wait_for_usage_of(&app, "Endpoint.providerConfig", &each).await;
    wait_for_usage_of(&app, "VapiConfig.assistantId", &each).await;
    wait_for_usage_of(&app, "Query.node", &[("ui", 7)]).await;
    // No Retell configuration was answered (the creation selected its fields too), and no
    // field of an interface's own.
    for unused in ["RetellConfig.agentId", "Node.id"] {
        let found = usage::clients_of(&app.db, unused, 1).await.expect("read");
        assert!(found.is_empty(), "{unused}: {found:?}");
    }
}

#[tokio::test]
async fn abstract_values_count_for_their_type_and_answer_only_what_was_selected_on_sqlite() {
    abstract_values_count_for_their_type_and_answer_only_what_was_selected(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn abstract_values_count_for_their_type_and_answer_only_what_was_selected_on_postgres() {
    abstract_values_count_for_their_type_and_answer_only_what_was_selected(Backend::Postgres).await;
}

async fn field_usage_is_written_by_client_and_read_back(backend: Backend) {
    let app = writing_often(backend, None).await;
    for _ in 0..3 {
        list_endpoints(&app, Some("dashboard")).await;
    }
    list_endpoints(&app, None).await;
    wait_for_usage(&app, &[("dashboard", 3), ("unknown", 1)]).await;
    let totals = usage::clients_of(&app.db, "EndpointConnection.totalCount", 30)
        .await
        .expect("read field usage");
    assert_eq!(totals.iter().map(|u| u.count).sum::<i64>(), 4);
    // Introspection and `__typename` are no field of the schema's.
    assert!(
        usage::clients_of(&app.db, "Query.__typename", 30)
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn field_usage_is_written_by_client_and_read_back_on_sqlite() {
    field_usage_is_written_by_client_and_read_back(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn field_usage_is_written_by_client_and_read_back_on_postgres() {
    field_usage_is_written_by_client_and_read_back(Backend::Postgres).await;
}

async fn field_usage_survives_a_restart_and_processes_add_up(backend: Backend) {
    let first = writing_often(backend, None).await;
    list_endpoints(&first, Some("ios")).await;
    list_endpoints(&first, Some("ios")).await;
    wait_for_usage(&first, &[("ios", 2)]).await;
    // A gateway started again on the same database (the first one keeps it: its drop would
    // remove it) starts from nothing in memory, and reads what the first wrote.
    let again = writing_often(backend, Some(first.test_db.shared())).await;
    wait_for_usage(&again, &[("ios", 2)]).await;
    // And two at once add up.
    let other = writing_often(backend, Some(again.test_db.shared())).await;
    list_endpoints(&again, Some("ios")).await;
    list_endpoints(&other, Some("ios")).await;
    list_endpoints(&other, Some("android")).await;
    wait_for_usage(&again, &[("ios", 4), ("android", 1)]).await;
    drop(first);
}

#[tokio::test]
async fn field_usage_survives_a_restart_and_processes_add_up_on_sqlite() {
    field_usage_survives_a_restart_and_processes_add_up(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn field_usage_survives_a_restart_and_processes_add_up_on_postgres() {
    field_usage_survives_a_restart_and_processes_add_up(Backend::Postgres).await;
}

#[tokio::test]
async fn field_usage_is_written_when_the_gateway_stops() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let (mut child, address) =
        serve_process(&db, &[("COCKPIT_FIELD_USAGE_FLUSH_SECONDS", "3600")]).await;
    let store = cockpit_gateway::db::Db::from(
        cockpit_gateway::db::connect(&db.url)
            .await
            .expect("connect"),
    );
    let org = TestApp::make_org(&store, "Stopping").await;
    let res = reqwest::Client::new()
        .post(format!("http://{address}/graphql"))
        .bearer_auth(org.key(Mode::Test))
        .header("graphql-client-name", "cli")
        .json(&json!({ "query": "{ endpoints { totalCount } }" }))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let exited = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(exited.success(), "{exited}");
    let usage = usage::clients_of(&store, "Query.endpoints", 1)
        .await
        .expect("read field usage");
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!((usage[0].client_name.as_str(), usage[0].count), ("cli", 1));
}
