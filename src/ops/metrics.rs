//! Prometheus metrics: requests by route and status, latency histogram,
//! auth failures by reason. One process-wide recorder.

use ::metrics::{counter, histogram, SharedString};
use axum::response::IntoResponse;
use http::StatusCode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the recorder once per process (tests start several servers).
pub fn install() {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("gatehouse_request_duration_seconds".into()),
                &LATENCY_BUCKETS,
            )
            .ok()?
            .set_buckets_for_metric(
                Matcher::Full("gatehouse_upstream_duration_seconds".into()),
                &LATENCY_BUCKETS,
            )
            .ok()?;
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        ::metrics::set_global_recorder(recorder).ok()?;
        // Histogram samples pile up in memory until drained; without a
        // scraper that is a leak under load, so drain them periodically.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let h = handle.clone();
            rt.spawn(async move {
                let mut tick = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    tick.tick().await;
                    h.run_upkeep();
                }
            });
        }
        Some(handle)
    });
}

/// Every Tokio runtime of the process (the control runtime and one per
/// worker thread), so a scrape answered by one worker counts them all.
static RUNTIMES: std::sync::Mutex<Vec<tokio::runtime::Handle>> = std::sync::Mutex::new(Vec::new());

/// Registers the calling runtime for the runtime gauges.
pub fn watch_runtime() {
    if let (Ok(h), Ok(mut all)) = (tokio::runtime::Handle::try_current(), RUNTIMES.lock()) {
        all.push(h);
    }
}

/// Live tasks and globally queued tasks over every registered runtime
/// (or the current one, when none registered: unit tests).
fn runtime_load() -> (usize, usize) {
    let all = RUNTIMES.lock().map(|v| v.clone()).unwrap_or_default();
    let all = if all.is_empty() {
        tokio::runtime::Handle::try_current().into_iter().collect()
    } else {
        all
    };
    all.iter().fold((0, 0), |(t, q), h| {
        let m = h.metrics();
        (t + m.num_alive_tasks(), q + m.global_queue_depth())
    })
}

/// The text exposition of every metric (empty without a recorder).
pub fn exposition() -> String {
    // Read at scrape time: a task count that only grows is a leak (the
    // soak watches it).
    let (tasks, queued) = runtime_load();
    ::metrics::gauge!("gatehouse_runtime_alive_tasks").set(tasks as f64);
    ::metrics::gauge!("gatehouse_runtime_global_queue_depth").set(queued as f64);
    HANDLE
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

pub async fn render() -> impl IntoResponse {
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        exposition(),
    )
}

const NO_ROUTE: &str = "<none>";

fn route_label(route: Option<&Arc<str>>) -> SharedString {
    match route {
        Some(r) => SharedString::from(r.clone()),
        None => SharedString::const_str(NO_ROUTE),
    }
}

/// Status codes with a static label (and a pre-registered counter per route).
const COMMON_STATUS: [&str; 15] = [
    "200", "201", "204", "302", "304", "400", "401", "403", "404", "405", "429", "500", "502", "503", "504",
];

fn common_status(s: StatusCode) -> Option<usize> {
    let code = s.as_str();
    COMMON_STATUS.iter().position(|c| *c == code)
}

fn status_label(s: StatusCode) -> SharedString {
    match common_status(s) {
        Some(i) => SharedString::const_str(COMMON_STATUS[i]),
        None => SharedString::from(s.as_u16().to_string()),
    }
}

/// A route's request metrics, registered once: recording a request is then
/// an atomic add and a histogram push, with no label lookup or allocation.
pub struct RouteMetrics {
    route: SharedString,
    duration: ::metrics::Histogram,
    by_status: [std::sync::OnceLock<::metrics::Counter>; COMMON_STATUS.len()],
}

impl RouteMetrics {
    pub fn new(route: &Arc<str>) -> Self {
        let route = SharedString::from(route.clone());
        RouteMetrics {
            duration: histogram!("gatehouse_request_duration_seconds", "route" => route.clone()),
            route,
            by_status: Default::default(),
        }
    }

    pub fn record(&self, status: StatusCode, elapsed: Duration) {
        match common_status(status) {
            Some(i) => self.by_status[i]
                .get_or_init(|| {
                    counter!("gatehouse_requests_total", "route" => self.route.clone(), "status" => COMMON_STATUS[i])
                })
                .increment(1),
            None => counter!("gatehouse_requests_total", "route" => self.route.clone(), "status" => status_label(status))
                .increment(1),
        }
        self.duration.record(elapsed.as_secs_f64());
    }
}

pub fn request(route: Option<&Arc<str>>, status: StatusCode, elapsed: Duration) {
    let r = route_label(route);
    counter!("gatehouse_requests_total", "route" => r.clone(), "status" => status_label(status)).increment(1);
    histogram!("gatehouse_request_duration_seconds", "route" => r).record(elapsed.as_secs_f64());
}

pub fn auth_failure(route: &Arc<str>, reason: &'static str) {
    counter!("gatehouse_auth_failures_total", "route" => SharedString::from(route.clone()), "reason" => reason)
        .increment(1);
}

/// A request a route's rate limit refused.
pub fn rate_limited(route: &Arc<str>) {
    counter!("gatehouse_rate_limited_total", "route" => SharedString::from(route.clone())).increment(1);
}

/// One sync of shared rate-limit counts with its backend ("store",
/// "redis"): whether it answered, and how long it took.
pub fn rate_limit_sync(backend: &'static str, ok: bool, took: std::time::Duration) {
    let outcome = if ok { "ok" } else { "error" };
    counter!("gatehouse_rate_limit_syncs_total", "backend" => backend, "outcome" => outcome).increment(1);
    histogram!("gatehouse_rate_limit_sync_duration_seconds", "backend" => backend).record(took.as_secs_f64());
}

/// 1 while shared rate limits reach their backend; 0 while each instance
/// counts alone (or refuses, with `rate_limit_fallback = "refuse"`).
pub fn rate_limit_shared_up(up: bool) {
    ::metrics::gauge!("gatehouse_rate_limit_shared_up").set(if up { 1.0 } else { 0.0 });
}

/// How many other instances the last sync of shared rate limits saw.
pub fn rate_limit_peers(n: u32) {
    ::metrics::gauge!("gatehouse_rate_limit_peers").set(f64::from(n));
}

/// A shard of the local limiter forgot its keys (too many live at once).
pub fn rate_limit_reset() {
    counter!("gatehouse_rate_limit_resets_total").increment(1);
}

pub fn token_issued(grant: &'static str) {
    counter!("gatehouse_tokens_issued_total", "grant" => grant).increment(1);
}

/// A back-channel logout delivery ended: `delivered`, `rejected` (a 4xx or
/// a redirect), `refused` (by the outbound guard) or `failed` (no success
/// after every retry).
pub fn backchannel_logout(outcome: &'static str) {
    counter!("gatehouse_backchannel_logout_total", "outcome" => outcome).increment(1);
}

pub fn token_error(code: &'static str) {
    counter!("gatehouse_token_errors_total", "error" => code).increment(1);
}

/// Whether this instance hears other instances' changes (PostgreSQL
/// LISTEN/NOTIFY); 0 means caches rely on the staleness bound alone.
pub fn notifications_connected(up: bool) {
    ::metrics::gauge!("gatehouse_store_notifications_connected").set(if up { 1.0 } else { 0.0 });
}

/// A JWT access token accepted without a revocation check because the
/// store could not be asked (`[store] fail_open`).
pub fn revocation_check_skipped() {
    counter!("gatehouse_revocation_checks_skipped_total").increment(1);
}

/// A config reload (SIGHUP): `ok` false when the new file was refused.
pub fn config_reload(ok: bool) {
    counter!("gatehouse_config_reloads_total", "result" => if ok { "ok" } else { "failed" }).increment(1);
}

/// A TLS certificate reload: `ok` false when the new pair was refused.
pub fn tls_reload(ok: bool) {
    counter!("gatehouse_tls_reloads_total", "result" => if ok { "ok" } else { "failed" }).increment(1);
}

/// A client connection closed at once because `[server] max_connections`
/// were open.
pub fn connection_refused() {
    counter!("gatehouse_connections_refused_total").increment(1);
}

/// One upstream target's metrics, registered once when its pool is built:
/// recording is an atomic add and a histogram push.
pub struct TargetMetrics {
    requests: ::metrics::Counter,
    duration: ::metrics::Histogram,
    healthy: ::metrics::Gauge,
    pool: SharedString,
    target: SharedString,
}

impl TargetMetrics {
    pub fn new(pool: &Arc<str>, target: &Arc<str>) -> Self {
        let (p, t) = (SharedString::from(pool.clone()), SharedString::from(target.clone()));
        let healthy = ::metrics::gauge!("gatehouse_upstream_healthy", "upstream" => p.clone(), "target" => t.clone());
        healthy.set(1.0);
        TargetMetrics {
            requests: counter!("gatehouse_upstream_requests_total", "upstream" => p.clone(), "target" => t.clone()),
            duration: histogram!("gatehouse_upstream_duration_seconds", "upstream" => p.clone(), "target" => t.clone()),
            healthy,
            pool: p,
            target: t,
        }
    }

    /// An attempt that got a response head after `elapsed`.
    pub fn answered(&self, elapsed: Duration) {
        self.requests.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }

    /// An attempt that failed: `kind` is connect, timeout, reset or status.
    pub fn failed(&self, kind: &'static str) {
        self.requests.increment(1);
        counter!("gatehouse_upstream_errors_total", "upstream" => self.pool.clone(), "target" => self.target.clone(), "kind" => kind)
            .increment(1);
    }

    pub fn set_healthy(&self, up: bool) {
        self.healthy.set(if up { 1.0 } else { 0.0 });
    }
}

/// A retry to another target of `pool`.
pub fn upstream_retry(pool: &Arc<str>) {
    counter!("gatehouse_upstream_retries_total", "upstream" => SharedString::from(pool.clone())).increment(1);
}
