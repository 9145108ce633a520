//! Provider configs: built from the catalog (`catalog.rs`), which declares each provider once.
//! This file turns the catalog into the domain's types — one config struct per provider, the
//! `ProviderConfig` enum over them, their validation, storage and generated SIP URIs — and into
//! `PROVIDERS`, the table REST and the command line read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use entity::enums::EndpointType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::FieldError;
use super::secrets::SecretBox;

pub(crate) mod catalog;
mod rules;
mod secret;

use rules::Checker;
pub use rules::{PlainField, Rule, SecretField};
pub use secret::{Secret, secret_context};

/// What a config says when a webhook endpoint is sent one, in both transports.
pub const WEBHOOK_TAKES_NO_CONFIG: &str = "a webhook endpoint takes no provider config";

/// The name under which a read shows whether `secret` is set (`password` → `password_set`).
pub fn set_flag(secret: &str) -> String {
    format!("{secret}{SET_FLAG_SUFFIX}")
}

const SET_FLAG_SUFFIX: &str = "_set";

/// A provider, as the rest of the gateway sees the catalog.
#[derive(Debug)]
pub struct Provider {
    /// The type of the endpoints that carry this provider's config.
    pub ty: EndpointType,
    /// The provider's name in the catalog (`ElevenLabs`).
    pub name: &'static str,
    /// The name of its config type (`ElevenLabsConfig`), in GraphQL and OpenAPI alike.
    pub config: &'static str,
    /// The catalog's description of the provider, a line per item.
    pub doc: &'static [&'static str],
    /// Its fields in declaration order, secrets last.
    pub fields: &'static [FieldSpec],
    /// The domain generated URIs point at: one setting, or none when the URI is given.
    pub sip_domain: &'static [SipDomainSetting],
}

/// One field of a provider's config.
#[derive(Debug)]
pub struct FieldSpec {
    /// The seed's snake_case name.
    pub name: &'static str,
    /// The catalog's description, a line per item.
    pub doc: &'static [&'static str],
    pub required: bool,
    pub kind: FieldKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Plain(Rule),
    /// Write-only: stored sealed, shown only as whether it is set.
    Secret,
}

/// Doc-comment lines as one paragraph.
pub fn description(lines: &[&str]) -> String {
    lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ")
}

/// How a provider's SIP domain is configured.
#[derive(Debug)]
pub struct SipDomainSetting {
    pub flag: &'static str,
    pub env: &'static str,
    pub default: &'static str,
}

/// The catalog holds one provider per endpoint type.
impl PartialEq for Provider {
    fn eq(&self, other: &Self) -> bool {
        self.ty == other.ty
    }
}

impl Eq for Provider {}

impl Provider {
    /// The provider whose endpoints are of type `ty`; `None` for webhooks.
    pub fn of(ty: EndpointType) -> Option<&'static Self> {
        PROVIDERS.iter().find(|p| p.ty == ty)
    }

    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether a client may send `key` in this provider's config: a field, or the read-only
    /// `{secret}_set` a read shows (sent back unchanged by a client that edits what it read;
    /// ignored).
    pub fn reads(&self, key: &str) -> bool {
        self.field(key).is_some()
            || key
                .strip_suffix(SET_FLAG_SUFFIX)
                .and_then(|name| self.field(name))
                .is_some_and(|f| f.kind == FieldKind::Secret)
    }
}

/// The SIP domains generated URIs point at, by provider. Configuration, so a deployment can move
/// a provider to another region (Vapi's EU region is `sip.eu.vapi.ai`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipDomains(HashMap<EndpointType, String>);

impl SipDomains {
    /// Whether `domain` can stand as the host of a generated SIP URI: a DNS name (or IPv4
    /// address) of dot-separated labels, at most 253 characters.
    pub fn check(domain: &str) -> Result<(), String> {
        let ok = domain.len() <= 253 && domain.split('.').all(rules::is_dns_label);
        if ok {
            Ok(())
        } else {
            Err(format!(
                "`{domain}` is not a host name: use dot-separated labels of letters, digits and inner '-'"
            ))
        }
    }

    pub fn set(&mut self, ty: EndpointType, domain: String) {
        self.0.insert(ty, domain);
    }

    /// The domain of `ty`'s generated URIs; empty for a provider whose URI is given.
    pub fn get(&self, ty: EndpointType) -> &str {
        self.0.get(&ty).map_or("", String::as_str)
    }
}

/// The catalog's defaults.
impl Default for SipDomains {
    fn default() -> Self {
        Self(
            PROVIDERS
                .iter()
                .flat_map(|p| p.sip_domain.iter().map(|d| (p.ty, d.default.to_owned())))
                .collect(),
        )
    }
}

/// One value of a config, as a transport shows it: a plain field's text, or whether a secret
/// is set (never the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown<'a> {
    Text(Option<&'a str>),
    SecretSet(bool),
}

/// A provider config as a client sent it: the provider, and the text of each field given, so
/// that a missing required field is reported as a user error naming it rather than a parse
/// failure. A secret left out keeps the stored one on update. A patch (GraphQL's update
/// inputs) keeps every field left out, and clears those it names as cleared.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderConfigInput {
    provider: &'static Provider,
    values: BTreeMap<&'static str, String>,
    patch: bool,
    cleared: BTreeSet<&'static str>,
}

impl ProviderConfigInput {
    /// A whole config: what it leaves out is not set (secrets excepted, see above).
    pub fn new(provider: &'static Provider) -> Self {
        Self {
            provider,
            values: BTreeMap::new(),
            patch: false,
            cleared: BTreeSet::new(),
        }
    }

    /// Changes to the stored config: what it leaves out keeps its stored value.
    pub fn patch(provider: &'static Provider) -> Self {
        Self {
            patch: true,
            ..Self::new(provider)
        }
    }

    /// Removes one of the provider's fields from the stored config (a patch's explicit null).
    pub fn clear(&mut self, field: &'static str) {
        debug_assert!(self.provider.field(field).is_some());
        self.values.remove(field);
        self.cleared.insert(field);
    }

    /// Sets one of the provider's fields; `field` is a name from its `fields` or `secrets`.
    pub fn set(&mut self, field: &'static str, value: String) {
        debug_assert!(
            self.provider.field(field).is_some(),
            "{field} is not a field of {}",
            self.provider.name
        );
        self.cleared.remove(field);
        self.values.insert(field, value);
    }

    pub fn endpoint_type(&self) -> EndpointType {
        self.provider.ty
    }

    /// Checks every field, collecting one error per broken rule. `existing` is the stored config
    /// of the same type, whose secrets are kept when the input leaves them out.
    pub fn validate(
        mut self,
        existing: Option<&ProviderConfig>,
        errors: &mut Vec<FieldError>,
    ) -> Option<ProviderConfig> {
        // A patch starts from the stored config of the same type: every plain field it leaves
        // out keeps its value (secrets are kept by `SecretField::read`).
        if self.patch
            && let Some(stored) = existing.filter(|e| e.endpoint_type() == self.provider.ty)
        {
            for (field, shown) in stored.shown() {
                if let Shown::Text(Some(text)) = shown
                    && !self.cleared.contains(field)
                {
                    self.values.entry(field).or_insert_with(|| text.to_owned());
                }
            }
        }
        let mut check = Checker {
            ty: self.provider.ty,
            errors,
        };
        ProviderConfig::read(
            &mut self.values,
            self.provider.ty,
            existing,
            &self.cleared,
            &mut check,
        )
    }
}

/// Secrets never reach debug output.
impl fmt::Debug for ProviderConfigInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.values.iter().map(|(field, value)| {
            let secret = self
                .provider
                .field(field)
                .is_none_or(|f| f.kind == FieldKind::Secret);
            (field, if secret { ".." } else { value.as_str() })
        });
        f.debug_struct("ProviderConfigInput")
            .field("provider", &self.provider.name)
            .field("values", &shown.collect::<BTreeMap<_, _>>())
            .finish()
    }
}

/// Writes the domain's types from the catalog.
macro_rules! domain_layer {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident($config:ident, $create:ident, $update:ident) for $ty:ident {
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
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
            pub struct $config {
                $($(#[doc = $field_doc])* pub $field: $field_ty,)*
                $($(#[doc = $secret_doc])* pub $secret: $secret_ty,)*
            }

            impl $config {
                fn read(
                    values: &mut BTreeMap<&'static str, String>,
                    existing: Option<&ProviderConfig>,
                    _cleared: &BTreeSet<&'static str>,
                    check: &mut Checker<'_>,
                ) -> Option<Self> {
                    let stored = match existing {
                        Some(ProviderConfig::$variant(c)) => Some(c),
                        _ => None,
                    };
                    $(let $field = <$field_ty as PlainField>::read(
                        check,
                        stringify!($field),
                        Rule::$rule,
                        values.remove(stringify!($field)),
                    );)*
                    $(let $secret = <$secret_ty as SecretField>::read(
                        check,
                        stringify!($secret),
                        values.remove(stringify!($secret)),
                        stored
                            .filter(|_| !_cleared.contains(stringify!($secret)))
                            .map(|c| &c.$secret),
                    );)*
                    let _ = stored;
                    Some(Self {
                        $($field: $field.ok()?,)*
                        $($secret: $secret.ok()?,)*
                    })
                }

                /// The config with every secret sealed, bound to endpoint `id`.
                fn sealed(&self, _secrets: &SecretBox, _id: Uuid) -> Self {
                    Self {
                        $($field: self.$field.clone(),)*
                        $($secret: self.$secret.sealed(
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

        /// A validated provider config. Stored as the variant's fields in JSON; the endpoint's
        /// type says which variant it is.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ProviderConfig {
            $($variant($config),)*
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
                        kind: FieldKind::Plain(Rule::$rule),
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

        impl ProviderConfig {
            fn read(
                values: &mut BTreeMap<&'static str, String>,
                ty: EndpointType,
                existing: Option<&ProviderConfig>,
                cleared: &BTreeSet<&'static str>,
                check: &mut Checker<'_>,
            ) -> Option<Self> {
                match ty {
                    $(EndpointType::$ty => {
                        $config::read(values, existing, cleared, check).map(Self::$variant)
                    })*
                    EndpointType::Webhook => None,
                }
            }

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
                match self {
                    $(Self::$variant(c) => serde_json::to_value(c.sealed(secrets, id)),)*
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

#[cfg(test)]
mod tests;
