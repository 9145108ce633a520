//! DataLoaders, created per request so their caches never outlive it or cross tenants.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use uuid::Uuid;

use crate::db::Db;
use crate::domain::DomainError;
use crate::domain::phone_numbers::{self, PhoneNumber};

/// Phone numbers by endpoint id: one query for a whole page of endpoints.
pub struct PhoneNumbersByEndpoint {
    pub db: Db,
    pub organization_id: Uuid,
}

impl Loader<Uuid> for PhoneNumbersByEndpoint {
    type Value = Vec<PhoneNumber>;
    type Error = Arc<DomainError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        phone_numbers::by_endpoints(&self.db, self.organization_id, keys)
            .await
            .map_err(Arc::new)
    }
}

/// The loader of a request's phone numbers. Its cache holds what the request has loaded (or a
/// page fed it ahead, `feed_page`); mutations turn it off, since a later mutation of the same
/// request may move a number.
pub type PhoneNumbers = DataLoader<PhoneNumbersByEndpoint, HashMapCache>;

pub fn phone_numbers(db: Db, organization_id: Uuid, query: bool) -> PhoneNumbers {
    let loader = DataLoader::with_cache(
        PhoneNumbersByEndpoint {
            db,
            organization_id,
        },
        tokio::spawn,
        HashMapCache::default(),
    );
    loader.enable_all_cache(query);
    loader
}

/// Loads the phone numbers of a page of endpoints in one query and feeds them to the loader, so
/// that each endpoint's `phoneNumbers` is answered from its cache rather than through the
/// loader's batching (a task and a timer per request).
pub async fn feed_page(loader: &PhoneNumbers, endpoint_ids: &[Uuid]) -> Result<(), DomainError> {
    let inner = loader.loader();
    let mut found =
        phone_numbers::by_endpoints(&inner.db, inner.organization_id, endpoint_ids).await?;
    let all = endpoint_ids
        .iter()
        .map(|id| (*id, found.remove(id).unwrap_or_default()));
    loader.feed_many(all).await;
    Ok(())
}
