//! `node` and `nodes`: any object with an id, by that id alone. An id says its type
//! (`domain::ids`), so each is one lookup; an id made before ids said their type is looked for
//! in each type in turn. Tenancy is each type's own reads': another organization's or mode's
//! object is "not found", exactly as a missing one. Every lookup is paid for, found or not
//! (`Lookups`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql::{Context, ErrorExtensions, ID, Object, PathSegment};
use uuid::Uuid;

use crate::code::Code;
use crate::domain::events::live::Delivery;
use crate::domain::events::{self, Reader};
use crate::domain::events::{ENDPOINT_TYPES, PHONE_NUMBER_TYPES};
use crate::domain::ids::{self, Kind};
use crate::domain::{
    Actor, DomainError, api_keys, endpoints, members, organizations, phone_numbers,
};
use crate::graphql::Services;
use crate::graphql::error::{actor, coded, null_on_error};
use crate::graphql::global_id;
use crate::graphql::subscription::{EndpointEvent, PhoneNumberEvent};
use crate::graphql::types::{
    ApiKey, Endpoint, Event, Node, Organization, OrganizationMember, PhoneNumber,
};

/// The most ids `nodes` takes at once.
pub const MAX_NODES: usize = 100;

#[derive(Default)]
pub struct NodeQuery;

/// A request's lookups by id that returned no object: each is work for the database that the
/// response doesn't show, so it is paid for as an object returned is (a found object is the
/// lookup that found it).
#[derive(Clone, Default)]
pub struct Lookups(Arc<AtomicU64>);

impl Lookups {
    /// Lookups that returned no object so far.
    pub fn unanswered(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Notes `made` lookups for one id, the last of which found its object when `found`.
    pub(super) fn note(ctx: &Context<'_>, made: u64, found: bool) {
        if let Some(lookups) = ctx.data_opt::<Lookups>() {
            lookups
                .0
                .fetch_add(made.saturating_sub(u64::from(found)), Ordering::Relaxed);
        }
    }
}

#[Object]
impl NodeQuery {
    /// The object with this id, if the caller may see it; otherwise null and a NOT_FOUND
    /// error (an object of another organization or mode is not found either).
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let (found, made) = find(services, actor, &id).await;
        Lookups::note(ctx, made, found.is_ok());
        Ok(null_on_error(ctx, found))
    }

    /// Up to 100 objects by id, in the order asked; each one the caller can't see is null,
    /// with its error at its index.
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Option<Node>>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        if ids.len() > MAX_NODES {
            return Err(coded(
                format!(
                    "`nodes` takes at most {MAX_NODES} ids; this request gives {}",
                    ids.len()
                ),
                Code::BadUserInput,
            ));
        }
        let mut found = Vec::with_capacity(ids.len());
        for (index, id) in ids.iter().enumerate() {
            let (found_one, made) = find(services, actor, id).await;
            Lookups::note(ctx, made, found_one.is_ok());
            match found_one {
                Ok(node) => found.push(Some(node)),
                Err(err) => {
                    let error = err.extend().into_server_error(ctx.item.pos);
                    let mut error = ctx.set_error_path(error);
                    error.path.push(PathSegment::Index(index));
                    ctx.add_error(error);
                    found.push(None);
                }
            }
        }
        Ok(found)
    }
}

/// The object `id` names, as the actor's own reads of its type find it, and how many
/// lookups finding it took.
async fn find(services: &Services, actor: &Actor, id: &ID) -> (Result<Node, DomainError>, u64) {
    let uuid = match global_id::parse(id, "id") {
        Ok(uuid) => uuid,
        Err(err) => return (Err(err), 0),
    };
    let candidates = ids::candidates(uuid);
    if let [kind] = candidates {
        return (find_kind(services, actor, *kind, uuid).await, 1);
    }
    let mut made = 0;
    for kind in candidates {
        made += 1;
        match find_kind(services, actor, *kind, uuid).await {
            Err(DomainError::NotFound(_) | DomainError::Forbidden(_)) => continue,
            found => return (found, made),
        }
    }
    (Err(DomainError::NotFound("object")), made)
}

async fn find_kind(
    services: &Services,
    actor: &Actor,
    kind: Kind,
    uuid: Uuid,
) -> Result<Node, DomainError> {
    let db = &services.db;
    Ok(match kind {
        Kind::Endpoint => Node::Endpoint(Endpoint(endpoints::get(db, actor, uuid).await?)),
        Kind::PhoneNumber => Node::PhoneNumber(PhoneNumber::from(
            phone_numbers::get(db, actor, uuid).await?,
        )),
        Kind::ApiKey => Node::ApiKey(ApiKey::from(api_keys::get(db, actor, uuid).await?)),
        Kind::Organization => Node::Organization(Organization::from(
            organizations::get(db, actor, uuid).await?,
        )),
        Kind::OrganizationMember => Node::OrganizationMember(OrganizationMember::from(
            members::get(db, actor, uuid).await?,
        )),
        Kind::Event => Node::Event(Event(events::get(db, actor, uuid, Reader::Log).await?)),
        // A delivery's id is its event's, retagged.
        Kind::EndpointEvent => {
            let event = ids::retag(uuid, Kind::Event);
            let reader = Reader::Subscriber(&ENDPOINT_TYPES);
            Node::EndpointEvent(EndpointEvent(Delivery::new(
                events::get(db, actor, event, reader).await?,
            )))
        }
        Kind::PhoneNumberEvent => {
            let event = ids::retag(uuid, Kind::Event);
            let reader = Reader::Subscriber(&PHONE_NUMBER_TYPES);
            Node::PhoneNumberEvent(PhoneNumberEvent(Delivery::new(
                events::get(db, actor, event, reader).await?,
            )))
        }
    })
}
