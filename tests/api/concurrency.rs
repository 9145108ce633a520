//! Racing writers: many clients at once through both transports get answers, never a server
//! error; concurrent changes to one endpoint lose nothing; racing deletes have one winner.
//! Long: each race needs its own set-up and its own check of the final state.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cockpit_gateway::domain::provider::{ProviderConfig, Secret, secret_context};
use cockpit_gateway::domain::{Mode, Role, api_keys};
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::helpers::*;

const CREATE: &str = "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) {
    endpoint { id phoneNumbers { id } } userErrors { field message code } } }";
const UPDATE: &str = "mutation($input: UpdateEndpointInput!) { updateEndpoint(input: $input) {
    endpoint { id name status } userErrors { field message code } } }";
const UPDATE_SECRETS: &str = "mutation($input: UpdateEndpointInput!) {
    updateEndpoint(input: $input) { endpoint { id providerConfig { __typename
        ... on VogentConfig { vogentSipUsername sipPasswordSet }
        ... on CustomSipConfig { username passwordSet } } }
    userErrors { field message code } } }";
const CREATE_KEY: &str = "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) {
    apiKey { id } plaintextKey userErrors { field message code } } }";
const REVOKE_KEY: &str = "mutation($id: UUID!) { revokeApiKey(input: { id: $id }) {
    apiKey { id revokedAt } userErrors { field message code } } }";

/// An answer as it came, whatever its body: a server error need not be JSON.
struct Answer {
    /// 0 when no answer came at all (the connection broke).
    status: u16,
    /// The JSON body; the text as a string when it is not JSON; null when empty.
    body: Value,
}

impl Answer {
    /// `extensions.code` of every top-level GraphQL error, and REST's `code`.
    fn codes(&self) -> Vec<&str> {
        let mut codes: Vec<&str> = self.body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["extensions"]["code"].as_str())
            .collect();
        codes.extend(self.body["code"].as_str());
        codes
    }

    fn is_server_error(&self) -> bool {
        self.status == 0 || self.status >= 500 || self.codes().contains(&"INTERNAL_SERVER_ERROR")
    }

    /// A GraphQL mutation's payload when the request succeeded without any error.
    fn payload(&self, field: &str) -> Option<&Value> {
        let payload = &self.body["data"][field];
        (self.status == 200
            && self.body.get("errors").is_none()
            && payload["userErrors"] == json!([]))
        .then_some(payload)
    }

    /// Refused because the endpoint is gone: a GraphQL `NOT_FOUND` error with no payload, or
    /// REST's 404.
    fn is_not_found(&self, field: &str) -> bool {
        if self.body.get("errors").is_some() {
            self.status == 200
                && self.codes() == ["NOT_FOUND"]
                && self.body["data"][field].is_null()
        } else {
            self.status == 404 && self.body["code"] == "NOT_FOUND"
        }
    }

    fn show(&self) -> String {
        format!("{} {}", self.status, self.body)
    }
}

/// Sends requests like a client of its own, from any task.
#[derive(Clone)]
struct Caller {
    client: reqwest::Client,
    address: String,
}

impl Caller {
    fn of(app: &TestApp) -> Self {
        Self {
            client: app.client.clone(),
            address: app.address.clone(),
        }
    }

    async fn send(req: reqwest::RequestBuilder) -> Answer {
        let res = match req.send().await {
            Ok(res) => res,
            Err(e) => {
                return Answer {
                    status: 0,
                    body: Value::String(format!("no answer: {e}")),
                };
            }
        };
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_else(|e| format!("no body: {e}"));
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer { status, body }
    }

    async fn graphql(&self, token: &str, query: &str, variables: Value) -> Answer {
        let req = self
            .client
            .post(format!("{}/graphql", self.address))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }));
        Self::send(req).await
    }

    async fn rest(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Answer {
        let mut req = self
            .client
            .request(method, format!("{}/v1{path}", self.address))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::send(req).await
    }

    async fn delete(&self, token: &str, id: &str, over_rest: bool) -> Answer {
        if over_rest {
            self.rest(Method::DELETE, &format!("/endpoints/{id}"), token, None)
                .await
        } else {
            self.graphql(token, DELETE, json!({ "input": { "id": id } }))
                .await
        }
    }
}

/// Whether a delete over either transport answered success for `id`.
fn deleted(answer: &Answer, id: &str) -> bool {
    match answer.body.get("data") {
        Some(_) => answer
            .payload("deleteEndpoint")
            .is_some_and(|p| p["deletedEndpointId"] == id),
        None => answer.status == StatusCode::NO_CONTENT.as_u16(),
    }
}

/// What went wrong, sorted: server errors, and any other answer that was not the expected one.
#[derive(Default)]
struct Log {
    server_errors: Vec<String>,
    surprises: Vec<String>,
}

impl Log {
    /// Files `answer` when it is a server error, or else when it is not `expected`.
    fn check(&mut self, what: &str, answer: &Answer, expected: bool) -> bool {
        if answer.is_server_error() {
            self.server_errors
                .push(format!("{what}: {}", answer.show()));
            return false;
        }
        if !expected {
            self.surprises.push(format!("{what}: {}", answer.show()));
        }
        expected
    }

    fn merge(&mut self, other: Log) {
        self.server_errors.extend(other.server_errors);
        self.surprises.extend(other.surprises);
    }

    #[track_caller]
    fn assert_clean(&self) {
        assert!(
            self.server_errors.is_empty(),
            "{} server errors, e.g. {:#?}",
            self.server_errors.len(),
            &self.server_errors[..self.server_errors.len().min(10)]
        );
        assert!(
            self.surprises.is_empty(),
            "{} unexpected answers, e.g. {:#?}",
            self.surprises.len(),
            &self.surprises[..self.surprises.len().min(10)]
        );
    }
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

const CLIENTS: usize = 32;
const MIXED_ROUNDS: usize = 3;

/// One client of the mixed workload: its credentials and what it may touch.
struct Client {
    n: usize,
    caller: Caller,
    /// An API key of its own, so that no client waits on another's rate-limit bucket.
    key: String,
    /// An owner's session, for the API-key mutations.
    owner: String,
    /// A free phone number per round.
    phones: Vec<Uuid>,
    /// The endpoints everyone tries to delete, two per round.
    shared: Vec<String>,
    /// Every client deletes a shared endpoint at once.
    start: Arc<Barrier>,
}

/// What one client did and saw.
#[derive(Default)]
struct Outcome {
    log: Log,
    created: usize,
    /// Successful deletes of its own endpoints.
    deleted: usize,
    /// The shared endpoints its delete won.
    shared_wins: Vec<usize>,
    /// (phone number, the endpoint created with it).
    routed: Vec<(Uuid, String)>,
    api_keys: Vec<String>,
}

impl Client {
    async fn run(self) -> Outcome {
        let mut out = Outcome::default();
        // Connections (HTTP and the database pool's) opened up front, so that the first
        // round's deletes race as closely as the later ones'.
        for token in [&self.key, &self.owner] {
            let res = self
                .caller
                .graphql(token, "{ viewer { organizationId } }", json!({}))
                .await;
            let ok = res.status == 200 && res.body.get("errors").is_none();
            out.log
                .check(&format!("client {}: viewer", self.n), &res, ok);
        }
        for round in 0..MIXED_ROUNDS {
            self.round(round, &mut out).await;
        }
        out
    }

    /// deleteEndpoint of shared endpoint `s`, by all clients at once: one wins.
    async fn delete_shared(&self, s: usize, out: &mut Outcome) {
        self.start.wait().await;
        let id = &self.shared[s];
        let res = self.caller.delete(&self.key, id, self.n % 2 == 1).await;
        if deleted(&res, id) {
            out.shared_wins.push(s);
        } else {
            let gone = res.is_not_found("deleteEndpoint");
            let what = format!("client {}: delete shared {s}", self.n);
            out.log.check(&what, &res, gone);
        }
    }

    async fn round(&self, round: usize, out: &mut Outcome) {
        let (n, caller, key) = (self.n, &self.caller, self.key.as_str());
        let tag = format!("client {n} round {round}");

        self.delete_shared(2 * round, out).await;

        // createEndpoint without a phone number.
        let res = caller
            .graphql(
                key,
                CREATE,
                json!({ "input": { "name": format!("Hook {n}.{round}"),
                "type": "WEBHOOK", "url": format!("https://hooks.example.com/{n}/{round}") } }),
            )
            .await;
        let webhook = res.payload("createEndpoint").map(|p| id_of(&p["endpoint"]));
        out.log
            .check(&format!("{tag}: create webhook"), &res, webhook.is_some());

        // createEndpoint routing a phone number of its own.
        let phone = self.phones[round];
        let res = caller
            .graphql(key, CREATE, json!({ "input": { "name": format!("Agent {n}.{round}"),
                "type": "VAPI", "providerConfig": { "vapi": { "assistantId": format!("asst_{n}_{round}") } },
                "phoneNumberId": phone } }))
            .await;
        let agent = res.payload("createEndpoint").and_then(|p| {
            (p["endpoint"]["phoneNumbers"] == json!([{ "id": phone }]))
                .then(|| id_of(&p["endpoint"]))
        });
        out.log.check(
            &format!("{tag}: create with a phone number"),
            &res,
            agent.is_some(),
        );

        // POST /v1/endpoints.
        let uri = format!("sip:c{n}r{round}@pbx.example.com");
        let res = caller
            .rest(
                Method::POST,
                "/endpoints",
                key,
                Some(json!({ "name": format!("PBX {n}.{round}"),
                "type": "custom_sip", "url": uri, "provider_config": { "sip_uri": uri,
                    "username": "first", "password": format!("first-{n}-{round}") } })),
            )
            .await;
        let pbx = (res.status == StatusCode::CREATED.as_u16()).then(|| id_of(&res.body));
        out.log
            .check(&format!("{tag}: REST create"), &res, pbx.is_some());
        out.created += [&webhook, &agent, &pbx]
            .iter()
            .filter(|e| e.is_some())
            .count();
        if let Some(agent) = &agent {
            out.routed.push((phone, agent.clone()));
        }

        // updateEndpoint: name, status, provider config; PATCH over REST.
        if let Some(id) = &webhook {
            let res = caller
                .graphql(
                    key,
                    UPDATE,
                    json!({ "input": { "id": id, "name": format!("Hook {n}.{round} renamed") } }),
                )
                .await;
            let ok = res.payload("updateEndpoint").is_some();
            out.log.check(&format!("{tag}: update name"), &res, ok);
        }
        if let Some(id) = &agent {
            let res = caller
                .graphql(
                    key,
                    UPDATE,
                    json!({ "input": { "id": id, "status": "INACTIVE" } }),
                )
                .await;
            let ok = res
                .payload("updateEndpoint")
                .is_some_and(|p| p["endpoint"]["status"] == "INACTIVE");
            out.log.check(&format!("{tag}: update status"), &res, ok);
            let res = caller
                .rest(
                    Method::PATCH,
                    &format!("/endpoints/{id}"),
                    key,
                    Some(
                        json!({ "name": format!("Agent {n}.{round} patched"), "status": "active" }),
                    ),
                )
                .await;
            let ok = res.status == StatusCode::OK.as_u16() && res.body["status"] == "active";
            out.log.check(&format!("{tag}: REST PATCH"), &res, ok);
        }
        if let Some(id) = &pbx {
            let res = caller
                .graphql(key, UPDATE_SECRETS, json!({ "input": { "id": id, "providerConfig": { "customSip": {
                    "sipUri": uri, "username": "second", "password": format!("second-{n}-{round}") } } } }))
                .await;
            let ok = res
                .payload("updateEndpoint")
                .is_some_and(|p| p["endpoint"]["providerConfig"]["username"] == "second");
            out.log
                .check(&format!("{tag}: update provider config"), &res, ok);
        }

        self.delete_shared(2 * round + 1, out).await;

        // deleteEndpoint of its own, over GraphQL and REST.
        if let Some(id) = &webhook {
            let res = caller.delete(key, id, false).await;
            let ok = deleted(&res, id);
            out.deleted += usize::from(out.log.check(&format!("{tag}: delete own"), &res, ok));
        }
        if let Some(id) = &pbx {
            let res = caller.delete(key, id, true).await;
            let ok = deleted(&res, id);
            out.deleted += usize::from(out.log.check(&format!("{tag}: REST delete own"), &res, ok));
        }

        // createApiKey and revokeApiKey, as an owner.
        let res = caller
            .graphql(
                &self.owner,
                CREATE_KEY,
                json!({ "input": { "name": format!("key {n}.{round}"), "mode": "TEST" } }),
            )
            .await;
        let made = res
            .payload("createApiKey")
            .filter(|p| p["plaintextKey"].is_string())
            .map(|p| id_of(&p["apiKey"]));
        out.log
            .check(&format!("{tag}: createApiKey"), &res, made.is_some());
        if let Some(id) = made {
            let res = caller
                .graphql(&self.owner, REVOKE_KEY, json!({ "id": id }))
                .await;
            let ok = res
                .payload("revokeApiKey")
                .is_some_and(|p| p["apiKey"]["revokedAt"].is_string());
            out.log.check(&format!("{tag}: revokeApiKey"), &res, ok);
            out.api_keys.push(id);
        }
    }
}

db_test! {
    async fn concurrent_writers_of_every_mutation_get_no_server_error(app) {
        let mut shared = Vec::new();
        for s in 0..2 * MIXED_ROUNDS {
            let e = app
                .create_ok(&app.org.test_key, json!({ "name": format!("Shared {s}"), "type": "WEBHOOK",
                    "url": format!("https://hooks.example.com/shared/{s}") }))
                .await;
            shared.push(id_of(&e));
        }
        let start = Arc::new(Barrier::new(CLIENTS));
        let mut clients = Vec::new();
        for n in 0..CLIENTS {
            let key = api_keys::system::create(&app.db, app.org.id, Mode::Test, &format!("client {n}"))
                .await
                .expect("a key per client")
                .plaintext;
            let (_, owner) = app.member(app.org.id, Role::Owner).await;
            let mut phones = Vec::new();
            for round in 0..MIXED_ROUNDS {
                phones.push(app.add_phone_number(app.org.id, Mode::Test, &format!("+1555{n:03}{round:04}")).await);
            }
            clients.push(Client { n, caller: Caller::of(&app), key, owner, phones, shared: shared.clone(),
                start: start.clone() });
        }
        let rows_before = app.endpoint_rows().await;

        let mut tasks = JoinSet::new();
        for client in clients {
            tasks.spawn(client.run());
        }
        let mut log = Log::default();
        let (mut created, mut deleted_own) = (0, 0);
        let mut wins: HashMap<usize, usize> = HashMap::new();
        let mut routed = Vec::new();
        let mut made_keys = Vec::new();
        while let Some(outcome) = tasks.join_next().await {
            let outcome = outcome.expect("a client task ends without panicking");
            log.merge(outcome.log);
            created += outcome.created;
            deleted_own += outcome.deleted;
            for s in outcome.shared_wins {
                *wins.entry(s).or_default() += 1;
            }
            routed.extend(outcome.routed);
            made_keys.extend(outcome.api_keys);
        }
        log.assert_clean();
        assert_eq!(created, 3 * CLIENTS * MIXED_ROUNDS, "every create succeeded");
        assert_eq!(deleted_own, 2 * CLIENTS * MIXED_ROUNDS, "every delete of an own endpoint succeeded");
        for s in 0..2 * MIXED_ROUNDS {
            assert_eq!(wins.get(&s), Some(&1), "exactly one delete of shared endpoint {s} succeeded: {wins:?}");
        }

        // The stored state adds up: creates minus successful deletes.
        let shared_deleted: usize = wins.values().sum();
        let rows_after = app.endpoint_rows().await;
        let expected = i64::try_from(created - deleted_own - shared_deleted).expect("small") + rows_before;
        assert_eq!(rows_after, expected, "endpoints = before + creates - successful deletes");
        let endpoints: HashSet<Uuid> = entity::endpoint::Entity::find()
            .all(&app.db)
            .await
            .expect("endpoints")
            .into_iter()
            .map(|e| e.id)
            .collect();
        let phones: HashMap<Uuid, Option<Uuid>> = entity::phone_number::Entity::find()
            .all(&app.db)
            .await
            .expect("phone numbers")
            .into_iter()
            .map(|p| (p.id, p.endpoint_id))
            .collect();
        for (phone, endpoint) in &phones {
            if let Some(endpoint) = endpoint {
                assert!(endpoints.contains(endpoint), "phone number {phone} routes to a missing endpoint {endpoint}");
            }
        }
        for (phone, endpoint) in &routed {
            let endpoint = Uuid::parse_str(endpoint).expect("uuid");
            assert_eq!(phones.get(phone), Some(&Some(endpoint)), "phone number {phone} still routes to its endpoint");
        }
        assert_eq!(made_keys.len(), CLIENTS * MIXED_ROUNDS);
        for id in &made_keys {
            let row = entity::api_key::Entity::find_by_id(Uuid::parse_str(id).expect("uuid"))
                .one(&app.db)
                .await
                .expect("query")
                .expect("the key is stored");
            assert!(row.revoked_at.is_some(), "key {id} is revoked");
        }
    }
}

/// The stored provider config of endpoint `id`, as written.
async fn stored_config(app: &TestApp, id: &str) -> ProviderConfig {
    let id = Uuid::parse_str(id).expect("uuid");
    let row = entity::endpoint::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("query")
        .expect("row");
    ProviderConfig::from_stored(row.r#type, row.provider_config.as_ref())
        .expect("decodes")
        .expect("has a config")
}

fn open(app: &TestApp, id: &str, field: &str, secret: &Secret) -> String {
    let id = Uuid::parse_str(id).expect("uuid");
    secret
        .open(&app.secrets, &secret_context(id, field))
        .expect("opens with the app's key")
}

/// (username, password) as stored for a Vogent or custom SIP endpoint.
async fn stored_credentials(app: &TestApp, id: &str) -> (Option<String>, Option<String>) {
    match stored_config(app, id).await {
        ProviderConfig::Vogent(c) => (
            Some(c.vogent_sip_username.to_string()),
            Some(open(app, id, "vogent_sip_password", &c.vogent_sip_password)),
        ),
        ProviderConfig::CustomSip(c) => (
            c.username.map(|u| u.to_string()),
            c.password.map(|p| open(app, id, "password", &p)),
        ),
        other => panic!("not a SIP config with credentials: {other:?}"),
    }
}

const CREDENTIAL_ROUNDS: usize = 30;

db_test! {
    async fn racing_password_and_username_changes_lose_neither(app) {
        // A provider config replaces the stored one whole, except that a secret left out is
        // kept. So each round races, on a Vogent and a custom SIP endpoint, (a) a config that
        // sets the new password P_i (restating the round's username U_i, which a config can't
        // leave out without clearing it) against three of (b), a config that sets the username
        // U_i and leaves the password out. In any order the result is U_i and P_i; a (b) that
        // merged over a read from before (a) would put back the old password.
        let key = app.org.test_key.clone();
        let sip_uri = "sip:desk@pbx.example.com";
        let vogent = id_of(&app
            .create_ok(&key, json!({ "name": "Vogent", "type": "VOGENT", "providerConfig": { "vogent": {
                "vogentSipPrefix": "desk", "vogentSipUsername": "user-0", "vogentSipPassword": "pass-0" } } }))
            .await);
        let sip = id_of(&app
            .create_ok(&key, json!({ "name": "PBX", "type": "CUSTOM_SIP", "url": sip_uri,
                "providerConfig": { "customSip": { "sipUri": sip_uri, "username": "user-0", "password": "pass-0" } } }))
            .await);
        let caller = Caller::of(&app);
        let mut log = Log::default();
        let mut lost = Vec::new();
        for round in 1..=CREDENTIAL_ROUNDS {
            let (user, pass) = (format!("user-{round}"), format!("pass-{round}"));
            let vogent_config = |password: Option<&str>| {
                let mut c = json!({ "vogentSipPrefix": "desk", "vogentSipUsername": user });
                if let Some(p) = password {
                    c["vogentSipPassword"] = json!(p);
                }
                json!({ "input": { "id": vogent, "providerConfig": { "vogent": c } } })
            };
            let sip_config = |password: Option<&str>| {
                let mut c = json!({ "sipUri": sip_uri, "username": user });
                if let Some(p) = password {
                    c["password"] = json!(p);
                }
                json!({ "input": { "id": sip, "providerConfig": { "customSip": c } } })
            };
            // The password change goes out first, second, third or last.
            let mut updates = Vec::new();
            for n in 0..4 {
                if n == round % 4 {
                    updates.push(("vogent password", vogent_config(Some(&pass))));
                    updates.push(("custom SIP password", sip_config(Some(&pass))));
                } else {
                    updates.push(("vogent username", vogent_config(None)));
                    updates.push(("custom SIP username", sip_config(None)));
                }
            }
            let mut tasks = JoinSet::new();
            for (what, variables) in updates {
                let caller = caller.clone();
                let key = key.clone();
                tasks.spawn(async move { (what, caller.graphql(&key, UPDATE_SECRETS, variables).await) });
            }
            while let Some(done) = tasks.join_next().await {
                let (what, res) = done.expect("an update task ends without panicking");
                let ok = res.payload("updateEndpoint").is_some_and(|p| {
                    let c = &p["endpoint"]["providerConfig"];
                    c["sipPasswordSet"] == true || c["passwordSet"] == true
                });
                log.check(&format!("round {round}: {what}"), &res, ok);
            }
            for (name, id) in [("vogent", &vogent), ("custom SIP", &sip)] {
                let stored = stored_credentials(&app, id).await;
                if stored != (Some(user.clone()), Some(pass.clone())) {
                    lost.push(format!("round {round}: {name} holds {stored:?}, not ({user}, {pass})"));
                }
            }
        }
        log.assert_clean();
        assert!(
            lost.is_empty(),
            "{} of {} changes were lost: {lost:#?}",
            lost.len(),
            2 * CREDENTIAL_ROUNDS
        );
    }
}

const DELETE_ROUNDS: usize = 12;
const DELETERS: usize = 8;

db_test! {
    async fn concurrent_deletes_of_one_endpoint_have_one_winner(app) {
        let key = app.org.test_key.clone();
        let caller = Caller::of(&app);
        let mut log = Log::default();
        let mut winners = Vec::new();
        for round in 0..DELETE_ROUNDS {
            // GraphQL only, REST only, then both at once.
            let transport = |n: usize| match round % 3 {
                0 => false,
                1 => true,
                _ => n % 2 == 1,
            };
            let phone = app.add_phone_number(app.org.id, Mode::Test, &format!("+1666000{round:04}")).await;
            let id = id_of(&app
                .create_ok(&key, json!({ "name": format!("Doomed {round}"), "type": "VAPI",
                    "providerConfig": { "vapi": { "assistantId": format!("asst_{round}") } }, "phoneNumberId": phone }))
                .await);
            let mut tasks = JoinSet::new();
            for n in 0..DELETERS {
                let (caller, key, id) = (caller.clone(), key.clone(), id.clone());
                let over_rest = transport(n);
                tasks.spawn(async move { (over_rest, caller.delete(&key, &id, over_rest).await) });
            }
            let mut won = 0;
            while let Some(done) = tasks.join_next().await {
                let (over_rest, res) = done.expect("a delete task ends without panicking");
                let what = format!("round {round}: {} delete", if over_rest { "REST" } else { "GraphQL" });
                if deleted(&res, &id) {
                    won += 1;
                } else {
                    log.check(&what, &res, res.is_not_found("deleteEndpoint"));
                }
            }
            winners.push(won);
            let row = entity::endpoint::Entity::find_by_id(Uuid::parse_str(&id).expect("uuid"))
                .one(&app.db)
                .await
                .expect("query");
            if row.is_some() {
                log.surprises.push(format!("round {round}: the endpoint is still there"));
            }
            let number = entity::phone_number::Entity::find_by_id(phone)
                .one(&app.db)
                .await
                .expect("query")
                .expect("the number stays");
            if row.is_none() && number.endpoint_id.is_some() {
                log.surprises.push(format!("round {round}: its phone number is still attached"));
            }
        }
        log.assert_clean();
        assert_eq!(winners, [1; DELETE_ROUNDS], "exactly one delete succeeds in every round");
    }
}

const RACE_ROUNDS: usize = 10;

db_test! {
    async fn concurrent_updates_and_a_delete_never_answer_500(app) {
        let key = app.org.test_key.clone();
        let caller = Caller::of(&app);
        let mut log = Log::default();
        let (mut updated, mut refused) = (0, 0);
        for round in 0..RACE_ROUNDS {
            let uri = format!("sip:race{round}@pbx.example.com");
            let id = id_of(&app
                .create_ok(&key, json!({ "name": format!("Racing {round}"), "type": "CUSTOM_SIP", "url": uri,
                    "providerConfig": { "customSip": { "sipUri": uri, "username": "u", "password": "p" } } }))
                .await);
            let updates = [
                ("name", json!({ "name": format!("Renamed {round}") })),
                ("status", json!({ "status": "INACTIVE" })),
                ("provider config", json!({ "providerConfig": { "customSip": { "sipUri": uri, "username": "v", "password": "q" } } })),
                ("url", json!({ "url": format!("sip:moved{round}@pbx.example.com") })),
            ];
            let mut tasks = JoinSet::new();
            // Each change over both transports, and the delete (every other round over REST)
            // sent out in the middle of them.
            for n in 0..2 * updates.len() {
                if n == updates.len() {
                    let (caller, key, id) = (caller.clone(), key.clone(), id.clone());
                    tasks.spawn(async move {
                        let res = caller.delete(&key, &id, round % 2 == 1).await;
                        let ok = deleted(&res, &id);
                        ("delete".to_owned(), res, ok)
                    });
                }
                let (caller, key, id) = (caller.clone(), key.clone(), id.clone());
                let over_rest = n % 2 == 1;
                let (what, patch) = updates[n / 2].clone();
                tasks.spawn(async move {
                    let (what, res) = if over_rest {
                        let body = match what {
                            "status" => json!({ "status": "inactive" }),
                            "provider config" => json!({ "provider_config": { "sip_uri": uri_of(&patch), "username": "v", "password": "q" } }),
                            _ => patch,
                        };
                        (format!("REST PATCH {what}"), caller.rest(Method::PATCH, &format!("/endpoints/{id}"), &key, Some(body)).await)
                    } else {
                        let mut input = patch;
                        input["id"] = json!(id);
                        (format!("update {what}"), caller.graphql(&key, UPDATE, json!({ "input": input })).await)
                    };
                    let ok = if over_rest {
                        res.status == StatusCode::OK.as_u16() && res.body["id"] == id
                    } else {
                        res.payload("updateEndpoint").is_some_and(|p| p["endpoint"]["id"] == id)
                    };
                    (what, res, ok)
                });
            }
            while let Some(done) = tasks.join_next().await {
                let (what, res, ok) = done.expect("a task ends without panicking");
                let what = format!("round {round}: {what}");
                if what.ends_with("delete") {
                    log.check(&what, &res, ok);
                } else if ok {
                    updated += 1;
                } else if log.check(&what, &res, res.is_not_found("updateEndpoint")) {
                    refused += 1;
                }
            }
            let row = entity::endpoint::Entity::find_by_id(Uuid::parse_str(&id).expect("uuid"))
                .one(&app.db)
                .await
                .expect("query");
            if row.is_some() {
                log.surprises.push(format!("round {round}: the endpoint outlived its delete"));
            }
        }
        log.assert_clean();
        assert_eq!(updated + refused, 8 * RACE_ROUNDS, "every update answered");
    }
}

/// The SIP URI in a GraphQL custom SIP patch.
fn uri_of(patch: &Value) -> Value {
    patch["providerConfig"]["customSip"]["sipUri"].clone()
}

db_test! {
    async fn writes_of_endpoints_and_numbers_in_every_order_never_deadlock(app) {
        // Writes of one organization run side by side on PostgreSQL, and only some take its
        // lock: keyed requests of many fields that lock endpoints and numbers in opposite
        // orders, keyed requests of one field, and plain attaches, detaches, updates, creates
        // with a number and deletes, all at once, round after round. None may fail (a
        // deadlock the database breaks is an error), and every number ends routed to one
        // endpoint or none.
        let token = app.org.test_key.clone();
        let caller = Caller::of(&app);
        let mut endpoints = Vec::new();
        for name in ["E1", "E2", "E3"] {
            let created = app
                .create_ok(&token, json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example/e" }))
                .await;
            endpoints.push(created["id"].as_str().expect("id").to_owned());
        }
        let mut numbers = Vec::new();
        for n in 0..3 {
            let id = app.add_phone_number(app.org.id, Mode::Test, &format!("+1555010{n:04}")).await;
            numbers.push(id.to_string());
        }
        let attach = |p: &str, e: &str| format!("attachPhoneNumber(input: {{ phoneNumberId: \"{p}\", endpointId: \"{e}\", reassign: true }}) {{ userErrors {{ code }} }}");
        let detach = |p: &str| format!("detachPhoneNumber(input: {{ phoneNumberId: \"{p}\" }}) {{ userErrors {{ code }} }}");
        let rename = |e: &str, name: &str| format!("updateEndpoint(input: {{ id: \"{e}\", name: \"{name}\" }}) {{ userErrors {{ code }} }}");
        let (e, p) = (&endpoints, &numbers);
        for round in 0..4 {
            let keyed = [
                format!("mutation {{ a: {} b: {} c: {} d: {} }}", rename(&e[0], "A"), detach(&p[1]), attach(&p[0], &e[1]), rename(&e[2], "A")),
                format!("mutation {{ a: {} b: {} c: {} d: {} }}", rename(&e[2], "B"), attach(&p[1], &e[0]), detach(&p[0]), rename(&e[0], "B")),
                format!("mutation {{ a: {} }}", attach(&p[2], &e[2])),
                format!("mutation {{ a: {} }}", rename(&e[1], "C")),
            ];
            let plain = [
                format!("mutation {{ a: {} }}", attach(&p[2], &e[0])),
                format!("mutation {{ a: {} }}", attach(&p[0], &e[2])),
                format!("mutation {{ a: {} }}", detach(&p[2])),
                format!("mutation {{ a: {} }}", rename(&e[1], "D")),
                format!("mutation {{ a: {} }}", rename(&e[0], "D")),
                format!("mutation {{ a: createEndpoint(input: {{ name: \"R{round}\", type: WEBHOOK, url: \"https://hooks.example/r\", phoneNumberId: \"{}\" }}) {{ endpoint {{ id }} userErrors {{ code }} }} }}", p[1]),
            ];
            let mut tasks = JoinSet::new();
            for (n, query) in keyed.into_iter().enumerate() {
                let (caller, token) = (caller.clone(), token.clone());
                tasks.spawn(async move {
                    let req = caller
                        .client
                        .post(format!("{}/graphql", caller.address))
                        .bearer_auth(token)
                        .header("idempotency-key", format!("order-{round}-{n}"))
                        .json(&json!({ "query": query }));
                    (query, Caller::send(req).await)
                });
            }
            for query in plain {
                let (caller, token) = (caller.clone(), token.clone());
                tasks.spawn(async move {
                    let answer = caller.graphql(&token, &query, json!({})).await;
                    (query, answer)
                });
            }
            let mut created = Vec::new();
            while let Some(done) = tasks.join_next().await {
                let (query, answer) = done.expect("a writer");
                assert!(!answer.is_server_error(), "round {round}: {query}: {}", answer.show());
                assert!(answer.body.get("errors").is_none(), "round {round}: {query}: {}", answer.show());
                if let Some(id) = answer.body["data"]["a"]["endpoint"]["id"].as_str() {
                    created.push(id.to_owned());
                }
            }
            // The endpoints created with a number go, with a delete each, beside more
            // attaches to them.
            let mut tasks = JoinSet::new();
            for id in created {
                let delete = format!("mutation {{ a: deleteEndpoint(input: {{ id: \"{id}\" }}) {{ deletedEndpointId userErrors {{ code }} }} }}");
                for query in [delete, format!("mutation {{ a: {} }}", attach(&p[0], &id))] {
                    let (caller, token) = (caller.clone(), token.clone());
                    tasks.spawn(async move {
                        let answer = caller.graphql(&token, &query, json!({})).await;
                        (query, answer)
                    });
                }
            }
            while let Some(done) = tasks.join_next().await {
                let (query, answer) = done.expect("a writer");
                assert!(!answer.is_server_error(), "round {round}: {query}: {}", answer.show());
                assert!(answer.body.get("errors").is_none(), "round {round}: {query}: {}", answer.show());
                // An attach to an endpoint deleted first is refused for its input.
                let user_errors = &answer.body["data"]["a"]["userErrors"];
                assert!(
                    *user_errors == json!([]) || *user_errors == json!([{ "code": "ENDPOINT_NOT_FOUND" }]),
                    "round {round}: {query}: {}",
                    answer.show()
                );
            }
        }
        // Every number routes to one live endpoint or none.
        let listed = caller
            .graphql(&token, "{ phoneNumbers(first: 10) { nodes { id endpointId } } }", json!({}))
            .await;
        let nodes = listed.body["data"]["phoneNumbers"]["nodes"].as_array().expect("numbers").clone();
        assert_eq!(nodes.len(), 3, "{}", listed.show());
        for node in nodes {
            assert!(
                node["endpointId"].is_null() || endpoints.iter().any(|e| node["endpointId"] == e.as_str()),
                "{}",
                listed.show()
            );
        }
    }
}
