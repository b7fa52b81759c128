//! Consents.

use crate::store::{Consent, DynStore};

pub async fn upsert_get_delete(s: DynStore) {
    assert_eq!(s.get_consent("alice", "c1").await.unwrap(), None);
    let c = Consent {
        username: "alice".into(),
        client_id: "c1".into(),
        scopes: vec!["openid".into(), "photos".into()],
        granted_at: 10,
    };
    let other = Consent {
        client_id: "c2".into(),
        ..c.clone()
    };
    s.put_consent(&c).await.unwrap();
    s.put_consent(&other).await.unwrap();
    assert_eq!(s.get_consent("alice", "c1").await.unwrap(), Some(c.clone()));
    assert_eq!(s.get_consent("bob", "c1").await.unwrap(), None);

    let wider = Consent {
        scopes: vec!["openid".into(), "photos".into(), "email".into()],
        granted_at: 20,
        ..c.clone()
    };
    s.put_consent(&wider).await.unwrap();
    assert_eq!(s.get_consent("alice", "c1").await.unwrap(), Some(wider));

    assert!(s.delete_consent("alice", "c1").await.unwrap());
    assert!(!s.delete_consent("alice", "c1").await.unwrap());
    assert_eq!(s.get_consent("alice", "c1").await.unwrap(), None);
    assert_eq!(s.get_consent("alice", "c2").await.unwrap(), Some(other));
}
