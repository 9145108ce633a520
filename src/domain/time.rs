//! Times as every transport writes them, and which of them can be an endpoint's version.

use chrono::{DateTime, SecondsFormat, Utc};

/// The one form of a time on every transport (GraphQL, REST, events, messages): RFC 3339 in
/// UTC with `Z` and exactly three fractional digits, `2026-01-02T03:04:05.678Z`, as a
/// JavaScript `Date`'s `toISOString()` writes it.
pub fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Whether `at` can be a version: times are written at `entity::PRECISION`, so a finer one
/// never names a version (and PostgreSQL would round it to one while SQLite compares it
/// exactly).
pub fn is_version(at: DateTime<Utc>) -> bool {
    entity::truncate(at) == at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_has_three_fractional_digits_and_z_whatever_its_value() {
        let whole = DateTime::parse_from_rfc3339("2026-01-02T03:04:05+02:00").expect("time");
        assert_eq!(format(whole.to_utc()), "2026-01-02T01:04:05.000Z");
        let fine = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678901Z").expect("time");
        assert_eq!(format(fine.to_utc()), "2026-01-02T03:04:05.678Z");
    }

    #[test]
    fn only_a_whole_millisecond_is_a_version() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z")
            .expect("time")
            .to_utc();
        assert!(is_version(at));
        assert!(!is_version(at + chrono::TimeDelta::microseconds(1)));
        assert!(!is_version(at + chrono::TimeDelta::nanoseconds(1)));
    }
}
