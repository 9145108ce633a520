//! GraphQL transport: the schema, its types, and the mapping of domain errors to GraphQL errors.

pub mod analysis;
pub mod error;
pub mod global_id;
pub mod live;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod subscription;
pub mod types;
pub mod usage;

use std::sync::Arc;

use async_graphql::{SDLExportOptions, Schema, ValidationMode};

use crate::config::Limits;
use crate::db::Db;
use crate::domain::endpoints;

pub type AppSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// What resolvers reach through `ctx.data`: the app-wide services. Per-request identity
/// (`Actor`) and loaders are added to each request by the HTTP handler.
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    pub endpoints: endpoints::Settings,
    /// The largest `first` a connection takes.
    pub max_page_size: u64,
    /// This process's live events, which subscriptions read.
    pub hub: Arc<crate::domain::events::Hub>,
    /// Makes and reads the cursors of events.
    pub cursors: crate::domain::events::Cursors,
}

/// The schema. `ValidationMode::Fast` leaves out the rules a document passes or fails by its
/// text alone, for documents that passed them already (see `analysis::InputTypes`).
pub fn build_schema(services: Services, limits: &Limits, mode: ValidationMode) -> AppSchema {
    let mut builder = Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        subscription::Subscription,
    )
    .directive(live::LiveDirective)
    .data(services)
    .validation_mode(mode);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if !limits.suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// What counts the fields, arguments, input fields and enum values operations on the schema
/// use, into `tally`.
pub fn field_usage(tally: Arc<usage::Tally>) -> usage::Usage {
    usage::Usage::new::<query::Query, mutation::Mutation, subscription::Subscription>(tally)
}

/// The SDL of the schema, as `print-schema` prints it and `schema.graphql` holds it, with the
/// specification each custom scalar follows (`@specifiedBy`), which code generators read.
pub fn sdl() -> String {
    Schema::build(
        query::Query::default(),
        mutation::Mutation::default(),
        subscription::Subscription,
    )
    .directive(live::LiveDirective)
    .finish()
    .sdl_with_options(SDLExportOptions::new().include_specified_by())
}
