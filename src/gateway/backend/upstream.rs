//! Proxy to a real upstream over pooled connections. Bodies stream both ways
//! (never buffered whole); hop-by-hop headers are dropped; X-Forwarded-* set.

use crate::config::UpstreamSpec;
use crate::error::GatewayError;
use crate::net::{self, HttpClient};
use axum::body::Body;
use axum::response::Response;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Request, Uri};
use std::net::SocketAddr;
use std::time::Duration;

pub struct Upstream {
    /// One pool per worker thread: each worker runs its own single-threaded
    /// runtime, and a connection must live on the runtime that drives it.
    clients: thread_local::ThreadLocal<HttpClient>,
    tls: std::sync::Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    base_path: String,
    strip_prefix: bool,
    timeout: Duration,
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// RFC 9110 §7.6.1 hop-by-hop fields, plus any the Connection header names.
fn strip_hop_by_hop(h: &mut HeaderMap) {
    const HOP: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    // One pass over the names, then remove only what is there (most
    // requests carry at most `Connection`): blind removals of all nine
    // cost 5% of a proxied request's instructions.
    let mut remove: Vec<HeaderName> = h.keys().filter(|k| HOP.contains(&k.as_str())).cloned().collect();
    if remove.is_empty() {
        return;
    }
    for v in h.get_all(header::CONNECTION) {
        for n in v.to_str().unwrap_or("").split(',') {
            if let Ok(n) = HeaderName::from_bytes(n.trim().as_bytes()) {
                if h.contains_key(&n) && !remove.contains(&n) {
                    remove.push(n);
                }
            }
        }
    }
    for n in remove {
        h.remove(n);
    }
}

impl Upstream {
    pub fn new(spec: &UpstreamSpec, tls: std::sync::Arc<rustls::ClientConfig>) -> Result<Self, String> {
        let parts = spec.base.clone().into_parts();
        let scheme = parts.scheme.ok_or("upstream has no scheme")?;
        let authority = parts.authority.ok_or("upstream has no host")?;
        let base_path = spec.base.path().trim_end_matches('/').to_string();
        Ok(Upstream {
            clients: thread_local::ThreadLocal::new(),
            tls,
            connect_timeout: spec.connect_timeout,
            scheme,
            authority,
            base_path,
            strip_prefix: spec.strip_prefix,
            timeout: spec.timeout,
        })
    }

    fn client(&self) -> &HttpClient {
        self.clients.get_or(|| net::client(self.connect_timeout, &self.tls))
    }

    fn target(&self, uri: &Uri, route_prefix: &str) -> Result<Uri, GatewayError> {
        let mut path = uri.path();
        if self.strip_prefix && route_prefix != "/" {
            path = path.strip_prefix(route_prefix).unwrap_or(path);
        }
        let mut pq =
            String::with_capacity(self.base_path.len() + path.len() + uri.query().map_or(0, |q| q.len() + 1) + 1);
        pq.push_str(&self.base_path);
        if !path.starts_with('/') {
            pq.push('/');
        }
        pq.push_str(path);
        if let Some(q) = uri.query() {
            pq.push('?');
            pq.push_str(q);
        }
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(|_| GatewayError::UpstreamUnavailable)
    }

    pub async fn forward(
        &self,
        mut parts: Parts,
        body: Body,
        peer: SocketAddr,
        route_prefix: &str,
    ) -> Result<Response, GatewayError> {
        // HTTP/2 clients name the host in the URI (:authority), not Host.
        let authority = parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
        parts.uri = self.target(&parts.uri, route_prefix)?;
        parts.version = http::Version::HTTP_11;
        let h = &mut parts.headers;
        strip_hop_by_hop(h);
        if let Some(host) = h.remove(header::HOST).or(authority) {
            h.insert(&X_FORWARDED_HOST, host);
        }
        // No Host: the client writes it from the URI for HTTP/1.1, and
        // HTTP/2 carries :authority instead (a Host beside it is refused
        // by strict servers as a duplicate).
        match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(prev) => {
                if let Ok(v) = HeaderValue::from_str(&format!("{prev}, {}", peer.ip())) {
                    h.insert(&X_FORWARDED_FOR, v);
                }
            }
            // The usual case: the peer's address, formatted once per
            // connection (conn.rs) and shared by its requests.
            None => {
                let v = parts
                    .extensions
                    .get::<net::PeerIp>()
                    .map(|p| p.0.clone())
                    .or_else(|| HeaderValue::from_str(&peer.ip().to_string()).ok());
                if let Some(v) = v {
                    parts.headers.insert(&X_FORWARDED_FOR, v);
                }
            }
        }
        let proto = if parts.extensions.get::<net::Secure>().is_some() {
            "https"
        } else {
            "http"
        };
        parts
            .headers
            .insert(&X_FORWARDED_PROTO, HeaderValue::from_static(proto));

        let req = Request::from_parts(parts, body);
        let resp = match tokio::time::timeout(self.timeout, self.client().request(req)).await {
            Err(_) => return Err(GatewayError::UpstreamTimeout),
            Ok(Err(e)) => {
                // The client's body broke the limits: its fault, not the upstream's.
                if net::caused_by::<http_body_util::LengthLimitError>(&e) {
                    return Err(GatewayError::BodyTooLarge);
                }
                if crate::net::is_body_timeout(&e) {
                    return Err(GatewayError::BodyTimeout);
                }
                let timeout = net::is_timeout(&e);
                tracing::warn!(upstream = %self.authority, error = %e, "upstream request failed");
                return Err(if timeout {
                    GatewayError::UpstreamTimeout
                } else {
                    GatewayError::UpstreamUnavailable
                });
            }
            Ok(Ok(r)) => r,
        };
        let (mut parts, incoming) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Body::new(incoming)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_connection_named_ones_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn target_joins_base_path_and_can_strip_the_route_prefix() {
        let spec = |strip| UpstreamSpec {
            base: "http://10.0.0.1:81/base/".parse().unwrap(),
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            strip_prefix: strip,
        };
        let uri: Uri = "/api/x?y=1".parse().unwrap();
        let u = Upstream::new(&spec(false), crate::net::tls_config(None).unwrap()).unwrap();
        assert_eq!(
            u.target(&uri, "/api").unwrap().to_string(),
            "http://10.0.0.1:81/base/api/x?y=1"
        );
        let u = Upstream::new(&spec(true), crate::net::tls_config(None).unwrap()).unwrap();
        assert_eq!(
            u.target(&uri, "/api").unwrap().to_string(),
            "http://10.0.0.1:81/base/x?y=1"
        );
    }
}
