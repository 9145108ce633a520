//! Dashboard sessions (Supabase JWTs): which organization a user acts in, what each role may do
//! there, tenancy between organizations, and the two modes a session sees.
//! Long: every role against every operation.

use cockpit_gateway::domain::{Mode, Role};
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const ALL_ROLES: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];
const WRITERS: [Role; 3] = [Role::Owner, Role::Admin, Role::Member];

const VIEWER: &str = "query { viewer { \
    organizationId credentialKind role mode userId apiKeyId \
    organization { id name } \
    organizations { organization { id name } role } } }";

const LIST: &str = "query($filter: EndpointFilter) { endpoints(filter: $filter) { \
    totalCount \
    edges { node { id mode organizationId } } \
    nodes { id mode organizationId } \
    pageInfo { hasNextPage hasPreviousPage } } }";

const API_KEYS: &str =
    "query { apiKeys { id name mode displayPrefix createdAt lastUsedAt revokedAt } }";
const CREATE_KEY: &str = "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { \
    apiKey { id name mode displayPrefix revokedAt } plaintextKey \
    userErrors { field message code } } }";
const REVOKE_KEY: &str = "mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { \
    apiKey { id name revokedAt } userErrors { field message code } } }";

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "OWNER",
        Role::Admin => "ADMIN",
        Role::Member => "MEMBER",
        Role::Viewer => "VIEWER",
    }
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

/// A GraphQL request as `token`, naming `org` in `x-organization-id` when given.
async fn gql(
    app: &TestApp,
    token: &str,
    org: Option<Uuid>,
    query: &str,
    variables: Value,
) -> Response {
    let auth = format!("Bearer {token}");
    let org = org.map(|o| o.to_string());
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(org) = &org {
        headers.push(("x-organization-id", org.as_str()));
    }
    app.post(&headers, json!({ "query": query, "variables": variables }))
        .await
}

/// A webhook endpoint created as `token` (optionally in `org`, with extra input fields).
async fn create_webhook(
    app: &TestApp,
    token: &str,
    org: Option<Uuid>,
    name: &str,
    extra: Value,
) -> Value {
    let mut input =
        json!({ "name": name, "type": "WEBHOOK", "url": format!("https://example.com/{name}") });
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            input[k] = v;
        }
    }
    let res = gql(app, token, org, &CREATE, json!({ "input": input })).await;
    let payload = res.assert_ok()["createEndpoint"].clone();
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    assert!(payload["endpoint"].is_object(), "{payload}");
    payload["endpoint"].clone()
}

/// The endpoint as `token` reads it; it must be there.
async fn read_endpoint(app: &TestApp, token: &str, org: Option<Uuid>, id: &str) -> Value {
    let res = gql(app, token, org, &GET, json!({ "id": id })).await;
    let endpoint = res.assert_ok()["endpoint"].clone();
    assert!(endpoint.is_object(), "{}", res.body);
    endpoint
}

/// `(sorted edge ids, sorted node ids, totalCount)` of `token`'s endpoint list.
async fn list(
    app: &TestApp,
    token: &str,
    org: Option<Uuid>,
    filter: Value,
) -> (Vec<String>, Vec<String>, i64) {
    let res = gql(app, token, org, LIST, json!({ "filter": filter })).await;
    let conn = res.assert_ok()["endpoints"].clone();
    assert_eq!(conn["pageInfo"]["hasNextPage"], false, "{conn}");
    assert_eq!(conn["pageInfo"]["hasPreviousPage"], false, "{conn}");
    let ids = |items: &Value, nested: bool| -> Vec<String> {
        let mut ids: Vec<String> = items
            .as_array()
            .expect("a list")
            .iter()
            .map(|item| id_of(if nested { &item["node"] } else { item }))
            .collect();
        ids.sort();
        ids
    };
    (
        ids(&conn["edges"], true),
        ids(&conn["nodes"], false),
        conn["totalCount"].as_i64().expect("totalCount"),
    )
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
    ids.sort();
    ids
}

/// One top-level error with `code` at `field`, HTTP 200, and `data` = `{ field: null }`.
#[track_caller]
fn assert_field_error(res: &Response, field: &str, code: &str) {
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let errors = res.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{}", res.body);
    assert_eq!(res.error_code(), Some(code), "{}", res.body);
    assert_eq!(errors[0]["path"], json!([field]), "{}", res.body);
    let mut data = serde_json::Map::new();
    data.insert(field.to_owned(), Value::Null);
    assert_eq!(res.body["data"], Value::Object(data), "{}", res.body);
}

#[track_caller]
fn assert_forbidden(res: &Response, field: &str) {
    assert_field_error(res, field, "FORBIDDEN");
}

/// A request refused before GraphQL ran: `status`, one error with `code`, and no `data` key.
#[track_caller]
fn assert_rejected(res: &Response, status: StatusCode, code: &str) {
    assert_eq!(res.status, status, "{}", res.body);
    assert!(res.body.get("data").is_none(), "{}", res.body);
    let errors = res.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{}", res.body);
    assert_eq!(res.error_code(), Some(code), "{}", res.body);
}

/// The organization's keys as an owner reads them.
async fn keys_of(app: &TestApp, owner: &str, org: Option<Uuid>) -> Vec<Value> {
    let res = gql(app, owner, org, API_KEYS, json!({})).await;
    res.assert_ok()["apiKeys"]
        .as_array()
        .expect("apiKeys")
        .clone()
}

/// The id of the key named `name` in an `apiKeys` list.
fn key_id(keys: &[Value], name: &str) -> String {
    let found: Vec<&Value> = keys.iter().filter(|k| k["name"] == name).collect();
    assert_eq!(found.len(), 1, "one key named {name}: {keys:?}");
    id_of(found[0])
}

/// Rows in `api_keys`, across every organization.
async fn key_rows(app: &TestApp) -> u64 {
    entity::api_key::Entity::find()
        .count(&app.db)
        .await
        .expect("count keys")
}

/// Which endpoint a phone number routes to, read straight from the database.
async fn phone_endpoint(app: &TestApp, phone: Uuid) -> Option<Uuid> {
    entity::phone_number::Entity::find_by_id(phone)
        .one(&app.db)
        .await
        .expect("read phone number")
        .expect("the phone number exists")
        .endpoint_id
}

// ---------------------------------------------------------------------------------------------
// 1. Roles
// ---------------------------------------------------------------------------------------------

db_test! {
    async fn every_role_reads_endpoints_and_viewer(app) {
        let test = id_of(&create_webhook(&app, &app.org.test_key, None, "by-test-key", json!({})).await);
        let live = id_of(&create_webhook(&app, &app.org.live_key, None, "by-live-key", json!({})).await);
        let org = app.org.id.to_string();

        for role in ALL_ROLES {
            let (user, token) = app.member(app.org.id, role).await;

            for id in [&test, &live] {
                let seen = read_endpoint(&app, &token, None, id).await;
                assert_eq!(seen["id"], json!(id));
                assert_eq!(seen["organizationId"], json!(org));
            }

            let (edges, nodes, total) = list(&app, &token, None, Value::Null).await;
            assert_eq!(edges, sorted(&[&test, &live]), "{role:?}");
            assert_eq!(nodes, edges);
            assert_eq!(total, 2);

            let res = gql(&app, &token, None, VIEWER, json!({})).await;
            assert_eq!(
                res.assert_ok()["viewer"],
                json!({
                    "organizationId": org,
                    "credentialKind": "USER",
                    "role": role_name(role),
                    "mode": null,
                    "userId": user,
                    "apiKeyId": null,
                    "organization": { "id": org, "name": "Acme" },
                    "organizations": [
                        { "organization": { "id": org, "name": "Acme" }, "role": role_name(role) }
                    ],
                }),
                "{role:?}"
            );
        }
    }
}

db_test! {
    async fn owner_admin_and_member_create_update_and_delete_endpoints(app) {
        for role in WRITERS {
            let (_, token) = app.member(app.org.id, role).await;
            let name = format!("by-{}", role_name(role).to_lowercase());

            let created = create_webhook(&app, &token, None, &name, json!({})).await;
            assert_eq!(created["name"], json!(name), "{role:?}");
            assert_eq!(created["mode"], "LIVE", "a session creates LIVE by default");
            assert_eq!(created["organizationId"], json!(app.org.id.to_string()));
            let id = id_of(&created);
            assert_eq!(read_endpoint(&app, &app.org.live_key, None, &id).await, created);

            let res = gql(
                &app,
                &token,
                None,
                &UPDATE,
                json!({ "input": { "id": id, "name": "Renamed", "status": "INACTIVE" } }),
            )
            .await;
            let payload = res.assert_ok()["updateEndpoint"].clone();
            assert_eq!(payload["userErrors"], json!([]), "{payload}");
            assert_eq!(payload["endpoint"]["name"], "Renamed");
            assert_eq!(payload["endpoint"]["status"], "INACTIVE");
            let seen = read_endpoint(&app, &app.org.live_key, None, &id).await;
            assert_eq!(seen, payload["endpoint"]);

            let rows = app.endpoint_rows().await;
            let res = gql(&app, &token, None, DELETE, json!({ "input": { "id": id } })).await;
            assert_eq!(
                res.assert_ok()["deleteEndpoint"],
                json!({ "deletedEndpointId": id, "userErrors": [] }),
                "{role:?}"
            );
            assert_eq!(app.endpoint_rows().await, rows - 1);
            let res = app.get_endpoint(&app.org.live_key, &id).await;
            assert_field_error(&res, "endpoint", "NOT_FOUND");
        }
    }
}

db_test! {
    async fn viewer_cannot_create_update_or_delete_endpoints(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let (_, viewer) = app.member(app.org.id, Role::Viewer).await;
        let phone = app.add_phone_number(app.org.id, Mode::Live, "+14155550201").await;
        let mine = create_webhook(&app, &owner, None, "owned", json!({})).await;
        let id = id_of(&mine);
        let before = read_endpoint(&app, &owner, None, &id).await;
        let rows = app.endpoint_rows().await;
        assert_eq!(rows, 1);

        // Create, in either mode and with a phone number: refused, nothing written.
        for extra in [
            json!({}),
            json!({ "mode": "TEST" }),
            json!({ "mode": "LIVE", "phoneNumberId": phone }),
        ] {
            let mut input = json!({ "name": "Nope", "type": "WEBHOOK", "url": "https://example.com/n" });
            for (k, v) in extra.as_object().expect("object") {
                input[k] = v.clone();
            }
            let res = gql(&app, &viewer, None, &CREATE, json!({ "input": input })).await;
            assert_forbidden(&res, "createEndpoint");
            assert_eq!(app.endpoint_rows().await, rows, "nothing was created");
        }
        assert_eq!(phone_endpoint(&app, phone).await, None, "the number stays detached");

        // Update: refused, the endpoint unchanged.
        for patch in [
            json!({ "name": "Hijacked" }),
            json!({ "status": "INACTIVE", "url": "https://attacker.example/hook" }),
            json!({}),
        ] {
            let mut input = patch;
            input["id"] = json!(id);
            let res = gql(&app, &viewer, None, &UPDATE, json!({ "input": input })).await;
            assert_forbidden(&res, "updateEndpoint");
            assert_eq!(read_endpoint(&app, &owner, None, &id).await, before);
        }

        // Delete: refused, the endpoint still there and unchanged.
        let res = gql(&app, &viewer, None, DELETE, json!({ "input": { "id": id } })).await;
        assert_forbidden(&res, "deleteEndpoint");
        assert_eq!(app.endpoint_rows().await, rows);
        assert_eq!(read_endpoint(&app, &owner, None, &id).await, before);
        assert_eq!(read_endpoint(&app, &viewer, None, &id).await, before);

        // The viewer's list still shows exactly the one endpoint.
        let (edges, _, total) = list(&app, &viewer, None, Value::Null).await;
        assert_eq!((edges, total), (vec![id], 1));
    }
}

db_test! {
    async fn owner_and_admin_manage_api_keys(app) {
        for role in [Role::Owner, Role::Admin] {
            let (_, token) = app.member(app.org.id, role).await;
            let before = keys_of(&app, &token, None).await;
            assert!(before.len() >= 2, "{before:?}");
            // Newest first: the harness made the test key, then the live key.
            let last_two: Vec<(&Value, &Value)> = before[before.len() - 2..]
                .iter()
                .map(|k| (&k["name"], &k["mode"]))
                .collect();
            assert_eq!(
                last_two,
                vec![(&json!("live key"), &json!("LIVE")), (&json!("test key"), &json!("TEST"))]
            );
            let rows = key_rows(&app).await;

            let name = format!("CI {}", role_name(role));
            let res = gql(
                &app,
                &token,
                None,
                CREATE_KEY,
                json!({ "input": { "name": name, "mode": "TEST" } }),
            )
            .await;
            let payload = res.assert_ok()["createApiKey"].clone();
            assert_eq!(payload["userErrors"], json!([]), "{payload}");
            let plaintext = payload["plaintextKey"].as_str().expect("plaintextKey").to_owned();
            assert!(plaintext.starts_with("kros_test_"), "{plaintext}");
            let created = &payload["apiKey"];
            assert_eq!(created["name"], json!(name));
            assert_eq!(created["mode"], "TEST");
            assert_eq!(created["displayPrefix"], json!(plaintext[..14]));
            assert_eq!(created["revokedAt"], Value::Null);
            let new_id = id_of(created);
            assert_eq!(key_rows(&app).await, rows + 1);

            let after = keys_of(&app, &token, None).await;
            assert_eq!(after.len(), before.len() + 1);
            assert_eq!(id_of(&after[0]), new_id, "newest first");

            // The new key works, as a TEST key of this organization.
            let res = gql(&app, &plaintext, None, VIEWER, json!({})).await;
            let viewer = &res.assert_ok()["viewer"];
            assert_eq!(viewer["credentialKind"], "API_KEY");
            assert_eq!(viewer["mode"], "TEST");
            assert_eq!(viewer["apiKeyId"], json!(new_id));
            assert_eq!(viewer["organizationId"], json!(app.org.id.to_string()));

            // Revoking it stamps revokedAt, and the key is refused from then on.
            let res = gql(&app, &token, None, REVOKE_KEY, json!({ "input": { "id": new_id } })).await;
            let payload = res.assert_ok()["revokeApiKey"].clone();
            assert_eq!(payload["userErrors"], json!([]), "{payload}");
            assert_eq!(payload["apiKey"]["id"], json!(new_id));
            assert!(payload["apiKey"]["revokedAt"].is_string(), "{payload}");
            let listed = keys_of(&app, &token, None).await;
            assert_eq!(listed[0]["id"], json!(new_id));
            assert_eq!(listed[0]["revokedAt"], payload["apiKey"]["revokedAt"]);
            let res = gql(&app, &plaintext, None, VIEWER, json!({})).await;
            assert_rejected(&res, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        }
    }
}

db_test! {
    async fn member_viewer_and_api_keys_cannot_manage_api_keys(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let (_, member) = app.member(app.org.id, Role::Member).await;
        let (_, viewer) = app.member(app.org.id, Role::Viewer).await;
        let keys = keys_of(&app, &owner, None).await;
        assert_eq!(keys.len(), 2, "{keys:?}");
        let live_key_id = key_id(&keys, "live key");
        let test_key_id = key_id(&keys, "test key");
        let rows = key_rows(&app).await;

        for caller in [&member, &viewer, &app.org.test_key, &app.org.live_key] {
            let res = gql(&app, caller, None, API_KEYS, json!({})).await;
            assert_forbidden(&res, "apiKeys");

            for mode in ["TEST", "LIVE"] {
                let res = gql(
                    &app,
                    caller,
                    None,
                    CREATE_KEY,
                    json!({ "input": { "name": "sneaky", "mode": mode } }),
                )
                .await;
                assert_forbidden(&res, "createApiKey");
            }

            for id in [&live_key_id, &test_key_id] {
                let res = gql(&app, caller, None, REVOKE_KEY, json!({ "input": { "id": id } })).await;
                assert_forbidden(&res, "revokeApiKey");
            }

            // Nothing written: the same keys, none revoked.
            assert_eq!(key_rows(&app).await, rows);
            let now = keys_of(&app, &owner, None).await;
            let ids: Vec<String> = now.iter().map(id_of).collect();
            assert_eq!(ids, vec![live_key_id.clone(), test_key_id.clone()]);
            for key in &now {
                assert_eq!(key["revokedAt"], Value::Null, "{key}");
            }
        }

        // Both keys still work.
        for key in [&app.org.test_key, &app.org.live_key] {
            let res = gql(&app, key, None, VIEWER, json!({})).await;
            assert_eq!(res.assert_ok()["viewer"]["credentialKind"], "API_KEY");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Choosing the organization
// ---------------------------------------------------------------------------------------------

db_test! {
    async fn user_acts_in_first_joined_org_unless_the_header_names_another(app) {
        let other = app.new_org("Other").await;
        let acme = app.org.id;

        // One user joins Acme first, one joins Other first (so neither org id nor creation
        // order can stand in for join order).
        let first_acme = format!("user-{}", Uuid::new_v4());
        app.add_member(acme, &first_acme, Role::Viewer).await;
        app.add_member(other.id, &first_acme, Role::Member).await;
        let first_other = format!("user-{}", Uuid::new_v4());
        app.add_member(other.id, &first_other, Role::Viewer).await;
        app.add_member(acme, &first_other, Role::Member).await;

        for (user, (first, first_name), (second, second_name)) in [
            (&first_acme, (acme, "Acme"), (other.id, "Other")),
            (&first_other, (other.id, "Other"), (acme, "Acme")),
        ] {
            let token = app.session(user);
            let (first_s, second_s) = (first.to_string(), second.to_string());
            let memberships = json!([
                { "organization": { "id": first_s, "name": first_name }, "role": "VIEWER" },
                { "organization": { "id": second_s, "name": second_name }, "role": "MEMBER" },
            ]);

            // No header: the first joined, as VIEWER.
            let res = gql(&app, &token, None, VIEWER, json!({})).await;
            let viewer = res.assert_ok()["viewer"].clone();
            assert_eq!(viewer["organizationId"], json!(first_s), "{user}");
            assert_eq!(viewer["organization"]["name"], first_name);
            assert_eq!(viewer["role"], "VIEWER");
            assert_eq!(viewer["credentialKind"], "USER");
            assert_eq!(viewer["userId"], json!(user));
            assert_eq!(viewer["organizations"], memberships);
            // ... so a write is refused.
            let rows = app.endpoint_rows().await;
            let input = json!({ "name": "w", "type": "WEBHOOK", "url": "https://example.com/w" });
            let res = gql(&app, &token, None, &CREATE, json!({ "input": input.clone() })).await;
            assert_forbidden(&res, "createEndpoint");
            assert_eq!(app.endpoint_rows().await, rows);

            // The header of the first joined: the same.
            let res = gql(&app, &token, Some(first), VIEWER, json!({})).await;
            let named = res.assert_ok()["viewer"].clone();
            assert_eq!(named, viewer);

            // The header of the other: there, as MEMBER, and it may write there.
            let res = gql(&app, &token, Some(second), VIEWER, json!({})).await;
            let viewer = res.assert_ok()["viewer"].clone();
            assert_eq!(viewer["organizationId"], json!(second_s));
            assert_eq!(viewer["organization"]["name"], second_name);
            assert_eq!(viewer["role"], "MEMBER");
            assert_eq!(viewer["organizations"], memberships);
            let made = create_webhook(&app, &token, Some(second), "in-second", json!({})).await;
            assert_eq!(made["organizationId"], json!(second_s));
            assert_eq!(app.endpoint_rows().await, rows + 1);
            let id = id_of(&made);
            // Seen in the second organization, not in the first.
            let (edges, _, _) = list(&app, &token, Some(second), Value::Null).await;
            assert!(edges.contains(&id), "{edges:?}");
            let (edges, _, _) = list(&app, &token, None, Value::Null).await;
            assert!(!edges.contains(&id), "{edges:?}");
            let res = gql(&app, &token, None, &GET, json!({ "id": id })).await;
            assert_field_error(&res, "endpoint", "NOT_FOUND");
        }
        // Each endpoint landed in the org it was made in.
        let (acme_edges, _, acme_total) = list(&app, &app.org.live_key, None, Value::Null).await;
        let (other_edges, _, other_total) = list(&app, &other.live_key, None, Value::Null).await;
        assert_eq!((acme_edges.len(), acme_total), (1, 1));
        assert_eq!((other_edges.len(), other_total), (1, 1));
    }
}

db_test! {
    async fn header_naming_an_org_the_user_is_not_in_is_forbidden(app) {
        let other = app.new_org("Other").await;
        let (_, token) = app.member(app.org.id, Role::Owner).await;
        let input = json!({ "name": "w", "type": "WEBHOOK", "url": "https://example.com/w" });

        for org in [other.id, Uuid::new_v4()] {
            for (query, variables) in [
                (VIEWER, json!({})),
                (CREATE.as_str(), json!({ "input": input.clone() })),
                (LIST, json!({})),
            ] {
                let res = gql(&app, &token, Some(org), query, variables).await;
                assert_rejected(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
                let message = res.body["errors"][0]["message"].as_str().expect("message");
                assert!(message.contains("organization"), "{message}");
            }
        }
        assert_eq!(app.endpoint_rows().await, 0, "nothing was written");

        // Its own organization, named, still works.
        let res = gql(&app, &token, Some(app.org.id), VIEWER, json!({})).await;
        assert_eq!(res.assert_ok()["viewer"]["organizationId"], json!(app.org.id.to_string()));
    }
}

db_test! {
    async fn malformed_organization_header_is_a_bad_request(app) {
        let (_, token) = app.member(app.org.id, Role::Owner).await;
        let auth = format!("Bearer {token}");
        let input = json!({ "name": "w", "type": "WEBHOOK", "url": "https://example.com/w" });
        for bad in ["not-a-uuid", "", "1234", "{00000000-0000-0000-0000-00000000000}"] {
            for body in [
                json!({ "query": VIEWER }),
                json!({ "query": CREATE.as_str(), "variables": { "input": input.clone() } }),
            ] {
                let res = app
                    .post(&[("authorization", auth.as_str()), ("x-organization-id", bad)], body)
                    .await;
                assert_rejected(&res, StatusCode::BAD_REQUEST, "BAD_REQUEST");
            }
        }
        assert_eq!(app.endpoint_rows().await, 0, "nothing was written");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. A user in no organization
// ---------------------------------------------------------------------------------------------

db_test! {
    async fn user_in_no_organization_is_forbidden(app) {
        let token = app.session(&format!("user-{}", Uuid::new_v4()));
        let input = json!({ "name": "w", "type": "WEBHOOK", "url": "https://example.com/w" });
        for (org, query, variables) in [
            (None, VIEWER, json!({})),
            (None, LIST, json!({})),
            (None, CREATE.as_str(), json!({ "input": input.clone() })),
            (Some(app.org.id), VIEWER, json!({})),
            (Some(app.org.id), CREATE.as_str(), json!({ "input": input.clone() })),
        ] {
            let res = gql(&app, &token, org, query, variables).await;
            assert_rejected(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
            let message = res.body["errors"][0]["message"].as_str().expect("message");
            assert!(message.contains("organization"), "{message}");
        }
        assert_eq!(app.endpoint_rows().await, 0, "nothing was written");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Tenancy for sessions
// ---------------------------------------------------------------------------------------------

db_test! {
    async fn session_cannot_see_or_change_another_orgs_endpoints(app) {
        let other = app.new_org("Other").await;
        let (_, theirs_owner) = app.member(other.id, Role::Owner).await;
        let (_, member) = app.member(app.org.id, Role::Member).await;
        let ours = id_of(&create_webhook(&app, &member, None, "ours-1", json!({})).await);
        let theirs_test = id_of(&create_webhook(&app, &other.test_key, None, "theirs-t", json!({})).await);
        let theirs_live = id_of(&create_webhook(&app, &other.live_key, None, "theirs-l", json!({})).await);
        let theirs_session = id_of(&create_webhook(&app, &theirs_owner, None, "theirs-s", json!({})).await);
        let theirs = [theirs_test, theirs_live, theirs_session];
        let mut before = Vec::new();
        for id in &theirs {
            before.push(read_endpoint(&app, &theirs_owner, None, id).await);
        }
        let rows = app.endpoint_rows().await;
        assert_eq!(rows, 4);

        for org in [None, Some(app.org.id)] {
            // Lists and counts: ours only, with any filter.
            for filter in [
                Value::Null,
                json!({ "search": "theirs" }),
                json!({ "mode": "TEST" }),
                json!({ "mode": "LIVE" }),
            ] {
                let (edges, nodes, total) = list(&app, &member, org, filter.clone()).await;
                let expected: Vec<String> = if filter["search"] == "theirs" || filter["mode"] == "TEST" {
                    vec![]
                } else {
                    vec![ours.clone()]
                };
                assert_eq!(edges, expected, "{filter}");
                assert_eq!(nodes, expected, "{filter}");
                assert_eq!(total, expected.len() as i64, "{filter}");
            }

            for (id, before) in theirs.iter().zip(&before) {
                let missing = Uuid::new_v4().to_string();

                // Read: null and NOT_FOUND, byte-identical to a missing id.
                let res = gql(&app, &member, org, &GET, json!({ "id": id })).await;
                assert_field_error(&res, "endpoint", "NOT_FOUND");
                let reference = gql(&app, &member, org, &GET, json!({ "id": missing })).await;
                assert_eq!(res.body, reference.body);

                // Update: NOT_FOUND, byte-identical to a missing id.
                for patch in [json!({ "name": "Hijacked" }), json!({ "name": "" }), json!({})] {
                    let mut input = patch.clone();
                    input["id"] = json!(id);
                    let res = gql(&app, &member, org, &UPDATE, json!({ "input": input })).await;
                    assert_field_error(&res, "updateEndpoint", "NOT_FOUND");
                    let mut input = patch;
                    input["id"] = json!(missing);
                    let reference = gql(&app, &member, org, &UPDATE, json!({ "input": input })).await;
                    assert_eq!(res.body, reference.body);
                }

                // Delete: NOT_FOUND, byte-identical to a missing id.
                let res = gql(&app, &member, org, DELETE, json!({ "input": { "id": id } })).await;
                assert_field_error(&res, "deleteEndpoint", "NOT_FOUND");
                let reference = gql(&app, &member, org, DELETE, json!({ "input": { "id": missing } })).await;
                assert_eq!(res.body, reference.body);

                // Their owner sees it unchanged.
                assert_eq!(&read_endpoint(&app, &theirs_owner, None, id).await, before);
            }
            assert_eq!(app.endpoint_rows().await, rows);
        }
    }
}

db_test! {
    async fn session_cannot_attach_another_orgs_phone_number(app) {
        let other = app.new_org("Other").await;
        let (_, member) = app.member(app.org.id, Role::Member).await;
        let numbers = [
            (Mode::Test, "TEST", app.add_phone_number(other.id, Mode::Test, "+14155550301").await),
            (Mode::Live, "LIVE", app.add_phone_number(other.id, Mode::Live, "+14155550302").await),
        ];
        for org in [None, Some(app.org.id)] {
            for (_, mode, phone) in numbers {
                let rows = app.endpoint_rows().await;
                let input = |phone: Uuid| json!({ "input": {
                    "name": "Routed", "type": "WEBHOOK", "url": "https://example.com/r",
                    "mode": mode, "phoneNumberId": phone,
                } });
                let res = gql(&app, &member, org, &CREATE, input(phone)).await;
                let payload = res.assert_ok()["createEndpoint"].clone();
                assert_eq!(payload["endpoint"], Value::Null, "{payload}");
                let errors = payload["userErrors"].as_array().expect("userErrors");
                assert_eq!(errors.len(), 1, "{payload}");
                assert_eq!(errors[0]["code"], "PHONE_NUMBER_NOT_FOUND", "{payload}");
                assert_eq!(errors[0]["field"], json!(["input", "phoneNumberId"]), "{payload}");
                let reference = gql(&app, &member, org, &CREATE, input(Uuid::new_v4())).await;
                assert_eq!(res.body, reference.body, "a foreign number looks like a missing one");
                assert_eq!(app.endpoint_rows().await, rows, "nothing was created");
                assert_eq!(phone_endpoint(&app, phone).await, None);
            }
        }
        // Its own organization can still route them.
        for (key_mode, _, phone) in numbers {
            let made = create_webhook(&app, other.key(key_mode), None, "theirs", json!({ "phoneNumberId": phone })).await;
            assert_eq!(phone_endpoint(&app, phone).await, Some(id_of(&made).parse().expect("uuid")));
        }
    }
}

db_test! {
    async fn owner_cannot_list_or_revoke_another_orgs_api_keys(app) {
        let other = app.new_org("Other").await;
        let (_, theirs_owner) = app.member(other.id, Role::Owner).await;
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let theirs = keys_of(&app, &theirs_owner, None).await;
        assert_eq!(theirs.len(), 2);
        let ours = keys_of(&app, &owner, None).await;
        let our_ids: Vec<String> = ours.iter().map(id_of).collect();

        for org in [None, Some(app.org.id)] {
            // Our list has our keys only.
            let listed: Vec<String> = keys_of(&app, &owner, org).await.iter().map(id_of).collect();
            assert_eq!(listed, our_ids);

            for key in &theirs {
                let id = id_of(key);
                let res = gql(&app, &owner, org, REVOKE_KEY, json!({ "input": { "id": id } })).await;
                assert_field_error(&res, "revokeApiKey", "NOT_FOUND");
                let reference = gql(
                    &app,
                    &owner,
                    org,
                    REVOKE_KEY,
                    json!({ "input": { "id": Uuid::new_v4() } }),
                )
                .await;
                assert_eq!(res.body, reference.body, "a foreign key looks like a missing one");
            }
        }
        // Theirs are untouched and still work.
        for key in keys_of(&app, &theirs_owner, None).await {
            assert_eq!(key["revokedAt"], Value::Null, "{key}");
        }
        for key in [&other.test_key, &other.live_key] {
            let res = gql(&app, key, None, VIEWER, json!({})).await;
            assert_eq!(res.assert_ok()["viewer"]["organizationId"], json!(other.id.to_string()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. A session sees both modes
// ---------------------------------------------------------------------------------------------

db_test! {
    async fn session_sees_both_modes_and_filters_by_mode(app) {
        let (_, member) = app.member(app.org.id, Role::Member).await;
        let by_test = create_webhook(&app, &app.org.test_key, None, "by-test-key", json!({})).await;
        let by_live = create_webhook(&app, &app.org.live_key, None, "by-live-key", json!({})).await;
        assert_eq!(by_test["mode"], "TEST");
        assert_eq!(by_live["mode"], "LIVE");
        let (t1, l1) = (id_of(&by_test), id_of(&by_live));

        for (id, made) in [(&t1, &by_test), (&l1, &by_live)] {
            assert_eq!(&read_endpoint(&app, &member, None, id).await, made);
        }
        assert_eq!(list(&app, &member, None, Value::Null).await, (sorted(&[&t1, &l1]), sorted(&[&t1, &l1]), 2));
        assert_eq!(list(&app, &member, None, json!({ "mode": "TEST" })).await, (vec![t1.clone()], vec![t1.clone()], 1));
        assert_eq!(list(&app, &member, None, json!({ "mode": "LIVE" })).await, (vec![l1.clone()], vec![l1.clone()], 1));

        // The session picks the mode of what it creates; LIVE by default.
        let default = create_webhook(&app, &member, None, "session-default", json!({})).await;
        assert_eq!(default["mode"], "LIVE");
        let test = create_webhook(&app, &member, None, "session-test", json!({ "mode": "TEST" })).await;
        assert_eq!(test["mode"], "TEST");
        let live = create_webhook(&app, &member, None, "session-live", json!({ "mode": "LIVE" })).await;
        assert_eq!(live["mode"], "LIVE");
        let (l2, t2, l3) = (id_of(&default), id_of(&test), id_of(&live));

        let tests = sorted(&[&t1, &t2]);
        let lives = sorted(&[&l1, &l2, &l3]);
        let all = sorted(&[&t1, &t2, &l1, &l2, &l3]);
        assert_eq!(list(&app, &member, None, Value::Null).await, (all.clone(), all, 5));
        assert_eq!(list(&app, &member, None, json!({ "mode": "TEST" })).await, (tests.clone(), tests.clone(), 2));
        assert_eq!(list(&app, &member, None, json!({ "mode": "LIVE" })).await, (lives.clone(), lives.clone(), 3));

        // Each key sees only its own mode, including what the session made.
        assert_eq!(list(&app, &app.org.test_key, None, Value::Null).await, (tests.clone(), tests, 2));
        assert_eq!(list(&app, &app.org.live_key, None, Value::Null).await, (lives.clone(), lives, 3));
        assert_eq!(read_endpoint(&app, &app.org.test_key, None, &t2).await, test);
        assert_eq!(read_endpoint(&app, &app.org.live_key, None, &l2).await, default);
        let res = app.get_endpoint(&app.org.test_key, &l2).await;
        assert_field_error(&res, "endpoint", "NOT_FOUND");
        let res = app.get_endpoint(&app.org.live_key, &t2).await;
        assert_field_error(&res, "endpoint", "NOT_FOUND");

        // And the session reads them all by id.
        for (id, made) in [(&t2, &test), (&l2, &default), (&l3, &live)] {
            assert_eq!(&read_endpoint(&app, &member, None, id).await, made);
        }
    }
}

db_test! {
    async fn session_cannot_attach_a_phone_number_of_the_other_mode(app) {
        let (_, member) = app.member(app.org.id, Role::Member).await;
        let test_phone = app.add_phone_number(app.org.id, Mode::Test, "+14155550401").await;
        let live_phone = app.add_phone_number(app.org.id, Mode::Live, "+14155550402").await;

        // A TEST endpoint with the live number, a LIVE one (default and explicit) with the test
        // number: refused (the session sees both modes, so it is told why), nothing written.
        for (extra, phone) in [
            (json!({ "mode": "TEST" }), live_phone),
            (json!({}), test_phone),
            (json!({ "mode": "LIVE" }), test_phone),
        ] {
            let mut input = json!({ "name": "Routed", "type": "WEBHOOK", "url": "https://example.com/r", "phoneNumberId": phone });
            for (k, v) in extra.as_object().expect("object") {
                input[k] = v.clone();
            }
            let res = gql(&app, &member, None, &CREATE, json!({ "input": input })).await;
            let payload = res.assert_ok()["createEndpoint"].clone();
            assert_eq!(payload["endpoint"], Value::Null, "{payload}");
            let errors = payload["userErrors"].as_array().expect("userErrors");
            assert_eq!(errors.len(), 1, "{payload}");
            assert_eq!(errors[0]["code"], "MODE_MISMATCH", "{payload}");
            assert_eq!(errors[0]["field"], json!(["input", "phoneNumberId"]), "{payload}");
            assert_eq!(app.endpoint_rows().await, 0, "nothing was created");
        }
        assert_eq!(phone_endpoint(&app, test_phone).await, None);
        assert_eq!(phone_endpoint(&app, live_phone).await, None);

        // In their own mode they attach.
        let test = create_webhook(&app, &member, None, "t", json!({ "mode": "TEST", "phoneNumberId": test_phone })).await;
        assert_eq!(test["phoneNumbers"], json!([{ "id": test_phone.to_string(), "e164": "+14155550401" }]));
        let live = create_webhook(&app, &member, None, "l", json!({ "phoneNumberId": live_phone })).await;
        assert_eq!(live["mode"], "LIVE");
        assert_eq!(live["phoneNumbers"], json!([{ "id": live_phone.to_string(), "e164": "+14155550402" }]));
    }
}

db_test! {
    async fn the_role_matrix_covers_phone_numbers_and_members(app) {
        // Who may do what, with every role's session and both API keys: numbers are changed
        // by members and up, members managed by owners' and admins' sessions only; everyone
        // reads both lists.
        const ADD_NUMBER: &str = "mutation($input: AddPhoneNumberInput!) { addPhoneNumber(input: $input) { phoneNumber { id } userErrors { code } } }";
        const ADD_MEMBER: &str = "mutation($input: AddMemberInput!) { addMember(input: $input) { member { id } userErrors { code } } }";
        const READ: &str = "{ phoneNumbers { totalCount } members { totalCount } }";
        let mut callers: Vec<(String, String, Option<Uuid>, bool, bool)> = Vec::new();
        for role in ALL_ROLES {
            let (_, token) = app.member(app.org.id, role).await;
            let writes = WRITERS.contains(&role);
            let manages = matches!(role, Role::Owner | Role::Admin);
            callers.push((role_name(role).to_owned(), token, Some(app.org.id), writes, manages));
        }
        callers.push(("TEST key".to_owned(), app.org.test_key.clone(), None, true, false));
        callers.push(("LIVE key".to_owned(), app.org.live_key.clone(), None, true, false));
        for (i, (who, token, org, writes, manages)) in callers.iter().enumerate() {
            let res = gql(&app, token, *org, READ, json!({})).await;
            res.assert_ok();
            let res = gql(&app, token, *org, ADD_NUMBER,
                json!({ "input": { "e164": format!("+1415555{i:04}"), "mode": if who == "LIVE key" { "LIVE" } else { "TEST" } } })).await;
            if *writes {
                assert_eq!(res.assert_ok()["addPhoneNumber"]["userErrors"], json!([]), "{who}: {}", res.body);
            } else {
                assert_eq!(res.error_code(), Some("FORBIDDEN"), "{who}: {}", res.body);
            }
            let res = gql(&app, token, *org, ADD_MEMBER,
                json!({ "input": { "userId": format!("added-by-{i}"), "role": "VIEWER" } })).await;
            if *manages {
                assert_eq!(res.assert_ok()["addMember"]["userErrors"], json!([]), "{who}: {}", res.body);
            } else {
                assert_eq!(res.error_code(), Some("FORBIDDEN"), "{who}: {}", res.body);
            }
        }
    }
}
