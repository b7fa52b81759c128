//! Authorization request validation and redirect-URI matching:
//! `Form::parse` then `AuthServer::authorize_request` (the authorize
//! endpoint's GET query and POST body go through both), with the clients
//! of `common::AUTHZ_TOML`. Properties: the server never redirects to a URI
//! that is not registered for the named client (RFC 9700 §4.1), grants no
//! scope the client lacks, and never lets a public client get a code
//! without S256 PKCE.
#![no_main]

mod common;

use gatehouse::authz::authorize::AuthorizeError;
use gatehouse::authz::form::Form;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(form) = Form::parse(data) else { return };
    let server = common::auth_server();
    let result = common::block_on(server.authorize_request(&form));
    let client_id = form.get("client_id");
    let registered = |uri: &str| {
        let cfg = &server.cfg;
        cfg.clients
            .iter()
            .any(|c| Some(c.id.as_str()) == client_id && c.redirect_uris.iter().any(|u| u == uri))
    };
    match result {
        Ok(req) => {
            assert_eq!(Some(req.client.id.as_str()), client_id);
            assert!(
                registered(&req.redirect_uri),
                "{:?} is not registered",
                req.redirect_uri
            );
            if let Some(asked) = form.get("redirect_uri") {
                assert_eq!(asked, req.redirect_uri, "a redirect URI other than the one asked for");
            }
            for s in &req.scopes {
                assert!(req.client.scopes.contains(s), "granted {s:?}, which the client lacks");
            }
            if req.response.code && req.client.is_public() {
                let c = req
                    .code_challenge
                    .as_deref()
                    .expect("a public client got a code without PKCE");
                assert_eq!(form.get("code_challenge_method"), Some("S256"));
                assert!((43..=128).contains(&c.len()));
            }
            if req.response.id_token {
                assert!(req.nonce.is_some() && req.scopes.iter().any(|s| s == "openid"));
            }
            let _ = req.params_after_login();
        }
        Err(AuthorizeError::Redirect { redirect_uri, .. }) => {
            assert!(
                registered(&redirect_uri),
                "error redirected to unregistered {redirect_uri:?}"
            );
        }
        Err(AuthorizeError::Page(_)) => {}
        // The memory store never fails: a 503 here would be a wrong answer.
        Err(AuthorizeError::Unavailable) => panic!("store unavailable on the memory store"),
    }
});
