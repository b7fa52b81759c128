//! Single-flight loading: callers that miss a cache for the same key at the
//! same time wait for one load instead of each doing it. A cached client
//! expires every `revocation_staleness` (5 s by default); under load every
//! request in flight for that client misses at once, and without this each
//! of them would read the store (64 identical reads on 64 connections).
//!
//! Each key in flight has one `OnceCell`: the first caller runs the load,
//! the others await the same cell. A load that fails or is cancelled (its
//! request went away) leaves the cell empty, so the next waiter runs its
//! own; the entry leaves the map when its last caller is done, whichever
//! way, so unknown keys cannot pile up.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::OnceCell;

/// A key's flight: the cell its load fills, and how many callers await it.
type Flight<V> = (Arc<OnceCell<V>>, usize);

pub struct Flights<K, V> {
    inflight: Mutex<HashMap<K, Flight<V>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> Default for Flights<K, V> {
    fn default() -> Self {
        Flights {
            inflight: Mutex::new(HashMap::new()),
        }
    }
}

/// One caller's membership of a flight; leaving drops the entry with the
/// last caller (also when the caller's future is dropped mid-load).
struct Member<'a, K: Hash + Eq + Clone, V> {
    flights: &'a Flights<K, V>,
    key: &'a K,
}

impl<K: Hash + Eq + Clone, V> Drop for Member<'_, K, V> {
    fn drop(&mut self) {
        let mut m = self.flights.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, callers)) = m.get_mut(self.key) {
            *callers -= 1;
            if *callers == 0 {
                m.remove(self.key);
            }
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Flights<K, V> {
    /// The value of `load` for `key`, run once for all callers that ask
    /// while it runs.
    pub async fn load<E, F, Fut>(&self, key: &K, load: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = {
            let mut m = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            let e = m.entry(key.clone()).or_insert_with(|| (Arc::new(OnceCell::new()), 0));
            e.1 += 1;
            e.0.clone()
        };
        let _member = Member { flights: self, key };
        cell.get_or_try_init(load).await.cloned()
    }

    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.inflight.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn callers_that_miss_together_share_one_load() {
        let flights: Arc<Flights<String, u32>> = Arc::default();
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (f, n) = (flights.clone(), loads.clone());
            tasks.push(tokio::spawn(async move {
                f.load(&"bench".to_string(), || async {
                    n.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, ()>(7)
                })
                .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(7));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(flights.in_flight(), 0, "the entry leaves with its last caller");
        // A later miss loads again (the cache in front decides what is fresh).
        assert_eq!(
            flights.load(&"bench".to_string(), || async { Ok::<_, ()>(8) }).await,
            Ok(8)
        );
    }

    #[tokio::test]
    async fn a_failed_or_cancelled_load_leaves_the_next_caller_its_own() {
        let flights: Flights<u8, u32> = Flights::default();
        assert_eq!(
            flights.load(&1, || async { Err::<u32, _>("store down") }).await,
            Err("store down")
        );
        assert_eq!(flights.load(&1, || async { Ok::<_, &str>(2) }).await, Ok(2));
        // Cancelled mid-load: nothing stays behind.
        let slow = flights.load(&3, || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, ()>(0)
        });
        assert!(tokio::time::timeout(Duration::from_millis(10), slow).await.is_err());
        assert_eq!(flights.in_flight(), 0);
        assert_eq!(flights.load(&3, || async { Ok::<_, ()>(4) }).await, Ok(4));
    }
}
