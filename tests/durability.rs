//! SQLite durability under a crash: WAL with synchronous=NORMAL and
//! checkpoints off the commit path must still keep every token that was
//! answered 200 when the process is killed with SIGKILL mid-load.

mod common;

use common::{client, Gatehouse};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONFIG: &str = r#"listen = "127.0.0.1:0"

[store]
url = "sqlite://data/gatehouse.db"

[tokens]
access_format = "opaque"

[keys]
dir = "keys"

[[clients]]
id = "svc"
secret = "svc-secret"
grant_types = ["client_credentials"]
scopes = ["api"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_opaque_issuance_loses_no_answered_token() {
    let mut gh = Gatehouse::start_full(CONFIG);
    let url = gh.url("/api/oauth/token");
    let issued = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (url, issued, stop) = (url.clone(), issued.clone(), stop.clone());
            tokio::spawn(async move {
                let c = client();
                while !stop.load(Ordering::Relaxed) {
                    let r = c
                        .post(&url)
                        .basic_auth("svc", Some("svc-secret"))
                        .form(&[("grant_type", "client_credentials"), ("scope", "api")])
                        .send()
                        .await;
                    // Only a complete 200 answer counts as issued.
                    let Ok(r) = r else { continue };
                    if r.status() != 200 {
                        continue;
                    }
                    if let Ok(j) = r.json::<Value>().await {
                        if let Some(t) = j["access_token"].as_str() {
                            issued.lock().unwrap().push(t.to_string());
                        }
                    }
                }
            })
        })
        .collect();
    // Let the load run, then kill mid-flight: requests are in the air.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before = issued.lock().unwrap().len();
    assert!(before > 500, "only {before} tokens issued before the kill");
    gh.restart(); // SIGKILL, then start again on the same files
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let tokens = std::mem::take(&mut *issued.lock().unwrap());

    // Every token answered 200 is known after the restart.
    let intro = gh.url("/api/oauth/introspect");
    let chunks: Vec<Vec<String>> = tokens
        .chunks(tokens.len().div_ceil(16))
        .map(<[String]>::to_vec)
        .collect();
    let checks = chunks.into_iter().map(|chunk| {
        let intro = intro.clone();
        tokio::spawn(async move {
            let c = client();
            let mut lost = Vec::new();
            for t in chunk {
                let j: Value = c
                    .post(&intro)
                    .basic_auth("svc", Some("svc-secret"))
                    .form(&[("token", t.as_str())])
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if j["active"] != true {
                    lost.push(t);
                }
            }
            lost
        })
    });
    let mut lost = Vec::new();
    for c in checks {
        lost.extend(c.await.unwrap());
    }
    assert!(
        lost.is_empty(),
        "{} of {} answered tokens lost: {:?}",
        lost.len(),
        tokens.len(),
        &lost[..lost.len().min(5)]
    );
    eprintln!(
        "{} tokens answered 200 before SIGKILL, all present after restart",
        tokens.len()
    );
}
