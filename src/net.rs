//! The outbound HTTP client: pooled keep-alive connections, http and https
//! (rustls trusting Mozilla's roots plus `[gateway] ca_file`), HTTP/2 when
//! an https upstream offers it by ALPN, a connect timeout. Used for
//! upstreams and JWKS fetches.

use axum::body::Body;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// The TLS settings of outbound connections: Mozilla's root certificates
/// (webpki-roots) plus the PEM certificates of `ca_file`.
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(f) = ca_file {
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(f)
            .map_err(|e| format!("ca_file {}: {e}", f.display()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("ca_file {}: {e}", f.display()))?;
        if certs.is_empty() {
            return Err(format!("ca_file {}: no certificate in the file", f.display()));
        }
        for c in certs {
            roots.add(c).map_err(|e| format!("ca_file {}: {e}", f.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

pub fn client(connect_timeout: Duration, tls: &Arc<rustls::ClientConfig>) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((**tls).clone())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(512)
        .build(https)
}

/// True when `err` or any error it wraps is a `T`.
pub fn caused_by<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut e = Some(err);
    while let Some(x) = e {
        if x.is::<T>() {
            return true;
        }
        e = x.source();
    }
    false
}

/// True when an error (or any error it wraps) is a timeout.
pub fn is_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        if e.to_string().contains("timed out") {
            return true;
        }
        cur = e.source();
    }
    false
}

/// What every request of one client connection shares, made once when the
/// connection is accepted: the gateway reads it directly (no per-request
/// extension), the authorization server's handlers as an extension.
#[derive(Debug)]
pub struct ConnInfo {
    pub peer: std::net::SocketAddr,
    /// The peer's address as a header value (X-Forwarded-For).
    pub peer_ip: http::HeaderValue,
    /// The connection is TLS (`X-Forwarded-Proto: https`).
    pub secure: bool,
}

impl ConnInfo {
    pub fn new(peer: std::net::SocketAddr, secure: bool) -> Self {
        let peer_ip =
            http::HeaderValue::from_str(&peer.ip().to_string()).unwrap_or(http::HeaderValue::from_static("0.0.0.0"));
        ConnInfo { peer, peer_ip, secure }
    }
}

/// Request extension: the peer's IP address as a header value, made once
/// per connection (for X-Forwarded-For).
#[derive(Debug, Clone)]
pub struct PeerIp(pub http::HeaderValue);

/// Request extension: the request came over TLS (so `X-Forwarded-Proto`
/// says https).
#[derive(Debug, Clone, Copy)]
pub struct Secure;

/// The error a request body yields when the client pauses too long; the
/// endpoints answer it with 408.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client paused too long while sending the request body")
    }
}

impl std::error::Error for BodyTimeout {}

/// The error a request body yields past its route's `max_body_bytes`
/// (413).
#[derive(Debug)]
pub struct BodyTooLarge;

impl std::fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body is larger than this API accepts")
    }
}

impl std::error::Error for BodyTooLarge {}

/// True when `err` (or an error it wraps) is a [`BodyTimeout`].
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut e = Some(err);
    while let Some(x) = e {
        if x.is::<BodyTimeout>() {
            return true;
        }
        e = x.source();
    }
    false
}
