//! The device authorization grant with real parties on both sides: panva's
//! oauth4webapi plays the device (device authorization request, polling
//! with slow_down honoured, strict validation of the token response and ID
//! token) while Debian's headless chromium plays the user on the
//! verification page (tests/browser/device.mjs): a wrong code, the right
//! one typed in lower case without the dash, sign-in, consent naming the
//! client and scopes, Allow; then `verification_uri_complete` with the
//! session kept, Deny. The consent page's screenshot is saved as
//! target/artifacts/device-consent.png.
//!
//! Needs /usr/bin/chromium, tests/browser/node_modules/playwright-core and
//! tests/interop/panva/node_modules/oauth4webapi: ./test.sh installs them.

mod common;

use common::Gatehouse;
use std::path::Path;

const CONFIG: &str = r#"[tokens]
device_poll_interval = "2s"

[[clients]]
id = "tv"
name = "Living Room TV"
public = true
grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
scopes = ["openid", "profile", "photos"]

[[users]]
username = "alice"
password = "wonderland"

[[apis]]
path = "/photos"
auth = { kind = "oauth2", scopes = ["photos"] }
backend = { mock = { body = "alice's photos" } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_flow_in_chromium_while_oauth4webapi_polls() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/interop/panva/node_modules/oauth4webapi").exists(),
        "oauth4webapi is missing: run ./test.sh (npm install --prefix tests/interop/panva)"
    );
    let gh = Gatehouse::start(CONFIG);
    let artifacts = root.join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let r = common::browser_run(
        "device.mjs",
        &[&gh.url(""), &gh.url("/photos"), artifacts.to_str().unwrap()],
        &gh,
    )
    .await;

    let a = &r["authorization"];
    let code = a["user_code"].as_str().unwrap();
    assert_eq!(a["verification_uri"], gh.url("/api/oauth/device"));
    assert_eq!(
        a["verification_uri_complete"],
        format!("{}?user_code={code}", gh.url("/api/oauth/device"))
    );
    assert_eq!(a["interval"], 2);

    let allow = &r["allow"];
    assert_eq!(allow["start"]["h1"], "Connect a device");
    assert!(
        allow["start"]["wrong"].as_str().unwrap().contains("not valid"),
        "{allow}"
    );
    assert_eq!(allow["login"]["h1"], "Sign in");
    assert!(allow["login"]["text"].as_str().unwrap().contains("Living Room TV"));
    assert_eq!(allow["consent"]["h1"], "Living Room TV wants to:");
    assert_eq!(
        allow["consent"]["scopes"],
        serde_json::json!(["Confirm who you are", "View your photos"])
    );
    assert_eq!(allow["consent"]["shown_code"], code);
    assert!(allow["done"].as_str().unwrap().contains("Device connected"));
    // The eager double poll was answered pending then slow_down; every
    // later poll was pending until the user allowed it.
    let seen: Vec<&str> = allow["seen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(&seen[..2], ["authorization_pending", "slow_down"], "{seen:?}");
    assert!(seen[2..].iter().all(|e| *e == "authorization_pending"), "{seen:?}");
    assert!(allow["error"].is_null(), "{allow}");
    assert_eq!(allow["token_type"], "bearer");
    assert_eq!(allow["scope"], "openid photos");
    assert_eq!(allow["has_refresh"], true);
    assert_eq!(allow["id_token_sub"], "alice");
    assert_eq!(allow["id_token_aud"], "tv");
    assert_eq!(allow["api"]["status"], 200);
    assert_eq!(allow["api"]["body"], "alice's photos");

    let deny = &r["deny"];
    assert_eq!(deny["prefilled"], deny["user_code"]);
    assert_eq!(deny["shown"], deny["user_code"]);
    assert_eq!(deny["error"], "access_denied", "{deny}");
    assert!(artifacts.join("device-consent.png").exists());
}
