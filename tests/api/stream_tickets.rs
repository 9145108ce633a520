//! Stream tickets: a browser's `EventSource` (which can send no header) opens an event stream
//! with a short-lived, single-use ticket minted by an authenticated request, bound to its
//! credential and to one operation.

use std::time::Duration;

use cockpit_gateway::domain::{Role, api_keys};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::jwt::{claims, sign};
use crate::live::*;

const MINT: &str = "mutation($input: CreateStreamTicketInput!) { createStreamTicket(input: $input) { ticket expiresAt url userErrors { field message code } } }";
const EVENTS: &str = "subscription($filter: EndpointEventFilter) { endpointEvents(filter: $filter) { type endpoint { name mode } } }";
const VIEWER: &str = "{ viewer { organizationId mode apiKeyId userId credentialKind } }";

fn webhook(name: &str) -> Value {
    json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/in" })
}

/// A ticket for `query` with `variables`, minted with `credential`: its ticket and url.
async fn mint(app: &TestApp, credential: &str, query: &str, variables: Value) -> (String, String) {
    let res = app
        .graphql(
            credential,
            MINT,
            json!({ "input": { "query": query, "variables": variables } }),
        )
        .await;
    let payload = &res.assert_ok()["createStreamTicket"];
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    let ticket = payload["ticket"].as_str().expect("ticket").to_owned();
    let url = payload["url"].as_str().expect("url").to_owned();
    (ticket, url)
}

/// The status and `extensions.code` of a refused stream.
async fn refused(sse: Sse) -> (u16, Value) {
    let status = sse.response.status().as_u16();
    // An opened stream has no end to read to.
    if status == 200 {
        return (status, Value::Null);
    }
    let body: Value = sse.response.json().await.unwrap_or(Value::Null);
    (status, body["errors"][0]["extensions"]["code"].clone())
}

db_test! {
    async fn an_event_source_opens_one_stream_with_a_ticket_and_only_once(app) {
        let key = app.org.test_key.clone();
        // Without a credential or a ticket, the stream is refused as before.
        let (status, code) = refused(Sse::get(&app.address, &[], EVENTS).await).await;
        assert_eq!((status, code), (401, json!("UNAUTHENTICATED")));

        let (ticket, url) = mint(&app, &key, EVENTS, json!({})).await;
        assert_eq!(ticket.len(), 43, "base64url of 32 random bytes: {ticket}");
        assert!(ticket.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(url.starts_with("/graphql?query="), "{url}");
        assert!(url.ends_with(&format!("&ticket={ticket}")), "{url}");

        let mut sse = Sse::open(&app.address, &url, &[]).await;
        assert_eq!(sse.response.status(), 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.create_ok(&key, webhook("Ticketed")).await;
        let (_, result) = sse.next_result().await;
        assert_eq!(result["data"]["endpointEvents"]["endpoint"]["name"], "Ticketed");

        // The same URL again (replayed from a log, or an EventSource reconnecting) opens nothing.
        let (status, code) = refused(Sse::open(&app.address, &url, &[]).await).await;
        assert_eq!((status, code), (401, json!("UNAUTHENTICATED")));
        drop(sse);
        let (status, code) = refused(Sse::open(&app.address, &url, &[]).await).await;
        assert_eq!((status, code), (401, json!("UNAUTHENTICATED")));
    }
}

db_test! {
    async fn a_ticket_opens_only_the_operation_it_was_minted_for(app) {
        let key = app.org.test_key.clone();
        let variables = json!({ "filter": { "types": ["ENDPOINT_CREATED"] } });
        let query_string = |query: &str, variables: &Value, ticket: &str| {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("query", query);
            form.append_pair("variables", &variables.to_string());
            form.append_pair("ticket", ticket);
            format!("/graphql?{}", form.finish())
        };
        // Other variables, another document: refused, and the ticket is spent by the attempt.
        let (ticket, url) = mint(&app, &key, EVENTS, variables.clone()).await;
        let other = json!({ "filter": { "types": ["ENDPOINT_DELETED"] } });
        let (status, code) = refused(Sse::open(&app.address, &query_string(EVENTS, &other, &ticket), &[]).await).await;
        assert_eq!((status, code), (401, json!("UNAUTHENTICATED")));
        let (status, _) = refused(Sse::open(&app.address, &url, &[]).await).await;
        assert_eq!(status, 401, "a ticket tried on another operation is used up");

        let (ticket, _) = mint(&app, &key, EVENTS, variables.clone()).await;
        let (status, code) = refused(Sse::open(&app.address, &query_string(VIEWER, &variables, &ticket), &[]).await).await;
        assert_eq!((status, code), (401, json!("UNAUTHENTICATED")));

        // The operation as minted, sent in the same form it is named by, opens.
        let (ticket, _) = mint(&app, &key, EVENTS, variables.clone()).await;
        let sse = Sse::open(&app.address, &query_string(EVENTS, &variables, &ticket), &[]).await;
        assert_eq!(sse.response.status(), 200);
    }
}

db_test! {
    async fn an_expired_ticket_is_refused_and_a_sessions_expires_with_it(app) {
        let key = app.org.test_key.clone();
        let (_, url) = mint(&app, &key, EVENTS, json!({})).await;
        entity::stream_ticket::Entity::update_many()
            .col_expr(
                entity::stream_ticket::Column::ExpiresAt,
                Expr::value(entity::now() - chrono::Duration::seconds(1)),
            )
            .exec(&app.pool)
            .await
            .expect("age the tickets");
        let (status, code) = refused(Sse::open(&app.address, &url, &[]).await).await;
        assert_eq!((status, code), (401, json!("UNAUTHENTICATED")));

        // A session's ticket lives no longer than its token.
        let user = "ticket-user";
        app.add_member(app.org.id, user, Role::Viewer).await;
        let mut short = claims(user);
        let exp = chrono::Utc::now().timestamp() + 20;
        short["exp"] = json!(exp);
        let token = sign("rsa-1", Some("rsa-1"), &short);
        let res = app.graphql(&token, MINT, json!({ "input": { "query": EVENTS } })).await;
        let expires_at = res.assert_ok()["createStreamTicket"]["expiresAt"].as_str().expect("expiresAt").to_owned();
        let expires_at: chrono::DateTime<chrono::Utc> = expires_at.parse().expect("a time");
        assert!(expires_at.timestamp() <= exp, "{expires_at} after the token's exp {exp}");
    }
}

db_test! {
    async fn a_ticket_acts_as_its_credential_in_its_organization_and_mode(app) {
        let org = app.org.clone();
        let other = app.new_org("Other").await;
        let (_, url) = mint(&app, &org.test_key, EVENTS, json!({})).await;
        let mut sse = Sse::open(&app.address, &url, &[]).await;
        assert_eq!(sse.response.status(), 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.create_ok(&other.test_key, webhook("Other org")).await;
        app.create_ok(&org.live_key, webhook("Live")).await;
        app.create_ok(&org.test_key, webhook("Mine")).await;
        let (_, result) = sse.next_result().await;
        assert_eq!(result["data"]["endpointEvents"]["endpoint"], json!({ "name": "Mine", "mode": "TEST" }));
        assert!(sse.next_within(Duration::from_millis(300)).await.is_none(), "nothing of the other org or mode");

        // A query over the stream says who the ticket stands for; x-organization-id can't move it.
        let (_, url) = mint(&app, &other.live_key, VIEWER, json!({})).await;
        let mut sse = Sse::open(&app.address, &url, &[]).await;
        let (_, result) = sse.next_result().await;
        assert_eq!(result["data"]["viewer"]["organizationId"], other.id.to_string());
        assert_eq!(result["data"]["viewer"]["mode"], "LIVE");
        assert_eq!(result["data"]["viewer"]["credentialKind"], "API_KEY");
        let (_, url) = mint(&app, &org.test_key, VIEWER, json!({})).await;
        let other_id = other.id.to_string();
        let (status, _) = refused(Sse::open(&app.address, &url, &[("x-organization-id", &other_id)]).await).await;
        assert_eq!(status, 400);

        // A session's ticket acts as its user, in the organization it was minted in.
        let (user, token) = app.member(other.id, Role::Viewer).await;
        app.add_member(org.id, &user, Role::Member).await;
        let res = app.post(
            &[("authorization", &format!("Bearer {token}")), ("x-organization-id", &other_id)],
            json!({ "query": MINT, "variables": { "input": { "query": VIEWER } } }),
        ).await;
        let url = res.assert_ok()["createStreamTicket"]["url"].as_str().expect("url").to_owned();
        let mut sse = Sse::open(&app.address, &url, &[]).await;
        let (_, result) = sse.next_result().await;
        assert_eq!(result["data"]["viewer"]["organizationId"], other_id);
        assert_eq!(result["data"]["viewer"]["userId"], user.as_str());
        assert_eq!(result["data"]["viewer"]["mode"], Value::Null);
    }
}

db_test! {
    async fn a_revoked_keys_ticket_and_a_removed_members_are_refused(app) {
        let created = api_keys::system::create(&app.db, app.org.id, cockpit_gateway::domain::Mode::Test, "revoked soon")
            .await
            .expect("key");
        let (_, url) = mint(&app, &created.plaintext, EVENTS, json!({})).await;
        api_keys::system::revoke(&app.db, created.key.id).await.expect("revoke");
        let (status, code) = refused(Sse::open(&app.address, &url, &[]).await).await;
        assert_eq!((status, code), (401, json!("UNAUTHENTICATED")));

        let (user, token) = app.member(app.org.id, Role::Member).await;
        let (_, url) = mint(&app, &token, EVENTS, json!({})).await;
        entity::organization_member::Entity::delete_many()
            .filter(entity::organization_member::Column::UserId.eq(user.as_str()))
            .exec(&app.pool)
            .await
            .expect("remove the member");
        let (status, code) = refused(Sse::open(&app.address, &url, &[]).await).await;
        assert_eq!((status, code), (403, json!("FORBIDDEN")));
    }
}

db_test! {
    async fn a_ticket_is_no_credential_anywhere_else(app) {
        let key = app.org.test_key.clone();
        // Not a bearer credential.
        let (ticket, url) = mint(&app, &key, VIEWER, json!({})).await;
        let res = app.graphql(&ticket, VIEWER, json!({})).await;
        assert_eq!(res.status, 401);
        // Not on a POST, whatever its query string says.
        let res = app.client.post(format!("{}{url}", app.address))
            .header("content-type", "application/json")
            .json(&json!({ "query": VIEWER }))
            .send().await.expect("request");
        assert_eq!(res.status(), 401);
        // Not on a GET answered in JSON.
        let res = app.client.get(format!("{}{url}", app.address))
            .header("accept", "application/json")
            .send().await.expect("request");
        assert_eq!(res.status(), 400);
        // Not beside another credential.
        let (_, url) = mint(&app, &key, VIEWER, json!({})).await;
        // Not on a GET answered as multipart, however the event stream ranks beside it.
        for accept in [
            "multipart/mixed;subscriptionSpec=1.0, text/event-stream",
            "multipart/mixed;subscriptionSpec=1.0",
        ] {
            let res = app.client.get(format!("{}{url}", app.address))
                .header("accept", accept)
                .send().await.expect("request");
            assert_eq!(res.status(), 400, "{accept}");
        }
        let (status, _) = refused(Sse::open(&app.address, &url, &[("x-api-key", &key)]).await).await;
        assert_eq!(status, 400);
        // None of these spent it: the stream it was minted for still opens.
        let mut sse = Sse::open(&app.address, &url, &[]).await;
        assert_eq!(sse.response.status(), 200);
        assert_eq!(sse.next_result().await.1["data"]["viewer"]["mode"], "TEST");

        // Its response is never kept for a retry, since it shows a secret.
        let res = app.post(
            &[("x-api-key", &key), ("idempotency-key", "ticket-1")],
            json!({ "query": MINT, "variables": { "input": { "query": VIEWER } } }),
        ).await;
        assert_eq!(res.status, 400);
        assert_eq!(res.error_code(), Some("IDEMPOTENCY_KEY_INVALID"));

        // What no stream runs gets a user error, not a ticket.
        for input in [
            json!({}),
            json!({ "query": "mutation { __typename }" }),
            json!({ "query": "subscription {" }),
            json!({ "query": VIEWER, "variables": [1] }),
        ] {
            let res = app.graphql(&key, MINT, json!({ "input": input })).await;
            let payload = &res.assert_ok()["createStreamTicket"];
            assert_eq!(payload["ticket"], Value::Null, "{input}: {payload}");
            assert!(!payload["userErrors"].as_array().expect("errors").is_empty(), "{input}");
        }
    }
}

#[tokio::test]
async fn a_ticket_never_reaches_the_log() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let (mut child, address, log) = serve_process_logged(&db, &[]).await;
    let store =
        cockpit_gateway::db::Db::from(sea_orm::Database::connect(&db.url).await.expect("connect"));
    let org = TestApp::make_org(&store, "Logged").await;
    let address = format!("http://{address}");
    let res: Value = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .header("x-api-key", &org.test_key)
        .json(&json!({ "query": MINT, "variables": { "input": { "query": VIEWER } } }))
        .send()
        .await
        .expect("mint")
        .json()
        .await
        .expect("JSON");
    let ticket = res["data"]["createStreamTicket"]["ticket"]
        .as_str()
        .expect("ticket")
        .to_owned();
    let url = res["data"]["createStreamTicket"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let mut sse = Sse::open(&address, &url, &[]).await;
    assert_eq!(sse.next_result().await.1["data"]["viewer"]["mode"], "TEST");
    let refused = Sse::open(&address, &url, &[]).await;
    assert_eq!(refused.response.status(), 401);
    log.wait_for(json!({ "method": "GET", "route": "/graphql", "status": 401 }))
        .await;
    let lines = log.lines();
    assert!(!lines.is_empty());
    for line in lines {
        assert!(!line.contains(&ticket), "the ticket is logged: {line}");
        assert!(!line.contains(&org.test_key), "the key is logged: {line}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

db_test! {
    async fn an_event_source_reopening_its_spent_ticket_is_no_failed_authentication(app) {
        let app = TestApp::builder(app.backend)
            .with_config(|c| {
                c.rate_limit.bucket_size = 100;
                c.rate_limit.restore_rate = 1;
            })
            .spawn()
            .await
            .expect("app");
        let key = app.org.test_key.clone();
        let (_, url) = mint(&app, &key, EVENTS, json!({})).await;
        drop(Sse::open(&app.address, &url, &[]).await);
        // An EventSource reopens its URL each time its stream ends: each is a 401, and none
        // counts against the address (100 points hold five failed authentications).
        for _ in 0..10 {
            let (status, code) = refused(Sse::open(&app.address, &url, &[]).await).await;
            assert_eq!((status, code), (401, json!("UNAUTHENTICATED")));
        }
        app.graphql(&key, VIEWER, json!({})).await.assert_ok();
        // A ticket that was never minted is a guess, throttled like any bad credential.
        let guess = format!("/graphql?query={}&ticket={}", urlencoding(EVENTS), "A".repeat(43));
        let mut throttled = false;
        for _ in 0..10 {
            let (status, _) = refused(Sse::open(&app.address, &guess, &[]).await).await;
            throttled |= status == 429;
        }
        assert!(throttled, "guessed tickets drain the address's bucket");
    }
}

fn urlencoding(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

db_test! {
    async fn no_ticket_is_minted_for_a_url_too_long_to_open(app) {
        let key = app.org.test_key.clone();
        let res = app
            .graphql(
                &key,
                MINT,
                json!({ "input": { "query": EVENTS, "variables": { "filter": { "types": [] }, "pad": "x".repeat(20_000) } } }),
            )
            .await;
        let payload = &res.assert_ok()["createStreamTicket"];
        assert_eq!(payload["ticket"], Value::Null, "{payload}");
        assert_eq!(payload["url"], Value::Null, "{payload}");
        assert_eq!(payload["userErrors"][0]["code"], "TOO_LONG", "{payload}");
        assert_eq!(payload["userErrors"][0]["field"], json!(["input", "variables"]), "{payload}");
        // Within the bound, the same operation gets its ticket.
        mint(&app, &key, EVENTS, json!({ "pad": "x".repeat(1_000) })).await;
    }
}
