//! Global object identification: every object with an id is found again by `node(id:)` and
//! `nodes(ids:)`, with the tenancy of its type's own reads, and its id says its type.

use cockpit_gateway::domain::ids::{Kind, kind_of};
use cockpit_gateway::domain::{Mode, Role};
use entity::organization_member;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const NODE: &str = "query($id: ID!) { node(id: $id) { __typename id \
    ... on Endpoint { uuid name mode } \
    ... on PhoneNumber { uuid e164 mode } \
    ... on ApiKey { uuid name } \
    ... on Organization { uuid name } \
    ... on OrganizationMember { uuid userId role } } }";

/// A GraphQL request as `token`, in `org`.
async fn as_token(
    app: &TestApp,
    token: &str,
    org: Uuid,
    query: &str,
    variables: Value,
) -> Response {
    let auth = format!("Bearer {token}");
    let org = org.to_string();
    app.post(
        &[
            ("authorization", auth.as_str()),
            ("x-organization-id", org.as_str()),
        ],
        json!({ "query": query, "variables": variables }),
    )
    .await
}

/// One object of each type in `org`, as (type, id): an endpoint and a number in test mode,
/// a live endpoint, an API key, the organization and a member.
async fn objects(app: &TestApp, org: &Org, name: &str) -> Vec<(&'static str, Uuid)> {
    let endpoint = app
        .create_ok(
            &org.test_key,
            json!({ "name": name, "type": "WEBHOOK", "url": "https://example.com/n" }),
        )
        .await;
    let live = app
        .create_ok(
            &org.live_key,
            json!({ "name": name, "type": "WEBHOOK", "url": "https://example.com/l" }),
        )
        .await;
    let number = app
        .add_phone_number(org.id, Mode::Test, &format!("+1415{:07}", rand_digits()))
        .await;
    let (user, _) = app.member(org.id, Role::Viewer).await;
    let member = organization_member::Entity::find_by_id((org.id, user))
        .one(&app.db)
        .await
        .expect("read")
        .expect("member");
    let key =
        cockpit_gateway::domain::api_keys::system::create(&app.db, org.id, Mode::Test, "node key")
            .await
            .expect("key");
    let uuid = |v: &Value| v["id"].as_str().expect("id").parse::<Uuid>().expect("uuid");
    vec![
        ("Endpoint", uuid(&endpoint)),
        ("Endpoint", uuid(&live)),
        ("PhoneNumber", number),
        ("ApiKey", key.key.id),
        ("Organization", org.id),
        ("OrganizationMember", member.id),
    ]
}

fn rand_digits() -> u32 {
    Uuid::new_v4().as_u128() as u32 % 10_000_000
}

db_test! {
    async fn every_object_is_found_by_its_id_which_says_its_type(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        for (typename, id) in objects(&app, &app.org, "Found").await {
            let kind = Kind::ALL.into_iter().find(|k| format!("{k:?}") == typename).expect("kind");
            assert_eq!(kind_of(id), Some(kind), "{typename} {id}");
            // A session of an owner sees both modes and the API keys.
            let res = as_token(&app, &owner, app.org.id, NODE, json!({ "id": id })).await;
            let node = &res.assert_ok()["node"];
            assert_eq!(node["__typename"], typename, "{}", res.body);
            assert_eq!(node["id"], id.to_string(), "{}", res.body);
            assert_eq!(node["uuid"], id.to_string(), "{}", res.body);
        }
    }
}

db_test! {
    async fn another_organizations_or_modes_objects_are_not_found(app) {
        let other = app.new_org("Other").await;
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let theirs = objects(&app, &other, "Theirs").await;
        // The same ids, seen from this organization: an owner's session and both keys.
        for (typename, id) in &theirs {
            for token in [owner.as_str(), app.org.test_key.as_str(), app.org.live_key.as_str()] {
                let res = as_token(&app, token, app.org.id, NODE, json!({ "id": id })).await;
                assert_eq!(res.data()["node"], Value::Null, "{typename}: {}", res.body);
                let code = res.error_code();
                // API keys are refused every key, theirs or not, as `apiKeys` refuses them.
                let refused = *typename == "ApiKey" && token != owner;
                assert_eq!(code, Some(if refused { "FORBIDDEN" } else { "NOT_FOUND" }), "{typename}: {}", res.body);
            }
        }
        // A test key doesn't see the live endpoint of its own organization, nor a live key the
        // test endpoint and number.
        let ours = objects(&app, &app.org, "Ours").await;
        let test_key_misses = [ours[1].1];
        let live_key_misses = [ours[0].1, ours[2].1];
        for (key, misses) in [(&app.org.test_key, &test_key_misses[..]), (&app.org.live_key, &live_key_misses[..])] {
            for id in misses {
                let res = app.graphql(key, NODE, json!({ "id": id })).await;
                assert_eq!(res.data()["node"], Value::Null, "{}", res.body);
                assert_eq!(res.error_code(), Some("NOT_FOUND"), "{}", res.body);
            }
        }
        // And an id that names nothing at all, tagged or not.
        for id in [Uuid::now_v7(), Uuid::new_v4(), cockpit_gateway::domain::ids::new_id(Kind::Endpoint)] {
            let res = app.graphql(&app.org.test_key, NODE, json!({ "id": id })).await;
            assert_eq!(res.data()["node"], Value::Null, "{}", res.body);
            assert_eq!(res.error_code(), Some("NOT_FOUND"), "{}", res.body);
        }
    }
}

db_test! {
    async fn nodes_answers_in_the_order_asked_with_each_miss_at_its_index(app) {
        let a = app.create_ok(&app.org.test_key, json!({ "name": "A", "type": "WEBHOOK", "url": "https://example.com/a" })).await;
        let b = app.create_ok(&app.org.test_key, json!({ "name": "B", "type": "WEBHOOK", "url": "https://example.com/b" })).await;
        let other = app.new_org("Other").await;
        let theirs = app.create_ok(&other.test_key, json!({ "name": "T", "type": "WEBHOOK", "url": "https://example.com/t" })).await;
        let ids = json!([b["id"], theirs["id"], a["id"], app.org.id]);
        let query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Endpoint { name } } }";
        let res = app.graphql(&app.org.test_key, query, json!({ "ids": ids })).await;
        let nodes = res.data()["nodes"].as_array().expect("a list").clone();
        assert_eq!(nodes.len(), 4, "{}", res.body);
        assert_eq!(nodes[0]["name"], "B");
        assert_eq!(nodes[1], Value::Null);
        assert_eq!(nodes[2]["name"], "A");
        assert_eq!(nodes[3]["__typename"], "Organization");
        let errors = res.body["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 1, "{}", res.body);
        assert_eq!(errors[0]["path"], json!(["nodes", 1]), "{}", res.body);
        assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{}", res.body);
        // Each id is costed as the object it returns.
        assert_eq!(res.cost["requestedQueryCost"], 4, "{}", res.cost);

        // A default list is costed as a given one.
        let defaulted = format!("query($ids: [ID!]! = {ids}) {{ nodes(ids: $ids) {{ id }} }}");
        let res = app.graphql(&app.org.test_key, &defaulted, json!({})).await;
        assert_eq!(res.cost["requestedQueryCost"], 4, "{}", res.cost);

        // At most 100 ids.
        let many: Vec<String> = (0..101).map(|_| Uuid::now_v7().to_string()).collect();
        let res = app.graphql(&app.org.test_key, query, json!({ "ids": many })).await;
        assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{}", res.body);
        assert_eq!(res.data(), &Value::Null, "{}", res.body);
    }
}

db_test! {
    async fn an_id_that_is_not_a_uuid_is_bad_user_input(app) {
        for id in ["", "nope", "gid://cockpit/Endpoint/1", "0193e4c47b9a8d219c3e5f1a2b3c4d5e", "{0193e4c4-7b9a-8d21-9c3e-5f1a2b3c4d5e}"] {
            let res = app.graphql(&app.org.test_key, NODE, json!({ "id": id })).await;
            assert_eq!(res.data()["node"], Value::Null, "{id}: {}", res.body);
            assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{id}: {}", res.body);
        }
    }
}

db_test! {
    async fn a_deleted_endpoints_id_is_its_id(app) {
        let created = app.create_ok(&app.org.test_key, json!({ "name": "Gone", "type": "WEBHOOK", "url": "https://example.com/g" })).await;
        let id = created["id"].as_str().expect("id");
        let res = app.delete_endpoint(&app.org.test_key, id).await;
        assert_eq!(res.assert_ok()["deleteEndpoint"]["deletedEndpointId"], id, "{}", res.body);
    }
}

/// A phone number of the app's test mode whose id carries no type, as rows made before ids
/// said their type (or by other tools) have.
async fn untyped_number(app: &TestApp) -> Uuid {
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    let typed = app
        .add_phone_number(
            app.org.id,
            Mode::Test,
            &format!("+1415{:07}", rand_digits()),
        )
        .await;
    let untyped = Uuid::now_v7();
    entity::phone_number::Entity::update_many()
        .col_expr(entity::phone_number::Column::Id, Expr::value(untyped))
        .filter(entity::phone_number::Column::Id.eq(typed))
        .exec(&app.db)
        .await
        .expect("untype the id");
    untyped
}

const NODES: &str = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }";

fn costs(res: &Response) -> (Value, Value) {
    (
        res.cost["requestedQueryCost"].clone(),
        res.cost["actualQueryCost"].clone(),
    )
}

db_test! {
    async fn every_lookup_by_id_is_paid_for_found_or_not(app) {
        let key = app.org.test_key.clone();
        let found = app.create_ok(&key, json!({ "name": "Found", "type": "WEBHOOK", "url": "https://example.com/f" })).await;
        let found = found["id"].as_str().expect("id").to_owned();
        let typed_miss = || cockpit_gateway::domain::ids::new_id(Kind::Endpoint).to_string();

        // A hundred hits and a hundred misses (the same id again and again, or a new one each
        // time) are a hundred lookups each.
        let hits = app.graphql(&key, NODES, json!({ "ids": vec![found.clone(); 100] })).await;
        assert_eq!(costs(&hits), (json!(100), json!(100)), "{}", hits.cost);
        let misses: Vec<String> = (0..100).map(|_| typed_miss()).collect();
        let res = app.graphql(&key, NODES, json!({ "ids": misses })).await;
        assert_eq!(res.data()["nodes"].as_array().map(Vec::len), Some(100));
        assert_eq!(costs(&res), (json!(100), json!(100)), "{}", res.cost);
        let res = app.graphql(&key, NODES, json!({ "ids": vec![typed_miss(); 100] })).await;
        assert_eq!(costs(&res), (json!(100), json!(100)), "{}", res.cost);

        // An id that doesn't say its type is looked for in four tables: four lookups, found
        // in none; found in the second, two lookups and the object.
        let legacy: Vec<String> = (0..25).map(|_| Uuid::now_v7().to_string()).collect();
        let res = app.graphql(&key, NODES, json!({ "ids": legacy })).await;
        assert_eq!(costs(&res), (json!(100), json!(100)), "{}", res.cost);
        let number = untyped_number(&app).await;
        let res = app.graphql(&key, NODE, json!({ "id": number })).await;
        assert_eq!(res.assert_ok()["node"]["__typename"], "PhoneNumber", "{}", res.body);
        assert_eq!(costs(&res), (json!(4), json!(2)), "{}", res.cost);
        let res = app.graphql(&key, NODE, json!({ "id": Uuid::now_v7() })).await;
        assert_eq!(res.error_code(), Some("NOT_FOUND"), "{}", res.body);
        assert_eq!(costs(&res), (json!(4), json!(4)), "{}", res.cost);

        // Another organization's object is not found, and was still looked for.
        let other = app.new_org("Other").await;
        let theirs = app.create_ok(&other.test_key, json!({ "name": "T", "type": "WEBHOOK", "url": "https://example.com/t" })).await;
        let res = app.graphql(&key, NODES, json!({ "ids": vec![theirs["id"].clone(); 30] })).await;
        assert_eq!(res.error_code(), Some("NOT_FOUND"), "{}", res.body);
        assert_eq!(costs(&res), (json!(30), json!(30)), "{}", res.cost);

        // Aliases, a variable's default list, and `endpoint(id:)`, alike.
        let aliased = "query($ids: [ID!]!) { a: nodes(ids: $ids) { id } b: nodes(ids: $ids) { id } c: node(id: \"00000000-0000-7000-8000-000000000000\") { id } }";
        let res = app.graphql(&key, aliased, json!({ "ids": vec![typed_miss(); 40] })).await;
        assert_eq!(costs(&res), (json!(84), json!(84)), "{}", res.cost);
        let defaulted = format!("query($ids: [ID!]! = {}) {{ nodes(ids: $ids) {{ id }} }}", json!(vec![typed_miss(); 50]));
        let res = app.graphql(&key, &defaulted, json!({})).await;
        assert_eq!(costs(&res), (json!(50), json!(50)), "{}", res.cost);
        let endpoints: String = (0..20).map(|i| format!("e{i}: endpoint(id: \"{}\") {{ id }} ", Uuid::now_v7())).collect();
        let res = app.graphql(&key, &format!("{{ {endpoints} }}"), json!({})).await;
        assert_eq!(costs(&res), (json!(20), json!(20)), "{}", res.cost);
    }
}

db_test! {
    async fn lookups_that_find_nothing_drain_the_bucket_as_hits_do(app) {
        let app = TestApp::builder(app.backend)
            .with_config(|c| {
                c.rate_limit.bucket_size = 300;
                c.rate_limit.restore_rate = 1;
            })
            .spawn()
            .await
            .expect("app");
        let misses: Vec<String> = (0..25).map(|_| Uuid::now_v7().to_string()).collect();
        // 100 points a request: the fourth finds the bucket of 300 too low.
        for n in 0..3 {
            let res = app.graphql(&app.org.test_key, NODES, json!({ "ids": misses })).await;
            assert_eq!(res.status, 200, "request {n}: {}", res.body);
            assert_eq!(costs(&res), (json!(100), json!(100)), "{}", res.cost);
        }
        let res = app.graphql(&app.org.test_key, NODES, json!({ "ids": misses })).await;
        assert_eq!(res.status, 429, "{}", res.body);
        assert_eq!(res.error_code(), Some("RATE_LIMITED"), "{}", res.body);
    }
}

/// Every field of `Endpoint`, and the ways a selection reaches them: aliases, a key selected
/// twice, fragments that apply (on the type, on its interface, on the union, without a
/// condition) and one that doesn't, objects merged from two selections, `@skip` and `@include`.
const EVERY_WAY: &str = "fragment E on Endpoint { \
    __typename kind: __typename id uuid name type url status mode organizationId createdAt \
    updatedAt phoneNumbers { e164 } \
    providerConfig { __typename ... on VapiConfig { assistantId ... on ProviderConfig { inner: __typename } ...Config } \
      ... on RetellConfig { agentId } ... on ProviderConfig { ... on VapiConfig { deep: assistantId } } } \
    id ...Named ... on Node { id } ... { url name } \
    ... on Endpoint { providerConfig { kind: __typename ... on ProviderConfig { __typename } } } \
    skipped: name @skip(if: $yes) included: url @include(if: $yes) } \
    fragment Named on Endpoint { name createdAt } \
    fragment Config on ProviderConfig { spread: __typename }";

db_test! {
    async fn an_endpoint_answers_the_same_through_every_path(app) {
        // `endpoint`, a page's nodes and edges answer their scalars in one pass over the
        // selection; `node` through the interface resolves each field on its own. Both must
        // give the same object, for each kind of endpoint.
        let key = &app.org.test_key;
        let number = app.add_phone_number(app.org.id, Mode::Test, &format!("+1415{:07}", rand_digits())).await;
        let vapi = app.create_ok(key, json!({ "name": "Voice", "type": "VAPI", "phoneNumberId": number,
            "providerConfig": { "vapi": { "assistantId": "asst-1" } } })).await;
        let hook = app.create_ok(key, json!({ "name": "Hook", "type": "WEBHOOK", "url": "https://example.com/e" })).await;
        let query = format!("query($id: UUID!, $gid: ID!, $yes: Boolean!) {{ \
            endpoint(id: $id) {{ ...E }} node(id: $gid) {{ ...E }} \
            endpoints(first: 10) {{ nodes {{ ...E }} edges {{ node {{ ...E }} }} }} }} {EVERY_WAY}");
        for endpoint in [&vapi, &hook] {
            let id = endpoint["id"].as_str().expect("id");
            for yes in [true, false] {
                let res = app.graphql(key, &query, json!({ "id": id, "gid": id, "yes": yes })).await;
                let data = res.assert_ok();
                let by_node = &data["node"];
                assert_eq!(by_node["id"], id, "{}", res.body);
                assert_eq!(by_node["kind"], "Endpoint", "{}", res.body);
                assert_eq!(by_node.get("included").is_some(), yes, "{}", res.body);
                assert_eq!(by_node.get("skipped").is_some(), !yes, "{}", res.body);
                assert_eq!(&data["endpoint"], by_node, "{}", res.body);
                let find = |list: &Value| list.as_array().expect("list").iter().find(|n| n["id"] == id).cloned();
                assert_eq!(find(&data["endpoints"]["nodes"]).as_ref(), Some(by_node), "{}", res.body);
                let edges: Vec<Value> = data["endpoints"]["edges"].as_array().expect("edges").iter().map(|e| e["node"].clone()).collect();
                assert_eq!(find(&Value::Array(edges)).as_ref(), Some(by_node), "{}", res.body);
            }
            if endpoint["type"] == "VAPI" {
                let res = app.graphql(key, &query, json!({ "id": id, "gid": id, "yes": true })).await;
                let config = &res.assert_ok()["endpoint"]["providerConfig"];
                // A fragment on the union inside one on its member doesn't apply (async-graphql's
                // field collection); one on a member inside one on the union does.
                assert_eq!(config, &json!({ "__typename": "VapiConfig", "assistantId": "asst-1", "deep": "asst-1", "kind": "VapiConfig" }), "{}", res.body);
                assert_eq!(res.data()["endpoint"]["phoneNumbers"][0]["e164"].as_str().map(|s| s.starts_with("+1415")), Some(true), "{}", res.body);
            }
        }
    }
}
