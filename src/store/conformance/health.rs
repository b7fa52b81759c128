//! Readiness.

use crate::store::DynStore;

pub async fn answers(s: DynStore) {
    s.ping().await.unwrap();
}
