//! Dashboard sessions: Supabase JWTs verified with the HS256 secret or the JWKS, and every
//! way a token is refused (401, a message that says why, never the token itself).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cockpit_gateway::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::jwt::{HS_SECRET, claims, sign, sign_hs256};

const VIEWER: &str = "{ viewer { credentialKind userId role mode organizationId } }";

async fn viewer(app: &TestApp, token: &str) -> Response {
    app.graphql(token, VIEWER, json!({})).await
}

/// A 401 UNAUTHENTICATED whose message contains `why` and not the token.
#[track_caller]
fn assert_refused(res: &Response, token: &str, why: &str) {
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{why}: {}", res.body);
    assert_eq!(
        res.error_code(),
        Some("UNAUTHENTICATED"),
        "{why}: {}",
        res.body
    );
    assert!(res.body.get("data").is_none(), "{}", res.body);
    let message = res.body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains(why), "expected {why:?} in {message:?}");
    let text = res.body.to_string();
    for part in token.split('.').filter(|p| p.len() > 8) {
        assert!(!text.contains(part), "the response repeats the token");
    }
}

fn with(claims_for: &str, changes: Value) -> Value {
    let mut c = claims(claims_for);
    for (k, v) in changes.as_object().expect("object") {
        if v.is_null() {
            c.as_object_mut().expect("object").remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

db_test! {
    async fn sessions_of_every_accepted_algorithm_work(app) {
        app.add_member(app.org.id, "alice", Role::Owner).await;
        for token in [
            sign_hs256(HS_SECRET, &claims("alice")),
            sign("rsa-1", Some("rsa-1"), &claims("alice")),
            sign("ec-1", Some("ec-1"), &claims("alice")),
        ] {
            let res = viewer(&app, &token).await;
            assert_eq!(
                res.assert_ok()["viewer"],
                json!({ "credentialKind": "USER", "userId": "alice", "role": "OWNER", "mode": null,
                    "organizationId": app.org.id })
            );
        }
    }
}

db_test! {
    async fn every_bad_token_is_refused_with_its_reason(app) {
        app.add_member(app.org.id, "alice", Role::Owner).await;
        let valid = sign("rsa-1", Some("rsa-1"), &claims("alice"));
        let parts: Vec<&str> = valid.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(with("mallory", json!({})).to_string());
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims("alice").to_string())
        );
        let cases = [
            (unsigned, "alg: none"),
            (sign("rsa-1", Some("rsa-1"), &with("alice", json!({ "exp": now() - 3600 }))), "expired"),
            (sign("rsa-1", Some("rsa-1"), &with("alice", json!({ "nbf": now() + 3600 }))), "not valid yet"),
            (sign("rsa-1", Some("rsa-1"), &with("alice", json!({ "aud": "anon" }))), "audience"),
            (sign("rsa-1", Some("rsa-1"), &with("alice", json!({ "aud": null }))), "`aud`"),
            (sign("rsa-1", Some("rsa-1"), &with("alice", json!({ "exp": null }))), "`exp`"),
            (sign("rsa-1", Some("rsa-1"), &with("alice", json!({ "sub": null }))), "`sub`"),
            (tampered, "signature"),
            (sign("rsa-2", Some("rsa-1"), &claims("alice")), "signature"),
            (sign_hs256("some-other-secret", &claims("alice")), "signature"),
            (sign("rsa-1", Some("unknown-kid"), &claims("alice")), "kid"),
            (sign("rsa-1", None, &claims("alice")), "kid"),
            (sign("ec-1", Some("rsa-1"), &claims("alice")), "algorithm"),
            ("abc.def".to_owned(), "well-formed"),
            ("not a token at all".to_owned(), "well-formed"),
        ];
        for (token, why) in &cases {
            assert_refused(&viewer(&app, token).await, token, why);
        }
        assert_eq!(viewer(&app, &valid).await.status, StatusCode::OK, "the valid one still works");
    }
}

db_test! {
    async fn hs256_is_refused_when_only_a_jwks_is_configured(app) {
        let jwks_only = TestApp::builder(app.backend).with_config(|c| c.jwt.secret = None).spawn().await.expect("app");
        jwks_only.add_member(jwks_only.org.id, "alice", Role::Member).await;
        let hs = sign_hs256(HS_SECRET, &claims("alice"));
        assert_refused(&viewer(&jwks_only, &hs).await, &hs, "HS256 tokens are not accepted");
        let rs = sign("rsa-1", Some("rsa-1"), &claims("alice"));
        viewer(&jwks_only, &rs).await.assert_ok();

        let secret_only = TestApp::builder(app.backend).with_config(|c| c.jwt.jwks_url = None).spawn().await.expect("app");
        secret_only.add_member(secret_only.org.id, "alice", Role::Member).await;
        assert_refused(&viewer(&secret_only, &rs).await, &rs, "RS256 tokens are not accepted");
        viewer(&secret_only, &hs).await.assert_ok();

        let neither = TestApp::builder(app.backend).with_config(|c| {
            c.jwt.secret = None;
            c.jwt.jwks_url = None;
        }).spawn()
        .await
        .expect("app");
        assert_refused(&viewer(&neither, &hs).await, &hs, "accepts no JWT sessions");
    }
}

db_test! {
    async fn issuer_and_audience_are_checked_as_configured(app) {
        let iss = "https://project.supabase.co/auth/v1";
        let strict = TestApp::builder(app.backend).with_config(|c| {
            c.jwt.issuer = Some(iss.to_owned());
            c.jwt.audience = "dashboard".to_owned();
        }).spawn()
        .await
        .expect("app");
        strict.add_member(strict.org.id, "alice", Role::Member).await;
        let good = with("alice", json!({ "iss": iss, "aud": "dashboard" }));
        viewer(&strict, &sign("rsa-1", Some("rsa-1"), &good)).await.assert_ok();
        for (claims, why) in [
            (with("alice", json!({ "iss": "https://evil.example/auth/v1", "aud": "dashboard" })), "issuer"),
            (with("alice", json!({ "aud": "dashboard" })), "`iss`"),
            (with("alice", json!({ "iss": iss })), "audience"),
        ] {
            let token = sign("rsa-1", Some("rsa-1"), &claims);
            assert_refused(&viewer(&strict, &token).await, &token, why);
        }
    }
}

db_test! {
    async fn a_rotated_signing_key_is_picked_up_without_restart(app) {
        let app = TestApp::builder(app.backend).with_config(|c| {
            c.jwt.jwks_min_refetch = Duration::from_millis(100);
            c.jwt.jwks_max_age = Duration::from_millis(800);
        }).spawn()
        .await
        .expect("app");
        app.add_member(app.org.id, "alice", Role::Member).await;
        let old = sign("rsa-1", Some("rsa-1"), &claims("alice"));
        let new = sign("rsa-2", Some("rsa-2"), &claims("alice"));
        viewer(&app, &old).await.assert_ok();
        assert_refused(&viewer(&app, &new).await, &new, "kid");

        // The issuer publishes the new key beside the old, then retires the old one.
        app.jwks.set_keys(&["rsa-1", "rsa-2"]);
        tokio::time::sleep(Duration::from_millis(150)).await;
        viewer(&app, &new).await.assert_ok();
        viewer(&app, &old).await.assert_ok();
        app.jwks.set_keys(&["rsa-2"]);
        tokio::time::sleep(Duration::from_millis(900)).await;
        viewer(&app, &new).await.assert_ok();
        assert_refused(&viewer(&app, &old).await, &old, "kid");
    }
}

db_test! {
    async fn a_flood_of_unknown_kids_fetches_the_jwks_at_most_once_per_interval(app) {
        // An interval no loaded machine outlasts, so the count depends on no timing.
        let app = TestApp::builder(app.backend).with_config(|c| {
            c.jwt.jwks_min_refetch = std::time::Duration::from_secs(3600);
        }).spawn()
        .await
        .expect("app");
        app.add_member(app.org.id, "alice", Role::Member).await;
        let mut refused = Vec::new();
        for i in 0..25 {
            let token = sign("rsa-1", Some(&format!("made-up-{i}")), &claims("alice"));
            refused.push(viewer(&app, &token).await.status);
        }
        assert!(refused.iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{refused:?}");
        assert_eq!(app.jwks.fetches(), 1, "one fetch for the first miss, none for the rest");
        // Known keys keep working from the cache meanwhile.
        viewer(&app, &app.session("alice")).await.assert_ok();
        assert_eq!(app.jwks.fetches(), 1);
    }
}

db_test! {
    async fn an_unreachable_jwks_is_a_503_not_a_401(app) {
        let app = TestApp::builder(app.backend).with_config(|c| {
            c.jwt.jwks_url = Some("http://127.0.0.1:9/jwks.json".to_owned());
        }).spawn()
        .await
        .expect("app");
        app.add_member(app.org.id, "alice", Role::Member).await;
        let res = viewer(&app, &app.session("alice")).await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.body);
        assert_eq!(res.error_code(), Some("AUTHENTICATION_UNAVAILABLE"), "{}", res.body);
        assert!(res.headers.contains_key("retry-after"));
        // HS256 sessions don't need the JWKS and keep working.
        viewer(&app, &sign_hs256(HS_SECRET, &claims("alice"))).await.assert_ok();
    }
}
