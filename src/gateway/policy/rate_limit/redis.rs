//! Shared rate-limit windows in Redis (`rate_limit_store =
//! "redis://host:6379[/db]"`): per key and window one hash, a field per
//! instance holding its count, expiring with the window it weighs on. A
//! sync is one pipeline: every changed count written (`HSET` +
//! `PEXPIREAT`), every wanted window read (`HGETALL`), one round trip.
//! No script, so any Redis-protocol server (Valkey, KeyDB, Dragonfly)
//! serves; nothing here blocks a request.

use super::shared::CountSync;
use crate::store::{InstanceCount, WindowCount};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Mutex;

/// Redis keys carry this prefix, so the database may hold other data.
const PREFIX: &str = "gatehouse:rl:";

pub struct RedisSync {
    client: redis::Client,
    /// Connected on first use (Redis may be down at start: the limits fall
    /// back meanwhile, the gateway still starts); the manager reconnects.
    conn: Mutex<Option<ConnectionManager>>,
    timeout: Duration,
}

impl RedisSync {
    /// Checks the URL only; connects on the first sync.
    pub fn new(url: &str, timeout: Duration) -> Result<RedisSync, String> {
        let client = redis::Client::open(url).map_err(|e| format!("rate_limit_store {url:?}: {e}"))?;
        Ok(RedisSync {
            client,
            conn: Mutex::new(None),
            timeout,
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, String> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let c = ConnectionManager::new_with_config(self.client.clone(), cfg)
            .await
            .map_err(|e| e.to_string())?;
        *slot = Some(c.clone());
        Ok(c)
    }
}

fn redis_key(key: &str, window: i64) -> String {
    format!("{PREFIX}{key}:{window}")
}

#[async_trait]
impl CountSync for RedisSync {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn sync(
        &self,
        instance: &str,
        write: &[WindowCount],
        read: &[(String, i64)],
    ) -> Result<Vec<InstanceCount>, String> {
        let mut conn = self.connection().await?;
        let mut p = redis::pipe();
        for w in write {
            let k = redis_key(&w.key, w.window);
            p.cmd("HSET").arg(&k).arg(instance).arg(w.count).ignore();
            p.cmd("PEXPIREAT")
                .arg(&k)
                .arg(w.expires_at.saturating_mul(1000))
                .ignore();
        }
        for (key, window) in read {
            p.cmd("HGETALL").arg(redis_key(key, *window));
        }
        let answers: Vec<HashMap<String, i64>> = p.query_async(&mut conn).await.map_err(|e| e.to_string())?;
        if answers.len() != read.len() {
            return Err(format!("{} answers to {} reads", answers.len(), read.len()));
        }
        Ok(read
            .iter()
            .zip(answers)
            .flat_map(|((key, window), fields)| {
                fields.into_iter().map(move |(instance, count)| InstanceCount {
                    key: key.clone(),
                    window: *window,
                    instance,
                    count,
                })
            })
            .collect())
    }
}
