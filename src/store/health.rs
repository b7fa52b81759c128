//! Readiness of the backend (`/readyz`).

use super::StoreError;
use async_trait::async_trait;

#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// The backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
