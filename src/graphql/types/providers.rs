//! Provider configs in GraphQL, written from the catalog (`domain/provider/catalog.rs`): each
//! provider's output type and input, the `ProviderConfig` union, the `@oneOf` input over the
//! inputs, and `EndpointType`.

use super::*;
use async_graphql::MaybeUndefined;

// The catalog names each field's type by its rule.
use crate::domain::provider::{Change, PlainField, Secret, SecretField, catalog::catalog};
use crate::domain::provider::{DnsLabel, SipUri, SipUser, Text};

/// Writes the GraphQL types from the catalog.
macro_rules! graphql_layer {
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
        $(
            $(#[doc = $doc])*
            #[derive(SimpleObject)]
            pub struct $config {
                $($(#[doc = $field_doc])* pub $field: <$field_ty as PlainField>::Text,)*
                $(
                    /// Whether this secret is stored. The secret itself is write-only.
                    pub $shown: bool,
                )*
            }

            impl From<domain_provider::$config> for $config {
                fn from(c: domain_provider::$config) -> Self {
                    Self {
                        $($field: c.$field.into_text(),)*
                        $($shown: c.$secret.is_set(),)*
                    }
                }
            }

            #[doc = concat!(
                "Settings for a new `", stringify!($config), "`: the fields non-null there are\n",
                "non-null here."
            )]
            #[derive(InputObject, Clone)]
            pub struct $create {
                $($(#[doc = $field_doc])* pub $field: <$field_ty as PlainField>::Text,)*
                $(
                    $(#[doc = $secret_doc])*
                    #[graphql(secret)]
                    pub $secret: <$secret_ty as CreateSecret>::Input,
                )*
            }

            /// A whole config: a field left out is not set (and a secret, on create, has none
            /// stored to keep).
            impl From<$create> for DomainConfigInput {
                fn from(c: $create) -> Self {
                    Self::$variant(domain_provider::input::$config {
                        $($field: Some(Given::given(c.$field)),)*
                        $($secret: Given::given(c.$secret).map(Some),)*
                    })
                }
            }

            #[doc = concat!(
                "Changes to a `", stringify!($config), "`: a field left out keeps its value, a\n",
                "null clears an optional one (and a secret: `null` removes it)."
            )]
            #[derive(InputObject, Clone)]
            pub struct $update {
                $($(#[doc = $field_doc])* pub $field: MaybeUndefined<String>,)*
                $(
                    $(#[doc = $secret_doc])*
                    #[graphql(secret)]
                    pub $secret: MaybeUndefined<String>,
                )*
            }

            impl From<$update> for DomainConfigInput {
                fn from(c: $update) -> Self {
                    Self::$variant(domain_provider::input::$config {
                        $($field: change(c.$field),)*
                        $($secret: change(c.$secret),)*
                    })
                }
            }

            /// Secrets never reach debug output.
            impl std::fmt::Debug for $create {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.debug_struct(stringify!($create))
                        $(.field(stringify!($field), &self.$field))*
                        $(.field(stringify!($secret), &".."))*
                        .finish()
                }
            }

            /// Secrets never reach debug output.
            impl std::fmt::Debug for $update {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.debug_struct(stringify!($update))
                        $(.field(stringify!($field), &self.$field))*
                        $(.field(stringify!($secret), &".."))*
                        .finish()
                }
            }
        )*

        /// Provider-specific settings; the variant matches the endpoint's type.
        #[derive(Union)]
        pub enum ProviderConfig {
            $($variant($config),)*
        }

        impl From<domain_provider::ProviderConfig> for ProviderConfig {
            fn from(c: domain_provider::ProviderConfig) -> Self {
                match c {
                    $(domain_provider::ProviderConfig::$variant(c) => Self::$variant(c.into()),)*
                }
            }
        }

        /// A config's fields are all answered from memory (`Endpoint.providerConfig`'s).
        impl super::plain::Plain for ProviderConfig {
            fn typename(&self) -> std::borrow::Cow<'static, str> {
                match self {
                    $(Self::$variant(_) => <$config as async_graphql::OutputType>::type_name(),)*
                }
            }

            fn plain(&self, name: &str) -> Option<super::plain::Answer<'_>> {
                use super::plain::is_named;
                let value = match self {
                    $(Self::$variant(config) => {
                        $(if is_named(name, stringify!($field)) {
                            async_graphql::Value::from(config.$field.clone())
                        } else)* $(if is_named(name, stringify!($shown)) {
                            async_graphql::Value::from(config.$shown)
                        } else)* {
                            return None;
                        }
                    })*
                };
                Some(super::plain::Answer::Scalar(value))
            }
        }

        /// A new endpoint's provider settings: exactly one variant, the one of its type.
        #[derive(OneofObject, Debug, Clone)]
        pub enum CreateProviderConfigInput {
            $($variant($create),)*
        }

        impl From<CreateProviderConfigInput> for DomainConfigInput {
            fn from(c: CreateProviderConfigInput) -> Self {
                match c {
                    $(CreateProviderConfigInput::$variant(c) => c.into(),)*
                }
            }
        }

        /// Changes to an endpoint's provider settings: exactly one variant, the one of its
        /// type.
        #[derive(OneofObject, Debug, Clone)]
        pub enum UpdateProviderConfigInput {
            $($variant($update),)*
        }

        impl From<UpdateProviderConfigInput> for DomainConfigInput {
            fn from(c: UpdateProviderConfigInput) -> Self {
                match c {
                    $(UpdateProviderConfigInput::$variant(c) => c.into(),)*
                }
            }
        }

        #[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
        #[graphql(remote = "crate::domain::EndpointType")]
        /// Where calls go: a webhook, an AI voice-agent provider, or a custom SIP URI.
        pub enum EndpointType {
            Webhook,
            $($ty,)*
        }
    };
}

catalog!(graphql_layer);

/// A create input's field as given: a required field always is, an optional one may not be.
trait Given {
    fn given(self) -> Option<String>;
}

impl Given for String {
    fn given(self) -> Option<String> {
        Some(self)
    }
}

impl Given for Option<String> {
    fn given(self) -> Option<String> {
        self
    }
}

/// What a create input takes for a secret: a required secret is non-null. (Public only because
/// the inputs' fields name it.)
pub trait CreateSecret {
    type Input;
}

impl CreateSecret for Secret {
    type Input = String;
}

impl CreateSecret for Option<Secret> {
    type Input = Option<String>;
}

/// One field of an update input: left out keeps, null clears, a value sets.
fn change(value: MaybeUndefined<String>) -> Change {
    match value {
        MaybeUndefined::Value(value) => Some(Some(value)),
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Undefined => None,
    }
}

/// The field of `CreateProviderConfigInput` (and the update's) that holds the config of `ty` (`elevenLabs`), as
/// async-graphql names a `@oneOf` variant.
pub(super) fn input_variant_name(ty: EntityEndpointType) -> String {
    let name = domain_provider::Provider::of(ty).map_or("webhook", |p| p.name);
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
