//! The phone-number connection and its filter.

use super::*;
use crate::domain::phone_numbers::{self, NumberFilter};

/// Narrows a list of phone numbers; all given conditions must hold.
#[derive(InputObject, Debug, Default, Clone)]
pub struct PhoneNumberFilter {
    /// Only numbers routed to an endpoint (`true`), or to none (`false`).
    pub attached: Option<bool>,
    /// A part of the E.164 form, e.g. `+1415` or `555`.
    pub search: Option<String>,
}

impl From<PhoneNumberFilter> for NumberFilter {
    fn from(f: PhoneNumberFilter) -> Self {
        Self {
            attached: f.attached,
            search: f.search,
        }
    }
}

/// What `totalCount` of `phoneNumbers` counts: the numbers the filter matches for the actor.
pub struct PhoneNumberCount {
    pub actor: Actor,
    pub filter: NumberFilter,
}

impl TotalCount for PhoneNumberCount {
    async fn total(&self, db: &crate::db::Db) -> Result<u64, crate::domain::DomainError> {
        phone_numbers::count(db, &self.actor, &self.filter).await
    }
}

connection!(
    PhoneNumberConnection,
    #[doc = "A phone number in a list, with its cursor."]
    PhoneNumberEdge,
    node: PhoneNumber from phone_numbers::PhoneNumber,
    cursor: "Opaque; pass it as `after` to continue after this number.",
    nodes: "The numbers of `edges`, without cursors.",
    total_count: PhoneNumberCount => "How many numbers match the filter, across all pages.",
);
