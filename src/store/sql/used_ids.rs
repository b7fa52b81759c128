//! Single-use ids: an upsert that takes over only an expired row,
//! group-committed like new tokens.

use super::{timed, Arg, Db, Pending, SqlRow, SqlStore, TOKEN_BATCH};
use crate::store::{StoreError, UsedIdStore};
use async_trait::async_trait;
use std::time::Duration;

#[async_trait]
impl<D: Db> UsedIdStore for SqlStore<D> {
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
