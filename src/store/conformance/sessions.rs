//! Browser sessions.

use super::FUTURE;
use crate::store::{DynStore, SessionRecord, StoreError};

fn session(id: &str, kind: &str, subject: &str) -> SessionRecord {
    SessionRecord {
        id_hash: id.into(),
        kind: kind.into(),
        subject: subject.into(),
        auth_time: 1_700_000_000,
        expires_at: FUTURE,
        clients: Vec::new(),
    }
}

pub async fn round_trip(s: DynStore) {
    assert_eq!(s.get_session("s1").await.unwrap(), None);
    s.put_session(&session("s1", "user", "alice")).await.unwrap();
    s.put_session(&session("s2", "user", "alice")).await.unwrap();
    s.put_session(&session("s3", "admin", "alice")).await.unwrap();
    s.put_session(&session("s4", "user", "bob")).await.unwrap();
    assert_eq!(s.get_session("s1").await.unwrap(), Some(session("s1", "user", "alice")));
    assert!(matches!(
        s.put_session(&session("s1", "user", "mallory")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.delete_session("s1").await.unwrap(),
        Some(session("s1", "user", "alice"))
    );
    assert_eq!(s.delete_session("s1").await.unwrap(), None);
    assert_eq!(s.get_session("s1").await.unwrap(), None);
    // Ends alice's user sessions, not her admin one, not bob's.
    assert_eq!(
        s.delete_sessions_of("user", "alice").await.unwrap(),
        vec![session("s2", "user", "alice")]
    );
    assert_eq!(s.delete_sessions_of("user", "alice").await.unwrap(), vec![]);
    assert_eq!(s.get_session("s2").await.unwrap(), None);
    assert!(s.get_session("s3").await.unwrap().is_some());
    assert!(s.get_session("s4").await.unwrap().is_some());
    // Expired sessions are purged.
    let mut old = session("s5", "user", "carol");
    old.expires_at = 10;
    s.put_session(&old).await.unwrap();
    s.purge_expired(10, 10).await.unwrap();
    assert_eq!(s.get_session("s5").await.unwrap(), None);
    assert!(s.get_session("s4").await.unwrap().is_some());
}

/// The clients a session issued to (back-channel logout): recorded once
/// each, sorted, also when added concurrently, and handed back when the
/// session ends; an ended or unknown session gains no row.
pub async fn clients_are_recorded_and_handed_back(s: DynStore) {
    let mut with = session("c1", "user", "alice");
    with.clients = vec!["web".into(), "app".into(), "web".into()];
    s.put_session(&with).await.unwrap();
    assert_eq!(s.get_session("c1").await.unwrap().unwrap().clients, vec!["app", "web"]);

    s.put_session(&session("c2", "user", "alice")).await.unwrap();
    s.add_session_client("c2", "printer", FUTURE).await.unwrap();
    s.add_session_client("c2", "printer", FUTURE).await.unwrap();
    s.add_session_client("c2", "app", FUTURE).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.add_session_client("c2", &format!("rp{i}"), FUTURE).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let mut want = vec!["app".to_string(), "printer".to_string()];
    want.extend((0..8).map(|i| format!("rp{i}")));
    want.sort();
    assert_eq!(s.get_session("c2").await.unwrap().unwrap().clients, want);

    // An unknown session stays unknown.
    s.add_session_client("never", "app", FUTURE).await.unwrap();
    assert_eq!(s.get_session("never").await.unwrap(), None);

    // Ending hands the clients back; the ended session takes none more.
    let ended = s.delete_session("c2").await.unwrap().unwrap();
    assert_eq!(ended.clients, want);
    s.add_session_client("c2", "late", FUTURE).await.unwrap();
    assert_eq!(s.get_session("c2").await.unwrap(), None);
    s.add_session_client("c1", "printer", FUTURE).await.unwrap();
    let all = s.delete_sessions_of("user", "alice").await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id_hash, "c1");
    assert_eq!(all[0].clients, vec!["app", "printer", "web"]);
}
