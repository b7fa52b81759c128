//! Browser sessions: by id hash (`IF NOT EXISTS`: an id is never reused),
//! and by (kind, subject) for "end every session of this user". The
//! clients a session issued to are a set column, added to in place.

use super::{ttl, CassandraStore};
use crate::store::{SessionRecord, SessionStore, StoreError};
use async_trait::async_trait;

type Row = (String, String, i64, i64, Option<Vec<String>>);

#[async_trait]
impl SessionStore for CassandraStore {
    async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let t = ttl(s.expires_at);
        // The id is the hash of a secret just minted: a row found there is ours.
        let fresh = self
            .insert_own(
                "INSERT INTO sessions (id_hash, kind, subject, auth_time, expires_at, clients) \
                 VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?",
                &(
                    &s.id_hash,
                    &s.kind,
                    &s.subject,
                    s.auth_time,
                    s.expires_at,
                    &s.clients,
                    t,
                ),
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
        let rows: Vec<Row> = self
            .rows(
                "SELECT kind, subject, auth_time, expires_at, clients FROM sessions WHERE id_hash = ?",
                (id_hash,),
            )
            .await?;
        Ok(rows.into_iter().next().map(|r| record(id_hash, r)))
    }

    async fn add_session_client(&self, id_hash: &str, client_id: &str, expires_at: i64) -> Result<(), StoreError> {
        // IF EXISTS: an ended session must not come back as a row of
        // clients only. The cell lives as long as the session.
        self.lwt(
            "UPDATE sessions USING TTL ? SET clients = clients + ? WHERE id_hash = ? IF EXISTS",
            (ttl(expires_at), vec![client_id], id_hash),
        )
        .await
        .map(|_| ())
    }

    async fn delete_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        // Read, then delete: a client added in between is not in the
        // answer (the window is one round trip).
        let rows: Vec<Row> = self
            .serial_rows(
                "SELECT kind, subject, auth_time, expires_at, clients FROM sessions WHERE id_hash = ?",
                (id_hash,),
            )
            .await?;
        let Some(r) = rows.into_iter().next() else {
            return Ok(None);
        };
        // The by-subject row is left to its TTL: it only names an id, and a
        // deleted id reads as no session.
        let gone = self
            .lwt("DELETE FROM sessions WHERE id_hash = ? IF EXISTS", (id_hash,))
            .await?;
        Ok(gone.then(|| record(id_hash, r)))
    }

    async fn delete_sessions_of(&self, kind: &str, subject: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let ids: Vec<(String,)> = self
            .rows(
                "SELECT id_hash FROM sessions_by_subject WHERE kind = ? AND subject = ?",
                (kind, subject),
            )
            .await?;
        let mut ended = Vec::new();
        for (id,) in ids {
            if let Some(s) = self.delete_session(&id).await? {
                ended.push(s);
            }
            // Only the rows read: one stored meanwhile keeps its entry.
            self.exec(
                "DELETE FROM sessions_by_subject WHERE kind = ? AND subject = ? AND id_hash = ?",
                (kind, subject, &id),
            )
            .await?;
        }
        Ok(ended)
    }
}

fn record(id_hash: &str, (kind, subject, auth_time, expires_at, clients): Row) -> SessionRecord {
    // A set comes back sorted; an empty one as null.
    SessionRecord {
        id_hash: id_hash.to_string(),
        kind,
        subject,
        auth_time,
        expires_at,
        clients: clients.unwrap_or_default(),
    }
}
