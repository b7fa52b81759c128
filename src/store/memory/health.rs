//! Always ready: the maps are in this process.

use super::MemoryStore;
use crate::store::{HealthCheck, StoreError};
use async_trait::async_trait;

#[async_trait]
impl HealthCheck for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
