//! Organization memberships: which user (JWT `sub`) acts in which organization, with what role.

use chrono::{DateTime, Utc};
use entity::enums::{EventType, Role};
use entity::{organization, organization_member};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use sea_orm::DatabaseTransaction;

use super::error::{Field, FieldError, UserErrorCode};
use super::events::{self, Author};
use super::ids::{Kind, new_id};
use super::organizations::Organization;
use super::page::{self, Direction, Keyset, Page};
use super::{Actor, Credential, DomainError, has_control_chars};
use crate::db::Db;

/// A member of an organization, as the domain hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// The user's id (the JWT `sub`).
    pub user_id: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

impl From<organization_member::Model> for Member {
    fn from(m: organization_member::Model) -> Self {
        Self {
            id: m.id,
            organization_id: m.organization_id,
            user_id: m.user_id,
            role: m.role,
            joined_at: m.created_at,
        }
    }
}

/// A user's membership, with its organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub organization: Organization,
    pub role: Role,
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

/// A user id (a JWT `sub`): 1 to 255 characters, none of them white space, control or format
/// characters (zero-width ones, bidirectional overrides), so that no two ids look alike.
pub fn validate_user_id(user_id: &str) -> Result<(), DomainError> {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    let invisible = |c: char| {
        c.is_whitespace() || c.is_control() || c.general_category() == GeneralCategory::Format
    };
    let length = user_id.chars().count();
    if !(1..=255).contains(&length) || has_control_chars(user_id) || user_id.chars().any(invisible)
    {
        return Err(DomainError::BadInput(
            "a user id is 1 to 255 characters, with no white space, control or invisible \
             characters (the JWT `sub`)"
                .to_owned(),
        ));
    }
    Ok(())
}

/// The command line's paths: no actor, any organization.
pub mod system {
    use super::*;

    /// Adds `user_id` to the organization, or changes their role if they are a member already
    /// (the CLI's `member add`).
    pub async fn upsert(
        db: &Db,
        organization_id: Uuid,
        user_id: &str,
        role: Role,
    ) -> Result<Member, DomainError> {
        validate_user_id(user_id)?;
        crate::domain::organizations::system::get(db, organization_id).await?;
        let txn = events::begin(db, organization_id, events::Writes::Alone).await?;
        let existing =
            organization_member::Entity::find_by_id((organization_id, user_id.to_owned()))
                .lock_exclusive()
                .one(&txn)
                .await?;
        let (member, change) = match existing {
            // The role it has already: nothing to write, no event.
            Some(member) if member.role == role => return Ok(member.into()),
            Some(member) => {
                let mut active: organization_member::ActiveModel = member.clone().into();
                active.role = Set(role);
                let updated = active.update(&txn).await?;
                let change =
                    events::member_change(EventType::MemberUpdated, Some(&member), Some(&updated));
                (updated, change)
            }
            None => {
                let added = organization_member::ActiveModel {
                    organization_id: Set(organization_id),
                    user_id: Set(user_id.to_owned()),
                    id: Set(new_id(Kind::OrganizationMember)),
                    role: Set(role),
                    created_at: Set(entity::now()),
                }
                .insert(&txn)
                .await?;
                let change = events::member_change(EventType::MemberCreated, None, Some(&added));
                (added, change)
            }
        };
        events::record(&txn, Author::System, organization_id, vec![change]).await?;
        events::commit(db, txn, organization_id).await?;
        Ok(member.into())
    }
}

/// Every organization the user belongs to, the one they joined first first.
pub async fn of_user(db: &Db, user_id: &str) -> Result<Vec<Membership>, DomainError> {
    let rows = organization_member::Entity::find()
        .filter(organization_member::Column::UserId.eq(user_id))
        .order_by_asc(organization_member::Column::CreatedAt)
        .order_by_asc(organization_member::Column::OrganizationId)
        .find_also_related(organization::Entity)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(member, org)| {
            org.map(|organization| Membership {
                organization: organization.into(),
                role: member.role,
                joined_at: member.created_at,
            })
        })
        .collect())
}

/// The user's membership of the organization, if they are a member.
pub async fn find(
    db: &Db,
    organization_id: Uuid,
    user_id: &str,
) -> Result<Option<Member>, DomainError> {
    Ok(
        organization_member::Entity::find_by_id((organization_id, user_id.to_owned()))
            .one(db)
            .await?
            .map(Member::from),
    )
}

/// The membership `id` of the actor's organization; any other is "not found".
pub async fn get(db: &Db, actor: &Actor, id: Uuid) -> Result<Member, DomainError> {
    organization_member::Entity::find()
        .filter(organization_member::Column::Id.eq(id))
        .filter(organization_member::Column::OrganizationId.eq(actor.organization_id))
        .one(db)
        .await?
        .map(Member::from)
        .ok_or(DomainError::NotFound("member"))
}

/// A page of the organization's members, the one who joined first first.
pub type MemberPage = Page<Member>;

/// Members are listed in the order they joined.
const ORDER: Keyset = Keyset {
    list: page::List::Members,
    key: page::CREATED,
    direction: Direction::Asc,
};

/// The cursor after `member` in the list: its join time and id.
pub fn cursor_of(member: &Member) -> String {
    page::encode(ORDER, member.joined_at.to_rfc3339(), member.id)
}

/// One page of the actor's organization's members (any member, or API key, may read them).
pub async fn list(
    db: &Db,
    actor: &Actor,
    first: Option<i64>,
    max_first: u64,
    after: Option<&str>,
) -> Result<MemberPage, DomainError> {
    let first = super::page_size(first, max_first)?;
    let after = after
        .map(|raw| page::decode_created(raw, ORDER))
        .transpose()?;
    let mut find = organization_member::Entity::find()
        .filter(organization_member::Column::OrganizationId.eq(actor.organization_id));
    if let Some((at, id)) = after {
        find = find.filter(
            sea_orm::Condition::any()
                .add(organization_member::Column::CreatedAt.gt(at))
                .add(
                    sea_orm::Condition::all()
                        .add(organization_member::Column::CreatedAt.eq(at))
                        .add(organization_member::Column::Id.gt(id)),
                ),
        );
    }
    let rows = find
        .order_by_asc(organization_member::Column::CreatedAt)
        .order_by_asc(organization_member::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    Page::of_rows(
        rows,
        first,
        after.is_some(),
        |m| Ok(Member::from(m)),
        cursor_of,
    )
}

/// How many members the actor's organization has.
pub async fn count(db: &Db, actor: &Actor) -> Result<u64, DomainError> {
    use sea_orm::PaginatorTrait;
    Ok(organization_member::Entity::find()
        .filter(organization_member::Column::OrganizationId.eq(actor.organization_id))
        .count(db)
        .await?)
}

fn refused(field: Field, code: UserErrorCode, message: &str) -> DomainError {
    DomainError::Invalid(vec![FieldError::new(field, code, message)])
}

/// The actor's role as the locked memberships have it now: a request authenticated before its
/// caller was removed or demoted must not act on the role it had.
fn acting_role(members: &[organization_member::Model], actor: &Actor) -> Result<Role, DomainError> {
    let current = match &actor.credential {
        Credential::User { user_id } => members
            .iter()
            .find(|m| m.user_id == *user_id)
            .map(|m| m.role),
        Credential::ApiKey { .. } => None,
    };
    match current {
        Some(role @ (Role::Owner | Role::Admin)) => Ok(role),
        _ => Err(DomainError::Forbidden(
            "only organization owners and admins can manage members".to_owned(),
        )),
    }
}

/// Only an owner makes, unmakes or removes an owner.
fn check_owner_rule(role: Role, touches_owner: bool, field: Field) -> Result<(), DomainError> {
    if touches_owner && role != Role::Owner {
        return Err(refused(
            field,
            UserErrorCode::OwnerOnly,
            "{field}: only an owner makes, unmakes or removes an owner",
        ));
    }
    Ok(())
}

/// Every member of the actor's organization, locked until `txn` ends: membership changes
/// read the owners (and the actor's own role) and change one row, one at a time per
/// organization.
async fn lock_members(
    txn: &DatabaseTransaction,
    actor: &Actor,
) -> Result<Vec<organization_member::Model>, DomainError> {
    Ok(organization_member::Entity::find()
        .filter(organization_member::Column::OrganizationId.eq(actor.organization_id))
        .lock_exclusive()
        .all(txn)
        .await?)
}

/// Adds `user_id` with `role` (owners and admins; only owners add owners).
pub async fn create(
    db: &Db,
    actor: &Actor,
    user_id: &str,
    role: Role,
) -> Result<Member, DomainError> {
    actor.ensure_can_manage_organization()?;
    if validate_user_id(user_id).is_err() {
        return Err(refused(
            Field::UserId,
            UserErrorCode::Invalid,
            "{field} is 1 to 255 characters with no white space, control or invisible characters (the user's JWT `sub`)",
        ));
    }
    let txn = events::begin(db, actor.organization_id, events::Writes::Alone).await?;
    let members = lock_members(&txn, actor).await?;
    let acting = acting_role(&members, actor)?;
    check_owner_rule(acting, role == Role::Owner, Field::Role)?;
    if members.iter().any(|m| m.user_id == user_id) {
        return Err(refused(
            Field::UserId,
            UserErrorCode::MemberExists,
            "{field} is a member already; change their role with updateMemberRole",
        ));
    }
    let member = organization_member::ActiveModel {
        organization_id: Set(actor.organization_id),
        user_id: Set(user_id.to_owned()),
        id: Set(new_id(Kind::OrganizationMember)),
        role: Set(role),
        created_at: Set(entity::now()),
    }
    .insert(&txn)
    .await?;
    let change = events::member_change(EventType::MemberCreated, None, Some(&member));
    events::commit_by(db, txn, actor, vec![change]).await?;
    Ok(member.into())
}

/// The member `id` among `members`, or the user error for it.
fn pick(
    members: &[organization_member::Model],
    id: Uuid,
) -> Result<&organization_member::Model, DomainError> {
    members.iter().find(|m| m.id == id).ok_or_else(|| {
        refused(
            Field::MemberId,
            UserErrorCode::MemberNotFound,
            "{field} names no member of this organization",
        )
    })
}

fn is_last_owner(
    members: &[organization_member::Model],
    member: &organization_member::Model,
) -> bool {
    member.role == Role::Owner && members.iter().filter(|m| m.role == Role::Owner).count() == 1
}

/// Changes a member's role (owners and admins; only owners make or unmake owners; nobody
/// changes their own; the last owner stays one). The role it has already changes nothing and
/// records no event.
pub async fn update(
    db: &Db,
    actor: &Actor,
    member_id: Uuid,
    role: Role,
) -> Result<Member, DomainError> {
    actor.ensure_can_manage_organization()?;
    let txn = events::begin(db, actor.organization_id, events::Writes::Alone).await?;
    let members = lock_members(&txn, actor).await?;
    let acting = acting_role(&members, actor)?;
    let member = pick(&members, member_id)?;
    if matches!(&actor.credential, Credential::User { user_id } if *user_id == member.user_id) {
        return Err(refused(
            Field::MemberId,
            UserErrorCode::OwnRole,
            "{field} is you: nobody changes their own role",
        ));
    }
    check_owner_rule(acting, member.role == Role::Owner, Field::MemberId)?;
    check_owner_rule(acting, role == Role::Owner, Field::Role)?;
    if role != Role::Owner && is_last_owner(&members, member) {
        return Err(refused(
            Field::MemberId,
            UserErrorCode::LastOwner,
            "{field} is the organization's last owner: make another member an owner first",
        ));
    }
    if member.role == role {
        // Nothing changes: nothing is written and no event recorded.
        return Ok(member.clone().into());
    }
    let mut active: organization_member::ActiveModel = member.clone().into();
    active.role = Set(role);
    let updated = active.update(&txn).await?;
    let change = events::member_change(EventType::MemberUpdated, Some(member), Some(&updated));
    events::commit_by(db, txn, actor, vec![change]).await?;
    Ok(updated.into())
}

/// Removes a member (owners and admins; only owners remove owners; the last owner stays);
/// their sessions lose the organization from the next request on. The id it had.
pub async fn remove(db: &Db, actor: &Actor, member_id: Uuid) -> Result<Uuid, DomainError> {
    actor.ensure_can_manage_organization()?;
    let txn = events::begin(db, actor.organization_id, events::Writes::Alone).await?;
    let members = lock_members(&txn, actor).await?;
    let acting = acting_role(&members, actor)?;
    let member = pick(&members, member_id)?;
    check_owner_rule(acting, member.role == Role::Owner, Field::MemberId)?;
    if is_last_owner(&members, member) {
        return Err(refused(
            Field::MemberId,
            UserErrorCode::LastOwner,
            "{field} is the organization's last owner: an organization always keeps one",
        ));
    }
    organization_member::Entity::delete_by_id((actor.organization_id, member.user_id.clone()))
        .exec(&txn)
        .await?;
    let change = events::member_change(EventType::MemberDeleted, Some(member), None);
    events::commit_by(db, txn, actor, vec![change]).await?;
    Ok(member_id)
}
