//! The seed's REST API (`/v1/endpoints`), served beside GraphQL: snake_case fields, lowercase
//! enum values, the seed's status codes and its `Error` body. Every rule lives in the domain;
//! this module only reads requests and writes responses.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{ActiveEnum, Iterable};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, Envelope};
use super::headers::etag_of;
use super::idempotency::{self, Begun, Keyed};
use super::pipeline;
use crate::code::Code;
use crate::db::Db;
use crate::domain::endpoints::{
    self, Direction, Endpoint, EndpointFilter, EndpointPatch, NewEndpoint, OrderField, Ordering,
    PageRequest,
};
use crate::domain::provider::{
    PROVIDERS, Provider, ProviderConfig, ProviderConfigInput, Shown, WEBHOOK_TAKES_NO_CONFIG,
    set_flag,
};
use crate::domain::{
    Actor, DomainError, EndpointStatus, EndpointType, Field, FieldError, Mode, UserErrorCode, time,
};

mod body;
mod config;
mod error;
mod openapi;
mod precondition;
mod shape;

use body::{Reader, charge, charged_body, types};
pub use error::RestError;
use shape::{endpoint_json, parse, seed_name};

/// `GET /v1/openapi.json`
pub async fn openapi() -> Response {
    let document = openapi::document();
    ([(header::CONTENT_TYPE, "application/json")], document).into_response()
}

/// `GET /v1/endpoints`: every endpoint of the caller's organization and mode, oldest first.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<Value>>, RestError> {
    let actor = pipeline::require(&state, &headers).await?;
    pipeline::within::<_, RestError>(&state, async {
        // The seed's list has no pages: it costs 1 plus the endpoints it returns.
        let total =
            endpoints::count(&state.services.db, &actor, &EndpointFilter::default()).await?;
        charge(&state, &actor, total.saturating_add(1)).await?;
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = endpoints::list(
                &state.services.db,
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
            after = page.end_cursor();
            all.extend(page.items.iter().map(endpoint_json));
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
    let key = idempotency::key_of(&headers)?;
    let object = charged_body(&state, &headers, &actor, body).await?;
    let mut read = Reader::new(&object);
    let name = read.string("name", Field::Name);
    let ty = read.choice("type", Field::Type, types(), parse::<EndpointType>);
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
    let request = Write::new(
        key,
        "POST",
        "/v1/endpoints".to_owned(),
        Value::Object(object),
        &headers,
    );
    let (state, actor) = (&state, &actor);
    request
        .run(state, actor, |db| async move {
            let created = pipeline::within::<_, RestError>(state, async {
                Ok(endpoints::create(&db, &state.services.endpoints, actor, new).await?)
            })
            .await?;
            Ok(with_etag(
                &created,
                (StatusCode::CREATED, Json(endpoint_json(&created))).into_response(),
            ))
        })
        .await
}

/// A write, and the `Idempotency-Key` it was sent with.
struct Write {
    keyed: Option<Keyed>,
}

impl Write {
    /// The request a key stands for is its method, path, body and `If-Match`.
    fn new(
        key: Option<String>,
        method: &'static str,
        path: String,
        body: Value,
        headers: &HeaderMap,
    ) -> Self {
        let if_match: Vec<&str> = headers
            .get_all(header::IF_MATCH)
            .iter()
            .map(|v| v.to_str().unwrap_or("\u{fffd}"))
            .collect();
        let asked = json!({ "body": body, "if_match": if_match });
        Self {
            keyed: key.map(|key| Keyed::new(key, method, &path, &asked)),
        }
    }

    /// Runs `work` on the database it is given: without a key, the pool; with one, the key's
    /// unit of work, whose commit stores the response (or the stored response instead).
    async fn run<F, Fut>(
        self,
        state: &AppState,
        actor: &Actor,
        work: F,
    ) -> Result<Response, RestError>
    where
        F: FnOnce(Db) -> Fut,
        Fut: Future<Output = Result<Response, RestError>>,
    {
        let Some(keyed) = self.keyed else {
            return work(state.services.db.clone()).await;
        };
        // A REST request is one write.
        match idempotency::begin(state, actor, &keyed, Envelope::Rest, false).await? {
            Begun::Replay(response) => Ok(response),
            Begun::Run(guard) => {
                let response = work(guard.db())
                    .await
                    .unwrap_or_else(IntoResponse::into_response);
                Ok(guard.finish(response).await)
            }
        }
    }
}

fn endpoint_id(raw: &str) -> Result<Uuid, RestError> {
    // A malformed id names no endpoint.
    Uuid::parse_str(raw).map_err(|_| RestError::not_found())
}

/// `GET /v1/endpoints/{id}`, with its `ETag`; 304 when `If-None-Match` names it.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let actor = pipeline::require(&state, &headers).await?;
    charge(&state, &actor, 1).await?;
    let id = endpoint_id(&id)?;
    let endpoint = pipeline::within::<_, RestError>(&state, async {
        Ok(endpoints::get(&state.services.db, &actor, id).await?)
    })
    .await?;
    let tag = etag_of(endpoint.updated_at);
    if precondition::none_match(&headers, &tag) {
        return Ok(with_etag(
            &endpoint,
            StatusCode::NOT_MODIFIED.into_response(),
        ));
    }
    Ok(with_etag(
        &endpoint,
        Json(endpoint_json(&endpoint)).into_response(),
    ))
}

/// `PATCH /v1/endpoints/{id}`: fields left out keep their value; 412 when `If-Match` names
/// another version than the one stored.
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RestError> {
    let actor = pipeline::require(&state, &headers).await?;
    let key = idempotency::key_of(&headers)?;
    let if_match = precondition::IfMatch::of(&headers);
    let path = format!("/v1/endpoints/{id}");
    let id = endpoint_id(&id)?;
    let object = charged_body(&state, &headers, &actor, body).await?;
    let request = Write::new(key, "PATCH", path, Value::Object(object.clone()), &headers);
    let (state, actor) = (&state, &actor);
    request
        .run(state, actor, |db| async move {
            // The provider config's fields depend on the endpoint's type.
            let current = endpoints::get(&db, actor, id).await?;
            let expected_updated_at = if_match.expected(&current)?;
            let mut read = Reader::new(&object);
            let patch = EndpointPatch {
                name: read.string("name", Field::Name),
                r#type: read.choice("type", Field::Type, types(), parse::<EndpointType>),
                url: read.string("url", Field::Url),
                // `error` parses, so that the domain can say it is the system's to set.
                status: read.choice(
                    "status",
                    Field::Status,
                    "active, inactive",
                    parse::<EndpointStatus>,
                ),
                provider_config: read.provider_config(current.r#type),
                expected_updated_at,
            };
            let patch = read.finish(patch)?;
            let updated = pipeline::within::<_, RestError>(state, async {
                Ok(endpoints::update(&db, &state.services.endpoints, actor, id, patch).await?)
            })
            .await?;
            Ok(with_etag(
                &updated,
                Json(endpoint_json(&updated)).into_response(),
            ))
        })
        .await
}

/// `DELETE /v1/endpoints/{id}`: 204; 412 when `If-Match` names another version than the one
/// stored.
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let actor = pipeline::require(&state, &headers).await?;
    let key = idempotency::key_of(&headers)?;
    let if_match = precondition::IfMatch::of(&headers);
    charge(&state, &actor, 1).await?;
    let path = format!("/v1/endpoints/{id}");
    let id = endpoint_id(&id)?;
    let request = Write::new(key, "DELETE", path, Value::Null, &headers);
    let (state, actor) = (&state, &actor);
    request
        .run(state, actor, |db| async move {
            pipeline::within::<_, RestError>(state, async {
                let expected_updated_at = match if_match {
                    precondition::IfMatch::Absent => None,
                    if_match => if_match.expected(&endpoints::get(&db, actor, id).await?)?,
                };
                Ok(endpoints::delete(&db, actor, id, expected_updated_at).await?)
            })
            .await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        })
        .await
}

fn header_value(tag: &str) -> header::HeaderValue {
    // Digits in quotes: always a valid header value.
    header::HeaderValue::from_str(tag).unwrap_or(header::HeaderValue::from_static("\"\""))
}

fn with_etag(endpoint: &Endpoint, mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::ETAG, header_value(&etag_of(endpoint.updated_at)));
    response
}
