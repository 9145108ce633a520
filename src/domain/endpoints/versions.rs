//! The version of each endpoint this process last wrote or read for a write, so that an update
//! on PostgreSQL can go straight to its conditional write (`UPDATE … WHERE updated_at = the
//! version`) rather than read the endpoint first. Nothing here is trusted beyond that write's
//! condition: when the endpoint has moved on (another process wrote it, or it is gone), the
//! write matches no row and the update reads the endpoint afresh, as it would without this.
//! A remembered version is never answered to anyone, nor used to refuse a request.

use std::sync::Arc;

use entity::endpoint;
use uuid::Uuid;

use crate::domain::Actor;

/// Endpoints remembered at once (a few hundred bytes each); the least recently used go first.
const CAPACITY: u64 = 10_000;

/// Shared by every clone (`Settings` is cloned into each schema and router).
#[derive(Clone)]
pub struct Versions {
    /// By the endpoint's id, which no other endpoint ever takes.
    known: moka::sync::Cache<Uuid, Arc<endpoint::Model>>,
}

impl Default for Versions {
    fn default() -> Self {
        Self {
            known: moka::sync::Cache::builder().max_capacity(CAPACITY).build(),
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
    /// The version last seen of endpoint `id`, if it is one `actor` may write (its
    /// organization, and its mode for a key fixed to one): what the actor may not see is not
    /// known here, as the read it stands in for would not find it.
    pub fn of(&self, actor: &Actor, id: Uuid) -> Option<Arc<endpoint::Model>> {
        let known = self.known.get(&id)?;
        let visible = known.organization_id == actor.organization_id
            && actor.fixed_mode().is_none_or(|mode| mode == known.mode);
        visible.then_some(known)
    }

    /// Remembers `model` as the endpoint's version: one just written, or just read.
    pub fn saw(&self, model: &endpoint::Model) {
        self.known.insert(model.id, Arc::new(model.clone()));
    }

    /// Forgets endpoint `id` (one whose remembered version turned out not to be the stored
    /// one, or that is gone).
    pub fn forget(&self, id: Uuid) {
        self.known.invalidate(&id);
    }
}
