//! `stream_tickets`: single-use tickets that open one event stream for an `EventSource`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stream_tickets")]
pub struct Model {
    /// SHA-256 (hex) of the ticket; the ticket itself is stored nowhere.
    #[sea_orm(primary_key, auto_increment = false)]
    pub ticket_hash: String,
    pub organization_id: Uuid,
    /// The API key that minted it, or `None` for a session's ticket.
    pub api_key_id: Option<Uuid>,
    /// The user (JWT `sub`) whose session minted it, or `None` for an API key's.
    pub user_id: Option<String>,
    /// SHA-256 (hex) of the one operation it opens: its document, name and variables.
    pub operation_hash: String,
    /// When the minting session token expires: the stream it opens ends then.
    pub session_expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// When it opened its stream; a used ticket opens nothing more.
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
