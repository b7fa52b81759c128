//! `sqlite://PATH`: the embedded, durable default. One file (plus its WAL),
//! created with its directory on first use; schema from
//! `migrations/sqlite/`, applied at connect. Queries, row mapping and group
//! commit are shared with PostgreSQL (`sql.rs`); this file holds what is
//! SQLite's own: opening the file, its pragmas, the migrations.

use super::{Affected, Dialect, SqlStore};
use crate::config::StoreSettings;
use crate::store::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult, SqliteSynchronous,
};
use std::path::Path;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// One process owns the file's writers; batches are deleted by rowid.
static DIALECT: Dialect = Dialect {
    name: "sqlite",
    row_id: "rowid",
    skip_locked: "",
    notify: None,
    anonymous_params: true,
};

/// WAL frames (pages) after which the checkpointer resets the WAL to its
/// start (32 MiB with 4 KiB pages), so it does not grow without bound while
/// readers keep it busy.
const RESET_FRAMES: i64 = 8192;
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl Affected for SqliteQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

pub type SqliteStore = SqlStore<SqlitePool>;

impl SqlStore<SqlitePool> {
    /// Opens (creating if missing) the database named by `sqlite://PATH` and
    /// brings its schema up to date.
    pub async fn connect(s: &StoreSettings) -> Result<SqliteStore, StoreError> {
        let url = s.url.as_str();
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
            .busy_timeout(s.statement_timeout)
            .foreign_keys(true)
            // Multi-row inserts come in up to 64 sizes; keep them all prepared.
            .statement_cache_capacity(256)
            // Checkpoints run in the background (`checkpointer`), never in
            // a committing request: an automatic one would put its fsyncs
            // on whichever request crossed the threshold (the p99).
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", "67108864");
        let pool = SqlitePoolOptions::new()
            .max_connections(s.pool_size.unwrap_or(8))
            .acquire_timeout(s.connect_timeout)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migrating {}: {e}", path.display())))?;
        let store = SqlStore::new(pool, &DIALECT, s.statement_timeout + s.connect_timeout);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(checkpointer(store.db.clone(), store.write_gate()));
        }
        Ok(store)
    }

    /// Closes every connection (checkpointing the WAL into the main file).
    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// Copies committed WAL pages into the database file off the request path
/// (PASSIVE: never waits for readers or writers), and once the WAL is
/// large and fully copied, resets it to its start while holding the token
/// write gate, so no batch commits into the reset. Ends when the pool closes.
async fn checkpointer(pool: SqlitePool, gate: std::sync::Arc<tokio::sync::Mutex<()>>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let passive: Result<(i64, i64, i64), _> =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool).await;
        let Ok((_busy, frames, copied)) = passive else {
            continue;
        };
        if frames >= RESET_FRAMES && copied == frames {
            let _gate = gate.lock().await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(&pool).await {
                tracing::debug!(error = %e, "WAL reset skipped");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{client, token};
    use crate::store::prelude::*;
    use crate::store::sql::TOKEN_BATCH;
    use crate::store::{Consume, TokenKind};
    use std::sync::Arc;

    #[tokio::test]
    async fn data_survives_close_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("nested/dir/g.db").display());
        let s = SqliteStore::connect(&StoreSettings::for_url(&url)).await.unwrap();
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

        let s = SqliteStore::connect(&StoreSettings::for_url(&url)).await.unwrap();
        assert_eq!(s.get_client("c1").await.unwrap(), Some(client("c1")));
        assert!(s.get_token("dead").await.unwrap().unwrap().revoked);
        assert!(s.is_revoked(&["jti-1"], 0).await.unwrap());
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
        let s = SqliteStore::connect(&StoreSettings::for_url(&format!("sqlite://{}", file.display())))
            .await
            .unwrap();
        assert!(file.exists());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&s.db)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&s.db)
            .await
            .unwrap();
        assert_eq!(fk, 1);
        s.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_token_writes_are_batched_and_answered_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(
            SqliteStore::connect(&StoreSettings::for_url(&format!(
                "sqlite://{}",
                dir.path().join("g.db").display()
            )))
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
            SqliteStore::connect(&StoreSettings::for_url("sqlite://")).await,
            Err(StoreError::Unsupported(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        // A parent "directory" that is a file cannot be created.
        let url = format!("sqlite://{}", blocker.join("g.db").display());
        assert!(matches!(
            SqliteStore::connect(&StoreSettings::for_url(&url)).await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
