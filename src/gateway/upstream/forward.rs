//! What changes in a request and a response head on the way through:
//! hop-by-hop fields go (RFC 9110 §7.6.1), `X-Forwarded-*` are set, the
//! target's `Host` (HTTP/1.1) or absolute URI (HTTP/2) replaces the
//! client's, and the path gets the target's base path.

use super::target::Target;
use crate::error::GatewayError;
use crate::net::ConnInfo;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Uri, Version};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// What the hop-by-hop fields of a client request asked for that the
/// gateway carries on itself.
#[derive(Default)]
pub struct Hop {
    /// `Connection: upgrade` with `Upgrade: …` (a WebSocket handshake).
    pub upgrade: Option<HeaderValue>,
    /// `TE: trailers` (gRPC): passed on to HTTP/2 upstreams.
    pub te_trailers: bool,
}

/// Removes the hop-by-hop fields and every field `Connection` names, and
/// says what of them the gateway must carry on. Called on a client's
/// request before any policy adds the gateway's own headers, so
/// `Connection: X-Authenticated-Userid` cannot remove them.
pub fn strip_hop_by_hop(h: &mut HeaderMap) -> Hop {
    let mut hop = Hop::default();
    // One pass over the names, no allocation: most requests have no
    // hop-by-hop field, most responses only `Connection: keep-alive`.
    let mut present = [false; 9];
    let mut any = false;
    for k in h.keys() {
        if let Some(i) = hop_index(k) {
            present[i] = true;
            any = true;
        }
    }
    if !any {
        return hop;
    }
    let mut upgrade_token = false;
    let mut named: Vec<HeaderName> = Vec::new();
    for v in h.get_all(header::CONNECTION) {
        for n in v.to_str().unwrap_or("").split(',') {
            let n = n.trim();
            if n.is_empty() || n.eq_ignore_ascii_case("close") || n.eq_ignore_ascii_case("keep-alive") {
                // Not a header name (close), or one removed anyway.
            } else if n.eq_ignore_ascii_case("upgrade") {
                upgrade_token = true;
            } else if let Ok(n) = HeaderName::from_bytes(n.as_bytes()) {
                if hop_index(&n).is_none() && !named.contains(&n) {
                    named.push(n);
                }
            }
        }
    }
    if upgrade_token {
        hop.upgrade = h.get(header::UPGRADE).cloned();
    }
    if present[1] {
        hop.te_trailers = h.get_all(header::TE).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("trailers")))
        });
    }
    for (i, p) in present.iter().enumerate() {
        if *p {
            h.remove(hop_name(i));
        }
    }
    for n in named {
        h.remove(n);
    }
    hop
}

fn hop_name(i: usize) -> &'static HeaderName {
    [
        &header::CONNECTION,
        &header::TE,
        &header::TRAILER,
        &header::TRANSFER_ENCODING,
        &header::UPGRADE,
        &header::PROXY_AUTHENTICATE,
        &header::PROXY_AUTHORIZATION,
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
    ][i]
}

/// RFC 9110 §7.6.1's hop-by-hop fields (and the old Keep-Alive and
/// Proxy-Connection); standard names compare as enum values.
fn hop_index(k: &HeaderName) -> Option<usize> {
    (0..9).find(|&i| k == hop_name(i))
}

/// The same for an upstream's response; a 101 keeps its upgrade fields.
pub fn response_head(h: &mut HeaderMap, switching: bool) {
    if switching {
        let upgrade = h.get(header::UPGRADE).cloned();
        strip_hop_by_hop(h);
        if let Some(u) = upgrade {
            h.insert(header::UPGRADE, u);
            h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
    } else {
        strip_hop_by_hop(h);
    }
}

/// Where the request goes on `t`: the target's base path, then the
/// request's path (less the route prefix when `strip_prefix`), then the
/// query. Without a base path or stripping, the request's own (already
/// canonical) path and query are reused as they are.
fn path_and_query(uri: &Uri, t: &Target, route_prefix: &str, strip_prefix: bool) -> Result<PathAndQuery, GatewayError> {
    let strip = strip_prefix && route_prefix != "/";
    if t.base_path.is_empty() && !strip {
        return Ok(uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")));
    }
    let mut path = uri.path();
    if strip {
        path = path.strip_prefix(route_prefix).unwrap_or(path);
    }
    let mut pq = String::with_capacity(t.base_path.len() + path.len() + uri.query().map_or(0, |q| q.len() + 1) + 1);
    pq.push_str(&t.base_path);
    if !path.starts_with('/') {
        pq.push('/');
    }
    pq.push_str(path);
    if let Some(q) = uri.query() {
        pq.push('?');
        pq.push_str(q);
    }
    PathAndQuery::try_from(pq).map_err(|_| GatewayError::BadPath("the request path is malformed"))
}

/// Prepares a client's request head for `t`.
pub fn request_head(
    parts: &mut Parts,
    t: &Target,
    h2: bool,
    conn: &ConnInfo,
    route_prefix: &str,
    strip_prefix: bool,
    hop: &Hop,
) -> Result<(), GatewayError> {
    let pq = path_and_query(&parts.uri, t, route_prefix, strip_prefix)?;
    // HTTP/2 clients name the host in :authority, HTTP/1.1 ones in Host
    // (validated when the request came in).
    let client_host = parts.headers.remove(header::HOST).or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    if h2 {
        // HTTP/2 carries the target in :scheme and :authority; a Host
        // beside them is refused by strict servers as a duplicate.
        let mut u = http::uri::Parts::default();
        u.scheme = Some(t.scheme.clone());
        u.authority = Some(t.authority.clone());
        u.path_and_query = Some(pq);
        parts.uri = Uri::from_parts(u).map_err(|_| GatewayError::BadPath("the request path is malformed"))?;
        parts.version = Version::HTTP_2;
        if hop.te_trailers {
            parts.headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
    } else {
        parts.uri = Uri::from(pq);
        parts.version = Version::HTTP_11;
        // Host was removed above: append skips insert's search for old values.
        parts.headers.append(header::HOST, t.host_header.clone());
        if let Some(u) = &hop.upgrade {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(header::UPGRADE, u.clone());
        }
    }
    let h = &mut parts.headers;
    if let Some(host) = client_host {
        h.insert(&X_FORWARDED_HOST, host);
    }
    match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) => {
            if let Ok(v) = HeaderValue::from_str(&format!("{prev}, {}", conn.peer.ip())) {
                h.insert(&X_FORWARDED_FOR, v);
            }
        }
        None => {
            h.append(&X_FORWARDED_FOR, conn.peer_ip.clone());
        }
    }
    h.insert(
        &X_FORWARDED_PROTO,
        HeaderValue::from_static(if conn.secure { "https" } else { "http" }),
    );
    Ok(())
}

/// RFC 9112 §3.2 for a client's request: HTTP/1.1 needs exactly one Host,
/// and Host (or HTTP/2's :authority) must be a host with an optional port
/// — nothing a downstream could read as a path, user info or a list.
/// Also §6.1: no transfer coding but `chunked`, and a Content-Length is
/// re-written in its plain form (`0005` → `5`).
pub fn check_request_head(parts: &mut Parts) -> Result<(), GatewayError> {
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(GatewayError::BadRequest("more than one Host header"));
    }
    match host {
        Some(h) if !valid_host(h.as_bytes()) => {
            return Err(GatewayError::BadRequest("the Host header is not a valid host[:port]"));
        }
        Some(_) => {}
        None if parts.version == Version::HTTP_11 => {
            return Err(GatewayError::BadRequest("an HTTP/1.1 request needs a Host header"));
        }
        None => {}
    }
    if let Some(a) = parts.uri.authority() {
        if !valid_host(a.as_str().as_bytes()) {
            return Err(GatewayError::BadRequest(
                "the request authority is not a valid host[:port]",
            ));
        }
    }
    if let Some(te) = parts.headers.get(header::TRANSFER_ENCODING) {
        if !te.as_bytes().eq_ignore_ascii_case(b"chunked")
            || parts.headers.get_all(header::TRANSFER_ENCODING).iter().count() > 1
        {
            return Err(GatewayError::UnsupportedTransferCoding);
        }
    }
    if let Some(cl) = parts.headers.get(header::CONTENT_LENGTH) {
        let b = cl.as_bytes();
        if b.len() > 1 && b[0] == b'0' {
            let n: u64 = std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(GatewayError::BadRequest("the Content-Length is malformed"))?;
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    Ok(())
}

/// `host [":" port]` with host a reg-name, an IPv4 address or an
/// `[IPv6]` literal (RFC 3986 §3.2.2), at most 255 bytes.
pub fn valid_host(b: &[u8]) -> bool {
    if b.is_empty() || b.len() > 261 {
        return false;
    }
    let (host, port) = if b[0] == b'[' {
        let Some(end) = b.iter().position(|&c| c == b']') else {
            return false;
        };
        let inner = &b[1..end];
        if inner.is_empty() || !inner.iter().all(|c| c.is_ascii_hexdigit() || *c == b':' || *c == b'.') {
            return false;
        }
        (&b[..=end], &b[end + 1..])
    } else {
        match b.iter().position(|&c| c == b':') {
            Some(i) => (&b[..i], &b[i..]),
            None => (b, &b[b.len()..]),
        }
    };
    if host.is_empty() || host.len() > 255 {
        return false;
    }
    // reg-names as DNS uses them; RFC 3986 would also allow sub-delims such
    // as `,` and `;`, which downstream parsers read as list or parameter
    // separators.
    if host[0] != b'[' && !host.iter().all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(c)) {
        return false;
    }
    match port {
        [] => true,
        // RFC 3986 allows an empty port after ':' but nothing reads one the
        // same way twice; a port is 0-65535.
        [b':', digits @ ..] => {
            (1..=5).contains(&digits.len())
                && digits.iter().all(u8::is_ascii_digit)
                && digits.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')) <= 65535
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_connection_named_ones_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private, Upgrade"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        let hop = strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-kept"));
        assert_eq!(hop.upgrade.unwrap(), "websocket");
        assert!(hop.te_trailers);
    }

    #[test]
    fn hosts() {
        for ok in [
            "a.example",
            "a.example:8080",
            "127.0.0.1",
            "127.0.0.1:1",
            "[::1]:443",
            "[::1]",
            "xn--bcher-kva.example",
        ] {
            assert!(valid_host(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "a.example/path?x",
            "evil@127.0.0.1",
            "a b",
            "a, b",
            "a.example:",
            "a.example:123456",
            "a.example:65536",
            "a:b:c",
            "[::1",
            "[zz]",
            "a\"b",
            ":80",
        ] {
            assert!(!valid_host(bad.as_bytes()), "{bad}");
        }
    }
}
