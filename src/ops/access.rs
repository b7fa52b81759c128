//! The access log (`[log] access = true`): one line per request on
//! standard output, logfmt text or JSON as `[log] format` says.
//!
//! A request formats its line and hands it to a writer thread over a
//! bounded channel; it never waits for the terminal or the disk. When the
//! writer falls behind by [`QUEUE`] lines, lines are dropped and counted
//! (`gatehouse_access_log_dropped_total`) rather than slowing requests.
//!
//! What a line never holds: query values (they carry `access_token`,
//! `code`, `client_secret` in real traffic), headers, bodies, tokens —
//! only the query's parameter names.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// Lines the writer may fall behind by before new ones are dropped.
pub const QUEUE: usize = 65_536;

/// Longest path or query-names text logged (the rest becomes `…`).
const MAX_FIELD: usize = 1024;

struct AccessLog {
    tx: SyncSender<String>,
    json: bool,
}

static LOG: OnceLock<Option<AccessLog>> = OnceLock::new();

/// Turns the access log on (once per process; later calls change nothing).
pub fn init(enabled: bool, json: bool) {
    LOG.get_or_init(|| {
        if !enabled {
            return None;
        }
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("gatehouse-access-log".into())
            .spawn(move || writer(rx))
            .ok()?;
        Some(AccessLog { tx, json })
    });
}

/// Whether lines are written (callers skip gathering fields otherwise).
pub fn enabled() -> bool {
    matches!(LOG.get(), Some(Some(_)))
}

fn writer(rx: Receiver<String>) {
    let mut buf = Vec::with_capacity(64 * 1024);
    while let Ok(line) = rx.recv() {
        buf.extend_from_slice(line.as_bytes());
        // Take whatever else is queued, then write once: a burst costs
        // one write(2), a quiet server shows each line at once. Standard
        // output is locked only for that write (the server prints there too).
        while buf.len() < 64 * 1024 {
            match rx.try_recv() {
                Ok(more) => buf.extend_from_slice(more.as_bytes()),
                Err(_) => break,
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&buf);
        let _ = out.flush();
        buf.clear();
    }
}

/// One request, as the line shows it.
pub struct Entry<'a> {
    pub method: &'a http::Method,
    /// The request target as received (path and query).
    pub uri: &'a http::Uri,
    pub route: Option<&'a str>,
    pub status: http::StatusCode,
    /// Response body bytes when the response declares them (Content-Length).
    pub bytes: Option<u64>,
    /// Until the response head was ready.
    pub latency: Duration,
    pub client_id: Option<&'a str>,
    pub sub: Option<&'a str>,
    pub upstream: Option<&'a str>,
    pub attempts: u32,
    pub request_id: &'a str,
    pub client_ip: IpAddr,
}

/// The answer's body size as the line shows it: its `Content-Length`, or
/// the body's exact size when it knows one; None (`-`) when it streams.
pub fn response_bytes<B: http_body::Body>(resp: &http::Response<B>) -> Option<u64> {
    resp.headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .or_else(|| resp.body().size_hint().exact())
}

/// Writes `e`'s line (dropped and counted when the writer is behind).
pub fn log(e: &Entry<'_>) {
    let Some(Some(log)) = LOG.get() else { return };
    let line = if log.json {
        json(e, SystemTime::now())
    } else {
        text(e, SystemTime::now())
    };
    match log.tx.try_send(line) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            ::metrics::counter!("gatehouse_access_log_dropped_total").increment(1)
        }
    }
}

/// The query's parameter names, comma-separated (values never logged).
fn query_names(uri: &http::Uri) -> Option<String> {
    let q = uri.query().filter(|q| !q.is_empty())?;
    let mut names = String::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let name = pair.split('=').next().unwrap_or("");
        if !names.is_empty() {
            names.push(',');
        }
        names.push_str(name);
        if names.len() > MAX_FIELD {
            break;
        }
    }
    Some(bounded(&names).into_owned())
}

fn bounded(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= MAX_FIELD {
        return s.into();
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end]).into()
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn text(e: &Entry<'_>, now: SystemTime) -> String {
    let mut s = String::with_capacity(256);
    let _ = write!(s, "{} access", humantime::format_rfc3339_millis(now));
    let mut kv = |k: &str, v: &str| {
        s.push(' ');
        s.push_str(k);
        s.push('=');
        logfmt_value(&mut s, v);
    };
    kv("method", e.method.as_str());
    kv("path", &bounded(e.uri.path()));
    if let Some(q) = query_names(e.uri) {
        kv("query", &q);
    }
    kv("route", e.route.unwrap_or("-"));
    kv("status", e.status.as_str());
    kv("bytes", &e.bytes.map_or("-".to_string(), |b| b.to_string()));
    kv("latency_ms", &millis(e.latency).to_string());
    kv("client_id", e.client_id.unwrap_or("-"));
    kv("sub", e.sub.unwrap_or("-"));
    kv("upstream", e.upstream.unwrap_or("-"));
    kv("attempts", &e.attempts.to_string());
    kv("request_id", e.request_id);
    kv("client_ip", &e.client_ip.to_string());
    s.push('\n');
    s
}

/// logfmt: bare when safe, else quoted with `"` and `\` escaped and
/// control characters written as escapes (a value cannot forge a line).
fn logfmt_value(s: &mut String, v: &str) {
    let bare = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\');
    if bare {
        s.push_str(v);
        return;
    }
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(s, "\\u{{{:x}}}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

fn json(e: &Entry<'_>, now: SystemTime) -> String {
    let v = serde_json::json!({
        "time": humantime::format_rfc3339_millis(now).to_string(),
        "type": "access",
        "method": e.method.as_str(),
        "path": bounded(e.uri.path()),
        "query": query_names(e.uri),
        "route": e.route,
        "status": e.status.as_u16(),
        "bytes": e.bytes,
        "latency_ms": millis(e.latency),
        "client_id": e.client_id,
        "sub": e.sub,
        "upstream": e.upstream,
        "attempts": e.attempts,
        "request_id": e.request_id,
        "client_ip": e.client_ip.to_string(),
    });
    let mut s = v.to_string();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(uri: &'a http::Uri, client_id: Option<&'a str>) -> Entry<'a> {
        Entry {
            method: &http::Method::GET,
            uri,
            route: Some("photos"),
            status: http::StatusCode::OK,
            bytes: Some(42),
            latency: Duration::from_micros(1234),
            client_id,
            sub: Some("alice"),
            upstream: Some("127.0.0.1:9000"),
            attempts: 2,
            request_id: "rid-1",
            client_ip: "10.0.0.1".parse().unwrap(),
        }
    }

    #[test]
    fn text_line_has_every_field_and_no_query_value() {
        let uri: http::Uri = "/flickr/photos?access_token=SECRET123&x=1&flag".parse().unwrap();
        let l = text(&entry(&uri, Some("printer")), SystemTime::UNIX_EPOCH);
        assert_eq!(
            l,
            "1970-01-01T00:00:00.000Z access method=GET path=/flickr/photos query=access_token,x,flag route=photos \
             status=200 bytes=42 latency_ms=1.234 client_id=printer sub=alice upstream=127.0.0.1:9000 attempts=2 \
             request_id=rid-1 client_ip=10.0.0.1\n"
        );
        assert!(!l.contains("SECRET123"));
    }

    #[test]
    fn values_cannot_forge_fields_or_lines() {
        let uri: http::Uri = "/a".parse().unwrap();
        let l = text(&entry(&uri, Some("evil status=500\nx")), SystemTime::UNIX_EPOCH);
        assert!(l.contains(r#"client_id="evil status=500\u{a}x""#), "{l}");
        assert_eq!(l.matches('\n').count(), 1);
    }

    #[test]
    fn json_line_parses_with_the_same_fields() {
        let uri: http::Uri = "/flickr/photos?code=abc".parse().unwrap();
        let l = json(&entry(&uri, None), SystemTime::UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["status"], 200);
        assert_eq!(v["query"], "code");
        assert_eq!(v["client_id"], serde_json::Value::Null);
        assert_eq!(v["attempts"], 2);
        assert_eq!(v["latency_ms"], 1.234);
        assert!(!l.contains("abc"));
    }

    #[test]
    fn long_paths_are_cut_on_a_char_boundary() {
        let long = format!("/{}", "é".repeat(2000));
        assert!(bounded(&long).len() <= MAX_FIELD + "…".len());
    }
}
