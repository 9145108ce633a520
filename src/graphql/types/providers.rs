//! Provider configs: the output union and the `@oneOf` input, with their variants.

use super::*;

/// Vapi AI voice agent. URL: `sip:{assistantId}@sip.vapi.ai`, or
/// `sip:{assistantId}@{credentialId}.sip.vapi.ai` with a BYO SIP trunk credential.
#[derive(SimpleObject)]
pub struct VapiConfig {
    pub assistant_id: String,
    pub credential_id: Option<String>,
    pub vapi_phone_number_id: Option<String>,
}

/// Retell AI voice agent. URL: `sip:{agentId}@sip.retellai.com;transport=tcp`.
#[derive(SimpleObject)]
pub struct RetellConfig {
    pub agent_id: String,
    pub retell_phone_number: Option<String>,
}

/// ElevenLabs Conversational AI agent. URL:
/// `sip:{elevenlabsAgentId}@sip.rtc.elevenlabs.io:5060;transport=tcp`.
#[derive(SimpleObject)]
pub struct ElevenLabsConfig {
    pub elevenlabs_agent_id: String,
}

/// LiveKit real-time voice agent. URL: the given `livekitSipUri`.
#[derive(SimpleObject)]
pub struct LiveKitConfig {
    pub livekit_agent_name: Option<String>,
    pub livekit_sip_trunk_id: String,
    pub livekit_sip_uri: String,
}

/// Vogent AI voice agent with SIP authentication. URL: `sip:{vogentSipPrefix}@sip.vogent.ai`.
#[derive(SimpleObject)]
pub struct VogentConfig {
    pub vogent_agent_id: Option<String>,
    pub vogent_sip_prefix: String,
    pub vogent_sip_username: String,
    /// Whether a SIP password is stored. The password itself is write-only.
    pub sip_password_set: bool,
}

/// A custom SIP destination; `sipUri` equals the endpoint's URL.
#[derive(SimpleObject)]
pub struct CustomSipConfig {
    pub sip_uri: String,
    pub username: Option<String>,
    /// Whether a SIP password is stored. The password itself is write-only.
    pub password_set: bool,
}

/// Provider-specific settings; the variant matches the endpoint's type.
#[derive(Union)]
pub enum ProviderConfig {
    Vapi(VapiConfig),
    Retell(RetellConfig),
    ElevenLabs(ElevenLabsConfig),
    LiveKit(LiveKitConfig),
    Vogent(VogentConfig),
    CustomSip(CustomSipConfig),
}

impl From<domain_provider::ProviderConfig> for ProviderConfig {
    fn from(c: domain_provider::ProviderConfig) -> Self {
        use domain_provider::ProviderConfig as P;
        match c {
            P::Vapi(c) => Self::Vapi(VapiConfig {
                assistant_id: c.assistant_id,
                credential_id: c.credential_id,
                vapi_phone_number_id: c.vapi_phone_number_id,
            }),
            P::Retell(c) => Self::Retell(RetellConfig {
                agent_id: c.agent_id,
                retell_phone_number: c.retell_phone_number,
            }),
            P::ElevenLabs(c) => Self::ElevenLabs(ElevenLabsConfig {
                elevenlabs_agent_id: c.elevenlabs_agent_id,
            }),
            P::LiveKit(c) => Self::LiveKit(LiveKitConfig {
                livekit_agent_name: c.livekit_agent_name,
                livekit_sip_trunk_id: c.livekit_sip_trunk_id,
                livekit_sip_uri: c.livekit_sip_uri,
            }),
            P::Vogent(c) => Self::Vogent(VogentConfig {
                vogent_agent_id: c.vogent_agent_id,
                vogent_sip_prefix: c.vogent_sip_prefix,
                vogent_sip_username: c.vogent_sip_username,
                sip_password_set: true,
            }),
            P::CustomSip(c) => Self::CustomSip(CustomSipConfig {
                sip_uri: c.sip_uri,
                username: c.username,
                password_set: c.password.is_some(),
            }),
        }
    }
}

/// Vapi settings. `assistantId` is required.
#[derive(InputObject, Debug, Clone)]
pub struct VapiConfigInput {
    /// Vapi Assistant ID (required).
    pub assistant_id: Option<String>,
    /// BYO SIP trunk credential ID; moves the URL to `{credentialId}.sip.vapi.ai`.
    pub credential_id: Option<String>,
    /// Vapi phone number ID for outbound calls.
    pub vapi_phone_number_id: Option<String>,
}

/// Retell settings. `agentId` is required.
#[derive(InputObject, Debug, Clone)]
pub struct RetellConfigInput {
    /// Retell Agent ID (required).
    pub agent_id: Option<String>,
    /// Retell phone number for outbound calls.
    pub retell_phone_number: Option<String>,
}

/// ElevenLabs settings. `elevenlabsAgentId` is required.
#[derive(InputObject, Debug, Clone)]
pub struct ElevenLabsConfigInput {
    /// ElevenLabs Conversational AI Agent ID (required).
    pub elevenlabs_agent_id: Option<String>,
}

/// LiveKit settings. `livekitSipTrunkId` and `livekitSipUri` are required.
#[derive(InputObject, Debug, Clone)]
pub struct LiveKitConfigInput {
    /// LiveKit agent ID or name.
    pub livekit_agent_name: Option<String>,
    /// LiveKit SIP Trunk ID (required).
    pub livekit_sip_trunk_id: Option<String>,
    /// Full SIP URI from the LiveKit dashboard (required), e.g. `sip:xxxx.sip.livekit.cloud`.
    pub livekit_sip_uri: Option<String>,
}

/// Vogent settings. `vogentSipPrefix`, `vogentSipUsername` and `vogentSipPassword` are
/// required; on update, leaving out the password keeps the stored one.
#[derive(InputObject, Clone)]
pub struct VogentConfigInput {
    /// Vogent Agent ID, for reference.
    pub vogent_agent_id: Option<String>,
    /// SIP prefix from Vogent Call Settings (required).
    pub vogent_sip_prefix: Option<String>,
    /// SIP authentication username (required).
    pub vogent_sip_username: Option<String>,
    /// SIP authentication password (required on create; write-only).
    #[graphql(secret)]
    pub vogent_sip_password: Option<String>,
}

/// Custom SIP settings. `sipUri` must equal the endpoint's URL; on update, leaving out the
/// password keeps the stored one.
#[derive(InputObject, Clone)]
pub struct CustomSipConfigInput {
    /// The SIP URI (required); the same as the endpoint's `url`.
    pub sip_uri: Option<String>,
    /// SIP authentication username.
    pub username: Option<String>,
    /// SIP authentication password (write-only).
    #[graphql(secret)]
    pub password: Option<String>,
}

/// Provider settings: exactly one variant, the one of the endpoint's type.
#[derive(OneofObject, Debug, Clone)]
pub enum ProviderConfigInput {
    Vapi(VapiConfigInput),
    Retell(RetellConfigInput),
    ElevenLabs(ElevenLabsConfigInput),
    LiveKit(LiveKitConfigInput),
    Vogent(VogentConfigInput),
    CustomSip(CustomSipConfigInput),
}

impl From<ProviderConfigInput> for DomainConfigInput {
    fn from(c: ProviderConfigInput) -> Self {
        match c {
            ProviderConfigInput::Vapi(c) => Self::Vapi {
                assistant_id: c.assistant_id,
                credential_id: c.credential_id,
                vapi_phone_number_id: c.vapi_phone_number_id,
            },
            ProviderConfigInput::Retell(c) => Self::Retell {
                agent_id: c.agent_id,
                retell_phone_number: c.retell_phone_number,
            },
            ProviderConfigInput::ElevenLabs(c) => Self::ElevenLabs {
                elevenlabs_agent_id: c.elevenlabs_agent_id,
            },
            ProviderConfigInput::LiveKit(c) => Self::LiveKit {
                livekit_agent_name: c.livekit_agent_name,
                livekit_sip_trunk_id: c.livekit_sip_trunk_id,
                livekit_sip_uri: c.livekit_sip_uri,
            },
            ProviderConfigInput::Vogent(c) => Self::Vogent {
                vogent_agent_id: c.vogent_agent_id,
                vogent_sip_prefix: c.vogent_sip_prefix,
                vogent_sip_username: c.vogent_sip_username,
                vogent_sip_password: c.vogent_sip_password.map(domain_provider::Secret::Plain),
            },
            ProviderConfigInput::CustomSip(c) => Self::CustomSip {
                sip_uri: c.sip_uri,
                username: c.username,
                password: c.password.map(domain_provider::Secret::Plain),
            },
        }
    }
}

/// Passwords never reach debug output.
impl std::fmt::Debug for VogentConfigInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VogentConfigInput")
            .field("vogent_agent_id", &self.vogent_agent_id)
            .field("vogent_sip_prefix", &self.vogent_sip_prefix)
            .field("vogent_sip_username", &self.vogent_sip_username)
            .field(
                "vogent_sip_password",
                &self.vogent_sip_password.as_ref().map(|_| ".."),
            )
            .finish()
    }
}

impl std::fmt::Debug for CustomSipConfigInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomSipConfigInput")
            .field("sip_uri", &self.sip_uri)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .finish()
    }
}
