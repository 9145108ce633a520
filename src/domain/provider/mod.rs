//! Provider configs, declared once in the catalog (`catalog.rs`): this module holds what the
//! rest of the gateway sees of a provider (`Provider`, its fields, its SIP domain) and how a
//! config is shown; `configs.rs` writes the domain's types from the catalog, each field typed
//! by its rule (`values.rs`, `rules.rs`).

use std::collections::HashMap;

use entity::enums::EndpointType;

pub(crate) mod catalog;
mod configs;
mod rules;
mod secret;
mod values;

pub use configs::*;
pub use rules::{Refusal, Rule};
pub use secret::{Secret, secret_context};
pub use values::{Change, DnsLabel, PlainField, RuleValue, SecretField, SipUri, SipUser, Text};

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

#[cfg(test)]
mod tests;
