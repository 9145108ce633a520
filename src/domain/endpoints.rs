//! The endpoint service: create, read, list, update and delete endpoints within the actor's
//! organization and mode, enforcing every rule of the seed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::endpoint::{self, Column};
use entity::enums::{EndpointStatus, EndpointType, Mode};
use entity::phone_number;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, DatabaseTransaction, EntityTrait, IntoActiveModel, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::ModeScope;
use super::error::{DomainError, Field, FieldError, UserErrorCode};
use super::provider::{ProviderConfig, ProviderConfigInput, SipDomains};
use super::secrets::SecretBox;
use super::{Actor, has_control_chars};

pub const MAX_NAME_LEN: usize = 100;
pub const MAX_URL_LEN: usize = 2048;
pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_SEARCH_LEN: usize = 200;

/// What endpoint writes need beyond the database: where generated URIs point, and the key
/// secrets are sealed with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sip_domains: SipDomains,
    pub secrets: SecretBox,
    /// Whether webhook URLs may point at `localhost` or private, loopback and link-local
    /// addresses (off by default: a webhook must be a public address).
    pub allow_private_webhooks: bool,
}

/// An endpoint as the domain hands it to transports: the stored row with its config decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub r#type: EndpointType,
    pub url: String,
    pub status: EndpointStatus,
    pub provider_config: Option<ProviderConfig>,
    pub mode: Mode,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<endpoint::Model> for Endpoint {
    type Error = DomainError;

    fn try_from(m: endpoint::Model) -> Result<Self, Self::Error> {
        let provider_config = ProviderConfig::from_stored(m.r#type, m.provider_config.as_ref())
            .map_err(|e| {
                DomainError::Corrupt(format!(
                    "provider config of endpoint {} does not decode: {e}",
                    m.id
                ))
            })?;
        Ok(Self {
            id: m.id,
            organization_id: m.organization_id,
            name: m.name,
            r#type: m.r#type,
            url: m.url,
            status: m.status,
            provider_config,
            mode: m.mode,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    pub name: String,
    pub r#type: Option<EndpointType>,
    pub url: Option<String>,
    pub status: Option<EndpointStatus>,
    pub provider_config: Option<ProviderConfigInput>,
    pub phone_number_id: Option<Uuid>,
    pub mode: Option<Mode>,
}

/// Fields left `None` keep their stored value. A provider config replaces the stored one
/// whole, except that secrets left out are kept.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub name: Option<String>,
    pub r#type: Option<EndpointType>,
    pub url: Option<String>,
    pub status: Option<EndpointStatus>,
    pub provider_config: Option<ProviderConfigInput>,
}

fn scoped(actor: &Actor, mode: Option<Mode>) -> Condition {
    let mut cond = Condition::all().add(Column::OrganizationId.eq(actor.organization_id));
    if let Some(mode) = mode {
        cond = cond.add(Column::Mode.eq(mode));
    }
    cond
}

fn find_scoped(actor: &Actor, id: Uuid) -> sea_orm::Select<endpoint::Entity> {
    endpoint::Entity::find()
        .filter(Column::Id.eq(id))
        .filter(scoped(actor, actor.fixed_mode()))
}

async fn find_model(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> Result<endpoint::Model, DomainError> {
    find_scoped(actor, id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("endpoint"))
}

/// The endpoint, locked until `txn` ends: on PostgreSQL a row lock (`FOR UPDATE`); on SQLite
/// the write transaction itself holds the database's one write lock.
async fn find_model_for_write(
    txn: &DatabaseTransaction,
    actor: &Actor,
    id: Uuid,
) -> Result<endpoint::Model, DomainError> {
    find_scoped(actor, id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(DomainError::NotFound("endpoint"))
}

/// One endpoint of the actor's organization and mode; any other is "not found".
pub async fn get(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Endpoint, DomainError> {
    find_model(db, actor, id).await?.try_into()
}

fn check_name(name: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    super::text::check_name(name, MAX_NAME_LEN)
        .map_err(|(code, message)| errors.push(FieldError::new(Field::Name, code, message)))
        .ok()
}

fn check_status(status: EndpointStatus, errors: &mut Vec<FieldError>) {
    if status == EndpointStatus::Error {
        errors.push(FieldError::new(
            Field::Status,
            UserErrorCode::StatusNotSettable,
            "{field} can be set to active or inactive only; error is set by the system",
        ));
    }
}

/// Checks a webhook URL and returns the form it is stored in: the URL as the WHATWG parser
/// normalises it (`HTTP://Example.com` → `http://example.com/`), so what is stored is exactly
/// what was checked. Input the parser would silently repair (white space, control characters,
/// backslashes) is refused rather than reinterpreted.
fn check_webhook_url(url: &str, allow_private: bool) -> Result<String, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("{{field}} is longer than {MAX_URL_LEN} characters"));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("{field} contains white space or control characters".to_owned());
    }
    if url.contains('\\') {
        return Err("{field} contains a backslash; use '/' in URLs".to_owned());
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("{{field}} is not a valid URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("{field} of a webhook must use http or https".to_owned());
    }
    let Some(host) = parsed
        .host()
        .filter(|h| !matches!(h, url::Host::Domain("")))
    else {
        return Err("{field} has no host".to_owned());
    };
    if let url::Host::Domain(name) = &host {
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.len() > 253
            || name
                .split('.')
                .any(|label| label.is_empty() || label.len() > 63)
        {
            return Err("{field} has a host name that isn't a valid DNS name (labels of 1 to 63 characters, 253 in all)".to_owned());
        }
    }
    if parsed.port() == Some(0) {
        return Err("{field} has port 0, which nothing listens on".to_owned());
    }
    // A URL is returned to every reader, so it may not carry a password.
    if parsed.password().is_some() {
        return Err(
            "{field} may not hold a password (user:password@); it is returned to every reader"
                .to_owned(),
        );
    }
    if !allow_private && let Some(reason) = super::webhook_host::private_host_reason(&host) {
        return Err(format!(
            "{{field}} is not allowed: its host is {reason}; webhooks must reach a public address"
        ));
    }
    let normalised = String::from(parsed);
    if normalised.len() > MAX_URL_LEN {
        return Err(format!("{{field}} is longer than {MAX_URL_LEN} characters"));
    }
    Ok(normalised)
}

/// The URL and provider config an endpoint of `ty` ends up with, from what the client sent and
/// (on update) what is stored. Every broken rule is pushed to `errors`.
fn resolve_routing(
    ty: EndpointType,
    url: Option<String>,
    config: Option<ProviderConfigInput>,
    stored: Option<(&str, Option<&ProviderConfig>)>,
    settings: &Settings,
    errors: &mut Vec<FieldError>,
) -> Option<(String, Option<ProviderConfig>)> {
    let before = errors.len();
    if let Some(given) = &config
        && given.endpoint_type() != ty
    {
        errors.push(FieldError::new(
            Field::ProviderConfig,
            UserErrorCode::ProviderConfigMismatch,
            match ty {
                EndpointType::Webhook => "a webhook endpoint takes no provider config".to_owned(),
                _ => format!(
                    "{{field}} must be the {} config for a {} endpoint",
                    seed_name(ty),
                    seed_name(ty)
                ),
            },
        ));
        return None;
    }
    let stored_config = stored.and_then(|(_, c)| c);
    let validated = config.map(|c| c.validate(stored_config, errors));

    match ty {
        EndpointType::Webhook => {
            let url = match (url, stored) {
                (Some(url), _) => url,
                (None, Some((stored_url, _))) => return Some((stored_url.to_owned(), None)),
                (None, None) => {
                    errors.push(FieldError::new(
                        Field::Url,
                        UserErrorCode::Required,
                        "{field} is required for a webhook endpoint",
                    ));
                    return None;
                }
            };
            match check_webhook_url(&url, settings.allow_private_webhooks) {
                Ok(url) => Some((url, None)),
                Err(message) => {
                    errors.push(FieldError::new(
                        Field::Url,
                        UserErrorCode::InvalidUrl,
                        message,
                    ));
                    None
                }
            }
        }
        EndpointType::CustomSip => {
            let config_uri = validated
                .as_ref()
                .and_then(|c| c.as_ref())
                .and_then(|c| match c {
                    ProviderConfig::CustomSip(c) => Some(c.sip_uri.clone()),
                    _ => None,
                });
            let url = match (url, &config_uri, stored) {
                (Some(url), _, _) => url,
                // On update the config's SIP URI may move the endpoint on its own.
                (None, Some(uri), Some(_)) => uri.clone(),
                (None, _, Some((stored_url, _))) => stored_url.to_owned(),
                (None, _, None) => {
                    errors.push(FieldError::new(
                        Field::Url,
                        UserErrorCode::Required,
                        "{field} is required for a custom_sip endpoint",
                    ));
                    return None;
                }
            };
            if let Err(reason) = super::sip_uri::check(&url) {
                errors.push(FieldError::new(
                    Field::Url,
                    UserErrorCode::InvalidSipUri,
                    format!("{{field}} is not a valid SIP URI: {reason}"),
                ));
                return None;
            }
            if let Some(uri) = &config_uri
                && *uri != url
            {
                errors.push(FieldError::new(
                    Field::ProviderConfigField(ty, "sip_uri"),
                    UserErrorCode::Invalid,
                    "{field} must equal the endpoint's url",
                ));
                return None;
            }
            let config = match validated {
                Some(Some(ProviderConfig::CustomSip(c))) => c,
                Some(_) => return None,
                // Without a config sent, the stored credentials stay and follow the new URI.
                None => match stored_config {
                    Some(ProviderConfig::CustomSip(c)) => super::provider::CustomSipConfig {
                        sip_uri: url.clone(),
                        ..c.clone()
                    },
                    _ => super::provider::CustomSipConfig {
                        sip_uri: url.clone(),
                        username: None,
                        password: None,
                    },
                },
            };
            (errors.len() == before).then_some((url, Some(ProviderConfig::CustomSip(config))))
        }
        _ => {
            if url.is_some() {
                errors.push(FieldError::new(
                    Field::Url,
                    UserErrorCode::NotAllowed,
                    format!(
                        "{{field}} is generated for {} endpoints from their provider config and can't be set",
                        seed_name(ty)
                    ),
                ));
            }
            let config = match (validated, stored_config) {
                (Some(Some(config)), _) => config,
                (Some(None), _) => return None,
                (None, Some(stored)) => stored.clone(),
                (None, None) => {
                    errors.push(FieldError::new(
                        Field::ProviderConfig,
                        UserErrorCode::Required,
                        format!("{{field}} is required for a {} endpoint", seed_name(ty)),
                    ));
                    return None;
                }
            };
            if errors.len() != before {
                return None;
            }
            let url = config
                .generated_url(&settings.sip_domains)
                .expect("every AI provider type generates its URL");
            Some((url, Some(config)))
        }
    }
}

/// The seed's name of a type or mode (`custom_sip`, `test`): its stored value.
fn seed_name(value: impl ActiveEnum<Value = String>) -> String {
    value.to_value()
}

/// Creates an endpoint, attaching `phone_number_id` in the same transaction. Nothing is
/// written when any rule is broken.
pub async fn create(
    db: &DatabaseConnection,
    settings: &Settings,
    actor: &Actor,
    input: NewEndpoint,
) -> Result<Endpoint, DomainError> {
    actor.ensure_can_write()?;
    let mut errors = Vec::new();

    let mode = match (actor.fixed_mode(), input.mode) {
        (Some(fixed), Some(asked)) if fixed != asked => {
            errors.push(FieldError::new(
                Field::Mode,
                UserErrorCode::ModeNotAllowed,
                format!(
                    "a {} API key can only create {} endpoints",
                    seed_name(fixed),
                    seed_name(fixed)
                ),
            ));
            fixed
        }
        (Some(fixed), _) => fixed,
        (None, asked) => asked.unwrap_or(Mode::Live),
    };
    let name = check_name(&input.name, &mut errors);
    let status = input.status.unwrap_or(EndpointStatus::Active);
    check_status(status, &mut errors);
    let routing = match input.r#type {
        Some(ty) => resolve_routing(
            ty,
            input.url,
            input.provider_config,
            None,
            settings,
            &mut errors,
        ),
        None => {
            errors.push(FieldError::new(
                Field::Type,
                UserErrorCode::Required,
                "{field} is required",
            ));
            None
        }
    };
    // Everything from the phone number's check to the insert is one write transaction.
    let txn = crate::db::begin_write(db).await?;
    let phone = match input.phone_number_id {
        Some(id) => {
            super::phone_numbers::find_attachable(
                &txn,
                actor.organization_id,
                mode,
                id,
                &mut errors,
            )
            .await?
        }
        None => None,
    };
    let (Some(name), Some(ty), Some((url, config)), true) =
        (name, input.r#type, routing, errors.is_empty())
    else {
        return Err(DomainError::Invalid(errors));
    };

    let now = entity::now();
    let id = Uuid::now_v7();
    let model = endpoint::ActiveModel {
        id: Set(id),
        organization_id: Set(actor.organization_id),
        name: Set(name),
        r#type: Set(ty),
        url: Set(url),
        status: Set(status),
        provider_config: Set(config.map(|c| c.to_stored(&settings.secrets, id))),
        mode: Set(mode),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let created = model.insert(&txn).await?;
    if let Some(phone) = phone {
        // Conditional on the number still being free, so two racing creates can't both take it.
        let attached = phone_number::Entity::update_many()
            .col_expr(phone_number::Column::EndpointId, Expr::value(created.id))
            .filter(phone_number::Column::Id.eq(phone.id))
            .filter(phone_number::Column::EndpointId.is_null())
            .exec(&txn)
            .await?;
        if attached.rows_affected != 1 {
            txn.rollback().await?;
            return Err(DomainError::invalid(
                Field::PhoneNumberId,
                UserErrorCode::PhoneNumberTaken,
                "{field} names a phone number already attached to another endpoint",
            ));
        }
    }
    txn.commit().await?;
    created.try_into()
}

/// Applies a patch; `updated_at` moves forward on every update, `created_at` never changes.
pub async fn update(
    db: &DatabaseConnection,
    settings: &Settings,
    actor: &Actor,
    id: Uuid,
    patch: EndpointPatch,
) -> Result<Endpoint, DomainError> {
    actor.ensure_can_write()?;
    // Read, merge and write under one lock, so that a concurrent update can't be lost in
    // between (a password kept from a stale read, say).
    let txn = crate::db::begin_write(db).await?;
    let stored = find_model_for_write(&txn, actor, id).await?;
    let current: Endpoint = stored.clone().try_into()?;
    let mut errors = Vec::new();

    let name = patch.name.as_deref().map(|n| check_name(n, &mut errors));
    if let Some(ty) = patch.r#type
        && ty != current.r#type
    {
        errors.push(FieldError::new(
            Field::Type,
            UserErrorCode::Immutable,
            "{field} can't change after an endpoint is created; create a new endpoint instead",
        ));
    }
    if let Some(status) = patch.status {
        check_status(status, &mut errors);
    }
    let routing = if patch.url.is_some() || patch.provider_config.is_some() {
        resolve_routing(
            current.r#type,
            patch.url,
            patch.provider_config,
            Some((&current.url, current.provider_config.as_ref())),
            settings,
            &mut errors,
        )
    } else {
        None
    };
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }

    let mut model = stored.into_active_model();
    if let Some(Some(name)) = name {
        model.name = Set(name);
    }
    if let Some(status) = patch.status {
        model.status = Set(status);
    }
    if let Some((url, config)) = routing {
        model.url = Set(url);
        model.provider_config = Set(config.map(|c| c.to_stored(&settings.secrets, id)));
    }
    // The `before_save` hook moves `updated_at` even when no column changed.
    let updated = model.update(&txn).await.map_err(|err| match err {
        sea_orm::DbErr::RecordNotUpdated => DomainError::NotFound("endpoint"),
        other => DomainError::Database(other),
    })?;
    txn.commit().await?;
    updated.try_into()
}

/// Deletes an endpoint and detaches its phone numbers, in one transaction.
pub async fn delete(db: &DatabaseConnection, actor: &Actor, id: Uuid) -> Result<Uuid, DomainError> {
    actor.ensure_can_write()?;
    let txn = crate::db::begin_write(db).await?;
    let stored = find_model_for_write(&txn, actor, id).await?;
    phone_number::Entity::update_many()
        .col_expr(
            phone_number::Column::EndpointId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(phone_number::Column::EndpointId.eq(stored.id))
        .exec(&txn)
        .await?;
    let deleted = endpoint::Entity::delete_many()
        .filter(Column::Id.eq(stored.id))
        .filter(Column::OrganizationId.eq(actor.organization_id))
        .exec(&txn)
        .await?;
    // Of racing deletes exactly one removes the row; the others find it gone.
    if deleted.rows_affected != 1 {
        return Err(DomainError::NotFound("endpoint"));
    }
    txn.commit().await?;
    Ok(stored.id)
}

#[derive(Debug, Clone, Default)]
pub struct EndpointFilter {
    pub types: Option<Vec<EndpointType>>,
    pub statuses: Option<Vec<EndpointStatus>>,
    /// Case-insensitive substring of the name or URL.
    pub search: Option<String>,
    pub mode: Option<Mode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OrderField {
    #[default]
    #[serde(rename = "c")]
    CreatedAt,
    #[serde(rename = "u")]
    UpdatedAt,
    #[serde(rename = "n")]
    Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Direction {
    #[serde(rename = "a")]
    Asc,
    #[default]
    #[serde(rename = "d")]
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ordering {
    pub field: OrderField,
    pub direction: Direction,
}

/// A position in one ordering: the sort value and id of the last row seen. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    f: OrderField,
    d: Direction,
    v: String,
    id: Uuid,
}

impl Cursor {
    fn of(ordering: Ordering, e: &Endpoint) -> Self {
        let v = match ordering.field {
            OrderField::CreatedAt => e.created_at.to_rfc3339(),
            OrderField::UpdatedAt => e.updated_at.to_rfc3339(),
            OrderField::Name => e.name.clone(),
        };
        Self {
            f: ordering.field,
            d: ordering.direction,
            v,
            id: e.id,
        }
    }

    fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a cursor is plain data");
        URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(raw: &str, ordering: Ordering) -> Result<Self, DomainError> {
        let bad = || DomainError::BadInput("`after` is not a valid cursor".to_owned());
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        // Made by this gateway from stored values, which never hold control characters.
        if has_control_chars(&cursor.v) || cursor.v.len() > 4 * MAX_NAME_LEN {
            return Err(bad());
        }
        if cursor.f != ordering.field || cursor.d != ordering.direction {
            return Err(DomainError::BadInput(
                "`after` is a cursor from a different orderBy; use cursors with the ordering that produced them"
                    .to_owned(),
            ));
        }
        Ok(cursor)
    }
}

#[derive(Debug, Clone)]
pub struct PageRequest {
    pub first: Option<i64>,
    /// The largest `first` allowed (the configured page size limit).
    pub max_first: u64,
    pub after: Option<String>,
    pub filter: EndpointFilter,
    pub order: Ordering,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<(String, Endpoint)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

/// The rows a list covers: the actor's organization and mode, then the client's filter.
/// `None` when the filter asks for a mode the credential can't see.
fn list_condition(actor: &Actor, filter: &EndpointFilter) -> Option<Condition> {
    let mode = match actor.read_scope(filter.mode) {
        ModeScope::Nothing => return None,
        ModeScope::Only(mode) => Some(mode),
        ModeScope::Both => None,
    };
    let mut cond = scoped(actor, mode);
    if let Some(types) = &filter.types {
        cond = cond.add(Column::Type.is_in(types.iter().copied()));
    }
    if let Some(statuses) = &filter.statuses {
        cond = cond.add(Column::Status.is_in(statuses.iter().copied()));
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let escaped = search
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let like = |col: Column| {
            Expr::expr(Func::lower(Expr::col(col)))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        cond = cond.add(
            Condition::any()
                .add(like(Column::Name))
                .add(like(Column::Url)),
        );
    }
    Some(cond)
}

/// One page in keyset order: stable while rows are inserted between requests.
pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    req: PageRequest,
) -> Result<Page, DomainError> {
    let first = match req.first {
        None => std::cmp::min(DEFAULT_PAGE_SIZE, req.max_first),
        Some(n) if n >= 1 && n.unsigned_abs() <= req.max_first => n.unsigned_abs(),
        Some(n) => {
            return Err(DomainError::BadInput(format!(
                "`first` must be between 1 and {} (the page size limit), got {n}",
                req.max_first
            )));
        }
    };
    if let Some(search) = &req.filter.search {
        if search.chars().count() > MAX_SEARCH_LEN {
            return Err(DomainError::BadInput(format!(
                "`filter.search` is longer than {MAX_SEARCH_LEN} characters"
            )));
        }
        if has_control_chars(search) {
            return Err(DomainError::BadInput(
                "`filter.search` contains control characters".to_owned(),
            ));
        }
    }
    let after = req
        .after
        .as_deref()
        .map(|raw| Cursor::decode(raw, req.order))
        .transpose()?;
    let Some(mut cond) = list_condition(actor, &req.filter) else {
        return Ok(Page {
            items: Vec::new(),
            has_next_page: false,
            has_previous_page: after.is_some(),
        });
    };

    let column = match req.order.field {
        OrderField::CreatedAt => Column::CreatedAt,
        OrderField::UpdatedAt => Column::UpdatedAt,
        OrderField::Name => Column::Name,
    };
    if let Some(cursor) = &after {
        let value: sea_orm::Value = match req.order.field {
            OrderField::Name => cursor.v.clone().into(),
            OrderField::CreatedAt | OrderField::UpdatedAt => {
                DateTime::parse_from_rfc3339(&cursor.v)
                    .map_err(|_| DomainError::BadInput("`after` is not a valid cursor".to_owned()))?
                    .with_timezone(&Utc)
                    .into()
            }
        };
        let beyond = match req.order.direction {
            Direction::Asc => Condition::any().add(column.gt(value.clone())).add(
                Condition::all()
                    .add(column.eq(value))
                    .add(Column::Id.gt(cursor.id)),
            ),
            Direction::Desc => Condition::any().add(column.lt(value.clone())).add(
                Condition::all()
                    .add(column.eq(value))
                    .add(Column::Id.lt(cursor.id)),
            ),
        };
        cond = cond.add(beyond);
    }
    let order = match req.order.direction {
        Direction::Asc => Order::Asc,
        Direction::Desc => Order::Desc,
    };
    let mut rows = endpoint::Entity::find()
        .filter(cond)
        .order_by(column, order.clone())
        .order_by(Column::Id, order)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    let items = rows
        .into_iter()
        .map(|m| {
            let e = Endpoint::try_from(m)?;
            Ok((Cursor::of(req.order, &e).encode(), e))
        })
        .collect::<Result<_, DomainError>>()?;
    Ok(Page {
        items,
        has_next_page,
        has_previous_page: after.is_some(),
    })
}

/// How many endpoints the filter matches across all pages.
pub async fn count(
    db: &DatabaseConnection,
    actor: &Actor,
    filter: &EndpointFilter,
) -> Result<u64, DomainError> {
    let Some(cond) = list_condition(actor, filter) else {
        return Ok(0);
    };
    Ok(endpoint::Entity::find().filter(cond).count(db).await?)
}
