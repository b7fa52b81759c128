//! `/metrics` counts live Tokio tasks over every runtime of the process
//! (the control runtime and each worker thread's), so a scrape answered by
//! one worker still sees connections held by another, and the gauge falls
//! back when they close (a leak would only grow: bench/soak.sh watches it).

mod common;

use common::Gatehouse;
use std::time::{Duration, Instant};

async fn alive_tasks(gh: &Gatehouse) -> u64 {
    let m = gh.metrics().await;
    m.lines()
        .find_map(|l| l.strip_prefix("gatehouse_runtime_alive_tasks "))
        .unwrap_or_else(|| panic!("no gatehouse_runtime_alive_tasks in:\n{m}"))
        .trim()
        .parse::<f64>()
        .unwrap() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alive_tasks_cover_every_worker_and_fall_when_connections_close() {
    let gh = Gatehouse::start_full(&format!("workers = 2\n{}", common::PRELUDE));
    let before = alive_tasks(&gh).await;
    // 64 idle connections, spread by the kernel over both workers.
    let held: Vec<std::net::TcpStream> = (0..64)
        .map(|_| std::net::TcpStream::connect(gh.addr).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut during = alive_tasks(&gh).await;
    while during < before + 64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        during = alive_tasks(&gh).await;
    }
    assert!(
        during >= before + 64,
        "before {before}, with 64 connections open {during}"
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = alive_tasks(&gh).await;
    while after >= before + 64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = alive_tasks(&gh).await;
    }
    assert!(after < before + 16, "before {before}, after closing {after}");
}
