//! OpenTelemetry traces (`[telemetry]`): spans go to an OTLP/HTTP
//! collector through the SDK's batch processor (its own thread; a request
//! only hands a finished span over), sampled parent-based: a client's
//! `traceparent` decides when it carries one, `sample_ratio` otherwise.
//!
//! Spans are `tracing` spans at TRACE level under the target [`TARGET`];
//! only the OpenTelemetry layer listens to that target. Without
//! `[telemetry]` no layer does, so every span callsite is disabled once and
//! for all and a request pays one atomic load per span (no allocation, no
//! header parsing, `traceparent` passes through untouched).

use crate::config::TelemetrySettings;
use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target of every exported span.
pub const TARGET: &str = "gatehouse::otel";

/// The tracer provider; shutting it down exports what is still queued.
pub struct Telemetry(Option<SdkTracerProvider>);

impl Telemetry {
    pub fn none() -> Self {
        Telemetry(None)
    }

    /// Exports the spans still queued (bounded by `export_timeout`).
    pub fn shutdown(&mut self) {
        if let Some(p) = self.0.take() {
            if let Err(e) = p.shutdown() {
                eprintln!("telemetry: spans not exported at shutdown: {e}");
            }
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The provider and the `tracing` layer that feeds it.
pub fn layer<S>(s: &TelemetrySettings) -> Result<(Telemetry, impl tracing_subscriber::Layer<S>), String>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    // The endpoint is used as given: validation made it the traces URL.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(s.traces_url.clone())
        .with_timeout(s.export_timeout)
        .build()
        .map_err(|e| format!("telemetry: cannot build the OTLP exporter: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            s.sample_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(s.service_name.clone())
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        )
        .build();
    let tracer = provider.tracer("gatehouse");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_target(false);
    Ok((Telemetry(Some(provider)), layer))
}

struct Extract<'a>(&'a HeaderMap);

impl Extractor for Extract<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct Inject<'a>(&'a mut HeaderMap);

impl Injector for Inject<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(key.as_bytes()), HeaderValue::from_str(&value)) {
            self.0.insert(k, v);
        }
    }
}

/// Makes `span` (a server span) continue the client's trace: W3C
/// `traceparent`/`tracestate` (a malformed one starts a new trace).
pub fn continue_from(span: &Span, headers: &HeaderMap) {
    if span.is_disabled() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Extract(headers));
    let _ = span.set_parent(parent);
}

/// Sets `traceparent`/`tracestate` on a request to an upstream so that its
/// spans are children of `span` (the upstream call). Without telemetry the
/// client's own headers pass through untouched.
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    if span.is_disabled() {
        return;
    }
    TraceContextPropagator::new().inject_context(&span.context(), &mut Inject(headers));
}

/// A server span for one request: attributes named as OpenTelemetry's HTTP
/// semantic conventions name them, filled in as the request goes.
#[macro_export]
macro_rules! server_span {
    ($method:expr, $path:expr) => {
        tracing::trace_span!(
            target: "gatehouse::otel",
            "request",
            otel.name = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = %$method,
            url.path = $path,
            http.route = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            client_id = tracing::field::Empty,
            enduser.id = tracing::field::Empty,
            upstream.target = tracing::field::Empty,
            upstream.attempts = tracing::field::Empty,
            request_id = tracing::field::Empty,
        )
    };
}

/// A client span for one attempt to an upstream target, child of the
/// request's server span (a disabled span when that one is).
pub fn upstream_span(parent: &Span, method: &http::Method, target: &str, attempt: u32) -> Span {
    if parent.is_disabled() {
        return Span::none();
    }
    tracing::trace_span!(
        target: "gatehouse::otel",
        parent: parent,
        "upstream",
        otel.name = %method,
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        server.address = target,
        http.request.resend_count = i64::from(attempt.saturating_sub(1)),
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}

/// An attempt's outcome on its span: the status, or why it failed.
pub fn upstream_outcome(span: &Span, status: Option<http::StatusCode>, failure: Option<&'static str>) {
    if span.is_disabled() {
        return;
    }
    if let Some(s) = status {
        span.record("http.response.status_code", i64::from(s.as_u16()));
        // For a client span every 4xx and 5xx is an error (HTTP conventions).
        if s.is_client_error() || s.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
    }
    if let Some(f) = failure {
        span.record("error.type", f);
        span.record("otel.status_code", "ERROR");
    }
}

/// A child span for one SQL statement: named by its operation and table
/// (`SELECT clients`), with the statement's text (parameters are bound,
/// so it holds no value).
pub fn sql_span(system: &'static str, sql: &str) -> Span {
    let span = tracing::trace_span!(
        target: "gatehouse::otel",
        "store",
        otel.name = tracing::field::Empty,
        otel.kind = "client",
        db.system.name = system,
        db.query.text = tracing::field::Empty,
    );
    if !span.is_disabled() {
        span.record("otel.name", sql_summary(sql).as_str());
        span.record("db.query.text", sql.trim());
    }
    span
}

/// `SELECT … FROM t …` → `SELECT t`; `INSERT INTO t`, `UPDATE t`,
/// `DELETE FROM t` likewise (OpenTelemetry's `{operation} {target}`).
fn sql_summary(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().take(64).collect();
    let op = words.first().map_or("SQL", |w| w).to_ascii_uppercase();
    let after = |kw: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(kw))
            .and_then(|i| words.get(i + 1))
    };
    let table = match op.as_str() {
        "SELECT" | "DELETE" => after("FROM"),
        "INSERT" => after("INTO"),
        "UPDATE" => words.get(1),
        _ => None,
    };
    match table {
        Some(t) => format!(
            "{op} {}",
            t.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        ),
        None => op,
    }
}

/// Records the outcome on a server span: route, status (5xx is an error,
/// as the HTTP conventions say for servers).
pub fn finish(span: &Span, method: &http::Method, route: Option<&str>, status: http::StatusCode) {
    if span.is_disabled() {
        return;
    }
    let name = match route {
        Some(r) => format!("{method} {r}"),
        None => method.to_string(),
    };
    // Once children exist the span has started and `otel.name` is no
    // longer read: rename it through its OpenTelemetry handle.
    span.record("otel.name", name.as_str());
    span.context().span().update_name(name);
    if let Some(r) = route {
        span.record("http.route", r);
    }
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sql_summaries_name_operation_and_table() {
        assert_eq!(
            super::sql_summary("SELECT a, b FROM clients WHERE id = $1"),
            "SELECT clients"
        );
        assert_eq!(
            super::sql_summary("  insert into tokens (a) VALUES (?)"),
            "INSERT tokens"
        );
        assert_eq!(super::sql_summary("UPDATE users SET x = 1"), "UPDATE users");
        assert_eq!(super::sql_summary("DELETE FROM codes WHERE a"), "DELETE codes");
        assert_eq!(super::sql_summary("PRAGMA wal_checkpoint"), "PRAGMA");
        assert_eq!(super::sql_summary(""), "SQL");
    }
}
