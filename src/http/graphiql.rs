//! GraphiQL, served by the gateway from assets fetched at build time (see build.rs): no
//! request leaves for a CDN, and the page runs under a strict Content-Security-Policy.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha384};

/// A file build.rs took from a package: `asset!("package slug", "file name")`.
macro_rules! asset {
    ($package:literal, $file:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/graphiql/", $package, "/", $file))
    };
}

const STATUS: &str = include_str!(concat!(env!("OUT_DIR"), "/graphiql/status.txt"));
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every bundle under `/graphiql/assets/`, by the versioned name the page asks for; the page
/// loads the stylesheets, then the scripts, in this order.
const ASSETS: &[(&str, &[u8], &str)] = &[
    (
        "react-18.3.1.production.min.js",
        asset!("react", "react.production.min.js"),
        JS,
    ),
    (
        "react-dom-18.3.1.production.min.js",
        asset!("react-dom", "react-dom.production.min.js"),
        JS,
    ),
    (
        "graphiql-3.9.0.min.js",
        asset!("graphiql", "graphiql.min.js"),
        JS,
    ),
    (
        "graphiql-3.9.0.min.css",
        asset!("graphiql", "graphiql.min.css"),
        CSS,
    ),
    (
        "graphql-ws-6.4.2.min.js",
        asset!("graphql-ws", "graphql-ws.min.js"),
        JS,
    ),
    (
        "graphiql-plugin-explorer-3.2.6.umd.js",
        asset!("graphiql-plugin-explorer", "index.umd.js"),
        JS,
    ),
    (
        "graphiql-plugin-explorer-3.2.6.css",
        asset!("graphiql-plugin-explorer", "style.css"),
        CSS,
    ),
];

const APP_JS: &str = include_str!("graphiql/app.js");
const APP_CSS: &str = include_str!("graphiql/app.css");

/// Scripts and styles from this origin only; nothing inline but style attributes, which
/// GraphiQL's editor sets; no connection anywhere but back here (`'self'` takes in this
/// origin's WebSockets, which subscriptions use).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

/// The page names every asset with its Subresource Integrity hash, so the browser runs only
/// the bytes this build checked against npm's published integrity.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    let tags = |kind: &str, tag: fn(&str, &str) -> String| -> String {
        ASSETS
            .iter()
            .filter(|(_, _, content_type)| *content_type == kind)
            .map(|(name, body, _)| {
                let hash = base64::engine::general_purpose::STANDARD.encode(Sha384::digest(body));
                tag(
                    &format!("/graphiql/assets/{name}"),
                    &format!("sha384-{hash}"),
                ) + "\n"
            })
            .collect()
    };
    let styles = tags(CSS, |href, integrity| {
        format!(r#"<link rel="stylesheet" href="{href}" integrity="{integrity}">"#)
    });
    let scripts = tags(JS, |src, integrity| {
        format!(r#"<script src="{src}" integrity="{integrity}"></script>"#)
    });
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cockpit gateway · GraphiQL</title>
{styles}<link rel="stylesheet" href="/graphiql/app.css">
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
{scripts}<script src="/graphiql/app.js"></script>
</body>
</html>
"#
    )
});

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // For browsers older than CSP's frame-ancestors: no framing, so no clickjacking.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The GraphiQL page (for `GET /graphql` from a browser).
pub fn page() -> Response {
    if STATUS.trim() != "available" {
        let notice = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Cockpit gateway</title>\
             <link rel=\"stylesheet\" href=\"/graphiql/app.css\"></head><body><div class=\"cockpit-notice\">\
             <h1>GraphiQL is not built in</h1><p>Its assets were not available when this gateway was \
             built ({}). The API works: POST GraphQL to <code>/graphql</code>. Rebuild with npm \
             reaching its registry, or with <code>COCKPIT_GRAPHIQL_TARBALLS</code> set.</p></div></body></html>",
            html_escape(STATUS.trim())
        );
        return with_security_headers(Html(notice).into_response());
    }
    with_security_headers(Html(PAGE.as_str()).into_response())
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `GET /graphiql/assets/{file}`: the versioned bundles, cacheable for a year.
pub async fn asset(Path(file): Path<String>) -> Response {
    let Some(&(_, body, content_type)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    with_security_headers(response)
}

/// `GET /graphiql/app.js` and `/graphiql/app.css`: this gateway's own page code.
pub async fn app_js() -> Response {
    let response = (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
        .into_response();
    with_security_headers(response)
}

pub async fn app_css() -> Response {
    let response = ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS).into_response();
    with_security_headers(response)
}
