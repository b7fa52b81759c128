//! The change feed on Cassandra (which has no LISTEN/NOTIFY): every
//! revocation and client change is a row of `changes`, partitioned by
//! minute, and each instance polls the current minutes every half
//! `revocation_staleness` (at least 50 ms, at most 250 ms: one read of a
//! small partition, cheap enough to make revocations near-immediate), so another
//! instance's revocation reaches its caches well within that bound. Rows
//! are read with an overlap of OVERLAP_MS behind the last poll (writes in
//! flight, clock skew between instances) and de-duplicated by their
//! timeuuid. When polls fail, caches are told to start afresh
//! (`Change::Everything`) once when it breaks and once when it is back.

use super::{unavailable, CassandraStore};
use crate::store::{Change, ChangeFeed, StoreError};
use scylla::client::session::Session;
use scylla::value::CqlTimestamp;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::broadcast;

const OVERLAP_MS: i64 = 2_000;

pub(super) fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The partition (a minute) a change made at `ms` goes to.
pub(super) fn bucket(ms: i64) -> i64 {
    ms.div_euclid(60_000)
}

impl ChangeFeed for CassandraStore {
    fn changes(&self) -> Option<broadcast::Receiver<Change>> {
        self.changes.as_ref().map(broadcast::Sender::subscribe)
    }
}

impl CassandraStore {
    /// Starts the poller; it stops once the store is dropped.
    pub(super) fn follow_changes(&self, session: Arc<Session>, alive: Weak<()>, staleness: Duration) {
        let Some(tx) = self.changes.clone() else { return };
        let every = (staleness / 2).clamp(Duration::from_millis(50), Duration::from_millis(250));
        let limit = self.limit;
        tokio::spawn(async move {
            let mut since = wall_ms() - OVERLAP_MS;
            let mut seen: HashMap<String, i64> = HashMap::new();
            let mut broken = false;
            let _ = tx.send(Change::Everything);
            loop {
                tokio::time::sleep(every).await;
                if alive.upgrade().is_none() {
                    return;
                }
                let now = wall_ms();
                let from = since - OVERLAP_MS;
                match tokio::time::timeout(limit, poll(&session, from, now)).await {
                    Ok(Ok(rows)) => {
                        if broken {
                            broken = false;
                            tracing::info!("change feed: polling again");
                            let _ = tx.send(Change::Everything);
                        }
                        for (id, ms, change) in rows {
                            if seen.insert(id, ms).is_none() {
                                match Change::decode(&change) {
                                    Some(c) => {
                                        let _ = tx.send(c);
                                    }
                                    None => tracing::debug!(change, "change feed: unknown change"),
                                }
                            }
                        }
                        seen.retain(|_, ms| *ms >= from - OVERLAP_MS);
                        since = now;
                    }
                    failed => {
                        if !broken {
                            broken = true;
                            let e = match failed {
                                Ok(Err(e)) => e.to_string(),
                                _ => "timed out".into(),
                            };
                            tracing::warn!(error = %e, "change feed: poll failed; caches fall back to the staleness bound");
                            let _ = tx.send(Change::Everything);
                        }
                    }
                }
            }
        });
    }
}

/// Changes written from `from` (unix ms) on: (timeuuid, its ms, change).
async fn poll(session: &Session, from: i64, now: i64) -> Result<Vec<(String, i64, String)>, StoreError> {
    let mut out = Vec::new();
    for b in bucket(from)..=bucket(now) {
        let r = session
            .query_unpaged(
                "SELECT CAST(at AS text), CAST(toUnixTimestamp(at) AS bigint), change FROM changes \
                 WHERE bucket = ? AND at > minTimeuuid(?)",
                (b, CqlTimestamp(from)),
            )
            .await
            .map_err(unavailable)?;
        out.extend(super::collect::<(String, i64, String)>(r)?);
    }
    Ok(out)
}
