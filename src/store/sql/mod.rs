//! The SQL backends' common half. Every query, the row mapping, group
//! commit of new tokens, the order of checks in single-use exchanges and
//! the batched purge live here once, one file per concern (`tokens.rs`,
//! `codes.rs`, …); a backend (`sqlite.rs`, `postgres.rs`) supplies a
//! connection pool and a `Dialect` for the few statements whose SQL
//! differs. This file holds what every concern shares: binding and
//! reading rows, the statement time limit, group commit (`Batcher`).
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

use super::{Change, Consume, StoreError, TokenRecord};
use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tracing::Instrument;

mod changes;
mod clients;
mod codes;
mod consents;
mod device_codes;
mod failures;
mod health;
pub mod postgres;
mod purge;
mod pushed_requests;
mod rate_counts;
mod revocations;
mod sessions;
pub mod sqlite;
mod tokens;
mod used_ids;
mod users;

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
    /// OpenTelemetry's `db.system.name`.
    pub name: &'static str,
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
    /// Refresh-token rotation (`consume_refresh`): token hash → outcome.
    consumes: Batcher<String, Consume<TokenRecord>>,
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
            used_ids: Batcher::new(writing.clone()),
            consumes: Batcher::new(writing),
            limit,
            changes: None,
        }
    }

    /// The lock token batches are written under: SQLite's WAL reset takes
    /// it so that no batch waits on the reset's fsync mid-commit.
    pub(super) fn write_gate(&self) -> Arc<tokio::sync::Mutex<()>> {
        self.tokens.writing.clone()
    }

    // Each statement is a child span of the request's (free without
    // [telemetry]: the span is disabled).
    async fn exec(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let span = crate::ops::telemetry::sql_span(self.dialect.name, sql);
        timed(self.limit, self.db.exec(sql, args)).instrument(span).await
    }

    async fn rows(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<D::Row>, StoreError> {
        let span = crate::ops::telemetry::sql_span(self.dialect.name, sql);
        timed(self.limit, self.db.rows(sql, args)).instrument(span).await
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
}

// ---- group commit of new tokens -------------------------------------------

/// Rows per multi-row INSERT: 13 parameters each, far below SQLite's limit
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

// ---- row mapping ------------------------------------------------------------

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Unavailable(format!("cannot encode a column: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Unavailable(format!("corrupt JSON column: {e}")))
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
}
