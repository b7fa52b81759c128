//! Purge: only expired rows go, in batches, across every expiring concern.

use super::{client, code, token, user};
use crate::store::{Consume, DynStore, TokenKind};

pub async fn removes_only_expired_rows(s: DynStore) {
    let now = 1_000;
    // 11 expired and 3 live rows of each kind; batch 2 forces many rounds
    // and a short last batch.
    for i in 0..11 {
        s.put_code(&code(&format!("c-old-{i}"), now - i)).await.unwrap();
        s.put_token(&token(&format!("t-old-{i}"), TokenKind::Refresh, "f", now - i))
            .await
            .unwrap();
        s.revoke_id(&format!("r-old-{i}"), now - i).await.unwrap();
    }
    for i in 0..3 {
        s.put_code(&code(&format!("c-live-{i}"), now + 1 + i)).await.unwrap();
        s.put_token(&token(&format!("t-live-{i}"), TokenKind::Access, "f", now + 1 + i))
            .await
            .unwrap();
        s.revoke_id(&format!("r-live-{i}"), now + 1 + i).await.unwrap();
    }
    // Clients, users and consents have no expiry and are never purged.
    s.put_client(&client("c1")).await.unwrap();
    s.put_user(&user("alice")).await.unwrap();

    assert_eq!(s.purge_expired(now, 2).await.unwrap(), 33);
    assert_eq!(s.purge_expired(now, 2).await.unwrap(), 0);

    for i in 0..11 {
        assert_eq!(s.consume_code(&format!("c-old-{i}")).await.unwrap(), Consume::NotFound);
        assert_eq!(s.get_token(&format!("t-old-{i}")).await.unwrap(), None);
        assert!(!s.is_revoked(&[&format!("r-old-{i}")], 0).await.unwrap());
    }
    for i in 0..3 {
        assert!(matches!(
            s.consume_code(&format!("c-live-{i}")).await.unwrap(),
            Consume::Consumed(_)
        ));
        assert!(s.get_token(&format!("t-live-{i}")).await.unwrap().is_some());
        assert!(s.is_revoked(&[&format!("r-live-{i}")], 0).await.unwrap());
    }
    assert!(s.get_client("c1").await.unwrap().is_some());
    assert!(s.get_user("alice").await.unwrap().is_some());

    // An exact multiple of the batch still terminates; batch 0 is not a hang.
    // (These are of no grant family, as client_credentials tokens are.)
    for i in 0..4 {
        s.put_token(&token(&format!("t-even-{i}"), TokenKind::Access, "", now + 5))
            .await
            .unwrap();
    }
    assert_eq!(s.purge_expired(now + 5, 2).await.unwrap(), 4 + 3 + 3 + 3);
    assert_eq!(s.purge_expired(now + 5, 0).await.unwrap(), 0);
}
