//! Phone numbers in GraphQL: the list, adding, attaching, detaching and removing, with their
//! rules, tenancy, modes, roles and races.

use cockpit_gateway::domain::{Mode, Role};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const ADD: &str = "mutation($input: AddPhoneNumberInput!) { addPhoneNumber(input: $input) { \
    phoneNumber { id e164 mode endpointId } phoneNumberEdge { cursor node { id } } \
    userErrors { field message code } } }";
const ATTACH: &str = "mutation($input: AttachPhoneNumberInput!) { attachPhoneNumber(input: $input) { \
    phoneNumber { id endpointId } userErrors { field message code } } }";
const DETACH: &str = "mutation($input: DetachPhoneNumberInput!) { detachPhoneNumber(input: $input) { \
    phoneNumber { id endpointId } userErrors { field message code } } }";
const REMOVE: &str = "mutation($input: RemovePhoneNumberInput!) { removePhoneNumber(input: $input) { \
    removedPhoneNumberId userErrors { field message code } } }";
const LIST: &str = "query($first: Int, $after: String, $filter: PhoneNumberFilter) { \
    phoneNumbers(first: $first, after: $after, filter: $filter) { totalCount \
    edges { cursor node { e164 } } pageInfo { hasNextPage endCursor } } }";

async fn rows(app: &TestApp) -> usize {
    use sea_orm::{EntityTrait, PaginatorTrait};
    entity::phone_number::Entity::find()
        .count(&app.db)
        .await
        .expect("count") as usize
}

async fn webhook(app: &TestApp, key: &str, name: &str) -> String {
    let e = app
        .create_ok(
            key,
            json!({ "name": name, "type": "WEBHOOK", "url": "https://example.com/p" }),
        )
        .await;
    e["id"].as_str().expect("id").to_owned()
}

/// The payload of `field` and its userErrors' codes.
fn outcome(res: &Response, field: &str) -> (Value, Vec<String>) {
    let payload = res.assert_ok()[field].clone();
    let codes = payload["userErrors"]
        .as_array()
        .expect("userErrors")
        .iter()
        .map(|e| e["code"].as_str().expect("code").to_owned())
        .collect();
    (payload, codes)
}

db_test! {
    async fn adding_checks_the_number_its_uniqueness_and_the_mode(app) {
        let key = app.org.test_key.clone();
        let res = app.graphql(&key, ADD, json!({ "input": { "e164": "+14155550100" } })).await;
        let (payload, codes) = outcome(&res, "addPhoneNumber");
        assert!(codes.is_empty(), "{}", res.body);
        assert_eq!(payload["phoneNumber"]["e164"], "+14155550100");
        assert_eq!(payload["phoneNumber"]["mode"], "TEST");
        assert_eq!(payload["phoneNumber"]["endpointId"], Value::Null);
        assert_eq!(payload["phoneNumberEdge"]["node"]["id"], payload["phoneNumber"]["id"]);
        // The edge's cursor continues the list after the new (newest) number.
        let cursor = payload["phoneNumberEdge"]["cursor"].clone();
        let res = app.graphql(&key, LIST, json!({ "after": cursor })).await;
        assert_eq!(res.assert_ok()["phoneNumbers"]["edges"], json!([]), "{}", res.body);
        assert_eq!(rows(&app).await, 1);

        for (input, code, field) in [
            (json!({ "e164": "+14155550100" }), "PHONE_NUMBER_EXISTS", "e164"),
            (json!({ "e164": "14155550101" }), "INVALID", "e164"),
            (json!({ "e164": "+0155550101" }), "INVALID", "e164"),
            (json!({ "e164": "+1415555010123456" }), "INVALID", "e164"),
            (json!({ "e164": "+1 415 555" }), "INVALID", "e164"),
            (json!({ "e164": "+14155550101", "mode": "LIVE" }), "MODE_NOT_ALLOWED", "mode"),
        ] {
            let res = app.graphql(&key, ADD, json!({ "input": input })).await;
            let (payload, codes) = outcome(&res, "addPhoneNumber");
            assert_eq!(codes, [code], "{input}: {}", res.body);
            assert_eq!(payload["userErrors"][0]["field"], json!(["input", field]), "{}", res.body);
            assert_eq!(payload["phoneNumber"], Value::Null);
            assert_eq!(rows(&app).await, 1, "nothing written for {input}");
        }
        // The same number in the other mode, and in another organization, is another number.
        let res = app.graphql(&app.org.live_key, ADD, json!({ "input": { "e164": "+14155550100" } })).await;
        assert!(outcome(&res, "addPhoneNumber").1.is_empty(), "{}", res.body);
        let other = app.new_org("Other").await;
        let res = app.graphql(&other.test_key, ADD, json!({ "input": { "e164": "+14155550100" } })).await;
        assert!(outcome(&res, "addPhoneNumber").1.is_empty(), "{}", res.body);
        assert_eq!(rows(&app).await, 3);
    }
}

db_test! {
    async fn the_list_pages_filters_and_keeps_to_the_organization_and_mode(app) {
        let key = app.org.test_key.clone();
        let target = webhook(&app, &key, "Target").await;
        for i in 0..5 {
            let id = app.add_phone_number(app.org.id, Mode::Test, &format!("+1415555{i:04}")).await;
            if i % 2 == 0 {
                let res = app.graphql(&key, ATTACH, json!({ "input": { "phoneNumberId": id, "endpointId": target } })).await;
                assert!(outcome(&res, "attachPhoneNumber").1.is_empty(), "{}", res.body);
            }
        }
        app.add_phone_number(app.org.id, Mode::Live, "+14155559999").await;
        let other = app.new_org("Other").await;
        app.add_phone_number(other.id, Mode::Test, "+14155558888").await;

        // Newest first, two by two.
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let res = app.graphql(&key, LIST, json!({ "first": 2, "after": after })).await;
            let list = res.assert_ok()["phoneNumbers"].clone();
            assert_eq!(list["totalCount"], 5);
            seen.extend(list["edges"].as_array().expect("edges").iter().map(|e| e["node"]["e164"].clone()));
            if list["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = list["pageInfo"]["endCursor"].clone();
        }
        let expected: Vec<Value> = (0..5).rev().map(|i| json!(format!("+1415555{i:04}"))).collect();
        assert_eq!(seen, expected);

        for (filter, count) in [
            (json!({ "attached": true }), 3),
            (json!({ "attached": false }), 2),
            (json!({ "search": "5550003" }), 1),
            (json!({ "search": "%" }), 0),
            (json!({ "attached": false, "search": "+1415" }), 2),
        ] {
            let res = app.graphql(&key, LIST, json!({ "filter": filter })).await;
            assert_eq!(res.assert_ok()["phoneNumbers"]["totalCount"], count, "{filter}: {}", res.body);
        }
        // The live key sees the live number only; the other organization its own.
        let res = app.graphql(&app.org.live_key, LIST, json!({})).await;
        assert_eq!(res.assert_ok()["phoneNumbers"]["edges"], json!([{ "cursor": res.data()["phoneNumbers"]["edges"][0]["cursor"], "node": { "e164": "+14155559999" } }]));
        let res = app.graphql(&other.test_key, LIST, json!({})).await;
        assert_eq!(res.assert_ok()["phoneNumbers"]["totalCount"], 1);
        // Refused arguments.
        for variables in [json!({ "first": 0 }), json!({ "after": "nope" }), json!({ "filter": { "search": "1".repeat(17) } }),
                          json!({ "filter": { "search": "\t555\n" } })] {
            let res = app.graphql(&key, LIST, variables.clone()).await;
            assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{variables}: {}", res.body);
        }
    }
}

db_test! {
    async fn attaching_detaching_and_removing_follow_the_rules(app) {
        let key = app.org.test_key.clone();
        let first = webhook(&app, &key, "First").await;
        let second = webhook(&app, &key, "Second").await;
        let number = app.add_phone_number(app.org.id, Mode::Test, "+14155550200").await;
        let attach = |number: Uuid, endpoint: &str, reassign: Option<bool>| {
            let mut input = json!({ "phoneNumberId": number, "endpointId": endpoint });
            if let Some(reassign) = reassign {
                input["reassign"] = json!(reassign);
            }
            json!({ "input": input })
        };
        let res = app.graphql(&key, ATTACH, attach(number, &first, None)).await;
        let (payload, codes) = outcome(&res, "attachPhoneNumber");
        assert!(codes.is_empty(), "{}", res.body);
        assert_eq!(payload["phoneNumber"]["endpointId"], first.as_str());
        // Again to the same endpoint: nothing changes.
        let res = app.graphql(&key, ATTACH, attach(number, &first, None)).await;
        assert!(outcome(&res, "attachPhoneNumber").1.is_empty(), "{}", res.body);
        // Elsewhere: taken, unless moved on purpose.
        let res = app.graphql(&key, ATTACH, attach(number, &second, Some(false))).await;
        let (payload, codes) = outcome(&res, "attachPhoneNumber");
        assert_eq!(codes, ["PHONE_NUMBER_TAKEN"], "{}", res.body);
        assert_eq!(payload["userErrors"][0]["field"], json!(["input", "phoneNumberId"]));
        let res = app.graphql(&key, ATTACH, attach(number, &second, Some(true))).await;
        let (payload, codes) = outcome(&res, "attachPhoneNumber");
        assert!(codes.is_empty(), "{}", res.body);
        assert_eq!(payload["phoneNumber"]["endpointId"], second.as_str());
        let numbers = |id: String| {
            let app = &app;
            let key = key.clone();
            async move {
                let res = app.graphql(&key, "query($id: UUID!) { endpoint(id: $id) { phoneNumbers { e164 } } }", json!({ "id": id })).await;
                res.assert_ok()["endpoint"]["phoneNumbers"].clone()
            }
        };
        assert_eq!(numbers(first.clone()).await, json!([]));
        assert_eq!(numbers(second.clone()).await, json!([{ "e164": "+14155550200" }]));

        // Another organization's number or endpoint, and another mode's, are not found.
        let other = app.new_org("Other").await;
        let theirs = app.add_phone_number(other.id, Mode::Test, "+14155550201").await;
        let their_endpoint = webhook(&app, &other.test_key, "Theirs").await;
        let live_endpoint = webhook(&app, &app.org.live_key, "Live").await;
        let live_number = app.add_phone_number(app.org.id, Mode::Live, "+14155550202").await;
        for (input, code) in [
            (attach(theirs, &first, None), "PHONE_NUMBER_NOT_FOUND"),
            (attach(live_number, &first, None), "PHONE_NUMBER_NOT_FOUND"),
            (attach(number, &their_endpoint, Some(true)), "ENDPOINT_NOT_FOUND"),
            (attach(number, &live_endpoint, Some(true)), "ENDPOINT_NOT_FOUND"),
            (attach(Uuid::now_v7(), &first, None), "PHONE_NUMBER_NOT_FOUND"),
        ] {
            let res = app.graphql(&key, ATTACH, input.clone()).await;
            assert_eq!(outcome(&res, "attachPhoneNumber").1, [code], "{input}: {}", res.body);
        }
        assert_eq!(numbers(second.clone()).await, json!([{ "e164": "+14155550200" }]));
        // A session sees both modes, but a number routes only within its own.
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let auth = format!("Bearer {owner}");
        let org = app.org.id.to_string();
        let headers = [("authorization", auth.as_str()), ("x-organization-id", org.as_str())];
        let res = app.post(&headers, json!({ "query": ATTACH, "variables": attach(live_number, &first, None) })).await;
        assert_eq!(outcome(&res, "attachPhoneNumber").1, ["MODE_MISMATCH"], "{}", res.body);
        // And creating a test endpoint with the live number says the same; a test key, which
        // doesn't see live numbers, is told the number isn't found.
        let create = "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } userErrors { field code } } }";
        let input = json!({ "name": "Mixed", "type": "WEBHOOK", "url": "https://example.com/m", "mode": "TEST", "phoneNumberId": live_number });
        let res = app.post(&headers, json!({ "query": create, "variables": { "input": input } })).await;
        assert_eq!(outcome(&res, "createEndpoint").1, ["MODE_MISMATCH"], "{}", res.body);
        assert_eq!(res.data()["createEndpoint"]["userErrors"][0]["field"], json!(["input", "phoneNumberId"]));
        let res = app.graphql(&key, create, json!({ "input": input })).await;
        assert_eq!(outcome(&res, "createEndpoint").1, ["PHONE_NUMBER_NOT_FOUND"], "{}", res.body);

        // Detach, twice; then remove, and the number is gone.
        for _ in 0..2 {
            let res = app.graphql(&key, DETACH, json!({ "input": { "phoneNumberId": number } })).await;
            let (payload, codes) = outcome(&res, "detachPhoneNumber");
            assert!(codes.is_empty(), "{}", res.body);
            assert_eq!(payload["phoneNumber"]["endpointId"], Value::Null);
        }
        assert_eq!(numbers(second.clone()).await, json!([]));
        let res = app.graphql(&key, REMOVE, json!({ "input": { "phoneNumberId": theirs } })).await;
        assert_eq!(outcome(&res, "removePhoneNumber").1, ["PHONE_NUMBER_NOT_FOUND"], "{}", res.body);
        let res = app.graphql(&key, REMOVE, json!({ "input": { "phoneNumberId": number } })).await;
        let (payload, codes) = outcome(&res, "removePhoneNumber");
        assert!(codes.is_empty(), "{}", res.body);
        assert_eq!(payload["removedPhoneNumberId"], number.to_string());
        let res = app.graphql(&key, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": number })).await;
        assert_eq!(res.error_code(), Some("NOT_FOUND"), "{}", res.body);
        let res = app.graphql(&key, DETACH, json!({ "input": { "phoneNumberId": number } })).await;
        assert_eq!(outcome(&res, "detachPhoneNumber").1, ["PHONE_NUMBER_NOT_FOUND"], "{}", res.body);
    }
}

db_test! {
    async fn viewers_can_list_numbers_but_not_change_them(app) {
        let number = app.add_phone_number(app.org.id, Mode::Test, "+14155550300").await;
        let (_, viewer) = app.member(app.org.id, Role::Viewer).await;
        let auth = format!("Bearer {viewer}");
        let org = app.org.id.to_string();
        let headers = [("authorization", auth.as_str()), ("x-organization-id", org.as_str())];
        let res = app.post(&headers, json!({ "query": LIST, "variables": {} })).await;
        assert_eq!(res.assert_ok()["phoneNumbers"]["totalCount"], 1);
        let endpoint = webhook(&app, &app.org.test_key, "E").await;
        for (query, input) in [
            (ADD, json!({ "e164": "+14155550301", "mode": "TEST" })),
            (ATTACH, json!({ "phoneNumberId": number, "endpointId": endpoint })),
            (DETACH, json!({ "phoneNumberId": number })),
            (REMOVE, json!({ "phoneNumberId": number })),
        ] {
            let res = app.post(&headers, json!({ "query": query, "variables": { "input": input } })).await;
            assert_eq!(res.error_code(), Some("FORBIDDEN"), "{query}: {}", res.body);
        }
        assert_eq!(rows(&app).await, 1);
    }
}

db_test! {
    async fn two_attaches_of_one_number_leave_it_on_one_endpoint(app) {
        let key = app.org.test_key.clone();
        for round in 0..5 {
            let number = app.add_phone_number(app.org.id, Mode::Test, &format!("+141555504{round:02}")).await;
            let a = webhook(&app, &key, &format!("A{round}")).await;
            let b = webhook(&app, &key, &format!("B{round}")).await;
            let (ra, rb) = tokio::join!(
                app.graphql(&key, ATTACH, json!({ "input": { "phoneNumberId": number, "endpointId": a } })),
                app.graphql(&key, ATTACH, json!({ "input": { "phoneNumberId": number, "endpointId": b } })),
            );
            let (pa, ca) = outcome(&ra, "attachPhoneNumber");
            let (pb, cb) = outcome(&rb, "attachPhoneNumber");
            // Exactly one wins; the other is told the number is taken.
            let winner = match (ca.is_empty(), cb.is_empty()) {
                (true, false) => { assert_eq!(cb, ["PHONE_NUMBER_TAKEN"]); pa["phoneNumber"]["endpointId"].clone() }
                (false, true) => { assert_eq!(ca, ["PHONE_NUMBER_TAKEN"]); pb["phoneNumber"]["endpointId"].clone() }
                other => panic!("round {round}: {other:?}: {} {}", ra.body, rb.body),
            };
            let stored = app.graphql(&key, "query($id: ID!) { node(id: $id) { ... on PhoneNumber { endpointId } } }", json!({ "id": number })).await;
            assert_eq!(stored.assert_ok()["node"]["endpointId"], winner);
        }
    }
}
