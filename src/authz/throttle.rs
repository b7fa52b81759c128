//! Failed-attempt throttling for secret checks: passwords (the password
//! grant, the login page, the admin console) and client secrets (every
//! endpoint that authenticates clients). Failures count per account and
//! address together, per account and per address, so one address cannot
//! guess at an account, nor lock it out for everyone else (its own pair
//! locks long before the account's higher bound), nor spray many accounts.
//! The counters live in the store, so every instance sharing it counts the
//! same attempts.

use crate::config::ThrottleLimits;
use crate::store::{self, DynStore, StoreError};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Duration;

/// A locked answer's wait (seconds), for `Retry-After`.
pub type Wait = u64;

pub struct Throttle {
    /// Keeps one throttle's counters apart from another's in the store.
    prefix: &'static str,
    limits: ThrottleLimits,
    window: Duration,
    store: DynStore,
    /// Counts read from the store, reused for `stale`: client
    /// authentication happens on every token request, and three store reads
    /// per request would cost more than the rest of a JWT issuance. A count
    /// this instance changed is dropped at once, so only failures recorded
    /// by other instances are seen up to `stale` late (and each of those
    /// instances counts its own at once: an attacker spreading guesses
    /// gains at most one per instance). None: always ask the store.
    seen: Option<moka::sync::Cache<String, u32>>,
}

/// An account name as a key: long ones (a client id of kilobytes) by their
/// digest, so an attacker cannot fill the store with big keys.
fn account(name: &str) -> Cow<'_, str> {
    if name.len() <= 128 {
        Cow::Borrowed(name)
    } else {
        let d = Sha256::digest(name.as_bytes());
        Cow::Owned(d.iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl Throttle {
    /// `prefix` "" keeps the password throttle's keys as they were
    /// (`u:alice`, `i:10.0.0.1`).
    pub fn new(prefix: &'static str, limits: ThrottleLimits, window: Duration, store: DynStore) -> Self {
        Throttle {
            prefix,
            limits,
            window,
            store,
            seen: None,
        }
    }

    /// Reuses counts read from the store for up to `stale` (see `seen`).
    pub fn cached(mut self, stale: Duration, entries: u64) -> Self {
        self.seen = Some(
            moka::sync::Cache::builder()
                .max_capacity(entries)
                .time_to_live(stale)
                .build(),
        );
        self
    }

    fn keys(&self, name: &str, ip: IpAddr) -> [(String, u32); 3] {
        let (p, a) = (self.prefix, account(name));
        [
            (format!("{p}ua:{a}|{ip}"), self.limits.per_account_address),
            (format!("{p}u:{a}"), self.limits.per_account),
            (format!("{p}i:{ip}"), self.limits.per_address),
        ]
    }

    /// Some(seconds to wait) when the account from this address, the
    /// account or the address is locked.
    pub async fn check(&self, name: &str, ip: IpAddr) -> Result<Option<Wait>, StoreError> {
        let now = store::now();
        let mut wait = None;
        for (key, limit) in self.keys(name, ip) {
            if self.seen.as_ref().and_then(|s| s.get(&key)).is_some_and(|c| c < limit) {
                continue;
            }
            let f = self.store.get_failures(&key, now).await?;
            match f {
                Some(f) if f.count >= limit => {
                    let w = u64::try_from(f.until - now).unwrap_or(0).max(1);
                    wait = Some(wait.map_or(w, |x: u64| x.max(w)));
                }
                // Locked answers are never cached: the wait must be exact.
                f => {
                    if let Some(s) = &self.seen {
                        s.insert(key, f.map_or(0, |f| f.count));
                    }
                }
            }
        }
        Ok(wait)
    }

    pub async fn failure(&self, name: &str, ip: IpAddr) -> Result<(), StoreError> {
        let (now, window) = (store::now(), self.window.as_secs() as i64);
        for (key, _) in self.keys(name, ip) {
            self.store.add_failure(&key, now, window).await?;
            if let Some(s) = &self.seen {
                s.invalidate(&key);
            }
        }
        Ok(())
    }

    /// A success clears the account's counts from this address and overall
    /// (not the address's: one good password must not reset an address
    /// that is guessing at many accounts). With a cache, only counts known
    /// to be nonzero are cleared, so a success costs no store write.
    pub async fn success(&self, name: &str, ip: IpAddr) -> Result<(), StoreError> {
        for (key, _) in self.keys(name, ip).into_iter().take(2) {
            if let Some(s) = &self.seen {
                if s.get(&key) == Some(0) {
                    continue;
                }
                s.invalidate(&key);
            }
            self.store.clear_failures(&key).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;

    fn throttle(per_account_address: u32, per_account: u32, per_address: u32) -> Throttle {
        let limits = ThrottleLimits {
            per_account_address,
            per_account,
            per_address,
        };
        Throttle::new("", limits, Duration::from_secs(60), Arc::new(MemoryStore::default()))
    }

    #[tokio::test]
    async fn locks_a_user_after_the_limit_and_unlocks_on_success() {
        let t = throttle(3, 100, 100);
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
        t.success("alice", ip).await.unwrap();
        assert_eq!(t.check("alice", ip).await.unwrap(), None);
    }

    #[tokio::test]
    async fn locks_an_ip_that_sprays_many_users() {
        let t = throttle(100, 100, 4);
        let ip: IpAddr = "10.1.1.1".parse().unwrap();
        for u in ["a", "b", "c", "d"] {
            t.failure(u, ip).await.unwrap();
        }
        assert!(t.check("zed", ip).await.unwrap().is_some());
        assert_eq!(t.check("zed", "10.1.1.2".parse().unwrap()).await.unwrap(), None);
    }

    /// Issue 24 (11): one address guessing does not lock the account for
    /// another address; many addresses together still reach its bound.
    #[tokio::test]
    async fn one_address_cannot_lock_an_account_for_the_others() {
        let t = throttle(3, 7, 100);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            t.failure("admin", a).await.unwrap();
        }
        assert!(t.check("admin", a).await.unwrap().is_some());
        assert_eq!(t.check("admin", b).await.unwrap(), None);
        for i in 0..4u8 {
            t.failure("admin", IpAddr::from([10, 0, 1, i])).await.unwrap();
        }
        assert!(
            t.check("admin", b).await.unwrap().is_some(),
            "7 failures from 5 addresses lock it"
        );
    }

    /// A cached "not locked" is dropped by this instance's own failures.
    #[tokio::test]
    async fn a_cached_count_is_dropped_by_a_failure() {
        let t = throttle(2, 100, 100).cached(Duration::from_secs(60), 100);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(t.check("c", ip).await.unwrap(), None);
        t.failure("c", ip).await.unwrap();
        assert_eq!(t.check("c", ip).await.unwrap(), None);
        t.failure("c", ip).await.unwrap();
        assert!(t.check("c", ip).await.unwrap().is_some());
        let long = "x".repeat(5000);
        t.failure(&long, ip).await.unwrap();
        assert!(t.keys(&long, ip)[1].0.len() < 100);
    }
}
