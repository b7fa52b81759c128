//! Readiness: the database answers a trivial query.

use super::{Db, SqlStore};
use crate::store::{HealthCheck, StoreError};
use async_trait::async_trait;

#[async_trait]
impl<D: Db> HealthCheck for SqlStore<D> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.rows("SELECT 1 AS one", &[]).await?;
        Ok(())
    }
}
