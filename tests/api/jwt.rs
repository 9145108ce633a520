//! JWT test support: a JWKS served on a local port (its keys can be swapped to test rotation,
//! and its fetches are counted), and tokens signed with the fixture keys.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const HS_SECRET: &str = "test-only-hs256-secret-for-cockpit-gateway-0123456789";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/jwt/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The public JWK of a fixture key (`rsa-1`, `rsa-2`, `ec-1`).
pub fn jwk(name: &str) -> Value {
    serde_json::from_str(&fixture(&format!("{name}.jwk.json"))).expect("JWK JSON")
}

pub struct JwksServer {
    pub url: String,
    keys: Arc<RwLock<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    pub async fn start(names: &[&str]) -> Self {
        let keys = Arc::new(RwLock::new(
            names.iter().map(|n| jwk(n)).collect::<Vec<_>>(),
        ));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (keys.clone(), fetches.clone());
        let router = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let served = served.clone();
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let keys = served.read().expect("keys lock").clone();
                    axum::Json(json!({ "keys": keys }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind JWKS");
        let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve JWKS");
        });
        Self { url, keys, fetches }
    }

    /// Serves these keys from now on (rotation).
    pub fn set_keys(&self, names: &[&str]) {
        *self.keys.write().expect("keys lock") = names.iter().map(|n| jwk(n)).collect();
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// Claims of a valid session for `sub`: audience `authenticated`, an hour to live.
pub fn claims(sub: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": sub, "aud": "authenticated", "role": "authenticated", "iat": now, "exp": now + 3600 })
}

/// Signs `claims` with the fixture key `name` (`rsa-1`, `rsa-2`, `ec-1`) under `kid`.
pub fn sign(name: &str, kid: Option<&str>, claims: &Value) -> String {
    let pem = fixture(&format!("{name}.pem"));
    let (alg, key) = if name.starts_with("ec") {
        (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(pem.as_bytes()).expect("EC key"),
        )
    } else {
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA key"),
        )
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

pub fn sign_hs256(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}
