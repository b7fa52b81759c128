//! GCRA (the generic cell rate algorithm, as in ATM networks and
//! Redis-cell): per key one number, the theoretical arrival time (TAT) of
//! the next request. A request at `now` is allowed when `TAT - now <=
//! tolerance`, and then moves TAT on by one emission interval. Exact, O(1)
//! and allocation-free per request: keys are 64-bit keyed hashes, so a
//! 64 KiB key header costs one hash and no memory.
//!
//! State is bounded: each shard holds at most `MAX_KEYS / SHARDS` keys;
//! a full shard first forgets keys whose budget is whole again (those are
//! indistinguishable from new keys), and if all are live it starts over
//! (a flood of distinct keys can then reset others' budgets — logged and
//! counted — rather than grow without bound).

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::time::Instant;

const SHARDS: usize = 16;
const MAX_KEYS: usize = 1 << 20;

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests still allowed back to back after this one.
    pub remaining: u64,
    /// Nanoseconds until the whole budget is available again.
    pub reset_ns: u64,
    /// Refused: nanoseconds until one request would be allowed.
    pub retry_ns: u64,
}

/// A budget: `burst` requests at once, refilled at one per `interval_ns`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub interval_ns: u64,
    pub tolerance_ns: u64,
    pub burst: u64,
}

impl Budget {
    /// `requests` per `per`, `burst` back to back.
    pub fn new(requests: u64, per: std::time::Duration, burst: u64) -> Budget {
        let interval_ns = (per.as_nanos() / u128::from(requests.max(1))).max(1) as u64;
        Budget {
            interval_ns,
            tolerance_ns: interval_ns.saturating_mul(burst.max(1) - 1),
            burst: burst.max(1),
        }
    }
}

/// The keys are hashes already: hashing them again is waste.
#[derive(Default)]
struct Identity(u64);
impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = HashMap<u64, u64, BuildHasherDefault<Identity>>;

pub struct Local {
    shards: Vec<Mutex<Shard>>,
    /// Keyed (random per process), so nobody can aim keys at one slot.
    hasher: std::collections::hash_map::RandomState,
    epoch: Instant,
}

impl Default for Local {
    fn default() -> Self {
        Local {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            epoch: Instant::now(),
        }
    }
}

impl Local {
    pub fn key(&self, text: &[u8]) -> u64 {
        self.hasher.hash_one(text)
    }

    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub fn check(&self, key: u64, budget: &Budget, now: u64) -> Decision {
        let shard = &self.shards[(key >> 59) as usize % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS / SHARDS && !map.contains_key(&key) {
            map.retain(|_, tat| *tat > now);
            if map.len() >= MAX_KEYS / SHARDS {
                tracing::warn!(
                    keys = map.len(),
                    "rate limit: too many live keys in one shard; forgetting them"
                );
                crate::ops::metrics::rate_limit_reset();
                map.clear();
            }
        }
        let tat = map.get(&key).copied().unwrap_or(now).max(now);
        decide(tat, now, budget, |new_tat| {
            map.insert(key, new_tat);
        })
    }
}

/// GCRA's decision for a key whose TAT is `tat` (≥ now); `store` is called
/// with the new TAT when the request is allowed.
pub fn decide(tat: u64, now: u64, b: &Budget, store: impl FnOnce(u64)) -> Decision {
    let ahead = tat - now;
    if ahead > b.tolerance_ns {
        return Decision {
            allowed: false,
            remaining: 0,
            reset_ns: ahead,
            retry_ns: ahead - b.tolerance_ns,
        };
    }
    let new_tat = tat + b.interval_ns;
    store(new_tat);
    let ahead = new_tat - now;
    Decision {
        allowed: true,
        remaining: (b.tolerance_ns.saturating_sub(ahead - b.interval_ns)) / b.interval_ns,
        reset_ns: ahead,
        retry_ns: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_back_to_back_then_one_per_interval() {
        let l = Local::default();
        let b = Budget::new(10, Duration::from_secs(10), 10);
        let k = l.key(b"client-a");
        let t0 = 1_000_000_000;
        let mut remaining = Vec::new();
        for _ in 0..10 {
            let d = l.check(k, &b, t0);
            assert!(d.allowed);
            remaining.push(d.remaining);
        }
        assert_eq!(remaining, vec![9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        let d = l.check(k, &b, t0);
        assert!(!d.allowed);
        assert_eq!(d.retry_ns, 1_000_000_000, "one interval until the next");
        assert_eq!(d.reset_ns, 10_000_000_000);
        // Half an interval later: still no; a whole one: exactly one more.
        assert!(!l.check(k, &b, t0 + 500_000_000).allowed);
        assert!(l.check(k, &b, t0 + 1_000_000_000).allowed);
        assert!(!l.check(k, &b, t0 + 1_000_000_000).allowed);
        // Another key has its own budget.
        assert!(l.check(l.key(b"client-b"), &b, t0).allowed);
        // After the whole period, the whole burst again.
        let later = t0 + 11_000_000_000;
        assert_eq!((0..12).filter(|_| l.check(k, &b, later).allowed).count(), 10);
    }

    #[test]
    fn a_smaller_burst_spreads_the_budget() {
        let l = Local::default();
        let b = Budget::new(60, Duration::from_secs(60), 1);
        let k = l.key(b"x");
        assert!(l.check(k, &b, 0).allowed);
        assert!(!l.check(k, &b, 0).allowed);
        assert!(l.check(k, &b, 1_000_000_000).allowed);
    }

    #[test]
    fn state_stays_bounded_under_a_flood_of_keys() {
        let l = Local::default();
        let b = Budget::new(1, Duration::from_secs(3600), 1);
        for i in 0..(MAX_KEYS as u64 + 50_000) {
            l.check(l.key(&i.to_le_bytes()), &b, 5);
        }
        let total: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= MAX_KEYS, "{total}");
    }
}
