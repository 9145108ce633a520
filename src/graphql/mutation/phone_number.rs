//! Phone-number writes, for members and up: add a number, route it to an endpoint, stop routing
//! it, remove it. Rule breaks come back as `userErrors`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use uuid::Uuid;

use super::payload;
use crate::domain::phone_numbers;
use crate::graphql::Services;
use crate::graphql::error::actor;
use crate::graphql::types::{Mode, PhoneNumber, PhoneNumberEdge, UserError};

#[derive(Default)]
pub struct PhoneNumberMutation;

#[derive(InputObject)]
pub struct AddPhoneNumberInput {
    /// The number in E.164 form: `+`, a country code and at most 15 digits in all.
    pub e164: String,
    /// An API key adds in its own mode; a dashboard session defaults to LIVE.
    pub mode: Option<Mode>,
}

#[derive(InputObject)]
pub struct AttachPhoneNumberInput {
    pub phone_number_id: Uuid,
    pub endpoint_id: Uuid,
    /// Move the number from the endpoint it routes to now; without it, a number routed
    /// elsewhere is refused (`PHONE_NUMBER_TAKEN`).
    #[graphql(default = false)]
    pub reassign: bool,
}

#[derive(InputObject)]
pub struct DetachPhoneNumberInput {
    pub phone_number_id: Uuid,
}

#[derive(InputObject)]
pub struct RemovePhoneNumberInput {
    pub phone_number_id: Uuid,
}

#[derive(SimpleObject)]
pub struct AddPhoneNumberPayload {
    /// The new number; null when `userErrors` is not empty.
    pub phone_number: Option<PhoneNumber>,
    /// The new number as an edge of `phoneNumbers`, for a client to add it to a cached list.
    pub phone_number_edge: Option<PhoneNumberEdge>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct PhoneNumberPayload {
    /// The number as it is now; null when `userErrors` is not empty.
    pub phone_number: Option<PhoneNumber>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct RemovePhoneNumberPayload {
    /// The removed number's id, for a client cache to drop it; null when `userErrors` is not
    /// empty.
    pub removed_phone_number_id: Option<ID>,
    pub user_errors: Vec<UserError>,
}

fn number_payload(
    number: Option<crate::domain::phone_numbers::PhoneNumber>,
    user_errors: Vec<UserError>,
) -> PhoneNumberPayload {
    PhoneNumberPayload {
        phone_number: number.map(Into::into),
        user_errors,
    }
}

#[Object]
impl PhoneNumberMutation {
    /// Adds a phone number to the organization (members and up). A number is unique per
    /// organization and mode.
    async fn add_phone_number(
        &self,
        ctx: &Context<'_>,
        input: AddPhoneNumberInput,
    ) -> async_graphql::Result<Option<AddPhoneNumberPayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let added =
            phone_numbers::create(&services.db, actor, &input.e164, input.mode.map(Into::into))
                .await;
        Ok(payload(ctx, added, |number, user_errors| {
            AddPhoneNumberPayload {
                phone_number_edge: number.as_ref().map(|n| PhoneNumberEdge {
                    cursor: phone_numbers::cursor_of(n),
                    node: n.clone(),
                }),
                phone_number: number.map(Into::into),
                user_errors,
            }
        }))
    }

    /// Routes a number to an endpoint of its organization and mode (members and up).
    async fn attach_phone_number(
        &self,
        ctx: &Context<'_>,
        input: AttachPhoneNumberInput,
    ) -> async_graphql::Result<Option<PhoneNumberPayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let attached = phone_numbers::attach(
            &services.db,
            actor,
            input.phone_number_id,
            input.endpoint_id,
            input.reassign,
        )
        .await;
        Ok(payload(ctx, attached, number_payload))
    }

    /// Stops routing a number to any endpoint (members and up).
    async fn detach_phone_number(
        &self,
        ctx: &Context<'_>,
        input: DetachPhoneNumberInput,
    ) -> async_graphql::Result<Option<PhoneNumberPayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let detached = phone_numbers::detach(&services.db, actor, input.phone_number_id).await;
        Ok(payload(ctx, detached, number_payload))
    }

    /// Removes a number from the organization (members and up).
    async fn remove_phone_number(
        &self,
        ctx: &Context<'_>,
        input: RemovePhoneNumberInput,
    ) -> async_graphql::Result<Option<RemovePhoneNumberPayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let removed = phone_numbers::remove(&services.db, actor, input.phone_number_id).await;
        Ok(payload(ctx, removed, |id, user_errors| {
            RemovePhoneNumberPayload {
                removed_phone_number_id: id.map(crate::graphql::global_id::of),
                user_errors,
            }
        }))
    }
}
