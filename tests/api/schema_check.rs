//! `cockpit-gateway schema check` run as a process on temporary files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cockpit_gateway::domain::{Mode, usage};
use serde_json::json;

use crate::helpers::*;

const SCHEMA: &str = include_str!("../../schema.graphql");

/// The checked-in schema as an older one that also had `Viewer.legacyPlan` and `Query.retired`.
fn older_schema() -> String {
    SCHEMA
        .replacen(
            "type Viewer {\n",
            "type Viewer {\n\tlegacyPlan: String\n",
            1,
        )
        .replacen("type Query {\n", "type Query {\n\tretired: Int\n", 1)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a temporary file");
    path
}

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cockpit-gateway"))
        .args(["schema", "check"])
        .args(args)
        .output()
        .expect("run cockpit-gateway schema check")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn schema_check_fails_on_a_breaking_change_a_trusted_document_uses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = write(dir.path(), "old.graphql", &older_schema());
    let manifest = write(
        dir.path(),
        "documents.json",
        r#"{"plan": "query Plan { viewer { legacyPlan mode } }", "mode": "query Mode { viewer { mode } }"}"#,
    );
    let out = check(&[
        "--against",
        old.to_str().expect("utf-8 path"),
        "--documents",
        manifest.to_str().expect("utf-8 path"),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "breaking, in use: Viewer.legacyPlan: field `Viewer.legacyPlan` was removed\n  trusted document plan (Plan)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("breaking, safe to ship: Query.retired: field `Query.retired` was removed\n"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("breaking changes in use: 1"));
}

#[test]
fn schema_check_lists_breaking_changes_nobody_uses_and_passes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = write(dir.path(), "old.graphql", &older_schema());
    let new = write(dir.path(), "new.graphql", SCHEMA);
    // An Apollo persisted query manifest, read as `--trusted-documents` reads it.
    let manifest = write(
        dir.path(),
        "apollo.json",
        r#"{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"m1","name":"Mode","type":"query","body":"query Mode { viewer { mode } }"}]}"#,
    );
    let out = check(&[
        "--against",
        old.to_str().expect("utf-8 path"),
        "--schema",
        new.to_str().expect("utf-8 path"),
        "--documents",
        manifest.to_str().expect("utf-8 path"),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let coordinates: Vec<(&str, bool)> = report["breakingChanges"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| {
            (
                c["coordinate"].as_str().unwrap_or_default(),
                c["inUse"] == true,
            )
        })
        .collect();
    assert_eq!(
        coordinates,
        [("Query.retired", false), ("Viewer.legacyPlan", false)]
    );
    assert_eq!(report["documentsChecked"], 1);
}

#[test]
fn schema_check_of_the_gateways_own_schema_against_itself_passes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = write(dir.path(), "old.graphql", SCHEMA);
    let out = check(&["--against", old.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "breaking changes: 0, in use: 0, safe to ship: 0 (no trusted documents or usage given)\n"
    );
}

#[test]
fn schema_check_exits_2_on_input_it_cant_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let invalid = write(dir.path(), "invalid.graphql", "type {");
    let old = write(dir.path(), "old.graphql", SCHEMA);
    let not_a_manifest = write(dir.path(), "documents.json", "[]");
    let missing = dir.path().join("missing.graphql");
    let fifo = dir.path().join("fifo.graphql");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let long_line = write(dir.path(), "long.graphql", &"[".repeat(200_000));
    for (args, says) in [
        (
            vec!["--against", missing.to_str().expect("utf-8")],
            "can't be read",
        ),
        (
            vec!["--against", invalid.to_str().expect("utf-8")],
            "is not valid SDL",
        ),
        (
            vec![
                "--against",
                old.to_str().expect("utf-8"),
                "--documents",
                not_a_manifest.to_str().expect("utf-8"),
            ],
            "not a JSON object",
        ),
        // A device or a pipe is refused at once, not read forever or waited on.
        (vec!["--against", "/dev/zero"], "not a regular file"),
        (
            vec![
                "--against",
                old.to_str().expect("utf-8"),
                "--schema",
                fifo.to_str().expect("utf-8"),
            ],
            "not a regular file",
        ),
        (
            vec![
                "--against",
                old.to_str().expect("utf-8"),
                "--documents",
                "/dev/zero",
            ],
            "not a regular file",
        ),
        // The parser's quote of a 200 KB line is cut.
        (
            vec!["--against", long_line.to_str().expect("utf-8")],
            "is not valid SDL",
        ),
    ] {
        let out = check(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.len() < 1000, "{args:?}: {} bytes", stderr.len());
    }
}

/// Usage is read from a database that exists, and only read: a URL naming none, or one
/// without the usage table (not migrated, not a gateway's), is an input that can't be read
/// (exit 2), and no database or key file is made.
#[test]
fn schema_check_reads_usage_only_from_a_database_that_exists() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old = write(dir.path(), "old.graphql", SCHEMA);
    let absent = dir.path().join("absent.db");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").expect("an empty file");
    for (url, says) in [
        (
            format!("sqlite://{}", absent.display()),
            "there is no database file",
        ),
        (
            format!("sqlite://{}", empty.display()),
            "no field usage table",
        ),
        (
            "postgres://postgres@127.0.0.1:1/none".to_owned(),
            "can't be reached",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_cockpit-gateway"))
            .args([
                "schema",
                "check",
                "--against",
                old.to_str().expect("utf-8"),
                "--usage-days",
                "7",
            ])
            .env("DATABASE_URL", &url)
            .env_remove("COCKPIT_SECRET_KEY")
            .env("RUST_LOG", "error")
            .output()
            .expect("run cockpit-gateway schema check");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains(says), "{url}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    assert!(!absent.exists(), "the check made a database");
    assert!(
        !dir.path().join("absent.db.secret-key").exists(),
        "the check made a key file"
    );
}

db_test! {
    async fn schema_check_names_the_clients_that_used_a_removed_field_recently(app) {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = write(dir.path(), "old.graphql", &older_schema());
        let today = chrono::Utc::now().date_naive();
        usage::add(&app.db, today, &[("Viewer.legacyPlan", "billing-dashboard", 3)])
            .await
            .expect("usage recorded");
        // Used only 40 days ago: outside a 7-day window.
        let long_ago = today - chrono::Days::new(40);
        usage::add(&app.db, long_ago, &[("Query.retired", "old-script", 9)])
            .await
            .expect("usage recorded");
        let out = Command::new(env!("CARGO_BIN_EXE_cockpit-gateway"))
            .args(["schema", "check", "--against", old.to_str().expect("utf-8"), "--usage-days", "7"])
            .env("DATABASE_URL", &app.test_db.url)
            .env("COCKPIT_SECRET_KEY", &app.test_db.secret_key)
            .env("RUST_LOG", "error")
            .output()
            .expect("run cockpit-gateway schema check");
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
        assert!(stdout.contains("breaking, in use: Viewer.legacyPlan"), "{stdout}");
        assert!(stdout.contains("billing-dashboard"), "{stdout}");
        assert!(stdout.contains("breaking, safe to ship: Query.retired"), "{stdout}");
        assert!(!stdout.contains("old-script"), "{stdout}");
    }
}

/// The clients a removed argument or enum value breaks are found in the usage the gateway
/// itself recorded: arguments, input fields and enum values are counted as fields are.
async fn schema_check_finds_clients_of_removed_arguments_and_enum_values(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_config(|c| c.usage.flush_interval = std::time::Duration::from_millis(100))
        .spawn()
        .await
        .expect(POSTGRES_UNSET);
    let auth = format!("Bearer {}", app.org.key(Mode::Test));
    app.post(
        &[("authorization", &auth), ("graphql-client-name", "ops-console")],
        json!({
            "query": "query($t: [EndpointType!]) { endpoints(filter: { types: $t }) { totalCount } }",
            "variables": { "t": ["VAPI"] },
        }),
    )
    .await
    .assert_ok();
    for _ in 0..100 {
        let used = usage::clients_of(&app.db, "EndpointType.VAPI", 1)
            .await
            .expect("read usage");
        if !used.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let old = write(dir.path(), "old.graphql", SCHEMA);
    let run = |new: String| {
        let new = write(dir.path(), "new.graphql", &new);
        let out = Command::new(env!("CARGO_BIN_EXE_cockpit-gateway"))
            .args(["schema", "check", "--against", old.to_str().expect("utf-8")])
            .args([
                "--schema",
                new.to_str().expect("utf-8"),
                "--usage-days",
                "7",
            ])
            .env("DATABASE_URL", &app.test_db.url)
            .env("COCKPIT_SECRET_KEY", &app.test_db.secret_key)
            .env("RUST_LOG", "error")
            .output()
            .expect("run cockpit-gateway schema check");
        (
            out.status.code(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    };
    let without_value = SCHEMA.replacen("\tVAPI\n", "", 1);
    assert_ne!(without_value, SCHEMA);
    let (code, stdout) = run(without_value);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("breaking, in use: EndpointType.VAPI"),
        "{stdout}"
    );
    assert!(stdout.contains("ops-console"), "{stdout}");
    // An enum value nobody passed is safe to remove, as far as usage tells.
    let (code, stdout) = run(SCHEMA.replacen("\tRETELL\n", "", 1));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("breaking, safe to ship: EndpointType.RETELL"),
        "{stdout}"
    );
    // The argument itself, and the input field it set.
    let without_filter = SCHEMA.replacen("filter: EndpointFilter,", "", 1);
    assert_ne!(without_filter, SCHEMA);
    let (code, stdout) = run(without_filter);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("breaking, in use: Query.endpoints(filter:)"),
        "{stdout}"
    );
    let without_types = SCHEMA.replacen(
        "\t\"\"\"\n\tOnly endpoints of these types.\n\t\"\"\"\n\ttypes: [EndpointType!]\n",
        "",
        1,
    );
    assert_ne!(without_types, SCHEMA);
    let (code, stdout) = run(without_types);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("breaking, in use: EndpointFilter.types"),
        "{stdout}"
    );
}

#[tokio::test]
async fn schema_check_finds_clients_of_removed_arguments_and_enum_values_on_sqlite() {
    schema_check_finds_clients_of_removed_arguments_and_enum_values(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn schema_check_finds_clients_of_removed_arguments_and_enum_values_on_postgres() {
    schema_check_finds_clients_of_removed_arguments_and_enum_values(Backend::Postgres).await;
}
