//! The seed's REST API (`/v1/endpoints`), served beside GraphQL: snake_case fields, lowercase
//! enum values, the seed's status codes and its `Error` body. Every rule lives in the domain;
//! this module only reads requests and writes responses.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::ActiveEnum;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, Envelope};
use super::pipeline;
use crate::code::Code;
use crate::domain::endpoints::{
    self, Direction, Endpoint, EndpointFilter, EndpointPatch, NewEndpoint, OrderField, Ordering,
    PageRequest,
};
use crate::domain::provider::{ProviderConfig, ProviderConfigInput, Secret};
use crate::domain::{
    Actor, DomainError, EndpointStatus, EndpointType, Field, FieldError, Mode, UserErrorCode,
};

const OPENAPI: &str = include_str!("openapi.json");

/// A failure, answered with the seed's `Error` body.
pub struct RestError(ApiError);

impl RestError {
    fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self(ApiError::new(status, code, message))
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, Code::NotFound, "Endpoint not found")
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self(ApiError::bad_request(message))
    }

    fn invalid(errors: Vec<FieldError>) -> Self {
        let rendered: Vec<Value> = errors
            .iter()
            .map(|e| {
                let field = field_name(e.field);
                json!({ "field": field, "code": code_name(e.code), "message": e.render(&field) })
            })
            .collect();
        let message = rendered
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = ApiError::new(StatusCode::BAD_REQUEST, Code::ValidationFailed, message);
        error.details = Some(Box::new(
            json!({ "field": rendered[0]["field"], "errors": rendered }),
        ));
        Self(error)
    }
}

impl From<DomainError> for RestError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid(errors) if !errors.is_empty() => Self::invalid(errors),
            DomainError::NotFound(_) => Self::not_found(),
            other => Self(other.into()),
        }
    }
}

impl From<ApiError> for RestError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        self.0.render(Envelope::Rest)
    }
}

/// The seed's names for the domain's fields (`provider_config.assistant_id`).
fn field_name(field: Field) -> String {
    match field {
        Field::Id => "id".into(),
        Field::Name => "name".into(),
        Field::Type => "type".into(),
        Field::Url => "url".into(),
        Field::Status => "status".into(),
        Field::Mode => "mode".into(),
        Field::PhoneNumberId => "phone_number_id".into(),
        Field::ProviderConfig => "provider_config".into(),
        Field::ProviderConfigField(_, name) => format!("provider_config.{name}"),
    }
}

fn code_name(code: UserErrorCode) -> &'static str {
    match code {
        UserErrorCode::Required => "REQUIRED",
        UserErrorCode::Blank => "BLANK",
        UserErrorCode::TooLong => "TOO_LONG",
        UserErrorCode::Invalid => "INVALID",
        UserErrorCode::InvalidUrl => "INVALID_URL",
        UserErrorCode::InvalidSipUri => "INVALID_SIP_URI",
        UserErrorCode::NotAllowed => "NOT_ALLOWED",
        UserErrorCode::ProviderConfigMismatch => "PROVIDER_CONFIG_MISMATCH",
        UserErrorCode::Immutable => "IMMUTABLE",
        UserErrorCode::StatusNotSettable => "STATUS_NOT_SETTABLE",
        UserErrorCode::ModeNotAllowed => "MODE_NOT_ALLOWED",
        UserErrorCode::PhoneNumberNotFound => "PHONE_NUMBER_NOT_FOUND",
        UserErrorCode::PhoneNumberTaken => "PHONE_NUMBER_TAKEN",
    }
}

/// The seed's lowercase name of an enum value: its stored value.
fn seed_name<E: ActiveEnum<Value = String>>(value: E) -> String {
    value.to_value()
}

/// An enum value from its seed name.
fn parse<E: ActiveEnum<Value = String>>(text: &str) -> Option<E> {
    E::try_from_value(&text.to_owned()).ok()
}

/// An endpoint as the seed's `Endpoint` schema has it; secrets are never included.
fn endpoint_json(e: &Endpoint) -> Value {
    let mut body = json!({
        "id": e.id,
        "name": e.name,
        "type": seed_name(e.r#type),
        "url": e.url,
        "status": seed_name(e.status),
        "mode": seed_name(e.mode),
        "organization_id": e.organization_id,
        "created_at": e.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "updated_at": e.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    });
    if let Some(config) = &e.provider_config {
        body["provider_config"] = config_json(config);
    }
    body
}

fn config_json(config: &ProviderConfig) -> Value {
    let mut object = Map::new();
    let mut put = |key: &str, value: Option<&String>| {
        if let Some(v) = value {
            object.insert(key.to_owned(), json!(v));
        }
    };
    match config {
        ProviderConfig::Vapi(c) => {
            put("assistant_id", Some(&c.assistant_id));
            put("credential_id", c.credential_id.as_ref());
            put("vapi_phone_number_id", c.vapi_phone_number_id.as_ref());
        }
        ProviderConfig::Retell(c) => {
            put("agent_id", Some(&c.agent_id));
            put("retell_phone_number", c.retell_phone_number.as_ref());
        }
        ProviderConfig::ElevenLabs(c) => put("elevenlabs_agent_id", Some(&c.elevenlabs_agent_id)),
        ProviderConfig::LiveKit(c) => {
            put("livekit_agent_name", c.livekit_agent_name.as_ref());
            put("livekit_sip_trunk_id", Some(&c.livekit_sip_trunk_id));
            put("livekit_sip_uri", Some(&c.livekit_sip_uri));
        }
        ProviderConfig::Vogent(c) => {
            put("vogent_agent_id", c.vogent_agent_id.as_ref());
            put("vogent_sip_prefix", Some(&c.vogent_sip_prefix));
            put("vogent_sip_username", Some(&c.vogent_sip_username));
            object.insert("vogent_sip_password_set".into(), json!(true));
        }
        ProviderConfig::CustomSip(c) => {
            put("sip_uri", Some(&c.sip_uri));
            put("username", c.username.as_ref());
            object.insert("password_set".into(), json!(c.password.is_some()));
        }
    }
    Value::Object(object)
}

/// Reads a JSON request body; anything but a JSON object is a 400 (415 for another media type).
fn json_object(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    max: usize,
    nesting_limit: usize,
) -> Result<Map<String, Value>, RestError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            RestError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::BodyLimitExceeded,
                super::body_limit_message(max),
            )
        } else {
            RestError::bad_request("The request body could not be read.")
        }
    })?;
    if !super::is_json_body(headers) {
        return Err(RestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::UnsupportedMediaType,
            "Send the body as `Content-Type: application/json`.",
        ));
    }
    super::check_json_nesting(&body, nesting_limit).map_err(|message| {
        RestError::new(StatusCode::BAD_REQUEST, Code::NestingLimitExceeded, message)
    })?;
    match serde_json::from_slice(&body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(RestError::bad_request("The body must be a JSON object.")),
        Err(_) => Err(RestError::bad_request("The body is not valid JSON.")),
    }
}

/// Field-by-field reading of a JSON object, collecting errors the way the domain does.
struct Reader<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Reader<'a> {
    fn new(object: &'a Map<String, Value>) -> Self {
        Self {
            object,
            errors: Vec::new(),
        }
    }

    fn string_at(&mut self, value: Option<&Value>, field: Field) -> Option<String> {
        match value {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.errors.push(FieldError::new(
                    field,
                    UserErrorCode::Invalid,
                    "{field} must be a string",
                ));
                None
            }
        }
    }

    fn string(&mut self, key: &str, field: Field) -> Option<String> {
        self.string_at(self.object.get(key), field)
    }

    fn choice<T>(
        &mut self,
        key: &str,
        field: Field,
        allowed: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = self.string(key, field)?;
        let parsed = parse(&text);
        if parsed.is_none() {
            self.errors.push(FieldError::new(
                field,
                UserErrorCode::Invalid,
                format!("{{field}} must be one of {allowed}"),
            ));
        }
        parsed
    }

    fn provider_config(&mut self, ty: EndpointType) -> Option<ProviderConfigInput> {
        let value = self.object.get("provider_config")?;
        let config = match value {
            Value::Null => return None,
            Value::Object(config) => config,
            _ => {
                self.errors.push(FieldError::new(
                    Field::ProviderConfig,
                    UserErrorCode::Invalid,
                    "{field} must be an object",
                ));
                return None;
            }
        };
        let mut get = |key: &'static str| {
            self.string_at(config.get(key), Field::ProviderConfigField(ty, key))
        };
        Some(match ty {
            EndpointType::Webhook => {
                self.errors.push(FieldError::new(
                    Field::ProviderConfig,
                    UserErrorCode::ProviderConfigMismatch,
                    "a webhook endpoint takes no provider config",
                ));
                return None;
            }
            EndpointType::Vapi => ProviderConfigInput::Vapi {
                assistant_id: get("assistant_id"),
                credential_id: get("credential_id"),
                vapi_phone_number_id: get("vapi_phone_number_id"),
            },
            EndpointType::Retell => ProviderConfigInput::Retell {
                agent_id: get("agent_id"),
                retell_phone_number: get("retell_phone_number"),
            },
            EndpointType::Elevenlabs => ProviderConfigInput::ElevenLabs {
                elevenlabs_agent_id: get("elevenlabs_agent_id"),
            },
            EndpointType::Livekit => ProviderConfigInput::LiveKit {
                livekit_agent_name: get("livekit_agent_name"),
                livekit_sip_trunk_id: get("livekit_sip_trunk_id"),
                livekit_sip_uri: get("livekit_sip_uri"),
            },
            EndpointType::Vogent => ProviderConfigInput::Vogent {
                vogent_agent_id: get("vogent_agent_id"),
                vogent_sip_prefix: get("vogent_sip_prefix"),
                vogent_sip_username: get("vogent_sip_username"),
                vogent_sip_password: get("vogent_sip_password").map(Secret::Plain),
            },
            EndpointType::CustomSip => ProviderConfigInput::CustomSip {
                sip_uri: get("sip_uri"),
                username: get("username"),
                password: get("password").map(Secret::Plain),
            },
        })
    }

    fn finish<T>(self, value: T) -> Result<T, RestError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(RestError::invalid(self.errors))
        }
    }
}

const TYPES: &str = "webhook, vapi, retell, livekit, elevenlabs, vogent, custom_sip";

/// Takes `cost` points from the caller's bucket, as a GraphQL operation would: 429 with
/// `Retry-After` when it can't pay. The unpaged list may cost more than a bucket holds; it is
/// charged a full bucket.
async fn charge(state: &AppState, actor: &Actor, cost: u64) -> Result<(), RestError> {
    let cost = cost.clamp(1, state.limiter.bucket_size());
    let bucket = pipeline::bucket(Some(actor), None);
    Ok(pipeline::charge(state, &bucket, cost, cost).await?)
}

/// A request's JSON object, read after its cost is paid: 1, plus 1 per 2 KiB of body, as a
/// GraphQL document pays for its length.
async fn charged_body(
    state: &AppState,
    headers: &HeaderMap,
    actor: &Actor,
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, Value>, RestError> {
    let len = body.as_ref().map_or(0, Bytes::len);
    charge(
        state,
        actor,
        (1 + len / super::graphql::BYTES_PER_COST_POINT) as u64,
    )
    .await?;
    json_object(
        headers,
        body,
        state.limits.max_body_bytes,
        state.limits.max_nesting,
    )
}

/// `GET /v1/openapi.json`
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// `GET /v1/endpoints`: every endpoint of the caller's organization and mode, oldest first.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<Value>>, RestError> {
    let actor = pipeline::require(&state, &headers).await?;
    pipeline::within::<_, RestError>(&state, async {
        // The seed's list has no pages: it costs 1 plus the endpoints it returns.
        let total = endpoints::count(&state.db, &actor, &EndpointFilter::default()).await?;
        charge(&state, &actor, total.saturating_add(1)).await?;
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = endpoints::list(
                &state.db,
                &actor,
                PageRequest {
                    first: Some(i64::try_from(state.limits.max_page_size).unwrap_or(i64::MAX)),
                    max_first: state.limits.max_page_size,
                    after,
                    filter: EndpointFilter::default(),
                    order: Ordering {
                        field: OrderField::CreatedAt,
                        direction: Direction::Asc,
                    },
                },
            )
            .await?;
            after = page.items.last().map(|(cursor, _)| cursor.clone());
            all.extend(page.items.iter().map(|(_, e)| endpoint_json(e)));
            if !page.has_next_page {
                break;
            }
        }
        Ok(Json(all))
    })
    .await
}

/// `POST /v1/endpoints`: 201 with the new endpoint.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RestError> {
    let actor = pipeline::require(&state, &headers).await?;
    let object = charged_body(&state, &headers, &actor, body).await?;
    let mut read = Reader::new(&object);
    let name = read.string("name", Field::Name);
    let ty = read.choice("type", Field::Type, TYPES, parse::<EndpointType>);
    let url = read.string("url", Field::Url);
    let provider_config = ty.and_then(|ty| read.provider_config(ty));
    let phone_number_id = read
        .string("phone_number_id", Field::PhoneNumberId)
        .map(|id| Uuid::parse_str(&id).map_err(|_| id));
    let mode = read.choice("mode", Field::Mode, "live, test", parse::<Mode>);
    // A missing name is the body's shape (as GraphQL's non-null `name`); a missing type is
    // the domain's rule, reported by it.
    if name.is_none() && !object.contains_key("name") {
        read.errors.push(FieldError::new(
            Field::Name,
            UserErrorCode::Required,
            "{field} is required",
        ));
    }
    let phone_number_id = match phone_number_id {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            read.errors.push(FieldError::new(
                Field::PhoneNumberId,
                UserErrorCode::Invalid,
                "{field} must be a UUID",
            ));
            None
        }
        None => None,
    };
    let new = read.finish(NewEndpoint {
        name: name.unwrap_or_default(),
        r#type: ty,
        url,
        status: None,
        provider_config,
        phone_number_id,
        mode,
    })?;
    let created = pipeline::within::<_, RestError>(&state, async {
        Ok(endpoints::create(&state.db, &state.endpoint_settings, &actor, new).await?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(endpoint_json(&created))).into_response())
}

fn endpoint_id(raw: &str) -> Result<Uuid, RestError> {
    // A malformed id names no endpoint.
    Uuid::parse_str(raw).map_err(|_| RestError::not_found())
}

/// `GET /v1/endpoints/{id}`
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let actor = pipeline::require(&state, &headers).await?;
    charge(&state, &actor, 1).await?;
    let id = endpoint_id(&id)?;
    let endpoint = pipeline::within::<_, RestError>(&state, async {
        Ok(endpoints::get(&state.db, &actor, id).await?)
    })
    .await?;
    Ok(Json(endpoint_json(&endpoint)))
}

/// `PATCH /v1/endpoints/{id}`: fields left out keep their value.
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, RestError> {
    let actor = pipeline::require(&state, &headers).await?;
    let id = endpoint_id(&id)?;
    let object = charged_body(&state, &headers, &actor, body).await?;
    // The provider config's fields depend on the endpoint's type.
    let current = endpoints::get(&state.db, &actor, id).await?;
    let mut read = Reader::new(&object);
    let patch = EndpointPatch {
        name: read.string("name", Field::Name),
        r#type: read.choice("type", Field::Type, TYPES, parse::<EndpointType>),
        url: read.string("url", Field::Url),
        // `error` parses, so that the domain can say it is the system's to set.
        status: read.choice(
            "status",
            Field::Status,
            "active, inactive",
            parse::<EndpointStatus>,
        ),
        provider_config: read.provider_config(current.r#type),
    };
    let patch = read.finish(patch)?;
    let updated = pipeline::within::<_, RestError>(&state, async {
        Ok(endpoints::update(&state.db, &state.endpoint_settings, &actor, id, patch).await?)
    })
    .await?;
    Ok(Json(endpoint_json(&updated)))
}

/// `DELETE /v1/endpoints/{id}`: 204.
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, RestError> {
    let actor = pipeline::require(&state, &headers).await?;
    charge(&state, &actor, 1).await?;
    let id = endpoint_id(&id)?;
    pipeline::within::<_, RestError>(&state, async {
        Ok(endpoints::delete(&state.db, &actor, id).await?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
