//! Apollo's multipart subscriptions over `POST /graphql`: each result a `{"payload": …}` part,
//! heartbeats while quiet, the error that ends a subscription beside a null payload, and the
//! closing boundary; refusals and other operations answered as over plain HTTP.

use std::time::Duration;

use cockpit_gateway::domain::{Mode, Role, api_keys};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live::*;

/// What Apollo iOS sends (Apollo Client sends the boundary unquoted and prefers
/// `application/graphql-response+json`).
pub const ACCEPT: &str =
    "multipart/mixed;boundary=\"graphql\";subscriptionSpec=\"1.0\",application/json";
const APOLLO_CLIENT: &str = "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/graphql-response+json,application/json;q=0.9";
const DELIMITER: &str = "\r\n--graphql";

/// What a multipart response holds next.
#[derive(Debug, PartialEq)]
pub enum Part {
    Json(Value),
    /// The closing boundary.
    Closed,
}

/// A multipart response, read as it arrives and held to the protocol's framing.
pub struct Multipart {
    pub response: reqwest::Response,
    buffer: String,
    opened: bool,
    /// The last part's JSON as it came (a `Value` doesn't keep the order of its keys).
    pub last_raw: String,
}

impl Multipart {
    /// `POST /graphql` with the multipart `Accept`.
    pub async fn post(
        address: &str,
        headers: &[(&str, &str)],
        query: &str,
        variables: Value,
    ) -> Multipart {
        let mut request = reqwest::Client::new()
            .post(format!("{address}/graphql"))
            .header("accept", ACCEPT)
            .json(&json!({ "query": query, "variables": variables }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Multipart {
            response: request.send().await.expect("request"),
            buffer: String::new(),
            opened: false,
            last_raw: String::new(),
        }
    }

    pub fn content_type(&self) -> String {
        self.response.headers()["content-type"]
            .to_str()
            .expect("type")
            .to_owned()
    }

    /// The next part, heartbeats included; `None` when nothing came in `wait` or the body
    /// ended without its closing boundary.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Part> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if !self.opened && self.buffer.len() >= DELIMITER.len() {
                assert!(self.buffer.starts_with(DELIMITER), "{:?}", self.buffer);
                self.buffer.drain(..DELIMITER.len());
                self.opened = true;
            }
            if self.opened && self.buffer.starts_with("--\r\n") {
                assert_eq!(self.buffer, "--\r\n", "nothing after the closing boundary");
                return Some(Part::Closed);
            }
            if self.opened
                && let Some(end) = self.buffer.find(DELIMITER)
            {
                let part: String = self.buffer.drain(..end + DELIMITER.len()).collect();
                let part = &part[..end];
                let (head, body) = part
                    .strip_prefix("\r\n")
                    .and_then(|p| p.split_once("\r\n\r\n"))
                    .unwrap_or_else(|| panic!("a part with headers: {part:?}"));
                assert_eq!(head, "Content-Type: application/json; charset=utf-8");
                self.last_raw = body.to_owned();
                return Some(Part::Json(serde_json::from_str(body).expect("JSON part")));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next part that isn't a heartbeat.
    pub async fn next_part(&mut self) -> Part {
        loop {
            match self.next_within(WAIT).await.expect("a part within 5 s") {
                Part::Json(heartbeat) if heartbeat == json!({}) => continue,
                part => return part,
            }
        }
    }

    /// Nothing but heartbeats for `wait`.
    pub async fn assert_silent(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while let Some(part) = self
            .next_within(deadline - tokio::time::Instant::now())
            .await
        {
            assert_eq!(part, Part::Json(json!({})), "silent");
        }
    }

    /// The next result's payload.
    pub async fn next_payload(&mut self) -> Value {
        match self.next_part().await {
            Part::Json(mut part) => {
                assert!(
                    part.get("errors").is_none(),
                    "a result, not an ending: {part}"
                );
                part["payload"].take()
            }
            Part::Closed => panic!("closed before a result"),
        }
    }
}

fn webhook(name: &str) -> Value {
    json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/in" })
}

db_test! {
    async fn a_subscription_gets_its_events_as_payloads_with_their_cost_and_resumes_after_a_cursor(app) {
        let key = app.org.test_key.clone();
        let auth = format!("Bearer {key}");
        let mut parts = Multipart::post(&app.address, &[("authorization", &auth)], ENDPOINT_EVENTS, json!({})).await;
        assert_eq!(parts.response.status(), 200);
        assert_eq!(parts.content_type(), "multipart/mixed;boundary=\"graphql\";subscriptionSpec=1.0");
        tokio::time::sleep(Duration::from_millis(300)).await;
        for name in ["First", "Second", "Third"] {
            app.create_ok(&key, webhook(name)).await;
        }
        let mut payloads = Vec::new();
        for name in ["First", "Second", "Third"] {
            let payload = parts.next_payload().await;
            assert_eq!(payload["data"]["endpointEvents"]["endpoint"]["name"], name, "{payload}");
            payloads.push(payload);
        }
        let cursors: Vec<i64> = payloads.iter().map(|p| app.seq_of(&p["data"]["endpointEvents"]["cursor"])).collect();
        assert!(cursors.windows(2).all(|w| w[0] < w[1]), "in order: {cursors:?}");
        let (first, second) = (&payloads[0]["extensions"]["cost"], &payloads[1]["extensions"]["cost"]);
        let each = second["actualQueryCost"].as_u64().expect("a result's cost");
        assert!(each > 0, "{second}");
        // The first result's report includes what starting cost.
        assert!(first["actualQueryCost"].as_u64().expect("cost") > each, "{first}");
        // Only what the client asked for and its cost: no cursor of the transport's own.
        let extensions = payloads[0]["extensions"].as_object().expect("extensions");
        assert_eq!(extensions.keys().collect::<Vec<_>>(), ["cost"], "{extensions:?}");
        drop(parts);

        // Resumed after the first: the second and third, then live ones.
        let after = payloads[0]["data"]["endpointEvents"]["cursor"].clone();
        let mut parts = Multipart::post(&app.address, &[("authorization", &auth)], ENDPOINT_EVENTS, json!({ "after": after })).await;
        for name in ["Second", "Third"] {
            assert_eq!(parts.next_payload().await["data"]["endpointEvents"]["endpoint"]["name"], name);
        }
        app.create_ok(&key, webhook("Live")).await;
        assert_eq!(parts.next_payload().await["data"]["endpointEvents"]["endpoint"]["name"], "Live");
    }
}

#[tokio::test]
async fn a_quiet_subscription_gets_heartbeats_and_outlives_the_idle_timeout() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.server.idle_timeout = Duration::from_secs(2))
        .spawn()
        .await
        .expect("SQLite");
    let auth = format!("Bearer {}", app.org.test_key);
    // Accepting compression, as browsers and Node's fetch do: a compressor would hold the parts.
    let mut parts = Multipart::post(
        &app.address,
        &[("authorization", &auth), ("accept-encoding", "gzip, br")],
        ENDPOINT_EVENTS,
        json!({}),
    )
    .await;
    assert_eq!(parts.response.status(), 200);
    assert_eq!(parts.response.headers().get("content-encoding"), None);
    assert_eq!(
        parts.next_within(Duration::from_millis(1900)).await,
        Some(Part::Json(json!({})))
    );
    // Quiet for longer than the idle timeout, and still open.
    tokio::time::sleep(Duration::from_secs(3)).await;
    app.create_ok(&app.org.test_key, webhook("Late")).await;
    assert_eq!(
        parts.next_payload().await["data"]["endpointEvents"]["endpoint"]["name"],
        "Late"
    );
}

db_test! {
    async fn a_refused_subscription_gets_the_status_and_body_post_gets(app) {
        let auth = format!("Bearer {}", app.org.test_key);
        let refused = [
            ("subscription { endpointEvents { nope } }", json!({}), "GRAPHQL_VALIDATION_FAILED"),
            ("subscription { endpointEvents { type ", json!({}), "GRAPHQL_PARSE_FAILED"),
            ("subscription { endpointEvents { type } phoneNumberEvents { type } }", json!({}), "GRAPHQL_VALIDATION_FAILED"),
        ];
        for (query, variables, code) in refused {
            let parts = Multipart::post(&app.address, &[("authorization", &auth)], query, variables.clone()).await;
            let status = parts.response.status();
            assert!(parts.content_type().starts_with("application/json"), "{query}: {}", parts.content_type());
            let body: Value = parts.response.json().await.expect("JSON");
            let (body, _) = split_cost(body);
            assert_eq!(body["errors"][0]["extensions"]["code"], code, "{query}: {body}");
            // The same as an event stream gets, which is what POST gets for a query.
            let sse = Sse::post(&app.address, &[("authorization", &auth)], query, variables).await;
            assert_eq!(sse.response.status(), status, "{query}");
            let (sse_body, _) = split_cost(sse.response.json().await.expect("JSON"));
            assert_eq!(body, sse_body, "{query}");
        }
        // A query refused the same way: the same as POST taking JSON gets.
        let parts = Multipart::post(&app.address, &[("authorization", &auth)], "{ nope }", json!({})).await;
        let status = parts.response.status();
        let (body, _) = split_cost(parts.response.json().await.expect("JSON"));
        let post = app.post(&[("authorization", auth.as_str()), ("accept", "application/json")], json!({ "query": "{ nope }" })).await;
        assert_eq!((status, body), (post.status, post.body));

        // A bad credential, and none: the HTTP refusal POST gets (for a query; for a
        // subscription it refuses that first), as an event stream gets it.
        for headers in [vec![("authorization", "Bearer nope")], vec![]] {
            let parts = Multipart::post(&app.address, &headers, ENDPOINT_EVENTS, json!({})).await;
            let status = parts.response.status();
            let (body, _) = split_cost(parts.response.json().await.expect("JSON"));
            assert_eq!(status, 401, "{body}");
            let mut post_headers = headers.clone();
            post_headers.push(("accept", "application/json"));
            let post = app.post(&post_headers, json!({ "query": "{ viewer { mode } }" })).await;
            assert_eq!((status, &body), (post.status, &post.body));
            let sse = Sse::post(&app.address, &headers, ENDPOINT_EVENTS, json!({})).await;
            assert_eq!(sse.response.status(), status);
            assert_eq!(split_cost(sse.response.json().await.expect("JSON")).0, body);
        }
    }
}

db_test! {
    async fn a_query_with_the_multipart_accept_is_answered_in_json(app) {
        let auth = format!("Bearer {}", app.org.test_key);
        for (accept, media) in [(ACCEPT, "application/json"), (APOLLO_CLIENT, "application/graphql-response+json")] {
            let res = app.post(&[("authorization", auth.as_str()), ("accept", accept)], json!({ "query": "{ viewer { mode } }" })).await;
            assert_eq!(res.status, 200, "{}", res.body);
            let kind = res.headers["content-type"].to_str().expect("type");
            assert!(kind.starts_with(media), "{accept}: {kind}");
            assert_eq!(res.body["data"]["viewer"]["mode"], "TEST");
        }
        // A client that takes nothing but multipart subscriptions gets no query answered.
        let res = app
            .post(
                &[("authorization", auth.as_str()), ("accept", "multipart/mixed;subscriptionSpec=1.0")],
                json!({ "query": "{ viewer { mode } }" }),
            )
            .await;
        assert_eq!(res.status, 406, "{}", res.body);
        // And multipart without the subscription spec (incremental delivery) is not offered.
        let res = app
            .post(&[("authorization", auth.as_str()), ("accept", "multipart/mixed")], json!({ "query": "{ viewer { mode } }" }))
            .await;
        assert_eq!(res.status, 406, "{}", res.body);
        // Nor does it carry a subscription: that one is refused as over plain HTTP.
        let res = app
            .post(&[("authorization", auth.as_str()), ("accept", "multipart/mixed;deferSpec=20220824, application/json")], json!({ "query": ENDPOINT_EVENTS }))
            .await;
        assert_eq!(res.status, 400, "{}", res.body);
    }
}

db_test! {
    async fn a_subscriber_sees_only_its_organization_and_mode(app) {
        let other = app.new_org("Other").await;
        let auth = format!("Bearer {}", app.org.test_key);
        let mut parts = Multipart::post(&app.address, &[("authorization", &auth)], ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.create_ok(&other.test_key, webhook("Theirs")).await;
        app.create_ok(&other.live_key, webhook("Theirs live")).await;
        app.create_ok(&app.org.live_key, webhook("Live")).await;
        app.create_ok(&app.org.test_key, webhook("Mine")).await;
        let event = &parts.next_payload().await["data"]["endpointEvents"];
        assert_eq!(event["endpoint"]["name"], "Mine");
        assert_eq!(event["endpoint"]["mode"], "TEST");
        parts.assert_silent(Duration::from_millis(300)).await;
    }
}

db_test! {
    async fn a_revoked_keys_subscription_ends_with_an_error_beside_a_null_payload(app) {
        let key = api_keys::system::create(&app.db, app.org.id, Mode::Test, "to revoke").await.expect("key");
        let auth = format!("Bearer {}", key.plaintext);
        let mut parts = Multipart::post(&app.address, &[("authorization", &auth)], ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        app.graphql(
            &owner,
            "mutation($id: UUID!) { revokeApiKey(input: {id: $id}) { apiKey { revokedAt } } }",
            json!({ "id": key.key.id }),
        )
        .await
        .assert_ok();
        let Part::Json(ending) = parts.next_part().await else {
            panic!("an ending error before the close");
        };
        assert_eq!(ending["payload"], Value::Null, "{ending}");
        assert_eq!(ending["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{ending}");
        assert_eq!(parts.next_part().await, Part::Closed);
    }
}

db_test! {
    async fn an_argument_of_no_use_ends_the_subscription_with_its_graphql_errors_in_the_payload(app) {
        let auth = format!("Bearer {}", app.org.test_key);
        for (variables, code) in [
            (json!({ "after": "not a cursor" }), Some("BAD_USER_INPUT")),
            (json!({ "filter": 3 }), None),
        ] {
            let mut parts = Multipart::post(&app.address, &[("authorization", &auth)], ENDPOINT_EVENTS, variables.clone()).await;
            assert_eq!(parts.response.status(), 200, "{variables}");
            let Part::Json(part) = parts.next_part().await else {
                panic!("{variables}: closed without a result");
            };
            let payload = &part["payload"];
            assert!(part.get("errors").is_none(), "{variables}: {part}");
            assert_eq!(payload["data"], Value::Null, "{variables}: {part}");
            assert_eq!(payload["errors"][0]["path"], json!(["endpointEvents"]), "{variables}: {part}");
            assert_eq!(payload["errors"][0]["extensions"]["code"].as_str(), code, "{variables}: {part}");
            assert_eq!(parts.next_part().await, Part::Closed, "{variables}");
        }
    }
}

db_test! {
    async fn a_subscription_by_get_streams_as_multipart_too(app) {
        let key = app.org.test_key.clone();
        let response = reqwest::Client::new()
            .get(format!("{}/graphql", app.address))
            .query(&[("query", "subscription { endpointEvents { type endpoint { name } } }")])
            .header("accept", APOLLO_CLIENT)
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .expect("GET");
        let mut parts = Multipart { response, buffer: String::new(), opened: false, last_raw: String::new() };
        assert_eq!(parts.response.status(), 200);
        assert!(parts.content_type().starts_with("multipart/mixed"), "{}", parts.content_type());
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.create_ok(&key, webhook("By GET")).await;
        assert_eq!(parts.next_payload().await["data"]["endpointEvents"]["endpoint"]["name"], "By GET");
    }
}

db_test! {
    async fn what_belongs_to_other_transports_is_no_part_of_a_multipart_subscription(app) {
        let key = app.org.test_key.clone();
        let auth = format!("Bearer {key}");
        // `Last-Event-ID` is the event stream's (multipart resumes by `after`), and an
        // Idempotency-Key is a mutation's: a subscription with either runs as without it.
        for header in [("last-event-id", "not a cursor"), ("idempotency-key", "subscribe-1")] {
            let mut parts = Multipart::post(&app.address, &[("authorization", &auth), header], ENDPOINT_EVENTS, json!({})).await;
            assert_eq!(parts.response.status(), 200, "{header:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
            app.create_ok(&key, webhook(header.0)).await;
            let payload = parts.next_payload().await;
            assert_eq!(payload["data"]["endpointEvents"]["endpoint"]["name"], header.0, "{payload}");
        }
        // Over an event stream, a key is as little a subscription's.
        let mut sse = Sse::post(&app.address, &[("authorization", &auth), ("idempotency-key", "subscribe-2")], ENDPOINT_EVENTS, json!({})).await;
        assert_eq!(sse.response.status(), 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.create_ok(&key, webhook("Keyed")).await;
        assert_eq!(sse.next_result().await.1["data"]["endpointEvents"]["endpoint"]["name"], "Keyed");
    }
}

db_test! {
    async fn a_multipart_result_keeps_the_order_of_its_selection(app) {
        let key = app.org.test_key.clone();
        let auth = format!("Bearer {key}");
        let query = "subscription { endpointEvents { type cursor endpoint { name id } endpointId } }";
        let mut parts = Multipart::post(&app.address, &[("authorization", &auth)], query, json!({})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.create_ok(&key, webhook("Ordered")).await;
        let payload = parts.next_payload().await;
        assert_eq!(payload["data"]["endpointEvents"]["endpoint"]["name"], "Ordered", "{payload}");
        // As the selection names them (and as every other transport sends them), not sorted.
        let raw = &parts.last_raw;
        let at = |key: &str| raw.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("{key} in {raw}"));
        assert!(at("type") < at("cursor") && at("cursor") < at("endpoint") && at("endpoint") < at("endpointId"), "{raw}");
        assert!(at("name") < at("id"), "{raw}");
    }
}
