//! Write-only values of provider configs: plaintext only between the client and the store.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::rules::{self, Refusal};
use crate::domain::secrets::{SecretBox, SecretError};

/// A write-only value: stored sealed, never returned, never printed. A value the client just
/// sent is `Plain` until it is stored; one read back from the database stays `Sealed`, since
/// nothing the gateway returns needs it opened.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Plain(String),
    Sealed(String),
}

impl Secret {
    /// A value a client sent: any non-empty text within the length limit.
    pub fn parse(text: String) -> Result<Self, Refusal> {
        rules::check_secret(text).map(Self::Plain)
    }

    pub(super) fn seal(&self, secrets: &SecretBox, context: &str) -> Self {
        match self {
            Self::Plain(p) => Self::Sealed(secrets.seal(p, context)),
            sealed @ Self::Sealed(_) => sealed.clone(),
        }
    }

    /// Whether this holds the same plaintext as `stored` (a value sent again unchanged); a
    /// sealed value that can't be opened is never the same.
    pub(super) fn same_as(&self, stored: &Self, secrets: &SecretBox, context: &str) -> bool {
        match (self.open(secrets, context), stored.open(secrets, context)) {
            (Ok(mine), Ok(theirs)) => mine == theirs,
            _ => false,
        }
    }

    /// The plaintext, for a caller that must hand it on (e.g. to a SIP trunk).
    pub fn open(&self, secrets: &SecretBox, context: &str) -> Result<String, SecretError> {
        match self {
            Self::Plain(p) => Ok(p.clone()),
            Self::Sealed(s) => secrets.open(s, context),
        }
    }

    pub fn is_plain(&self) -> bool {
        matches!(self, Self::Plain(_))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Sealed(s) => serializer.serialize_str(s),
            Self::Plain(_) => Err(serde::ser::Error::custom(
                "a secret must be sealed before it is stored",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        // Rows written before secrets were encrypted hold plaintext; startup seals them.
        Ok(if SecretBox::is_sealed(&value) {
            Self::Sealed(value)
        } else {
            Self::Plain(value)
        })
    }
}

/// What a sealed secret is bound to: its endpoint and field.
pub fn secret_context(endpoint_id: Uuid, field: &str) -> String {
    format!("endpoint:{endpoint_id}:{field}")
}
