//! Failed-attempt throttling for password checks (the password grant and
//! the login page): per user and per client IP, so neither one account nor
//! one address can be brute-forced. The counters live in the store, so
//! every instance sharing it counts the same attempts.

use crate::store::{self, DynStore, StoreError};
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_user: u32,
    pub per_ip: u32,
    /// Failures count within this window; a locked key stays locked this long.
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_user: 5,
            per_ip: 20,
            window: Duration::from_secs(300),
        }
    }
}

pub struct Throttle {
    limits: Limits,
    store: DynStore,
}

fn user_key(user: &str) -> String {
    format!("u:{user}")
}

fn ip_key(ip: IpAddr) -> String {
    format!("i:{ip}")
}

impl Throttle {
    pub fn new(limits: Limits, store: DynStore) -> Self {
        Throttle { limits, store }
    }

    /// Some(seconds to wait) when either the user or the IP is locked.
    pub async fn check(&self, user: &str, ip: IpAddr) -> Result<Option<u64>, StoreError> {
        let now = store::now();
        let mut wait = None;
        for (key, limit) in [(user_key(user), self.limits.per_user), (ip_key(ip), self.limits.per_ip)] {
            if let Some(f) = self.store.get_failures(&key, now).await? {
                if f.count >= limit {
                    let w = u64::try_from(f.until - now).unwrap_or(0).max(1);
                    wait = Some(wait.map_or(w, |x: u64| x.max(w)));
                }
            }
        }
        Ok(wait)
    }

    pub async fn failure(&self, user: &str, ip: IpAddr) -> Result<(), StoreError> {
        let (now, window) = (store::now(), self.limits.window.as_secs() as i64);
        self.store.add_failure(&user_key(user), now, window).await?;
        self.store.add_failure(&ip_key(ip), now, window).await?;
        Ok(())
    }

    /// A success clears the user's count (not the IP's: one good password
    /// must not reset an address that is guessing at many accounts).
    pub async fn success(&self, user: &str) -> Result<(), StoreError> {
        self.store.clear_failures(&user_key(user)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;

    fn throttle(per_user: u32, per_ip: u32) -> Throttle {
        let limits = Limits {
            per_user,
            per_ip,
            window: Duration::from_secs(60),
        };
        Throttle::new(limits, Arc::new(MemoryStore::default()))
    }

    #[tokio::test]
    async fn locks_a_user_after_the_limit_and_unlocks_on_success() {
        let t = throttle(3, 100);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..2 {
            t.failure("alice", ip).await.unwrap();
        }
        assert_eq!(t.check("alice", ip).await.unwrap(), None);
        t.failure("alice", ip).await.unwrap();
        assert!(t.check("alice", ip).await.unwrap().unwrap() > 0);
        assert_eq!(
            t.check("bob", ip).await.unwrap(),
            None,
            "another user from the same IP is not locked yet"
        );
        t.success("alice").await.unwrap();
        assert_eq!(t.check("alice", ip).await.unwrap(), None);
    }

    #[tokio::test]
    async fn locks_an_ip_that_sprays_many_users() {
        let t = throttle(100, 4);
        let ip: IpAddr = "10.1.1.1".parse().unwrap();
        for u in ["a", "b", "c", "d"] {
            t.failure(u, ip).await.unwrap();
        }
        assert!(t.check("zed", ip).await.unwrap().is_some());
        assert_eq!(t.check("zed", "10.1.1.2".parse().unwrap()).await.unwrap(), None);
    }
}
