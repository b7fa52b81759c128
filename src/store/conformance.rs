//! The one test suite every store backend must pass. Each case is an async
//! function taking a fresh `DynStore`; `backend_suite!` turns the whole list
//! into `#[tokio::test]`s for one backend. A new backend joins with one line
//! at the bottom (plus its factory).

use super::{AuthCode, Client, Consent, Consume, DynStore, StoreError, TokenKind, TokenRecord, User};
use std::sync::Arc;

/// Far enough ahead that nothing built here expires during a test.
const FUTURE: i64 = 4_000_000_000;

pub fn client(id: &str) -> Client {
    Client {
        id: id.into(),
        name: format!("{id} app"),
        secret_hash: Some(format!("sha256$hash-of-{id}")),
        redirect_uris: vec!["https://app.example/cb".into(), "http://127.0.0.1:9/cb".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "photos".into()],
        audience: vec!["https://api.example".into()],
        access_ttl: Some(600),
        refresh_ttl: None,
        created_at: 1_700_000_000,
    }
}

pub fn user(name: &str) -> User {
    User {
        username: name.into(),
        password_hash: format!("$argon2id$v=19$fake${name}"),
        name: Some(format!("{name} Example")),
        email: None,
        created_at: 1_700_000_001,
    }
}

pub fn code(hash: &str, expires_at: i64) -> AuthCode {
    AuthCode {
        code_hash: hash.into(),
        client_id: "c1".into(),
        username: "alice".into(),
        redirect_uri: "https://app.example/cb".into(),
        scope: "openid photos".into(),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        code_challenge_method: Some("S256".into()),
        nonce: None,
        auth_time: 1_700_000_002,
        family_id: format!("fam-{hash}"),
        expires_at,
    }
}

pub fn token(hash: &str, kind: TokenKind, family: &str, expires_at: i64) -> TokenRecord {
    TokenRecord {
        token_hash: hash.into(),
        kind,
        client_id: "c1".into(),
        subject: Some("alice".into()),
        scope: "photos".into(),
        audience: vec!["https://api.example".into()],
        family_id: family.into(),
        issued_at: 1_700_000_003,
        expires_at,
        auth_time: None,
        used: false,
        revoked: false,
    }
}

pub async fn ping_answers(s: DynStore) {
    s.ping().await.unwrap();
}

pub async fn clients_upsert_get_list_delete(s: DynStore) {
    assert_eq!(s.get_client("c1").await.unwrap(), None);
    assert!(s.list_clients().await.unwrap().is_empty());

    let mut public = client("b-public");
    public.secret_hash = None;
    public.audience = vec![];
    public.access_ttl = None;
    public.refresh_ttl = Some(86_400);
    s.put_client(&client("c1")).await.unwrap();
    s.put_client(&public).await.unwrap();
    assert_eq!(s.get_client("c1").await.unwrap(), Some(client("c1")));
    let got = s.get_client("b-public").await.unwrap().unwrap();
    assert_eq!(got, public);
    assert!(got.is_public());

    // put replaces the whole record.
    let mut changed = client("c1");
    changed.name = "renamed".into();
    changed.scopes = vec!["email".into()];
    changed.grant_types = vec!["client_credentials".into()];
    s.put_client(&changed).await.unwrap();
    assert_eq!(s.get_client("c1").await.unwrap(), Some(changed.clone()));

    // Listed in id order, no duplicates after the replace.
    let ids: Vec<String> = s.list_clients().await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["b-public", "c1"]);

    assert!(s.delete_client("c1").await.unwrap());
    assert!(!s.delete_client("c1").await.unwrap());
    assert!(!s.delete_client("never-there").await.unwrap());
    assert_eq!(s.get_client("c1").await.unwrap(), None);
    assert_eq!(s.list_clients().await.unwrap(), vec![public]);
}

pub async fn users_upsert_get_list_delete(s: DynStore) {
    assert_eq!(s.get_user("alice").await.unwrap(), None);
    s.put_user(&user("bob")).await.unwrap();
    s.put_user(&user("alice")).await.unwrap();
    assert_eq!(s.get_user("alice").await.unwrap(), Some(user("alice")));

    let mut changed = user("alice");
    changed.password_hash = "$argon2id$v=19$new".into();
    changed.name = None;
    changed.email = Some("alice@example.com".into());
    s.put_user(&changed).await.unwrap();
    assert_eq!(s.get_user("alice").await.unwrap(), Some(changed.clone()));
    assert_eq!(s.list_users().await.unwrap(), vec![changed, user("bob")]);

    // Usernames are exact: no case folding in the store.
    assert_eq!(s.get_user("Alice").await.unwrap(), None);

    assert!(s.delete_user("bob").await.unwrap());
    assert!(!s.delete_user("bob").await.unwrap());
    assert_eq!(s.get_user("bob").await.unwrap(), None);
    assert_eq!(s.list_users().await.unwrap().len(), 1);
}

pub async fn codes_are_single_use(s: DynStore) {
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
    s.put_code(&old).await.unwrap();
    assert_eq!(s.consume_code("h2").await.unwrap(), Consume::Consumed(old));
}

pub async fn tokens_round_trip(s: DynStore) {
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
    assert!(!s.is_revoked(&["a1", "f1"]).await.unwrap());
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
    assert!(!s.is_revoked(&["fam-a"]).await.unwrap());

    // Counts the tokens this call revoked (fa-3 already was).
    assert_eq!(s.revoke_family("fam-a", FUTURE).await.unwrap(), 2);
    for h in ["fa-1", "fa-2", "fa-3"] {
        assert!(s.get_token(h).await.unwrap().unwrap().revoked, "{h}");
    }
    for h in ["fb-1", "fb-2"] {
        assert!(!s.get_token(h).await.unwrap().unwrap().revoked, "{h}");
    }
    assert!(s.is_revoked(&["fam-a"]).await.unwrap());
    assert!(s.is_revoked(&["some-jti", "fam-a"]).await.unwrap());
    assert!(!s.is_revoked(&["fam-b"]).await.unwrap());

    // A family with no stored tokens (JWT-only) still gets listed.
    assert_eq!(s.revoke_family("fam-jwt-only", FUTURE).await.unwrap(), 0);
    assert!(s.is_revoked(&["fam-jwt-only"]).await.unwrap());
    // Again: idempotent.
    assert_eq!(s.revoke_family("fam-a", FUTURE).await.unwrap(), 0);
}

pub async fn revocation_list(s: DynStore) {
    assert!(!s.is_revoked(&[]).await.unwrap());
    assert!(!s.is_revoked(&["jti-1"]).await.unwrap());
    s.revoke_id("jti-1", 100).await.unwrap();
    assert!(s.is_revoked(&["jti-1"]).await.unwrap());
    assert!(s.is_revoked(&["x", "y", "jti-1"]).await.unwrap());
    assert!(!s.is_revoked(&["x", "y"]).await.unwrap());
    // Ids are exact.
    assert!(!s.is_revoked(&["JTI-1", "jti-"]).await.unwrap());

    // Revoking again with an earlier bound keeps the later one.
    s.revoke_id("jti-1", 50).await.unwrap();
    s.purge_expired(75, 10).await.unwrap();
    assert!(s.is_revoked(&["jti-1"]).await.unwrap());
    // And a later bound extends it.
    s.revoke_id("jti-1", 200).await.unwrap();
    s.purge_expired(150, 10).await.unwrap();
    assert!(s.is_revoked(&["jti-1"]).await.unwrap());
    s.purge_expired(200, 10).await.unwrap();
    assert!(!s.is_revoked(&["jti-1"]).await.unwrap());

    // Many ids in one call (longer than any single IN list chunk).
    let many: Vec<String> = (0..1200).map(|i| format!("id-{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(!s.is_revoked(&refs).await.unwrap());
    s.revoke_id("id-1100", FUTURE).await.unwrap();
    assert!(s.is_revoked(&refs).await.unwrap());
}

pub async fn consents_upsert_get_delete(s: DynStore) {
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

pub async fn purge_removes_only_expired_rows(s: DynStore) {
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
        assert!(!s.is_revoked(&[&format!("r-old-{i}")]).await.unwrap());
    }
    for i in 0..3 {
        assert!(matches!(
            s.consume_code(&format!("c-live-{i}")).await.unwrap(),
            Consume::Consumed(_)
        ));
        assert!(s.get_token(&format!("t-live-{i}")).await.unwrap().is_some());
        assert!(s.is_revoked(&[&format!("r-live-{i}")]).await.unwrap());
    }
    assert!(s.get_client("c1").await.unwrap().is_some());
    assert!(s.get_user("alice").await.unwrap().is_some());

    // An exact multiple of the batch still terminates; batch 0 is not a hang.
    for i in 0..4 {
        s.put_token(&token(&format!("t-even-{i}"), TokenKind::Access, "f", now + 5))
            .await
            .unwrap();
    }
    assert_eq!(s.purge_expired(now + 5, 2).await.unwrap(), 4 + 3 + 3 + 3);
    assert_eq!(s.purge_expired(now + 5, 0).await.unwrap(), 0);
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

pub async fn concurrent_code_consume_has_one_winner(s: DynStore) {
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

/// Keeps a backend's resources (a temp dir, a server) alive for one test.
pub type Guard = Box<dyn std::any::Any + Send>;

pub async fn memory_store() -> (DynStore, Guard) {
    (Arc::new(super::memory::MemoryStore::default()), Box::new(()))
}

pub async fn sqlite_store() -> (DynStore, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    (super::open(&url).await.unwrap(), Box::new(dir))
}

/// Every case above, as tests of the backend made by `$factory`.
macro_rules! backend_suite {
    ($backend:ident, $factory:path) => {
        backend_suite!(@cases $backend, $factory;
            ping_answers,
            clients_upsert_get_list_delete,
            users_upsert_get_list_delete,
            codes_are_single_use,
            tokens_round_trip,
            refresh_tokens_are_single_use,
            revoke_token_marks_only_that_token,
            revoke_family_revokes_the_family_only,
            revocation_list,
            consents_upsert_get_delete,
            purge_removes_only_expired_rows,
            concurrent_refresh_consume_has_one_winner,
            concurrent_code_consume_has_one_winner,
        );
    };
    (@cases $backend:ident, $factory:path; $($case:ident),* $(,)?) => {
        mod $backend {
            $(
                // Several worker threads so the concurrency cases really race.
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let (store, _guard) = $factory().await;
                    super::$case(store).await;
                }
            )*
        }
    };
}

backend_suite!(memory, super::memory_store);
backend_suite!(sqlite, super::sqlite_store);
