//! Every provider, declared once. This file is the only place a provider's fields, their rules,
//! its SIP domain and its URL are written; `catalog!(layer)` hands the table to a layer's macro,
//! which writes that layer's code from it: the domain's configs and inputs (`provider/configs.rs`),
//! the GraphQL types (`graphql/types/providers.rs`) and REST's config bodies
//! (`http/rest/config.rs`). OpenAPI and the command line read the `PROVIDERS` table the
//! domain's expansion builds.
//!
//! An entry:
//! - `Variant(Config, CreateInput, UpdateInput) for EndpointType` — the names of the config,
//!   its GraphQL inputs on create and on update, and the endpoint type
//!   (`entity::enums::EndpointType`) whose endpoints carry it.
//! - `fields` — each seed field, in the seed's snake_case, with its type: the type of its rule
//!   (`SipUser`, `DnsLabel`, `Text`, `SipUri`; `provider::Rule`) when required, an `Option` of
//!   it when not.
//! - `secrets` — write-only fields (`Secret`, or `Option<Secret>` when not required), stored
//!   sealed and shown as whether they are set, under the name after `shown as`.
//! - `sip_domain` (optional) — the flag, environment variable and default of the domain the
//!   provider's generated URIs point at.
//! - `url` — the SIP URI calls go to, from the config and that domain; `None` when the endpoint's
//!   own URL is given instead.

macro_rules! catalog {
    ($layer:ident) => {
        $layer! {
            /// Vapi AI voice agent. URL: `sip:{assistantId}@sip.vapi.ai`, or
            /// `sip:{assistantId}@{credentialId}.sip.vapi.ai` with a BYO SIP trunk credential.
            Vapi(VapiConfig, CreateVapiConfigInput, UpdateVapiConfigInput) for Vapi {
                fields {
                    /// Vapi Assistant ID.
                    assistant_id: SipUser,
                    /// BYO SIP trunk credential ID; moves the URL to `{credentialId}.sip.vapi.ai`.
                    credential_id: Option<DnsLabel>,
                    /// Vapi phone number ID for outbound calls.
                    vapi_phone_number_id: Option<Text>,
                }
                secrets {}
                sip_domain("vapi-sip-domain", "COCKPIT_VAPI_SIP_DOMAIN", "sip.vapi.ai")
                url |c, domain| Some(match &c.credential_id {
                    Some(credential) => format!("sip:{}@{credential}.{domain}", c.assistant_id),
                    None => format!("sip:{}@{domain}", c.assistant_id),
                })
            }

            /// Retell AI voice agent. URL: `sip:{agentId}@sip.retellai.com;transport=tcp`.
            Retell(RetellConfig, CreateRetellConfigInput, UpdateRetellConfigInput) for Retell {
                fields {
                    /// Retell Agent ID.
                    agent_id: SipUser,
                    /// Retell phone number for outbound calls.
                    retell_phone_number: Option<Text>,
                }
                secrets {}
                sip_domain("retell-sip-domain", "COCKPIT_RETELL_SIP_DOMAIN", "sip.retellai.com")
                url |c, domain| Some(format!("sip:{}@{domain};transport=tcp", c.agent_id))
            }

            /// ElevenLabs Conversational AI agent. URL:
            /// `sip:{elevenlabsAgentId}@sip.rtc.elevenlabs.io:5060;transport=tcp`.
            ElevenLabs(ElevenLabsConfig, CreateElevenLabsConfigInput, UpdateElevenLabsConfigInput) for Elevenlabs {
                fields {
                    /// ElevenLabs Conversational AI Agent ID.
                    elevenlabs_agent_id: SipUser,
                }
                secrets {}
                sip_domain(
                    "elevenlabs-sip-domain",
                    "COCKPIT_ELEVENLABS_SIP_DOMAIN",
                    "sip.rtc.elevenlabs.io"
                )
                url |c, domain| Some(format!(
                    "sip:{}@{domain}:5060;transport=tcp",
                    c.elevenlabs_agent_id
                ))
            }

            /// LiveKit real-time voice agent. URL: the given `livekitSipUri`.
            LiveKit(LiveKitConfig, CreateLiveKitConfigInput, UpdateLiveKitConfigInput) for Livekit {
                fields {
                    /// LiveKit agent ID or name.
                    livekit_agent_name: Option<Text>,
                    /// LiveKit SIP Trunk ID.
                    livekit_sip_trunk_id: Text,
                    /// Full SIP URI from the LiveKit dashboard, e.g. `sip:xxxx.sip.livekit.cloud`.
                    livekit_sip_uri: SipUri,
                }
                secrets {}
                url |c, _| Some(c.livekit_sip_uri.to_string())
            }

            /// Vogent AI voice agent with SIP authentication. URL: `sip:{vogentSipPrefix}@sip.vogent.ai`.
            Vogent(VogentConfig, CreateVogentConfigInput, UpdateVogentConfigInput) for Vogent {
                fields {
                    /// Vogent Agent ID, for reference.
                    vogent_agent_id: Option<Text>,
                    /// SIP prefix from Vogent Call Settings.
                    vogent_sip_prefix: SipUser,
                    /// SIP authentication username.
                    vogent_sip_username: Text,
                }
                secrets {
                    /// SIP authentication password (write-only).
                    vogent_sip_password: Secret, shown as sip_password_set,
                }
                sip_domain("vogent-sip-domain", "COCKPIT_VOGENT_SIP_DOMAIN", "sip.vogent.ai")
                url |c, domain| Some(format!("sip:{}@{domain}", c.vogent_sip_prefix))
            }

            /// A custom SIP destination; `sipUri` equals the endpoint's URL.
            CustomSip(
                CustomSipConfig,
                CreateCustomSipConfigInput,
                UpdateCustomSipConfigInput
            ) for CustomSip {
                fields {
                    /// The SIP URI calls go to; the same as the endpoint's `url`.
                    sip_uri: SipUri,
                    /// SIP authentication username.
                    username: Option<Text>,
                }
                secrets {
                    /// SIP authentication password (write-only).
                    password: Option<Secret>, shown as password_set,
                }
                url |_, _| None
            }
        }
    };
}

pub(crate) use catalog;
