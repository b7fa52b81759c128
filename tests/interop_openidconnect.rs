//! The Rust `openidconnect` crate (v4) as a relying party: discovery, the
//! code flow with PKCE through the real login and consent pages, ID token
//! verification (signature from the JWKS, nonce, at_hash) and userinfo,
//! against servers signing with RS256, ES256 and EdDSA.

mod common;

use common::web::Browser;
use common::Gatehouse;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

const CB: &str = "http://127.0.0.1:9000/callback";

fn config(alg: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"

[store]
url = "memory://"

[tokens]
signing_alg = "{alg}"

[keys]
dir = "keys"

[[clients]]
id = "rp"
secret = "rp-secret"
redirect_uris = ["{CB}"]
scopes = ["openid", "profile", "email"]

[[clients]]
id = "rp-alg"
secret = "rp-alg-secret"
redirect_uris = ["{CB}"]
scopes = ["openid", "profile", "email"]
id_token_signed_response_alg = "{alg}"

[[users]]
username = "alice"
password = "wonderland"
name = "Alice Liddell"
email = "alice@example.com"
"#
    )
}

fn jws_alg(alg: &str) -> CoreJwsSigningAlgorithm {
    match alg {
        "RS256" => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        "ES256" => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        _ => CoreJwsSigningAlgorithm::EdDsa,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openidconnect_crate_code_flow_and_id_token_verification() {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for alg in ["RS256", "ES256", "EdDSA"] {
        let gh = Gatehouse::start_full(&config(alg));
        let issuer = IssuerUrl::new(format!("http://{}", gh.addr)).unwrap();
        let meta = CoreProviderMetadata::discover_async(issuer, &http).await.unwrap();
        for (id, id_alg) in [("rp", "RS256"), ("rp-alg", alg)] {
            let client = CoreClient::from_provider_metadata(
                meta.clone(),
                ClientId::new(id.into()),
                Some(ClientSecret::new(format!("{id}-secret"))),
            )
            .set_redirect_uri(RedirectUrl::new(CB.into()).unwrap());
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            let (url, csrf, nonce) = client
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    CsrfToken::new_random,
                    Nonce::new_random,
                )
                .add_scope(Scope::new("profile".into()))
                .add_scope(Scope::new("email".into()))
                .set_pkce_challenge(challenge)
                .url();

            // The real pages, as a browser would walk them.
            let b = Browser::new(&gh);
            let login = Browser::page(b.http.get(url.as_str()).send().await.unwrap()).await;
            let consent = b.login(&login, "alice", "wonderland").await;
            let back = b.allow(&consent).await.redirect_params();
            assert_eq!(&back["state"], csrf.secret());

            let token = client
                .exchange_code(AuthorizationCode::new(back["code"].clone()))
                .unwrap()
                .set_pkce_verifier(verifier)
                .request_async(&http)
                .await
                .unwrap();
            let id_token = token.id_token().expect("an ID token for the openid scope");
            let v = client.id_token_verifier().set_allowed_algs(vec![jws_alg(id_alg)]);
            let claims = id_token
                .claims(&v, &nonce)
                .unwrap_or_else(|e| panic!("{alg}/{id}: {e}"));
            assert_eq!(claims.subject().as_str(), "alice");
            let expected = claims.access_token_hash().expect("at_hash");
            let actual = AccessTokenHash::from_token(
                token.access_token(),
                id_token.signing_alg().unwrap(),
                id_token.signing_key(&v).unwrap(),
            )
            .unwrap();
            assert_eq!(&actual, expected, "{alg}/{id}: at_hash");

            let info: CoreUserInfoClaims = client
                .user_info(token.access_token().to_owned(), Some(claims.subject().clone()))
                .unwrap()
                .request_async(&http)
                .await
                .unwrap();
            assert_eq!(
                info.email().map(|e| e.as_str()),
                Some("alice@example.com"),
                "{alg}/{id}"
            );
        }
    }
}
