//! `TestApp`: the real gateway on a random port over a fresh, migrated database, and one helper
//! per operation. `db_test!` runs a test on SQLite and on PostgreSQL; the PostgreSQL run is
//! ignored unless `TEST_DATABASE_URL` was set when the tests were built (`cfg(postgres_tests)`,
//! see build.rs). Long: a helper per operation.

use std::sync::{Arc, Mutex};

use cockpit_gateway::auth::jwt::JwtSettings;
use cockpit_gateway::config::Config;
use cockpit_gateway::db::Db;
use cockpit_gateway::domain::provider::SipDomains;
use cockpit_gateway::domain::secrets::SecretBox;
use cockpit_gateway::domain::{Mode, Role, api_keys, organizations, phone_numbers};

use crate::jwt::{HS_SECRET, JwksServer, claims, sign};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database of one backend; a PostgreSQL one is a schema of its own, dropped on drop.
pub struct TestDb {
    pub url: String,
    /// What `COCKPIT_SECRET_KEY` is for this database (base64).
    pub secret_key: String,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    /// `None` for PostgreSQL when `TEST_DATABASE_URL` is not set (`POSTGRES_UNSET`).
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
                Some(Self {
                    url,
                    secret_key: SecretBox::encode_key(&SecretBox::generate_key()),
                    _dir: Some(dir),
                    pg_schema: None,
                })
            }
            Backend::Postgres => {
                let admin_url = std::env::var("TEST_DATABASE_URL").ok()?;
                let schema = format!("t_{}", Uuid::new_v4().simple());
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("connect TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                    .await
                    .expect("create test schema");
                admin.close().await.ok();
                let sep = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}");
                Some(Self {
                    url,
                    secret_key: SecretBox::encode_key(&SecretBox::generate_key()),
                    _dir: None,
                    pg_schema: Some((admin_url, schema)),
                })
            }
        }
    }
}

impl TestDb {
    /// The same database reached through `url` (e.g. a proxy); dropping it removes nothing.
    pub fn via(&self, url: String) -> Self {
        let mut db = self.shared();
        db.url = url;
        db
    }

    /// The same database for a second gateway; dropping it removes nothing.
    pub fn shared(&self) -> Self {
        Self {
            url: self.url.clone(),
            secret_key: self.secret_key.clone(),
            _dir: None,
            pg_schema: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, schema)) = self.pg_schema.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a thread with its own runtime can block on it.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                // One connection, so the `SET` below holds for the `DROP`s after it.
                let mut options = sea_orm::ConnectOptions::new(admin_url);
                options.max_connections(1).sqlx_logging(false);
                if let Ok(admin) = Database::connect(options).await {
                    drop_schema(&admin, &schema).await;
                    admin.close().await.ok();
                }
            });
        })
        .join();
    }
}

/// Drops `schema`. The test's gateway runs on the test's runtime, which this drop blocks: a
/// transaction it had open when the test ended (a slot being taken, say) would hold its locks,
/// and the `DROP` wait for them, for ever. So the wait is bounded, and whoever holds a lock in
/// the schema then is disconnected before the next try.
async fn drop_schema(admin: &DatabaseConnection, schema: &str) {
    let _ = admin.execute_unprepared("SET lock_timeout = '2s'").await;
    for _ in 0..5 {
        if admin
            .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await
            .is_ok()
        {
            return;
        }
        let _ = admin
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
                 JOIN pg_class c ON c.oid = l.relation \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = '{schema}' AND l.pid <> pg_backend_pid()"
            ))
            .await;
    }
}

/// An organization with one key per mode and the numbers made for it.
#[derive(Debug, Clone)]
pub struct Org {
    pub id: Uuid,
    pub test_key: String,
    pub live_key: String,
}

impl Org {
    pub fn key(&self, mode: Mode) -> &str {
        match mode {
            Mode::Test => &self.test_key,
            Mode::Live => &self.live_key,
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub backend: Backend,
    /// The JWKS the gateway verifies RS256/ES256 sessions with (keys `rsa-1` and `ec-1`).
    pub jwks: JwksServer,
    pub db: Db,
    /// The pool under `db`.
    pub pool: DatabaseConnection,
    pub client: reqwest::Client,
    /// The SQL of each statement the app's connection has executed so far.
    pub statements: Arc<Mutex<Vec<String>>>,
    /// A ready organization with a test and a live key.
    pub org: Org,
    /// Seals this app's stored secrets.
    pub secrets: SecretBox,
    /// The database (dropping it removes the database).
    pub test_db: TestDb,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    /// The body without `extensions.cost`, which varies with the caller's rate-limit bucket;
    /// whole bodies stay comparable.
    pub body: Value,
    /// `extensions.cost` of the body (null when absent).
    pub cost: Value,
}

/// Splits `extensions.cost` off a response body.
pub fn split_cost(mut body: Value) -> (Value, Value) {
    let mut cost = Value::Null;
    if let Some(Value::Object(extensions)) = body.get_mut("extensions") {
        cost = extensions.remove("cost").unwrap_or(Value::Null);
        if extensions.is_empty()
            && let Value::Object(object) = &mut body
        {
            object.remove("extensions");
        }
    }
    (body, cost)
}

impl Response {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The first top-level error's `extensions.code`, if any.
    pub fn error_code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            self.body
        );
        &self.body["data"]
    }
}

/// The one answer to "the database is unavailable": 503, `Retry-After`, and every error
/// `SERVICE_UNAVAILABLE` with a message that names no cause. `body` is GraphQL's (an object or
/// a batch's array) or REST's.
#[track_caller]
pub fn assert_database_unavailable(
    what: &str,
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &serde_json::Value,
) {
    assert_eq!(
        status,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {body}"
    );
    let retry: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: Retry-After in seconds: {headers:?}"));
    assert!((1..=30).contains(&retry), "{what}: {retry}");
    let mut errors = Vec::new();
    let answers = match body {
        serde_json::Value::Array(answers) => answers.iter().collect(),
        answer => vec![answer],
    };
    for answer in answers {
        if let Some(code) = answer.get("code") {
            // REST's `{error, code}`.
            errors.push((code.clone(), answer["error"].clone()));
        }
        for error in answer["errors"].as_array().into_iter().flatten() {
            errors.push((
                error["extensions"]["code"].clone(),
                error["message"].clone(),
            ));
        }
        if let Some(data) = answer.get("data") {
            assert!(
                data.is_null()
                    || data
                        .as_object()
                        .is_some_and(|d| d.values().all(|v| v.is_null())),
                "{what}: no data: {body}"
            );
        }
    }
    assert!(!errors.is_empty(), "{what}: {body}");
    for (code, message) in errors {
        assert_eq!(code, "SERVICE_UNAVAILABLE", "{what}: {body}");
        assert_eq!(
            message, "The service is temporarily unavailable; retry the request shortly.",
            "{what}: {body}"
        );
    }
}

impl TestApp {
    /// A gateway to spawn over a fresh database of `backend` (or one given with `on`), with
    /// the harness's configuration: default limits, and sessions verified with both an HS256
    /// secret and the harness's JWKS.
    pub fn builder(backend: Backend) -> TestAppBuilder<'static> {
        TestAppBuilder {
            backend,
            db: None,
            adjust: Vec::new(),
        }
    }

    async fn start(test_db: TestDb, backend: Backend, adjust: Vec<Adjust<'_>>) -> Self {
        let jwks = JwksServer::start(&["rsa-1", "ec-1"]).await;
        let jwt = JwtSettings {
            secret: Some(HS_SECRET.to_owned()),
            jwks_url: Some(jwks.url.clone()),
            ..JwtSettings::default()
        };
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("address"),
            database_url: test_db.url.clone(),
            sip_domains: SipDomains::default(),
            secret_key: Some(test_db.secret_key.clone()),
            jwt,
            limits: Default::default(),
            rate_limit: Default::default(),
            cors_origins: Vec::new(),
            allow_private_webhooks: false,
            metrics_token: None,
            server: Default::default(),
            trusted_proxies: Default::default(),
            events: Default::default(),
            trusted_documents: Default::default(),
            usage: Default::default(),
            fault_injection: false,
        };
        for adjust in adjust {
            adjust(&mut config);
        }
        // Opened as `cockpit-gateway serve` opens it.
        let (mut db, secrets) = cockpit_gateway::startup::open(&config)
            .await
            .expect("open the test database");
        let statements = Arc::new(Mutex::new(Vec::new()));
        let record = statements.clone();
        db.set_metric_callback(move |info| {
            let sql = info.statement.sql.clone();
            record.lock().expect("statements").push(sql);
        });
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("local addr"));
        // The app and the harness write through one `Db`, so the app hears what the harness
        // does (a revocation, a commit) as it hears its own.
        let store = Db::from(db.clone());
        let app = cockpit_gateway::build_app(
            &config,
            store.clone(),
            secrets.clone(),
            cockpit_gateway::signals::Hangups::none(),
        )
        .expect("app");
        let server = config.server.clone();
        tokio::spawn(async move {
            cockpit_gateway::server::serve(listener, app, server, std::future::pending())
                .await
                .expect("serve");
        });
        let pool = db.clone();
        let db = store;
        let org = Self::make_org(&db, "Acme").await;
        Self {
            pool,
            address,
            backend,
            jwks,
            db,
            client: reqwest::Client::new(),
            statements,
            org,
            secrets,
            test_db,
        }
    }

    pub async fn make_org(db: &Db, name: &str) -> Org {
        let org = organizations::system::create(db, name)
            .await
            .expect("create org");
        let test_key = api_keys::system::create(db, org.id, Mode::Test, "test key")
            .await
            .expect("key");
        let live_key = api_keys::system::create(db, org.id, Mode::Live, "live key")
            .await
            .expect("key");
        Org {
            id: org.id,
            test_key: test_key.plaintext,
            live_key: live_key.plaintext,
        }
    }

    /// The app's event cursors (made with its key), to read where a cursor points.
    pub fn cursors(&self) -> cockpit_gateway::domain::events::Cursors {
        cockpit_gateway::domain::events::Cursors::new(&self.secrets)
    }

    /// The place in the events of the app's organization that `cursor` names.
    pub fn seq_of(&self, cursor: &Value) -> i64 {
        let text = cursor.as_str().expect("a cursor is a string");
        self.cursors()
            .decode(self.org.id, text, "cursor")
            .expect("a cursor of the app's organization")
    }

    /// A cursor before every event of the app's organization (a subscription `after` it
    /// replays the whole history), which no client is given.
    pub fn start_cursor(&self) -> String {
        self.cursors().encode(self.org.id, 0)
    }

    pub async fn new_org(&self, name: &str) -> Org {
        Self::make_org(&self.db, name).await
    }

    /// Makes `user` a member of `org` with `role`.
    pub async fn add_member(&self, org: Uuid, user: &str, role: Role) {
        cockpit_gateway::domain::members::system::upsert(&self.db, org, user, role)
            .await
            .expect("add member");
    }

    /// A valid RS256 session token for `user`.
    pub fn session(&self, user: &str) -> String {
        sign("rsa-1", Some("rsa-1"), &claims(user))
    }

    /// A new user with `role` in `org`, and their session token.
    pub async fn member(&self, org: Uuid, role: Role) -> (String, String) {
        let user = format!("user-{}", Uuid::new_v4());
        self.add_member(org, &user, role).await;
        let token = self.session(&user);
        (user, token)
    }

    pub async fn add_phone_number(&self, org: Uuid, mode: Mode, number: &str) -> Uuid {
        phone_numbers::system::create(&self.db, org, mode, number)
            .await
            .expect("add phone number")
            .id
    }

    /// The SQL of the statements run through SeaORM's executor since the first `from` (its
    /// metric callback records them; a read by id, `db::query_one`, goes to sqlx directly and
    /// isn't recorded). `statements_since(0).len()` is how many ran so far.
    pub fn statements_since(&self, from: usize) -> Vec<String> {
        self.statements.lock().expect("statements")[from..].to_vec()
    }

    /// POSTs a GraphQL operation with the given headers.
    pub async fn post(&self, headers: &[(&str, &str)], body: Value) -> Response {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let full =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        let (body, cost) = split_cost(full);
        Response {
            status,
            headers,
            body,
            cost,
        }
    }

    /// Runs `query` with `variables` as the holder of `key`.
    pub async fn graphql(&self, key: &str, query: &str, variables: Value) -> Response {
        let auth = format!("Bearer {key}");
        self.post(
            &[("authorization", auth.as_str())],
            json!({ "query": query, "variables": variables }),
        )
        .await
    }

    /// `createEndpoint` with the default test key; returns the whole payload.
    pub async fn create_endpoint(&self, key: &str, input: Value) -> Value {
        let res = self.graphql(key, &CREATE, json!({ "input": input })).await;
        res.assert_ok()["createEndpoint"].clone()
    }

    /// Creates an endpoint that must succeed; returns it.
    pub async fn create_ok(&self, key: &str, input: Value) -> Value {
        let payload = self.create_endpoint(key, input).await;
        assert_eq!(payload["userErrors"], json!([]), "{payload}");
        payload["endpoint"].clone()
    }

    pub async fn update_endpoint(&self, key: &str, input: Value) -> Response {
        self.graphql(key, &UPDATE, json!({ "input": input })).await
    }

    pub async fn delete_endpoint(&self, key: &str, id: &str) -> Response {
        self.graphql(key, DELETE, json!({ "input": { "id": id } }))
            .await
    }

    pub async fn get_endpoint(&self, key: &str, id: &str) -> Response {
        self.graphql(key, &GET, json!({ "id": id })).await
    }

    /// Rows in `endpoints`, across every organization and mode.
    pub async fn endpoint_rows(&self) -> i64 {
        self.rows("endpoints").await
    }

    /// Rows in `table`, across every organization and mode.
    pub async fn rows(&self, table: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("n")
    }
}

pub const ENDPOINT_FIELDS: &str = r#"
    id name type url status mode organizationId createdAt updatedAt
    providerConfig {
      __typename
      ... on VapiConfig { assistantId credentialId vapiPhoneNumberId }
      ... on RetellConfig { agentId retellPhoneNumber }
      ... on ElevenLabsConfig { elevenlabsAgentId }
      ... on LiveKitConfig { livekitAgentName livekitSipTrunkId livekitSipUri }
      ... on VogentConfig { vogentAgentId vogentSipPrefix vogentSipUsername sipPasswordSet }
      ... on CustomSipConfig { sipUri username passwordSet }
    }
    phoneNumbers { id e164 }
"#;

pub static CREATE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "mutation($input: CreateEndpointInput!) {{ createEndpoint(input: $input) {{ endpoint {{ {ENDPOINT_FIELDS} }} userErrors {{ field message code }} }} }}"
    )
});
pub static UPDATE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "mutation($input: UpdateEndpointInput!) {{ updateEndpoint(input: $input) {{ endpoint {{ {ENDPOINT_FIELDS} }} userErrors {{ field message code }} }} }}"
    )
});
pub const DELETE: &str = "mutation($input: DeleteEndpointInput!) { deleteEndpoint(input: $input) { deletedEndpointId userErrors { field message code } } }";
pub static GET: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("query($id: UUID!) {{ endpoint(id: $id) {{ {ENDPOINT_FIELDS} }} }}")
});

/// Runs `cockpit-gateway serve` over `db` on a free port, with `env` set; returns the process
/// and its address once it answers.
pub async fn serve_process(db: &TestDb, env: &[(&str, &str)]) -> (std::process::Child, String) {
    spawn_process(db, env, "error", std::process::Stdio::null()).await
}

/// `serve_process` logging at `info` in JSON lines, which the returned [`Log`] collects.
pub async fn serve_process_logged(
    db: &TestDb,
    env: &[(&str, &str)],
) -> (std::process::Child, String, Log) {
    let (mut child, address) = spawn_process(db, env, "info", std::process::Stdio::piped()).await;
    let stderr = child.stderr.take().expect("piped stderr");
    let log = Log::default();
    let lines = log.0.clone();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            lines.lock().expect("log lines").push(line);
        }
    });
    (child, address, log)
}

/// The log lines of a gateway process, as they come.
#[derive(Clone, Default)]
pub struct Log(Arc<std::sync::Mutex<Vec<String>>>);

impl Log {
    /// Every line logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().expect("log lines").clone()
    }

    /// The first line (a JSON object) whose fields include every one of `fields`, within 5 s.
    pub async fn wait_for(&self, fields: Value) -> Value {
        for _ in 0..100 {
            let found = self.0.lock().expect("log lines").iter().find_map(|line| {
                let line: Value = serde_json::from_str(line).ok()?;
                let fields = fields.as_object()?;
                fields
                    .iter()
                    .all(|(key, value)| line.get(key) == Some(value))
                    .then_some(line)
            });
            if let Some(line) = found {
                return line;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "no log line with {fields} in {:#?}",
            self.0.lock().expect("log lines")
        );
    }
}

async fn spawn_process(
    db: &TestDb,
    env: &[(&str, &str)],
    rust_log: &str,
    stderr: std::process::Stdio,
) -> (std::process::Child, String) {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind probe");
        probe.local_addr().expect("addr").port()
    };
    let address = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cockpit-gateway"))
        .args(["serve", "--listen", &address, "--database-url", &db.url])
        .env("COCKPIT_SECRET_KEY", &db.secret_key)
        .env("RUST_LOG", rust_log)
        .env("COCKPIT_LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn serve");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .is_ok()
        {
            return (child, address);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the gateway did not start");
}

/// A change to the harness's configuration.
type Adjust<'a> = Box<dyn FnOnce(&mut Config) + 'a>;

/// How a `TestApp` is to be spawned: `TestApp::builder(backend).with_config(|c| …).spawn()`.
pub struct TestAppBuilder<'a> {
    backend: Backend,
    db: Option<TestDb>,
    adjust: Vec<Adjust<'a>>,
}

impl<'a> TestAppBuilder<'a> {
    /// Changes the harness's configuration before the gateway starts.
    pub fn with_config<'b>(self, adjust: impl FnOnce(&mut Config) + 'b) -> TestAppBuilder<'b>
    where
        'a: 'b,
    {
        let mut adjusts: Vec<Adjust<'b>> = Vec::new();
        for earlier in self.adjust {
            adjusts.push(earlier);
        }
        adjusts.push(Box::new(adjust));
        TestAppBuilder {
            backend: self.backend,
            db: self.db,
            adjust: adjusts,
        }
    }

    /// Serves an existing database (another gateway's, or one reached through a proxy),
    /// migrated here if it isn't yet.
    pub fn on(mut self, db: TestDb) -> Self {
        self.db = Some(db);
        self
    }

    /// The running gateway; `None` for PostgreSQL when `TEST_DATABASE_URL` is not set.
    pub async fn spawn(self) -> Option<TestApp> {
        let test_db = match self.db {
            Some(db) => db,
            None => TestDb::new(self.backend).await?,
        };
        Some(TestApp::start(test_db, self.backend, self.adjust).await)
    }
}

/// Why a PostgreSQL test that runs (`--ignored`, or built with `TEST_DATABASE_URL` and run
/// without it) can't.
pub const POSTGRES_UNSET: &str = "TEST_DATABASE_URL is not set: this test needs PostgreSQL";

/// Defines a test that runs once on SQLite and once on PostgreSQL, the PostgreSQL one ignored
/// when `TEST_DATABASE_URL` is not set.
macro_rules! db_test {
    ($(#[$meta:meta])* async fn $name:ident($app:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$meta])*
            async fn run($app: crate::helpers::TestApp) $body

            #[tokio::test]
            async fn sqlite() {
                let app = crate::helpers::TestApp::builder(crate::helpers::Backend::Sqlite)
                    .spawn()
                    .await
                    .expect("SQLite is always available");
                run(app).await;
            }

            #[tokio::test]
            #[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
            async fn postgres() {
                let app = crate::helpers::TestApp::builder(crate::helpers::Backend::Postgres)
                    .spawn()
                    .await
                    .expect(crate::helpers::POSTGRES_UNSET);
                run(app).await;
            }
        }
    };
}
pub(crate) use db_test;
