//! An operation made ready once, made ready again for another run: a live query's re-runs, each
//! a request like the first (the same document, variables and actor) with data of its own.

use std::sync::Arc;

use super::{Ready, with_actor};
use crate::domain::Actor;
use crate::graphql::query::{Budget, Lookups};
use crate::http::AppState;
use crate::http::graphql::ParsedDocument;
use crate::http::graphql::order::Ran;

/// What another run of a ready operation needs, kept before its first run takes the request.
pub(in crate::http::graphql) struct Again {
    text: String,
    variables: async_graphql::Variables,
    operation_name: Option<String>,
    pub(in crate::http::graphql) parsed: Arc<ParsedDocument>,
    actor: Option<Actor>,
    budget: Budget,
    client: Arc<str>,
    /// What one run costs at least and at most (see `run::execute`).
    pub(in crate::http::graphql) floor: u64,
    pub(in crate::http::graphql) requested: u64,
}

/// One more run's request, and what its run counts for its cost.
pub(in crate::http::graphql) struct Rerun {
    pub(in crate::http::graphql) request: async_graphql::Request,
    pub(in crate::http::graphql) lookups: Lookups,
    pub(in crate::http::graphql) budget: Budget,
}

impl Ready {
    /// What running this operation again takes.
    pub(in crate::http::graphql) fn again(&self, client: Arc<str>) -> Again {
        Again {
            text: self.request.query.clone(),
            variables: self.request.variables.clone(),
            operation_name: self.operation_name.clone(),
            parsed: Arc::clone(&self.parsed),
            actor: self.actor.clone(),
            budget: self.budget.clone(),
            client,
            floor: self.floor,
            requested: self.requested,
        }
    }
}

impl Again {
    /// A request for one more run, with loaders and counts of its own (a loader caches what
    /// it read, which another run must read afresh).
    pub(in crate::http::graphql) fn rerun(&self, state: &AppState) -> Rerun {
        let lookups = Lookups::default();
        let budget = self.budget.again();
        let mut request = async_graphql::Request::new(self.text.clone())
            .variables(self.variables.clone())
            .data(lookups.clone())
            .data(budget.clone());
        request.set_parsed_query(self.parsed.runnable().clone());
        if let Some(name) = self.operation_name.clone() {
            request = request.operation_name(name);
        }
        if let Some(actor) = &self.actor {
            request = with_actor(state, request, actor.clone(), true);
        }
        Rerun {
            request,
            lookups,
            budget,
        }
    }

    /// One result of this run, as `order::finish` makes it ready; `warn` as there.
    pub(in crate::http::graphql) fn ran(&self, warn: bool) -> Ran<'_> {
        Ran {
            parsed: &self.parsed,
            operation_name: self.operation_name.as_deref(),
            variables: Some(&self.variables),
            client: &self.client,
            warn,
        }
    }
}
