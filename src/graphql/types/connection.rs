//! The one Relay connection every list is served through: `edges` (each with its `cursor`),
//! `nodes`, `pageInfo` and, where the list counts, `totalCount`, over a domain `Page`.

use std::future::Future;

use crate::db::Db;
use crate::domain::DomainError;

/// How many items a list has across all its pages: what `totalCount` answers.
pub trait TotalCount {
    fn total(&self, db: &Db) -> impl Future<Output = Result<u64, DomainError>> + Send;
}

#[derive(async_graphql::SimpleObject, Debug, Clone, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

impl PageInfo {
    /// The page info of a page, as every connection gives it.
    pub fn of<T>(page: &crate::domain::page::Page<T>) -> Self {
        Self {
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            start_cursor: page.items.first().map(|item| page.cursor(item)),
            end_cursor: page.end_cursor(),
        }
    }
}

/// Declares a list's connection and edge types: the edge's description (if any), the node's
/// GraphQL type and the domain type it is made `From`, the descriptions of `cursor` and
/// `nodes`, and what `totalCount` counts with its description, for a list that counts.
macro_rules! connection {
    (
        $connection:ident, $(#[doc = $edge_doc:tt])? $edge:ident,
        node: $node:ident from $domain:ty,
        cursor: $cursor_doc:tt,
        nodes: $nodes_doc:tt
        $(, total_count: $count:ty => $count_doc:tt)? $(,)?
    ) => {
        pub struct $edge {
            pub cursor: String,
            pub node: $domain,
        }

        $(#[doc = $edge_doc])?
        #[async_graphql::Object]
        impl $edge {
            #[doc = $cursor_doc]
            async fn cursor(&self) -> &str {
                &self.cursor
            }
            async fn node(&self) -> $node {
                $node::from(self.node.clone())
            }
        }

        pub struct $connection {
            pub page: $crate::domain::page::Page<$domain>,
            $(pub count: $count,)?
        }

        #[async_graphql::Object]
        impl $connection {
            async fn edges(&self) -> Vec<$edge> {
                self.page
                    .items
                    .iter()
                    .map(|node| $edge {
                        cursor: self.page.cursor(node),
                        node: node.clone(),
                    })
                    .collect()
            }
            #[doc = $nodes_doc]
            async fn nodes(&self) -> Vec<$node> {
                self.page
                    .items
                    .iter()
                    .map(|node| $node::from(node.clone()))
                    .collect()
            }
            async fn page_info(&self) -> $crate::graphql::types::PageInfo {
                $crate::graphql::types::PageInfo::of(&self.page)
            }
            $(
                #[doc = $count_doc]
                async fn total_count(
                    &self,
                    ctx: &async_graphql::Context<'_>,
                ) -> async_graphql::Result<u64> {
                    use async_graphql::ErrorExtensions as _;
                    let services = ctx.data::<$crate::graphql::Services>()?;
                    <$count as $crate::graphql::types::TotalCount>::total(&self.count, &services.db)
                        .await
                        .map_err(|e| e.extend())
                }
            )?
        }
    };
}
pub(crate) use connection;
