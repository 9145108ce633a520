//! The gateways the benchmark runs: a fresh database with one organization and key, release
//! gateway processes on it, and what the benchmark reads of them (RSS, CPU time, open
//! subscriptions).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The deployment key every gateway of a run shares (a fixed test value).
const SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A database made for the run, with the organization and API key the subscribers use.
pub struct Database {
    /// The gateway binary.
    pub gateway: String,
    pub url: String,
    pub postgres: bool,
    pub key: String,
    /// Keeps the SQLite file's directory until the run ends.
    _tmp: tempfile::TempDir,
}

impl Database {
    /// A fresh database (SQLite in a temporary directory unless `url` names a PostgreSQL one,
    /// which is dropped and made again with psql), migrated, with one organization and key.
    pub fn create(gateway: String, url: Option<&str>) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let url = match url {
            Some(url) => {
                let (base, name) = url
                    .split('?')
                    .next()
                    .unwrap_or(url)
                    .rsplit_once('/')
                    .expect("a database name");
                for sql in [
                    format!("DROP DATABASE IF EXISTS {name}"),
                    format!("CREATE DATABASE {name}"),
                ] {
                    let ok = Command::new("psql")
                        .args([&format!("{base}/postgres"), "-qc", &sql])
                        .status()
                        .expect("psql");
                    assert!(ok.success(), "{sql}");
                }
                url.to_owned()
            }
            None => format!("sqlite://{}/bench.db?mode=rwc", tmp.path().display()),
        };
        let postgres = url.starts_with("postgres");
        cli(&gateway, &url, &["migrate"]);
        let org = cli(&gateway, &url, &["org", "create", "--name", "Bench"]);
        let key = cli(
            &gateway,
            &url,
            &[
                "key", "create", "--org", &org, "--mode", "test", "--name", "bench",
            ],
        );
        Self {
            gateway,
            url,
            postgres,
            key,
            _tmp: tmp,
        }
    }

    /// Another organization, and its test-mode API key.
    pub fn new_key(&self) -> String {
        let org = cli(
            &self.gateway,
            &self.url,
            &["org", "create", "--name", "Bench"],
        );
        cli(
            &self.gateway,
            &self.url,
            &[
                "key", "create", "--org", &org, "--mode", "test", "--name", "bench",
            ],
        )
    }

    /// Starts a gateway process on this database and waits until it answers.
    #[expect(
        clippy::zombie_processes,
        reason = "Gateway's Drop kills and waits for the child"
    )]
    pub async fn start(&self) -> Gateway {
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new(&self.gateway)
            .args(["serve", "--listen", &address])
            .envs(env(&self.url))
            .stdout(Stdio::null())
            .spawn()
            .expect("start the gateway");
        let client = reqwest::Client::new();
        // A minute: a gateway under a profiler starts slowly.
        for _ in 0..600 {
            if client
                .get(format!("http://{address}/healthz"))
                .send()
                .await
                .is_ok()
            {
                return Gateway {
                    child,
                    address,
                    client,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the gateway did not start");
    }
}

/// A running gateway process, stopped when dropped (before its clients let go of their
/// sockets, so the waiting closed sockets are the gateway's, not the client's ports).
pub struct Gateway {
    child: Child,
    pub address: String,
    client: reqwest::Client,
}

impl Drop for Gateway {
    /// Stops it as an operator would (SIGTERM), so that it gives back the subscription slots it
    /// holds and the next run's gateway finds its credential's slots free; killed when it
    /// takes longer than half a minute.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..300 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// Its resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
            })
            .unwrap_or(0)
    }

    /// The CPU time it has used (user and system, all threads), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // The fields after the command name (in parentheses, which may hold spaces):
        // utime and stime are the 14th and 15th of the line, in clock ticks (100 a second on
        // Linux).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (ticks(11) + ticks(12)) as f64 / 100.0
    }

    /// The subscriptions open in it, as its `/metrics` says.
    pub async fn subscriptions_open(&self) -> u64 {
        let Ok(res) = self
            .client
            .get(format!("http://{}/metrics", self.address))
            .send()
            .await
        else {
            return 0;
        };
        let text = res.text().await.unwrap_or_default();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| l.contains("subscriptions_open"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Waits (at most `within`) until `n` subscriptions are open in it; how many are.
    pub async fn await_open(&self, n: u64, within: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let open = self.subscriptions_open().await;
            if open >= n || tokio::time::Instant::now() >= deadline {
                return open;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The gateway's configuration: the limits that would stop 10,000 subscribers of one key from
/// one address are raised (nothing here measures them); 10,000 subscriptions per credential is
/// the most the gateway allows, so no run opens more.
fn env(database: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database.to_owned()),
        ("COCKPIT_SECRET_KEY", SECRET_KEY.to_owned()),
        ("COCKPIT_RATE_LIMIT_BUCKET", "1000000000".to_owned()),
        ("COCKPIT_RATE_LIMIT_RESTORE", "1000000000".to_owned()),
        (
            "COCKPIT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL",
            "10000".to_owned(),
        ),
        ("COCKPIT_MAX_CONNECTIONS_PER_IP", "1000000".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
}

fn cli(gateway: &str, database: &str, args: &[&str]) -> String {
    let out = Command::new(gateway)
        .args(args)
        .envs(env(database))
        .output()
        .expect("run the gateway's CLI");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// This process's limit of open files (the gateways it starts inherit it); each side of
/// every subscription takes one.
pub fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}
