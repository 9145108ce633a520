//! SeaORM entities for the gateway's tables: one module per table, no API types.

pub mod api_key;
pub mod endpoint;
pub mod enums;
pub mod event;
pub mod event_watermark;
pub mod field_usage;
pub mod idempotency_key;
pub mod organization;
pub mod organization_member;
pub mod phone_number;
pub mod prelude;
pub mod setting;
pub mod stream_ticket;
pub mod subscription_slot;

/// The precision of every time the gateway writes: a millisecond. Both databases keep it
/// exactly, and so does a client's native date type (a JavaScript `Date` holds milliseconds),
/// so a time read back, or sent back as a version, is the time that was written.
pub const PRECISION: chrono::TimeDelta = chrono::TimeDelta::milliseconds(1);

/// The current time at [`PRECISION`].
pub fn now() -> chrono::DateTime<chrono::Utc> {
    truncate(chrono::Utc::now())
}

/// `at` without what is finer than [`PRECISION`].
pub fn truncate(at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::DurationRound;
    at.duration_trunc(PRECISION).unwrap_or(at)
}
