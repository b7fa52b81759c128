//! Browser sessions: by id hash (`IF NOT EXISTS`: an id is never reused),
//! and by (kind, subject) for "end every session of this user".

use super::{ttl, CassandraStore};
use crate::store::{SessionRecord, SessionStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl SessionStore for CassandraStore {
    async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let t = ttl(s.expires_at);
        // The id is the hash of a secret just minted: a row found there is ours.
        let fresh = self
            .insert_own(
                "INSERT INTO sessions (id_hash, kind, subject, auth_time, expires_at) VALUES (?, ?, ?, ?, ?) \
                 IF NOT EXISTS USING TTL ?",
                &(&s.id_hash, &s.kind, &s.subject, s.auth_time, s.expires_at, t),
            )
            .await?;
        if !fresh {
            return Err(StoreError::Conflict("session id already stored".into()));
        }
        self.exec(
            "INSERT INTO sessions_by_subject (kind, subject, id_hash) VALUES (?, ?, ?) USING TTL ?",
            (&s.kind, &s.subject, &s.id_hash, t),
        )
        .await
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = self
            .rows(
                "SELECT kind, subject, auth_time, expires_at FROM sessions WHERE id_hash = ?",
                (id_hash,),
            )
            .await?;
        Ok(rows
            .into_iter()
            .next()
            .map(|(kind, subject, auth_time, expires_at)| SessionRecord {
                id_hash: id_hash.to_string(),
                kind,
                subject,
                auth_time,
                expires_at,
            }))
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        // The by-subject row is left to its TTL: it only names an id, and a
        // deleted id reads as no session.
        self.lwt("DELETE FROM sessions WHERE id_hash = ? IF EXISTS", (id_hash,))
            .await
    }

    async fn delete_sessions_of(&self, kind: &str, subject: &str) -> Result<u64, StoreError> {
        let ids: Vec<(String,)> = self
            .rows(
                "SELECT id_hash FROM sessions_by_subject WHERE kind = ? AND subject = ?",
                (kind, subject),
            )
            .await?;
        let mut n = 0;
        for (id,) in ids {
            if self.delete_session(&id).await? {
                n += 1;
            }
            // Only the rows read: one stored meanwhile keeps its entry.
            self.exec(
                "DELETE FROM sessions_by_subject WHERE kind = ? AND subject = ? AND id_hash = ?",
                (kind, subject, &id),
            )
            .await?;
        }
        Ok(n)
    }
}
