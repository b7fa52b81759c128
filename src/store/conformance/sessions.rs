//! Browser sessions.

use super::FUTURE;
use crate::store::{DynStore, SessionRecord, StoreError};

pub async fn round_trip(s: DynStore) {
    let session = |id: &str, kind: &str, subject: &str| SessionRecord {
        id_hash: id.into(),
        kind: kind.into(),
        subject: subject.into(),
        auth_time: 1_700_000_000,
        expires_at: FUTURE,
    };
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
    assert!(s.delete_session("s1").await.unwrap());
    assert!(!s.delete_session("s1").await.unwrap());
    assert_eq!(s.get_session("s1").await.unwrap(), None);
    // Ends alice's user sessions, not her admin one, not bob's.
    assert_eq!(s.delete_sessions_of("user", "alice").await.unwrap(), 1);
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
