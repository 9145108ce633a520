//! Provider configs in GraphQL, written from the catalog (`domain/provider/catalog.rs`): each
//! provider's output type and input, the `ProviderConfig` union, the `@oneOf` input over the
//! inputs, and `EndpointType`.

use super::*;
use crate::domain::provider::{SecretField, catalog::catalog};

/// Writes the GraphQL types from the catalog.
macro_rules! graphql_layer {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident($config:ident, $input:ident) for $ty:ident {
            fields {$(
                $(#[doc = $field_doc:literal])*
                $field:ident: $field_ty:ty = $rule:ident,
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
                $($(#[doc = $field_doc])* pub $field: $field_ty,)*
                $(
                    /// Whether this secret is stored. The secret itself is write-only.
                    pub $shown: bool,
                )*
            }

            impl From<domain_provider::$config> for $config {
                fn from(c: domain_provider::$config) -> Self {
                    Self {
                        $($field: c.$field,)*
                        $($shown: c.$secret.is_set(),)*
                    }
                }
            }

            #[doc = concat!(
                "Settings for `", stringify!($config), "`: the fields non-null there are\n",
                "required. On update, a secret left out keeps its stored value."
            )]
            #[derive(InputObject, Clone)]
            pub struct $input {
                $($(#[doc = $field_doc])* pub $field: Option<String>,)*
                $($(#[doc = $secret_doc])* #[graphql(secret)] pub $secret: Option<String>,)*
            }

            impl From<$input> for DomainConfigInput {
                fn from(c: $input) -> Self {
                    let provider = domain_provider::Provider::of(EntityEndpointType::$ty)
                        .expect("the catalog declares this provider");
                    let mut input = Self::new(provider);
                    $(if let Some(value) = c.$field {
                        input.set(stringify!($field), value);
                    })*
                    $(if let Some(value) = c.$secret {
                        input.set(stringify!($secret), value);
                    })*
                    input
                }
            }

            /// Secrets never reach debug output.
            impl std::fmt::Debug for $input {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.debug_struct(stringify!($input))
                        $(.field(stringify!($field), &self.$field))*
                        $(.field(stringify!($secret), &self.$secret.as_ref().map(|_| "..")))*
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

        /// Provider settings: exactly one variant, the one of the endpoint's type.
        #[derive(OneofObject, Debug, Clone)]
        pub enum ProviderConfigInput {
            $($variant($input),)*
        }

        impl From<ProviderConfigInput> for DomainConfigInput {
            fn from(c: ProviderConfigInput) -> Self {
                match c {
                    $(ProviderConfigInput::$variant(c) => c.into(),)*
                }
            }
        }

        #[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
        #[graphql(remote = "entity::enums::EndpointType")]
        /// Where calls go: a webhook, an AI voice-agent provider, or a custom SIP URI.
        pub enum EndpointType {
            Webhook,
            $($ty,)*
        }
    };
}

catalog!(graphql_layer);

/// The field of `ProviderConfigInput` that holds the config of `ty` (`elevenLabs`), as
/// async-graphql names a `@oneOf` variant.
pub(super) fn input_variant_name(ty: EntityEndpointType) -> String {
    let name = domain_provider::Provider::of(ty).map_or("webhook", |p| p.name);
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
