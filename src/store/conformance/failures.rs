//! Failure counters (login throttling).

use crate::store::{DynStore, Failures};

pub async fn count_within_a_window(s: DynStore) {
    assert_eq!(s.get_failures("u:alice", 100).await.unwrap(), None);
    assert_eq!(
        s.add_failure("u:alice", 100, 60).await.unwrap(),
        Failures { count: 1, until: 160 }
    );
    assert_eq!(
        s.add_failure("u:alice", 110, 60).await.unwrap(),
        Failures { count: 2, until: 170 }
    );
    assert_eq!(
        s.get_failures("u:alice", 169).await.unwrap(),
        Some(Failures { count: 2, until: 170 })
    );
    assert_eq!(s.get_failures("u:alice", 170).await.unwrap(), None);
    // After the window a failure starts a new count.
    assert_eq!(
        s.add_failure("u:alice", 171, 60).await.unwrap(),
        Failures { count: 1, until: 231 }
    );
    s.add_failure("i:10.0.0.1", 171, 60).await.unwrap();
    s.clear_failures("u:alice").await.unwrap();
    assert_eq!(s.get_failures("u:alice", 172).await.unwrap(), None);
    assert!(s.get_failures("i:10.0.0.1", 172).await.unwrap().is_some());
    s.purge_expired(1_000, 10).await.unwrap();
    assert_eq!(s.get_failures("i:10.0.0.1", 172).await.unwrap(), None);
}

pub async fn concurrent_failures_are_all_counted(s: DynStore) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.add_failure("i:race", 1_000, 300).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(s.get_failures("i:race", 1_000).await.unwrap().unwrap().count, 16);
}
