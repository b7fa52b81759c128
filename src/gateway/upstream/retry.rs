//! When an attempt may be made again on another target, and how many
//! retries a pool may spend (a budget, as Finagle and Envoy keep one, so a
//! failing pool cannot multiply the load on it).
//!
//! - A connection that could not be made carried nothing: always retried.
//! - A request written to a target is retried only when replaying it
//!   cannot do harm twice: an idempotent method (RFC 9110 §9.2.2) with no
//!   body (a streamed body cannot be sent again), after a 502/503/504, a
//!   timeout, or a connection that broke before any answer. A POST that
//!   reached a target is never replayed.

use http::Method;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

pub fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// A 502, 503 or 504 answer: the target could not serve it.
pub fn retryable_status(s: http::StatusCode) -> bool {
    matches!(s.as_u16(), 502..=504)
}

/// Retries earned by traffic: every request adds a fifth of a retry (so
/// retries stay under ~20 % of requests), time adds ten per second (so a
/// quiet pool can still retry), and each retry spends one. In thousandths.
pub struct Budget {
    tokens: AtomicI64,
    refilled_at: AtomicU64,
}

const PER_REQUEST: i64 = 200;
const PER_RETRY: i64 = 1000;
const PER_SECOND: i64 = 10 * PER_RETRY;
const CAP: i64 = 100 * PER_RETRY;

impl Default for Budget {
    fn default() -> Self {
        Budget {
            tokens: AtomicI64::new(10 * PER_RETRY),
            refilled_at: AtomicU64::new(super::passive::now_ms()),
        }
    }
}

impl Budget {
    pub fn deposit(&self) {
        if self.tokens.load(Ordering::Relaxed) < CAP {
            self.tokens.fetch_add(PER_REQUEST, Ordering::Relaxed);
        }
    }

    /// Spends one retry; false when the budget is empty.
    pub fn withdraw(&self) -> bool {
        let now = super::passive::now_ms();
        let last = self.refilled_at.load(Ordering::Relaxed);
        if now > last + 200
            && self
                .refilled_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let add = (now - last) as i64 * PER_SECOND / 1000;
            let t = self.tokens.load(Ordering::Relaxed);
            self.tokens.fetch_add(add.min((CAP - t).max(0)), Ordering::Relaxed);
        }
        if self.tokens.fetch_sub(PER_RETRY, Ordering::Relaxed) >= PER_RETRY {
            true
        } else {
            self.tokens.fetch_add(PER_RETRY, Ordering::Relaxed);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_runs_out_and_traffic_refills_it() {
        let b = Budget::default();
        let mut granted = 0;
        for _ in 0..1000 {
            if b.withdraw() {
                granted += 1;
            }
        }
        assert!((10..=12).contains(&granted), "{granted}");
        for _ in 0..50 {
            b.deposit();
        }
        assert!(b.withdraw(), "50 requests earn 10 retries");
        assert!(idempotent(&Method::GET) && !idempotent(&Method::POST) && !idempotent(&Method::PATCH));
    }
}
