//! String-valued enums stored in columns; the stored values are the seed's lowercase names.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Stripe-style data separation: test credentials see test data only, live ones live data.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[sea_orm(string_value = "live")]
    Live,
    #[sea_orm(string_value = "test")]
    Test,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum EndpointType {
    #[sea_orm(string_value = "webhook")]
    Webhook,
    #[sea_orm(string_value = "vapi")]
    Vapi,
    #[sea_orm(string_value = "retell")]
    Retell,
    #[sea_orm(string_value = "livekit")]
    Livekit,
    #[sea_orm(string_value = "elevenlabs")]
    Elevenlabs,
    #[sea_orm(string_value = "vogent")]
    Vogent,
    #[sea_orm(string_value = "custom_sip")]
    CustomSip,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum EndpointStatus {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "inactive")]
    Inactive,
    #[sea_orm(string_value = "error")]
    Error,
}

/// Roles in an organization, strongest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[sea_orm(string_value = "owner")]
    Owner,
    #[sea_orm(string_value = "admin")]
    Admin,
    #[sea_orm(string_value = "member")]
    Member,
    #[sea_orm(string_value = "viewer")]
    Viewer,
}

/// What a change did, as its event records it: `<object>.<what happened>`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum EventType {
    #[sea_orm(string_value = "endpoint.created")]
    EndpointCreated,
    #[sea_orm(string_value = "endpoint.updated")]
    EndpointUpdated,
    #[sea_orm(string_value = "endpoint.deleted")]
    EndpointDeleted,
    #[sea_orm(string_value = "phone_number.created")]
    PhoneNumberCreated,
    #[sea_orm(string_value = "phone_number.attached")]
    PhoneNumberAttached,
    #[sea_orm(string_value = "phone_number.detached")]
    PhoneNumberDetached,
    #[sea_orm(string_value = "phone_number.deleted")]
    PhoneNumberDeleted,
    #[sea_orm(string_value = "api_key.created")]
    ApiKeyCreated,
    #[sea_orm(string_value = "api_key.revoked")]
    ApiKeyRevoked,
    #[sea_orm(string_value = "member.created")]
    MemberCreated,
    #[sea_orm(string_value = "member.updated")]
    MemberUpdated,
    #[sea_orm(string_value = "member.deleted")]
    MemberDeleted,
    #[sea_orm(string_value = "organization.created")]
    OrganizationCreated,
}

/// Who made a change: a dashboard user, an API key, or the gateway's own CLI.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    #[sea_orm(string_value = "user")]
    User,
    #[sea_orm(string_value = "api_key")]
    ApiKey,
    #[sea_orm(string_value = "system")]
    System,
}
