//! Pushed requests, checked and removed under one write lock.

use super::{write, MemoryStore};
use crate::store::{PushedRequest, PushedRequestStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl PushedRequestStore for MemoryStore {
    async fn put_pushed_request(&self, r: &PushedRequest) -> Result<(), StoreError> {
        let mut m = write(&self.pushed_requests);
        if m.contains_key(&r.uri_hash) {
            return Err(StoreError::Conflict("pushed request already stored".into()));
        }
        m.insert(r.uri_hash.clone(), r.clone());
        Ok(())
    }

    async fn take_pushed_request(
        &self,
        uri_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<PushedRequest>, StoreError> {
        let mut m = write(&self.pushed_requests);
        match m.get(uri_hash) {
            Some(r) if r.client_id == client_id && r.expires_at > now => Ok(m.remove(uri_hash)),
            _ => Ok(None),
        }
    }
}
