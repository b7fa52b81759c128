//! Pushed requests: taken once, by their client only, while live; races
//! have one winner; expired ones are purged.

use super::FUTURE;
use crate::store::{DynStore, PushedRequest, StoreError};
use std::sync::Arc;

fn pushed(hash: &str, expires_at: i64) -> PushedRequest {
    PushedRequest {
        uri_hash: hash.into(),
        client_id: "c1".into(),
        params: vec![
            ("response_type".into(), "code".into()),
            ("resource".into(), "https://a.example/".into()),
            ("resource".into(), "https://b.example/".into()),
            ("state".into(), "é&=\"x\"".into()),
        ],
        expires_at,
    }
}

pub async fn taken_once_by_its_client(s: DynStore) {
    let r = pushed("p1", 200);
    s.put_pushed_request(&r).await.unwrap();
    assert!(matches!(s.put_pushed_request(&r).await, Err(StoreError::Conflict(_))));
    // Another client's attempt neither gets it nor spends it.
    assert_eq!(s.take_pushed_request("p1", "c2", 100).await.unwrap(), None);
    assert_eq!(s.take_pushed_request("p1", "c1", 100).await.unwrap(), Some(r));
    assert_eq!(s.take_pushed_request("p1", "c1", 100).await.unwrap(), None);
    assert_eq!(s.take_pushed_request("nope", "c1", 100).await.unwrap(), None);
    // Expired: not handed out, and purged.
    s.put_pushed_request(&pushed("p2", 200)).await.unwrap();
    assert_eq!(s.take_pushed_request("p2", "c1", 200).await.unwrap(), None);
    s.put_pushed_request(&pushed("p3", 300)).await.unwrap();
    assert_eq!(s.purge_expired(250, 10).await.unwrap(), 1);
    assert!(s.take_pushed_request("p3", "c1", 250).await.unwrap().is_some());
}

pub async fn concurrent_take_has_one_winner(s: DynStore) {
    s.put_pushed_request(&pushed("race", FUTURE)).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, b) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                b.wait().await;
                s.take_pushed_request("race", "c1", 1).await
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_some() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}
