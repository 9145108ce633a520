//! Provider configs: the seed's six variants, their validation, how they are stored, and the SIP
//! URIs generated from them.

use std::fmt;

use entity::enums::EndpointType;
use serde::{Deserialize, Serialize};

use uuid::Uuid;

use super::error::{Field, FieldError, UserErrorCode};
use super::has_control_chars;
use super::secrets::{SecretBox, SecretError};

const MAX_ID_LEN: usize = 128;
const MAX_TEXT_LEN: usize = 255;

/// The SIP domains generated URIs point at. Configuration, so a deployment can move a provider
/// to another region (Vapi's EU region is `sip.eu.vapi.ai`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipDomains {
    pub vapi: String,
    pub retell: String,
    pub elevenlabs: String,
    pub vogent: String,
}

impl Default for SipDomains {
    fn default() -> Self {
        Self {
            vapi: "sip.vapi.ai".to_owned(),
            retell: "sip.retellai.com".to_owned(),
            elevenlabs: "sip.rtc.elevenlabs.io".to_owned(),
            vogent: "sip.vogent.ai".to_owned(),
        }
    }
}

/// A write-only value: stored sealed, never returned, never printed. A value the client just
/// sent is `Plain` until it is stored; one read back from the database stays `Sealed`, since
/// nothing the gateway returns needs it opened.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Plain(String),
    Sealed(String),
}

impl Secret {
    fn seal(&self, secrets: &SecretBox, context: &str) -> Self {
        match self {
            Self::Plain(p) => Self::Sealed(secrets.seal(p, context)),
            sealed @ Self::Sealed(_) => sealed.clone(),
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

    /// The text a client sent, to validate it.
    fn into_text(self) -> String {
        match self {
            Self::Plain(text) | Self::Sealed(text) => text,
        }
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VapiConfig {
    pub assistant_id: String,
    pub credential_id: Option<String>,
    pub vapi_phone_number_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetellConfig {
    pub agent_id: String,
    pub retell_phone_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElevenLabsConfig {
    pub elevenlabs_agent_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveKitConfig {
    pub livekit_agent_name: Option<String>,
    pub livekit_sip_trunk_id: String,
    pub livekit_sip_uri: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VogentConfig {
    pub vogent_agent_id: Option<String>,
    pub vogent_sip_prefix: String,
    pub vogent_sip_username: String,
    pub vogent_sip_password: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomSipConfig {
    pub sip_uri: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// A validated provider config. Stored as the variant's fields in JSON; the endpoint's type
/// says which variant it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderConfig {
    Vapi(VapiConfig),
    Retell(RetellConfig),
    ElevenLabs(ElevenLabsConfig),
    LiveKit(LiveKitConfig),
    Vogent(VogentConfig),
    CustomSip(CustomSipConfig),
}

impl ProviderConfig {
    pub fn from_stored(
        endpoint_type: EndpointType,
        json: Option<&serde_json::Value>,
    ) -> Result<Option<Self>, serde_json::Error> {
        let Some(json) = json.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let value = json.clone();
        Ok(Some(match endpoint_type {
            EndpointType::Webhook => return Ok(None),
            EndpointType::Vapi => Self::Vapi(serde_json::from_value(value)?),
            EndpointType::Retell => Self::Retell(serde_json::from_value(value)?),
            EndpointType::Elevenlabs => Self::ElevenLabs(serde_json::from_value(value)?),
            EndpointType::Livekit => Self::LiveKit(serde_json::from_value(value)?),
            EndpointType::Vogent => Self::Vogent(serde_json::from_value(value)?),
            EndpointType::CustomSip => Self::CustomSip(serde_json::from_value(value)?),
        }))
    }

    /// The JSON stored for endpoint `id`, with every secret sealed.
    pub fn to_stored(&self, secrets: &SecretBox, id: Uuid) -> serde_json::Value {
        let value = match self {
            Self::Vapi(c) => serde_json::to_value(c),
            Self::Retell(c) => serde_json::to_value(c),
            Self::ElevenLabs(c) => serde_json::to_value(c),
            Self::LiveKit(c) => serde_json::to_value(c),
            Self::Vogent(c) => serde_json::to_value(VogentConfig {
                vogent_sip_password: c
                    .vogent_sip_password
                    .seal(secrets, &secret_context(id, "vogent_sip_password")),
                ..c.clone()
            }),
            Self::CustomSip(c) => serde_json::to_value(CustomSipConfig {
                password: c
                    .password
                    .as_ref()
                    .map(|p| p.seal(secrets, &secret_context(id, "password"))),
                ..c.clone()
            }),
        };
        value.expect("config structs hold strings and sealed secrets, which always serialize")
    }

    /// Whether any secret of this config is still plaintext (a row from before encryption).
    pub fn has_plain_secret(&self) -> bool {
        match self {
            Self::Vogent(c) => c.vogent_sip_password.is_plain(),
            Self::CustomSip(c) => c.password.as_ref().is_some_and(Secret::is_plain),
            _ => false,
        }
    }

    pub fn endpoint_type(&self) -> EndpointType {
        match self {
            Self::Vapi(_) => EndpointType::Vapi,
            Self::Retell(_) => EndpointType::Retell,
            Self::ElevenLabs(_) => EndpointType::Elevenlabs,
            Self::LiveKit(_) => EndpointType::Livekit,
            Self::Vogent(_) => EndpointType::Vogent,
            Self::CustomSip(_) => EndpointType::CustomSip,
        }
    }

    /// The SIP URI calls go to, for the providers whose URI is generated rather than given.
    pub fn generated_url(&self, domains: &SipDomains) -> Option<String> {
        match self {
            Self::Vapi(c) => Some(match &c.credential_id {
                Some(credential) => format!("sip:{}@{credential}.{}", c.assistant_id, domains.vapi),
                None => format!("sip:{}@{}", c.assistant_id, domains.vapi),
            }),
            Self::Retell(c) => Some(format!(
                "sip:{}@{};transport=tcp",
                c.agent_id, domains.retell
            )),
            Self::ElevenLabs(c) => Some(format!(
                "sip:{}@{}:5060;transport=tcp",
                c.elevenlabs_agent_id, domains.elevenlabs
            )),
            Self::LiveKit(c) => Some(c.livekit_sip_uri.clone()),
            Self::Vogent(c) => Some(format!("sip:{}@{}", c.vogent_sip_prefix, domains.vogent)),
            Self::CustomSip(_) => None,
        }
    }
}

/// A provider config as a client sent it: every field optional, so that a missing required
/// field is reported as a user error naming it rather than a parse failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderConfigInput {
    Vapi {
        assistant_id: Option<String>,
        credential_id: Option<String>,
        vapi_phone_number_id: Option<String>,
    },
    Retell {
        agent_id: Option<String>,
        retell_phone_number: Option<String>,
    },
    ElevenLabs {
        elevenlabs_agent_id: Option<String>,
    },
    LiveKit {
        livekit_agent_name: Option<String>,
        livekit_sip_trunk_id: Option<String>,
        livekit_sip_uri: Option<String>,
    },
    Vogent {
        vogent_agent_id: Option<String>,
        vogent_sip_prefix: Option<String>,
        vogent_sip_username: Option<String>,
        /// Omitted on update: the stored password is kept.
        vogent_sip_password: Option<Secret>,
    },
    CustomSip {
        sip_uri: Option<String>,
        username: Option<String>,
        /// Omitted on update: the stored password is kept.
        password: Option<Secret>,
    },
}

impl ProviderConfigInput {
    pub fn endpoint_type(&self) -> EndpointType {
        match self {
            Self::Vapi { .. } => EndpointType::Vapi,
            Self::Retell { .. } => EndpointType::Retell,
            Self::ElevenLabs { .. } => EndpointType::Elevenlabs,
            Self::LiveKit { .. } => EndpointType::Livekit,
            Self::Vogent { .. } => EndpointType::Vogent,
            Self::CustomSip { .. } => EndpointType::CustomSip,
        }
    }

    /// Checks every field, collecting one error per broken rule. `existing` is the stored config
    /// of the same type, whose secrets are kept when the input leaves them out.
    pub fn validate(
        self,
        existing: Option<&ProviderConfig>,
        errors: &mut Vec<FieldError>,
    ) -> Option<ProviderConfig> {
        let ty = self.endpoint_type();
        let mut check = Checker { ty, errors };
        let config = match self {
            Self::Vapi {
                assistant_id,
                credential_id,
                vapi_phone_number_id,
            } => {
                let assistant_id = check.sip_user("assistant_id", assistant_id);
                let credential_id = check.dns_label("credential_id", credential_id);
                let vapi_phone_number_id = check.text("vapi_phone_number_id", vapi_phone_number_id);
                ProviderConfig::Vapi(VapiConfig {
                    assistant_id: assistant_id?,
                    credential_id: credential_id.ok()?,
                    vapi_phone_number_id: vapi_phone_number_id.ok()?,
                })
            }
            Self::Retell {
                agent_id,
                retell_phone_number,
            } => {
                let agent_id = check.sip_user("agent_id", agent_id);
                let retell_phone_number = check.text("retell_phone_number", retell_phone_number);
                ProviderConfig::Retell(RetellConfig {
                    agent_id: agent_id?,
                    retell_phone_number: retell_phone_number.ok()?,
                })
            }
            Self::ElevenLabs {
                elevenlabs_agent_id,
            } => ProviderConfig::ElevenLabs(ElevenLabsConfig {
                elevenlabs_agent_id: check.sip_user("elevenlabs_agent_id", elevenlabs_agent_id)?,
            }),
            Self::LiveKit {
                livekit_agent_name,
                livekit_sip_trunk_id,
                livekit_sip_uri,
            } => {
                let name = check.text("livekit_agent_name", livekit_agent_name);
                let trunk = check.required_text("livekit_sip_trunk_id", livekit_sip_trunk_id);
                let uri = check.sip_uri("livekit_sip_uri", livekit_sip_uri);
                ProviderConfig::LiveKit(LiveKitConfig {
                    livekit_agent_name: name.ok()?,
                    livekit_sip_trunk_id: trunk?,
                    livekit_sip_uri: uri?,
                })
            }
            Self::Vogent {
                vogent_agent_id,
                vogent_sip_prefix,
                vogent_sip_username,
                vogent_sip_password,
            } => {
                let stored = match existing {
                    Some(ProviderConfig::Vogent(c)) => Some(c.vogent_sip_password.clone()),
                    _ => None,
                };
                let agent = check.text("vogent_agent_id", vogent_agent_id);
                let prefix = check.sip_user("vogent_sip_prefix", vogent_sip_prefix);
                let username = check.required_text("vogent_sip_username", vogent_sip_username);
                let password = check.secret(
                    "vogent_sip_password",
                    vogent_sip_password.map(Secret::into_text),
                    stored,
                    true,
                );
                ProviderConfig::Vogent(VogentConfig {
                    vogent_agent_id: agent.ok()?,
                    vogent_sip_prefix: prefix?,
                    vogent_sip_username: username?,
                    vogent_sip_password: password.ok()??,
                })
            }
            Self::CustomSip {
                sip_uri,
                username,
                password,
            } => {
                let stored = match existing {
                    Some(ProviderConfig::CustomSip(c)) => c.password.clone(),
                    _ => None,
                };
                let uri = check.sip_uri("sip_uri", sip_uri);
                let username = check.text("username", username);
                let password =
                    check.secret("password", password.map(Secret::into_text), stored, false);
                ProviderConfig::CustomSip(CustomSipConfig {
                    sip_uri: uri?,
                    username: username.ok()?,
                    password: password.ok()?,
                })
            }
        };
        Some(config)
    }
}

/// Collects field errors for one provider variant.
struct Checker<'a> {
    ty: EndpointType,
    errors: &'a mut Vec<FieldError>,
}

impl Checker<'_> {
    fn fail(&mut self, field: &'static str, code: UserErrorCode, message: String) {
        self.errors.push(FieldError::new(
            Field::ProviderConfigField(self.ty, field),
            code,
            message,
        ));
    }

    fn required(&mut self, field: &'static str, value: Option<String>) -> Option<String> {
        match value {
            None => {
                self.fail(
                    field,
                    UserErrorCode::Required,
                    "{field} is required".to_owned(),
                );
                None
            }
            Some(v) if v.trim().is_empty() => {
                self.fail(
                    field,
                    UserErrorCode::Blank,
                    "{field} can't be blank".to_owned(),
                );
                None
            }
            Some(v) => Some(v),
        }
    }

    fn length(&mut self, field: &'static str, value: String, max: usize) -> Option<String> {
        if value.chars().count() > max {
            self.fail(
                field,
                UserErrorCode::TooLong,
                format!("{{field}} is longer than {max} characters"),
            );
            return None;
        }
        if has_control_chars(&value) {
            self.fail(
                field,
                UserErrorCode::Invalid,
                "{field} contains control characters".to_owned(),
            );
            return None;
        }
        Some(value)
    }

    /// An identifier that becomes the user part of a generated SIP URI: only RFC 3261's
    /// unreserved characters, so it can't smuggle in a host, parameter or header.
    fn sip_user(&mut self, field: &'static str, value: Option<String>) -> Option<String> {
        let value = self.required(field, value)?;
        let value = self.length(field, value, MAX_ID_LEN)?;
        let ok = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'));
        if !ok {
            self.fail(
                field,
                UserErrorCode::Invalid,
                "{field} may contain only letters, digits, '-', '_', '.' and '~'".to_owned(),
            );
            return None;
        }
        Some(value)
    }

    /// An optional identifier that becomes a DNS label of a generated SIP host.
    fn dns_label(
        &mut self,
        field: &'static str,
        value: Option<String>,
    ) -> Result<Option<String>, ()> {
        let Some(value) = value else { return Ok(None) };
        let ok = (1..=63).contains(&value.len())
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !value.starts_with('-')
            && !value.ends_with('-');
        if !ok {
            self.fail(
                field,
                UserErrorCode::Invalid,
                "{field} must be 1-63 letters, digits or inner '-' (it becomes part of the SIP host)".to_owned(),
            );
            return Err(());
        }
        Ok(Some(value))
    }

    fn text(&mut self, field: &'static str, value: Option<String>) -> Result<Option<String>, ()> {
        let Some(value) = value else { return Ok(None) };
        if value.trim().is_empty() {
            self.fail(
                field,
                UserErrorCode::Blank,
                "{field} can't be blank".to_owned(),
            );
            return Err(());
        }
        self.length(field, value, MAX_TEXT_LEN).map(Some).ok_or(())
    }

    fn required_text(&mut self, field: &'static str, value: Option<String>) -> Option<String> {
        let value = self.required(field, value)?;
        self.length(field, value, MAX_TEXT_LEN)
    }

    fn sip_uri(&mut self, field: &'static str, value: Option<String>) -> Option<String> {
        let value = self.required(field, value)?;
        match super::sip_uri::check(&value) {
            Ok(()) => Some(value),
            Err(reason) => {
                self.fail(
                    field,
                    UserErrorCode::InvalidSipUri,
                    format!("{{field}} is not a valid SIP URI: {reason}"),
                );
                None
            }
        }
    }

    /// A write-only secret; when omitted the stored one is kept. `Ok(None)` means none is set.
    fn secret(
        &mut self,
        field: &'static str,
        value: Option<String>,
        stored: Option<Secret>,
        required: bool,
    ) -> Result<Option<Secret>, ()> {
        match value {
            None if stored.is_some() => Ok(stored),
            None if required => {
                self.fail(
                    field,
                    UserErrorCode::Required,
                    "{field} is required".to_owned(),
                );
                Err(())
            }
            None => Ok(None),
            Some(v) if v.is_empty() => {
                self.fail(
                    field,
                    UserErrorCode::Blank,
                    "{field} can't be blank".to_owned(),
                );
                Err(())
            }
            Some(v) => self
                .length(field, v, MAX_TEXT_LEN)
                .map(|v| Some(Secret::Plain(v)))
                .ok_or(()),
        }
    }
}

#[cfg(test)]
mod tests;
