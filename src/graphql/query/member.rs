//! `members`: everyone in the caller's organization, the one who joined first first.

use async_graphql::{Context, Object};

use crate::domain::members;
use crate::graphql::Services;
use crate::graphql::error::{IntoGql, actor};
use crate::graphql::types::{MemberCount, OrganizationMemberConnection};

#[derive(Default)]
pub struct MemberQuery;

#[Object]
impl MemberQuery {
    /// Every member of the caller's organization, the one who joined first first.
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size, from 1 to the page size limit (100 unless the gateway is configured otherwise with `--max-page-size`).",
            default = 50
        )]
        first: Option<i32>,
        #[graphql(desc = "A cursor from a previous page.")] after: Option<String>,
    ) -> async_graphql::Result<OrganizationMemberConnection> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let first = super::first_given(ctx, first)?;
        let page = members::list(
            &services.db,
            actor,
            first,
            services.max_page_size,
            after.as_deref(),
        )
        .await
        .gql()?;
        Ok(OrganizationMemberConnection {
            page,
            count: MemberCount(actor.clone()),
        })
    }
}
