//! `Node` (Relay's Global Object Identification): every object with an identity, found again by
//! its global id.

use super::*;

/// An object with a global id; `node(id:)` and `nodes(ids:)` fetch it again.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "The object's id: a UUID that says which type of object it names."
))]
pub enum Node {
    Endpoint(Endpoint),
    PhoneNumber(PhoneNumber),
    ApiKey(ApiKey),
    Organization(Organization),
    OrganizationMember(OrganizationMember),
    Event(Event),
    EndpointEvent(crate::graphql::subscription::EndpointEvent),
    PhoneNumberEvent(crate::graphql::subscription::PhoneNumberEvent),
}
