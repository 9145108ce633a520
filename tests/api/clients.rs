//! Clients name themselves (`graphql-client-name`, `apollographql-client-name`, or the same
//! keys in `connection_init`): the name is in the log line and the metrics, bounded.

use cockpit_gateway::domain::Mode;
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
