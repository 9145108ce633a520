//! Opening the database for serving: connect, migrate, and make sure the secret key is the one
//! this database's secrets were sealed with.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use entity::setting;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
};

use crate::db::SqliteLocation;
use crate::domain::DomainError;
use crate::domain::provider::{FieldKind, PROVIDERS, ProviderConfig};
use crate::domain::secrets::{KEY_LEN, SecretBox, SecretError};

const KEY_CHECK: &str = "secret_key_check";
const KEY_CHECK_PLAINTEXT: &str = "cockpit-gateway secret key check";

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("COCKPIT_SECRET_KEY: {0}")]
    BadKey(SecretError),
    #[error(
        "COCKPIT_SECRET_KEY is required with this database: 32 random bytes in base64, e.g. from `openssl rand -base64 32`; keep it safe, the secrets stored are sealed with it"
    )]
    KeyRequired,
    #[error("the secret key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error(
        "the secret key does not match the one this database's secrets were sealed with; start with the original COCKPIT_SECRET_KEY (or key file)"
    )]
    WrongKey,
    #[error("database: {0}")]
    Database(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl From<DomainError> for StartupError {
    fn from(e: DomainError) -> Self {
        Self::Database(e.log_description())
    }
}

impl From<sea_orm::DbErr> for StartupError {
    fn from(e: sea_orm::DbErr) -> Self {
        DomainError::Database(e).into()
    }
}

/// The database a gateway serves, opened as `cargo run` and the tests both open it: connected,
/// migrated, and with the secret key checked against the one its secrets were sealed with.
pub async fn open(
    config: &crate::config::Config,
) -> Result<(DatabaseConnection, SecretBox), StartupError> {
    let db = crate::db::connect(&config.database_url).await?;
    crate::db::migrate(&db).await?;
    let key = resolve_secret_key(&config.database_url, config.secret_key.as_deref())?;
    let secrets = SecretBox::new(&key);
    check_secret_key(&db, &secrets).await?;
    Ok((db, secrets))
}

/// Where the secret key comes from: `COCKPIT_SECRET_KEY` when given; for an SQLite file, a
/// key file beside it (created once, mode 0600); for an in-memory SQLite database, a fresh key.
pub fn resolve_secret_key(
    database_url: &str,
    configured: Option<&str>,
) -> Result<[u8; KEY_LEN], StartupError> {
    if let Some(text) = configured.filter(|t| !t.trim().is_empty()) {
        return SecretBox::parse_key(text).map_err(StartupError::BadKey);
    }
    match crate::db::sqlite_location(database_url) {
        Some(SqliteLocation::File(path)) => key_file(&key_file_path(&path)),
        Some(SqliteLocation::Memory) => Ok(SecretBox::generate_key()),
        None => Err(StartupError::KeyRequired),
    }
}

/// `cockpit.db` → `cockpit.db.secret-key`.
pub fn key_file_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".secret-key");
    PathBuf::from(name)
}

fn key_file(path: &Path) -> Result<[u8; KEY_LEN], StartupError> {
    let fail = |reason: String| StartupError::KeyFile {
        path: path.to_owned(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => SecretBox::parse_key(&text).map_err(|e| fail(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretBox::generate_key();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(|e| fail(e.to_string()))?;
            writeln!(file, "{}", SecretBox::encode_key(&key)).map_err(|e| fail(e.to_string()))?;
            tracing::info!(path = %path.display(), "generated a secret key for sealing stored secrets");
            Ok(key)
        }
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Refuses a key other than the one the database was first used with, recording the check on
/// first use; then seals any secret stored as plaintext by an earlier version.
pub async fn check_secret_key(
    db: &DatabaseConnection,
    secrets: &SecretBox,
) -> Result<(), StartupError> {
    match setting::Entity::find_by_id(KEY_CHECK).one(db).await? {
        Some(check) => {
            let opened = secrets
                .open(&check.value, KEY_CHECK)
                .map_err(|_| StartupError::WrongKey)?;
            if opened != KEY_CHECK_PLAINTEXT {
                return Err(StartupError::WrongKey);
            }
        }
        None => {
            setting::ActiveModel {
                key: Set(KEY_CHECK.to_owned()),
                value: Set(secrets.seal(KEY_CHECK_PLAINTEXT, KEY_CHECK)),
                updated_at: Set(entity::now()),
            }
            .insert(db)
            .await?;
        }
    }
    seal_plaintext_secrets(db, secrets).await
}

async fn seal_plaintext_secrets(
    db: &DatabaseConnection,
    secrets: &SecretBox,
) -> Result<(), StartupError> {
    let rows = entity::endpoint::Entity::find()
        .filter(
            entity::endpoint::Column::Type.is_in(PROVIDERS.iter().filter_map(|p| {
                let secret = p.fields.iter().any(|f| f.kind == FieldKind::Secret);
                secret.then_some(p.ty)
            })),
        )
        .all(db)
        .await?;
    let mut sealed = 0;
    for row in rows {
        let Ok(Some(config)) =
            ProviderConfig::from_stored(row.r#type, row.provider_config.as_ref())
        else {
            continue;
        };
        if config.has_plain_secret() {
            // Not a user's update: leave `updated_at` as it is.
            entity::endpoint::Entity::update_many()
                .col_expr(
                    entity::endpoint::Column::ProviderConfig,
                    Expr::value(config.to_stored(secrets, row.id)),
                )
                .filter(entity::endpoint::Column::Id.eq(row.id))
                .exec(db)
                .await?;
            sealed += 1;
        }
    }
    if sealed > 0 {
        tracing::info!(
            endpoints = sealed,
            "sealed secrets stored as plaintext by an earlier version"
        );
    }
    Ok(())
}
