//! The admin console in a real browser (Debian's headless chromium driven
//! by tests/browser/admin.mjs): sign in, register a confidential client,
//! copy its secret from the page and use it, regenerate it (the old one
//! fails), revoke the client's tokens (the gateway refuses them), delete it.
//! Screenshots of the registration page and the client list are saved as
//! target/artifacts/admin-register.png and admin-clients.png.
//!
//! Needs /usr/bin/chromium and tests/browser/node_modules/playwright-core:
//! ./test.sh installs both.

mod common;

use common::{Gatehouse, PRELUDE};
use std::path::Path;

const PASSWORD: &str = "console-password-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_console_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gh = Gatehouse::start_full(&format!(
        r#"{PRELUDE}
[tokens]
access_format = "jwt"

[admin]
username = "admin"
password = "{PASSWORD}"

[[apis]]
name = "photos"
path = "/photos"
auth = {{ kind = "oauth2", scopes = ["photos"] }}
backend = {{ mock = {{ body = "photos!" }} }}
"#
    ));
    let artifacts = root.join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    for f in ["admin-register.png", "admin-clients.png"] {
        let _ = std::fs::remove_file(artifacts.join(f));
    }

    let r = common::browser_run("admin.mjs", &[&gh.url(""), PASSWORD, artifacts.to_str().unwrap()], &gh).await;

    assert_eq!(
        r["signIn"]["url"],
        gh.url("/admin/login"),
        "no session: the sign-in page"
    );
    assert_eq!(r["afterSignIn"], gh.url("/admin/"), "signing in lands on the overview");
    assert_eq!(r["created"]["clientId"], "canon-printer");
    assert!(r["created"]["secretLength"].as_u64().unwrap() >= 40);
    assert_eq!(
        r["created"]["copyButton"], true,
        "the copy button shows with JavaScript"
    );
    assert_ne!(
        r["created"]["copiedMatches"], false,
        "the copy button copied something else"
    );
    assert_eq!(r["firstToken"]["status"], 200, "{r:#}");
    assert_eq!(r["firstToken"]["tokenType"], "Bearer");
    assert_eq!(r["firstCall"]["status"], 200);
    assert_eq!(r["firstCall"]["body"], "photos!");
    let listed = r["listed"].as_array().unwrap();
    assert!(
        listed.iter().any(|row| {
            let row = row.as_str().unwrap();
            row.contains("Canon Printing") && row.contains("canon-printer") && row.contains("confidential")
        }),
        "{listed:?}"
    );
    assert_eq!(r["detailsShowSecret"], false, "the secret is shown once only");
    assert_eq!(r["regenerated"]["differs"], true);
    assert_eq!(r["regenerated"]["oldSecret"], 401, "the old secret must fail");
    assert_eq!(r["regenerated"]["newSecret"], 200);
    assert_eq!(r["beforeRevoke"], 200);
    assert!(r["tokensListed"].as_u64().unwrap() >= 1, "opaque tokens are listed");
    assert!(r["revokeNotice"].as_str().unwrap().starts_with("Revoked"));
    assert_eq!(r["afterRevoke"]["status"], 401, "the gateway refuses a revoked token");
    assert_eq!(r["afterDelete"]["url"], gh.url("/admin/clients"));
    assert_eq!(r["afterDelete"]["stillListed"], false);
    assert_eq!(r["afterDelete"]["tokenRequest"], 401);
    assert!(r["keys"].as_u64().unwrap() >= 1);
    assert!(
        r["keysAfterRotate"].as_u64() > r["keys"].as_u64(),
        "the rotate button adds a key"
    );
    assert_ne!(r["currentBefore"], r["currentAfter"], "a new key is current");
    assert!(
        r["retiring"].as_u64().unwrap() >= 1,
        "the old key is retiring, still published"
    );
    assert_eq!(r["afterSignOut"], gh.url("/admin/login"));

    for f in ["admin-register.png", "admin-clients.png"] {
        let len = std::fs::metadata(artifacts.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 10_000, "{f} was not saved ({len} bytes)");
    }
}
