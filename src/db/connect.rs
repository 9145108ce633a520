//! Opening the database: connection options for SQLite (embedded default) and PostgreSQL,
//! the SQLite file kept to its owner, and migrations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgSslMode;
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use super::ACQUIRE_TIMEOUT;

pub fn connect_options(url: &str) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(16)
        .min_connections(1)
        .connect_timeout(ACQUIRE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .sqlx_logging(false)
        // sqlx pings a connection before handing it out and again when it comes back: two
        // round trips around each request's one. As HikariCP does, a connection used within
        // the last half second is taken to work; one idle longer (perhaps cut by the server or
        // a proxy) is tried first, and the ping on release still finds those that broke. The
        // cost: a connection killed in that half second fails the one request that gets it.
        .test_before_acquire_if_idle_for(Duration::from_millis(500))
        // WAL lets readers proceed while one connection writes; without a busy timeout a
        // concurrent writer would fail at once instead of waiting its turn.
        .map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    // `PGSSLMODE` in the environment is a choice as explicit as the URL's.
    if loopback_without_sslmode(url) && std::env::var_os("PGSSLMODE").is_none() {
        // Bytes to a database on this host never leave it: encrypting them costs CPU on every
        // request and protects nothing. A URL that names `sslmode` still gets its way.
        opts.map_sqlx_postgres_opts(|o| o.ssl_mode(PgSslMode::Disable));
    }
    opts
}

/// A PostgreSQL URL for a database on the loopback interface (or a Unix socket) that leaves
/// TLS to the driver's default, which is to try it.
fn loopback_without_sslmode(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    if !matches!(parsed.scheme(), "postgres" | "postgresql")
        || parsed
            .query_pairs()
            .any(|(k, _)| matches!(k.as_ref(), "sslmode" | "ssl-mode" | "host"))
    {
        return false;
    }
    // `postgres:` isn't a scheme the URL standard knows, so its IPv4 hosts come as names.
    match parsed.host() {
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => match name.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => name.eq_ignore_ascii_case("localhost"),
        },
        None => false,
    }
}

pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    if let Some(SqliteLocation::File(path)) = sqlite_location(url) {
        restrict_file(&path).map_err(|e| {
            DbErr::Custom(format!(
                "the database file {} can't be made private: {e}",
                path.display()
            ))
        })?;
    }
    Database::connect(connect_options(url)).await
}

/// Opens a database that already exists, to read it: nothing is created (a SQLite file that
/// isn't there is an error), nothing is migrated. The error says why in one line, without
/// the driver's details.
pub async fn connect_existing(url: &str) -> Result<DatabaseConnection, String> {
    match sqlite_location(url) {
        Some(SqliteLocation::File(path)) if !path.is_file() => {
            return Err(format!("there is no database file at {}", path.display()));
        }
        Some(SqliteLocation::Memory) => {
            return Err("an in-memory database holds nothing to read".to_owned());
        }
        _ => {}
    }
    let mut opts = connect_options(url);
    opts.map_sqlx_sqlite_opts(|o| o.create_if_missing(false));
    Database::connect(opts)
        .await
        .map_err(|_| "the database can't be reached".to_owned())
}

/// Where a SQLite URL keeps its data; `None` for other databases.
pub enum SqliteLocation {
    File(PathBuf),
    Memory,
}

pub fn sqlite_location(url: &str) -> Option<SqliteLocation> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        return Some(SqliteLocation::Memory);
    }
    Some(SqliteLocation::File(PathBuf::from(path)))
}

/// The database holds sealed secrets, key hashes and every organization's data: it is the
/// owner's alone. The file is created 0600 before SQLite opens it, and SQLite gives its WAL
/// and shared-memory files the database file's mode; an existing file readable by others is
/// narrowed to 0600, with its WAL and shared-memory files.
fn restrict_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = PathBuf::from(name);
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
                tracing::warn!(file = %file.display(), "narrowed the database file's permissions to 0600");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

#[cfg(test)]
mod tests {
    use super::loopback_without_sslmode;

    #[test]
    fn only_a_loopback_postgres_url_that_leaves_tls_to_the_default_goes_without_it() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgresql://u:p@localhost/db",
            "postgres://u@[::1]:5433/db?application_name=x",
            "postgres://u@127.8.0.1/db",
        ] {
            assert!(loopback_without_sslmode(url), "{url}");
        }
        for url in [
            "postgres://u@db.internal:5432/db",
            "postgres://u@10.0.0.5/db",
            "postgres://u@127.0.0.1/db?sslmode=require",
            "postgres://u@localhost/db?ssl-mode=verify-full",
            "postgres://u@localhost/db?host=db.internal",
            "sqlite://cockpit.db?mode=rwc",
            "not a url",
        ] {
            assert!(!loopback_without_sslmode(url), "{url}");
        }
    }
}
