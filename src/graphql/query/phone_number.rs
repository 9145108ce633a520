//! `phoneNumbers`: the organization's numbers in the caller's mode, newest first.

use async_graphql::{Context, Object};

use crate::domain::phone_numbers::{self, NumberPageRequest};
use crate::graphql::Services;
use crate::graphql::error::{IntoGql, actor};
use crate::graphql::types::{PhoneNumberConnection, PhoneNumberCount, PhoneNumberFilter};

#[derive(Default)]
pub struct PhoneNumberQuery;

#[Object]
impl PhoneNumberQuery {
    /// Phone numbers of the caller's organization and mode, newest first. Cursors are opaque
    /// and stable while numbers are added.
    async fn phone_numbers(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size, from 1 to the page size limit (100 unless the gateway is configured otherwise with `--max-page-size`).",
            default = 50
        )]
        first: Option<i32>,
        #[graphql(desc = "A cursor from a previous page.")] after: Option<String>,
        filter: Option<PhoneNumberFilter>,
    ) -> async_graphql::Result<PhoneNumberConnection> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let filter: phone_numbers::NumberFilter = filter.unwrap_or_default().into();
        let first = super::first_given(ctx, first)?;
        let page = phone_numbers::list(
            &services.db,
            actor,
            NumberPageRequest {
                first,
                max_first: services.max_page_size,
                after,
                filter: filter.clone(),
            },
        )
        .await
        .gql()?;
        Ok(PhoneNumberConnection {
            page,
            count: PhoneNumberCount {
                actor: actor.clone(),
                filter,
            },
        })
    }
}
