//! Consents keyed by (user, client).

use super::{read, write, MemoryStore};
use crate::store::{Consent, ConsentStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl ConsentStore for MemoryStore {
    async fn put_consent(&self, c: &Consent) -> Result<(), StoreError> {
        write(&self.consents).insert((c.username.clone(), c.client_id.clone()), c.clone());
        Ok(())
    }

    async fn get_consent(&self, username: &str, client_id: &str) -> Result<Option<Consent>, StoreError> {
        Ok(read(&self.consents)
            .get(&(username.to_string(), client_id.to_string()))
            .cloned())
    }

    async fn delete_consent(&self, username: &str, client_id: &str) -> Result<bool, StoreError> {
        Ok(write(&self.consents)
            .remove(&(username.to_string(), client_id.to_string()))
            .is_some())
    }
}
