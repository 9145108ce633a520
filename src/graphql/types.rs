//! GraphQL types, built from domain values; the entity crate knows nothing of GraphQL.

use async_graphql::dataloader::DataLoader;
use async_graphql::{
    Context, Enum, ErrorExtensions, InputObject, Object, OneofObject, SimpleObject, Union,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::endpoints::{self, Direction, EndpointFilter as DomainFilter, OrderField};
use crate::domain::provider::{self, ProviderConfigInput as DomainConfigInput};
use crate::domain::{Actor, Field, FieldError, endpoints::Endpoint as DomainEndpoint};
use crate::graphql::loaders::PhoneNumbersByEndpoint;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::enums::EndpointType")]
/// Where calls go: a webhook, an AI voice-agent provider, or a custom SIP URI.
pub enum EndpointType {
    Webhook,
    Vapi,
    Retell,
    Livekit,
    Elevenlabs,
    Vogent,
    CustomSip,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::enums::EndpointStatus")]
/// Clients set ACTIVE or INACTIVE; ERROR is set by the system.
pub enum EndpointStatus {
    Active,
    Inactive,
    Error,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::enums::Mode")]
/// Test and live data are kept apart: a test key sees only test data, a live key only live data.
pub enum Mode {
    Live,
    Test,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
/// The kind of credential a request was made with.
pub enum CredentialKind {
    ApiKey,
    User,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum EndpointOrderField {
    #[default]
    CreatedAt,
    UpdatedAt,
    Name,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum OrderDirection {
    Asc,
    #[default]
    Desc,
}

/// How to order endpoints; ties are broken by id so that cursors are stable.
#[derive(InputObject, Debug, Default, Clone, Copy)]
pub struct EndpointOrder {
    #[graphql(default)]
    pub field: EndpointOrderField,
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl From<EndpointOrder> for endpoints::Ordering {
    fn from(o: EndpointOrder) -> Self {
        Self {
            field: match o.field {
                EndpointOrderField::CreatedAt => OrderField::CreatedAt,
                EndpointOrderField::UpdatedAt => OrderField::UpdatedAt,
                EndpointOrderField::Name => OrderField::Name,
            },
            direction: match o.direction {
                OrderDirection::Asc => Direction::Asc,
                OrderDirection::Desc => Direction::Desc,
            },
        }
    }
}

/// Narrows a list of endpoints; all given conditions must hold.
#[derive(InputObject, Debug, Default, Clone)]
pub struct EndpointFilter {
    /// Only endpoints of these types.
    pub types: Option<Vec<EndpointType>>,
    /// Only endpoints with these statuses.
    pub statuses: Option<Vec<EndpointStatus>>,
    /// A case-insensitive substring of the name or URL.
    pub search: Option<String>,
    /// Only endpoints of this mode. An API key sees its own mode only.
    pub mode: Option<Mode>,
}

impl From<EndpointFilter> for DomainFilter {
    fn from(f: EndpointFilter) -> Self {
        Self {
            types: f.types.map(|v| v.into_iter().map(Into::into).collect()),
            statuses: f.statuses.map(|v| v.into_iter().map(Into::into).collect()),
            search: f.search,
            mode: f.mode.map(Into::into),
        }
    }
}

/// A place phone calls are routed to.
pub struct Endpoint(pub DomainEndpoint);

#[Object]
impl Endpoint {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Fixed at creation.
    async fn r#type(&self) -> EndpointType {
        self.0.r#type.into()
    }
    /// The webhook URL or SIP URI calls go to; generated for the AI providers.
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn status(&self) -> EndpointStatus {
        self.0.status.into()
    }
    /// The provider's settings; null for webhooks. Secrets are never returned.
    async fn provider_config(&self) -> Option<ProviderConfig> {
        self.0.provider_config.clone().map(Into::into)
    }
    async fn mode(&self) -> Mode {
        self.0.mode.into()
    }
    async fn organization_id(&self) -> Uuid {
        self.0.organization_id
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Moves forward on every update.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The phone numbers routed to this endpoint.
    async fn phone_numbers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PhoneNumber>> {
        let loader = ctx.data::<DataLoader<PhoneNumbersByEndpoint>>()?;
        let numbers = loader
            .load_one(self.0.id)
            .await
            .map_err(|e| e.as_ref().extend())?
            .unwrap_or_default();
        Ok(numbers.into_iter().map(PhoneNumber::from).collect())
    }
}

/// A phone number of the organization, in E.164 form.
#[derive(SimpleObject)]
pub struct PhoneNumber {
    pub id: Uuid,
    pub e164: String,
    pub mode: Mode,
    pub created_at: DateTime<Utc>,
}

impl From<entity::phone_number::Model> for PhoneNumber {
    fn from(m: entity::phone_number::Model) -> Self {
        Self {
            id: m.id,
            e164: m.e164,
            mode: m.mode.into(),
            created_at: m.created_at,
        }
    }
}

/// Vapi AI voice agent. URL: `sip:{assistantId}@sip.vapi.ai`, or
/// `sip:{assistantId}@{credentialId}.sip.vapi.ai` with a BYO SIP trunk credential.
#[derive(SimpleObject)]
pub struct VapiConfig {
    pub assistant_id: String,
    pub credential_id: Option<String>,
    pub vapi_phone_number_id: Option<String>,
}

/// Retell AI voice agent. URL: `sip:{agentId}@sip.retellai.com;transport=tcp`.
#[derive(SimpleObject)]
pub struct RetellConfig {
    pub agent_id: String,
    pub retell_phone_number: Option<String>,
}

/// ElevenLabs Conversational AI agent. URL:
/// `sip:{elevenlabsAgentId}@sip.rtc.elevenlabs.io:5060;transport=tcp`.
#[derive(SimpleObject)]
pub struct ElevenLabsConfig {
    pub elevenlabs_agent_id: String,
}

/// LiveKit real-time voice agent. URL: the given `livekitSipUri`.
#[derive(SimpleObject)]
pub struct LiveKitConfig {
    pub livekit_agent_name: Option<String>,
    pub livekit_sip_trunk_id: String,
    pub livekit_sip_uri: String,
}

/// Vogent AI voice agent with SIP authentication. URL: `sip:{vogentSipPrefix}@sip.vogent.ai`.
#[derive(SimpleObject)]
pub struct VogentConfig {
    pub vogent_agent_id: Option<String>,
    pub vogent_sip_prefix: String,
    pub vogent_sip_username: String,
    /// Whether a SIP password is stored. The password itself is write-only.
    pub sip_password_set: bool,
}

/// A custom SIP destination; `sipUri` equals the endpoint's URL.
#[derive(SimpleObject)]
pub struct CustomSipConfig {
    pub sip_uri: String,
    pub username: Option<String>,
    /// Whether a SIP password is stored. The password itself is write-only.
    pub password_set: bool,
}

/// Provider-specific settings; the variant matches the endpoint's type.
#[derive(Union)]
pub enum ProviderConfig {
    Vapi(VapiConfig),
    Retell(RetellConfig),
    ElevenLabs(ElevenLabsConfig),
    LiveKit(LiveKitConfig),
    Vogent(VogentConfig),
    CustomSip(CustomSipConfig),
}

impl From<provider::ProviderConfig> for ProviderConfig {
    fn from(c: provider::ProviderConfig) -> Self {
        use provider::ProviderConfig as P;
        match c {
            P::Vapi(c) => Self::Vapi(VapiConfig {
                assistant_id: c.assistant_id,
                credential_id: c.credential_id,
                vapi_phone_number_id: c.vapi_phone_number_id,
            }),
            P::Retell(c) => Self::Retell(RetellConfig {
                agent_id: c.agent_id,
                retell_phone_number: c.retell_phone_number,
            }),
            P::ElevenLabs(c) => Self::ElevenLabs(ElevenLabsConfig {
                elevenlabs_agent_id: c.elevenlabs_agent_id,
            }),
            P::LiveKit(c) => Self::LiveKit(LiveKitConfig {
                livekit_agent_name: c.livekit_agent_name,
                livekit_sip_trunk_id: c.livekit_sip_trunk_id,
                livekit_sip_uri: c.livekit_sip_uri,
            }),
            P::Vogent(c) => Self::Vogent(VogentConfig {
                vogent_agent_id: c.vogent_agent_id,
                vogent_sip_prefix: c.vogent_sip_prefix,
                vogent_sip_username: c.vogent_sip_username,
                sip_password_set: true,
            }),
            P::CustomSip(c) => Self::CustomSip(CustomSipConfig {
                sip_uri: c.sip_uri,
                username: c.username,
                password_set: c.password.is_some(),
            }),
        }
    }
}

/// Vapi settings. `assistantId` is required.
#[derive(InputObject, Debug, Clone)]
pub struct VapiConfigInput {
    /// Vapi Assistant ID (required).
    pub assistant_id: Option<String>,
    /// BYO SIP trunk credential ID; moves the URL to `{credentialId}.sip.vapi.ai`.
    pub credential_id: Option<String>,
    /// Vapi phone number ID for outbound calls.
    pub vapi_phone_number_id: Option<String>,
}

/// Retell settings. `agentId` is required.
#[derive(InputObject, Debug, Clone)]
pub struct RetellConfigInput {
    /// Retell Agent ID (required).
    pub agent_id: Option<String>,
    /// Retell phone number for outbound calls.
    pub retell_phone_number: Option<String>,
}

/// ElevenLabs settings. `elevenlabsAgentId` is required.
#[derive(InputObject, Debug, Clone)]
pub struct ElevenLabsConfigInput {
    /// ElevenLabs Conversational AI Agent ID (required).
    pub elevenlabs_agent_id: Option<String>,
}

/// LiveKit settings. `livekitSipTrunkId` and `livekitSipUri` are required.
#[derive(InputObject, Debug, Clone)]
pub struct LiveKitConfigInput {
    /// LiveKit agent ID or name.
    pub livekit_agent_name: Option<String>,
    /// LiveKit SIP Trunk ID (required).
    pub livekit_sip_trunk_id: Option<String>,
    /// Full SIP URI from the LiveKit dashboard (required), e.g. `sip:xxxx.sip.livekit.cloud`.
    pub livekit_sip_uri: Option<String>,
}

/// Vogent settings. `vogentSipPrefix`, `vogentSipUsername` and `vogentSipPassword` are
/// required; on update, leaving out the password keeps the stored one.
#[derive(InputObject, Clone)]
pub struct VogentConfigInput {
    /// Vogent Agent ID, for reference.
    pub vogent_agent_id: Option<String>,
    /// SIP prefix from Vogent Call Settings (required).
    pub vogent_sip_prefix: Option<String>,
    /// SIP authentication username (required).
    pub vogent_sip_username: Option<String>,
    /// SIP authentication password (required on create; write-only).
    #[graphql(secret)]
    pub vogent_sip_password: Option<String>,
}

/// Custom SIP settings. `sipUri` must equal the endpoint's URL; on update, leaving out the
/// password keeps the stored one.
#[derive(InputObject, Clone)]
pub struct CustomSipConfigInput {
    /// The SIP URI (required); the same as the endpoint's `url`.
    pub sip_uri: Option<String>,
    /// SIP authentication username.
    pub username: Option<String>,
    /// SIP authentication password (write-only).
    #[graphql(secret)]
    pub password: Option<String>,
}

/// Provider settings: exactly one variant, the one of the endpoint's type.
#[derive(OneofObject, Debug, Clone)]
pub enum ProviderConfigInput {
    Vapi(VapiConfigInput),
    Retell(RetellConfigInput),
    ElevenLabs(ElevenLabsConfigInput),
    LiveKit(LiveKitConfigInput),
    Vogent(VogentConfigInput),
    CustomSip(CustomSipConfigInput),
}

impl From<ProviderConfigInput> for DomainConfigInput {
    fn from(c: ProviderConfigInput) -> Self {
        match c {
            ProviderConfigInput::Vapi(c) => Self::Vapi {
                assistant_id: c.assistant_id,
                credential_id: c.credential_id,
                vapi_phone_number_id: c.vapi_phone_number_id,
            },
            ProviderConfigInput::Retell(c) => Self::Retell {
                agent_id: c.agent_id,
                retell_phone_number: c.retell_phone_number,
            },
            ProviderConfigInput::ElevenLabs(c) => Self::ElevenLabs {
                elevenlabs_agent_id: c.elevenlabs_agent_id,
            },
            ProviderConfigInput::LiveKit(c) => Self::LiveKit {
                livekit_agent_name: c.livekit_agent_name,
                livekit_sip_trunk_id: c.livekit_sip_trunk_id,
                livekit_sip_uri: c.livekit_sip_uri,
            },
            ProviderConfigInput::Vogent(c) => Self::Vogent {
                vogent_agent_id: c.vogent_agent_id,
                vogent_sip_prefix: c.vogent_sip_prefix,
                vogent_sip_username: c.vogent_sip_username,
                vogent_sip_password: c.vogent_sip_password.map(provider::Secret::Plain),
            },
            ProviderConfigInput::CustomSip(c) => Self::CustomSip {
                sip_uri: c.sip_uri,
                username: c.username,
                password: c.password.map(provider::Secret::Plain),
            },
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::UserErrorCode")]
/// Why an input was refused.
pub enum UserErrorCode {
    /// A required value is missing.
    Required,
    /// The value is empty or only white space.
    Blank,
    /// The value is longer than allowed.
    TooLong,
    /// The value has characters or a form that is not accepted.
    Invalid,
    /// Not a valid http(s) URL.
    InvalidUrl,
    /// Not a valid sip:/sips: URI.
    InvalidSipUri,
    /// The field can't be given for this endpoint type (e.g. a generated URL).
    NotAllowed,
    /// The provider config variant is not the one of the endpoint's type.
    ProviderConfigMismatch,
    /// The field can't change after creation.
    Immutable,
    /// ERROR is set by the system, not by clients.
    StatusNotSettable,
    /// The credential can't act in the requested mode.
    ModeNotAllowed,
    /// No such phone number in this organization and mode.
    PhoneNumberNotFound,
    /// The phone number already routes to another endpoint.
    PhoneNumberTaken,
}

/// A rule the input broke, that the user can fix.
#[derive(SimpleObject, Debug, Clone)]
pub struct UserError {
    /// The path to the input field, e.g. `["input", "providerConfig", "vapi", "assistantId"]`.
    pub field: Option<Vec<String>>,
    pub message: String,
    pub code: UserErrorCode,
}

impl From<FieldError> for UserError {
    fn from(e: FieldError) -> Self {
        let path = field_path(e.field);
        Self {
            message: e.render(path.last().map_or("input", String::as_str)),
            field: Some(path),
            code: e.code.into(),
        }
    }
}

fn field_path(field: Field) -> Vec<String> {
    let tail: Vec<String> = match field {
        Field::Id => vec!["id".into()],
        Field::Name => vec!["name".into()],
        Field::Type => vec!["type".into()],
        Field::Url => vec!["url".into()],
        Field::Status => vec!["status".into()],
        Field::Mode => vec!["mode".into()],
        Field::PhoneNumberId => vec!["phoneNumberId".into()],
        Field::ProviderConfig => vec!["providerConfig".into()],
        Field::ProviderConfigField(ty, name) => {
            let variant = match ty {
                entity::enums::EndpointType::Vapi => "vapi",
                entity::enums::EndpointType::Retell => "retell",
                entity::enums::EndpointType::Elevenlabs => "elevenLabs",
                entity::enums::EndpointType::Livekit => "liveKit",
                entity::enums::EndpointType::Vogent => "vogent",
                entity::enums::EndpointType::CustomSip => "customSip",
                entity::enums::EndpointType::Webhook => "webhook",
            };
            vec!["providerConfig".into(), variant.into(), camel_case(name)]
        }
    };
    std::iter::once("input".to_owned()).chain(tail).collect()
}

/// `vogent_sip_password` → `vogentSipPassword`, as async-graphql names input fields.
fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(SimpleObject, Debug, Clone, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

pub struct EndpointEdge {
    pub cursor: String,
    pub node: DomainEndpoint,
}

#[Object]
impl EndpointEdge {
    /// Opaque; pass it as `after` to continue after this endpoint.
    async fn cursor(&self) -> &str {
        &self.cursor
    }
    async fn node(&self) -> Endpoint {
        Endpoint(self.node.clone())
    }
}

/// A page of endpoints (Relay connection).
pub struct EndpointConnection {
    pub page: endpoints::Page,
    pub filter: DomainFilter,
    pub actor: Actor,
}

#[Object]
impl EndpointConnection {
    async fn edges(&self) -> Vec<EndpointEdge> {
        self.page
            .items
            .iter()
            .map(|(cursor, node)| EndpointEdge {
                cursor: cursor.clone(),
                node: node.clone(),
            })
            .collect()
    }
    /// The endpoints of `edges`, without cursors.
    async fn nodes(&self) -> Vec<Endpoint> {
        self.page
            .items
            .iter()
            .map(|(_, e)| Endpoint(e.clone()))
            .collect()
    }
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.page.has_next_page,
            has_previous_page: self.page.has_previous_page,
            start_cursor: self.page.items.first().map(|(c, _)| c.clone()),
            end_cursor: self.page.items.last().map(|(c, _)| c.clone()),
        }
    }
    /// How many endpoints match the filter, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        let services = ctx.data::<crate::graphql::Services>()?;
        endpoints::count(&services.db, &self.actor, &self.filter)
            .await
            .map_err(|e| e.extend())
    }
}

/// An organization: the unit of tenancy.
#[derive(SimpleObject)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<entity::organization::Model> for Organization {
    fn from(m: entity::organization::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            created_at: m.created_at,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::enums::Role")]
/// What a member may do: viewers read; members and up change endpoints; owners and admins
/// also manage API keys and members. API keys act as members.
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

/// An organization the caller belongs to, and the caller's role there.
#[derive(SimpleObject)]
pub struct OrganizationMembership {
    pub organization: Organization,
    pub role: Role,
}

/// An API key of the organization. The key itself is shown once, when it is created.
#[derive(SimpleObject)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// A TEST key sees only test data, a LIVE key only live data.
    pub mode: Mode,
    /// The key's first characters (`kros_test_AbCd`), to recognise it by.
    pub display_prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked key is refused from the next request on.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<entity::api_key::Model> for ApiKey {
    fn from(m: entity::api_key::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            mode: m.mode.into(),
            display_prefix: m.display_prefix,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            revoked_at: m.revoked_at,
        }
    }
}

/// Passwords never reach debug output.
impl std::fmt::Debug for VogentConfigInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VogentConfigInput")
            .field("vogent_agent_id", &self.vogent_agent_id)
            .field("vogent_sip_prefix", &self.vogent_sip_prefix)
            .field("vogent_sip_username", &self.vogent_sip_username)
            .field(
                "vogent_sip_password",
                &self.vogent_sip_password.as_ref().map(|_| ".."),
            )
            .finish()
    }
}

impl std::fmt::Debug for CustomSipConfigInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomSipConfigInput")
            .field("sip_uri", &self.sip_uri)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .finish()
    }
}
