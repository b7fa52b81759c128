//! The authorization server's, the admin's and the operations endpoints'
//! side of the access log and traces (gateway traffic has its own, in
//! `gateway::Gateway::serve`): an axum middleware around every endpoint.

use super::{access, telemetry};
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use std::net::SocketAddr;
use std::time::Instant;
use tracing::Instrument;

pub async fn layer(req: Request, next: Next) -> Response {
    let span = crate::server_span!(req.method(), req.uri().path());
    let logging = access::enabled();
    if span.is_disabled() && !logging {
        return next.run(req).await;
    }
    let started = Instant::now();
    telemetry::continue_from(&span, req.headers());
    let method = req.method().clone();
    let uri = req.uri().clone();
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let client_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| c.0.ip());
    let client_id = basic_user(req.headers()).or_else(|| query_client_id(&uri));
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
        .unwrap_or("-")
        .to_string();
    if let Some(c) = &client_id {
        span.record("client_id", c.as_str());
    }
    let resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status();
    telemetry::finish(&span, &method, route.as_deref(), status);
    if logging {
        access::log(&access::Entry {
            method: &method,
            uri: &uri,
            route: route.as_deref(),
            status,
            bytes: access::response_bytes(&resp),
            latency: started.elapsed(),
            client_id: client_id.as_deref(),
            sub: None,
            upstream: None,
            attempts: 0,
            request_id: &request_id,
            client_ip,
        });
    }
    resp
}

/// The client id of HTTP Basic client authentication (the user part only;
/// the password is never kept).
fn basic_user(h: &http::HeaderMap) -> Option<String> {
    let v = h.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") || b64.len() > 4096 {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let user = raw.split(|b| *b == b':').next()?;
    // RFC 6749 §2.3.1: the id is form-urlencoded inside Basic.
    let user = std::str::from_utf8(user).ok()?;
    let decoded: String = url::form_urlencoded::parse(format!("u={user}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    (!decoded.is_empty()).then_some(decoded)
}

/// `client_id` of a query (authorize, device, logout requests).
fn query_client_id(uri: &http::Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_user_keeps_the_id_not_the_secret() {
        let mut h = http::HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode("my%20app:s3cret");
        h.insert(http::header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        assert_eq!(basic_user(&h).as_deref(), Some("my app"));
        h.insert(http::header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(basic_user(&h), None);
        h.insert(http::header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(basic_user(&h), None);
    }
}
