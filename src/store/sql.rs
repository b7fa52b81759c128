//! The SQL backends' common half. Every query, the row mapping, group
//! commit of new tokens, the order of checks in single-use exchanges and
//! the batched purge live here once; a backend (`sqlite.rs`, `postgres.rs`)
//! supplies a connection pool and a `Dialect` for the few statements whose
//! SQL differs.
//!
//! The SQL is written once for both databases: `$1…` placeholders (SQLite
//! accepts them too), `ON CONFLICT` upserts, `RETURNING`, `CASE` instead of
//! `max()`/`GREATEST()`, `lower(…) LIKE` instead of `ILIKE`. Booleans are
//! BOOLEAN in PostgreSQL and 0/1 in SQLite; both read back as `bool`.
//!
//! Single-use exchanges are one conditional `UPDATE … WHERE used = FALSE`:
//! SQLite's write lock and PostgreSQL's row lock make them atomic across
//! connections, processes and instances.
//!
//! New tokens are written by group commit: concurrent `put_token` calls
//! queue their rows and one of them writes everything queued as one
//! multi-row INSERT (one transaction, one WAL append) while the others
//! wait; every caller still returns only once its own row is committed.
//! One commit per token capped SQLite issuance at ~7k tokens/s.

use super::{
    AuthCode, Change, Client, ClientMeta, Consent, Consume, Failures, ListQuery, Owner, SessionRecord, Store,
    StoreError, TokenKind, TokenRecord, User,
};
use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};

/// A bound parameter of a statement.
#[derive(Debug)]
pub enum Arg<'a> {
    Str(&'a str),
    OptStr(Option<&'a str>),
    Text(String),
    Int(i64),
    OptInt(Option<i64>),
    Bool(bool),
}

/// Typed reads of a result row by column name.
pub trait SqlRow {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn flag(&self, col: &str) -> Result<bool, StoreError>;
}

fn corrupt(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!("unreadable row: {e}"))
}

impl<R> SqlRow for R
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.try_get(col).map_err(corrupt)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.try_get(col).map_err(corrupt)
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.try_get(col).map_err(corrupt)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(col).map_err(corrupt)
    }
    fn flag(&self, col: &str) -> Result<bool, StoreError> {
        self.try_get(col).map_err(corrupt)
    }
}

/// Rows changed by a statement (sqlx has no backend-neutral accessor).
pub trait Affected {
    fn affected(&self) -> u64;
}

/// What the shared code needs of a database: run a statement, fetch rows.
#[async_trait]
pub trait Db: Clone + Send + Sync + 'static {
    type Row: SqlRow + Send;
    async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError>;
    async fn rows(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Self::Row>, StoreError>;
}

pub fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(d.message().to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

fn bind<'q, DB>(
    mut q: sqlx::query::Query<'q, DB, DB::Arguments<'q>>,
    args: &'q [Arg<'q>],
) -> sqlx::query::Query<'q, DB, DB::Arguments<'q>>
where
    DB: sqlx::Database,
    for<'a> &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    for a in args {
        q = match a {
            Arg::Str(s) => q.bind(*s),
            Arg::OptStr(s) => q.bind(*s),
            Arg::Text(s) => q.bind(s.as_str()),
            Arg::Int(i) => q.bind(*i),
            Arg::OptInt(i) => q.bind(*i),
            Arg::Bool(b) => q.bind(*b),
        };
    }
    q
}

#[async_trait]
impl<DB> Db for sqlx::Pool<DB>
where
    DB: sqlx::Database,
    DB::QueryResult: Affected,
    DB::Row: SqlRow,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'a> &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    type Row = DB::Row;

    async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let r = bind(sqlx::query(sql), args).execute(self).await.map_err(db_err)?;
        Ok(r.affected())
    }

    async fn rows(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<DB::Row>, StoreError> {
        bind(sqlx::query(sql), args).fetch_all(self).await.map_err(db_err)
    }
}

/// The statements whose SQL differs between databases.
pub struct Dialect {
    /// A column naming a row, for batched deletes (`rowid`, `ctid`).
    pub row_id: &'static str,
    /// Appended to a purge batch's selection so that instances purging at
    /// the same moment take disjoint rows instead of waiting on each other.
    pub skip_locked: &'static str,
    /// Announces a change to other instances, payload `$1`; None: there is
    /// no such channel (a single process, or instances that rely on the
    /// staleness bound).
    pub notify: Option<&'static str>,
    /// Write the big multi-row INSERT with `?` marks: SQLite looks `$N`
    /// names up one by one when binding (quadratic in a 768-mark statement).
    pub anonymous_params: bool,
}

/// The shared implementation of `Store` over one SQL database.
pub struct SqlStore<D: Db> {
    pub(super) db: D,
    dialect: &'static Dialect,
    tokens: Batcher<TokenRecord, ()>,
    /// Single-use ids (`use_once`): (id, expires_at, now) → first use?
    used_ids: Batcher<(String, i64, i64), bool>,
    /// Longest any statement may take from the caller's side (the
    /// database enforces its own statement timeout too): a request never
    /// hangs on an unreachable or frozen server.
    limit: Duration,
    /// Changes announced by other instances (PostgreSQL LISTEN).
    pub(super) changes: Option<broadcast::Sender<Change>>,
}

/// Runs a statement within `limit`.
async fn timed<T>(limit: Duration, f: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("the database did not answer in time".into())))
}

impl<D: Db> SqlStore<D> {
    pub fn new(db: D, dialect: &'static Dialect, limit: Duration) -> Self {
        let writing = Arc::new(tokio::sync::Mutex::new(()));
        SqlStore {
            db,
            dialect,
            tokens: Batcher::new(writing.clone()),
            used_ids: Batcher::new(writing),
            limit,
            changes: None,
        }
    }

    /// The lock token batches are written under: SQLite's WAL reset takes
    /// it so that no batch waits on the reset's fsync mid-commit.
    pub(super) fn write_gate(&self) -> Arc<tokio::sync::Mutex<()>> {
        self.tokens.writing.clone()
    }

    async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        timed(self.limit, self.db.exec(sql, args)).await
    }

    async fn rows(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<D::Row>, StoreError> {
        timed(self.limit, self.db.rows(sql, args)).await
    }

    async fn announce(&self, c: Change) {
        if let Some(sql) = self.dialect.notify {
            // Best effort: if it is lost, other instances still see the
            // change within their staleness bound.
            if let Err(e) = self.exec(sql, &[Arg::Text(c.encode())]).await {
                tracing::warn!(error = %e, "could not announce a change to other instances");
            }
        }
    }

    /// Deletes expired rows of one table, `batch` rows per statement, until
    /// a statement deletes fewer than `batch`.
    async fn purge_table(&self, table: &str, now: i64, batch: u32) -> Result<u64, StoreError> {
        // `table` is one of our own constants, never input.
        let Dialect {
            row_id, skip_locked, ..
        } = self.dialect;
        let sql = format!(
            "DELETE FROM {table} WHERE {row_id} IN \
             (SELECT {row_id} FROM {table} WHERE expires_at <= $1 LIMIT $2{skip_locked})"
        );
        let mut total = 0u64;
        loop {
            let n = self.exec(&sql, &[Arg::Int(now), Arg::Int(i64::from(batch))]).await?;
            total += n;
            if n < u64::from(batch) {
                return Ok(total);
            }
            // Let queued requests have the database between batches.
            tokio::task::yield_now().await;
        }
    }
}

// ---- group commit of new tokens -------------------------------------------

/// Rows per multi-row INSERT: 12 parameters each, far below SQLite's limit
/// of bound parameters (32766) and PostgreSQL's (65535).
pub const TOKEN_BATCH: usize = 64;

/// A request waiting in a batch, with where its answer goes.
type Pending<T, R> = (T, oneshot::Sender<Result<R, StoreError>>);

/// Group commit: requests arriving while a batch is being written queue
/// up, and the next caller to get the write lock writes them all in one
/// statement and answers each. Token inserts and single-use ids each have
/// one; they share the write lock.
struct Batcher<T, R> {
    queue: std::sync::Mutex<Vec<Pending<T, R>>>,
    /// Held by the caller currently writing a batch (and by SQLite's WAL
    /// reset, which must not run under a batch).
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    fn new(writing: Arc<tokio::sync::Mutex<()>>) -> Self {
        Batcher {
            queue: std::sync::Mutex::new(Vec::new()),
            writing,
        }
    }

    /// Queues `item` and waits for its answer; `write` writes a batch and
    /// answers every request in it.
    async fn submit<F, Fut>(&self, item: T, write: F) -> Result<R, StoreError>
    where
        F: FnOnce(Vec<Pending<T, R>>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, mut rx) = oneshot::channel();
        self.lock_queue().push((item, tx));
        let guard = self.writing.lock().await;
        // A writer that held the lock before us may have taken our request.
        match rx.try_recv() {
            Ok(r) => return r,
            Err(oneshot::error::TryRecvError::Closed) => return Err(lost()),
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        let batch = std::mem::take(&mut *self.lock_queue());
        // The write runs in its own task so that a caller going away (its
        // client disconnected) never abandons the requests of the others.
        let _ = tokio::spawn(write(batch)).await;
        drop(guard);
        rx.await.unwrap_or_else(|_| Err(lost()))
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Pending<T, R>>> {
        // The queue is a plain Vec: a panic elsewhere cannot leave it torn.
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn lost() -> StoreError {
    StoreError::Unavailable("the write did not complete".into())
}

const TOKEN_COLS: &str = "token_hash, kind, client_id, subject, scope, audience, family_id, issued_at, \
     expires_at, auth_time, used, revoked";

/// A token as read: revoked when its row says so, when its family is on
/// the revocation list, or when its client or subject was cut off after it
/// was issued (rows stored while a revocation ran are covered too).
const TOKEN_SELECT: &str = "token_hash, kind, client_id, subject, scope, audience, family_id, issued_at, \
     expires_at, auth_time, used, (revoked OR EXISTS (SELECT 1 FROM revocations r WHERE \
     (r.id = tokens.family_id AND r.cutoff IS NULL) OR \
     (r.id IN ('client:' || tokens.client_id, 'sub:' || tokens.subject) AND tokens.issued_at <= r.cutoff))) \
     AS revoked";

fn insert_tokens_sql(rows: usize, anon: bool) -> String {
    let mut sql = format!("INSERT INTO tokens ({TOKEN_COLS}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..12 {
            if c > 0 {
                sql.push_str(", ");
            }
            if anon {
                sql.push('?');
            } else {
                sql.push_str(&format!("${}", r * 12 + c + 1));
            }
        }
        sql.push(')');
    }
    sql
}

fn token_args<'a>(t: &'a TokenRecord, out: &mut Vec<Arg<'a>>) -> Result<(), StoreError> {
    out.extend([
        Arg::Str(&t.token_hash),
        Arg::Str(t.kind.as_str()),
        Arg::Str(&t.client_id),
        Arg::OptStr(t.subject.as_deref()),
        Arg::Str(&t.scope),
        Arg::Text(to_json(&t.audience)?),
        Arg::Str(&t.family_id),
        Arg::Int(t.issued_at),
        Arg::Int(t.expires_at),
        Arg::OptInt(t.auth_time),
        Arg::Bool(t.used),
        Arg::Bool(t.revoked),
    ]);
    Ok(())
}

/// Inserts `rows` with one statement (autocommit: one transaction).
async fn insert_tokens<D: Db>(db: &D, rows: &[&TokenRecord], limit: Duration, anon: bool) -> Result<(), StoreError> {
    let mut args = Vec::with_capacity(rows.len() * 12);
    for t in rows {
        token_args(t, &mut args)?;
    }
    timed(limit, db.exec(&insert_tokens_sql(rows.len(), anon), &args)).await?;
    Ok(())
}

/// Writes a batch and answers every caller. If a multi-row INSERT fails
/// (one duplicate fails the whole statement), its rows are retried one by
/// one so each caller gets exactly the answer a lone INSERT would give.
async fn write_tokens<D: Db>(db: D, batch: Vec<Pending<TokenRecord, ()>>, limit: Duration, anon: bool) {
    let mut batch = batch.into_iter().peekable();
    while batch.peek().is_some() {
        let chunk: Vec<Pending<TokenRecord, ()>> = batch.by_ref().take(TOKEN_BATCH).collect();
        let rows: Vec<&TokenRecord> = chunk.iter().map(|(t, _)| t).collect();
        let res = insert_tokens(&db, &rows, limit, anon).await;
        if res.is_ok() || chunk.len() == 1 {
            for (_, tx) in chunk {
                let _ = tx.send(res.as_ref().map(|_| ()).map_err(StoreError::clone));
            }
            continue;
        }
        for (t, tx) in chunk {
            let _ = tx.send(insert_tokens(&db, &[&t], limit, anon).await);
        }
    }
}

/// Inserted, or taking over a row whose time is up: first use. A live row
/// stays as it is and nothing changes: a replay.
const USE_ONCE_SQL: &str = "INSERT INTO used_ids (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE \
     SET expires_at = excluded.expires_at WHERE used_ids.expires_at <= $3";

/// The same for many ids in one statement; RETURNING names the first uses
/// (rows the conflict clause leaves alone are not returned).
fn use_many_sql(rows: usize) -> String {
    let mut sql = String::from("INSERT INTO used_ids (id, expires_at) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(${}, ${})", 2 * r + 1, 2 * r + 2));
    }
    sql.push_str(&format!(
        " ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE used_ids.expires_at <= ${} RETURNING id",
        2 * rows + 1
    ));
    sql
}

async fn use_one<D: Db>(db: &D, id: &str, expires_at: i64, now: i64, limit: Duration) -> Result<bool, StoreError> {
    let args = [Arg::Str(id), Arg::Int(expires_at), Arg::Int(now)];
    Ok(timed(limit, db.exec(USE_ONCE_SQL, &args)).await? > 0)
}

/// Writes a batch of single-use ids and answers each caller exactly as a
/// lone `use_once` would: an id repeated within the batch is a replay of
/// its first occurrence; if the statement fails, each id is tried alone.
async fn write_used_ids<D: Db>(db: D, batch: Vec<Pending<(String, i64, i64), bool>>, limit: Duration) {
    let mut batch = batch.into_iter().peekable();
    while batch.peek().is_some() {
        let chunk: Vec<Pending<(String, i64, i64), bool>> = batch.by_ref().take(TOKEN_BATCH).collect();
        let won = write_first_uses(&db, &chunk, limit).await;
        match won {
            Ok(won) => {
                let mut answered: Vec<String> = Vec::with_capacity(chunk.len());
                for ((id, _, _), tx) in chunk {
                    let fresh = !answered.contains(&id) && won.contains(&id);
                    answered.push(id);
                    let _ = tx.send(Ok(fresh));
                }
            }
            Err(_) => {
                for ((id, exp, now), tx) in chunk {
                    let _ = tx.send(use_one(&db, &id, exp, now, limit).await);
                }
            }
        }
    }
}

/// One statement for the distinct ids of `chunk`; returns those used for
/// the first time.
async fn write_first_uses<D: Db>(
    db: &D,
    chunk: &[Pending<(String, i64, i64), bool>],
    limit: Duration,
) -> Result<Vec<String>, StoreError> {
    let mut first: Vec<&(String, i64, i64)> = Vec::with_capacity(chunk.len());
    for (item, _) in chunk {
        if !first.iter().any(|f| f.0 == item.0) {
            first.push(item);
        }
    }
    // The earliest "now" of the batch: an id whose time is up for every
    // caller is taken over, never one still live for some.
    let now = first.iter().map(|f| f.2).min().unwrap_or(0);
    let mut args = Vec::with_capacity(first.len() * 2 + 1);
    for (id, exp, _) in &first {
        args.push(Arg::Str(id));
        args.push(Arg::Int(*exp));
    }
    args.push(Arg::Int(now));
    let rows = timed(limit, db.rows(&use_many_sql(first.len()), &args)).await?;
    rows.iter().map(|r| r.text("id")).collect()
}

// ---- row mapping ------------------------------------------------------------

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Unavailable(format!("cannot encode a column: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Unavailable(format!("corrupt JSON column: {e}")))
}

const CLIENT_COLS: &str = "id, name, secret_hash, redirect_uris, grant_types, scopes, audience, access_ttl, \
     refresh_ttl, created_at, metadata";

fn client(r: &impl SqlRow) -> Result<Client, StoreError> {
    Ok(Client {
        id: r.text("id")?,
        name: r.text("name")?,
        secret_hash: r.opt_text("secret_hash")?,
        redirect_uris: from_json(&r.text("redirect_uris")?)?,
        grant_types: from_json(&r.text("grant_types")?)?,
        scopes: from_json(&r.text("scopes")?)?,
        audience: from_json(&r.text("audience")?)?,
        access_ttl: r.opt_int("access_ttl")?,
        refresh_ttl: r.opt_int("refresh_ttl")?,
        created_at: r.int("created_at")?,
        meta: from_json::<ClientMeta>(&r.text("metadata")?)?,
    })
}

const USER_COLS: &str = "username, password_hash, name, email, created_at";

fn user(r: &impl SqlRow) -> Result<User, StoreError> {
    Ok(User {
        username: r.text("username")?,
        password_hash: r.text("password_hash")?,
        name: r.opt_text("name")?,
        email: r.opt_text("email")?,
        created_at: r.int("created_at")?,
    })
}

const CODE_COLS: &str = "code_hash, client_id, username, redirect_uri, scope, code_challenge, \
     code_challenge_method, nonce, auth_time, family_id, expires_at";

fn code(r: &impl SqlRow) -> Result<AuthCode, StoreError> {
    Ok(AuthCode {
        code_hash: r.text("code_hash")?,
        client_id: r.text("client_id")?,
        username: r.text("username")?,
        redirect_uri: r.text("redirect_uri")?,
        scope: r.text("scope")?,
        code_challenge: r.opt_text("code_challenge")?,
        code_challenge_method: r.opt_text("code_challenge_method")?,
        nonce: r.opt_text("nonce")?,
        auth_time: r.int("auth_time")?,
        family_id: r.text("family_id")?,
        expires_at: r.int("expires_at")?,
    })
}

fn token(r: &impl SqlRow) -> Result<TokenRecord, StoreError> {
    let kind = match r.text("kind")?.as_str() {
        "access" => TokenKind::Access,
        "refresh" => TokenKind::Refresh,
        other => return Err(StoreError::Unavailable(format!("corrupt token kind {other:?}"))),
    };
    Ok(TokenRecord {
        token_hash: r.text("token_hash")?,
        kind,
        client_id: r.text("client_id")?,
        subject: r.opt_text("subject")?,
        scope: r.text("scope")?,
        audience: from_json(&r.text("audience")?)?,
        family_id: r.text("family_id")?,
        issued_at: r.int("issued_at")?,
        expires_at: r.int("expires_at")?,
        auth_time: r.opt_int("auth_time")?,
        used: r.flag("used")?,
        revoked: r.flag("revoked")?,
    })
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

fn failures(r: &impl SqlRow) -> Result<Failures, StoreError> {
    Ok(Failures {
        count: u32::try_from(r.int("attempts")?).unwrap_or(u32::MAX),
        until: r.int("expires_at")?,
    })
}

fn all<T, R: SqlRow>(rows: Vec<R>, f: fn(&R) -> Result<T, StoreError>) -> Result<Vec<T>, StoreError> {
    rows.iter().map(f).collect()
}

fn first<T, R: SqlRow>(rows: Vec<R>, f: fn(&R) -> Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    rows.first().map(f).transpose()
}

/// A `LIKE` pattern matching `s` anywhere, case-insensitively (both sides
/// are lower-cased), with `\` escaping the wildcards.
fn like(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn limit(l: u32) -> Arg<'static> {
    Arg::Int(i64::from(l))
}

/// Ids per `IN (…)` list, well under every bound-parameter limit.
const IN_CHUNK: usize = 500;

/// Plain revocation: everything carrying the id, whatever its issue time.
const REVOKE_ID_SQL: &str = "INSERT INTO revocations (id, expires_at, cutoff) VALUES ($1, $2, NULL) \
     ON CONFLICT (id) DO UPDATE SET cutoff = NULL, expires_at = CASE \
     WHEN excluded.expires_at > revocations.expires_at THEN excluded.expires_at \
     ELSE revocations.expires_at END";

/// Cutoff revocation: what was issued at or before `$3`. A later cutoff
/// widens it; a plain revocation (NULL) already covers everything.
const REVOKE_CUTOFF_SQL: &str = "INSERT INTO revocations (id, expires_at, cutoff) VALUES ($1, $2, $3) \
     ON CONFLICT (id) DO UPDATE SET \
     cutoff = CASE WHEN excluded.cutoff > revocations.cutoff THEN excluded.cutoff ELSE revocations.cutoff END, \
     expires_at = CASE WHEN excluded.expires_at > revocations.expires_at THEN excluded.expires_at \
     ELSE revocations.expires_at END";

const PURGED_TABLES: [&str; 6] = [
    "auth_codes",
    "tokens",
    "revocations",
    "used_ids",
    "sessions",
    "failures",
];

#[async_trait]
impl<D: Db> Store for SqlStore<D> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.rows("SELECT 1 AS one", &[]).await?;
        Ok(())
    }

    async fn put_client(&self, c: &Client) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO clients ({CLIENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, secret_hash = excluded.secret_hash, \
             redirect_uris = excluded.redirect_uris, grant_types = excluded.grant_types, \
             scopes = excluded.scopes, audience = excluded.audience, access_ttl = excluded.access_ttl, \
             refresh_ttl = excluded.refresh_ttl, created_at = excluded.created_at, metadata = excluded.metadata"
        );
        let args = [
            Arg::Str(&c.id),
            Arg::Str(&c.name),
            Arg::OptStr(c.secret_hash.as_deref()),
            Arg::Text(to_json(&c.redirect_uris)?),
            Arg::Text(to_json(&c.grant_types)?),
            Arg::Text(to_json(&c.scopes)?),
            Arg::Text(to_json(&c.audience)?),
            Arg::OptInt(c.access_ttl),
            Arg::OptInt(c.refresh_ttl),
            Arg::Int(c.created_at),
            Arg::Text(to_json(&c.meta)?),
        ];
        self.exec(&sql, &args).await?;
        self.announce(Change::Client(c.id.clone())).await;
        Ok(())
    }

    async fn get_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLS} FROM clients WHERE id = $1");
        first(self.rows(&sql, &[Arg::Str(id)]).await?, client)
    }

    async fn list_clients(&self, q: &ListQuery<'_>) -> Result<Vec<Client>, StoreError> {
        let sql = format!(
            "SELECT {CLIENT_COLS} FROM clients WHERE ($1 IS NULL OR id > $1) AND ($2 IS NULL \
             OR lower(id) LIKE $2 ESCAPE '\\' OR lower(name) LIKE $2 ESCAPE '\\') ORDER BY id LIMIT $3"
        );
        let args = [Arg::OptStr(q.after), search(q.search), limit(q.limit)];
        all(self.rows(&sql, &args).await?, client)
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let n = self.exec("DELETE FROM clients WHERE id = $1", &[Arg::Str(id)]).await?;
        self.announce(Change::Client(id.to_string())).await;
        Ok(n > 0)
    }

    async fn put_user(&self, u: &User) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO UPDATE \
             SET password_hash = excluded.password_hash, name = excluded.name, email = excluded.email, \
             created_at = excluded.created_at"
        );
        let args = [
            Arg::Str(&u.username),
            Arg::Str(&u.password_hash),
            Arg::OptStr(u.name.as_deref()),
            Arg::OptStr(u.email.as_deref()),
            Arg::Int(u.created_at),
        ];
        self.exec(&sql, &args).await?;
        Ok(())
    }

    async fn get_user(&self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE username = $1");
        first(self.rows(&sql, &[Arg::Str(username)]).await?, user)
    }

    async fn list_users(&self, q: &ListQuery<'_>) -> Result<Vec<User>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLS} FROM users WHERE ($1 IS NULL OR username > $1) AND ($2 IS NULL \
             OR lower(username) LIKE $2 ESCAPE '\\' OR lower(coalesce(name, '')) LIKE $2 ESCAPE '\\' \
             OR lower(coalesce(email, '')) LIKE $2 ESCAPE '\\') ORDER BY username LIMIT $3"
        );
        let args = [Arg::OptStr(q.after), search(q.search), limit(q.limit)];
        all(self.rows(&sql, &args).await?, user)
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        let n = self
            .exec("DELETE FROM users WHERE username = $1", &[Arg::Str(username)])
            .await?;
        Ok(n > 0)
    }

    async fn put_code(&self, c: &AuthCode) -> Result<(), StoreError> {
        // Plain INSERT: a duplicate hash is a Conflict, never a replacement
        // (which would reset `used` and make a spent code work again).
        let sql = format!("INSERT INTO auth_codes ({CODE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
        let args = [
            Arg::Str(&c.code_hash),
            Arg::Str(&c.client_id),
            Arg::Str(&c.username),
            Arg::Str(&c.redirect_uri),
            Arg::Str(&c.scope),
            Arg::OptStr(c.code_challenge.as_deref()),
            Arg::OptStr(c.code_challenge_method.as_deref()),
            Arg::OptStr(c.nonce.as_deref()),
            Arg::Int(c.auth_time),
            Arg::Str(&c.family_id),
            Arg::Int(c.expires_at),
        ];
        self.exec(&sql, &args).await?;
        Ok(())
    }

    async fn consume_code(&self, code_hash: &str) -> Result<Consume<AuthCode>, StoreError> {
        // Rows are fetched to completion, so the update is applied (and
        // SQLite's write lock released) before the result is looked at.
        let won =
            format!("UPDATE auth_codes SET used = TRUE WHERE code_hash = $1 AND used = FALSE RETURNING {CODE_COLS}");
        if let Some(c) = first(self.rows(&won, &[Arg::Str(code_hash)]).await?, code)? {
            return Ok(Consume::Consumed(c));
        }
        let seen = format!("SELECT {CODE_COLS} FROM auth_codes WHERE code_hash = $1");
        Ok(match first(self.rows(&seen, &[Arg::Str(code_hash)]).await?, code)? {
            Some(c) => Consume::AlreadyUsed(c),
            None => Consume::NotFound,
        })
    }

    async fn put_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        // Plain INSERT for the same reason as put_code, batched with the
        // tokens other requests are issuing at the same moment.
        let (db, limit, anon) = (self.db.clone(), self.limit, self.dialect.anonymous_params);
        self.tokens
            .submit(t.clone(), move |batch| write_tokens(db, batch, limit, anon))
            .await
    }

    async fn get_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_SELECT} FROM tokens WHERE token_hash = $1");
        first(self.rows(&sql, &[Arg::Str(token_hash)]).await?, token)
    }

    async fn consume_refresh(&self, token_hash: &str) -> Result<Consume<TokenRecord>, StoreError> {
        let won = format!(
            "UPDATE tokens SET used = TRUE WHERE token_hash = $1 AND kind = 'refresh' AND used = FALSE \
             RETURNING {TOKEN_SELECT}"
        );
        if let Some(t) = first(self.rows(&won, &[Arg::Str(token_hash)]).await?, token)? {
            return Ok(Consume::Consumed(t));
        }
        let seen = format!("SELECT {TOKEN_SELECT} FROM tokens WHERE token_hash = $1 AND kind = 'refresh'");
        Ok(match first(self.rows(&seen, &[Arg::Str(token_hash)]).await?, token)? {
            Some(t) => Consume::AlreadyUsed(t),
            None => Consume::NotFound,
        })
    }

    async fn revoke_token(&self, token_hash: &str) -> Result<bool, StoreError> {
        let n = self
            .exec(
                "UPDATE tokens SET revoked = TRUE WHERE token_hash = $1",
                &[Arg::Str(token_hash)],
            )
            .await?;
        self.announce(Change::Token(token_hash.to_string())).await;
        Ok(n > 0)
    }

    async fn revoke_family(&self, family_id: &str, until: i64) -> Result<u64, StoreError> {
        // The list entry first: from then on every token of the family reads
        // as revoked, including one stored by a rotation racing with us.
        self.exec(REVOKE_ID_SQL, &[Arg::Str(family_id), Arg::Int(until)])
            .await?;
        let n = self
            .exec(
                "UPDATE tokens SET revoked = TRUE WHERE family_id = $1 AND revoked = FALSE",
                &[Arg::Str(family_id)],
            )
            .await?;
        self.announce(Change::Revoked(family_id.to_string())).await;
        Ok(n)
    }

    async fn list_tokens(&self, owner: Owner<'_>, now: i64, lim: u32) -> Result<Vec<TokenRecord>, StoreError> {
        let (col, who) = owner_column(owner);
        let sql = format!(
            "SELECT * FROM (SELECT {TOKEN_SELECT} FROM tokens WHERE {col} = $1 AND expires_at > $2 \
             AND used = FALSE) t WHERE NOT t.revoked ORDER BY issued_at DESC, token_hash LIMIT $3"
        );
        all(
            self.rows(&sql, &[Arg::Str(who), Arg::Int(now), limit(lim)]).await?,
            token,
        )
    }

    async fn revoke_owner(&self, owner: Owner<'_>, now: i64, until: i64) -> Result<u64, StoreError> {
        let id = owner.revocation_id();
        self.exec(REVOKE_CUTOFF_SQL, &[Arg::Str(&id), Arg::Int(until), Arg::Int(now)])
            .await?;
        let (col, who) = owner_column(owner);
        let sql = format!("UPDATE tokens SET revoked = TRUE WHERE {col} = $1 AND revoked = FALSE");
        let n = self.exec(&sql, &[Arg::Str(who)]).await?;
        self.announce(Change::Revoked(id)).await;
        Ok(n)
    }

    async fn revoke_id(&self, id: &str, until: i64) -> Result<(), StoreError> {
        self.exec(REVOKE_ID_SQL, &[Arg::Str(id), Arg::Int(until)]).await?;
        self.announce(Change::Revoked(id.to_string())).await;
        Ok(())
    }

    async fn is_revoked(&self, ids: &[&str], issued_at: i64) -> Result<bool, StoreError> {
        for chunk in ids.chunks(IN_CHUNK) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM revocations WHERE id IN ({}) AND (cutoff IS NULL OR ${} <= cutoff)) AS hit",
                marks.join(", "),
                chunk.len() + 1
            );
            let mut args: Vec<Arg> = chunk.iter().map(|id| Arg::Str(id)).collect();
            args.push(Arg::Int(issued_at));
            let rows = self.rows(&sql, &args).await?;
            if let Some(r) = rows.first() {
                if r.flag("hit")? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    async fn use_once(&self, id: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        // Group-committed like new tokens: one jti per assertion grant
        // would otherwise be one commit (and fsync) per token.
        let (db, limit) = (self.db.clone(), self.limit);
        self.used_ids
            .submit((id.to_string(), expires_at, now), move |batch| {
                write_used_ids(db, batch, limit)
            })
            .await
    }

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

    async fn add_failure(&self, key: &str, now: i64, window: i64) -> Result<Failures, StoreError> {
        let until = now.saturating_add(window);
        let rows = self
            .rows(
                "INSERT INTO failures (key, attempts, expires_at) VALUES ($1, 1, $3) ON CONFLICT (key) DO UPDATE \
                 SET attempts = CASE WHEN failures.expires_at <= $2 THEN 1 ELSE failures.attempts + 1 END, \
                 expires_at = $3 RETURNING attempts, expires_at",
                &[Arg::Str(key), Arg::Int(now), Arg::Int(until)],
            )
            .await?;
        first(rows, failures)?.ok_or_else(|| StoreError::Unavailable("failure counter not returned".into()))
    }

    async fn get_failures(&self, key: &str, now: i64) -> Result<Option<Failures>, StoreError> {
        let rows = self
            .rows(
                "SELECT attempts, expires_at FROM failures WHERE key = $1 AND expires_at > $2",
                &[Arg::Str(key), Arg::Int(now)],
            )
            .await?;
        first(rows, failures)
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        self.exec("DELETE FROM failures WHERE key = $1", &[Arg::Str(key)])
            .await?;
        Ok(())
    }

    async fn put_consent(&self, c: &Consent) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO consents (username, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (username, client_id) DO UPDATE SET scopes = excluded.scopes, \
                 granted_at = excluded.granted_at",
            &[
                Arg::Str(&c.username),
                Arg::Str(&c.client_id),
                Arg::Text(to_json(&c.scopes)?),
                Arg::Int(c.granted_at),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_consent(&self, username: &str, client_id: &str) -> Result<Option<Consent>, StoreError> {
        let rows = self
            .rows(
                "SELECT username, client_id, scopes, granted_at FROM consents WHERE username = $1 AND client_id = $2",
                &[Arg::Str(username), Arg::Str(client_id)],
            )
            .await?;
        first(rows, |r| {
            Ok(Consent {
                username: r.text("username")?,
                client_id: r.text("client_id")?,
                scopes: from_json(&r.text("scopes")?)?,
                granted_at: r.int("granted_at")?,
            })
        })
    }

    async fn delete_consent(&self, username: &str, client_id: &str) -> Result<bool, StoreError> {
        let n = self
            .exec(
                "DELETE FROM consents WHERE username = $1 AND client_id = $2",
                &[Arg::Str(username), Arg::Str(client_id)],
            )
            .await?;
        Ok(n > 0)
    }

    async fn purge_expired(&self, now: i64, batch: u32) -> Result<u64, StoreError> {
        let batch = batch.max(1);
        let mut total = 0;
        for table in PURGED_TABLES {
            total += self.purge_table(table, now, batch).await?;
        }
        Ok(total)
    }

    fn changes(&self) -> Option<broadcast::Receiver<Change>> {
        self.changes.as_ref().map(broadcast::Sender::subscribe)
    }
}

/// The tokens column an owner is matched on (a constant, never input).
fn owner_column(owner: Owner<'_>) -> (&'static str, &str) {
    match owner {
        Owner::Client(c) => ("client_id", c),
        Owner::Subject(s) => ("subject", s),
    }
}

/// An optional search term as its `LIKE` pattern.
fn search(term: Option<&str>) -> Arg<'static> {
    match term {
        Some(s) => Arg::Text(like(s)),
        None => Arg::OptStr(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like("Ab"), "%ab%");
        assert_eq!(like("50%_x\\"), "%50\\%\\_x\\\\%");
    }

    #[test]
    fn multi_row_insert_numbers_every_parameter() {
        let sql = insert_tokens_sql(2, false);
        assert!(sql.ends_with("($13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"));
        let sql = insert_tokens_sql(2, true);
        assert!(sql.ends_with("), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    }
}
