//! Sessions: one row each, keyed by the id's hash. The clients a session
//! issued to are one space-separated column (client ids have no spaces),
//! appended to by one UPDATE, so two concurrent additions both land.

use super::{first, Arg, Db, SqlRow, SqlStore};
use crate::store::{SessionRecord, SessionStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl<D: Db> SessionStore for SqlStore<D> {
    async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6)");
        let args = [
            Arg::Str(&s.id_hash),
            Arg::Str(&s.kind),
            Arg::Str(&s.subject),
            Arg::Int(s.auth_time),
            Arg::Int(s.expires_at),
            Arg::Text(s.clients.join(" ")),
        ];
        self.exec(&sql, &args).await?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id_hash = $1");
        first(self.rows(&sql, &[Arg::Str(id_hash)]).await?, session)
    }

    async fn add_session_client(&self, id_hash: &str, client_id: &str, _expires_at: i64) -> Result<(), StoreError> {
        if client_id.is_empty() || client_id.contains(char::is_whitespace) {
            return Err(StoreError::Conflict(format!(
                "client id {client_id:?} cannot be recorded"
            )));
        }
        // A client already there comes twice; reading dedupes (`session`).
        self.exec(
            "UPDATE sessions SET clients = clients || ' ' || $2 WHERE id_hash = $1",
            &[Arg::Str(id_hash), Arg::Str(client_id)],
        )
        .await?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("DELETE FROM sessions WHERE id_hash = $1 RETURNING {SESSION_COLS}");
        first(self.rows(&sql, &[Arg::Str(id_hash)]).await?, session)
    }

    async fn delete_sessions_of(&self, kind: &str, subject: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let sql = format!("DELETE FROM sessions WHERE kind = $1 AND subject = $2 RETURNING {SESSION_COLS}");
        self.rows(&sql, &[Arg::Str(kind), Arg::Str(subject)])
            .await?
            .iter()
            .map(session)
            .collect()
    }
}

const SESSION_COLS: &str = "id_hash, kind, subject, auth_time, expires_at, clients";

fn session(r: &impl SqlRow) -> Result<SessionRecord, StoreError> {
    let mut clients: Vec<String> = r.text("clients")?.split_whitespace().map(str::to_owned).collect();
    clients.sort();
    clients.dedup();
    Ok(SessionRecord {
        id_hash: r.text("id_hash")?,
        kind: r.text("kind")?,
        subject: r.text("subject")?,
        auth_time: r.int("auth_time")?,
        expires_at: r.int("expires_at")?,
        clients,
    })
}
