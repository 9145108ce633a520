//! The rate-limit headers of draft-ietf-httpapi-ratelimit-headers-11 (`RateLimit-Policy`,
//! `RateLimit`) on every response whose request drew on a cost bucket, with the bucket's state
//! after the last charge or refund the request made (after a whole batch, for a batch).

use std::cell::Cell;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use super::headers::{RATELIMIT, RATELIMIT_POLICY};
use crate::ratelimit::ThrottleStatus;

/// The policy's name in both headers: the bucket counts cost points, not requests.
const POLICY: &str = "cost";

/// A bucket's state after a request drew on it; `retry_after` when the last take was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drawn {
    pub status: ThrottleStatus,
    pub retry_after: Option<Duration>,
}

tokio::task_local! {
    /// What the request being handled last drew; scoped by `headers` around the handler, so a
    /// charge made after the response is sent (a subscription's results, a WebSocket's
    /// operations) has no response to tell and is not recorded.
    static DRAWN: Cell<Option<Drawn>>;
}

/// Notes the state of the request's bucket after a charge or refund.
pub fn record(status: ThrottleStatus, retry_after: Option<Duration>) {
    // Outside a request's handler there is no response to write it on.
    let _ = DRAWN.try_with(|drawn| {
        drawn.set(Some(Drawn {
            status,
            retry_after,
        }));
    });
}

/// Runs the handler, then writes the headers when it drew on a bucket.
pub async fn headers(request: Request, next: Next) -> Response {
    let (mut response, drawn) = DRAWN
        .scope(Cell::new(None), async {
            let response = next.run(request).await;
            (response, DRAWN.with(Cell::get))
        })
        .await;
    if let Some(mut drawn) = drawn {
        // A batch answered 200 whose last operation was refused is no refusal: `t` tells when
        // the bucket is full, as on any other answer.
        if response.status() != axum::http::StatusCode::TOO_MANY_REQUESTS {
            drawn.retry_after = None;
        }
        write(response.headers_mut(), &drawn);
    }
    response
}

/// The two headers' values: the bucket's size and the seconds it takes to fill from empty;
/// the points left and the seconds until it is full again (on a refusal, until `Retry-After`,
/// as the draft asks when both are sent).
pub fn values(drawn: &Drawn) -> (String, String) {
    let status = drawn.status;
    let rate = status.restore_rate.max(f64::MIN_POSITIVE);
    let size = status.maximum_available.max(0.0);
    let available = status.currently_available.clamp(0.0, size);
    let window = (size / rate).ceil() as u64;
    let reset = match drawn.retry_after {
        Some(wait) => super::error::retry_after_seconds(wait),
        None => ((size - available) / rate).ceil() as u64,
    };
    (
        format!("\"{POLICY}\";q={};w={window}", size as u64),
        format!("\"{POLICY}\";r={};t={reset}", available.floor() as u64),
    )
}

fn write(headers: &mut HeaderMap, drawn: &Drawn) {
    let (policy, state) = values(drawn);
    // Digits, quotes and `;=` only: always a valid header value.
    if let (Ok(policy), Ok(state)) = (
        HeaderValue::from_str(&policy),
        HeaderValue::from_str(&state),
    ) {
        headers.insert(RATELIMIT_POLICY, policy);
        headers.insert(RATELIMIT, state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(available: f64) -> ThrottleStatus {
        ThrottleStatus {
            maximum_available: 1000.0,
            currently_available: available,
            restore_rate: 50.0,
        }
    }

    #[test]
    fn values_give_the_bucket_and_the_time_until_it_is_full() {
        let drawn = Drawn {
            status: status(899.6),
            retry_after: None,
        };
        assert_eq!(
            values(&drawn),
            (
                "\"cost\";q=1000;w=20".to_owned(),
                "\"cost\";r=899;t=3".to_owned()
            )
        );
    }

    #[test]
    fn a_refusal_resets_when_retry_after_says() {
        let drawn = Drawn {
            status: status(3.0),
            retry_after: Some(Duration::from_millis(1500)),
        };
        assert_eq!(values(&drawn).1, "\"cost\";r=3;t=2");
    }
}
