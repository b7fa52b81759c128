//! Shared rate-limit windows: one multi-row upsert of this instance's
//! counts, one read of everybody's.

use super::{Arg, Db, SqlRow, SqlStore};
use crate::store::rate_counts::{InstanceCount, RateCountStore, WindowCount};
use crate::store::StoreError;
use async_trait::async_trait;
use std::collections::HashSet;

/// Rows per statement: 5 parameters each, far below both databases'
/// limits on bound parameters.
const CHUNK: usize = 200;

#[async_trait]
impl<D: Db> RateCountStore for SqlStore<D> {
    async fn sync_rate_counts(
        &self,
        instance: &str,
        counts: &[WindowCount],
        wanted: &[(String, i64)],
        now: i64,
    ) -> Result<Vec<InstanceCount>, StoreError> {
        let anon = self.dialect.anonymous_params;
        for chunk in counts.chunks(CHUNK) {
            let mut args = Vec::with_capacity(chunk.len() * 5);
            for c in chunk {
                args.extend([
                    Arg::Str(&c.key),
                    Arg::Int(c.window),
                    Arg::Str(instance),
                    Arg::Int(c.count),
                    Arg::Int(c.expires_at),
                ]);
            }
            self.exec(&upsert_sql(chunk.len(), anon), &args).await?;
        }
        let wanted_set: HashSet<(&str, i64)> = wanted.iter().map(|(k, w)| (k.as_str(), *w)).collect();
        let mut keys: Vec<&str> = wanted.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut out = Vec::new();
        for chunk in keys.chunks(CHUNK) {
            let mut args = vec![Arg::Int(now)];
            args.extend(chunk.iter().map(|k| Arg::Str(k)));
            for r in self.rows(&read_sql(chunk.len(), anon), &args).await? {
                let (key, window) = (r.text("key")?, r.int("win")?);
                if wanted_set.contains(&(key.as_str(), window)) {
                    out.push(InstanceCount {
                        key,
                        window,
                        instance: r.text("instance")?,
                        count: r.int("admitted")?,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The `n`th mark (1-based) in the dialect's spelling.
fn mark(n: usize, anon: bool) -> String {
    if anon {
        "?".into()
    } else {
        format!("${n}")
    }
}

fn upsert_sql(rows: usize, anon: bool) -> String {
    let mut sql = String::from("INSERT INTO rate_counts (key, win, instance, admitted, expires_at) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let m: Vec<String> = (1..=5).map(|i| mark(5 * r + i, anon)).collect();
        sql.push_str(&format!("({})", m.join(", ")));
    }
    sql.push_str(
        " ON CONFLICT (key, win, instance) DO UPDATE SET admitted = excluded.admitted, expires_at = excluded.expires_at",
    );
    sql
}

fn read_sql(keys: usize, anon: bool) -> String {
    let list: Vec<String> = (0..keys).map(|i| mark(i + 2, anon)).collect();
    format!(
        "SELECT key, win, instance, admitted FROM rate_counts WHERE expires_at > {} AND key IN ({})",
        mark(1, anon),
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_number_their_marks_in_order() {
        assert_eq!(
            upsert_sql(2, false),
            "INSERT INTO rate_counts (key, win, instance, admitted, expires_at) VALUES ($1, $2, $3, $4, $5), \
             ($6, $7, $8, $9, $10) ON CONFLICT (key, win, instance) DO UPDATE SET admitted = excluded.admitted, \
             expires_at = excluded.expires_at"
        );
        assert!(upsert_sql(1, true).contains("VALUES (?, ?, ?, ?, ?) ON"));
        assert!(read_sql(2, false).ends_with("WHERE expires_at > $1 AND key IN ($2, $3)"));
    }
}
