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
use super::pipeline;
use crate::code::Code;
use crate::domain::endpoints::{
    self, Direction, Endpoint, EndpointFilter, EndpointPatch, NewEndpoint, OrderField, Ordering,
    PageRequest,
};
use crate::domain::provider::{
    PROVIDERS, Provider, ProviderConfig, ProviderConfigInput, Shown, WEBHOOK_TAKES_NO_CONFIG,
    set_flag,
};
use crate::domain::{
    Actor, DomainError, EndpointStatus, EndpointType, Field, FieldError, Mode, UserErrorCode,
};

mod body;
mod error;
mod openapi;
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
