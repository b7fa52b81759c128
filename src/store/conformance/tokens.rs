//! Stored tokens: round trip, rotation, revocation of a token, a family, an owner, listings.

use super::{token, FUTURE};
use crate::store::{Confirmation, Consume, DynStore, Owner, StoreError, TokenKind, TokenRecord};
use std::sync::Arc;

pub async fn round_trip(s: DynStore) {
    assert_eq!(s.get_token("nope").await.unwrap(), None);
    let mut access = token("a1", TokenKind::Access, "f1", FUTURE);
    access.subject = None;
    access.audience = vec![];
    access.auth_time = Some(1_700_000_000);
    let refresh = token("r1", TokenKind::Refresh, "f1", FUTURE);
    s.put_token(&access).await.unwrap();
    s.put_token(&refresh).await.unwrap();
    assert_eq!(s.get_token("a1").await.unwrap(), Some(access.clone()));
    assert_eq!(s.get_token("r1").await.unwrap(), Some(refresh));
    assert!(access.is_active(1_700_000_004));

    // A duplicate hash is refused rather than overwriting the stored state.
    let mut dup = access.clone();
    dup.scope = "other".into();
    assert!(matches!(s.put_token(&dup).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.get_token("a1").await.unwrap(), Some(access));

    // Expired tokens still read back; activity is the caller's check.
    let expired = token("old", TokenKind::Access, "f2", 5);
    s.put_token(&expired).await.unwrap();
    let got = s.get_token("old").await.unwrap().unwrap();
    assert!(!got.is_active(6));
}

/// A token of no grant family (client_credentials: no refresh token, no
/// family to revoke) and no subject stores, reads back, lists under its
/// client and revokes like any other. (Cassandra refused it at first: an
/// empty family is an empty partition key of its by-family table.)
pub async fn without_a_family_or_subject(s: DynStore) {
    let mut t = token("cc1", TokenKind::Access, "", FUTURE);
    t.subject = None;
    s.put_token(&t).await.unwrap();
    assert_eq!(s.get_token("cc1").await.unwrap(), Some(t.clone()));
    let listed = s.list_tokens(Owner::Client("c1"), 1_700_000_000, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.token_hash.as_str()).collect::<Vec<_>>(),
        ["cc1"]
    );
    assert!(s.revoke_token("cc1").await.unwrap());
    assert!(s.get_token("cc1").await.unwrap().unwrap().revoked);
}

/// A sender-constrained token keeps its confirmation through every read
/// (get, rotation).
pub async fn bound_tokens_keep_their_confirmation(s: DynStore) {
    let mut dpop = token("b1", TokenKind::Refresh, "fb", FUTURE);
    dpop.cnf = Some(Confirmation::dpop("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"));
    let mut mtls = token("b2", TokenKind::Access, "fb", FUTURE);
    mtls.cnf = Some(Confirmation {
        jkt: None,
        x5t_s256: Some("bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2".into()),
    });
    s.put_token(&dpop).await.unwrap();
    s.put_token(&mtls).await.unwrap();
    assert_eq!(s.get_token("b1").await.unwrap(), Some(dpop.clone()));
    assert_eq!(s.get_token("b2").await.unwrap(), Some(mtls));
    match s.consume_refresh("b1").await.unwrap() {
        Consume::Consumed(t) => assert_eq!(t.cnf, dpop.cnf),
        other => panic!("{other:?}"),
    }
}

pub async fn refresh_tokens_are_single_use(s: DynStore) {
    let r = token("r1", TokenKind::Refresh, "f1", FUTURE);
    s.put_token(&r).await.unwrap();
    let used = TokenRecord {
        used: true,
        ..r.clone()
    };
    assert_eq!(s.consume_refresh("r1").await.unwrap(), Consume::Consumed(used.clone()));
    assert_eq!(
        s.consume_refresh("r1").await.unwrap(),
        Consume::AlreadyUsed(used.clone())
    );
    assert_eq!(s.get_token("r1").await.unwrap(), Some(used));
    assert_eq!(s.consume_refresh("unknown").await.unwrap(), Consume::NotFound);

    // An access token is not a refresh token, and is left untouched.
    let a = token("a1", TokenKind::Access, "f1", FUTURE);
    s.put_token(&a).await.unwrap();
    assert_eq!(s.consume_refresh("a1").await.unwrap(), Consume::NotFound);
    assert_eq!(s.get_token("a1").await.unwrap(), Some(a));

    // Revocation is reported, not hidden: the caller decides.
    let r2 = token("r2", TokenKind::Refresh, "f2", FUTURE);
    s.put_token(&r2).await.unwrap();
    assert!(s.revoke_token("r2").await.unwrap());
    match s.consume_refresh("r2").await.unwrap() {
        Consume::Consumed(t) => assert!(t.revoked && t.used && !t.is_active(0)),
        other => panic!("expected Consumed, got {other:?}"),
    }
}

pub async fn revoke_token_marks_only_that_token(s: DynStore) {
    s.put_token(&token("a1", TokenKind::Access, "f1", FUTURE))
        .await
        .unwrap();
    s.put_token(&token("a2", TokenKind::Access, "f1", FUTURE))
        .await
        .unwrap();
    assert!(s.revoke_token("a1").await.unwrap());
    // Revoking again still finds it.
    assert!(s.revoke_token("a1").await.unwrap());
    assert!(!s.revoke_token("unknown").await.unwrap());
    let a1 = s.get_token("a1").await.unwrap().unwrap();
    assert!(a1.revoked && !a1.is_active(0));
    assert!(!s.get_token("a2").await.unwrap().unwrap().revoked);
    // Token revocation is per row, not a list entry.
    assert!(!s.is_revoked(&["a1", "f1"], 0).await.unwrap());
}

pub async fn revoke_family_revokes_the_family_only(s: DynStore) {
    for (h, kind, fam) in [
        ("fa-1", TokenKind::Access, "fam-a"),
        ("fa-2", TokenKind::Refresh, "fam-a"),
        ("fa-3", TokenKind::Refresh, "fam-a"),
        ("fb-1", TokenKind::Access, "fam-b"),
        ("fb-2", TokenKind::Refresh, "fam-b"),
    ] {
        s.put_token(&token(h, kind, fam, FUTURE)).await.unwrap();
    }
    s.revoke_token("fa-3").await.unwrap();
    assert!(!s.is_revoked(&["fam-a"], 0).await.unwrap());

    // Counts the tokens this call revoked (fa-3 already was).
    assert_eq!(s.revoke_family("fam-a", FUTURE).await.unwrap(), 2);
    for h in ["fa-1", "fa-2", "fa-3"] {
        assert!(s.get_token(h).await.unwrap().unwrap().revoked, "{h}");
    }
    for h in ["fb-1", "fb-2"] {
        assert!(!s.get_token(h).await.unwrap().unwrap().revoked, "{h}");
    }
    assert!(s.is_revoked(&["fam-a"], 0).await.unwrap());
    assert!(s.is_revoked(&["some-jti", "fam-a"], 0).await.unwrap());
    assert!(!s.is_revoked(&["fam-b"], 0).await.unwrap());

    // A family with no stored tokens (JWT-only) still gets listed.
    assert_eq!(s.revoke_family("fam-jwt-only", FUTURE).await.unwrap(), 0);
    assert!(s.is_revoked(&["fam-jwt-only"], 0).await.unwrap());
    // Again: idempotent.
    assert_eq!(s.revoke_family("fam-a", FUTURE).await.unwrap(), 0);
}

pub async fn concurrent_refresh_consume_has_one_winner(s: DynStore) {
    s.put_token(&token("r-race", TokenKind::Refresh, "f", FUTURE))
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, b) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                b.wait().await;
                s.consume_refresh("r-race").await
            })
        })
        .collect();
    let (mut consumed, mut replayed) = (0, 0);
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Consume::Consumed(_) => consumed += 1,
            Consume::AlreadyUsed(_) => replayed += 1,
            Consume::NotFound => panic!("token vanished"),
        }
    }
    assert_eq!((consumed, replayed), (1, 7));
}

pub async fn stored_after_their_family_was_revoked_read_as_revoked(s: DynStore) {
    // A rotation racing with a reuse detection: the family goes first, the
    // winner's new tokens are stored afterwards.
    s.revoke_family("fam-late", FUTURE).await.unwrap();
    s.put_token(&token("late-r", TokenKind::Refresh, "fam-late", FUTURE))
        .await
        .unwrap();
    s.put_token(&token("late-a", TokenKind::Access, "fam-late", FUTURE))
        .await
        .unwrap();
    assert!(s.get_token("late-r").await.unwrap().unwrap().revoked);
    assert!(s.get_token("late-a").await.unwrap().unwrap().revoked);
    match s.consume_refresh("late-r").await.unwrap() {
        Consume::Consumed(t) => assert!(t.revoked),
        other => panic!("expected Consumed, got {other:?}"),
    }
    // Other families are untouched.
    s.put_token(&token("other", TokenKind::Refresh, "fam-ok", FUTURE))
        .await
        .unwrap();
    assert!(!s.get_token("other").await.unwrap().unwrap().revoked);
}

pub async fn owner_revocation_covers_what_was_issued_before(s: DynStore) {
    let mut mine = token("c1-a", TokenKind::Access, "f1", FUTURE);
    mine.issued_at = 100;
    let mut mine_r = token("c1-r", TokenKind::Refresh, "f2", FUTURE);
    mine_r.issued_at = 200;
    let mut used = token("c1-used", TokenKind::Refresh, "f3", FUTURE);
    used.issued_at = 150;
    let mut expired = token("c1-old", TokenKind::Access, "f4", 50);
    expired.issued_at = 10;
    let mut theirs = token("c2-a", TokenKind::Access, "f5", FUTURE);
    theirs.client_id = "c2".into();
    theirs.subject = Some("bob".into());
    for t in [&mine, &mine_r, &used, &expired, &theirs] {
        s.put_token(t).await.unwrap();
    }
    s.consume_refresh("c1-used").await.unwrap();

    // Active tokens only, newest first.
    let hashes = |v: Vec<TokenRecord>| v.into_iter().map(|t| t.token_hash).collect::<Vec<_>>();
    assert_eq!(
        hashes(s.list_tokens(Owner::Client("c1"), 60, 10).await.unwrap()),
        ["c1-r", "c1-a"]
    );
    assert_eq!(
        hashes(s.list_tokens(Owner::Client("c1"), 60, 1).await.unwrap()),
        ["c1-r"]
    );
    assert_eq!(
        hashes(s.list_tokens(Owner::Subject("bob"), 60, 10).await.unwrap()),
        ["c2-a"]
    );
    assert_eq!(
        hashes(s.list_tokens(Owner::Subject("alice"), 60, 10).await.unwrap()),
        ["c1-r", "c1-a"]
    );

    // Everything of c1 issued up to t=300 goes, stored or not.
    assert_eq!(s.revoke_owner(Owner::Client("c1"), 300, FUTURE).await.unwrap(), 4);
    assert!(s.list_tokens(Owner::Client("c1"), 60, 10).await.unwrap().is_empty());
    assert!(s.get_token("c1-a").await.unwrap().unwrap().revoked);
    assert!(!s.get_token("c2-a").await.unwrap().unwrap().revoked);
    // JWTs are checked by their issue time against the cutoff.
    let cut = Owner::Client("c1").revocation_id();
    assert!(s.is_revoked(&["some-jti", &cut], 300).await.unwrap());
    assert!(s.is_revoked(&[&cut], 299).await.unwrap());
    assert!(!s.is_revoked(&[&cut], 301).await.unwrap());
    // A token stored later but issued before the cutoff reads as revoked;
    // one issued after it does not.
    let mut racing = token("c1-racing", TokenKind::Access, "f6", FUTURE);
    racing.issued_at = 250;
    let mut fresh = token("c1-fresh", TokenKind::Access, "f7", FUTURE);
    fresh.issued_at = 301;
    s.put_token(&racing).await.unwrap();
    s.put_token(&fresh).await.unwrap();
    assert!(s.get_token("c1-racing").await.unwrap().unwrap().revoked);
    assert!(!s.get_token("c1-fresh").await.unwrap().unwrap().revoked);
    assert_eq!(
        hashes(s.list_tokens(Owner::Client("c1"), 60, 10).await.unwrap()),
        ["c1-fresh"]
    );

    // A later cutoff widens; an earlier one does not narrow.
    s.revoke_owner(Owner::Client("c1"), 400, FUTURE).await.unwrap();
    s.revoke_owner(Owner::Client("c1"), 350, FUTURE).await.unwrap();
    assert!(s.is_revoked(&[&cut], 400).await.unwrap());
    assert!(!s.is_revoked(&[&cut], 401).await.unwrap());
    // A plain revocation of the same id covers every issue time.
    s.revoke_id(&cut, FUTURE).await.unwrap();
    assert!(s.is_revoked(&[&cut], 10_000).await.unwrap());

    // By subject.
    let sub = Owner::Subject("bob").revocation_id();
    assert_eq!(s.revoke_owner(Owner::Subject("bob"), 500, FUTURE).await.unwrap(), 1);
    assert!(s.get_token("c2-a").await.unwrap().unwrap().revoked);
    assert!(s.is_revoked(&[&sub], 500).await.unwrap());
}

/// Many refresh tokens consumed at once, each presented several times,
/// with a used one, an access token and an unknown hash among them:
/// exactly the answers one-at-a-time calls would give (backends may write
/// them in one batch).
pub async fn concurrent_refresh_consumes_many_tokens(s: DynStore) {
    let fresh: Vec<String> = (0..30).map(|i| format!("rot-{i}")).collect();
    for h in &fresh {
        s.put_token(&token(h, TokenKind::Refresh, &format!("fam-{h}"), FUTURE))
            .await
            .unwrap();
    }
    s.put_token(&token("rot-used", TokenKind::Refresh, "fam-used", FUTURE))
        .await
        .unwrap();
    assert!(matches!(
        s.consume_refresh("rot-used").await.unwrap(),
        Consume::Consumed(_)
    ));
    s.put_token(&token("rot-access", TokenKind::Access, "fam-a", FUTURE))
        .await
        .unwrap();
    let mut hashes = fresh.clone();
    hashes.extend(["rot-used".to_string(), "rot-access".into(), "rot-unknown".into()]);
    let barrier = Arc::new(tokio::sync::Barrier::new(hashes.len() * 3));
    let mut tasks = Vec::new();
    for h in &hashes {
        for _ in 0..3 {
            let (s, b, h) = (s.clone(), barrier.clone(), h.clone());
            tasks.push(tokio::spawn(async move {
                b.wait().await;
                (h.clone(), s.consume_refresh(&h).await.unwrap())
            }));
        }
    }
    let mut outcomes: std::collections::HashMap<String, (u32, u32, u32)> = Default::default();
    for t in tasks {
        let (h, c) = t.await.unwrap();
        let e = outcomes.entry(h.clone()).or_default();
        match c {
            Consume::Consumed(r) => {
                assert!(
                    r.used && r.token_hash == h && r.family_id == format!("fam-{h}"),
                    "{r:?}"
                );
                e.0 += 1;
            }
            Consume::AlreadyUsed(r) => {
                assert!(r.used && r.token_hash == h, "{r:?}");
                e.1 += 1;
            }
            Consume::NotFound => e.2 += 1,
        }
    }
    for h in &fresh {
        assert_eq!(outcomes[h], (1, 2, 0), "{h}: one winner, two reuses");
        assert!(s.get_token(h).await.unwrap().unwrap().used);
    }
    assert_eq!(outcomes["rot-used"], (0, 3, 0));
    assert_eq!(outcomes["rot-access"], (0, 0, 3));
    assert_eq!(outcomes["rot-unknown"], (0, 0, 3));
    assert!(
        !s.get_token("rot-access").await.unwrap().unwrap().used,
        "an access token is left alone"
    );
}
