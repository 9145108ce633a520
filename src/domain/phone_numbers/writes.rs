//! Managing phone numbers: add one, route it to an endpoint, stop routing it, remove it. Members
//! and up; a number and its endpoint are of one organization and one mode.

use entity::enums::Mode;
use entity::{endpoint, phone_number};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, ModelTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use entity::enums::EventType;

use super::{PhoneNumber, add_by, validate_e164};
use crate::db::Db;
use crate::domain::Actor;
use crate::domain::error::{DomainError, Field, FieldError, UserErrorCode};
use crate::domain::events::{self, Author};

fn invalid(field: Field, code: UserErrorCode, message: &str) -> DomainError {
    DomainError::Invalid(vec![FieldError::new(field, code, message)])
}

/// Adds `e164` in `mode`: an API key adds in its own mode; a session names the mode (LIVE when
/// it doesn't).
pub async fn create(
    db: &Db,
    actor: &Actor,
    e164: &str,
    mode: Option<Mode>,
) -> Result<PhoneNumber, DomainError> {
    actor.ensure_can_write()?;
    let mode = match (actor.fixed_mode(), mode) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(invalid(
                Field::Mode,
                UserErrorCode::ModeNotAllowed,
                "{field}: this API key adds numbers in its own mode only",
            ));
        }
        (Some(own), _) => own,
        (None, asked) => asked.unwrap_or(Mode::Live),
    };
    if let Err(why) = validate_e164(e164) {
        return Err(invalid(
            Field::E164,
            UserErrorCode::Invalid,
            &format!("{{field}}: {why}"),
        ));
    }
    add_by(db, Author::Actor(actor), actor.organization_id, mode, e164)
        .await
        .map_err(|err| match err {
            // `add_by`'s only refusal once the number is valid: the organization has it already.
            DomainError::BadInput(_) => invalid(
                Field::E164,
                UserErrorCode::PhoneNumberExists,
                "{field} is already a phone number of this organization in this mode",
            ),
            other => other,
        })
}

/// The number, locked until `txn` ends, if it is the actor's organization's and of a mode the
/// actor sees.
async fn find_for_write(
    txn: &DatabaseTransaction,
    actor: &Actor,
    id: Uuid,
) -> Result<phone_number::Model, DomainError> {
    let mut find = phone_number::Entity::find()
        .filter(phone_number::Column::Id.eq(id))
        .filter(phone_number::Column::OrganizationId.eq(actor.organization_id));
    if let Some(mode) = actor.fixed_mode() {
        find = find.filter(phone_number::Column::Mode.eq(mode));
    }
    find.lock_exclusive().one(txn).await?.ok_or_else(|| {
        invalid(
            Field::PhoneNumberId,
            UserErrorCode::PhoneNumberNotFound,
            "{field} names no phone number of this organization and mode",
        )
    })
}

/// Routes the number to the endpoint. A number routed elsewhere is `PHONE_NUMBER_TAKEN`
/// unless `reassign`; routed there already, nothing changes.
pub async fn attach(
    db: &Db,
    actor: &Actor,
    number_id: Uuid,
    endpoint_id: Uuid,
    reassign: bool,
) -> Result<PhoneNumber, DomainError> {
    actor.ensure_can_write()?;
    let txn = events::begin(db, actor.organization_id, events::Writes::Beside).await?;
    let mut find = endpoint::Entity::find()
        .filter(endpoint::Column::Id.eq(endpoint_id))
        .filter(endpoint::Column::OrganizationId.eq(actor.organization_id));
    if let Some(mode) = actor.fixed_mode() {
        find = find.filter(endpoint::Column::Mode.eq(mode));
    }
    // The endpoint before the number (`events::Writes::Beside`), and held against a delete
    // until the number routes to it (the lock its reference would take anyway).
    let target = find
        .lock(sea_orm::sea_query::LockType::KeyShare)
        .one(&txn)
        .await?;
    let number = find_for_write(&txn, actor, number_id).await?;
    let Some(target) = target else {
        return Err(invalid(
            Field::EndpointId,
            UserErrorCode::EndpointNotFound,
            "{field} names no endpoint of this organization and mode",
        ));
    };
    if target.mode != number.mode {
        return Err(invalid(
            Field::EndpointId,
            UserErrorCode::ModeMismatch,
            "{field}: a number routes only to an endpoint of its own mode",
        ));
    }
    match number.endpoint_id {
        Some(current) if current == target.id => return Ok(number.into()),
        Some(_) if !reassign => {
            return Err(invalid(
                Field::PhoneNumberId,
                UserErrorCode::PhoneNumberTaken,
                "{field} names a phone number already attached to another endpoint (send reassign: true to move it)",
            ));
        }
        _ => {}
    }
    let mut active = number.clone().into_active_model();
    active.endpoint_id = Set(Some(target.id));
    let attached = active.update(&txn).await?;
    let change = events::phone_number_change(
        EventType::PhoneNumberAttached,
        Some(&number),
        Some(&attached),
    );
    events::commit_by(db, txn, actor, vec![change]).await?;
    Ok(attached.into())
}

/// Stops routing the number anywhere; a number routed nowhere stays so.
pub async fn detach(db: &Db, actor: &Actor, number_id: Uuid) -> Result<PhoneNumber, DomainError> {
    actor.ensure_can_write()?;
    let txn = events::begin(db, actor.organization_id, events::Writes::OneRow).await?;
    let number = find_for_write(&txn, actor, number_id).await?;
    if number.endpoint_id.is_none() {
        return Ok(number.into());
    }
    let mut active = number.clone().into_active_model();
    active.endpoint_id = Set(None);
    let detached = active.update(&txn).await?;
    let change = events::phone_number_change(
        EventType::PhoneNumberDetached,
        Some(&number),
        Some(&detached),
    );
    events::commit_by(db, txn, actor, vec![change]).await?;
    Ok(detached.into())
}

/// Removes the number from the organization; the id it had.
pub async fn remove(db: &Db, actor: &Actor, number_id: Uuid) -> Result<Uuid, DomainError> {
    actor.ensure_can_write()?;
    let txn = events::begin(db, actor.organization_id, events::Writes::OneRow).await?;
    let number = find_for_write(&txn, actor, number_id).await?;
    let id = number.id;
    let change = events::phone_number_change(EventType::PhoneNumberDeleted, Some(&number), None);
    number.delete(&txn).await?;
    events::commit_by(db, txn, actor, vec![change]).await?;
    Ok(id)
}
