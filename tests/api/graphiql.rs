//! GraphiQL is served by the gateway itself: the page names only same-origin assets, runs
//! under a strict CSP, and every asset is there, with its type, caching and integrity.

use base64::Engine as _;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use sha2::{Digest, Sha384};

use crate::helpers::*;

#[tokio::test]
async fn graphiql_and_its_assets_come_from_the_gateway() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let page = app
        .client
        .get(format!("{}/graphql", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let csp = page.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("text")
        .to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no absolute URL: {html}"
    );
    assert!(!html.contains("<script>"), "no inline script: {html}");
    let sources: Vec<&str> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/graphiql/"))
        .collect();
    assert_eq!(sources.len(), 9, "{sources:?}");
    // The query builder plugin comes with the page, from this gateway too.
    for explorer in [
        "/graphiql/assets/graphiql-plugin-explorer-3.2.6.umd.js",
        "/graphiql/assets/graphiql-plugin-explorer-3.2.6.css",
    ] {
        assert!(sources.contains(&explorer), "{explorer}: {sources:?}");
    }
    for source in sources {
        let res = app
            .client
            .get(format!("{}{source}", app.address))
            .send()
            .await
            .expect("asset");
        assert_eq!(res.status(), 200, "{source}");
        let content_type = res.headers()[CONTENT_TYPE]
            .to_str()
            .expect("text")
            .to_owned();
        let expected = if source.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(
            content_type.starts_with(expected),
            "{source}: {content_type}"
        );
        let body = if source.starts_with("/graphiql/assets/") {
            assert!(
                res.headers()[CACHE_CONTROL]
                    .to_str()
                    .expect("text")
                    .contains("immutable")
            );
            let body = res.bytes().await.expect("body");
            let integrity = integrity_of(&html, source);
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha384::digest(&body));
            assert_eq!(integrity, format!("sha384-{hash}"), "{source}");
            body
        } else {
            res.bytes().await.expect("body")
        };
        assert!(body.len() > 100, "{source} has content");
    }
    let missing = app
        .client
        .get(format!("{}/graphiql/assets/nope.js", app.address))
        .send()
        .await
        .expect("missing");
    assert_eq!(missing.status(), 404);
}

/// The `integrity` attribute of the page's tag that loads `source`.
fn integrity_of<'a>(html: &'a str, source: &str) -> &'a str {
    let tag = html
        .lines()
        .find(|line| line.contains(&format!("\"{source}\"")))
        .unwrap_or_else(|| panic!("no tag loads {source}"));
    tag.split("integrity=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{source} has no integrity: {tag}"))
}
