//! Shared rate-limit windows: each instance's rows replaced by its own
//! writes, everybody's read back, expired rows ignored.

use crate::store::rate_counts::{InstanceCount, WindowCount};
use crate::store::DynStore;

fn count(key: &str, window: i64, count: i64, expires_at: i64) -> WindowCount {
    WindowCount {
        key: key.into(),
        window,
        count,
        expires_at,
    }
}

fn wanted(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(k, w)| (k.to_string(), *w)).collect()
}

fn seen(key: &str, window: i64, instance: &str, count: i64) -> InstanceCount {
    InstanceCount {
        key: key.into(),
        window,
        instance: instance.into(),
        count,
    }
}

async fn read(s: &DynStore, pairs: &[(&str, i64)], now: i64) -> Vec<InstanceCount> {
    let mut v = s.sync_rate_counts("reader", &[], &wanted(pairs), now).await.unwrap();
    v.sort();
    v
}

pub async fn every_instance_is_read_own_rows_replaced(s: DynStore) {
    // A write and a read in one call: the writer's row comes back too.
    let got = s
        .sync_rate_counts(
            "a",
            &[count("k1", 7, 5, 1000), count("k2", 7, 1, 1000)],
            &wanted(&[("k1", 7)]),
            100,
        )
        .await
        .unwrap();
    assert_eq!(got, vec![seen("k1", 7, "a", 5)]);
    s.sync_rate_counts("b", &[count("k1", 7, 3, 1000), count("k1", 8, 2, 1000)], &[], 100)
        .await
        .unwrap();
    // A second write replaces the first (the counts are absolute).
    s.sync_rate_counts("c", &[count("k1", 7, 1, 1000)], &[], 100)
        .await
        .unwrap();
    s.sync_rate_counts("c", &[count("k1", 7, 4, 1000)], &[], 100)
        .await
        .unwrap();
    assert_eq!(
        read(&s, &[("k1", 7), ("k1", 8), ("k2", 7), ("none", 7)], 100).await,
        vec![
            seen("k1", 7, "a", 5),
            seen("k1", 7, "b", 3),
            seen("k1", 7, "c", 4),
            seen("k1", 8, "b", 2),
            seen("k2", 7, "a", 1),
        ]
    );
    // Only the windows asked for.
    assert_eq!(read(&s, &[("k1", 8)], 100).await, vec![seen("k1", 8, "b", 2)]);
}

pub async fn expired_rows_do_not_count(s: DynStore) {
    s.sync_rate_counts("b", &[count("k", 1, 10, 150), count("k", 2, 4, 300)], &[], 100)
        .await
        .unwrap();
    assert_eq!(read(&s, &[("k", 1), ("k", 2)], 200).await, vec![seen("k", 2, "b", 4)]);
    // b's newer write for window 1 is live again.
    s.sync_rate_counts("b", &[count("k", 1, 11, 400)], &[], 200)
        .await
        .unwrap();
    assert_eq!(
        read(&s, &[("k", 1), ("k", 2)], 200).await,
        vec![seen("k", 1, "b", 11), seen("k", 2, "b", 4)]
    );
}
