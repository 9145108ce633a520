//! The domain's one error type, and the field-level errors a user can fix.

use entity::enums::EndpointType;
use sea_orm::{DbErr, RuntimeErr};

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A malformed argument outside a mutation's input (a bad cursor, `first` out of range).
    #[error("{0}")]
    BadInput(String),
    /// Rule breaks the user can fix; mutations report them as `userErrors`.
    #[error("the input breaks {} rule(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// A write that expected another version of the endpoint (`expectedUpdatedAt`, REST's
    /// `If-Match`) than the one stored, whose version (`updated_at`) it carries.
    #[error("the endpoint changed since it was read")]
    Stale(chrono::DateTime<chrono::Utc>),
    #[error("database error")]
    Database(#[from] DbErr),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl DomainError {
    pub fn invalid(field: Field, code: UserErrorCode, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, code, message)])
    }

    /// Whether the database could not be reached or would not serve now (a connection that
    /// can't be made or was lost, a pool with none free, a server shutting down or starting,
    /// SQLite's write lock held past the busy timeout): the request may succeed when retried,
    /// unlike a statement the database refused or data it couldn't decode.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Database(err) if db_unavailable(err))
    }

    /// A description of an internal failure that is safe to log: no SQL text and no bound
    /// values, only what kind of failure it was.
    pub fn log_description(&self) -> String {
        match self {
            Self::Database(err) => describe_db_error(err),
            other => other.to_string(),
        }
    }
}

/// The class of "the database is unavailable" errors, by what SeaORM and sqlx report.
pub fn db_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => match &**e {
            // A connection that can't be opened, broke mid-statement, or isn't free in time.
            Sqlx::Io(_)
            | Sqlx::Tls(_)
            | Sqlx::PoolTimedOut
            | Sqlx::PoolClosed
            | Sqlx::WorkerCrashed => true,
            Sqlx::Database(db) => database_code_unavailable(db.as_ref()),
            _ => false,
        },
        _ => false,
    }
}

/// PostgreSQL's connection exceptions (SQLSTATE class 08), too many connections, and a server
/// shutting down or starting up (57P01–57P03); SQLite's `SQLITE_BUSY` (any extended code), what
/// a write gets when another connection holds the lock past the busy timeout: the database is
/// sound, just not free now, so a retry may succeed.
fn database_code_unavailable(db: &dyn sea_orm::sqlx::error::DatabaseError) -> bool {
    let code = db.code();
    let code = code.as_deref().unwrap_or_default();
    if db
        .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
        .is_some()
    {
        const SQLITE_BUSY: i64 = 5;
        return code.parse::<i64>().is_ok_and(|c| c & 0xff == SQLITE_BUSY);
    }
    code.starts_with("08") || matches!(code, "53300" | "57P01" | "57P02" | "57P03")
}

fn describe_db_error(err: &DbErr) -> String {
    let runtime = match err {
        DbErr::Conn(e) | DbErr::Exec(e) | DbErr::Query(e) => Some(e),
        _ => None,
    };
    match runtime {
        Some(RuntimeErr::SqlxError(sqlx)) => match sqlx.as_database_error() {
            Some(db) => format!(
                "database rejected a statement (code {})",
                db.code().as_deref().unwrap_or("unknown")
            ),
            // Pool time-outs, I/O and protocol errors carry no statement text.
            None => format!("database unavailable: {sqlx}"),
        },
        Some(_) => "database runtime error".to_owned(),
        None => match err {
            DbErr::RecordNotFound(_) => "record not found".to_owned(),
            DbErr::Type(_) | DbErr::Json(_) => "stored value could not be decoded".to_owned(),
            DbErr::ConnectionAcquire(e) => format!("database connection unavailable: {e}"),
            _ => "database error".to_owned(),
        },
    }
}

/// Which input field a user error is about, independent of how a transport spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    Name,
    Type,
    Url,
    Status,
    Mode,
    PhoneNumberId,
    EndpointId,
    E164,
    UserId,
    Role,
    MemberId,
    ProviderConfig,
    ExpectedUpdatedAt,
    Query,
    DocumentId,
    Variables,
    /// A field of the provider config variant of this endpoint type, by its seed (snake_case) name.
    ProviderConfigField(EndpointType, &'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserErrorCode {
    /// A required value is missing.
    Required,
    /// The value is empty or only white space.
    Blank,
    TooLong,
    /// The value is not of the accepted form (characters, format).
    Invalid,
    InvalidUrl,
    InvalidSipUri,
    /// The field may not be given for this endpoint (a generated URL, a config on a webhook).
    NotAllowed,
    /// The provider config variant does not match the endpoint's type.
    ProviderConfigMismatch,
    /// The value can't change after creation (`type`).
    Immutable,
    /// `status: ERROR` is set by the system only.
    StatusNotSettable,
    /// The credential's mode doesn't allow the requested mode.
    ModeNotAllowed,
    PhoneNumberNotFound,
    /// The phone number already routes to another endpoint.
    PhoneNumberTaken,
    /// The organization has this number in this mode already.
    PhoneNumberExists,
    EndpointNotFound,
    /// The number and the endpoint are of different modes.
    ModeMismatch,
    MemberNotFound,
    /// The user is a member already.
    MemberExists,
    /// Only an owner makes, unmakes or removes an owner.
    OwnerOnly,
    /// Nobody changes their own role.
    OwnRole,
    /// An organization always keeps an owner.
    LastOwner,
    /// The object changed since the version the write expected.
    Stale,
}

impl UserErrorCode {
    /// The code's one spelling, as both transports give it (GraphQL's enum value, REST's
    /// `details.errors[].code`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "REQUIRED",
            Self::Blank => "BLANK",
            Self::TooLong => "TOO_LONG",
            Self::Invalid => "INVALID",
            Self::InvalidUrl => "INVALID_URL",
            Self::InvalidSipUri => "INVALID_SIP_URI",
            Self::NotAllowed => "NOT_ALLOWED",
            Self::ProviderConfigMismatch => "PROVIDER_CONFIG_MISMATCH",
            Self::Immutable => "IMMUTABLE",
            Self::StatusNotSettable => "STATUS_NOT_SETTABLE",
            Self::ModeNotAllowed => "MODE_NOT_ALLOWED",
            Self::PhoneNumberNotFound => "PHONE_NUMBER_NOT_FOUND",
            Self::PhoneNumberTaken => "PHONE_NUMBER_TAKEN",
            Self::PhoneNumberExists => "PHONE_NUMBER_EXISTS",
            Self::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            Self::ModeMismatch => "MODE_MISMATCH",
            Self::MemberNotFound => "MEMBER_NOT_FOUND",
            Self::MemberExists => "MEMBER_EXISTS",
            Self::OwnerOnly => "OWNER_ONLY",
            Self::OwnRole => "OWN_ROLE",
            Self::LastOwner => "LAST_OWNER",
            Self::Stale => "STALE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Field,
    pub code: UserErrorCode,
    /// Names the field as `{field}`, for each transport to spell its own way (`render`).
    pub message: String,
}

impl FieldError {
    /// The message with the field named as the transport spells it.
    pub fn render(&self, field_name: &str) -> String {
        self.message.replace("{field}", field_name)
    }

    pub fn new(field: Field, code: UserErrorCode, message: impl Into<String>) -> Self {
        Self {
            field,
            code,
            message: message.into(),
        }
    }
}
