//! What a client says of itself: its name and version, as the ecosystem's clients send them
//! (`graphql-client-name`/`-version`, then Apollo's `apollographql-client-name`/`-version`), in
//! headers or a WebSocket's `connection_init`. Only ever a label for logs, metrics and usage:
//! nothing is decided by it, since any client can say anything.

use axum::http::{HeaderMap, HeaderName};
use serde_json::Value;

use super::headers::{
    APOLLO_CLIENT_NAME, APOLLO_CLIENT_VERSION, GRAPHQL_CLIENT_NAME, GRAPHQL_CLIENT_VERSION,
};

/// Longest name or version kept, in characters; the rest is cut.
const MAX_LEN: usize = 64;

/// A client's name and version, each visible ASCII of at most [`MAX_LEN`] characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientApp {
    pub name: Option<String>,
    pub version: Option<String>,
}

impl ClientApp {
    /// What an HTTP request's headers say; the first of each header that has a usable value.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let first = |names: [&HeaderName; 2]| {
            names
                .into_iter()
                .find_map(|name| headers.get(name).and_then(|v| sanitised(v.as_bytes())))
        };
        Self {
            name: first([&GRAPHQL_CLIENT_NAME, &APOLLO_CLIENT_NAME]),
            version: first([&GRAPHQL_CLIENT_VERSION, &APOLLO_CLIENT_VERSION]),
        }
    }

    /// What a `connection_init` payload says: the same keys as the headers, any case, flat or
    /// under `headers` (flat first); members that aren't strings are ignored.
    pub fn from_payload(payload: &Value) -> Self {
        let Some(map) = payload.as_object() else {
            return Self::default();
        };
        let first = |names: [&HeaderName; 2]| {
            names.into_iter().find_map(|name| {
                super::auth::payload_entries(map)
                    .filter(|(key, _)| key.eq_ignore_ascii_case(name.as_str()))
                    .find_map(|(_, value)| value.as_str().and_then(|v| sanitised(v.as_bytes())))
            })
        };
        Self {
            name: first([&GRAPHQL_CLIENT_NAME, &APOLLO_CLIENT_NAME]),
            version: first([&GRAPHQL_CLIENT_VERSION, &APOLLO_CLIENT_VERSION]),
        }
    }

    /// This one where it names itself, else `fallback` (a WebSocket's upgrade request).
    pub fn or(self, fallback: &ClientApp) -> Self {
        Self {
            name: self.name.or_else(|| fallback.name.clone()),
            version: self.version.or_else(|| fallback.version.clone()),
        }
    }
}

/// A value kept to visible ASCII (and spaces within), cut at [`MAX_LEN`]; `None` when nothing
/// is left.
fn sanitised(bytes: &[u8]) -> Option<String> {
    let kept: String = bytes
        .iter()
        .filter(|b| b.is_ascii_graphic() || **b == b' ')
        .take(MAX_LEN)
        .map(|&b| char::from(b))
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    #[test]
    fn graphql_client_headers_come_before_apollos() {
        let mut headers = HeaderMap::new();
        headers.insert(APOLLO_CLIENT_NAME, HeaderValue::from_static("apollo-web"));
        headers.insert(APOLLO_CLIENT_VERSION, HeaderValue::from_static("2.0"));
        headers.insert(GRAPHQL_CLIENT_NAME, HeaderValue::from_static("dashboard"));
        let app = ClientApp::from_headers(&headers);
        assert_eq!(app.name.as_deref(), Some("dashboard"));
        assert_eq!(app.version.as_deref(), Some("2.0"));
    }

    #[test]
    fn a_payload_names_the_client_flat_or_under_headers() {
        let flat = json!({ "Apollographql-Client-Name": "ios", "graphql-client-version": "1" });
        let nested = json!({ "headers": { "apollographql-client-name": "ios", "GRAPHQL-CLIENT-VERSION": "1" } });
        for payload in [flat, nested] {
            let app = ClientApp::from_payload(&payload);
            assert_eq!(app.name.as_deref(), Some("ios"), "{payload}");
            assert_eq!(app.version.as_deref(), Some("1"), "{payload}");
        }
        let odd = json!({ "graphql-client-name": 5, "headers": "x" });
        assert_eq!(ClientApp::from_payload(&odd), ClientApp::default());
        assert_eq!(ClientApp::from_payload(&json!(null)), ClientApp::default());
    }

    #[test]
    fn names_are_cut_and_kept_to_visible_ascii() {
        let long = "n".repeat(200);
        assert_eq!(sanitised(long.as_bytes()).map(|n| n.len()), Some(MAX_LEN));
        assert_eq!(
            sanitised("  web\u{7}\tapp é ".as_bytes()).as_deref(),
            Some("webapp")
        );
        assert_eq!(sanitised(b" \x01 "), None);
    }
}
