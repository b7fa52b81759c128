//! Single-use ids: first use, replay, reuse after expiry, races, batches.

use super::FUTURE;
use crate::store::DynStore;
use std::sync::Arc;

pub async fn first_use_then_replay(s: DynStore) {
    assert!(s.use_once("jti-1", 200, 100).await.unwrap());
    assert!(!s.use_once("jti-1", 200, 100).await.unwrap());
    assert!(!s.use_once("jti-1", 900, 199).await.unwrap());
    assert!(s.use_once("jti-2", 200, 100).await.unwrap());
    // Once its time is up the id may be used again (the assertion that
    // carried it has expired by then).
    assert!(s.use_once("jti-1", 400, 200).await.unwrap());
    assert!(!s.use_once("jti-1", 400, 300).await.unwrap());
    // Purged with the other expired rows.
    s.purge_expired(400, 10).await.unwrap();
    assert!(s.use_once("jti-1", 500, 300).await.unwrap());
}

pub async fn concurrent_use_has_one_winner(s: DynStore) {
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, b) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                b.wait().await;
                s.use_once("jti-race", FUTURE, 1).await
            })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
}

/// Many ids at once, each presented several times, some already used and
/// some whose earlier use has expired: exactly the answers one-at-a-time
/// calls would give (backends may write them in one batch).
pub async fn concurrent_many_ids(s: DynStore) {
    assert!(s.use_once("old-live", FUTURE, 100).await.unwrap());
    assert!(s.use_once("old-expired", 150, 100).await.unwrap());
    let mut ids: Vec<String> = (0..30).map(|i| format!("jti-{i}")).collect();
    ids.push("old-live".into());
    ids.push("old-expired".into());
    let barrier = Arc::new(tokio::sync::Barrier::new(ids.len() * 3));
    let mut tasks = Vec::new();
    for id in &ids {
        for _ in 0..3 {
            let (s, b, id) = (s.clone(), barrier.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                b.wait().await;
                (id.clone(), s.use_once(&id, FUTURE, 200).await.unwrap())
            }));
        }
    }
    let mut wins: std::collections::HashMap<String, u32> = Default::default();
    for t in tasks {
        let (id, first) = t.await.unwrap();
        *wins.entry(id).or_default() += u32::from(first);
    }
    for id in &ids {
        let want = u32::from(id != "old-live");
        assert_eq!(wins[id], want, "{id}");
    }
    assert!(
        !s.use_once("old-expired", FUTURE, 300).await.unwrap(),
        "taken over, now live again"
    );
}
