//! Database client spans: the system and the statement's operation, never its text or values.

use sea_orm::DbBackend;

use super::TARGET;

/// A span for one statement on `backend`.
pub fn statement_span(backend: DbBackend, sql: &str) -> tracing::Span {
    let span = tracing::info_span!(
        target: TARGET,
        "db",
        otel.name = tracing::field::Empty,
        otel.kind = "client",
        db.system.name = system(backend),
        db.operation.name = tracing::field::Empty,
    );
    if !span.is_disabled() {
        let operation = operation(sql);
        span.record("otel.name", operation);
        span.record("db.operation.name", operation);
    }
    span
}

fn system(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "postgresql",
        DbBackend::Sqlite => "sqlite",
        _ => "other_sql",
    }
}

/// The statement's first keyword, from a closed list (anything else is `OTHER`), so no part
/// of a statement's text is ever copied.
pub fn operation(sql: &str) -> &'static str {
    let word = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    const KNOWN: [&str; 12] = [
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "WITH",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "PRAGMA",
        "SET",
    ];
    KNOWN
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(word))
        .unwrap_or("OTHER")
}
