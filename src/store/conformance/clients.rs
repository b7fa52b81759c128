//! Clients: upsert, read, list (search, keyset paging), delete, metadata.

use super::client;
use crate::store::{Client, ClientMeta, DynStore, ListQuery};

pub async fn upsert_get_list_delete(s: DynStore) {
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

pub async fn metadata_round_trips(s: DynStore) {
    let mut c = client("meta");
    c.meta = ClientMeta {
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "BB"}]})),
        jwks_uri: None,
        client_secret_sealed: Some("v1.sealed".into()),
        id_token_signed_response_alg: Some("ES256".into()),
        introspection_signed_response_alg: Some("ES256".into()),
        post_logout_redirect_uris: vec!["https://app.example/bye".into()],
        backchannel_logout_uri: Some("https://app.example/backchannel".into()),
        backchannel_logout_session_required: true,
        access_token_format: Some("opaque".into()),
        logo_uri: Some("https://app.example/logo.png".into()),
        registration_token_hash: Some("rat-hash".into()),
        token_exchange: Some(crate::store::TokenExchangePolicy {
            audiences: vec!["https://back.example".into()],
            scopes: Some(vec!["photos".into()]),
            may_impersonate: true,
        }),
        dpop_bound_access_tokens: true,
        require_pushed_authorization_requests: true,
    };
    s.put_client(&c).await.unwrap();
    assert_eq!(s.get_client("meta").await.unwrap(), Some(c.clone()));
    // Replacing the client replaces its metadata too.
    let plain = client("meta");
    s.put_client(&plain).await.unwrap();
    assert_eq!(s.get_client("meta").await.unwrap(), Some(plain));
}

pub async fn search_and_page(s: DynStore) {
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
}
