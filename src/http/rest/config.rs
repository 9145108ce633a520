//! A provider config in a REST body, read with serde into the domain's input, written from the
//! catalog (`domain/provider/catalog.rs`). A body holds the whole config: a plain field left out
//! or null is not set, a secret left out or null keeps the stored one. Which keys a body may
//! have is settled before (`body.rs`), so a key a struct here lacks is a read-only `{secret}_set`.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::domain::provider::{Change, Provider, ProviderConfigInput, catalog::catalog, input};
use crate::domain::{EndpointType, Field, FieldError, UserErrorCode};

/// One field's JSON value as sent.
#[derive(Default)]
enum Sent {
    #[default]
    Absent,
    Null,
    Text(String),
    /// Neither a string nor null.
    Other,
}

impl<'de> Deserialize<'de> for Sent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => Self::Null,
            Value::String(text) => Self::Text(text),
            _ => Self::Other,
        })
    }
}

/// A field's change, or `None` with its error pushed.
fn text(sent: Sent, at: Field, errors: &mut Vec<FieldError>) -> Option<Option<String>> {
    match sent {
        Sent::Absent | Sent::Null => Some(None),
        Sent::Text(text) => Some(Some(text)),
        Sent::Other => {
            errors.push(FieldError::new(
                at,
                UserErrorCode::Invalid,
                "{field} must be a string",
            ));
            None
        }
    }
}

/// A plain field of a whole config: left out, it is not set.
fn plain(sent: Sent, at: Field, errors: &mut Vec<FieldError>) -> Change {
    Some(text(sent, at, errors).flatten())
}

/// A secret: left out, the stored one is kept.
fn secret(sent: Sent, at: Field, errors: &mut Vec<FieldError>) -> Change {
    text(sent, at, errors).flatten().map(Some)
}

/// Writes one body struct per provider and `read`, which picks the provider's.
macro_rules! rest_layer {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident($config:ident, $create:ident, $update:ident) for $ty:ident {
            fields {$(
                $(#[doc = $field_doc:literal])*
                $field:ident: $field_ty:ty,
            )*}
            secrets {$(
                $(#[doc = $secret_doc:literal])*
                $secret:ident: $secret_ty:ty, shown as $shown:ident,
            )*}
            $(sip_domain($flag:literal, $env:literal, $default:literal))?
            url $url:expr
        }
    )*) => {
        mod body {
            use super::Sent;

            $(
                #[derive(serde::Deserialize)]
                pub(super) struct $config {
                    $(#[serde(default)] pub(super) $field: Sent,)*
                    $(#[serde(default)] pub(super) $secret: Sent,)*
                }
            )*
        }

        /// `config`, a body's `provider_config` whose keys `provider` reads, as the domain's
        /// input; `None` with the errors pushed when a value isn't a string.
        pub(super) fn read(
            provider: &Provider,
            config: &Map<String, Value>,
            errors: &mut Vec<FieldError>,
        ) -> Option<ProviderConfigInput> {
            let before = errors.len();
            let object = Value::Object(config.clone());
            let input = match provider.ty {
                $(EndpointType::$ty => {
                    let sent = body::$config::deserialize(object)
                        .map_err(|e| refused(e, errors))
                        .ok()?;
                    let _at = |name| Field::ProviderConfigField(EndpointType::$ty, name);
                    ProviderConfigInput::$variant(input::$config {
                        $($field: plain(sent.$field, _at(stringify!($field)), errors),)*
                        $($secret: secret(sent.$secret, _at(stringify!($secret)), errors),)*
                    })
                })*
                EndpointType::Webhook => return None,
            };
            (errors.len() == before).then_some(input)
        }
    };
}

catalog!(rest_layer);

/// A body the structs can't read: none, since every field takes any JSON value.
fn refused(error: serde_json::Error, errors: &mut Vec<FieldError>) {
    errors.push(FieldError::new(
        Field::ProviderConfig,
        UserErrorCode::Invalid,
        format!("{{field}} could not be read: {error}"),
    ));
}
