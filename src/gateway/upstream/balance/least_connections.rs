//! Least connections: the usable target with the fewest requests in
//! flight (across every worker) relative to its weight; ties go round the
//! pool so equal targets share the load.

use super::{usable, Balancer, Tried};
use crate::gateway::upstream::target::Target;
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Default)]
pub struct LeastConnections {
    next: thread_local::ThreadLocal<Cell<usize>>,
}

impl Balancer for LeastConnections {
    fn pick(&self, targets: &[Arc<Target>], tried: Tried, _key: Option<u64>) -> Option<usize> {
        let n = targets.len();
        let start = self.next.get_or_default();
        let first = start.get() % n;
        start.set(first + 1);
        let mut best: Option<(usize, u64)> = None;
        for k in 0..n {
            let i = (first + k) % n;
            let t = &targets[i];
            if !usable(t, i, tried) {
                continue;
            }
            // in_flight / weight, compared without division.
            let load = u64::from(t.in_flight.load(Ordering::Relaxed)) * 1000 / u64::from(t.weight.max(1));
            if best.is_none_or(|(_, l)| load < l) {
                best = Some((i, load));
            }
        }
        best.map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetSpec;

    #[test]
    fn picks_the_least_busy_and_rotates_ties() {
        let t: Vec<Arc<Target>> = (0..3)
            .map(|i| {
                Arc::new(
                    Target::new(
                        &Arc::from("t"),
                        &TargetSpec {
                            url: format!("http://10.0.1.{}:80", i + 1).parse().unwrap(),
                            weight: 1,
                        },
                        None,
                    )
                    .unwrap(),
                )
            })
            .collect();
        let lc = LeastConnections::default();
        t[0].in_flight.store(5, Ordering::Relaxed);
        t[2].in_flight.store(1, Ordering::Relaxed);
        assert_eq!(lc.pick(&t, Tried::default(), None), Some(1));
        t[1].in_flight.store(1, Ordering::Relaxed);
        let picks: Vec<_> = (0..4).map(|_| lc.pick(&t, Tried::default(), None).unwrap()).collect();
        assert!(
            picks.contains(&1) && picks.contains(&2) && !picks.contains(&0),
            "{picks:?}"
        );
    }
}
