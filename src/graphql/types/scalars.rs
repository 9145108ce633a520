//! The `DateTime` scalar: one form for every time, which a client's native date type holds.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime, Utc};

use crate::domain::time;

/// GraphQL's `DateTime` (the Rust name keeps chrono's `DateTime` free).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub DateTime<Utc>);

/// A point in time, written as RFC 3339 in UTC with `Z` and exactly three fractional digits
/// (`2026-01-02T03:04:05.678Z`), as a JavaScript `Date`'s `toISOString()` writes it: a time
/// read into a client's date type and sent back (`expectedUpdatedAt`) is the same time. Input
/// takes any RFC 3339 time.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://scalars.graphql.org/andimarek/date-time"
)]
impl ScalarType for Timestamp {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => Ok(Self(text.parse()?)),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(time::format(self.0))
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at)
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(at: Timestamp) -> Self {
        at.0
    }
}
