//! The traffic view of the admin console and API: the last minutes of this
//! instance's metrics, as per-interval series.
//!
//! It reads the Prometheus recorder's own exposition every `STEP` rather
//! than counting beside it, so the proxy path pays nothing for the page
//! (the counters and histograms it reads are recorded anyway). Counters
//! and bucketed histograms are cumulative, so the difference of two
//! samples is exactly what happened between them; a quantile is
//! interpolated inside its bucket, as Prometheus' `histogram_quantile`
//! does.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One bar of the charts.
pub const STEP: Duration = Duration::from_secs(5);
/// How far back the charts go.
pub const WINDOW: Duration = Duration::from_secs(300);
const KEEP: usize = (WINDOW.as_secs() / STEP.as_secs()) as usize + 1;

/// What one exposition says, reduced to what the page shows.
#[derive(Clone, Default, Debug, PartialEq)]
struct Sample {
    /// Unix time, milliseconds.
    at_ms: u64,
    routes: BTreeMap<String, RouteCounts>,
    /// Cumulative latency buckets per route: (upper bound in seconds, count).
    latency: BTreeMap<String, Vec<(f64, f64)>>,
    targets: BTreeMap<(String, String), TargetCounts>,
    tokens: BTreeMap<String, f64>,
    token_errors: BTreeMap<String, f64>,
    rate_limited: BTreeMap<String, f64>,
}

#[derive(Clone, Copy, Default, Debug, PartialEq)]
struct RouteCounts {
    requests: f64,
    client_errors: f64,
    server_errors: f64,
}

#[derive(Clone, Copy, Default, Debug, PartialEq)]
struct TargetCounts {
    healthy: Option<bool>,
    requests: f64,
    errors: f64,
}

/// A metric's labels, in the order of the exposition (values unescaped).
type Labels<'a> = Vec<(&'a str, String)>;

/// One line of the text exposition: name, labels, value.
fn parse_line(line: &str) -> Option<(&str, Labels<'_>, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, mut rest) = line.split_at(line.find(['{', ' '])?);
    if name.is_empty() {
        return None;
    }
    let mut labels = Vec::new();
    if let Some(mut body) = rest.strip_prefix('{') {
        loop {
            body = body.trim_start_matches([',', ' ']);
            if let Some(after) = body.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = body.find('=')?;
            let key = body[..eq].trim();
            let mut chars = body[eq + 1..].strip_prefix('"')?.char_indices();
            let mut value = String::new();
            let close = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((key, value));
            // `=`, the opening quote, the value, the closing quote.
            body = &body[eq + 2 + close + 1..];
        }
    }
    let value = match rest.split_whitespace().next()? {
        "+Inf" => f64::INFINITY,
        v => v.parse().ok()?,
    };
    Some((name, labels, value))
}

fn label<'a>(labels: &'a [(&str, String)], key: &str) -> Option<&'a str> {
    labels.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
}

impl Sample {
    fn parse(text: &str, at_ms: u64) -> Sample {
        let mut s = Sample {
            at_ms,
            ..Sample::default()
        };
        for (name, labels, value) in text.lines().filter_map(parse_line) {
            let l = |k| label(&labels, k).unwrap_or("").to_string();
            match name {
                "gatehouse_requests_total" => {
                    let r = s.routes.entry(l("route")).or_default();
                    r.requests += value;
                    match l("status").as_bytes().first() {
                        Some(b'4') => r.client_errors += value,
                        Some(b'5') => r.server_errors += value,
                        _ => {}
                    }
                }
                "gatehouse_request_duration_seconds_bucket" => {
                    let le = match label(&labels, "le") {
                        Some("+Inf") => f64::INFINITY,
                        Some(v) => v.parse().unwrap_or(f64::INFINITY),
                        None => continue,
                    };
                    s.latency.entry(l("route")).or_default().push((le, value));
                }
                "gatehouse_upstream_healthy" => {
                    s.targets.entry((l("upstream"), l("target"))).or_default().healthy = Some(value > 0.5);
                }
                "gatehouse_upstream_requests_total" => {
                    s.targets.entry((l("upstream"), l("target"))).or_default().requests += value;
                }
                "gatehouse_upstream_errors_total" => {
                    s.targets.entry((l("upstream"), l("target"))).or_default().errors += value;
                }
                "gatehouse_tokens_issued_total" => *s.tokens.entry(l("grant")).or_default() += value,
                "gatehouse_token_errors_total" => *s.token_errors.entry(l("error")).or_default() += value,
                "gatehouse_rate_limited_total" => *s.rate_limited.entry(l("route")).or_default() += value,
                _ => {}
            }
        }
        for b in s.latency.values_mut() {
            b.sort_by(|x, y| x.0.total_cmp(&y.0));
        }
        s
    }
}

/// The `q` quantile (0..1) of what fell into `now` minus `before`
/// (cumulative buckets), in milliseconds; `None` without observations.
fn quantile(q: f64, before: Option<&Vec<(f64, f64)>>, now: &[(f64, f64)]) -> Option<f64> {
    // Buckets are cumulative: a bound the earlier sample lacked held what
    // its nearest lower bound held.
    let count_before = |le: f64| {
        before.map_or(0.0, |b| {
            b.iter().filter(|(l, _)| *l <= le).fold(0.0_f64, |m, (_, c)| m.max(*c))
        })
    };
    let delta: Vec<(f64, f64)> = now
        .iter()
        .map(|(le, c)| (*le, (c - count_before(*le)).max(0.0)))
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (le, cum) in delta {
        if cum >= rank {
            if le.is_infinite() {
                // Above the last finite bound: that bound is all one knows.
                return Some(lower * 1000.0);
            }
            let inside = cum - below;
            let frac = if inside > 0.0 { (rank - below) / inside } else { 1.0 };
            return Some((lower + (le - lower) * frac) * 1000.0);
        }
        (lower, below) = (le, cum);
    }
    None
}

/// The page's numbers: series oldest first, one value per interval; the
/// last interval runs up to the moment of the request.
#[derive(Serialize, Debug, Default, utoipa::ToSchema)]
pub struct Overview {
    /// Seconds per interval (the last one may be shorter).
    pub step_seconds: u64,
    /// Unix time (ms) at the end of each interval.
    pub times: Vec<u64>,
    pub routes: Vec<RouteTraffic>,
    pub upstreams: Vec<TargetTraffic>,
    pub tokens: Vec<GrantTraffic>,
    /// Token endpoint errors since start, by error code.
    pub token_errors: BTreeMap<String, u64>,
}

#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct RouteTraffic {
    /// The route's name (`<none>`: requests that matched no route).
    pub route: String,
    pub requests_per_second: Vec<f64>,
    /// Share of answers that were 5xx, 0..1 (`null`: no requests).
    pub error_rate: Vec<Option<f64>>,
    /// Share of answers that were 4xx, 0..1.
    pub client_error_rate: Vec<Option<f64>>,
    pub p50_ms: Vec<Option<f64>>,
    pub p99_ms: Vec<Option<f64>>,
    /// Requests refused by the route's rate limit, per second.
    pub rate_limited_per_second: Vec<f64>,
    /// Since this instance started.
    pub total_requests: u64,
    pub total_server_errors: u64,
    pub total_rate_limited: u64,
}

#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct TargetTraffic {
    pub upstream: String,
    pub target: String,
    /// As the pool sees it now (active checks and passive ejection).
    pub healthy: bool,
    pub requests_per_second: Vec<f64>,
    pub errors_per_second: Vec<f64>,
    pub total_requests: u64,
    pub total_errors: u64,
}

#[derive(Serialize, Debug, utoipa::ToSchema)]
pub struct GrantTraffic {
    pub grant: String,
    pub per_second: Vec<f64>,
    pub total: u64,
}

/// The samples of the last `WINDOW`, oldest first.
struct History {
    samples: Mutex<VecDeque<Sample>>,
    source: fn() -> String,
}

static HISTORY: OnceLock<History> = OnceLock::new();

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl History {
    fn new(source: fn() -> String) -> History {
        History {
            samples: Mutex::new(VecDeque::with_capacity(KEEP + 1)),
            source,
        }
    }

    fn take(&self) {
        let s = Sample::parse(&(self.source)(), now_ms());
        if let Ok(mut q) = self.samples.lock() {
            q.push_back(s);
            while q.len() > KEEP {
                q.pop_front();
            }
        }
    }

    fn overview(&self) -> Overview {
        let mut all: Vec<Sample> = self
            .samples
            .lock()
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default();
        let live = Sample::parse(&(self.source)(), now_ms());
        // A sample taken a moment ago adds nothing but a zero-width bar.
        if all.last().is_none_or(|l| live.at_ms >= l.at_ms + 500) {
            all.push(live);
        }
        build(&all)
    }
}

fn build(all: &[Sample]) -> Overview {
    let mut o = Overview {
        step_seconds: STEP.as_secs(),
        ..Overview::default()
    };
    let Some(last) = all.last() else { return o };
    let pairs: Vec<(&Sample, &Sample)> = all.windows(2).map(|w| (&w[0], &w[1])).collect();
    o.times = pairs.iter().map(|(_, b)| b.at_ms).collect();
    let secs = |a: &Sample, b: &Sample| (b.at_ms.saturating_sub(a.at_ms) as f64 / 1000.0).max(0.001);
    let rate = |a: f64, b: f64, dt: f64| ((b - a).max(0.0)) / dt;
    let share = |part: f64, whole: f64| (whole > 0.0).then(|| (part / whole).clamp(0.0, 1.0));

    for (name, now) in &last.routes {
        let get = |s: &Sample| s.routes.get(name).copied().unwrap_or_default();
        let limited = |s: &Sample| s.rate_limited.get(name).copied().unwrap_or(0.0);
        let mut r = RouteTraffic {
            route: name.clone(),
            requests_per_second: vec![],
            error_rate: vec![],
            client_error_rate: vec![],
            p50_ms: vec![],
            p99_ms: vec![],
            rate_limited_per_second: vec![],
            total_requests: now.requests as u64,
            total_server_errors: now.server_errors as u64,
            total_rate_limited: limited(last) as u64,
        };
        for (a, b) in &pairs {
            let (x, y, dt) = (get(a), get(b), secs(a, b));
            let n = (y.requests - x.requests).max(0.0);
            r.requests_per_second.push(rate(x.requests, y.requests, dt));
            r.error_rate.push(share(y.server_errors - x.server_errors, n));
            r.client_error_rate.push(share(y.client_errors - x.client_errors, n));
            let lat = b.latency.get(name);
            r.p50_ms.push(lat.and_then(|l| quantile(0.5, a.latency.get(name), l)));
            r.p99_ms.push(lat.and_then(|l| quantile(0.99, a.latency.get(name), l)));
            r.rate_limited_per_second.push(rate(limited(a), limited(b), dt));
        }
        o.routes.push(r);
    }
    for ((pool, target), now) in &last.targets {
        let key = (pool.clone(), target.clone());
        let get = |s: &Sample| s.targets.get(&key).copied().unwrap_or_default();
        o.upstreams.push(TargetTraffic {
            upstream: pool.clone(),
            target: target.clone(),
            healthy: now.healthy.unwrap_or(true),
            requests_per_second: pairs
                .iter()
                .map(|(a, b)| rate(get(a).requests, get(b).requests, secs(a, b)))
                .collect(),
            errors_per_second: pairs
                .iter()
                .map(|(a, b)| rate(get(a).errors, get(b).errors, secs(a, b)))
                .collect(),
            total_requests: now.requests as u64,
            total_errors: now.errors as u64,
        });
    }
    for (grant, total) in &last.tokens {
        let get = |s: &Sample| s.tokens.get(grant).copied().unwrap_or(0.0);
        o.tokens.push(GrantTraffic {
            grant: grant.clone(),
            per_second: pairs.iter().map(|(a, b)| rate(get(a), get(b), secs(a, b))).collect(),
            total: *total as u64,
        });
    }
    o.token_errors = last.token_errors.iter().map(|(k, v)| (k.clone(), *v as u64)).collect();
    o
}

/// Starts sampling this process' metrics (once; later calls do nothing).
/// Runs on the calling runtime.
pub fn spawn() {
    if HISTORY.set(History::new(super::metrics::exposition)).is_err() {
        return;
    }
    if let (Ok(rt), Some(h)) = (tokio::runtime::Handle::try_current(), HISTORY.get()) {
        h.take();
        rt.spawn(async move {
            let mut tick = tokio::time::interval(STEP);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                h.take();
            }
        });
    }
}

/// The last minutes of traffic (empty before `spawn`).
pub fn overview() -> Overview {
    HISTORY.get().map(History::overview).unwrap_or_else(|| Overview {
        step_seconds: STEP.as_secs(),
        ..Overview::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_the_exposition() {
        let (n, l, v) = parse_line(r#"gatehouse_requests_total{route="a \"b\"\\c",status="200"} 12"#).unwrap();
        assert_eq!(n, "gatehouse_requests_total");
        assert_eq!(
            l,
            vec![("route", "a \"b\"\\c".to_string()), ("status", "200".to_string())]
        );
        assert_eq!(v, 12.0);
        let (n, l, v) = parse_line("gatehouse_runtime_alive_tasks 7").unwrap();
        assert_eq!((n, l.len(), v), ("gatehouse_runtime_alive_tasks", 0, 7.0));
        let (_, l, v) = parse_line(r#"x_bucket{route="r,}",le="+Inf"} 3"#).unwrap();
        assert_eq!(label(&l, "route"), Some("r,}"));
        assert_eq!(label(&l, "le"), Some("+Inf"));
        assert_eq!(v, 3.0);
        for bad in [
            "# TYPE x counter",
            "",
            "x{a=\"1\" 2",
            "x{a=1} 2",
            "x{a=\"1\"}",
            "x{a=\"1\"} nope",
            "{",
            "x{a",
        ] {
            assert!(parse_line(bad).is_none(), "{bad:?}");
        }
    }

    const BEFORE: &str = r#"
# TYPE gatehouse_requests_total counter
gatehouse_requests_total{route="photos",status="200"} 100
gatehouse_requests_total{route="photos",status="503"} 0
gatehouse_request_duration_seconds_bucket{route="photos",le="0.001"} 50
gatehouse_request_duration_seconds_bucket{route="photos",le="0.01"} 100
gatehouse_request_duration_seconds_bucket{route="photos",le="+Inf"} 100
gatehouse_upstream_healthy{upstream="pool",target="http://a"} 1
gatehouse_upstream_requests_total{upstream="pool",target="http://a"} 100
gatehouse_tokens_issued_total{grant="client_credentials"} 10
"#;
    const AFTER: &str = r#"
gatehouse_requests_total{route="photos",status="200"} 150
gatehouse_requests_total{route="photos",status="503"} 50
gatehouse_requests_total{route="photos",status="429"} 0
gatehouse_request_duration_seconds_bucket{route="photos",le="0.001"} 50
gatehouse_request_duration_seconds_bucket{route="photos",le="0.01"} 150
gatehouse_request_duration_seconds_bucket{route="photos",le="0.1"} 200
gatehouse_request_duration_seconds_bucket{route="photos",le="+Inf"} 200
gatehouse_upstream_healthy{upstream="pool",target="http://a"} 0
gatehouse_upstream_requests_total{upstream="pool",target="http://a"} 200
gatehouse_upstream_errors_total{upstream="pool",target="http://a",kind="connect"} 30
gatehouse_upstream_errors_total{upstream="pool",target="http://a",kind="status"} 20
gatehouse_tokens_issued_total{grant="client_credentials"} 60
gatehouse_rate_limited_total{route="photos"} 5
gatehouse_token_errors_total{error="invalid_client"} 4
"#;

    #[test]
    fn differences_of_two_samples_become_rates_shares_and_quantiles() {
        let o = build(&[Sample::parse(BEFORE, 10_000), Sample::parse(AFTER, 20_000)]);
        assert_eq!(o.times, vec![20_000]);
        let r = &o.routes[0];
        assert_eq!(r.route, "photos");
        assert_eq!(r.requests_per_second, vec![10.0]);
        assert_eq!(r.error_rate, vec![Some(0.5)]);
        assert_eq!(r.client_error_rate, vec![Some(0.0)]);
        assert_eq!(r.rate_limited_per_second, vec![0.5]);
        // 100 new observations: 50 in (1 ms, 10 ms], 50 in (10 ms, 100 ms].
        let p50 = r.p50_ms[0].unwrap();
        assert!((p50 - 10.0).abs() < 1e-9, "{p50}");
        let p99 = r.p99_ms[0].unwrap();
        assert!((p99 - (10.0 + 90.0 * 49.0 / 50.0)).abs() < 1e-9, "{p99}");
        assert_eq!(
            (r.total_requests, r.total_server_errors, r.total_rate_limited),
            (200, 50, 5)
        );
        let t = &o.upstreams[0];
        assert!(!t.healthy);
        assert_eq!(t.requests_per_second, vec![10.0]);
        assert_eq!(t.errors_per_second, vec![5.0]);
        assert_eq!(o.tokens[0].per_second, vec![5.0]);
        assert_eq!(o.tokens[0].total, 60);
        assert_eq!(o.token_errors["invalid_client"], 4);
    }

    #[test]
    fn an_idle_interval_has_no_quantile_and_no_share() {
        let o = build(&[Sample::parse(BEFORE, 0), Sample::parse(BEFORE, 5_000)]);
        let r = &o.routes[0];
        assert_eq!(r.requests_per_second, vec![0.0]);
        assert_eq!(r.error_rate, vec![None]);
        assert_eq!(r.p99_ms, vec![None]);
        assert_eq!(build(&[]).times.len(), 0);
    }

    #[test]
    fn everything_slower_than_the_last_bound_reports_that_bound() {
        let b = vec![(0.01, 0.0), (10.0, 0.0), (f64::INFINITY, 4.0)];
        assert_eq!(quantile(0.99, None, &b), Some(10_000.0));
    }

    fn fixed() -> String {
        AFTER.to_string()
    }

    #[test]
    fn history_keeps_the_window_and_adds_a_live_interval() {
        let h = History::new(fixed);
        for i in 0..(KEEP as u64 + 10) {
            let mut s = Sample::parse(BEFORE, i);
            s.at_ms = i * 5_000;
            h.samples.lock().unwrap().push_back(s);
            let mut q = h.samples.lock().unwrap();
            while q.len() > KEEP {
                q.pop_front();
            }
        }
        assert_eq!(h.samples.lock().unwrap().len(), KEEP);
        h.take();
        assert_eq!(h.samples.lock().unwrap().len(), KEEP);
        let o = h.overview();
        assert!(o.times.len() >= KEEP - 1);
    }
}
