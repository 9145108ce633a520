//! `events`: the audit log of the caller's organization, newest first.

use async_graphql::{Context, Object};

use crate::domain::events;
use crate::graphql::Services;
use crate::graphql::error::{IntoGql, actor};
use crate::graphql::types::{EventConnection, EventFilter};

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// Every change made in the caller's organization, newest first: for owners and admins
    /// signed in (both modes unless `filter.mode` picks one), and for API keys (their own
    /// mode's endpoint and phone-number changes). Events are kept for the retention period
    /// (90 days unless configured otherwise).
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size, from 1 to the page size limit (100 unless the gateway is configured otherwise with `--max-page-size`).",
            default = 50
        )]
        first: Option<i32>,
        #[graphql(desc = "An event's `cursor`: continue with the events before it.")] after: Option<
            String,
        >,
        filter: Option<EventFilter>,
    ) -> async_graphql::Result<EventConnection> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let first = super::first_given(ctx, first)?;
        let filter = events::EventFilter::from(filter.unwrap_or_default());
        let page = events::list(
            &services.db,
            &services.cursors,
            actor,
            &filter,
            first,
            services.max_page_size,
            after.as_deref(),
        )
        .await
        .gql()?;
        Ok(EventConnection { page })
    }
}
