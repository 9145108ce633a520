//! Secrets at rest: AES-256-GCM with a 256-bit key. Each sealed value is bound to where it is
//! stored (its associated data), so a ciphertext copied to another row or field won't open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;

/// Marks the format of a sealed value: `v1:` + base64url(nonce ‖ ciphertext ‖ tag).
const SEALED_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;
pub const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "the secret key must be 32 bytes, given as base64 (e.g. `openssl rand -base64 32`) or 64 hex digits"
    )]
    BadKey,
    #[error("a stored secret does not open with this key")]
    WrongKey,
    #[error("a stored secret is not in the sealed format")]
    Malformed,
}

#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    /// Keys for other purposes, derived from the deployment key, so that no two uses share one.
    derive: hkdf::Hkdf<sha2::Sha256>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
            derive: hkdf::Hkdf::new(None, key),
        }
    }

    /// A key for `purpose` (HKDF-SHA256 of the deployment key): the same for the same key and
    /// purpose, unrelated to the key that seals secrets or to any other purpose's.
    pub fn derive_key(&self, purpose: &str) -> [u8; KEY_LEN] {
        let mut key = [0u8; KEY_LEN];
        self.derive
            .expand(purpose.as_bytes(), &mut key)
            .expect("HKDF-SHA256 gives 32 bytes (far below its 8160-byte limit)");
        key
    }

    /// A key as an operator writes it: base64 (standard or URL-safe) or hex of 32 bytes.
    pub fn parse_key(text: &str) -> Result<[u8; KEY_LEN], SecretError> {
        let text = text.trim();
        let bytes = if text.len() == KEY_LEN * 2 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..KEY_LEN)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| SecretError::BadKey)?
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .map_err(|_| SecretError::BadKey)?
        };
        bytes.try_into().map_err(|_| SecretError::BadKey)
    }

    pub fn generate_key() -> [u8; KEY_LEN] {
        let mut key = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        key
    }

    pub fn encode_key(key: &[u8; KEY_LEN]) -> String {
        STANDARD.encode(key)
    }

    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(SEALED_PREFIX)
    }

    /// Encrypts `plaintext` for the place `context` names (e.g. an endpoint id and field).
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer does not fail");
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed))
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SecretError> {
        let encoded = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or(SecretError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| SecretError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::Malformed)?;
        let plaintext = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::WrongKey)?;
        String::from_utf8(plaintext).map_err(|_| SecretError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_in_the_same_context_only() {
        let sb = SecretBox::new(&SecretBox::generate_key());
        let sealed = sb.seal("hunter2", "endpoint:1:password");
        assert!(SecretBox::is_sealed(&sealed));
        assert!(!sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            sb.seal("hunter2", "endpoint:1:password"),
            "a fresh nonce each time"
        );
        assert_eq!(
            sb.open(&sealed, "endpoint:1:password").as_deref(),
            Ok("hunter2")
        );
        assert_eq!(
            sb.open(&sealed, "endpoint:2:password"),
            Err(SecretError::WrongKey)
        );
        let other = SecretBox::new(&SecretBox::generate_key());
        assert_eq!(
            other.open(&sealed, "endpoint:1:password"),
            Err(SecretError::WrongKey)
        );
        assert_eq!(sb.open("plain", "x"), Err(SecretError::Malformed));
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_deployment_key() {
        let key = SecretBox::generate_key();
        let sb = SecretBox::new(&key);
        assert_eq!(sb.derive_key("a"), SecretBox::new(&key).derive_key("a"));
        assert_ne!(sb.derive_key("a"), sb.derive_key("b"));
        assert_ne!(sb.derive_key("a"), key);
        let other = SecretBox::new(&SecretBox::generate_key());
        assert_ne!(sb.derive_key("a"), other.derive_key("a"));
    }

    #[test]
    fn keys_parse_from_base64_or_hex() {
        let key = SecretBox::generate_key();
        assert_eq!(SecretBox::parse_key(&SecretBox::encode_key(&key)), Ok(key));
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(SecretBox::parse_key(&hex), Ok(key));
        assert_eq!(SecretBox::parse_key("too-short"), Err(SecretError::BadKey));
        assert_eq!(
            SecretBox::parse_key(&STANDARD.encode([0u8; 16])),
            Err(SecretError::BadKey)
        );
    }
}
