//! Endpoint writes. Rule breaks come back as `userErrors`; auth, tenancy and server faults as
//! top-level errors.

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use uuid::Uuid;

use super::payload;
use crate::domain::endpoints::{self, EndpointPatch, NewEndpoint};
use crate::domain::{Actor, DomainError, Field, FieldError, UserErrorCode};
use crate::graphql::Services;
use crate::graphql::error::actor;
use crate::graphql::types::{
    CreateProviderConfigInput, Endpoint, EndpointEdge, EndpointOrder, EndpointStatus, EndpointType,
    Mode, Timestamp, UpdateProviderConfigInput, UserError,
};

#[derive(Default)]
pub struct EndpointMutation;

#[derive(InputObject)]
pub struct CreateEndpointInput {
    /// 1 to 100 characters.
    pub name: String,
    pub r#type: EndpointType,
    /// Required for WEBHOOK (http/https) and CUSTOM_SIP (sip:/sips:); generated for the AI
    /// providers, so it must not be given for them.
    pub url: Option<String>,
    /// ACTIVE (default) or INACTIVE.
    pub status: Option<EndpointStatus>,
    /// Required for the AI providers; the variant must match `type`.
    pub provider_config: Option<CreateProviderConfigInput>,
    /// A phone number of the same organization and mode to route to the new endpoint.
    pub phone_number_id: Option<Uuid>,
    /// The mode of the new endpoint. An API key creates in its own mode; a dashboard session
    /// defaults to LIVE.
    pub mode: Option<Mode>,
}

#[derive(InputObject)]
pub struct UpdateEndpointInput {
    pub id: Uuid,
    pub name: Option<String>,
    /// Accepted only when equal to the current type: a type never changes.
    pub r#type: Option<EndpointType>,
    /// For WEBHOOK and CUSTOM_SIP only; generated for the AI providers.
    pub url: Option<String>,
    /// ACTIVE or INACTIVE.
    pub status: Option<EndpointStatus>,
    /// Changes to the stored config (same variant as the type): fields left out keep their
    /// value, a null clears an optional field. For the AI providers the URL is regenerated.
    pub provider_config: Option<UpdateProviderConfigInput>,
    /// The `updatedAt` of the version this update is based on: when the endpoint has changed
    /// since, nothing is written and the payload has a `STALE` user error and the
    /// `currentEndpoint` to merge with.
    pub expected_updated_at: Option<Timestamp>,
}

#[derive(InputObject)]
pub struct DeleteEndpointInput {
    pub id: Uuid,
    /// The `updatedAt` of the version to delete: when the endpoint has changed since, it is
    /// kept and the payload has a `STALE` user error and the `currentEndpoint`.
    pub expected_updated_at: Option<Timestamp>,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CreateEndpointPayload {
    /// The new endpoint; null when `userErrors` is not empty.
    pub endpoint: Option<Endpoint>,
    pub user_errors: Vec<UserError>,
}

#[ComplexObject]
impl CreateEndpointPayload {
    /// The new endpoint as an edge of `endpoints` in `orderBy` (the list's default when left
    /// out), for a client to add it to a cached list (Relay's `@prependEdge`/`@appendEdge`);
    /// its cursor continues the list after it. Null when `userErrors` is not empty.
    async fn endpoint_edge(&self, order_by: Option<EndpointOrder>) -> Option<EndpointEdge> {
        let endpoint = &self.endpoint.as_ref()?.0;
        Some(EndpointEdge {
            cursor: endpoints::cursor_of(endpoint, order_by.unwrap_or_default().into()),
            node: endpoint.clone(),
        })
    }
}

#[derive(SimpleObject)]
pub struct UpdateEndpointPayload {
    /// The updated endpoint; null when `userErrors` is not empty.
    pub endpoint: Option<Endpoint>,
    pub user_errors: Vec<UserError>,
    /// When the update was refused as `STALE`: the endpoint as it is stored now. Null
    /// otherwise.
    pub current_endpoint: Option<Endpoint>,
}

#[derive(SimpleObject)]
pub struct DeleteEndpointPayload {
    /// The deleted endpoint's id, for a client cache to drop it (Relay's `@deleteRecord`);
    /// null when `userErrors` is not empty.
    pub deleted_endpoint_id: Option<ID>,
    pub user_errors: Vec<UserError>,
    /// When the delete was refused as `STALE`: the endpoint as it is stored now. Null
    /// otherwise.
    pub current_endpoint: Option<Endpoint>,
}

/// A `STALE` refusal as its user error and the endpoint as stored now (read again: it may have
/// changed or gone since); any other result as it is.
async fn split_stale<T>(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    result: Result<T, DomainError>,
) -> (Result<T, DomainError>, Option<Endpoint>) {
    let Err(DomainError::Stale(version)) = result else {
        return (result, None);
    };
    let error = FieldError::new(
        Field::ExpectedUpdatedAt,
        UserErrorCode::Stale,
        format!(
            "The endpoint changed since the version {{field}} names: it was last updated at {}. Nothing was written; merge with `currentEndpoint` and retry.",
            crate::domain::time::format(version)
        ),
    );
    let current = endpoints::get(&services.db, actor, id).await.ok();
    (
        Err(DomainError::Invalid(vec![error])),
        current.map(Endpoint),
    )
}

#[Object]
impl EndpointMutation {
    /// Creates an endpoint. For the AI providers the SIP URI is generated from the config.
    async fn create_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateEndpointInput,
    ) -> async_graphql::Result<Option<CreateEndpointPayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let new = NewEndpoint {
            name: input.name,
            r#type: Some(input.r#type.into()),
            url: input.url,
            status: input.status.map(Into::into),
            provider_config: input.provider_config.map(Into::into),
            phone_number_id: input.phone_number_id,
            mode: input.mode.map(Into::into),
        };
        let created = endpoints::create(&services.db, &services.endpoints, actor, new).await;
        Ok(payload(ctx, created, |endpoint, user_errors| {
            CreateEndpointPayload {
                endpoint: endpoint.map(Endpoint),
                user_errors,
            }
        }))
    }

    /// Updates an endpoint; fields left out keep their value.
    async fn update_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateEndpointInput,
    ) -> async_graphql::Result<Option<UpdateEndpointPayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let patch = EndpointPatch {
            name: input.name,
            r#type: input.r#type.map(Into::into),
            url: input.url,
            status: input.status.map(Into::into),
            provider_config: input.provider_config.map(Into::into),
            expected_updated_at: input.expected_updated_at.map(Into::into),
        };
        let updated =
            endpoints::update(&services.db, &services.endpoints, actor, input.id, patch).await;
        let (updated, current_endpoint) = split_stale(services, actor, input.id, updated).await;
        Ok(payload(ctx, updated, |endpoint, user_errors| {
            UpdateEndpointPayload {
                endpoint: endpoint.map(Endpoint),
                user_errors,
                current_endpoint,
            }
        }))
    }

    /// Deletes an endpoint; its phone numbers stay in the organization, detached.
    async fn delete_endpoint(
        &self,
        ctx: &Context<'_>,
        input: DeleteEndpointInput,
    ) -> async_graphql::Result<Option<DeleteEndpointPayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let deleted = endpoints::delete(
            &services.db,
            actor,
            input.id,
            input.expected_updated_at.map(Into::into),
        )
        .await;
        let (deleted, current_endpoint) = split_stale(services, actor, input.id, deleted).await;
        Ok(payload(ctx, deleted, |deleted, user_errors| {
            DeleteEndpointPayload {
                deleted_endpoint_id: deleted.map(|id| ID(id.to_string())),
                user_errors,
                current_endpoint,
            }
        }))
    }
}
