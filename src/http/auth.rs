//! Reads what a request presents of who it is — its credential, the organization it asks to
//! act in, its request id — once, from HTTP headers or a WebSocket's `connection_init` payload,
//! each refusal worded once for every transport; `crate::auth` decides who the caller is.

use axum::http::{HeaderMap, HeaderValue, header};
use serde_json::Value;
use uuid::Uuid;

use super::error::ApiError;
use super::headers::{API_KEY, ORGANIZATION};

/// What a request presents of who it is, parsed once; a malformed header is kept as the refusal
/// it earns, given when the request is identified (after the checks that come first).
#[derive(Debug, Clone)]
pub struct Presented(Result<Credentials, ApiError>);

/// A request's credential, the organization it asks to act in, and its request id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `Authorization: Bearer …` or `x-api-key: …`: an API key or a session token.
    pub token: Option<String>,
    pub organization: Option<Uuid>,
    /// The id the request-id layer gave the request, recorded with the changes it makes.
    pub request_id: Option<String>,
}

impl Presented {
    /// What the headers of an HTTP request present.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let request_id = headers
            .get(super::headers::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Self(read(
            |name| headers.get_all(name).iter().map(text).collect(),
            request_id,
        ))
    }

    /// What a WebSocket's `connection_init` payload presents: the credential headers, flat or
    /// under `headers` (one set of headers either way: the same header written twice with two
    /// values is sent twice), each a string; `Err` with why the payload is refused.
    pub fn from_payload(payload: &Value, request_id: Option<String>) -> Result<Self, String> {
        let mut found: Vec<(String, Result<String, ()>)> = Vec::new();
        for (name, value) in payload_fields(payload)? {
            let lower = name.to_ascii_lowercase();
            if ![
                header::AUTHORIZATION.as_str(),
                API_KEY.as_str(),
                ORGANIZATION.as_str(),
            ]
            .contains(&lower.as_str())
            {
                continue;
            }
            let Some(value) = value.as_str() else {
                return Err(format!(
                    "`{name}` in the connection_init payload must be a string."
                ));
            };
            // Held to what a header may carry, as the same credential over HTTP is.
            if HeaderValue::from_str(value).is_err() {
                return Err(format!(
                    "`{name}` in the connection_init payload is not a valid header value."
                ));
            }
            let entry = (lower, Ok(value.to_owned()));
            // Written in both places with the same value, it says one thing.
            if !found.contains(&entry) {
                found.push(entry);
            }
        }
        Ok(Self(read(
            |name| {
                found
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .collect()
            },
            request_id,
        )))
    }

    /// The credentials, or the refusal a malformed one earns.
    pub fn credentials(&self) -> Result<&Credentials, ApiError> {
        self.0.as_ref().map_err(Clone::clone)
    }
}

/// A header's value as text; `Err` when it isn't.
fn text(value: &HeaderValue) -> Result<String, ()> {
    value.to_str().map(str::to_owned).map_err(|_| ())
}

/// The credentials from the values of each header `values` finds by its lower-case name.
fn read(
    values: impl Fn(&str) -> Vec<Result<String, ()>>,
    request_id: Option<String>,
) -> Result<Credentials, ApiError> {
    let bearer = single(values(header::AUTHORIZATION.as_str()), "Authorization")?;
    let api_key = single(values(API_KEY.as_str()), API_KEY.as_str())?;
    let organization = single(values(ORGANIZATION.as_str()), ORGANIZATION.as_str())?;
    Ok(Credentials {
        token: credential(bearer, api_key)?,
        organization: organization.map(organization_id).transpose()?,
        request_id,
    })
}

/// The one value of a header the request may send once; a repeated header is a 400, since
/// proxies and servers disagree on which copy counts.
fn single(
    values: Vec<Result<String, ()>>,
    shown: &str,
) -> Result<Option<Result<String, ()>>, ApiError> {
    let mut values = values.into_iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::bad_request(format!(
            "The {shown} header is sent more than once; send it once."
        )));
    }
    Ok(first)
}

/// The credential a request carries, if any: `Authorization: Bearer …` or `x-api-key: …`.
/// Both may be sent only when they carry the same credential.
fn credential(
    bearer: Option<Result<String, ()>>,
    api_key: Option<Result<String, ()>>,
) -> Result<Option<String>, ApiError> {
    match (bearer, api_key) {
        (Some(bearer), Some(api_key)) => match (bearer_token(bearer), api_key_value(api_key)) {
            (Ok(a), Ok(b)) if a == b => Ok(Some(a)),
            _ => Err(ApiError::bad_request(
                "The Authorization and x-api-key headers carry different credentials; send one.",
            )),
        },
        (Some(bearer), None) => bearer_token(bearer).map(Some),
        (None, Some(api_key)) => api_key_value(api_key).map(Some),
        (None, None) => Ok(None),
    }
}

/// The token of one `Authorization: Bearer …` value.
pub(crate) fn bearer_of(value: &HeaderValue) -> Result<String, ApiError> {
    bearer_token(text(value))
}

fn bearer_token(value: Result<String, ()>) -> Result<String, ApiError> {
    let value = value
        .map_err(|()| ApiError::unauthenticated("The Authorization header is not valid text."))?;
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthenticated(
            "The Authorization header must use the Bearer scheme: `Authorization: Bearer <key or token>`.",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::unauthenticated("The Bearer token is empty."));
    }
    Ok(token.to_owned())
}

fn api_key_value(value: Result<String, ()>) -> Result<String, ApiError> {
    let value =
        value.map_err(|()| ApiError::unauthenticated("The x-api-key header is not valid text."))?;
    let key = value.trim();
    if key.is_empty() {
        return Err(ApiError::unauthenticated("The x-api-key header is empty."));
    }
    Ok(key.to_owned())
}

/// The organization the caller asked to act in; a malformed header is a 400.
fn organization_id(value: Result<String, ()>) -> Result<Uuid, ApiError> {
    value
        .ok()
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .ok_or_else(|| ApiError::bad_request("The x-organization-id header must be a UUID."))
}

/// The fields of a `connection_init` payload that may carry credential headers: the payload's
/// own and those under `headers`.
fn payload_fields(payload: &Value) -> Result<Vec<(&String, &Value)>, String> {
    let Value::Object(map) = payload else {
        return Err(match payload {
            Value::Null => missing_in_payload(),
            _ => "The connection_init payload must be an object.".to_owned(),
        });
    };
    if map
        .get("headers")
        .is_some_and(|headers| !headers.is_object())
    {
        return Err("`headers` in the connection_init payload must be an object.".to_owned());
    }
    Ok(payload_entries(map).collect())
}

/// A `connection_init` payload's members as the header set they stand for: the flat ones,
/// then those under `headers` (when it is an object).
pub(super) fn payload_entries(
    map: &serde_json::Map<String, Value>,
) -> impl Iterator<Item = (&String, &Value)> + Clone {
    let nested = map.get("headers").and_then(Value::as_object);
    map.iter().chain(nested.into_iter().flatten())
}

/// Why a `connection_init` is refused that presents no credential.
pub fn missing_in_payload() -> String {
    "Send your credential in the connection_init payload: {\"Authorization\": \"Bearer …\"} or {\"x-api-key\": \"…\"} (optionally with \"x-organization-id\"), flat or under \"headers\".".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("as written"),
                HeaderValue::from_str(value).expect("as written"),
            );
        }
        map
    }

    #[test]
    fn headers_and_a_payload_present_the_same_credentials() {
        let org = "6f1c1f3e-8a57-4c4b-9a55-2f0b7f1d9b10";
        let over_http = Presented::from_headers(&headers(&[
            ("authorization", "Bearer ck_test_1"),
            ("x-organization-id", org),
        ]));
        let flat = json!({ "Authorization": "Bearer ck_test_1", "x-organization-id": org });
        let nested =
            json!({ "headers": { "authorization": "Bearer ck_test_1", "X-Organization-Id": org } });
        for payload in [flat, nested] {
            let over_ws = Presented::from_payload(&payload, None).expect("as written");
            assert_eq!(
                over_ws.credentials().expect("as written"),
                over_http.credentials().expect("as written")
            );
        }
        let credentials = over_http.credentials().expect("as written");
        assert_eq!(credentials.token.as_deref(), Some("ck_test_1"));
        assert_eq!(
            credentials.organization.expect("as written").to_string(),
            org
        );
    }

    #[test]
    fn the_same_credential_twice_is_one_and_two_differing_are_refused() {
        let same = Presented::from_headers(&headers(&[
            ("authorization", "Bearer k"),
            ("x-api-key", "k"),
        ]));
        assert_eq!(
            same.credentials().expect("as written").token.as_deref(),
            Some("k")
        );
        let differing = Presented::from_headers(&headers(&[
            ("authorization", "Bearer k"),
            ("x-api-key", "j"),
        ]));
        assert_eq!(differing.credentials().expect_err("refused").status, 400);
    }

    #[test]
    fn a_malformed_credential_is_refused_when_identified_with_its_own_words() {
        for (pairs, status, words) in [
            (vec![("authorization", "Basic abc")], 401, "Bearer scheme"),
            (vec![("authorization", "Bearer ")], 401, "empty"),
            (vec![("x-api-key", " ")], 401, "empty"),
            (vec![("x-organization-id", "acme")], 400, "UUID"),
            (
                vec![("x-api-key", "a"), ("x-api-key", "a")],
                400,
                "more than once",
            ),
        ] {
            let refusal = Presented::from_headers(&headers(&pairs))
                .credentials()
                .expect_err("refused");
            assert_eq!(refusal.status, status, "{pairs:?}");
            assert!(
                refusal.message.contains(words),
                "{pairs:?}: {}",
                refusal.message
            );
        }
        // Flat and under `headers` are one set: a second credential is no override.
        let both = json!({ "x-api-key": "a", "headers": { "x-api-key": "b" } });
        let refusal = Presented::from_payload(&both, None)
            .expect("strings")
            .credentials()
            .expect_err("two credentials");
        assert!(
            refusal.message.contains("more than once"),
            "{}",
            refusal.message
        );
        let same = json!({ "x-api-key": "a", "headers": { "X-Api-Key": "a" } });
        let credentials = Presented::from_payload(&same, None).expect("strings");
        assert_eq!(
            credentials
                .credentials()
                .expect("one credential")
                .token
                .as_deref(),
            Some("a")
        );
        // A payload repeats a header by spelling its name twice.
        let twice = json!({ "x-api-key": "a", "X-API-KEY": "b" });
        let refusal = Presented::from_payload(&twice, None)
            .expect("as written")
            .credentials()
            .expect_err("refused");
        assert!(
            refusal.message.contains("more than once"),
            "{}",
            refusal.message
        );
    }

    #[test]
    fn a_payload_that_carries_no_header_strings_is_refused() {
        for payload in [
            json!(null),
            json!([]),
            json!({ "headers": "x" }),
            json!({ "x-api-key": 5 }),
            json!({ "authorization": "Bearer a\u{7}b" }),
        ] {
            assert!(
                Presented::from_payload(&payload, None).is_err(),
                "{payload}"
            );
        }
        // Other members are no credential: the payload presents none.
        let other = Presented::from_payload(&json!({ "locale": "en" }), None).expect("as written");
        assert_eq!(
            other.credentials().expect("as written"),
            &Credentials::default()
        );
    }
}
