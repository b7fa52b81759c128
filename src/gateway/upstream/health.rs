//! Active health checks: one task per pool (on the control runtime, off
//! the workers) asks every target's health path each `interval`; a target
//! goes out after `unhealthy` failures in a row and comes back after
//! `healthy` successes in a row. The task ends with its pool (a reload
//! that drops the pool, or shutdown).

use super::target::Target;
use super::Pool;
use crate::config::{HealthSpec, Protocol};
use http::StatusCode;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::{Arc, Weak};

type HealthClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<bytes::Bytes>>;

fn client(protocol: Protocol, tls: &Arc<rustls::ClientConfig>, timeout: std::time::Duration) -> HealthClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((**tls).clone())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    let mut b = Client::builder(TokioExecutor::new());
    // A check must see the target as the pool's traffic does; a fresh
    // connection each time also notices a target that stopped accepting.
    b.pool_max_idle_per_host(0);
    if protocol == Protocol::H2c {
        b.http2_only(true);
    }
    b.build(https)
}

fn passes(spec: &HealthSpec, status: StatusCode) -> bool {
    if spec.status.is_empty() {
        status.is_success() || status.is_redirection()
    } else {
        spec.status.contains(&status)
    }
}

/// One check of one target: true when it answered in time with a good status.
async fn check(c: &HealthClient, spec: &HealthSpec, t: &Target) -> Result<(), String> {
    let uri = format!("{}://{}{}", t.scheme, t.authority, spec.path);
    let req = http::Request::get(uri)
        .header(http::header::USER_AGENT, "gatehouse-health-check")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let work = async {
        let resp = c.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        // Read (and bound) the body so the answer is complete.
        let _ = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await;
        if passes(spec, status) {
            Ok(())
        } else {
            Err(format!("status {status}"))
        }
    };
    match tokio::time::timeout(spec.timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {:?}", spec.timeout)),
    }
}

pub fn spawn(pool: &Arc<Pool>, spec: HealthSpec, tls: &Arc<rustls::ClientConfig>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(upstream = %pool.name, "no runtime: active health checks are off");
        return;
    };
    let client = client(pool.protocol, tls, spec.timeout);
    let weak: Weak<Pool> = Arc::downgrade(pool);
    let n = pool.targets.len();
    rt.spawn(async move {
        // Consecutive results per target: (successes, failures).
        let mut runs = vec![(0u32, 0u32); n];
        let mut tick = tokio::time::interval(spec.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(pool) = weak.upgrade() else { return };
            let results = futures_util::future::join_all(pool.targets.iter().map(|t| check(&client, &spec, t))).await;
            for ((t, r), run) in pool.targets.iter().zip(results).zip(runs.iter_mut()) {
                match r {
                    Ok(()) => {
                        *run = (run.0.saturating_add(1), 0);
                        if run.0 >= spec.healthy && t.set_active(true) {
                            tracing::info!(upstream = %pool.name, target = %t.url, "upstream target healthy again (active check)");
                        }
                    }
                    Err(why) => {
                        *run = (0, run.1.saturating_add(1));
                        if run.1 >= spec.unhealthy && t.set_active(false) {
                            tracing::warn!(upstream = %pool.name, target = %t.url, reason = %why, "upstream target unhealthy (active check)");
                        }
                    }
                }
            }
        }
    });
}
