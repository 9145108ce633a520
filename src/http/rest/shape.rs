//! The seed's names and JSON shapes: snake_case fields, lowercase enum values, endpoints and
//! their configs as the seed's `Endpoint` schema has them (secrets never included).

use super::*;

/// The seed's names for the domain's fields (`provider_config.assistant_id`).
pub(super) fn field_name(field: Field) -> String {
    match field {
        Field::Id => "id".into(),
        Field::Name => "name".into(),
        Field::Type => "type".into(),
        Field::Url => "url".into(),
        Field::Status => "status".into(),
        Field::Mode => "mode".into(),
        Field::PhoneNumberId => "phone_number_id".into(),
        Field::ProviderConfig => "provider_config".into(),
        Field::ProviderConfigField(_, name) => format!("provider_config.{name}"),
    }
}

pub(super) fn code_name(code: UserErrorCode) -> &'static str {
    match code {
        UserErrorCode::Required => "REQUIRED",
        UserErrorCode::Blank => "BLANK",
        UserErrorCode::TooLong => "TOO_LONG",
        UserErrorCode::Invalid => "INVALID",
        UserErrorCode::InvalidUrl => "INVALID_URL",
        UserErrorCode::InvalidSipUri => "INVALID_SIP_URI",
        UserErrorCode::NotAllowed => "NOT_ALLOWED",
        UserErrorCode::ProviderConfigMismatch => "PROVIDER_CONFIG_MISMATCH",
        UserErrorCode::Immutable => "IMMUTABLE",
        UserErrorCode::StatusNotSettable => "STATUS_NOT_SETTABLE",
        UserErrorCode::ModeNotAllowed => "MODE_NOT_ALLOWED",
        UserErrorCode::PhoneNumberNotFound => "PHONE_NUMBER_NOT_FOUND",
        UserErrorCode::PhoneNumberTaken => "PHONE_NUMBER_TAKEN",
    }
}

/// The seed's lowercase name of an enum value: its stored value.
pub(super) fn seed_name<E: ActiveEnum<Value = String>>(value: E) -> String {
    value.to_value()
}

/// An enum value from its seed name.
pub(super) fn parse<E: ActiveEnum<Value = String>>(text: &str) -> Option<E> {
    E::try_from_value(&text.to_owned()).ok()
}

/// An endpoint as the seed's `Endpoint` schema has it; secrets are never included.
pub(super) fn endpoint_json(e: &Endpoint) -> Value {
    let mut body = json!({
        "id": e.id,
        "name": e.name,
        "type": seed_name(e.r#type),
        "url": e.url,
        "status": seed_name(e.status),
        "mode": seed_name(e.mode),
        "organization_id": e.organization_id,
        "created_at": e.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "updated_at": e.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    });
    if let Some(config) = &e.provider_config {
        body["provider_config"] = config_json(config);
    }
    body
}

pub(super) fn config_json(config: &ProviderConfig) -> Value {
    let mut object = Map::new();
    let mut put = |key: &str, value: Option<&String>| {
        if let Some(v) = value {
            object.insert(key.to_owned(), json!(v));
        }
    };
    match config {
        ProviderConfig::Vapi(c) => {
            put("assistant_id", Some(&c.assistant_id));
            put("credential_id", c.credential_id.as_ref());
            put("vapi_phone_number_id", c.vapi_phone_number_id.as_ref());
        }
        ProviderConfig::Retell(c) => {
            put("agent_id", Some(&c.agent_id));
            put("retell_phone_number", c.retell_phone_number.as_ref());
        }
        ProviderConfig::ElevenLabs(c) => put("elevenlabs_agent_id", Some(&c.elevenlabs_agent_id)),
        ProviderConfig::LiveKit(c) => {
            put("livekit_agent_name", c.livekit_agent_name.as_ref());
            put("livekit_sip_trunk_id", Some(&c.livekit_sip_trunk_id));
            put("livekit_sip_uri", Some(&c.livekit_sip_uri));
        }
        ProviderConfig::Vogent(c) => {
            put("vogent_agent_id", c.vogent_agent_id.as_ref());
            put("vogent_sip_prefix", Some(&c.vogent_sip_prefix));
            put("vogent_sip_username", Some(&c.vogent_sip_username));
            object.insert("vogent_sip_password_set".into(), json!(true));
        }
        ProviderConfig::CustomSip(c) => {
            put("sip_uri", Some(&c.sip_uri));
            put("username", c.username.as_ref());
            object.insert("password_set".into(), json!(c.password.is_some()));
        }
    }
    Value::Object(object)
}
