//! Phone numbers: E.164 validation, adding numbers, and attaching them to endpoints.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::Mode;
use entity::phone_number::{self, Column};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use super::error::{DomainError, Field, FieldError, UserErrorCode};
use super::events::{self, Author};
use crate::db::Db;
use entity::enums::EventType;

mod list;
mod writes;

pub use list::{NumberFilter, NumberPage, NumberPageRequest, count, cursor_of, list};
pub use writes::{attach, create, detach, remove};

/// A phone number, as the domain hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub mode: Mode,
    /// The number in E.164 form (`+14155550123`).
    pub e164: String,
    /// The endpoint calls to it are routed to, if any.
    pub endpoint_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<phone_number::Model> for PhoneNumber {
    fn from(m: phone_number::Model) -> Self {
        Self {
            id: m.id,
            organization_id: m.organization_id,
            mode: m.mode,
            e164: m.e164,
            endpoint_id: m.endpoint_id,
            created_at: m.created_at,
        }
    }
}

/// `+`, a country code that does not start with 0, and at most 15 digits in all (ITU-T E.164).
pub fn validate_e164(number: &str) -> Result<(), String> {
    let Some(digits) = number.strip_prefix('+') else {
        return Err("an E.164 number starts with '+'".to_owned());
    };
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err("an E.164 number has only digits after '+'".to_owned());
    }
    if !(2..=15).contains(&digits.len()) {
        return Err("an E.164 number has 2 to 15 digits".to_owned());
    }
    if digits.starts_with('0') {
        return Err("an E.164 country code does not start with 0".to_owned());
    }
    Ok(())
}

/// The command line's paths: no actor, any organization.
pub mod system {
    use super::*;

    /// Adds `number` to the organization in `mode` (the CLI's `phone-number add`).
    pub async fn create(
        db: &Db,
        organization_id: Uuid,
        mode: Mode,
        number: &str,
    ) -> Result<PhoneNumber, DomainError> {
        add_by(db, Author::System, organization_id, mode, number).await
    }
}

pub(super) async fn add_by(
    db: &Db,
    author: Author<'_>,
    organization_id: Uuid,
    mode: Mode,
    number: &str,
) -> Result<PhoneNumber, DomainError> {
    validate_e164(number).map_err(DomainError::BadInput)?;
    let existing = phone_number::Entity::find()
        .filter(Column::OrganizationId.eq(organization_id))
        .filter(Column::Mode.eq(mode))
        .filter(Column::E164.eq(number))
        .one(db)
        .await?;
    let taken = || {
        DomainError::BadInput(format!(
            "{number} is already a phone number of this organization in this mode"
        ))
    };
    if existing.is_some() {
        return Err(taken());
    }
    let model = phone_number::ActiveModel {
        id: Set(super::ids::new_id(super::ids::Kind::PhoneNumber)),
        organization_id: Set(organization_id),
        mode: Set(mode),
        e164: Set(number.to_owned()),
        endpoint_id: Set(None),
        created_at: Set(entity::now()),
    };
    // Two racing adds both find nothing; the unique index lets one in.
    let txn = events::begin(db, organization_id, events::Writes::OneRow).await?;
    let added = model
        .insert(&txn)
        .await
        .map_err(|err| match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => taken(),
            _ => DomainError::Database(err),
        })?;
    let change = events::phone_number_change(EventType::PhoneNumberCreated, None, Some(&added));
    events::record(&txn, author, organization_id, vec![change]).await?;
    events::commit(db, txn, organization_id).await?;
    Ok(added.into())
}

/// The number `id` if it belongs to this organization and mode and routes nowhere yet;
/// otherwise a field error is pushed. A number of another organization is "not found", and so
/// is one of the other mode unless the caller sees both (a session): then it is
/// `MODE_MISMATCH`, as `attachPhoneNumber` says it.
pub(crate) async fn find_attachable(
    db: &impl ConnectionTrait,
    organization_id: Uuid,
    mode: Mode,
    id: Uuid,
    sees_both_modes: bool,
    errors: &mut Vec<FieldError>,
) -> Result<Option<phone_number::Model>, DomainError> {
    let found = phone_number::Entity::find()
        .filter(Column::Id.eq(id))
        .filter(Column::OrganizationId.eq(organization_id))
        .one(db)
        .await?
        .filter(|p| p.mode == mode || sees_both_modes);
    match found {
        Some(p) if p.mode != mode => {
            errors.push(FieldError::new(
                Field::PhoneNumberId,
                UserErrorCode::ModeMismatch,
                "{field} names a phone number of the other mode: a number routes only to an endpoint of its own mode",
            ));
            Ok(None)
        }
        None => {
            errors.push(FieldError::new(
                Field::PhoneNumberId,
                UserErrorCode::PhoneNumberNotFound,
                "{field} names no phone number of this organization and mode",
            ));
            Ok(None)
        }
        Some(p) if p.endpoint_id.is_some() => {
            errors.push(FieldError::new(
                Field::PhoneNumberId,
                UserErrorCode::PhoneNumberTaken,
                "{field} names a phone number already attached to another endpoint",
            ));
            Ok(None)
        }
        Some(p) => Ok(Some(p)),
    }
}

/// The numbers attached to each of `endpoint_ids`, in one query, oldest first.
pub async fn by_endpoints(
    db: &Db,
    organization_id: Uuid,
    endpoint_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<PhoneNumber>>, DomainError> {
    let rows = phone_number::Entity::find()
        .filter(Column::OrganizationId.eq(organization_id))
        .filter(Column::EndpointId.is_in(endpoint_ids.iter().copied()))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .all(db)
        .await?;
    let mut map: HashMap<Uuid, Vec<PhoneNumber>> = HashMap::new();
    for row in rows {
        if let Some(endpoint_id) = row.endpoint_id {
            map.entry(endpoint_id).or_default().push(row.into());
        }
    }
    Ok(map)
}

/// A number of the actor's organization, in a mode the actor sees; any other is "not found".
pub async fn get(db: &Db, actor: &super::Actor, id: Uuid) -> Result<PhoneNumber, DomainError> {
    let mut find = phone_number::Entity::find()
        .filter(Column::Id.eq(id))
        .filter(Column::OrganizationId.eq(actor.organization_id));
    if let Some(mode) = actor.fixed_mode() {
        find = find.filter(Column::Mode.eq(mode));
    }
    find.one(db)
        .await?
        .map(PhoneNumber::from)
        .ok_or(DomainError::NotFound("phone number"))
}

#[cfg(test)]
mod tests {
    use super::validate_e164;

    #[test]
    fn e164_numbers() {
        assert!(validate_e164("+14155550123").is_ok());
        assert!(validate_e164("+442071838750").is_ok());
        for bad in [
            "14155550123",
            "+",
            "+0123",
            "+1 415 555",
            "+1234567890123456",
            "+1a",
        ] {
            assert!(validate_e164(bad).is_err(), "{bad}");
        }
    }
}
