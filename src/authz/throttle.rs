//! Failed-attempt throttling for password checks (the password grant and
//! the login page): per user and per client IP, so neither one account nor
//! one address can be brute-forced. Bounded memory (moka).

use moka::sync::Cache;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

#[derive(Debug)]
struct Window {
    failures: u32,
    last: Instant,
}

pub struct Throttle {
    limits: Limits,
    windows: Cache<String, Arc<Mutex<Window>>>,
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        Throttle {
            limits,
            windows: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(limits.window)
                .build(),
        }
    }

    fn keys(user: &str, ip: IpAddr) -> [(String, bool); 2] {
        [(format!("u:{user}"), true), (format!("i:{ip}"), false)]
    }

    /// Some(seconds to wait) when either the user or the IP is locked.
    pub fn check(&self, user: &str, ip: IpAddr) -> Option<u64> {
        Self::keys(user, ip)
            .iter()
            .filter_map(|(k, is_user)| self.locked_for(k, *is_user))
            .max()
    }

    fn locked_for(&self, key: &str, is_user: bool) -> Option<u64> {
        let w = self.windows.get(key)?;
        let w = w.lock().ok()?;
        let limit = if is_user {
            self.limits.per_user
        } else {
            self.limits.per_ip
        };
        let elapsed = w.last.elapsed();
        (w.failures >= limit && elapsed < self.limits.window).then(|| (self.limits.window - elapsed).as_secs().max(1))
    }

    pub fn failure(&self, user: &str, ip: IpAddr) {
        for (k, _) in Self::keys(user, ip) {
            let w = self.windows.get_with(k, || {
                Arc::new(Mutex::new(Window {
                    failures: 0,
                    last: Instant::now(),
                }))
            });
            if let Ok(mut w) = w.lock() {
                if w.last.elapsed() >= self.limits.window {
                    w.failures = 0;
                }
                w.failures += 1;
                w.last = Instant::now();
            };
        }
    }

    /// A success clears the user's count (not the IP's: one good password
    /// must not reset an address that is guessing at many accounts).
    pub fn success(&self, user: &str) {
        self.windows.invalidate(&format!("u:{user}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_a_user_after_the_limit_and_unlocks_on_success() {
        let t = Throttle::new(Limits {
            per_user: 3,
            per_ip: 100,
            window: Duration::from_secs(60),
        });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..2 {
            t.failure("alice", ip);
        }
        assert_eq!(t.check("alice", ip), None);
        t.failure("alice", ip);
        assert!(t.check("alice", ip).unwrap() > 0);
        assert_eq!(
            t.check("bob", ip),
            None,
            "another user from the same IP is not locked yet"
        );
        t.success("alice");
        assert_eq!(t.check("alice", ip), None);
    }

    #[test]
    fn locks_an_ip_that_sprays_many_users() {
        let t = Throttle::new(Limits {
            per_user: 100,
            per_ip: 4,
            window: Duration::from_secs(60),
        });
        let ip: IpAddr = "10.1.1.1".parse().unwrap();
        for u in ["a", "b", "c", "d"] {
            t.failure(u, ip);
        }
        assert!(t.check("zed", ip).is_some());
        assert_eq!(t.check("zed", "10.1.1.2".parse().unwrap()), None);
    }
}
