//! Authorization codes: single use, also under races.

use super::{code, FUTURE};
use crate::store::{Consume, DynStore, StoreError};

pub async fn single_use(s: DynStore) {
    let c = code("h1", FUTURE);
    s.put_code(&c).await.unwrap();
    assert_eq!(s.consume_code("h1").await.unwrap(), Consume::Consumed(c.clone()));
    assert_eq!(s.consume_code("h1").await.unwrap(), Consume::AlreadyUsed(c.clone()));
    assert_eq!(s.consume_code("h1").await.unwrap(), Consume::AlreadyUsed(c.clone()));
    assert_eq!(s.consume_code("unknown").await.unwrap(), Consume::NotFound);

    // Storing the same hash again must not reset it to unused.
    assert!(matches!(s.put_code(&c).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.consume_code("h1").await.unwrap(), Consume::AlreadyUsed(c));

    // Expiry is the caller's check: an expired code is still found.
    let mut old = code("h2", 1);
    old.code_challenge = None;
    old.code_challenge_method = None;
    old.nonce = Some("n-0S6_WzA2Mj".into());
    old.sid = None;
    s.put_code(&old).await.unwrap();
    assert_eq!(s.consume_code("h2").await.unwrap(), Consume::Consumed(old));
}

pub async fn concurrent_consume_has_one_winner(s: DynStore) {
    s.put_code(&code("c-race", FUTURE)).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.consume_code("c-race").await })
        })
        .collect();
    let mut consumed = 0;
    for t in tasks {
        if let Consume::Consumed(_) = t.await.unwrap().unwrap() {
            consumed += 1;
        }
    }
    assert_eq!(consumed, 1);
}
