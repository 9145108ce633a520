//! The phone-number connection and its filter.

use super::*;
use crate::domain::phone_numbers::{self, NumberFilter, NumberPage};

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

/// A phone number in a list, with its cursor.
#[derive(SimpleObject)]
pub struct PhoneNumberEdge {
    /// Opaque; pass it as `after` to continue after this number.
    pub cursor: String,
    pub node: PhoneNumber,
}

/// A page of phone numbers (Relay connection).
pub struct PhoneNumberConnection {
    pub page: NumberPage,
    pub filter: NumberFilter,
    pub actor: Actor,
}

#[Object]
impl PhoneNumberConnection {
    async fn edges(&self) -> Vec<PhoneNumberEdge> {
        self.page
            .items
            .iter()
            .map(|(cursor, number)| PhoneNumberEdge {
                cursor: cursor.clone(),
                node: number.clone().into(),
            })
            .collect()
    }
    /// The numbers of `edges`, without cursors.
    async fn nodes(&self) -> Vec<PhoneNumber> {
        self.page
            .items
            .iter()
            .map(|(_, number)| number.clone().into())
            .collect()
    }
    async fn page_info(&self) -> PageInfo {
        PageInfo::of(
            &self.page.items,
            self.page.has_next_page,
            self.page.has_previous_page,
        )
    }
    /// How many numbers match the filter, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        let services = ctx.data::<crate::graphql::Services>()?;
        phone_numbers::count(&services.db, &self.actor, &self.filter)
            .await
            .map_err(|e| e.extend())
    }
}
