//! `POST /graphql` runs operations for an authenticated caller; `GET /graphql` serves GraphiQL.

use async_graphql::dataloader::DataLoader;
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::auth::{self, AuthRejection};
use crate::graphql::introspection::is_introspection_only;
use crate::graphql::loaders::PhoneNumbersByEndpoint;

pub async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("Cockpit gateway")
            .finish(),
    )
}

pub async fn execute(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> Response {
    let mut request = req.into_inner();
    let prepared = async {
        let organization = auth::requested_organization(&headers)?;
        match auth::credential(&headers)? {
            Some(token) => state
                .auth
                .authenticate(&token, organization)
                .await
                .map(Some)
                .map_err(AuthRejection::from),
            None if is_introspection_only(&request.query, request.operation_name.as_deref()) => {
                Ok(None)
            }
            None => Err(AuthRejection::unauthenticated(
                "Authentication required: send an API key as `Authorization: Bearer kros_…` or `x-api-key: kros_…`.",
            )),
        }
    };
    match prepared.await {
        Ok(Some(actor)) => {
            let loader = DataLoader::new(
                PhoneNumbersByEndpoint {
                    db: state.db.clone(),
                    organization_id: actor.organization_id,
                },
                tokio::spawn,
            );
            request = request.data(actor).data(loader);
        }
        Ok(None) => {}
        Err(rejection) => return rejection_response(rejection),
    }
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

/// A GraphQL-shaped error body with no `data`, under the rejection's HTTP status.
fn rejection_response(rejection: AuthRejection) -> Response {
    let body = serde_json::json!({
        "errors": [{
            "message": rejection.message,
            "extensions": { "code": rejection.code },
        }]
    });
    let mut response = (rejection.status, Json(body)).into_response();
    if rejection.status == axum::http::StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}
