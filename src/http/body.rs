//! Reads request bodies whole, within the body read timeout, before any handler runs: a client
//! that stalls mid-body gets 408 and its connection closed, instead of holding a task forever.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt as _;

use super::AppState;
use super::error::{ApiError, Transport};
use crate::code::Code;

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
    let error = match read {
        Ok(Some(bytes)) => {
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
        }
        Ok(None) => ApiError::bad_request("The request body could not be read."),
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            Code::RequestTimeout,
            format!(
                "The request body did not arrive within the {} s body read timeout.",
                timeout.as_secs_f32()
            ),
        ),
    };
    let mut response = error.render(Transport::of(&parts.extensions).envelope(&parts.headers));
    // The rest of the body would otherwise be read as the next request.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
