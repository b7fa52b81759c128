//! Weighted round robin, the smooth kind nginx uses (no bursts to the
//! heaviest target): every pick adds each target's weight to its current
//! score, takes the highest, and lowers it by the total. Each worker keeps
//! its own scores, so a pick shares no memory between threads; each
//! worker's sequence is proportional, so the sum is too.

use super::{usable, Balancer, Tried};
use crate::gateway::upstream::target::Target;
use std::cell::RefCell;
use std::sync::Arc;

pub struct RoundRobin {
    scores: thread_local::ThreadLocal<RefCell<Vec<i64>>>,
    n: usize,
}

impl RoundRobin {
    pub fn new(targets: &[Arc<Target>]) -> Self {
        RoundRobin {
            scores: thread_local::ThreadLocal::new(),
            n: targets.len(),
        }
    }
}

impl Balancer for RoundRobin {
    fn pick(&self, targets: &[Arc<Target>], tried: Tried, _key: Option<u64>) -> Option<usize> {
        if targets.len() == 1 {
            return usable(&targets[0], 0, tried).then_some(0);
        }
        let mut scores = self.scores.get_or(|| RefCell::new(vec![0; self.n])).borrow_mut();
        let (mut best, mut total) = (None::<usize>, 0i64);
        for (i, t) in targets.iter().enumerate() {
            if !usable(t, i, tried) {
                continue;
            }
            let w = i64::from(t.weight);
            scores[i] += w;
            total += w;
            if best.is_none_or(|b| scores[i] > scores[b]) {
                best = Some(i);
            }
        }
        let b = best?;
        scores[b] -= total;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetSpec;

    pub fn targets(weights: &[u32]) -> Vec<Arc<Target>> {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                Arc::new(
                    Target::new(
                        &Arc::from("t"),
                        &TargetSpec {
                            url: format!("http://10.0.0.{}:80", i + 1).parse().unwrap(),
                            weight: *w,
                        },
                        None,
                    )
                    .unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn weights_are_honoured_smoothly() {
        let t = targets(&[1, 2, 1]);
        let rr = RoundRobin::new(&t);
        let picks: Vec<usize> = (0..8).map(|_| rr.pick(&t, Tried::default(), None).unwrap()).collect();
        assert_eq!(picks.iter().filter(|&&p| p == 1).count(), 4);
        assert_eq!(picks.iter().filter(|&&p| p == 0).count(), 2);
        // Smooth: the heavy target never gets three in a row.
        assert!(!picks.windows(3).any(|w| w.iter().all(|&p| p == 1)), "{picks:?}");
        let mut tried = Tried::default();
        tried.add(1);
        for _ in 0..4 {
            assert_ne!(rr.pick(&t, tried, None), Some(1));
        }
    }
}
