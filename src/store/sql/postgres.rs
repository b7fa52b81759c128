//! `postgres://…`: any number of gatehouse instances sharing one PostgreSQL.
//! Queries, row mapping and group commit are shared with SQLite
//! (`sql.rs`); this file holds what is PostgreSQL's own: the pool and its
//! timeouts, migrations under an advisory lock, batched purges that skip
//! rows another instance is purging, and LISTEN/NOTIFY so that a
//! revocation on one instance drops the cached answers of every other one
//! at once.
//!
//! If the notification connection is down, other instances still see a
//! change within their staleness bound (`[store] revocation_staleness`):
//! their caches never keep an answer longer than that.

use super::{Affected, Dialect, SqlStore};
use crate::config::StoreSettings;
use crate::store::{Change, StoreError};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgQueryResult};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::broadcast;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The NOTIFY channel every instance listens on.
const CHANNEL: &str = "gatehouse_changes";

static DIALECT: Dialect = Dialect {
    name: "postgresql",
    row_id: "ctid",
    skip_locked: " FOR UPDATE SKIP LOCKED",
    notify: Some("SELECT pg_notify('gatehouse_changes', $1)"),
    anonymous_params: false,
};

/// Connections per instance when `[store] pool_size` is not set.
const DEFAULT_POOL: u32 = 16;

impl Affected for PgQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

pub type PgStore = SqlStore<PgPool>;

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparsable postgres url>".into(),
    }
}

fn options(s: &StoreSettings) -> Result<PgConnectOptions, StoreError> {
    let opts =
        PgConnectOptions::from_str(&s.url).map_err(|e| StoreError::Unsupported(format!("{}: {e}", redact(&s.url))))?;
    let ms = |d: Duration| d.as_millis().to_string();
    Ok(opts
        .application_name("gatehouse")
        // The server gives up on a statement (or a lock wait) after this;
        // the caller's own limit (`SqlStore`) covers a server that is gone.
        .options([
            ("statement_timeout", ms(s.statement_timeout)),
            ("lock_timeout", ms(s.statement_timeout)),
        ])
        // Multi-row inserts come in up to 64 sizes; keep them all prepared.
        .statement_cache_capacity(256))
}

fn unavailable(url: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{}: {e}", redact(url)))
}

fn pool(s: &StoreSettings, opts: PgConnectOptions, size: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        // Waiting for a connection is what a request does when the server
        // is unreachable: bound it, answer 503, never hang.
        .acquire_timeout(s.connect_timeout)
        // A broken connection fails its statement (one 503) and is dropped;
        // pinging before every use would cost a round trip per query.
        .test_before_acquire(false)
        .idle_timeout(Duration::from_secs(300))
        .connect_lazy_with(opts)
}

/// Applies the migrations. sqlx's migrator holds a PostgreSQL advisory
/// lock while it works, so instances starting together take turns.
pub async fn migrate(s: &StoreSettings) -> Result<(), StoreError> {
    let p = pool(s, options(s)?, 1);
    let r = MIGRATOR
        .run(&p)
        .await
        .map_err(|e| unavailable(&s.url, format!("migrating: {e}")));
    p.close().await;
    r
}

impl SqlStore<PgPool> {
    /// Connects, migrates, and starts listening for other instances' changes.
    pub async fn connect(s: &StoreSettings) -> Result<PgStore, StoreError> {
        let opts = options(s)?;
        migrate(s).await?;
        let p = pool(s, opts.clone(), s.pool_size.unwrap_or(DEFAULT_POOL));
        let mut store = SqlStore::new(p, &DIALECT, s.statement_timeout + s.connect_timeout);
        let (tx, _) = broadcast::channel(1024);
        // The listener keeps one connection of its own, outside the pool.
        tokio::spawn(listen(pool(s, opts, 1), tx.clone()));
        store.changes = Some(tx);
        Ok(store)
    }

    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// Receives other instances' announcements for as long as the process
/// runs. Whenever the channel breaks, some may have been missed, so every
/// cache is told to start afresh (`Change::Everything`), once when it
/// breaks and once when listening again.
async fn listen(pool: PgPool, tx: broadcast::Sender<Change>) {
    let mut delay = Duration::from_millis(250);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "notification channel: cannot connect; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        listener.eager_reconnect(false);
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::debug!(error = %e, "notification channel: LISTEN failed; retrying");
            tokio::time::sleep(delay).await;
            continue;
        }
        delay = Duration::from_millis(250);
        crate::ops::metrics::notifications_connected(true);
        tracing::info!("notification channel: listening for other instances' changes");
        let _ = tx.send(Change::Everything);
        // Ok(None) or an error: the connection broke.
        while let Ok(Some(n)) = listener.try_recv().await {
            match Change::decode(n.payload()) {
                Some(c) => {
                    let _ = tx.send(c);
                }
                None => tracing::debug!(payload = n.payload(), "notification channel: unknown payload"),
            }
        }
        crate::ops::metrics::notifications_connected(false);
        tracing::warn!("notification channel lost; caches fall back to the staleness bound until it is back");
        let _ = tx.send(Change::Everything);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{postgres_settings, token};
    use crate::store::prelude::*;
    use crate::store::TokenKind;
    use std::sync::Arc;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db.example:5432/gh?sslmode=require"),
            "postgres://app:***@db.example:5432/gh?sslmode=require"
        );
        assert_eq!(redact("postgres://db.example/gh"), "postgres://db.example/gh");
    }

    /// Two instances purging the same expired rows at once delete each row
    /// once between them, in small batches that skip each other's rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_purges_split_the_work() {
        let s = postgres_settings().await;
        let a = Arc::new(PgStore::connect(&s).await.unwrap());
        let b = Arc::new(PgStore::connect(&s).await.unwrap());
        for i in 0..600 {
            a.put_token(&token(&format!("old-{i}"), TokenKind::Access, "f", 10))
                .await
                .unwrap();
        }
        let (ra, rb) = tokio::join!(a.purge_expired(100, 25), b.purge_expired(100, 25));
        assert_eq!(ra.unwrap() + rb.unwrap(), 600);
        assert_eq!(a.purge_expired(100, 25).await.unwrap(), 0);
    }

    /// A revocation on one instance reaches another's change feed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn revocations_are_announced_to_other_instances() {
        let s = postgres_settings().await;
        let a = PgStore::connect(&s).await.unwrap();
        let b = PgStore::connect(&s).await.unwrap();
        let mut feed = b.changes().unwrap();
        // Wait until b listens (it says so with a first Everything).
        let first = tokio::time::timeout(Duration::from_secs(10), feed.recv()).await;
        assert_eq!(first.unwrap().unwrap(), Change::Everything);
        a.revoke_id("jti-announced", 4_000_000_000).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Ok(Change::Revoked(id)) = feed.recv().await {
                    return id;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(got, "jti-announced");
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_within_the_connect_timeout() {
        // Nothing listens on port 1 of loopback.
        let mut s = StoreSettings::for_url("postgres://gatehouse@127.0.0.1:1/gatehouse");
        s.connect_timeout = Duration::from_millis(500);
        let start = std::time::Instant::now();
        assert!(matches!(PgStore::connect(&s).await, Err(StoreError::Unavailable(_))));
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    }
}
