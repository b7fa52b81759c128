//! Readiness: a node of the cluster answers a read of its own system table.

use super::CassandraStore;
use crate::store::{HealthCheck, StoreError};
use async_trait::async_trait;

#[async_trait]
impl HealthCheck for CassandraStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let _: Vec<(String,)> = self
            .rows("SELECT release_version FROM system.local WHERE key = 'local'", ())
            .await?;
        Ok(())
    }
}
