//! Single-use ids with the time until which they stay used.

use super::{write, MemoryStore};
use crate::store::{StoreError, UsedIdStore};
use async_trait::async_trait;

#[async_trait]
impl UsedIdStore for MemoryStore {
    async fn use_once(&self, id: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        let mut m = write(&self.used_ids);
        match m.get(id) {
            Some(until) if *until > now => Ok(false),
            _ => {
                m.insert(id.to_string(), expires_at);
                Ok(true)
            }
        }
    }
}
