//! The one test suite every store backend must pass. Each case is an async
//! function taking a fresh `DynStore`; `backend_suite!` turns the whole list
//! into `#[tokio::test]`s for one backend. A new backend joins with one line
//! at the bottom (plus its factory).

use super::{
    AuthCode, Client, ClientMeta, Consent, Consume, DynStore, Failures, ListQuery, Owner, SessionRecord, StoreError,
    TokenKind, TokenRecord, User,
};
use crate::config::StoreSettings;
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
        meta: ClientMeta::default(),
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
    assert!(s.list_clients(&ListQuery::ALL).await.unwrap().is_empty());

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
    let ids: Vec<String> = s
        .list_clients(&ListQuery::ALL)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["b-public", "c1"]);

    assert!(s.delete_client("c1").await.unwrap());
    assert!(!s.delete_client("c1").await.unwrap());
    assert!(!s.delete_client("never-there").await.unwrap());
    assert_eq!(s.get_client("c1").await.unwrap(), None);
    assert_eq!(s.list_clients(&ListQuery::ALL).await.unwrap(), vec![public]);
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
    assert_eq!(s.list_users(&ListQuery::ALL).await.unwrap(), vec![changed, user("bob")]);

    // Usernames are exact: no case folding in the store.
    assert_eq!(s.get_user("Alice").await.unwrap(), None);

    assert!(s.delete_user("bob").await.unwrap());
    assert!(!s.delete_user("bob").await.unwrap());
    assert_eq!(s.get_user("bob").await.unwrap(), None);
    assert_eq!(s.list_users(&ListQuery::ALL).await.unwrap().len(), 1);
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

pub async fn revocation_list(s: DynStore) {
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

pub async fn client_metadata_round_trips(s: DynStore) {
    let mut c = client("meta");
    c.meta = ClientMeta {
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "BB"}]})),
        jwks_uri: None,
        client_secret_sealed: Some("v1.sealed".into()),
        id_token_signed_response_alg: Some("ES256".into()),
        post_logout_redirect_uris: vec!["https://app.example/bye".into()],
        access_token_format: Some("opaque".into()),
        logo_uri: Some("https://app.example/logo.png".into()),
        registration_token_hash: Some("rat-hash".into()),
    };
    s.put_client(&c).await.unwrap();
    assert_eq!(s.get_client("meta").await.unwrap(), Some(c.clone()));
    // Replacing the client replaces its metadata too.
    let plain = client("meta");
    s.put_client(&plain).await.unwrap();
    assert_eq!(s.get_client("meta").await.unwrap(), Some(plain));
}

pub async fn listings_search_and_page(s: DynStore) {
    for (id, name) in [
        ("alpha", "Printing App"),
        ("beta", "Photo Backup"),
        ("gamma", "print_50%"),
        ("delta", "Other"),
    ] {
        let mut c = client(id);
        c.name = name.into();
        s.put_client(&c).await.unwrap();
    }
    let ids = |v: Vec<Client>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let q = |search, after, limit| ListQuery { search, after, limit };
    // Case-insensitive substring of id or name.
    assert_eq!(
        ids(s.list_clients(&q(Some("PRINT"), None, 10)).await.unwrap()),
        ["alpha", "gamma"]
    );
    assert_eq!(ids(s.list_clients(&q(Some("et"), None, 10)).await.unwrap()), ["beta"]);
    // Wildcards in the search are literal.
    assert_eq!(ids(s.list_clients(&q(Some("_5"), None, 10)).await.unwrap()), ["gamma"]);
    assert_eq!(ids(s.list_clients(&q(Some("%"), None, 10)).await.unwrap()), ["gamma"]);
    assert!(s.list_clients(&q(Some("zzz"), None, 10)).await.unwrap().is_empty());
    // Keyset paging in id order.
    assert_eq!(ids(s.list_clients(&q(None, None, 2)).await.unwrap()), ["alpha", "beta"]);
    assert_eq!(
        ids(s.list_clients(&q(None, Some("beta"), 2)).await.unwrap()),
        ["delta", "gamma"]
    );
    assert!(s.list_clients(&q(None, Some("gamma"), 2)).await.unwrap().is_empty());

    for (name, email) in [
        ("carol", Some("carol@example.com")),
        ("dave", None),
        ("erin", Some("boss@corp.example")),
    ] {
        let mut u = user(name);
        u.email = email.map(str::to_owned);
        s.put_user(&u).await.unwrap();
    }
    let names = |v: Vec<User>| v.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(names(s.list_users(&q(Some("CORP"), None, 10)).await.unwrap()), ["erin"]);
    // Users' display names are searched too ("dave Example").
    assert_eq!(
        names(s.list_users(&q(Some("dave ex"), None, 10)).await.unwrap()),
        ["dave"]
    );
    assert_eq!(names(s.list_users(&q(None, Some("carol"), 1)).await.unwrap()), ["dave"]);
}

pub async fn tokens_stored_after_their_family_was_revoked_read_as_revoked(s: DynStore) {
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

pub async fn single_use_ids(s: DynStore) {
    assert!(s.use_once("jti-1", 200, 100).await.unwrap());
    assert!(!s.use_once("jti-1", 200, 100).await.unwrap());
    assert!(!s.use_once("jti-1", 900, 199).await.unwrap());
    assert!(s.use_once("jti-2", 200, 100).await.unwrap());
    // Once its time is up the id may be used again (the assertion that
    // carried it has expired by then).
    assert!(s.use_once("jti-1", 400, 200).await.unwrap());
    assert!(!s.use_once("jti-1", 400, 300).await.unwrap());
    // Purged with the other expired rows.
    s.purge_expired(400, 10).await.unwrap();
    assert!(s.use_once("jti-1", 500, 300).await.unwrap());
}

pub async fn concurrent_single_use_has_one_winner(s: DynStore) {
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, b) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                b.wait().await;
                s.use_once("jti-race", FUTURE, 1).await
            })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
}

/// Many ids at once, each presented several times, some already used and
/// some whose earlier use has expired: exactly the answers one-at-a-time
/// calls would give (backends may write them in one batch).
pub async fn concurrent_single_use_many_ids(s: DynStore) {
    assert!(s.use_once("old-live", FUTURE, 100).await.unwrap());
    assert!(s.use_once("old-expired", 150, 100).await.unwrap());
    let mut ids: Vec<String> = (0..30).map(|i| format!("jti-{i}")).collect();
    ids.push("old-live".into());
    ids.push("old-expired".into());
    let barrier = Arc::new(tokio::sync::Barrier::new(ids.len() * 3));
    let mut tasks = Vec::new();
    for id in &ids {
        for _ in 0..3 {
            let (s, b, id) = (s.clone(), barrier.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                b.wait().await;
                (id.clone(), s.use_once(&id, FUTURE, 200).await.unwrap())
            }));
        }
    }
    let mut wins: std::collections::HashMap<String, u32> = Default::default();
    for t in tasks {
        let (id, first) = t.await.unwrap();
        *wins.entry(id).or_default() += u32::from(first);
    }
    for id in &ids {
        let want = u32::from(id != "old-live");
        assert_eq!(wins[id], want, "{id}");
    }
    assert!(
        !s.use_once("old-expired", FUTURE, 300).await.unwrap(),
        "taken over, now live again"
    );
}

pub async fn sessions_round_trip(s: DynStore) {
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

pub async fn failure_counters_count_within_a_window(s: DynStore) {
    assert_eq!(s.get_failures("u:alice", 100).await.unwrap(), None);
    assert_eq!(
        s.add_failure("u:alice", 100, 60).await.unwrap(),
        Failures { count: 1, until: 160 }
    );
    assert_eq!(
        s.add_failure("u:alice", 110, 60).await.unwrap(),
        Failures { count: 2, until: 170 }
    );
    assert_eq!(
        s.get_failures("u:alice", 169).await.unwrap(),
        Some(Failures { count: 2, until: 170 })
    );
    assert_eq!(s.get_failures("u:alice", 170).await.unwrap(), None);
    // After the window a failure starts a new count.
    assert_eq!(
        s.add_failure("u:alice", 171, 60).await.unwrap(),
        Failures { count: 1, until: 231 }
    );
    s.add_failure("i:10.0.0.1", 171, 60).await.unwrap();
    s.clear_failures("u:alice").await.unwrap();
    assert_eq!(s.get_failures("u:alice", 172).await.unwrap(), None);
    assert!(s.get_failures("i:10.0.0.1", 172).await.unwrap().is_some());
    s.purge_expired(1_000, 10).await.unwrap();
    assert_eq!(s.get_failures("i:10.0.0.1", 172).await.unwrap(), None);
}

pub async fn concurrent_failures_are_all_counted(s: DynStore) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.add_failure("i:race", 1_000, 300).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(s.get_failures("i:race", 1_000).await.unwrap().unwrap().count, 16);
}

/// Keeps a backend's resources (a temp dir, a server) alive for one test.
pub type Guard = Box<dyn std::any::Any + Send>;

pub async fn memory_store() -> (DynStore, Guard) {
    (Arc::new(super::memory::MemoryStore::default()), Box::new(()))
}

pub async fn sqlite_store() -> (DynStore, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    (super::open(&StoreSettings::for_url(&url)).await.unwrap(), Box::new(dir))
}

/// The test PostgreSQL server's base URL: `$GATEHOUSE_TEST_PG` (./test.sh
/// starts one for the whole run), or a private throw-away server for this
/// test process, stopped when the process exits (tests/pg/cluster.sh).
pub fn pg_base() -> String {
    static BASE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        if let Ok(url) = std::env::var("GATEHOUSE_TEST_PG") {
            return url.trim_end_matches('/').to_string();
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pg/cluster.sh");
        let out = std::process::Command::new(script)
            .args(["start", "--watch", &std::process::id().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cannot start a test PostgreSQL (run ./test.sh, which installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
    .clone()
}

/// Settings for a fresh, empty database on the test server.
pub async fn postgres_settings() -> StoreSettings {
    use sqlx::Connection;
    let base = pg_base();
    let name = format!(
        "t_{}",
        crate::authz::secrets::random_token().to_lowercase().replace('-', "_")
    );
    let name = &name[..40];
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres")).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    StoreSettings::for_url(&format!("{base}/{name}"))
}

pub async fn postgres_store() -> (DynStore, Guard) {
    (super::open(&postgres_settings().await).await.unwrap(), Box::new(()))
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
            client_metadata_round_trips,
            listings_search_and_page,
            tokens_stored_after_their_family_was_revoked_read_as_revoked,
            owner_revocation_covers_what_was_issued_before,
            single_use_ids,
            concurrent_single_use_has_one_winner,
            concurrent_single_use_many_ids,
            sessions_round_trip,
            failure_counters_count_within_a_window,
            concurrent_failures_are_all_counted,
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
backend_suite!(postgres, super::postgres_store);
