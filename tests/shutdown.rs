//! Graceful shutdown: on SIGTERM (and SIGINT) gatehouse stops accepting new
//! connections, lets in-flight requests finish, then exits 0.

mod common;

use axum::routing::get;
use common::Gatehouse;
use std::time::Duration;

async fn slow_upstream() -> std::net::SocketAddr {
    common::serve(axum::Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "finished"
        }),
    ))
    .await
}

async fn in_flight_request_finishes(sig: &str) {
    let up = slow_upstream().await;
    let mut gh = Gatehouse::start(&format!(
        "[[apis]]\npath = \"/slow\"\nbackend = {{ upstream = \"http://{up}\" }}\n"
    ));
    let url = gh.url("/slow");
    let pending = tokio::spawn(async move { common::client().get(url).send().await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    gh.signal(sig);
    let resp = pending.await.unwrap().expect("the in-flight request completes");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "finished");
    let status = tokio::task::spawn_blocking(move || {
        let s = gh.wait_exit(Duration::from_secs(10));
        (s, gh)
    })
    .await
    .unwrap();
    let (exit, gh) = status;
    assert!(exit.is_some_and(|s| s.success()), "exit {exit:?}; log:\n{}", gh.log());
    assert!(gh.log().contains("shutdown signal received"));
    // Nothing listens any more.
    assert!(common::client().get(gh.url("/healthz")).send().await.is_err());
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    in_flight_request_finishes("TERM").await;
}

#[tokio::test]
async fn sigint_lets_in_flight_requests_finish() {
    in_flight_request_finishes("INT").await;
}
