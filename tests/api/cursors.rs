//! Cursors clients already hold keep continuing their lists: the keyset lists' one format,
//! and the earlier forms of phone numbers' (`{c, id}`) and members' (`created_at|id`) cursors.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cockpit_gateway::domain::{Mode, Role};
use serde_json::{Value, json};

use crate::helpers::*;

const PHONE_NUMBERS: &str = "query($first: Int, $after: String) { \
    list: phoneNumbers(first: $first, after: $after) { edges { cursor node { id } } } }";
const MEMBERS: &str = "query($first: Int, $after: String) { \
    list: members(first: $first, after: $after) { edges { cursor node { id } } } }";
const ENDPOINTS: &str = "query($first: Int, $after: String) { \
    list: endpoints(first: $first, after: $after) { edges { cursor node { id } } } }";

/// The ids of a page of `query`'s list after `after`.
async fn ids(app: &TestApp, query: &str, first: i64, after: Value) -> (Vec<Value>, Vec<Value>) {
    let res = app
        .graphql(
            &app.org.test_key,
            query,
            json!({ "first": first, "after": after }),
        )
        .await;
    let edges = res.assert_ok()["list"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    let ids = edges.iter().map(|e| e["node"]["id"].clone()).collect();
    let cursors = edges.iter().map(|e| e["cursor"].clone()).collect();
    (ids, cursors)
}

/// The sort value and id that a cursor of the one format holds.
fn position(cursor: &Value) -> (String, String) {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.as_str().expect("a cursor"))
        .expect("base64url");
    let json: Value = serde_json::from_slice(&bytes).expect("a JSON position");
    let field = |name: &str| json[name].as_str().expect("a string").to_owned();
    (field("v"), field("id"))
}

/// Continuing after the first of four items with `earlier` (made from the first item's
/// cursor) gives the same three items as the cursor itself.
async fn continues(app: &TestApp, query: &str, earlier: impl Fn(String, String) -> String) {
    let (_, cursors) = ids(app, query, 1, Value::Null).await;
    let cursor = cursors.first().expect("a first item").clone();
    let (value, id) = position(&cursor);
    let (expected, _) = ids(app, query, 10, cursor).await;
    assert_eq!(expected.len(), 3, "{expected:?}");
    let (got, _) = ids(app, query, 10, json!(earlier(value, id))).await;
    assert_eq!(got, expected);
}

db_test! {
    async fn a_phone_number_cursor_of_the_earlier_format_continues_the_list(app) {
        for n in 0..4 {
            app.add_phone_number(app.org.id, Mode::Test, &format!("+1415555010{n}")).await;
        }
        continues(&app, PHONE_NUMBERS, |created, id| {
            URL_SAFE_NO_PAD.encode(json!({ "c": created, "id": id }).to_string())
        })
        .await;
    }
}

db_test! {
    async fn a_member_cursor_of_the_earlier_format_continues_the_list(app) {
        for role in [Role::Owner, Role::Admin, Role::Member, Role::Viewer] {
            app.member(app.org.id, role).await;
        }
        continues(&app, MEMBERS, |joined, id| {
            URL_SAFE_NO_PAD.encode(format!("{joined}|{id}"))
        })
        .await;
    }
}

db_test! {
    async fn an_endpoint_cursor_written_by_hand_in_the_one_format_continues_the_list(app) {
        for n in 0..4 {
            app.create_ok(&app.org.test_key, json!({ "name": format!("e{n}"), "type": "WEBHOOK",
                "url": format!("https://hooks.example/{n}") })).await;
        }
        continues(&app, ENDPOINTS, |created, id| {
            URL_SAFE_NO_PAD.encode(json!({ "f": "c", "d": "d", "v": created, "id": id }).to_string())
        })
        .await;
    }
}

db_test! {
    async fn a_cursor_continues_only_the_list_that_gave_it_out(app) {
        for n in 0..2 {
            app.add_phone_number(app.org.id, Mode::Test, &format!("+1415555020{n}")).await;
            app.create_ok(&app.org.test_key, json!({ "name": format!("e{n}"), "type": "WEBHOOK",
                "url": format!("https://hooks.example/{n}") })).await;
        }
        app.member(app.org.id, Role::Admin).await;
        let first = |query| ids(&app, query, 1, Value::Null);
        let lists = [
            ("endpoints", ENDPOINTS, first(ENDPOINTS).await.1),
            ("phone numbers", PHONE_NUMBERS, first(PHONE_NUMBERS).await.1),
            ("members", MEMBERS, first(MEMBERS).await.1),
        ];
        for (from, _, cursors) in &lists {
            for (to, query, _) in lists.iter().filter(|(to, ..)| to != from) {
                let res = app
                    .graphql(&app.org.test_key, query, json!({ "first": 1, "after": cursors[0] }))
                    .await;
                assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{from} in {to}: {}", res.body);
            }
        }
    }
}
