//! Clients in a map keyed by id.

use super::{matches, page, read, write, MemoryStore};
use crate::store::{Client, ClientStore, ListQuery, StoreError};
use async_trait::async_trait;

#[async_trait]
impl ClientStore for MemoryStore {
    async fn put_client(&self, c: &Client) -> Result<(), StoreError> {
        write(&self.clients).insert(c.id.clone(), c.clone());
        Ok(())
    }

    async fn get_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        Ok(read(&self.clients).get(id).cloned())
    }

    async fn list_clients(&self, q: &ListQuery<'_>) -> Result<Vec<Client>, StoreError> {
        let v = read(&self.clients)
            .values()
            .filter(|c| matches(q.search, &[Some(&c.id), Some(&c.name)]))
            .cloned()
            .collect();
        Ok(page(v, |c| &c.id, q))
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        Ok(write(&self.clients).remove(id).is_some())
    }
}
