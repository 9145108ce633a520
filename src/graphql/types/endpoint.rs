//! Endpoints, their phone numbers, and the connection that pages through them.

use std::borrow::Cow;

use async_graphql::parser::types::Field as GqlField;
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{ContainerType, enum_value};
use async_graphql::{
    ContextSelectionSet, ObjectType, OutputType, Positioned, ScalarType, ServerResult,
    Value as GqlValue,
};

use super::plain::{self, Answer, Plain};
use super::*;

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

/// A place phone calls are routed to. Its fields are `EndpointFields`'; the scalars among them
/// are answered in one pass over the selection (`plain`), the others through their resolvers.
pub struct Endpoint(pub DomainEndpoint);

impl OutputType for Endpoint {
    fn type_name() -> Cow<'static, str> {
        EndpointFields::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        EndpointFields::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<GqlField>,
    ) -> ServerResult<GqlValue> {
        plain::resolve(ctx, &EndpointFields(&self.0)).await
    }
}

impl ContainerType for Endpoint {
    async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<GqlValue>> {
        EndpointFields(&self.0).resolve_field(ctx).await
    }
}

impl ObjectType for Endpoint {}

impl Endpoint {
    /// `Node.id`, as the interface resolves it.
    pub async fn id(&self, _: &Context<'_>) -> async_graphql::Result<ID> {
        Ok(global_id::of(self.0.id))
    }
}

/// The fields of `Endpoint`, as the schema describes them and one by one resolves them.
pub struct EndpointFields<'a>(&'a DomainEndpoint);

impl Plain for EndpointFields<'_> {
    fn typename(&self) -> Cow<'static, str> {
        Self::type_name()
    }

    fn plain(&self, name: &str) -> Option<Answer<'_>> {
        let endpoint = self.0;
        Some(Answer::Scalar(match name {
            "id" => global_id::of(endpoint.id).to_value(),
            "uuid" => endpoint.id.to_value(),
            "name" => GqlValue::String(endpoint.name.clone()),
            "type" => enum_value(EndpointType::from(endpoint.r#type)),
            "url" => GqlValue::String(endpoint.url.clone()),
            "status" => enum_value(EndpointStatus::from(endpoint.status)),
            "mode" => enum_value(Mode::from(endpoint.mode)),
            "organizationId" => endpoint.organization_id.to_value(),
            "createdAt" => Timestamp::from(endpoint.created_at).to_value(),
            "updatedAt" => Timestamp::from(endpoint.updated_at).to_value(),
            "providerConfig" => {
                let config = endpoint.provider_config.clone().map(ProviderConfig::from);
                return Some(Answer::Object(
                    "ProviderConfig",
                    config.map(|config| Box::new(config) as Box<dyn Plain>),
                ));
            }
            _ => return None,
        }))
    }
}

#[Object(name = "Endpoint")]
impl EndpointFields<'_> {
    /// The endpoint's id (its UUID, which says it names an endpoint; the REST API's id too).
    async fn id(&self) -> ID {
        global_id::of(self.0.id)
    }
    /// The same UUID as `id`, typed as the arguments take it.
    async fn uuid(&self) -> Uuid {
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
    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }
    /// Moves forward on every update.
    async fn updated_at(&self) -> Timestamp {
        self.0.updated_at.into()
    }
    /// The phone numbers routed to this endpoint.
    async fn phone_numbers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PhoneNumber>> {
        let loader = ctx.data::<crate::graphql::loaders::PhoneNumbers>()?;
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
    /// The number's id (its UUID, which says it names a phone number).
    #[graphql(owned)]
    pub id: ID,
    /// The same UUID as `id`, typed as the arguments and the CLI take it.
    pub uuid: Uuid,
    pub e164: String,
    pub mode: Mode,
    pub created_at: Timestamp,
    /// The endpoint calls to this number are routed to; null when it routes nowhere. An id
    /// rather than the endpoint, so that numbers and endpoints don't nest into each other.
    pub endpoint_id: Option<Uuid>,
}

impl From<crate::domain::phone_numbers::PhoneNumber> for PhoneNumber {
    fn from(m: crate::domain::phone_numbers::PhoneNumber) -> Self {
        Self {
            id: global_id::of(m.id),
            uuid: m.id,
            e164: m.e164,
            mode: m.mode.into(),
            created_at: m.created_at.into(),
            endpoint_id: m.endpoint_id,
        }
    }
}

impl From<DomainEndpoint> for Endpoint {
    fn from(endpoint: DomainEndpoint) -> Self {
        Self(endpoint)
    }
}

/// What `totalCount` of `endpoints` counts: the endpoints the filter matches for the actor.
pub struct EndpointCount {
    pub actor: Actor,
    pub filter: DomainFilter,
}

impl TotalCount for EndpointCount {
    async fn total(&self, db: &crate::db::Db) -> Result<u64, crate::domain::DomainError> {
        endpoints::count(db, &self.actor, &self.filter).await
    }
}

connection!(
    EndpointConnection, EndpointEdge,
    node: Endpoint from DomainEndpoint,
    cursor: "Opaque; pass it as `after` to continue after this endpoint.",
    nodes: "The endpoints of `edges`, without cursors.",
    total_count: EndpointCount => "How many endpoints match the filter, across all pages.",
);
