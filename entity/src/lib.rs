//! SeaORM entities for the gateway's tables: one module per table, no API types.

pub mod api_key;
pub mod endpoint;
pub mod enums;
pub mod event;
pub mod idempotency_key;
pub mod organization;
pub mod organization_member;
pub mod phone_number;
pub mod prelude;
pub mod setting;

/// The current time at the precision both databases keep (microseconds), so a value read back
/// equals the value written and keyset cursors compare exactly.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}
