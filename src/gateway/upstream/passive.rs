//! Passive health (outlier detection): a target that fails `failures`
//! times within `window` is ejected for `cooldown`; then exactly one trial
//! request may go to it — success brings it back, failure ejects it again.
//! Lock-free: a few atomics updated by whichever worker sees the outcome.

use crate::config::PassiveSpec;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Milliseconds since the first call (a monotonic clock that fits an atomic).
pub fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    // +1 so that 0 can mean "never".
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

pub struct Passive {
    failures: u32,
    window_ms: u64,
    cooldown_ms: u64,
    count: AtomicU32,
    window_start: AtomicU64,
    /// 0: in service; else the time the cooldown ends.
    ejected_until: AtomicU64,
    /// The one trial request after a cooldown is in flight.
    trial: AtomicBool,
}

impl Passive {
    pub fn new(spec: &PassiveSpec) -> Self {
        Passive {
            failures: spec.failures,
            window_ms: spec.window.as_millis() as u64,
            cooldown_ms: spec.cooldown.as_millis() as u64,
            count: AtomicU32::new(0),
            window_start: AtomicU64::new(0),
            ejected_until: AtomicU64::new(0),
            trial: AtomicBool::new(false),
        }
    }

    pub fn ejected(&self) -> bool {
        self.ejected_until.load(Ordering::Relaxed) != 0
    }

    /// Could take a request now (without claiming the trial).
    pub fn admits(&self) -> bool {
        match self.ejected_until.load(Ordering::Relaxed) {
            0 => true,
            until => now_ms() >= until && !self.trial.load(Ordering::Relaxed),
        }
    }

    /// Some(is_trial) when the request may go; None when the trial was
    /// taken by another request meanwhile (or the cooldown is not over).
    pub fn claim(&self) -> Option<bool> {
        match self.ejected_until.load(Ordering::Relaxed) {
            0 => Some(false),
            until if now_ms() >= until => self
                .trial
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .ok()
                .map(|_| true),
            _ => None,
        }
    }

    /// A successful attempt. Some(false) when it ended an ejection.
    pub fn success(&self, trial: bool) -> Option<bool> {
        if trial {
            self.count.store(0, Ordering::Relaxed);
            self.ejected_until.store(0, Ordering::Relaxed);
            self.trial.store(false, Ordering::Release);
            return Some(false);
        }
        None
    }

    /// A failed attempt. Some(true) when it ejected the target.
    pub fn failure(&self, trial: bool) -> Option<bool> {
        let now = now_ms();
        if trial {
            self.ejected_until.store(now + self.cooldown_ms, Ordering::Relaxed);
            self.trial.store(false, Ordering::Release);
            return Some(true);
        }
        if self.ejected() {
            return None;
        }
        let start = self.window_start.load(Ordering::Relaxed);
        let n = if now.saturating_sub(start) > self.window_ms {
            self.window_start.store(now, Ordering::Relaxed);
            self.count.store(1, Ordering::Relaxed);
            1
        } else {
            self.count.fetch_add(1, Ordering::Relaxed) + 1
        };
        if n >= self.failures {
            self.count.store(0, Ordering::Relaxed);
            self.ejected_until.store(now + self.cooldown_ms, Ordering::Relaxed);
            return Some(true);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ejects_after_failures_in_window_then_admits_one_trial() {
        let p = Passive::new(&PassiveSpec {
            failures: 3,
            window: Duration::from_secs(10),
            cooldown: Duration::from_millis(50),
        });
        assert_eq!(p.failure(false), None);
        assert_eq!(p.failure(false), None);
        assert_eq!(p.failure(false), Some(true));
        assert!(!p.admits());
        assert_eq!(p.claim(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert!(p.admits());
        assert_eq!(p.claim(), Some(true));
        assert!(!p.admits(), "one trial at a time");
        assert_eq!(p.claim(), None);
        // The trial fails: ejected again for a cooldown.
        assert_eq!(p.failure(true), Some(true));
        assert!(!p.admits());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(p.claim(), Some(true));
        assert_eq!(p.success(true), Some(false));
        assert!(p.admits() && !p.ejected());
        assert_eq!(p.claim(), Some(false));
    }
}
