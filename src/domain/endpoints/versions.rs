//! The version of each endpoint this process last wrote and committed, so that an update
//! on PostgreSQL can go straight to its conditional write (`UPDATE … WHERE updated_at = the
//! version`) rather than read the endpoint first. Nothing here is trusted beyond that write's
//! condition: when the endpoint has moved on (another process wrote it, or it is gone), the
//! write matches no row and the update reads the endpoint afresh, as it would without this.
//! A remembered version is never answered to anyone, nor used to refuse a request.

use std::sync::Arc;

use entity::endpoint;
use uuid::Uuid;

use crate::db::Db;
use crate::domain::Actor;

/// What the remembered endpoints may take, in bytes (`weight`); the least recently used go
/// first. Most endpoints are a few hundred bytes, the largest a few KiB.
const CAPACITY: u64 = 16 * 1024 * 1024;

/// Shared by every clone (`Settings` is cloned into each schema and router).
#[derive(Clone)]
pub struct Versions {
    /// By the endpoint's id, which no other endpoint ever takes.
    known: moka::sync::Cache<Uuid, Arc<endpoint::Model>>,
}

impl Default for Versions {
    fn default() -> Self {
        Self {
            known: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .weigher(|_, model: &Arc<endpoint::Model>| weight(model))
                .build(),
        }
    }
}

impl std::fmt::Debug for Versions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Versions")
            .field("known", &self.known.entry_count())
            .finish()
    }
}

impl Versions {
    /// The version last written here of endpoint `id`, if it is one `actor` may write (its
    /// organization, and its mode for a key fixed to one): what the actor may not see is not
    /// known here, as the read it stands in for would not find it.
    pub fn of(&self, actor: &Actor, id: Uuid) -> Option<Arc<endpoint::Model>> {
        let known = self.known.get(&id)?;
        let visible = known.organization_id == actor.organization_id
            && actor.fixed_mode().is_none_or(|mode| mode == known.mode);
        visible.then_some(known)
    }

    /// Remembers `model`, just written through `db`, as the endpoint's version once the write
    /// has committed: within a request's unit of work when the unit commits, and never if it
    /// rolls back. (A version rolled back may be written again with other contents: the next
    /// version is the later of now and the previous one's next millisecond.)
    pub fn wrote(&self, db: &Db, model: &endpoint::Model) {
        let (known, model) = (self.known.clone(), Arc::new(model.clone()));
        db.after_commit(move || known.insert(model.id, model));
    }

    /// Forgets endpoint `id` (one whose remembered version turned out not to be the stored
    /// one, or that is gone).
    pub fn forget(&self, id: Uuid) {
        self.known.invalidate(&id);
    }
}

/// About what an endpoint remembered takes: the model and the text it holds.
fn weight(model: &endpoint::Model) -> u32 {
    fn text(value: &serde_json::Value) -> usize {
        match value {
            serde_json::Value::String(s) => s.len() + 32,
            serde_json::Value::Array(items) => items.iter().map(text).sum::<usize>() + 32,
            serde_json::Value::Object(fields) => {
                fields.iter().map(|(k, v)| k.len() + text(v) + 48).sum()
            }
            _ => 32,
        }
    }
    let size = std::mem::size_of::<endpoint::Model>()
        + model.name.len()
        + model.url.len()
        + model.provider_config.as_ref().map_or(0, text);
    u32::try_from(size).unwrap_or(u32::MAX)
}
