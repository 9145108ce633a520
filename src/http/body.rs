//! Reads request bodies whole, within the body read timeout, before any handler runs: a client
//! that stalls mid-body gets 408 and its connection closed, instead of holding a task forever.

use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use serde_json::json;

use super::AppState;

/// Buffers at most `limit + 1` bytes: enough for the handler's body limit to see that a body
/// is too large and answer 413, without reading the rest.
async fn read_capped(body: Body, limit: usize) -> Option<Bytes> {
    let mut body = body;
    let mut buffer = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.ok()?;
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
            if buffer.len() > limit {
                break;
            }
        }
    }
    Some(Bytes::from(buffer))
}

pub async fn read_body(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let timeout = state.limits.body_read_timeout;
    let read = tokio::time::timeout(timeout, read_capped(body, state.limits.max_body_bytes)).await;
    match read {
        Ok(Some(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(None) => refuse(
            &parts.uri,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "The request body could not be read.".to_owned(),
        ),
        Err(_) => refuse(
            &parts.uri,
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            timeout_message(timeout),
        ),
    }
}

fn timeout_message(limit: Duration) -> String {
    format!(
        "The request body did not arrive within the {} s body read timeout.",
        limit.as_secs_f32()
    )
}

/// The answer to a body that never arrived whole; the connection is closed after it, since
/// the rest of the body would otherwise be read as the next request.
fn refuse(uri: &axum::http::Uri, status: StatusCode, code: &str, message: String) -> Response {
    let body = if uri.path().starts_with("/v1/") {
        json!({ "error": message, "code": code })
    } else {
        json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
    };
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
