//! `sqlite://PATH`: the embedded, durable default. One file (plus its WAL),
//! created with its directory on first use; schema from
//! `migrations/sqlite/`, applied at connect.
//!
//! Single-use exchanges are one conditional `UPDATE … WHERE used = 0`, so
//! SQLite's write lock makes them atomic across connections and processes.
//!
//! New tokens are written by group commit: concurrent `put_token` calls
//! queue their rows and one of them writes everything queued as one
//! multi-row INSERT (one transaction, one WAL append) while the others
//! wait; every caller still returns only once its own row is committed.
//! One commit per token capped issuance at ~7k tokens/s, spent mostly in
//! WAL appends, file locks and thread hand-offs per statement.

use super::{AuthCode, Client, Consent, Consume, Store, StoreError, TokenKind, TokenRecord, User};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;
use tokio::sync::oneshot;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Ids per `IN (…)` list, well under SQLite's bound-parameter limit.
const IN_CHUNK: usize = 500;

pub struct SqliteStore {
    pool: SqlitePool,
    tokens: TokenWriter,
}

/// Rows per multi-row INSERT: 12 columns each, far below SQLite's limit of
/// bound parameters (32766).
const TOKEN_BATCH: usize = 64;

type Pending = (TokenRecord, oneshot::Sender<Result<(), StoreError>>);

/// Group commit of new tokens (see the module comment).
#[derive(Default)]
struct TokenWriter {
    queue: std::sync::Mutex<Vec<Pending>>,
    /// Held by the caller currently writing a batch.
    writing: tokio::sync::Mutex<()>,
}

impl TokenWriter {
    async fn put(&self, pool: &SqlitePool, t: &TokenRecord) -> Result<(), StoreError> {
        let (tx, mut rx) = oneshot::channel();
        self.lock_queue().push((t.clone(), tx));
        let guard = self.writing.lock().await;
        // A writer that held the lock before us may have taken our row.
        match rx.try_recv() {
            Ok(r) => return r,
            Err(oneshot::error::TryRecvError::Closed) => return Err(lost()),
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        let batch = std::mem::take(&mut *self.lock_queue());
        // The write runs in its own task so that a caller going away (its
        // client disconnected) never abandons the rows of the others.
        let write = tokio::spawn(write_tokens(pool.clone(), batch));
        let _ = write.await;
        drop(guard);
        rx.await.unwrap_or_else(|_| Err(lost()))
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        // The queue is a plain Vec: a panic elsewhere cannot leave it torn.
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn lost() -> StoreError {
    StoreError::Unavailable("token write did not complete".into())
}

fn insert_tokens_sql(rows: usize) -> String {
    let one = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let values = vec![one; rows].join(", ");
    format!("INSERT INTO tokens ({TOKEN_COLS}) VALUES {values}")
}

/// Inserts `rows` with one statement (autocommit: one transaction).
async fn insert_tokens(pool: &SqlitePool, rows: &[&TokenRecord]) -> Result<(), StoreError> {
    let sql = insert_tokens_sql(rows.len());
    let mut q = sqlx::query(&sql);
    for t in rows {
        q = q
            .bind(&t.token_hash)
            .bind(t.kind.as_str())
            .bind(&t.client_id)
            .bind(&t.subject)
            .bind(&t.scope)
            .bind(to_json(&t.audience)?)
            .bind(&t.family_id)
            .bind(t.issued_at)
            .bind(t.expires_at)
            .bind(t.auth_time)
            .bind(t.used)
            .bind(t.revoked);
    }
    q.execute(pool).await.map_err(db_err)?;
    Ok(())
}

/// Writes a batch and answers every caller. If a multi-row INSERT fails
/// (one duplicate fails the whole statement), its rows are retried one by
/// one so each caller gets exactly the answer a lone INSERT would give.
async fn write_tokens(pool: SqlitePool, batch: Vec<Pending>) {
    let mut batch = batch.into_iter().peekable();
    while batch.peek().is_some() {
        let chunk: Vec<Pending> = batch.by_ref().take(TOKEN_BATCH).collect();
        let rows: Vec<&TokenRecord> = chunk.iter().map(|(t, _)| t).collect();
        let res = insert_tokens(&pool, &rows).await;
        if res.is_ok() || chunk.len() == 1 {
            for (_, tx) in chunk {
                let _ = tx.send(res.as_ref().map(|_| ()).map_err(copy_err));
            }
            continue;
        }
        for (t, tx) in chunk {
            let _ = tx.send(insert_tokens(&pool, &[&t]).await);
        }
    }
}

fn copy_err(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Unsupported(m) => StoreError::Unsupported(m.clone()),
    }
}

fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(d.message().to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

fn to_json(v: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Unavailable(format!("cannot encode list: {e}")))
}

fn from_json(s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Unavailable(format!("corrupt list column: {e}")))
}

impl SqliteStore {
    /// Opens (creating if missing) the database named by `sqlite://PATH` and
    /// brings its schema up to date.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let path = url
            .strip_prefix("sqlite://")
            .filter(|p| !p.is_empty())
            .ok_or_else(|| StoreError::Unsupported(url.to_string()))?;
        let path = Path::new(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // WAL: readers never wait for the writer; NORMAL sync is durable
            // across process crashes and loses at most the last commits on
            // power loss, which is the usual trade for WAL.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            // Writers queue on SQLite's lock rather than failing at once.
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migrating {}: {e}", path.display())))?;
        Ok(SqliteStore {
            pool,
            tokens: TokenWriter::default(),
        })
    }

    /// Closes every connection (checkpointing the WAL into the main file).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Deletes expired rows of one table, `batch` rows per statement, until
    /// a statement deletes fewer than `batch`.
    async fn purge_table(&self, table: &str, now: i64, batch: u32) -> Result<u64, StoreError> {
        // `table` is one of our own constants, never input.
        let sql =
            format!("DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE expires_at <= ? LIMIT ?)");
        let mut total = 0u64;
        loop {
            let n = sqlx::query(&sql)
                .bind(now)
                .bind(i64::from(batch))
                .execute(&self.pool)
                .await
                .map_err(db_err)?
                .rows_affected();
            total += n;
            if n < u64::from(batch) {
                return Ok(total);
            }
            // Let queued requests have the write lock between batches.
            tokio::task::yield_now().await;
        }
    }
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    grant_types: String,
    scopes: String,
    audience: String,
    access_ttl: Option<i64>,
    refresh_ttl: Option<i64>,
    created_at: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Client, StoreError> {
        Ok(Client {
            id: r.id,
            name: r.name,
            secret_hash: r.secret_hash,
            redirect_uris: from_json(&r.redirect_uris)?,
            grant_types: from_json(&r.grant_types)?,
            scopes: from_json(&r.scopes)?,
            audience: from_json(&r.audience)?,
            access_ttl: r.access_ttl,
            refresh_ttl: r.refresh_ttl,
            created_at: r.created_at,
        })
    }
}

const CLIENT_COLS: &str =
    "id, name, secret_hash, redirect_uris, grant_types, scopes, audience, access_ttl, refresh_ttl, created_at";

#[derive(sqlx::FromRow)]
struct UserRow {
    username: String,
    password_hash: String,
    name: Option<String>,
    email: Option<String>,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> User {
        User {
            username: r.username,
            password_hash: r.password_hash,
            name: r.name,
            email: r.email,
            created_at: r.created_at,
        }
    }
}

const USER_COLS: &str = "username, password_hash, name, email, created_at";

#[derive(sqlx::FromRow)]
struct CodeRow {
    code_hash: String,
    client_id: String,
    username: String,
    redirect_uri: String,
    scope: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    nonce: Option<String>,
    auth_time: i64,
    family_id: String,
    expires_at: i64,
}

impl From<CodeRow> for AuthCode {
    fn from(r: CodeRow) -> AuthCode {
        AuthCode {
            code_hash: r.code_hash,
            client_id: r.client_id,
            username: r.username,
            redirect_uri: r.redirect_uri,
            scope: r.scope,
            code_challenge: r.code_challenge,
            code_challenge_method: r.code_challenge_method,
            nonce: r.nonce,
            auth_time: r.auth_time,
            family_id: r.family_id,
            expires_at: r.expires_at,
        }
    }
}

const CODE_COLS: &str = "code_hash, client_id, username, redirect_uri, scope, code_challenge, \
     code_challenge_method, nonce, auth_time, family_id, expires_at";

#[derive(sqlx::FromRow)]
struct TokenRow {
    token_hash: String,
    kind: String,
    client_id: String,
    subject: Option<String>,
    scope: String,
    audience: String,
    family_id: String,
    issued_at: i64,
    expires_at: i64,
    auth_time: Option<i64>,
    used: bool,
    revoked: bool,
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<TokenRecord, StoreError> {
        let kind = match r.kind.as_str() {
            "access" => TokenKind::Access,
            "refresh" => TokenKind::Refresh,
            other => return Err(StoreError::Unavailable(format!("corrupt token kind {other:?}"))),
        };
        Ok(TokenRecord {
            token_hash: r.token_hash,
            kind,
            client_id: r.client_id,
            subject: r.subject,
            scope: r.scope,
            audience: from_json(&r.audience)?,
            family_id: r.family_id,
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            auth_time: r.auth_time,
            used: r.used,
            revoked: r.revoked,
        })
    }
}

const TOKEN_COLS: &str = "token_hash, kind, client_id, subject, scope, audience, family_id, issued_at, \
     expires_at, auth_time, used, revoked";

#[derive(sqlx::FromRow)]
struct ConsentRow {
    username: String,
    client_id: String,
    scopes: String,
    granted_at: i64,
}

impl TryFrom<ConsentRow> for Consent {
    type Error = StoreError;
    fn try_from(r: ConsentRow) -> Result<Consent, StoreError> {
        Ok(Consent {
            username: r.username,
            client_id: r.client_id,
            scopes: from_json(&r.scopes)?,
            granted_at: r.granted_at,
        })
    }
}

const REVOKE_ID_SQL: &str = "INSERT INTO revocations (id, expires_at) VALUES (?, ?) \
     ON CONFLICT (id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)";

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_err)?;
        Ok(())
    }

    async fn put_client(&self, c: &Client) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT OR REPLACE INTO clients ({CLIENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(to_json(&c.redirect_uris)?)
        .bind(to_json(&c.grant_types)?)
        .bind(to_json(&c.scopes)?)
        .bind(to_json(&c.audience)?)
        .bind(c.access_ttl)
        .bind(c.refresh_ttl)
        .bind(c.created_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn get_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        sqlx::query_as::<_, ClientRow>(&format!("SELECT {CLIENT_COLS} FROM clients WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(Client::try_from)
            .transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        sqlx::query_as::<_, ClientRow>(&format!("SELECT {CLIENT_COLS} FROM clients ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(Client::try_from)
            .collect()
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM clients WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn put_user(&self, u: &User) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT OR REPLACE INTO users ({USER_COLS}) VALUES (?, ?, ?, ?, ?)"
        ))
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(&u.name)
        .bind(&u.email)
        .bind(u.created_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn get_user(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(
            sqlx::query_as::<_, UserRow>(&format!("SELECT {USER_COLS} FROM users WHERE username = ?"))
                .bind(username)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                .map(User::from),
        )
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        Ok(
            sqlx::query_as::<_, UserRow>(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(User::from)
                .collect(),
        )
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM users WHERE username = ?")
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn put_code(&self, c: &AuthCode) -> Result<(), StoreError> {
        // Plain INSERT: a duplicate hash is a Conflict, never a replacement
        // (which would reset `used` and make a spent code work again).
        sqlx::query(&format!(
            "INSERT INTO auth_codes ({CODE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&c.code_hash)
        .bind(&c.client_id)
        .bind(&c.username)
        .bind(&c.redirect_uri)
        .bind(&c.scope)
        .bind(&c.code_challenge)
        .bind(&c.code_challenge_method)
        .bind(&c.nonce)
        .bind(c.auth_time)
        .bind(&c.family_id)
        .bind(c.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn consume_code(&self, code_hash: &str) -> Result<Consume<AuthCode>, StoreError> {
        // fetch_all steps the statement to completion, so the update is
        // applied and the write lock released before we look at the result.
        let mut won = sqlx::query_as::<_, CodeRow>(&format!(
            "UPDATE auth_codes SET used = 1 WHERE code_hash = ? AND used = 0 RETURNING {CODE_COLS}"
        ))
        .bind(code_hash)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        if let Some(row) = won.pop() {
            return Ok(Consume::Consumed(row.into()));
        }
        let seen = sqlx::query_as::<_, CodeRow>(&format!("SELECT {CODE_COLS} FROM auth_codes WHERE code_hash = ?"))
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(match seen {
            Some(row) => Consume::AlreadyUsed(row.into()),
            None => Consume::NotFound,
        })
    }

    async fn put_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        // Plain INSERT for the same reason as put_code, batched with the
        // tokens other requests are issuing at the same moment.
        self.tokens.put(&self.pool, t).await
    }

    async fn get_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        sqlx::query_as::<_, TokenRow>(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE token_hash = ?"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(TokenRecord::try_from)
            .transpose()
    }

    async fn consume_refresh(&self, token_hash: &str) -> Result<Consume<TokenRecord>, StoreError> {
        let mut won = sqlx::query_as::<_, TokenRow>(&format!(
            "UPDATE tokens SET used = 1 WHERE token_hash = ? AND kind = 'refresh' AND used = 0 RETURNING {TOKEN_COLS}"
        ))
        .bind(token_hash)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        if let Some(row) = won.pop() {
            return Ok(Consume::Consumed(row.try_into()?));
        }
        let seen = sqlx::query_as::<_, TokenRow>(&format!(
            "SELECT {TOKEN_COLS} FROM tokens WHERE token_hash = ? AND kind = 'refresh'"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(match seen {
            Some(row) => Consume::AlreadyUsed(row.try_into()?),
            None => Consume::NotFound,
        })
    }

    async fn revoke_token(&self, token_hash: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE tokens SET revoked = 1 WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn revoke_family(&self, family_id: &str, until: i64) -> Result<u64, StoreError> {
        // One transaction: the tokens and the list entry go together.
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let n = sqlx::query("UPDATE tokens SET revoked = 1 WHERE family_id = ? AND revoked = 0")
            .bind(family_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        sqlx::query(REVOKE_ID_SQL)
            .bind(family_id)
            .bind(until)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(n)
    }

    async fn revoke_id(&self, id: &str, until: i64) -> Result<(), StoreError> {
        sqlx::query(REVOKE_ID_SQL)
            .bind(id)
            .bind(until)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn is_revoked(&self, ids: &[&str]) -> Result<bool, StoreError> {
        for chunk in ids.chunks(IN_CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("SELECT EXISTS (SELECT 1 FROM revocations WHERE id IN ({marks}))");
            let mut q = sqlx::query_scalar::<_, bool>(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            if q.fetch_one(&self.pool).await.map_err(db_err)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn put_consent(&self, c: &Consent) -> Result<(), StoreError> {
        sqlx::query("INSERT OR REPLACE INTO consents (username, client_id, scopes, granted_at) VALUES (?, ?, ?, ?)")
            .bind(&c.username)
            .bind(&c.client_id)
            .bind(to_json(&c.scopes)?)
            .bind(c.granted_at)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn get_consent(&self, username: &str, client_id: &str) -> Result<Option<Consent>, StoreError> {
        sqlx::query_as::<_, ConsentRow>(
            "SELECT username, client_id, scopes, granted_at FROM consents WHERE username = ? AND client_id = ?",
        )
        .bind(username)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(Consent::try_from)
        .transpose()
    }

    async fn delete_consent(&self, username: &str, client_id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM consents WHERE username = ? AND client_id = ?")
            .bind(username)
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn purge_expired(&self, now: i64, batch: u32) -> Result<u64, StoreError> {
        let batch = batch.max(1);
        let mut total = 0;
        for table in ["auth_codes", "tokens", "revocations"] {
            total += self.purge_table(table, now, batch).await?;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{client, token};
    use std::sync::Arc;

    #[tokio::test]
    async fn data_survives_close_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("nested/dir/g.db").display());
        let s = SqliteStore::connect(&url).await.unwrap();
        s.put_client(&client("c1")).await.unwrap();
        s.put_token(&token("live", TokenKind::Refresh, "fam", 4_000_000_000))
            .await
            .unwrap();
        s.put_token(&token("dead", TokenKind::Access, "fam2", 4_000_000_000))
            .await
            .unwrap();
        assert!(s.revoke_token("dead").await.unwrap());
        s.revoke_id("jti-1", 4_000_000_000).await.unwrap();
        assert!(matches!(s.consume_refresh("live").await.unwrap(), Consume::Consumed(_)));
        s.close().await;
        drop(s);

        let s = SqliteStore::connect(&url).await.unwrap();
        assert_eq!(s.get_client("c1").await.unwrap(), Some(client("c1")));
        assert!(s.get_token("dead").await.unwrap().unwrap().revoked);
        assert!(s.is_revoked(&["jti-1"]).await.unwrap());
        // Rotation state is durable too: a replay after restart is still a replay.
        assert!(matches!(
            s.consume_refresh("live").await.unwrap(),
            Consume::AlreadyUsed(_)
        ));
        s.close().await;
    }

    #[tokio::test]
    async fn connect_sets_wal_and_creates_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/g.db");
        let s = SqliteStore::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        assert!(file.exists());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert_eq!(fk, 1);
        s.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_token_writes_are_batched_and_answered_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(
            SqliteStore::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
                .await
                .unwrap(),
        );
        s.put_token(&token("taken", TokenKind::Access, "f0", 4_000_000_000))
            .await
            .unwrap();
        // More rows than one INSERT holds, two duplicates of an existing
        // row and two of each other, all at once.
        let mut names: Vec<String> = (0..3 * TOKEN_BATCH).map(|i| format!("t{i}")).collect();
        names.extend([
            "taken".to_string(),
            "taken".to_string(),
            "twin".to_string(),
            "twin".to_string(),
        ]);
        let tasks: Vec<_> = names
            .iter()
            .map(|n| {
                let s = s.clone();
                let t = token(n, TokenKind::Access, "f1", 4_000_000_000);
                tokio::spawn(async move { s.put_token(&t).await })
            })
            .collect();
        let mut ok = 0;
        let mut conflicts = 0;
        for (n, t) in names.iter().zip(tasks) {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(StoreError::Conflict(_)) => {
                    assert!(n == "taken" || n == "twin", "{n} conflicted");
                    conflicts += 1
                }
                Err(e) => panic!("{n}: {e}"),
            }
        }
        assert_eq!((ok, conflicts), (3 * TOKEN_BATCH + 1, 3));
        for n in names.iter().take(3 * TOKEN_BATCH).chain([&"twin".to_string()]) {
            assert_eq!(s.get_token(n).await.unwrap().unwrap().family_id, "f1", "{n}");
        }
        assert_eq!(s.get_token("taken").await.unwrap().unwrap().family_id, "f0");
        s.close().await;
    }

    #[tokio::test]
    async fn bad_urls_are_errors_not_panics() {
        assert!(matches!(
            SqliteStore::connect("sqlite://").await,
            Err(StoreError::Unsupported(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        // A parent "directory" that is a file cannot be created.
        let url = format!("sqlite://{}", blocker.join("g.db").display());
        assert!(matches!(
            SqliteStore::connect(&url).await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
