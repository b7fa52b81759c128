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
        let mut s = s.clone();
        s.clients.sort();
        s.clients.dedup();
        m.insert(s.id_hash.clone(), s);
        Ok(())
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(read(&self.sessions).get(id_hash).cloned())
    }

    async fn add_session_client(&self, id_hash: &str, client_id: &str, _expires_at: i64) -> Result<(), StoreError> {
        if let Some(s) = write(&self.sessions).get_mut(id_hash) {
            if let Err(at) = s.clients.binary_search_by(|c| c.as_str().cmp(client_id)) {
                s.clients.insert(at, client_id.to_string());
            }
        }
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(write(&self.sessions).remove(id_hash))
    }

    async fn delete_sessions_of(&self, kind: &str, subject: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let mut m = write(&self.sessions);
        let ids: Vec<String> = m
            .values()
            .filter(|s| s.kind == kind && s.subject == subject)
            .map(|s| s.id_hash.clone())
            .collect();
        Ok(ids.iter().filter_map(|id| m.remove(id)).collect())
    }
}
