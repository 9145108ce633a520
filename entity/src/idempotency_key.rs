//! `idempotency_keys`: the stored responses of requests sent with an `Idempotency-Key`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    /// Whose key it is: `key:<API key id>` or `user:<JWT sub>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub credential: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// SHA-256 (hex) of what the request asked for: its method, path and body.
    pub fingerprint: String,
    /// The running request's claim; `None` once its response is stored.
    pub claim: Option<Uuid>,
    /// Until when the claim holds; a claim left by a process that died is taken over after it.
    pub locked_until: Option<DateTimeUtc>,
    /// The stored response: its HTTP status, the headers that describe it (a JSON array of
    /// `[name, value]` pairs: its media type, `ETag`) and its body.
    pub status: Option<i32>,
    pub headers: Option<String>,
    pub body: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
