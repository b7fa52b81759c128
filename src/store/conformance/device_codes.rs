//! Device codes (RFC 8628): pending until decided, decided once, handed
//! out once (also under a race), the poll interval enforced, expiry, purge.

use super::FUTURE;
use crate::store::{DynStore, StoreError};
use std::sync::Arc;

pub fn device_code(hash: &str, user: &str, expires_at: i64) -> crate::store::DeviceCode {
    crate::store::DeviceCode {
        device_code_hash: hash.into(),
        user_code_hash: user.into(),
        client_id: "tv".into(),
        scope: "openid photos".into(),
        status: crate::store::device_codes::DeviceStatus::Pending,
        subject: None,
        auth_time: None,
        family_id: format!("fam-{hash}"),
        poll_interval: 5,
        last_poll_ms: 0,
        expires_at,
    }
}

/// RFC 8628: pending until decided, approved codes hand out tokens once,
/// denied ones stay denied, expired ones read expired, other clients'
/// codes are unknown, and a user code is decided once.
pub async fn lifecycle(s: DynStore) {
    use crate::store::{DeviceDecision, DevicePoll};
    let ms = |secs: i64| secs * 1000;
    s.put_device_code(&device_code("d1", "u1", 1_000)).await.unwrap();
    // A user code (or a device code) drawn twice is a Conflict.
    assert!(matches!(
        s.put_device_code(&device_code("d2", "u1", 1_000)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.put_device_code(&device_code("d1", "u9", 1_000)).await,
        Err(StoreError::Conflict(_))
    ));
    let found = s.device_code_by_user_code("u1").await.unwrap().unwrap();
    assert_eq!(found, device_code("d1", "u1", 1_000));
    assert_eq!(s.device_code_by_user_code("nope").await.unwrap(), None);

    assert_eq!(
        s.poll_device_code("d1", "tv", ms(100)).await.unwrap(),
        DevicePoll::Pending
    );
    assert_eq!(
        s.poll_device_code("d1", "other-client", ms(200)).await.unwrap(),
        DevicePoll::NotFound
    );
    assert_eq!(
        s.poll_device_code("zz", "tv", ms(200)).await.unwrap(),
        DevicePoll::NotFound
    );

    let approve = DeviceDecision::Approve {
        subject: "alice".into(),
        auth_time: 150,
    };
    assert!(!s.decide_device_code("nope", &approve, 150).await.unwrap());
    assert!(s.decide_device_code("u1", &approve, 150).await.unwrap());
    // Decided once: a second decision (another tab, another instance) loses.
    let deny = DeviceDecision::Deny {
        subject: "mallory".into(),
    };
    assert!(!s.decide_device_code("u1", &deny, 151).await.unwrap());
    match s.poll_device_code("d1", "tv", ms(200)).await.unwrap() {
        DevicePoll::Approved(d) => {
            assert_eq!(d.subject.as_deref(), Some("alice"));
            assert_eq!(d.auth_time, Some(150));
            assert_eq!(d.scope, "openid photos");
            assert_eq!(d.family_id, "fam-d1");
        }
        other => panic!("expected Approved, got {other:?}"),
    }
    assert!(matches!(
        s.poll_device_code("d1", "tv", ms(300)).await.unwrap(),
        DevicePoll::AlreadyUsed(d) if d.subject.as_deref() == Some("alice")
    ));

    s.put_device_code(&device_code("d3", "u3", 1_000)).await.unwrap();
    assert!(s.decide_device_code("u3", &deny, 150).await.unwrap());
    assert_eq!(
        s.poll_device_code("d3", "tv", ms(200)).await.unwrap(),
        DevicePoll::Denied
    );
    assert_eq!(
        s.poll_device_code("d3", "tv", ms(300)).await.unwrap(),
        DevicePoll::Denied
    );
    assert_eq!(
        s.device_code_by_user_code("u3")
            .await
            .unwrap()
            .unwrap()
            .subject
            .as_deref(),
        Some("mallory")
    );

    // Expired: no decision is taken, polls read expired.
    s.put_device_code(&device_code("d4", "u4", 1_000)).await.unwrap();
    assert!(!s.decide_device_code("u4", &approve, 1_000).await.unwrap());
    assert_eq!(
        s.poll_device_code("d4", "tv", ms(1_000)).await.unwrap(),
        DevicePoll::Expired
    );
    // An approved code that expires before it is collected is expired too.
    s.put_device_code(&device_code("d5", "u5", 1_000)).await.unwrap();
    assert!(s.decide_device_code("u5", &approve, 500).await.unwrap());
    assert_eq!(
        s.poll_device_code("d5", "tv", ms(1_001)).await.unwrap(),
        DevicePoll::Expired
    );

    // Kept a while past expiry (late polls still read expired), then purged.
    s.purge_expired(1_000 + crate::store::device_codes::PURGE_GRACE - 1, 10)
        .await
        .unwrap();
    assert!(s.device_code_by_user_code("u4").await.unwrap().is_some());
    s.purge_expired(1_000 + crate::store::device_codes::PURGE_GRACE, 10)
        .await
        .unwrap();
    assert_eq!(s.device_code_by_user_code("u4").await.unwrap(), None);
    assert_eq!(
        s.poll_device_code("d4", "tv", ms(2_000)).await.unwrap(),
        DevicePoll::NotFound
    );
}

/// RFC 8628 §3.5: a poll before the interval is up is `slow_down` and the
/// interval grows by 5 s for every later poll; on-time polls are pending.
pub async fn poll_interval_is_enforced(s: DynStore) {
    use crate::store::device_codes::{POLL_LEEWAY_MS, SLOW_DOWN_STEP};
    use crate::store::DevicePoll;
    s.put_device_code(&device_code("d1", "u1", FUTURE)).await.unwrap();
    let t0 = 1_000_000;
    assert_eq!(s.poll_device_code("d1", "tv", t0).await.unwrap(), DevicePoll::Pending);
    // Within the leeway of the interval: on time.
    let t1 = t0 + 5_000 - POLL_LEEWAY_MS;
    assert_eq!(s.poll_device_code("d1", "tv", t1).await.unwrap(), DevicePoll::Pending);
    // Too early: slow down, and the interval is now 10 s.
    let t2 = t1 + 1_000;
    assert_eq!(
        s.poll_device_code("d1", "tv", t2).await.unwrap(),
        DevicePoll::SlowDown(5 + SLOW_DOWN_STEP)
    );
    // 6 s later is still too early for the raised interval.
    assert_eq!(
        s.poll_device_code("d1", "tv", t2 + 6_000).await.unwrap(),
        DevicePoll::SlowDown(5 + 2 * SLOW_DOWN_STEP)
    );
    assert_eq!(
        s.poll_device_code("d1", "tv", t2 + 6_000 + 15_000).await.unwrap(),
        DevicePoll::Pending
    );
    assert_eq!(
        s.device_code_by_user_code("u1").await.unwrap().unwrap().poll_interval,
        15
    );
}

/// Many instances polling one approved code at once: one gets the tokens.
pub async fn concurrent_poll_has_one_winner(s: DynStore) {
    use crate::store::{DeviceDecision, DevicePoll};
    s.put_device_code(&device_code("d1", "u1", FUTURE)).await.unwrap();
    let approve = DeviceDecision::Approve {
        subject: "alice".into(),
        auth_time: 1,
    };
    assert!(s.decide_device_code("u1", &approve, 1).await.unwrap());
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (s, b) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                b.wait().await;
                s.poll_device_code("d1", "tv", 1_000_000 + i).await
            })
        })
        .collect();
    let (mut won, mut replays) = (0, 0);
    for t in tasks {
        match t.await.unwrap().unwrap() {
            DevicePoll::Approved(_) => won += 1,
            DevicePoll::AlreadyUsed(_) => replays += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((won, replays), (1, 7));
}
