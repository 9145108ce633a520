//! The domain's provider types, written from the catalog: one config struct per provider (each
//! field of its rule's type), the `ProviderConfig` enum over them, the inputs a client's config
//! is parsed from (`input`, `ProviderConfigInput`), storage, generated SIP URIs, and
//! `PROVIDERS`, the table REST, OpenAPI and the command line read.

use std::fmt;

use entity::enums::EndpointType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::values::{Checker, PlainField, SecretField};
use super::*;
use crate::domain::error::FieldError;
use crate::domain::secrets::SecretBox;

/// Writes the domain's types from the catalog.
macro_rules! domain_layer {
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
        /// Each provider's config as a client sent it, a field per field of the config.
        pub mod input {
            use super::*;

            $(
                #[doc = concat!(
                    "A `", stringify!($config), "` as a client sent it: each field's [`Change`]."
                )]
                #[derive(Clone, Default, PartialEq, Eq)]
                pub struct $config {
                    $(pub $field: Change,)*
                    $(pub $secret: Change,)*
                }

                /// Secrets never reach debug output.
                impl fmt::Debug for $config {
                    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.debug_struct(stringify!($config))
                            $(.field(stringify!($field), &self.$field))*
                            $(.field(
                                stringify!($secret),
                                &self.$secret.as_ref().map(|v| v.as_ref().map(|_| "..")),
                            ))*
                            .finish()
                    }
                }
            )*
        }

        $(
            $(#[doc = $doc])*
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
            pub struct $config {
                $($(#[doc = $field_doc])* pub $field: $field_ty,)*
                $($(#[doc = $secret_doc])* pub $secret: $secret_ty,)*
            }

            impl $config {
                /// The config a client's `input` makes of the `stored` one, each given value
                /// parsed; what the input leaves out keeps its stored (typed) value.
                fn apply(
                    input: input::$config,
                    stored: Option<&Self>,
                    check: &mut Checker<'_>,
                ) -> Option<Self> {
                    $(let $field = <$field_ty as PlainField>::apply(
                        check,
                        stringify!($field),
                        input.$field,
                        stored.map(|c| &c.$field),
                    );)*
                    $(let $secret = <$secret_ty as SecretField>::apply(
                        check,
                        stringify!($secret),
                        input.$secret,
                        stored.map(|c| &c.$secret),
                    );)*
                    Some(Self {
                        $($field: $field.ok()?,)*
                        $($secret: $secret.ok()?,)*
                    })
                }

                /// The config with every secret sealed, bound to endpoint `id` (one sent again
                /// unchanged keeps its `_stored` sealing).
                fn sealed(&self, _stored: Option<&Self>, _secrets: &SecretBox, _id: Uuid) -> Self {
                    Self {
                        $($field: self.$field.clone(),)*
                        $($secret: self.$secret.sealed(
                            _stored.map(|c| &c.$secret),
                            _secrets,
                            &secret_context(_id, stringify!($secret)),
                        ),)*
                    }
                }

                fn has_plain_secret(&self) -> bool {
                    false $(|| self.$secret.is_plain())*
                }

                fn shown(&self) -> Vec<(&'static str, Shown<'_>)> {
                    vec![
                        $((stringify!($field), Shown::Text(self.$field.shown())),)*
                        $((stringify!($secret), Shown::SecretSet(self.$secret.is_set())),)*
                    ]
                }

                fn generated_url(&self, domain: &str) -> Option<String> {
                    let url: fn(&Self, &str) -> Option<String> = $url;
                    url(self, domain)
                }
            }
        )*

        /// A provider config whose every value holds its rule. Stored as the variant's fields
        /// in JSON; the endpoint's type says which variant it is.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ProviderConfig {
            $($variant($config),)*
        }

        /// A provider config as a client sent it: the provider, and each field's change. A
        /// whole config (a create, REST's bodies) clears every plain field it leaves out; a
        /// patch (GraphQL's update inputs) keeps them. Either keeps a secret left out.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ProviderConfigInput {
            $($variant(input::$config),)*
        }

        /// Every provider of the catalog, in its order.
        pub static PROVIDERS: &[Provider] = &[$(
            Provider {
                ty: EndpointType::$ty,
                name: stringify!($variant),
                config: stringify!($config),
                doc: &[$($doc),*],
                fields: &[
                    $(FieldSpec {
                        name: stringify!($field),
                        doc: &[$($field_doc),*],
                        required: <$field_ty as PlainField>::REQUIRED,
                        kind: FieldKind::Plain(<$field_ty as PlainField>::RULE),
                    },)*
                    $(FieldSpec {
                        name: stringify!($secret),
                        doc: &[$($secret_doc),*],
                        required: <$secret_ty as SecretField>::REQUIRED,
                        kind: FieldKind::Secret,
                    },)*
                ],
                sip_domain: &[$(SipDomainSetting {
                    flag: $flag,
                    env: $env,
                    default: $default,
                })?],
            },
        )*];

        impl ProviderConfigInput {
            pub fn endpoint_type(&self) -> EndpointType {
                match self {
                    $(Self::$variant(_) => EndpointType::$ty,)*
                }
            }

            /// Parses every value given, collecting one error per broken rule. `stored` is the
            /// endpoint's config, whose values (typed, never parsed again) are kept where the
            /// input leaves them out.
            pub fn parse(
                self,
                stored: Option<&ProviderConfig>,
                errors: &mut Vec<FieldError>,
            ) -> Option<ProviderConfig> {
                let mut check = Checker {
                    ty: self.endpoint_type(),
                    errors,
                };
                match self {
                    $(Self::$variant(input) => {
                        let stored = match stored {
                            Some(ProviderConfig::$variant(c)) => Some(c),
                            _ => None,
                        };
                        $config::apply(input, stored, &mut check).map(ProviderConfig::$variant)
                    })*
                }
            }

            /// A whole config of `ty` with the fields `given`; test input.
            #[cfg(test)]
            pub(super) fn whole(ty: EndpointType, given: &[(&str, &str)]) -> Option<Self> {
                let value = |name: &str| {
                    given.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
                };
                match ty {
                    $(EndpointType::$ty => Some(Self::$variant(input::$config {
                        $($field: Some(value(stringify!($field))),)*
                        $($secret: value(stringify!($secret)).map(Some),)*
                    })),)*
                    EndpointType::Webhook => None,
                }
            }
        }

        impl ProviderConfig {
            pub fn from_stored(
                endpoint_type: EndpointType,
                json: Option<&serde_json::Value>,
            ) -> Result<Option<Self>, serde_json::Error> {
                let Some(json) = json.filter(|v| !v.is_null()) else {
                    return Ok(None);
                };
                Ok(match endpoint_type {
                    $(EndpointType::$ty => Some(Self::$variant($config::deserialize(json)?)),)*
                    EndpointType::Webhook => None,
                })
            }

            /// The JSON stored for endpoint `id`, with every secret sealed.
            pub fn to_stored(&self, secrets: &SecretBox, id: Uuid) -> serde_json::Value {
                self.to_stored_over(None, secrets, id)
            }

            /// The JSON stored for endpoint `id` in place of its `stored` config: every secret
            /// sealed, and one sent again unchanged sealed as it was, so that a patch that
            /// changes nothing stores the same JSON.
            pub fn to_stored_over(
                &self,
                stored: Option<&Self>,
                secrets: &SecretBox,
                id: Uuid,
            ) -> serde_json::Value {
                match self {
                    $(Self::$variant(c) => {
                        let stored = match stored {
                            Some(Self::$variant(s)) => Some(s),
                            _ => None,
                        };
                        serde_json::to_value(c.sealed(stored, secrets, id))
                    })*
                }
                .expect("config structs hold strings and sealed secrets, which always serialize")
            }

            /// Whether any secret of this config is still plaintext (a row from before
            /// encryption).
            pub fn has_plain_secret(&self) -> bool {
                match self {
                    $(Self::$variant(c) => c.has_plain_secret(),)*
                }
            }

            pub fn endpoint_type(&self) -> EndpointType {
                match self {
                    $(Self::$variant(_) => EndpointType::$ty,)*
                }
            }

            /// Each field as a transport shows it, in declaration order, secrets last.
            pub fn shown(&self) -> Vec<(&'static str, Shown<'_>)> {
                match self {
                    $(Self::$variant(c) => c.shown(),)*
                }
            }

            /// The SIP URI calls go to, for the providers whose URI is generated rather than
            /// given.
            pub fn generated_url(&self, domains: &SipDomains) -> Option<String> {
                let domain = domains.get(self.endpoint_type());
                match self {
                    $(Self::$variant(c) => c.generated_url(domain),)*
                }
            }
        }
    };
}

catalog::catalog!(domain_layer);
