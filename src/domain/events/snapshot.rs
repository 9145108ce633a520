//! What an event says of an object: its fields by their seed names, secrets shown only as
//! `"[redacted]"` when set, and for an update only the fields that changed.

use entity::enums::EventType;
use entity::{api_key, endpoint, organization_member, phone_number};
use sea_orm::ActiveEnum;
use serde_json::{Map, Value, json};

use super::Change;
use crate::domain::provider::{FieldKind, Provider};

/// What a set secret is shown as.
const REDACTED: &str = "[redacted]";

/// An endpoint's change. A provider config's secrets are compared as stored (sealed, so a new
/// value reads as a change even when one was set before) and shown only as `"[redacted]"`.
pub fn endpoint_change(
    r#type: EventType,
    before: Option<&endpoint::Model>,
    after: Option<&endpoint::Model>,
) -> Change {
    let fields = |m: &endpoint::Model| {
        json!({
            "name": m.name,
            "type": m.r#type.to_value(),
            "url": m.url,
            "status": m.status.to_value(),
            "mode": m.mode.to_value(),
            "provider_config": m.provider_config.clone().unwrap_or(Value::Null),
        })
    };
    let mut change = change_of(r#type, before, after, |m| (m.id, Some(m.mode)), fields);
    let provider = after.or(before).and_then(|m| Provider::of(m.r#type));
    for part in [&mut change.before, &mut change.after]
        .into_iter()
        .flatten()
    {
        redact(provider, part);
    }
    change
}

pub fn phone_number_change(
    r#type: EventType,
    before: Option<&phone_number::Model>,
    after: Option<&phone_number::Model>,
) -> Change {
    let fields = |m: &phone_number::Model| json!({ "e164": m.e164, "mode": m.mode.to_value(), "endpoint_id": m.endpoint_id });
    change_of(r#type, before, after, |m| (m.id, Some(m.mode)), fields)
}

/// A membership's change; memberships belong to no mode.
pub fn member_change(
    r#type: EventType,
    before: Option<&organization_member::Model>,
    after: Option<&organization_member::Model>,
) -> Change {
    let fields =
        |m: &organization_member::Model| json!({ "user_id": m.user_id, "role": m.role.to_value() });
    change_of(r#type, before, after, |m| (m.id, None), fields)
}

/// An API key's change: its name, mode and display prefix, never its hash.
pub fn api_key_change(
    r#type: EventType,
    before: Option<&api_key::Model>,
    after: Option<&api_key::Model>,
) -> Change {
    let fields = |m: &api_key::Model| {
        json!({
            "name": m.name,
            "mode": m.mode.to_value(),
            "display_prefix": m.display_prefix,
            "revoked_at": m.revoked_at.map(crate::domain::time::format),
        })
    };
    change_of(r#type, before, after, |m| (m.id, Some(m.mode)), fields)
}

/// The change of an object from `before` to `after` (either may be missing, not both): its
/// id and mode from `key`, its fields from `fields`.
fn change_of<M>(
    r#type: EventType,
    before: Option<&M>,
    after: Option<&M>,
    key: impl Fn(&M) -> (uuid::Uuid, Option<entity::enums::Mode>),
    fields: impl Fn(&M) -> Value,
) -> Change {
    let Some((id, mode)) = after.or(before).map(&key) else {
        unreachable!("a change has a before or an after");
    };
    Change::new(r#type, id, mode, before.map(&fields), after.map(&fields))
}

/// The fields of `before` and `after` that differ (an object's own fields one level down, so
/// a provider config lists only the fields that changed).
pub(super) fn differences(before: &Value, after: &Value) -> (Value, Value) {
    let (Value::Object(b), Value::Object(a)) = (before, after) else {
        return (before.clone(), after.clone());
    };
    let mut old = Map::new();
    let mut new = Map::new();
    let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    for key in keys {
        let (x, y) = (
            b.get(key).unwrap_or(&Value::Null),
            a.get(key).unwrap_or(&Value::Null),
        );
        if x == y {
            continue;
        }
        let (x, y) = match (x, y) {
            (Value::Object(_), Value::Object(_)) => differences(x, y),
            _ => (x.clone(), y.clone()),
        };
        old.insert(key.clone(), x);
        new.insert(key.clone(), y);
    }
    (Value::Object(old), Value::Object(new))
}

/// Shows every secret of the provider's config in `fields` as `"[redacted]"` (null stays null
/// for "not set"): an event never holds a secret, sealed or plain.
fn redact(provider: Option<&Provider>, fields: &mut Value) {
    let (Some(provider), Some(Value::Object(config))) =
        (provider, fields.get_mut("provider_config"))
    else {
        return;
    };
    for field in provider.fields {
        if matches!(field.kind, FieldKind::Secret)
            && let Some(secret) = config.get_mut(field.name)
            && !secret.is_null()
        {
            *secret = Value::String(REDACTED.to_owned());
        }
    }
}
