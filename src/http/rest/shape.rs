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
        Field::EndpointId => "endpoint_id".into(),
        Field::E164 => "e164".into(),
        Field::UserId => "user_id".into(),
        Field::Role => "role".into(),
        Field::MemberId => "member_id".into(),
        Field::ProviderConfig => "provider_config".into(),
        Field::ExpectedUpdatedAt => "If-Match".into(),
        Field::Query => "query".into(),
        Field::DocumentId => "document_id".into(),
        Field::Variables => "variables".into(),
        Field::ProviderConfigField(_, name) => format!("provider_config.{name}"),
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
        "created_at": time::format(e.created_at),
        "updated_at": time::format(e.updated_at),
    });
    if let Some(config) = &e.provider_config {
        body["provider_config"] = config_json(config);
    }
    body
}

/// A config as the seed shows it: each plain field that is set, and `{secret}_set` for each
/// secret.
pub(super) fn config_json(config: &ProviderConfig) -> Value {
    let mut object = Map::new();
    for (field, shown) in config.shown() {
        match shown {
            Shown::Text(None) => {}
            Shown::Text(Some(text)) => {
                object.insert(field.to_owned(), json!(text));
            }
            Shown::SecretSet(set) => {
                object.insert(set_flag(field), json!(set));
            }
        }
    }
    Value::Object(object)
}
