//! Sessions: one row each, keyed by the id's hash.

use super::{first, Arg, Db, SqlRow, SqlStore};
use crate::store::{SessionRecord, SessionStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl<D: Db> SessionStore for SqlStore<D> {
    async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5)");
        let args = [
            Arg::Str(&s.id_hash),
            Arg::Str(&s.kind),
            Arg::Str(&s.subject),
            Arg::Int(s.auth_time),
            Arg::Int(s.expires_at),
        ];
        self.exec(&sql, &args).await?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id_hash = $1");
        first(self.rows(&sql, &[Arg::Str(id_hash)]).await?, session)
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let n = self
            .exec("DELETE FROM sessions WHERE id_hash = $1", &[Arg::Str(id_hash)])
            .await?;
        Ok(n > 0)
    }

    async fn delete_sessions_of(&self, kind: &str, subject: &str) -> Result<u64, StoreError> {
        self.exec(
            "DELETE FROM sessions WHERE kind = $1 AND subject = $2",
            &[Arg::Str(kind), Arg::Str(subject)],
        )
        .await
    }
}

const SESSION_COLS: &str = "id_hash, kind, subject, auth_time, expires_at";

fn session(r: &impl SqlRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id_hash: r.text("id_hash")?,
        kind: r.text("kind")?,
        subject: r.text("subject")?,
        auth_time: r.int("auth_time")?,
        expires_at: r.int("expires_at")?,
    })
}
