//! Sessions keyed by the id's hash.

use super::{read, write, MemoryStore};
use crate::store::{SessionRecord, SessionStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl SessionStore for MemoryStore {
    async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let mut m = write(&self.sessions);
        if m.contains_key(&s.id_hash) {
            return Err(StoreError::Conflict("session already stored".into()));
        }
        m.insert(s.id_hash.clone(), s.clone());
        Ok(())
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(read(&self.sessions).get(id_hash).cloned())
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        Ok(write(&self.sessions).remove(id_hash).is_some())
    }

    async fn delete_sessions_of(&self, kind: &str, subject: &str) -> Result<u64, StoreError> {
        let mut m = write(&self.sessions);
        let before = m.len();
        m.retain(|_, s| !(s.kind == kind && s.subject == subject));
        Ok((before - m.len()) as u64)
    }
}
