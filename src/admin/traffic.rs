//! The console's overview page: the traffic of the last minutes as small
//! server-rendered SVG bar charts (no script, no chart library, nothing
//! from a CDN: the console's CSP allows none of it), refreshed by the page
//! itself every interval.

use crate::ops::traffic::{Overview, STEP, WINDOW};
use minijinja::Value;
use serde::Serialize;
use std::fmt::Write;

const W: f64 = 200.0;
const H: f64 = 44.0;
/// Bars across a chart: one per interval of the window, plus the live one.
const SLOTS: usize = (WINDOW.as_secs() / STEP.as_secs()) as usize + 1;

/// One chart: bars right-aligned (the newest at the right edge), scaled to
/// `max`; `None` values (an idle interval's latency) draw nothing.
fn chart(values: &[Option<f64>], max: f64, class: &str, what: &str, fmt: fn(f64) -> String) -> String {
    let slot = W / SLOTS as f64;
    let skip = values.len().saturating_sub(SLOTS);
    let shown = &values[skip..];
    let offset = SLOTS - shown.len();
    let peak = shown.iter().flatten().fold(0.0_f64, |a, b| a.max(*b));
    let scale = if max > 0.0 { max } else { peak.max(f64::MIN_POSITIVE) };
    let mut svg = String::with_capacity(64 * shown.len() + 256);
    let _ = write!(
        svg,
        r#"<svg class="chart {class}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{what}, peak {}"><rect class="frame" x="0" y="0" width="{W}" height="{H}"/>"#,
        fmt(peak)
    );
    for (i, v) in shown.iter().enumerate() {
        let Some(v) = v.filter(|v| v.is_finite() && *v > 0.0) else {
            continue;
        };
        // At least one pixel: a small non-zero value must still show.
        let h = (v / scale * (H - 2.0)).clamp(1.0, H - 2.0);
        let x = (offset + i) as f64 * slot;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{}</title></rect>"#,
            H - 1.0 - h,
            (slot - 0.6).max(0.6),
            fmt(v)
        );
    }
    let _ = write!(svg, r#"<text x="3" y="11">{}</text></svg>"#, fmt(peak));
    svg
}

fn per_second(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}/s")
    } else {
        format!("{v:.1}/s")
    }
}

fn percent(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn millis(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.1} ms")
    }
}

fn some(v: &[f64]) -> Vec<Option<f64>> {
    v.iter().copied().map(Some).collect()
}

fn last<T: Copy>(v: &[Option<T>]) -> Option<T> {
    v.iter().rev().flatten().next().copied()
}

fn svg(s: String) -> Value {
    Value::from_safe_string(s)
}

#[derive(Serialize)]
struct RouteRow {
    route: String,
    rps: Value,
    errors: Value,
    latency: Value,
    now_rps: String,
    now_p50: String,
    now_p99: String,
    total_requests: u64,
    total_server_errors: u64,
    total_rate_limited: u64,
    limited: Value,
}

#[derive(Serialize)]
struct TargetRow {
    upstream: String,
    target: String,
    healthy: bool,
    rps: Value,
    errors: Value,
    total_requests: u64,
    total_errors: u64,
}

#[derive(Serialize)]
struct GrantRow {
    grant: String,
    chart: Value,
    total: u64,
}

/// The page's context.
pub fn context(o: &Overview) -> Value {
    let routes: Vec<RouteRow> = o
        .routes
        .iter()
        .map(|r| {
            let p99_peak = r.p99_ms.iter().flatten().fold(0.0_f64, |a, b| a.max(*b));
            RouteRow {
                route: r.route.clone(),
                rps: svg(chart(
                    &some(&r.requests_per_second),
                    0.0,
                    "rps",
                    "requests per second",
                    per_second,
                )),
                errors: svg(chart(&r.error_rate, 1.0, "errors", "share of 5xx answers", percent)),
                // p50 drawn over p99 on one scale: the gap is the tail.
                latency: svg(format!(
                    r#"<span class="stack">{}{}</span>"#,
                    chart(&r.p99_ms, p99_peak, "p99", "p99 latency", millis),
                    chart(&r.p50_ms, p99_peak, "p50", "p50 latency", millis)
                )),
                now_rps: r.requests_per_second.last().map_or("–".into(), |v| per_second(*v)),
                now_p50: last(&r.p50_ms).map_or("–".into(), millis),
                now_p99: last(&r.p99_ms).map_or("–".into(), millis),
                total_requests: r.total_requests,
                total_server_errors: r.total_server_errors,
                total_rate_limited: r.total_rate_limited,
                limited: svg(chart(
                    &some(&r.rate_limited_per_second),
                    0.0,
                    "limited",
                    "rate-limit refusals per second",
                    per_second,
                )),
            }
        })
        .collect();
    let upstreams: Vec<TargetRow> = o
        .upstreams
        .iter()
        .map(|t| TargetRow {
            upstream: t.upstream.clone(),
            target: t.target.clone(),
            healthy: t.healthy,
            rps: svg(chart(
                &some(&t.requests_per_second),
                0.0,
                "rps",
                "attempts per second",
                per_second,
            )),
            errors: svg(chart(
                &some(&t.errors_per_second),
                0.0,
                "errors",
                "failed attempts per second",
                per_second,
            )),
            total_requests: t.total_requests,
            total_errors: t.total_errors,
        })
        .collect();
    let tokens: Vec<GrantRow> = o
        .tokens
        .iter()
        .map(|g| GrantRow {
            grant: g.grant.clone(),
            chart: svg(chart(
                &some(&g.per_second),
                0.0,
                "tokens",
                "tokens issued per second",
                per_second,
            )),
            total: g.total,
        })
        .collect();
    let limited: Vec<&RouteRow> = routes.iter().filter(|r| r.total_rate_limited > 0).collect();
    minijinja::context! {
        routes => routes,
        limited => limited,
        upstreams => upstreams,
        tokens => tokens,
        token_errors => o.token_errors,
        step => STEP.as_secs(),
        window_minutes => WINDOW.as_secs() / 60,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(svg: &str) -> usize {
        svg.matches(r#"<rect class="bar""#).count()
    }

    #[test]
    fn a_chart_has_a_bar_per_busy_interval_newest_at_the_right() {
        let s = chart(&[Some(1.0), None, Some(0.0), Some(4.0)], 0.0, "rps", "r", per_second);
        assert_eq!(bars(&s), 2);
        assert!(s.contains("<title>4.0/s</title>"));
        // The newest bar ends at the right edge.
        let slot = W / SLOTS as f64;
        assert!(s.contains(&format!(r#"x="{:.1}""#, (SLOTS - 1) as f64 * slot)), "{s}");
        // The tallest bar fills the chart; a tiny one still shows.
        let s = chart(&[Some(1000.0), Some(0.001)], 0.0, "rps", "r", per_second);
        assert!(s.contains(&format!(r#"height="{:.1}""#, H - 2.0)));
        assert!(s.contains(r#"height="1.0""#));
    }

    #[test]
    fn a_chart_shows_only_the_window() {
        let v = vec![Some(1.0); SLOTS + 30];
        assert_eq!(bars(&chart(&v, 0.0, "rps", "r", per_second)), SLOTS);
        assert_eq!(bars(&chart(&[], 0.0, "rps", "r", per_second)), 0);
        assert_eq!(
            bars(&chart(
                &[Some(f64::NAN), Some(f64::INFINITY)],
                0.0,
                "r",
                "r",
                per_second
            )),
            0
        );
    }

    #[test]
    fn labels_are_escaped_by_construction() {
        // Only numbers and fixed words reach the SVG; route names go
        // through the template's escaping.
        let s = chart(&[Some(0.5)], 1.0, "errors", "share", percent);
        assert!(s.contains("50.0%"));
        assert!(!s.contains('&'));
    }
}
