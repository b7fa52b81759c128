//! Shared by the targets that need async code or a scratch directory.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Runs a future to completion on one current-thread runtime per process.
pub fn block_on<F: Future>(f: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
    .block_on(f)
}

/// A fresh scratch directory; the caller removes it once keys are loaded.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gatehouse-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The authorization server of the authz targets: clients that cover the
/// cases of the authorize endpoint (confidential with two redirect URIs,
/// public with PKCE and the implicit flow, code only), a memory store.
pub const AUTHZ_TOML: &str = r#"
issuer = "https://auth.example"

[store]
url = "memory://"

[[clients]]
id = "printer"
secret = "printer-demo-secret"
redirect_uris = ["http://127.0.0.1:9000/callback", "https://printer.example/cb?x=1"]
grant_types = ["authorization_code", "refresh_token", "password", "client_credentials"]
scopes = ["photos", "openid", "profile", "email"]

[[clients]]
id = "spa"
public = true
redirect_uris = ["https://spa.example/"]
grant_types = ["authorization_code", "implicit"]
scopes = ["openid", "profile", "read"]

[[clients]]
id = "cli"
public = true
redirect_uris = ["http://127.0.0.1/cb", "http://[::1]/cb"]
grant_types = ["authorization_code"]
scopes = ["read"]
"#;

pub fn auth_server() -> &'static gatehouse::authz::AuthServer {
    use gatehouse::authz::AuthServer;
    use gatehouse::keys::ring::KeyRing;
    use gatehouse::keys::session::SessionKey;
    use gatehouse::keys::signer::SigningKeys;
    use gatehouse::keys::SigningAlg;
    use std::sync::Arc;
    static S: OnceLock<AuthServer> = OnceLock::new();
    S.get_or_init(|| {
        let cfg =
            gatehouse::config::Config::parse(AUTHZ_TOML, "fuzz", std::path::Path::new("."), &[]).expect("AUTHZ_TOML");
        let dir = scratch("authz");
        let keys = SigningKeys::load_or_create(&dir.join("keys"), SigningAlg::Es256).expect("signing key");
        let session_key = SessionKey::load_or_create(&dir).expect("session key");
        let _ = std::fs::remove_dir_all(&dir);
        let store: gatehouse::store::DynStore = Arc::new(gatehouse::store::memory::MemoryStore::default());
        block_on(async {
            let s = AuthServer::new(
                Arc::new(cfg),
                store,
                Arc::new(KeyRing::new(dir.join("keys"), SigningAlg::Es256, keys)),
                session_key,
            )
            .expect("auth server");
            s.seed_from_config().await.expect("seed clients");
            s
        })
    })
}
