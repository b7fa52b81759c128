//! Load balancers: one file each behind one trait. A balancer picks among
//! a pool's available targets, skipping those a retry already tried.

mod consistent_hash;
mod least_connections;
mod round_robin;

pub use consistent_hash::{key_hash, ConsistentHash};
pub use least_connections::LeastConnections;
pub use round_robin::RoundRobin;

use super::target::Target;
use crate::config::Balance;
use std::sync::Arc;

pub trait Balancer: Send + Sync {
    /// The index of the target to try, among those that are `available`
    /// and not in `tried`; None when there is none. `key`: the request's
    /// hash key (consistent hashing only).
    fn pick(&self, targets: &[Arc<Target>], tried: Tried, key: Option<u64>) -> Option<usize>;
}

/// Targets a request already tried (a bit set: pools have at most 256
/// targets, retries at most 10, so a small list of indices).
#[derive(Clone, Copy, Default)]
pub struct Tried {
    ids: [u16; 12],
    n: u8,
}

impl Tried {
    pub fn add(&mut self, i: usize) {
        if (self.n as usize) < self.ids.len() {
            self.ids[self.n as usize] = i as u16;
            self.n += 1;
        }
    }

    pub fn contains(&self, i: usize) -> bool {
        self.ids[..self.n as usize].contains(&(i as u16))
    }
}

/// Usable for this request: available and not tried yet.
pub fn usable(t: &Target, i: usize, tried: Tried) -> bool {
    !tried.contains(i) && t.available()
}

pub fn build(balance: &Balance, targets: &[Arc<Target>]) -> Box<dyn Balancer> {
    match balance {
        Balance::RoundRobin => Box::new(RoundRobin::new(targets)),
        Balance::LeastConnections => Box::new(LeastConnections::default()),
        Balance::ConsistentHash(_) => Box::new(ConsistentHash::new(targets)),
    }
}
