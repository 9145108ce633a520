//! DataLoaders, created per request so their caches never outlive it or cross tenants.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use entity::phone_number;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::domain::{DomainError, phone_numbers};

/// Phone numbers by endpoint id: one query for a whole page of endpoints.
pub struct PhoneNumbersByEndpoint {
    pub db: DatabaseConnection,
    pub organization_id: Uuid,
}

impl Loader<Uuid> for PhoneNumbersByEndpoint {
    type Value = Vec<phone_number::Model>;
    type Error = Arc<DomainError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        phone_numbers::by_endpoints(&self.db, self.organization_id, keys)
            .await
            .map_err(Arc::new)
    }
}
