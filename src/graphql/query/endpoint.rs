//! Endpoint reads: one by id, or a page of them.

use async_graphql::{Context, Object};
use uuid::Uuid;

use super::Lookups;
use crate::domain::endpoints::{self, PageRequest};
use crate::graphql::Services;
use crate::graphql::error::{IntoGql, actor, null_on_error};
use crate::graphql::types::{
    Endpoint, EndpointConnection, EndpointCount, EndpointFilter, EndpointOrder,
};

#[derive(Default)]
pub struct EndpointQuery;

#[Object]
impl EndpointQuery {
    /// One endpoint of the caller's organization and mode. Any other id, including another
    /// organization's, gives null and a NOT_FOUND error.
    async fn endpoint(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<Option<Endpoint>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let found = endpoints::get(&services.db, actor, id).await;
        Lookups::note(ctx, 1, found.is_ok());
        Ok(null_on_error(ctx, found).map(Endpoint))
    }

    /// Endpoints of the caller's organization and mode, newest first unless `orderBy` says
    /// otherwise. Cursors are opaque and stable while endpoints are added.
    async fn endpoints(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size, from 1 to the page size limit (100 unless the gateway is configured otherwise with `--max-page-size`).",
            default = 50
        )]
        first: Option<i32>,
        #[graphql(desc = "A cursor from a previous page of the same ordering.")] after: Option<
            String,
        >,
        filter: Option<EndpointFilter>,
        order_by: Option<EndpointOrder>,
    ) -> async_graphql::Result<EndpointConnection> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let filter: endpoints::EndpointFilter = filter.unwrap_or_default().into();
        let first = super::first_given(ctx, first)?;
        let page = endpoints::list(
            &services.db,
            actor,
            PageRequest {
                first,
                max_first: services.max_page_size,
                after,
                filter: filter.clone(),
                order: order_by.unwrap_or_default().into(),
            },
        )
        .await
        .gql()?;
        // A page that shows its endpoints' phone numbers loads them in one query now.
        let look_ahead = ctx.look_ahead();
        let numbers_shown = look_ahead.field("nodes").field("phoneNumbers").exists()
            || look_ahead
                .field("edges")
                .field("node")
                .field("phoneNumbers")
                .exists();
        if numbers_shown {
            let loader = ctx.data::<crate::graphql::loaders::PhoneNumbers>()?;
            let ids: Vec<Uuid> = page.items.iter().map(|e| e.id).collect();
            crate::graphql::loaders::feed_page(loader, &ids)
                .await
                .gql()?;
        }
        Ok(EndpointConnection {
            page,
            count: EndpointCount {
                actor: actor.clone(),
                filter,
            },
        })
    }
}
