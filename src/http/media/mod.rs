//! The media types of GraphQL responses and how a request's `Accept` picks one (GraphQL over
//! HTTP): `application/graphql-response+json` when named, else `application/json`, or an
//! event stream when the client prefers one (or asks for a subscription), or Apollo's multipart
//! subscriptions for a subscription when the client names them.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";
const MULTIPART_MIXED: &str = "multipart/mixed";

/// The media type of a GraphQL response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    GraphqlResponseJson,
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }

    /// The status of a GraphQL request error — a document that doesn't parse or validate, or
    /// variables that can't be coerced: with `application/json` every well-formed request is
    /// answered 200 and the errors speak for themselves (older clients treat a 4xx as a
    /// transport failure and never read them); `application/graphql-response+json` says 400.
    pub fn request_error_status(self) -> StatusCode {
        match self {
            Self::Json => StatusCode::OK,
            Self::GraphqlResponseJson => StatusCode::BAD_REQUEST,
        }
    }

    /// `body` as this media type, with `status`.
    pub fn respond(self, status: StatusCode, body: &impl serde::Serialize) -> Response {
        // Nothing here fails to serialize (map keys are strings); were it to, the client gets
        // the body of any other fault of ours (`ApiError::internal`).
        let (status, bytes) = match serde_json::to_vec(body) {
            Ok(bytes) => (status, bytes),
            Err(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({ "errors": [{ "message": "Internal server error",
                    "extensions": { "code": crate::code::Code::InternalServerError.as_str() } }] })
                .to_string()
                .into_bytes(),
            ),
        };
        let mut response = (status, bytes).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type()),
        );
        response
    }
}

/// What a request's `Accept` lets the gateway answer with (RFC 9110 § 12.5.1): the JSON media
/// type it prefers, if any, and whether it takes an event stream instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The JSON media type to answer in; `None` when the client accepts neither.
    pub json: Option<Media>,
    pub stream: Stream,
    /// Whether a subscription is answered as Apollo's multipart subscriptions: the client
    /// names `multipart/mixed;subscriptionSpec=1.0` and likes it more than an event stream.
    pub multipart: bool,
}

/// How a client takes an event stream (`text/event-stream`, graphql-sse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Not at all: no range covers it, or only with `q=0`.
    Refused,
    /// Less than JSON: only a subscription, which has no JSON answer, streams.
    Accepted,
    /// Over JSON (ranked higher, or equal and listed first), or JSON isn't acceptable: every
    /// operation streams.
    Preferred,
}

impl Negotiated {
    /// Whether anything the gateway serves is acceptable; otherwise the answer is 406.
    pub fn acceptable(self) -> bool {
        self.json.is_some() || self.stream != Stream::Refused || self.multipart
    }

    /// The JSON media type an operation's answer (and its refusal) is rendered in: the
    /// negotiated one, `application/json` when the client prefers an event stream or takes
    /// multipart alone (a refused operation is answered as a POST taking `application/json`
    /// is); `None` when nothing is acceptable.
    pub fn answer_media(self) -> Option<Media> {
        match self.stream {
            Stream::Preferred => Some(Media::Json),
            _ if self.json.is_none() && self.multipart => Some(Media::Json),
            _ => self.json,
        }
    }

    /// Whether a subscription can be answered: the client takes an event stream or multipart.
    pub fn streams(self) -> bool {
        self.stream != Stream::Refused || self.multipart
    }

    /// Whether only a subscription can be answered: the client takes multipart alone.
    pub fn subscriptions_only(self) -> bool {
        self.multipart && self.json.is_none() && self.stream == Stream::Refused
    }

    /// The JSON media type errors are rendered in: the negotiated one, else `application/json`.
    pub fn error_media(self) -> Media {
        self.json.unwrap_or(Media::Json)
    }
}

/// How much a client wants a media type: the quality of the most specific range that covers
/// it, and where that range stands in the header (earlier wins a tie).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rank {
    q: f32,
    position: usize,
}

impl Rank {
    fn acceptable(self) -> bool {
        self.q > 0.0
    }

    fn beats(self, other: Self) -> bool {
        self.q > other.q || (self.q == other.q && self.position < other.position)
    }
}

/// One media range of `Accept`, lower-cased (`*` for a wildcard), with its quality and the
/// version of Apollo's multipart subscriptions it names (`subscriptionSpec`), if any.
struct Range {
    kind: String,
    subtype: String,
    q: f32,
    subscription_spec: Option<String>,
}

/// The media ranges of every `Accept` header, in order; `None` when there is none (or only
/// blank ones). A range that doesn't parse, or whose `q` is no qvalue, is skipped. Media type
/// parameters are not compared (every response is UTF-8 and has no other parameter), but for
/// `subscriptionSpec`: `multipart/mixed` without it asks for incremental delivery (`@defer`).
fn ranges(headers: &HeaderMap) -> Option<Vec<Range>> {
    let mut present = false;
    let mut ranges = Vec::new();
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            present = true;
            continue;
        };
        present |= !value.trim().is_empty();
        ranges.extend(split_unquoted(value, b',').filter_map(range));
    }
    present.then_some(ranges)
}

/// One `type/subtype;param=value` of `Accept` (RFC 9110's grammar, whitespace around `;` and
/// `=` allowed).
fn range(text: &str) -> Option<Range> {
    let mut parts = split_unquoted(text, b';').map(str::trim);
    let (kind, subtype) = parts.next()?.split_once('/')?;
    let token = |t: &str| !t.is_empty() && t.bytes().all(is_tchar);
    // `*/json` names no range.
    if !token(kind) || !token(subtype) || (kind == "*" && subtype != "*") {
        return None;
    }
    let mut q = 1.0;
    let mut subscription_spec = None;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("q") {
            q = qvalue(value)?;
            // What follows the weight are accept extensions, not the media type's parameters.
            break;
        }
        if name.eq_ignore_ascii_case("subscriptionspec") {
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            subscription_spec = Some(unquoted.to_owned());
        }
    }
    Some(Range {
        kind: kind.to_ascii_lowercase(),
        subtype: subtype.to_ascii_lowercase(),
        q,
        subscription_spec,
    })
}

/// RFC 9110's `tchar`: what a token is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `text` split at each `separator` outside a quoted string.
fn split_unquoted(text: &str, separator: u8) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    text.split(move |c: char| match c {
        _ if escaped => {
            escaped = false;
            false
        }
        '\\' if quoted => {
            escaped = true;
            false
        }
        '"' => {
            quoted = !quoted;
            false
        }
        c => !quoted && c == char::from(separator),
    })
}

/// RFC 9110's `qvalue`: 0 to 1 with at most three decimals.
fn qvalue(text: &str) -> Option<f32> {
    let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
    let valid = matches!(whole, "0" | "1")
        && decimals.len() <= 3
        && decimals.bytes().all(|b| b.is_ascii_digit())
        && (whole == "0" || decimals.bytes().all(|b| b == b'0'));
    valid.then(|| text.parse().ok()).flatten()
}

/// How much the client wants `media` (`type/subtype`): by its most specific covering range
/// (the type itself, then `type/*`, then `*/*`), the best quality among equally specific ones.
/// `exact_only` looks at the type itself alone.
fn rank(ranges: &[Range], media: &str, exact_only: bool) -> Option<Rank> {
    rank_where(ranges, media, exact_only, |_| true)
}

/// `rank` among the ranges `counts` keeps (their places in the header unchanged).
fn rank_where(
    ranges: &[Range],
    media: &str,
    exact_only: bool,
    counts: impl Fn(&Range) -> bool,
) -> Option<Rank> {
    let (kind, subtype) = media.split_once('/').unwrap_or((media, ""));
    let specificity = |range: &Range| match (range.kind.as_str(), range.subtype.as_str()) {
        _ if !counts(range) => None,
        (k, s) if k == kind && s == subtype => Some(2),
        (k, "*") if k == kind && !exact_only => Some(1),
        ("*", "*") if !exact_only => Some(0),
        _ => None,
    };
    let most = ranges.iter().filter_map(specificity).max()?;
    ranges
        .iter()
        .enumerate()
        .filter(|(_, range)| specificity(range) == Some(most))
        .map(|(position, range)| Rank {
            q: range.q,
            position,
        })
        .reduce(|best, next| if next.q > best.q { next } else { best })
}

/// Negotiates the answer from `Accept`. JSON: `application/graphql-response+json` when the
/// client names it and likes it at least as much as `application/json`; otherwise
/// `application/json` — for no `Accept` (as GraphQL over HTTP asks), and for wildcards (`*/*`
/// is what most HTTP clients send, and they read plain JSON). An event stream as `Stream`
/// says; a request without `Accept` takes none. Multipart subscriptions only when named with
/// `subscriptionSpec=1.0` (no wildcard covers them: the protocol is the client's to ask for);
/// other `multipart/mixed` (incremental delivery) isn't served, so it is as if not offered.
pub fn negotiate(headers: &HeaderMap) -> Negotiated {
    let Some(ranges) = ranges(headers) else {
        return Negotiated {
            json: Some(Media::Json),
            stream: Stream::Refused,
            multipart: false,
        };
    };
    let named = rank(&ranges, GRAPHQL_RESPONSE_JSON, true).is_some();
    let json = rank(&ranges, APPLICATION_JSON, false).filter(|r| r.acceptable());
    let response = rank(&ranges, GRAPHQL_RESPONSE_JSON, false).filter(|r| r.acceptable());
    // The JSON type the client likes best; `application/json` when both come as much (named
    // `graphql-response+json` wins that tie), so that `*/*` reads plain JSON.
    let chosen = match (response, json) {
        (Some(r), Some(j)) if r.q > j.q || (r.q == j.q && named) => {
            Some((Media::GraphqlResponseJson, r))
        }
        (_, Some(j)) => Some((Media::Json, j)),
        (Some(r), None) => Some((Media::GraphqlResponseJson, r)),
        (None, None) => None,
    };
    let event_stream = rank(&ranges, EVENT_STREAM, false).filter(|r| r.acceptable());
    let stream = match event_stream {
        None => Stream::Refused,
        Some(stream) if chosen.is_none_or(|(_, json)| stream.beats(json)) => Stream::Preferred,
        Some(_) => Stream::Accepted,
    };
    let multipart = rank_where(&ranges, MULTIPART_MIXED, true, |r| {
        r.subscription_spec.as_deref() == Some("1.0")
    })
    .filter(|r| r.acceptable())
    .is_some_and(|multipart| event_stream.is_none_or(|stream| multipart.beats(stream)));
    Negotiated {
        json: chosen.map(|(media, _)| media),
        stream,
        multipart,
    }
}

#[cfg(test)]
mod tests;
