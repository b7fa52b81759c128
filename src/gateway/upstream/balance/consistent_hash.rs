//! Consistent hashing (a ketama-style ring): every target owns points on
//! a ring in proportion to its weight, a request goes to the owner of the
//! first point at or after its key's hash, and an unavailable (or already
//! tried) owner passes the request on round the ring. A target joining or
//! leaving moves only the keys of its own points, about 1/N of them.

use super::{usable, Balancer, Tried};
use crate::gateway::upstream::target::Target;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Ring points per unit of weight, and the ring's largest size.
const POINTS_PER_WEIGHT: u64 = 100;
const MAX_POINTS: u64 = 1 << 16;

/// The hash of a request's key. SipHash with fixed keys: the same key
/// lands on the same target in every instance running this build.
pub fn key_hash(key: &[u8]) -> u64 {
    #[allow(deprecated)] // SipHasher's fixed keys are exactly the point here.
    let mut h = std::hash::SipHasher::new();
    key.hash(&mut h);
    h.finish()
}

pub struct ConsistentHash {
    /// (point, target index), sorted by point.
    ring: Vec<(u64, u16)>,
}

impl ConsistentHash {
    pub fn new(targets: &[Arc<Target>]) -> Self {
        Self::from_urls(targets.iter().map(|t| (&*t.url, t.weight)))
    }

    fn from_urls<'a>(targets: impl Iterator<Item = (&'a str, u32)> + Clone) -> Self {
        let total: u64 = targets.clone().map(|(_, w)| u64::from(w) * POINTS_PER_WEIGHT).sum();
        let scale = (MAX_POINTS as f64 / total.max(1) as f64).min(1.0);
        let mut ring = Vec::new();
        for (i, (url, w)) in targets.enumerate() {
            let points = ((u64::from(w) * POINTS_PER_WEIGHT) as f64 * scale).max(1.0) as u64;
            for p in 0..points {
                // Points depend on the target's own URL only, so the others'
                // points stay where they are when one joins or leaves.
                ring.push((key_hash(format!("{url}#{p}").as_bytes()), i as u16));
            }
        }
        ring.sort_unstable();
        ConsistentHash { ring }
    }

    fn owner_walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.ring.partition_point(|(p, _)| *p < key);
        (0..self.ring.len()).map(move |k| self.ring[(start + k) % self.ring.len()].1 as usize)
    }
}

impl Balancer for ConsistentHash {
    fn pick(&self, targets: &[Arc<Target>], tried: Tried, key: Option<u64>) -> Option<usize> {
        // No key (no such header or cookie): spread by a random point.
        let key = key.unwrap_or_else(rand::random);
        let mut seen = 0usize;
        let mut last = usize::MAX;
        for i in self.owner_walk(key) {
            if i == last {
                continue;
            }
            last = i;
            if usable(&targets[i], i, tried) {
                return Some(i);
            }
            seen += 1;
            if seen > targets.len() * 4 {
                break;
            }
        }
        // Walk the targets in order as a last resort (a ring dominated by
        // unavailable points).
        (0..targets.len()).find(|&i| usable(&targets[i], i, tried))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(r: &ConsistentHash, key: u64) -> usize {
        r.owner_walk(key).next().unwrap()
    }

    #[test]
    fn keys_spread_and_few_move_when_a_target_joins() {
        let urls3 = ["http://a:1", "http://b:1", "http://c:1"];
        let urls4 = ["http://a:1", "http://b:1", "http://c:1", "http://d:1"];
        let r3 = ConsistentHash::from_urls(urls3.iter().map(|u| (*u, 1)));
        let r4 = ConsistentHash::from_urls(urls4.iter().map(|u| (*u, 1)));
        let keys: Vec<u64> = (0..20_000).map(|i| key_hash(format!("user-{i}").as_bytes())).collect();
        let mut counts = [0usize; 3];
        let mut moved = 0;
        for k in &keys {
            let a = owner(&r3, *k);
            counts[a] += 1;
            let b = owner(&r4, *k);
            if a != b {
                moved += 1;
                assert_eq!(b, 3, "a key moved between two old targets");
            }
        }
        for c in counts {
            let share = c as f64 / keys.len() as f64;
            assert!((0.28..0.39).contains(&share), "uneven spread {counts:?}");
        }
        let moved = moved as f64 / keys.len() as f64;
        assert!((0.17..0.33).contains(&moved), "{moved} of the keys moved (ideal 0.25)");
    }

    #[test]
    fn weights_shape_the_ring() {
        let r = ConsistentHash::from_urls([("http://a:1", 1), ("http://b:1", 3)].into_iter());
        let n = 20_000;
        let b = (0..n)
            .filter(|i| owner(&r, key_hash(format!("k{i}").as_bytes())) == 1)
            .count() as f64
            / n as f64;
        assert!((0.68..0.82).contains(&b), "{b}");
    }
}
