//! Members in GraphQL: the list, and adding, re-roling and removing members, with the role
//! rules (owners alone make owners; nobody changes their own role; an organization keeps an
//! owner), tenancy and races.

use cockpit_gateway::domain::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const LIST: &str = "query($first: Int, $after: String) { members(first: $first, after: $after) { \
    totalCount edges { cursor node { id userId role } } pageInfo { hasNextPage endCursor } } }";
const ADD: &str = "mutation($input: AddMemberInput!) { addMember(input: $input) { \
    member { id userId role } memberEdge { cursor node { id } } userErrors { field message code } } }";
const UPDATE: &str = "mutation($input: UpdateMemberRoleInput!) { updateMemberRole(input: $input) { \
    member { id role } userErrors { field message code } } }";
const REMOVE: &str = "mutation($input: RemoveMemberInput!) { removeMember(input: $input) { \
    removedMemberId userErrors { field message code } } }";

/// A session in `org`.
struct Session<'a> {
    app: &'a TestApp,
    token: String,
    org: Uuid,
}

impl Session<'_> {
    async fn gql(&self, query: &str, variables: Value) -> Response {
        let auth = format!("Bearer {}", self.token);
        let org = self.org.to_string();
        self.app
            .post(
                &[
                    ("authorization", auth.as_str()),
                    ("x-organization-id", org.as_str()),
                ],
                json!({ "query": query, "variables": variables }),
            )
            .await
    }
}

/// A new member of `org` with `role`: their user id, member id and session.
async fn join(app: &TestApp, org: Uuid, role: Role) -> (String, Uuid, Session<'_>) {
    let (user, token) = app.member(org, role).await;
    let member = cockpit_gateway::domain::members::of_user(&app.db, &user)
        .await
        .expect("read");
    assert_eq!(member.len(), 1);
    let id = entity_member_id(app, org, &user).await;
    (user, id, Session { app, token, org })
}

async fn entity_member_id(app: &TestApp, org: Uuid, user: &str) -> Uuid {
    use sea_orm::EntityTrait;
    entity::organization_member::Entity::find_by_id((org, user.to_owned()))
        .one(&app.db)
        .await
        .expect("read")
        .expect("member")
        .id
}

fn codes(res: &Response, field: &str) -> Vec<String> {
    res.assert_ok()[field]["userErrors"]
        .as_array()
        .expect("userErrors")
        .iter()
        .map(|e| e["code"].as_str().expect("code").to_owned())
        .collect()
}

async fn role_of(app: &TestApp, org: Uuid, user: &str) -> Option<String> {
    use sea_orm::EntityTrait;
    entity::organization_member::Entity::find_by_id((org, user.to_owned()))
        .one(&app.db)
        .await
        .expect("read")
        .map(|m| format!("{:?}", m.role))
}

db_test! {
    async fn every_member_is_listed_to_the_organization_only(app) {
        let (_, _, owner) = join(&app, app.org.id, Role::Owner).await;
        for role in [Role::Admin, Role::Member, Role::Viewer] {
            join(&app, app.org.id, role).await;
        }
        let other = app.new_org("Other").await;
        join(&app, other.id, Role::Owner).await;
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let res = owner.gql(LIST, json!({ "first": 3, "after": after })).await;
            let list = res.assert_ok()["members"].clone();
            assert_eq!(list["totalCount"], 4, "{}", res.body);
            seen.extend(list["edges"].as_array().expect("edges").iter().map(|e| e["node"]["role"].clone()));
            if list["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = list["pageInfo"]["endCursor"].clone();
        }
        // The one who joined first first.
        assert_eq!(seen, [json!("OWNER"), json!("ADMIN"), json!("MEMBER"), json!("VIEWER")]);
        // An API key reads them too; another organization's key sees its own.
        let res = app.graphql(&app.org.test_key, LIST, json!({})).await;
        assert_eq!(res.assert_ok()["members"]["totalCount"], 4);
        let res = app.graphql(&other.test_key, LIST, json!({})).await;
        assert_eq!(res.assert_ok()["members"]["totalCount"], 1);
        let res = owner.gql(LIST, json!({ "after": "nope" })).await;
        assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{}", res.body);
    }
}

db_test! {
    async fn owners_and_admins_add_members_and_only_owners_add_owners(app) {
        let (_, _, owner) = join(&app, app.org.id, Role::Owner).await;
        let (_, _, admin) = join(&app, app.org.id, Role::Admin).await;
        let (_, _, member) = join(&app, app.org.id, Role::Member).await;
        let res = admin.gql(ADD, json!({ "input": { "userId": "new-member", "role": "MEMBER" } })).await;
        assert!(codes(&res, "addMember").is_empty(), "{}", res.body);
        let added = res.data()["addMember"].clone();
        assert_eq!(added["member"]["userId"], "new-member");
        assert_eq!(added["memberEdge"]["node"]["id"], added["member"]["id"]);
        let res = owner.gql("query($id: ID!) { node(id: $id) { __typename } }", json!({ "id": added["member"]["id"] })).await;
        assert_eq!(res.assert_ok()["node"]["__typename"], "OrganizationMember");

        for (session, input, code) in [
            (&admin, json!({ "userId": "new-owner", "role": "OWNER" }), "OWNER_ONLY"),
            (&owner, json!({ "userId": "new-member", "role": "VIEWER" }), "MEMBER_EXISTS"),
            (&owner, json!({ "userId": "", "role": "VIEWER" }), "INVALID"),
            (&owner, json!({ "userId": "a\u{0007}b", "role": "VIEWER" }), "INVALID"),
        ] {
            let res = session.gql(ADD, json!({ "input": input })).await;
            assert_eq!(codes(&res, "addMember"), [code], "{input}: {}", res.body);
        }
        assert_eq!(role_of(&app, app.org.id, "new-owner").await, None);
        assert_eq!(role_of(&app, app.org.id, "new-member").await.as_deref(), Some("Member"));
        let res = owner.gql(ADD, json!({ "input": { "userId": "new-owner", "role": "OWNER" } })).await;
        assert!(codes(&res, "addMember").is_empty(), "{}", res.body);
        // Members, viewers and API keys don't manage members.
        let res = member.gql(ADD, json!({ "input": { "userId": "x", "role": "VIEWER" } })).await;
        assert_eq!(res.error_code(), Some("FORBIDDEN"), "{}", res.body);
        let res = app.graphql(&app.org.test_key, ADD, json!({ "input": { "userId": "x", "role": "VIEWER" } })).await;
        assert_eq!(res.error_code(), Some("FORBIDDEN"), "{}", res.body);
        assert_eq!(role_of(&app, app.org.id, "x").await, None);
    }
}

db_test! {
    async fn roles_change_by_the_rules(app) {
        let (owner_user, owner_id, owner) = join(&app, app.org.id, Role::Owner).await;
        let (admin_user, admin_id, admin) = join(&app, app.org.id, Role::Admin).await;
        let (member_user, member_id, _) = join(&app, app.org.id, Role::Member).await;
        let other = app.new_org("Other").await;
        let (_, theirs, _) = join(&app, other.id, Role::Member).await;
        for (session, member, role, code) in [
            (&admin, member_id, "OWNER", "OWNER_ONLY"),
            (&admin, owner_id, "MEMBER", "OWNER_ONLY"),
            (&admin, admin_id, "MEMBER", "OWN_ROLE"),
            (&owner, owner_id, "ADMIN", "OWN_ROLE"),
            (&owner, theirs, "ADMIN", "MEMBER_NOT_FOUND"),
            (&owner, Uuid::now_v7(), "ADMIN", "MEMBER_NOT_FOUND"),
        ] {
            let res = session.gql(UPDATE, json!({ "input": { "memberId": member, "role": role } })).await;
            assert_eq!(codes(&res, "updateMemberRole"), [code], "{member} {role}: {}", res.body);
        }
        assert_eq!(role_of(&app, app.org.id, &owner_user).await.as_deref(), Some("Owner"));
        assert_eq!(role_of(&app, app.org.id, &admin_user).await.as_deref(), Some("Admin"));
        assert_eq!(role_of(&app, app.org.id, &member_user).await.as_deref(), Some("Member"));
        // Admins change non-owners; owners anyone else.
        let res = admin.gql(UPDATE, json!({ "input": { "memberId": member_id, "role": "VIEWER" } })).await;
        assert!(codes(&res, "updateMemberRole").is_empty(), "{}", res.body);
        assert_eq!(res.data()["updateMemberRole"]["member"]["role"], "VIEWER");
        let res = owner.gql(UPDATE, json!({ "input": { "memberId": admin_id, "role": "OWNER" } })).await;
        assert!(codes(&res, "updateMemberRole").is_empty(), "{}", res.body);
        assert_eq!(role_of(&app, app.org.id, &admin_user).await.as_deref(), Some("Owner"));
    }
}

db_test! {
    async fn removal_keeps_an_owner_and_ends_access_at_once(app) {
        let (_, first_id, first) = join(&app, app.org.id, Role::Owner).await;
        let (_, second_id, second) = join(&app, app.org.id, Role::Owner).await;
        let (_, admin_id, admin) = join(&app, app.org.id, Role::Admin).await;
        let res = admin.gql(REMOVE, json!({ "input": { "memberId": first_id } })).await;
        assert_eq!(codes(&res, "removeMember"), ["OWNER_ONLY"], "{}", res.body);
        let res = first.gql(REMOVE, json!({ "input": { "memberId": admin_id } })).await;
        assert!(codes(&res, "removeMember").is_empty(), "{}", res.body);
        assert_eq!(res.data()["removeMember"]["removedMemberId"], admin_id.to_string());
        // The removed admin's session is refused from its next request.
        let res = admin.gql("{ viewer { role } }", json!({})).await;
        assert!(matches!(res.error_code(), Some("FORBIDDEN" | "UNAUTHENTICATED")), "{}", res.body);
        let res = first.gql(REMOVE, json!({ "input": { "memberId": second_id } })).await;
        assert!(codes(&res, "removeMember").is_empty(), "{}", res.body);
        // The last owner stays, even asking to leave.
        let res = first.gql(REMOVE, json!({ "input": { "memberId": first_id } })).await;
        assert_eq!(codes(&res, "removeMember"), ["LAST_OWNER"], "{}", res.body);
        let _ = second;
    }
}

db_test! {
    async fn two_owners_removing_each_other_leave_one(app) {
        for round in 0..5 {
            let org = app.new_org(&format!("Race {round}")).await;
            let (_, a_id, a) = join(&app, org.id, Role::Owner).await;
            let (_, b_id, b) = join(&app, org.id, Role::Owner).await;
            let (ra, rb) = tokio::join!(
                a.gql(REMOVE, json!({ "input": { "memberId": b_id } })),
                b.gql(REMOVE, json!({ "input": { "memberId": a_id } })),
            );
            let outcomes = [ra.body.clone(), rb.body.clone()];
            let removed = [&ra, &rb]
                .iter()
                .filter(|r| r.body["data"]["removeMember"]["userErrors"] == json!([]))
                .count();
            assert_eq!(removed, 1, "round {round}: {outcomes:?}");
            let res = app.graphql(&org.test_key, LIST, json!({})).await;
            let list = res.assert_ok()["members"].clone();
            assert_eq!(list["totalCount"], 1, "round {round}: {outcomes:?}");
            assert_eq!(list["edges"][0]["node"]["role"], "OWNER");
        }
    }
}

db_test! {
    async fn a_removed_member_acts_no_more_even_within_the_request(app) {
        // Mutations run in order: once the caller has left, the same document's next ones
        // act with no role at all, not with the role it authenticated with.
        let (_, _, _first) = join(&app, app.org.id, Role::Owner).await;
        let (_, second_id, second) = join(&app, app.org.id, Role::Owner).await;
        let doc = "mutation($me: UUID!) { \
            leave: removeMember(input: { memberId: $me }) { removedMemberId userErrors { code } } \
            after: addMember(input: { userId: \"intruder\", role: ADMIN }) { member { id } userErrors { code } } }";
        let res = second.gql(doc, json!({ "me": second_id })).await;
        assert_eq!(res.body["data"]["leave"]["removedMemberId"], second_id.to_string(), "{}", res.body);
        assert_eq!(res.body["data"]["after"], Value::Null, "{}", res.body);
        assert_eq!(res.error_code(), Some("FORBIDDEN"), "{}", res.body);
        assert_eq!(role_of(&app, app.org.id, "intruder").await, None);
    }
}

db_test! {
    async fn user_ids_that_look_like_others_are_refused(app) {
        let (_, _, owner) = join(&app, app.org.id, Role::Owner).await;
        for user in [" owner2", "owner2 ", "owner2\u{200b}", "\u{202e}evil", "a b", &"x".repeat(256)] {
            let res = owner.gql(ADD, json!({ "input": { "userId": user, "role": "VIEWER" } })).await;
            assert_eq!(codes(&res, "addMember"), ["INVALID"], "{user:?}: {}", res.body);
        }
        // 255 characters, not bytes.
        let res = owner.gql(ADD, json!({ "input": { "userId": "é".repeat(255), "role": "VIEWER" } })).await;
        assert!(codes(&res, "addMember").is_empty(), "{}", res.body);
    }
}
