//! Endpoint writes: create, update and delete, each one transaction that records its events.

use chrono::{DateTime, Utc};
use entity::endpoint::{self, Column};
use entity::enums::{EndpointStatus, EventType, Mode};
use entity::phone_number;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    FromQueryResult, IntoActiveModel, QueryFilter, QuerySelect, QueryTrait, TryIntoModel,
};
use uuid::Uuid;

use super::routing::{check_name, check_status, resolve_routing, seed_name};
use super::{Endpoint, EndpointPatch, NewEndpoint, Settings, find_scoped};
use crate::db::Db;
use crate::domain::Actor;
use crate::domain::error::{DomainError, Field, FieldError, UserErrorCode};
use crate::domain::events::{self, Writes};
use crate::domain::time::is_version;

/// The endpoint, locked until `txn` ends: on PostgreSQL a row lock (`FOR UPDATE`); on SQLite
/// the write transaction itself holds the database's one write lock.
async fn find_model_for_write(
    txn: &DatabaseTransaction,
    actor: &Actor,
    id: Uuid,
) -> Result<endpoint::Model, DomainError> {
    find_scoped(actor, id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(DomainError::NotFound("endpoint"))
}

/// Creates an endpoint, attaching `phone_number_id` in the same transaction. Nothing is
/// written when any rule is broken.
pub async fn create(
    db: &Db,
    settings: &Settings,
    actor: &Actor,
    input: NewEndpoint,
) -> Result<Endpoint, DomainError> {
    actor.ensure_can_write()?;
    let mut errors = Vec::new();

    let mode = match (actor.fixed_mode(), input.mode) {
        (Some(fixed), Some(asked)) if fixed != asked => {
            errors.push(FieldError::new(
                Field::Mode,
                UserErrorCode::ModeNotAllowed,
                format!(
                    "a {} API key can only create {} endpoints",
                    seed_name(fixed),
                    seed_name(fixed)
                ),
            ));
            fixed
        }
        (Some(fixed), _) => fixed,
        (None, asked) => asked.unwrap_or(Mode::Live),
    };
    let name = check_name(&input.name, &mut errors);
    let status = input.status.unwrap_or(EndpointStatus::Active);
    check_status(status, &mut errors);
    let routing = match input.r#type {
        Some(ty) => resolve_routing(
            ty,
            input.url,
            input.provider_config,
            None,
            settings,
            &mut errors,
        ),
        None => {
            errors.push(FieldError::new(
                Field::Type,
                UserErrorCode::Required,
                "{field} is required",
            ));
            None
        }
    };
    // Everything from the phone number's check to the insert is one write transaction; on
    // PostgreSQL a create that attaches none is one statement.
    let one_statement = input.phone_number_id.is_none() && one_statement(db);
    let txn = match (one_statement, input.phone_number_id) {
        (true, _) => None,
        (false, None) => Some(events::begin(db, actor.organization_id, Writes::OneRow).await?),
        (false, Some(_)) => Some(events::begin(db, actor.organization_id, Writes::Beside).await?),
    };
    let phone = match (input.phone_number_id, &txn) {
        (Some(id), Some(txn)) => {
            crate::domain::phone_numbers::find_attachable(
                txn,
                actor.organization_id,
                mode,
                id,
                actor.fixed_mode().is_none(),
                &mut errors,
            )
            .await?
        }
        _ => None,
    };
    let (Some(name), Some(ty), Some((url, config)), true) =
        (name, input.r#type, routing, errors.is_empty())
    else {
        return Err(DomainError::Invalid(errors));
    };

    let now = entity::now();
    let id = crate::domain::ids::new_id(crate::domain::ids::Kind::Endpoint);
    let model = endpoint::Model {
        id,
        organization_id: actor.organization_id,
        name,
        r#type: ty,
        url,
        status,
        provider_config: config.map(|c| c.to_stored(&settings.secrets, id)),
        mode,
        created_at: now,
        updated_at: now,
    };
    let Some(txn) = txn else {
        let created = write_create(db, actor, &model).await?;
        events::committed(db, actor.organization_id).await;
        settings.versions.wrote(db, &created);
        return created.try_into();
    };
    let created = write_create(&txn, actor, &model).await?;
    let mut changes = Vec::new();
    if let Some(phone) = phone {
        // Conditional on the number still being free, so two racing creates can't both take it.
        let attached = phone_number::Entity::update_many()
            .col_expr(phone_number::Column::EndpointId, Expr::value(created.id))
            .filter(phone_number::Column::Id.eq(phone.id))
            .filter(phone_number::Column::EndpointId.is_null())
            .exec(&txn)
            .await?;
        if attached.rows_affected != 1 {
            // Taken by another endpoint meanwhile, or removed (removing a number doesn't wait
            // for the organization's writes).
            let gone = phone_number::Entity::find_by_id(phone.id)
                .one(&txn)
                .await?
                .is_none();
            txn.rollback().await?;
            return Err(match gone {
                true => DomainError::invalid(
                    Field::PhoneNumberId,
                    UserErrorCode::PhoneNumberNotFound,
                    "{field} names no phone number of this organization and mode",
                ),
                false => DomainError::invalid(
                    Field::PhoneNumberId,
                    UserErrorCode::PhoneNumberTaken,
                    "{field} names a phone number already attached to another endpoint",
                ),
            });
        }
        let routed = phone_number::Model {
            endpoint_id: Some(created.id),
            ..phone.clone()
        };
        changes.push(events::phone_number_change(
            EventType::PhoneNumberAttached,
            Some(&phone),
            Some(&routed),
        ));
    }
    events::commit_by(db, txn, actor, changes).await?;
    created.try_into()
}

/// Inserts `model` with its event: the endpoint as stored.
async fn write_create(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    model: &endpoint::Model,
) -> Result<endpoint::Model, DomainError> {
    let change = events::endpoint_change(EventType::EndpointCreated, None, Some(model));
    let insert = endpoint::Entity::insert(model.clone().into_active_model()).into_query();
    let row = events::write_recording::<endpoint::Entity, _>(
        conn,
        insert,
        events::Author::Actor(actor),
        actor.organization_id,
        change,
    )
    .await?
    .ok_or_else(|| DomainError::Corrupt("an insert returned no row".to_owned()))?;
    Ok(super::Row::from_query_result(&row, "")?.0)
}

/// How many times an update outside a transaction reads, merges and writes before it takes
/// the row's lock instead (each try after the first follows another write of the endpoint).
const OPTIMISTIC_TRIES: usize = 4;

/// Applies a patch; `updated_at` moves forward on every update that changes something,
/// `created_at` never changes. A patch that leaves the endpoint as it is writes nothing (no
/// event, the same `updated_at`) and answers the endpoint as stored.
pub async fn update(
    db: &Db,
    settings: &Settings,
    actor: &Actor,
    id: Uuid,
    patch: EndpointPatch,
) -> Result<Endpoint, DomainError> {
    actor.ensure_can_write()?;
    // On PostgreSQL: read, merge, and write only if the endpoint is still the version read, in
    // one statement with its event and no transaction of its own; a version changed in
    // between is read and merged again.
    if one_statement(db) {
        // First over the version this process last wrote, without reading: only a write is
        // trusted from it (its condition checks that version is the one stored). Anything
        // else it leads to (nothing to change, a refusal, another version stored) is decided
        // again over the endpoint as read.
        if let Some(known) = settings.versions.of(actor, id)
            && let Ok(Some(model)) = merge(db, settings, &known, patch.clone()).await
        {
            if let Some(updated) = write_update(db, actor, &known, model).await? {
                return updated_by(db, settings, actor, updated).await;
            }
            settings.versions.forget(id);
        }
        for _ in 0..OPTIMISTIC_TRIES {
            let stored = super::find_model(db, actor, id).await?;
            let Some(model) = merge(db, settings, &stored, patch.clone()).await? else {
                return stored.try_into();
            };
            if let Some(updated) = write_update(db, actor, &stored, model).await? {
                return updated_by(db, settings, actor, updated).await;
            }
        }
    }
    // Read, merge and write under the row's lock, so that a concurrent update can't be lost
    // in between (a password kept from a stale read, say).
    let txn = events::begin(db, actor.organization_id, Writes::OneRow).await?;
    let stored = find_model_for_write(&txn, actor, id).await?;
    let Some(model) = merge(&txn, settings, &stored, patch).await? else {
        return stored.try_into();
    };
    // The row is locked, so an update that matches nothing expected another version.
    let Some(updated) = write_update(&txn, actor, &stored, model).await? else {
        return Err(stale(&stored));
    };
    events::commit(db, txn, actor.organization_id).await?;
    updated.try_into()
}

/// The answer to an update that wrote `updated` outside a transaction of its own, once
/// subscribers have been told; `updated` is remembered as the endpoint's version.
async fn updated_by(
    db: &Db,
    settings: &Settings,
    actor: &Actor,
    updated: endpoint::Model,
) -> Result<Endpoint, DomainError> {
    events::committed(db, actor.organization_id).await;
    settings.versions.wrote(db, &updated);
    updated.try_into()
}

/// Whether a write of one row is one statement, outside any transaction of its own: on
/// PostgreSQL (where the statement also inserts its event), on the pool or in a unit of work
/// of one write (its writes are the unit's; one that runs alone takes its organization's
/// lock first, in a transaction of the write's).
fn one_statement(db: &Db) -> bool {
    db.get_database_backend() == DbBackend::Postgres && !db.unit_alone()
}

/// `stored` as `patch` leaves it, with `updated_at` moved on; `None` when nothing changes.
/// Refused when the patch breaks a rule, or expects another version than `stored`.
async fn merge(
    conn: &impl ConnectionTrait,
    settings: &Settings,
    stored: &endpoint::Model,
    patch: EndpointPatch,
) -> Result<Option<endpoint::ActiveModel>, DomainError> {
    let current: Endpoint = stored.clone().try_into()?;
    if patch.expected_updated_at.is_some_and(|at| !is_version(at)) {
        return Err(stale(stored));
    }
    let mut errors = Vec::new();

    let name = patch.name.as_deref().map(|n| check_name(n, &mut errors));
    if let Some(ty) = patch.r#type
        && ty != current.r#type
    {
        errors.push(FieldError::new(
            Field::Type,
            UserErrorCode::Immutable,
            "{field} can't change after an endpoint is created; create a new endpoint instead",
        ));
    }
    if let Some(status) = patch.status {
        check_status(status, &mut errors);
    }
    let routing = if patch.url.is_some() || patch.provider_config.is_some() {
        resolve_routing(
            current.r#type,
            patch.url,
            patch.provider_config,
            Some((&current.url, current.provider_config.as_ref())),
            settings,
            &mut errors,
        )
    } else {
        None
    };
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }

    let mut patched = stored.clone();
    if let Some(Some(name)) = name {
        patched.name = name;
    }
    if let Some(status) = patch.status {
        patched.status = status;
    }
    if let Some((url, config)) = routing {
        patched.url = url;
        patched.provider_config = config.map(|c| {
            c.to_stored_over(
                current.provider_config.as_ref(),
                &settings.secrets,
                stored.id,
            )
        });
    }
    // A version the client expected is checked whether or not anything changes.
    if patch
        .expected_updated_at
        .is_some_and(|at| at != stored.updated_at)
    {
        return Err(stale(stored));
    }
    if patched == *stored {
        // Nothing changes: nothing is written, no event, the version stays.
        return Ok(None);
    }
    // Only what changes is written: a column the patch leaves is not written back from
    // `stored` (which may be a remembered version: see `Versions`).
    let mut model = stored.clone().into_active_model();
    if patched.name != stored.name {
        model.name = Set(patched.name);
    }
    if patched.status != stored.status {
        model.status = Set(patched.status);
    }
    if patched.url != stored.url {
        model.url = Set(patched.url);
    }
    if patched.provider_config != stored.provider_config {
        model.provider_config = Set(patched.provider_config);
    }
    // The `before_save` hook moves `updated_at` even when no column changed (an `UPDATE` with
    // a condition of its own doesn't call it).
    Ok(Some(
        sea_orm::ActiveModelBehavior::before_save(model, conn, false).await?,
    ))
}

/// Writes `model` over `stored` if the endpoint is still that version, with its event: the
/// endpoint written, or `None` when it isn't (another version, or gone).
async fn write_update(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    stored: &endpoint::Model,
    model: endpoint::ActiveModel,
) -> Result<Option<endpoint::Model>, DomainError> {
    let after = model.clone().try_into_model()?;
    let change = events::endpoint_change(EventType::EndpointUpdated, Some(stored), Some(&after));
    let update = endpoint::Entity::update_many()
        .set(model)
        .filter(Column::Id.eq(stored.id))
        .filter(Column::OrganizationId.eq(actor.organization_id))
        .filter(Column::UpdatedAt.eq(stored.updated_at))
        .into_query();
    let row = events::write_recording::<endpoint::Entity, _>(
        conn,
        update,
        events::Author::Actor(actor),
        actor.organization_id,
        change,
    )
    .await?;
    Ok(row
        .map(|row| super::Row::from_query_result(&row, "").map(|row| row.0))
        .transpose()?)
}

/// The refusal of a write that expected another version of `current` (still locked, so it is
/// the version stored now).
fn stale(current: &endpoint::Model) -> DomainError {
    DomainError::Stale(current.updated_at)
}

/// Deletes an endpoint and detaches its phone numbers, in one transaction. With
/// `expected_updated_at`, only that version of it.
pub async fn delete(
    db: &Db,
    actor: &Actor,
    id: Uuid,
    expected_updated_at: Option<DateTime<Utc>>,
) -> Result<Uuid, DomainError> {
    actor.ensure_can_write()?;
    let txn = events::begin(db, actor.organization_id, Writes::Beside).await?;
    let stored = find_model_for_write(&txn, actor, id).await?;
    if expected_updated_at.is_some_and(|at| !is_version(at)) {
        return Err(stale(&stored));
    }
    let routed = phone_number::Entity::find()
        .filter(phone_number::Column::EndpointId.eq(stored.id))
        .lock_exclusive()
        .all(&txn)
        .await?;
    phone_number::Entity::update_many()
        .col_expr(
            phone_number::Column::EndpointId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(phone_number::Column::EndpointId.eq(stored.id))
        .exec(&txn)
        .await?;
    let mut deleting = endpoint::Entity::delete_many()
        .filter(Column::Id.eq(stored.id))
        .filter(Column::OrganizationId.eq(actor.organization_id));
    if let Some(expected) = expected_updated_at {
        deleting = deleting.filter(Column::UpdatedAt.eq(expected));
    }
    let deleted = deleting.exec(&txn).await?;
    // Of racing deletes exactly one removes the row; the others find it gone. The row is
    // locked, so a delete that removes nothing expected another version (the numbers it
    // detached go back with the transaction).
    if deleted.rows_affected != 1 {
        return Err(match expected_updated_at {
            Some(_) => stale(&stored),
            None => DomainError::NotFound("endpoint"),
        });
    }
    let mut changes = vec![events::endpoint_change(
        EventType::EndpointDeleted,
        Some(&stored),
        None,
    )];
    changes.extend(routed.iter().map(|number| {
        let detached = phone_number::Model {
            endpoint_id: None,
            ..number.clone()
        };
        events::phone_number_change(
            EventType::PhoneNumberDetached,
            Some(number),
            Some(&detached),
        )
    }));
    events::commit_by(db, txn, actor, changes).await?;
    Ok(stored.id)
}
