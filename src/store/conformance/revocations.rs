//! The revocation list: ids, bounds that only grow, many ids at once.

use super::FUTURE;
use crate::store::DynStore;

pub async fn list_entries_and_bounds(s: DynStore) {
    assert!(!s.is_revoked(&[], 0).await.unwrap());
    assert!(!s.is_revoked(&["jti-1"], 0).await.unwrap());
    s.revoke_id("jti-1", 100).await.unwrap();
    assert!(s.is_revoked(&["jti-1"], 0).await.unwrap());
    assert!(s.is_revoked(&["x", "y", "jti-1"], 0).await.unwrap());
    assert!(!s.is_revoked(&["x", "y"], 0).await.unwrap());
    // Ids are exact.
    assert!(!s.is_revoked(&["JTI-1", "jti-"], 0).await.unwrap());

    // Revoking again with an earlier bound keeps the later one.
    s.revoke_id("jti-1", 50).await.unwrap();
    s.purge_expired(75, 10).await.unwrap();
    assert!(s.is_revoked(&["jti-1"], 0).await.unwrap());
    // And a later bound extends it.
    s.revoke_id("jti-1", 200).await.unwrap();
    s.purge_expired(150, 10).await.unwrap();
    assert!(s.is_revoked(&["jti-1"], 0).await.unwrap());
    s.purge_expired(200, 10).await.unwrap();
    assert!(!s.is_revoked(&["jti-1"], 0).await.unwrap());

    // Many ids in one call (longer than any single IN list chunk).
    let many: Vec<String> = (0..1200).map(|i| format!("id-{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(!s.is_revoked(&refs, 0).await.unwrap());
    s.revoke_id("id-1100", FUTURE).await.unwrap();
    assert!(s.is_revoked(&refs, 0).await.unwrap());
}
