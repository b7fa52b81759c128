//! Codes with a used flag, checked and set under one write lock.

use super::{write, MemoryStore};
use crate::store::{AuthCode, CodeStore, Consume, StoreError};
use async_trait::async_trait;

#[async_trait]
impl CodeStore for MemoryStore {
    async fn put_code(&self, c: &AuthCode) -> Result<(), StoreError> {
        // Never overwrite: replacing a used code would make it usable again.
        let mut m = write(&self.codes);
        if m.contains_key(&c.code_hash) {
            return Err(StoreError::Conflict("authorization code already stored".into()));
        }
        m.insert(c.code_hash.clone(), (c.clone(), false));
        Ok(())
    }

    async fn consume_code(&self, code_hash: &str) -> Result<Consume<AuthCode>, StoreError> {
        let mut m = write(&self.codes);
        Ok(match m.get_mut(code_hash) {
            None => Consume::NotFound,
            Some((c, true)) => Consume::AlreadyUsed(c.clone()),
            Some((c, used)) => {
                *used = true;
                Consume::Consumed(c.clone())
            }
        })
    }
}
