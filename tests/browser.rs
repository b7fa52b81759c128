//! The Flickr/Canon story (reference/002) in a real browser: Debian's headless
//! chromium, driven by Playwright (tests/browser/flickr.mjs), goes from the
//! Canon printing app (examples/printing_client, run in-process) to
//! gatehouse's login and consent pages and back to the app's callback, which
//! exchanges the code with PKCE and shows the photos from `/flickr/photos`.
//! Paths: wrong password, Deny, Allow, and a remembered consent. The consent
//! page's screenshot is saved as target/artifacts/consent.png.
//!
//! Needs /usr/bin/chromium and tests/browser/node_modules/playwright-core:
//! ./test.sh installs both.

mod common;

#[path = "../examples/printing_client/app.rs"]
mod app;

use common::Gatehouse;
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// The embedded demo's config, with a memory store, an ephemeral port (so
/// the issuer is gatehouse's real address) and the printing app's callback.
fn demo_config(callback: &str) -> String {
    let demo = include_str!("../src/config/demo.toml");
    let mut cfg = demo.to_string();
    for (from, to) in [
        ("issuer = \"http://127.0.0.1:8080\"\n", ""),
        ("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\""),
        ("sqlite://gatehouse-data/gatehouse.db", "memory://"),
        ("http://127.0.0.1:9000/callback", callback),
    ] {
        assert!(cfg.contains(from), "demo.toml no longer contains {from:?}");
        cfg = cfg.replace(from, to);
    }
    cfg
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flickr_canon_story_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The printing app first (gatehouse must know its callback), then
    // gatehouse, then tell the app where gatehouse is.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = listener.local_addr().unwrap();
    let app_url = format!("http://{app_addr}");
    let callback = format!("{app_url}/callback");
    let settings = Arc::new(RwLock::new(app::Settings {
        issuer: String::new(),
        client_id: "printer".into(),
        client_secret: "printer-demo-secret".into(),
        redirect_uri: callback.clone(),
    }));
    let router = app::router(settings.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let gh = Gatehouse::start_full(&demo_config(&callback));
    let issuer = gh.url("");
    settings.write().unwrap().issuer = issuer.clone();

    let artifacts = root.join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("consent.png");
    let _ = std::fs::remove_file(&shot);

    let r = common::browser_run("flickr.mjs", &[&app_url, &issuer, shot.to_str().unwrap()], &gh).await;

    // (1) The app's page, gatehouse's login, a wrong password, consent, Deny.
    let d = &r["deny"];
    assert_eq!(d["home"]["h1"], "Canon Printing", "{d:#}");
    let login_url = d["login"]["url"].as_str().unwrap();
    assert!(
        login_url.starts_with(&format!("{issuer}/api/oauth/authorize?")),
        "{login_url}"
    );
    for p in [
        "response_type=code",
        "client_id=printer",
        "code_challenge_method=S256",
        "state=",
        "scope=photos",
    ] {
        assert!(login_url.contains(p), "authorize request lacks {p}: {login_url}");
    }
    assert!(!d["wrongPassword"]["error"].as_str().unwrap().is_empty(), "{d:#}");
    let consent = &d["consent"];
    assert_eq!(consent["h1"], "Printing App wants to:", "{consent:#}");
    assert_eq!(strs(&consent["scopes"]), ["View your photos"], "{consent:#}");
    assert_eq!(consent["hasDeny"], true);
    assert_eq!(d["deniedShown"], true, "the app did not show #denied: {d:#}");
    assert!(d["denied"].as_str().unwrap().contains("Access was denied"), "{d:#}");
    let denied_url = d["url"].as_str().unwrap();
    assert!(
        denied_url.starts_with(&format!("{callback}?")) && denied_url.contains("error=access_denied"),
        "{denied_url}"
    );

    // (2) Allow: the session is kept, so no login page, only consent; then
    // the callback exchanges the code and lists the demo photos.
    let a = &r["allow"];
    assert_eq!(a["error"], "", "{a:#}");
    assert_eq!(a["consent"]["h1"], "Printing App wants to:");
    assert_eq!(strs(&a["photos"]), ["Sunset over the bay", "Mountain lake"], "{a:#}");
    assert!(
        a["url"].as_str().unwrap().starts_with(&format!("{callback}?code=")),
        "{a:#}"
    );
    let gatehouse_pages = strs(&a["visited"])
        .into_iter()
        .filter(|u| u.starts_with(&issuer))
        .count();
    assert_eq!(
        gatehouse_pages, 1,
        "only the consent page was expected at gatehouse: {a:#}"
    );

    // (3) Remembered consent: straight back to the photos, no gatehouse page.
    let m = &r["remembered"];
    assert_eq!(m["error"], "", "{m:#}");
    assert_eq!(m["sawConsent"], false, "{m:#}");
    assert_eq!(strs(&m["photos"]), ["Sunset over the bay", "Mountain lake"], "{m:#}");
    let visited = strs(&m["visited"]);
    assert!(visited.iter().all(|u| u.starts_with(&app_url)), "{visited:?}");
    assert!(
        visited.iter().any(|u| u.starts_with(&format!("{callback}?code="))),
        "{visited:?}"
    );

    // The consent page's screenshot is a real PNG.
    let png = std::fs::read(&shot).expect("no consent screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5_000,
        "bad screenshot"
    );
}
