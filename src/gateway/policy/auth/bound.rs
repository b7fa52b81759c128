//! Sender-constrained access tokens at the gateway (SPEC §7, RFC 9449):
//! a token whose `cnf` names a DPoP key (`jkt`) is accepted only as
//! `Authorization: DPoP <token>` together with a `DPoP` proof of this
//! request by that key. The token's own verification may come from a
//! cache; the proof is verified on every request (it is single-use), and
//! its `jti` is recorded in the store so that a replay to another instance
//! is refused too.
//!
//! The proof checks are `token::dpop`'s (shared with the token endpoint and
//! userinfo); here is only what the gateway adds: which URL the client
//! addressed, the route's nonce rule, and the scheme rules of §7.1.

use super::AuthKind;
use crate::config::ApiSpec;
use crate::error::{AuthError, InvalidToken, DPOP_NONCE};
use crate::net::ConnInfo;
use crate::token::dpop::{self, DpopError, Expect};
use crate::token::{OwnTokens, Verified};
use http::header::{AUTHORIZATION, HOST};
use http::request::Parts;
use http::HeaderValue;
use serde_json::Value;
use std::sync::Arc;

pub struct Binding {
    /// Where proofs' nonces and single-use records live; None only for a
    /// gateway built without the authorization server (unit tests), where
    /// a bound token cannot be checked and is refused as unavailable.
    own: Option<Arc<OwnTokens>>,
    /// `auth.dpop_nonce`: proofs must carry a current server nonce.
    nonce_required: bool,
    /// `[gateway] trusted_proxies`: their `X-Forwarded-Proto` and
    /// `X-Forwarded-Host` say which URL the client addressed.
    trusted: Vec<ipnet::IpNet>,
}

/// The token's DPoP key thumbprint (`cnf.jkt`), if it is DPoP-bound.
fn jkt(v: &Verified) -> Option<&str> {
    v.claims.get("cnf")?.get("jkt").and_then(Value::as_str)
}

/// The request's `Authorization` header names the DPoP scheme.
fn dpop_scheme(req: &Parts) -> bool {
    req.headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(dpop::scheme_token)
        .is_some()
}

/// The URL the client addressed (RFC 9449 §4.3 compares `htu` with it
/// after normalisation): the listener's scheme, the `Host` (or HTTP/2
/// `:authority`), and the path; query and fragment do not count. Behind a
/// trusted proxy (a TLS-terminating balancer) the client addressed the
/// proxy: its `X-Forwarded-Proto` and `X-Forwarded-Host` (the first value
/// of each, the hop nearest the client) replace scheme and host. From any
/// other peer those headers are ignored, or a client could make a proof
/// for one URL pass at another.
fn request_url(req: &Parts, conn: &ConnInfo, trusted: &[ipnet::IpNet]) -> Option<String> {
    let mut scheme = if conn.secure { "https" } else { "http" };
    let mut host = match req.headers.get(HOST) {
        Some(h) => h.to_str().ok()?,
        None => req.uri.authority()?.as_str(),
    };
    let peer = conn.peer.ip();
    if trusted.iter().any(|n| n.contains(&peer)) {
        let first = |name: &str| {
            let v = req.headers.get(name)?.to_str().ok()?;
            Some(v.split(',').next()?.trim()).filter(|s| !s.is_empty())
        };
        match first("x-forwarded-proto") {
            Some(p) if p.eq_ignore_ascii_case("https") => scheme = "https",
            Some(p) if p.eq_ignore_ascii_case("http") => scheme = "http",
            Some(_) => return None,
            None => {}
        }
        if let Some(h) = first("x-forwarded-host") {
            // A host (and port) only: anything else cannot be what a
            // client addressed.
            h.parse::<http::uri::Authority>()
                .ok()
                .filter(|a| !a.as_str().contains('@'))?;
            host = h;
        }
    }
    Some(format!("{scheme}://{host}{}", req.uri.path()))
}

impl Binding {
    pub fn new(api: &ApiSpec, own: Option<&Arc<OwnTokens>>, trusted: &[ipnet::IpNet]) -> Binding {
        Binding {
            own: own.cloned(),
            nonce_required: api.dpop_nonce,
            trusted: trusted.to_vec(),
        }
    }

    /// Whether `check` has anything to do: the accepted token is bound, or
    /// the request uses the DPoP scheme. False for plain bearer tokens, so
    /// their cached verdicts stay on the synchronous path.
    pub fn applies(&self, verdict: &Result<Arc<Verified>, AuthError>, req: &Parts) -> bool {
        match verdict {
            Ok(v) => v.claims.contains_key("cnf") || dpop_scheme(req),
            Err(_) => false,
        }
    }

    /// The sender constraint of an accepted token, checked against this
    /// request; refusals are precise (`invalid_token` for a bound token
    /// used as a bearer token, `invalid_dpop_proof`/`use_dpop_nonce` for
    /// the proof).
    pub async fn check(
        &self,
        verdict: Result<Arc<Verified>, AuthError>,
        kind: &dyn AuthKind,
        req: &Parts,
        conn: &ConnInfo,
    ) -> Result<Arc<Verified>, AuthError> {
        if !self.applies(&verdict, req) {
            return verdict;
        }
        let v = verdict?;
        let token = kind.token(req)?;
        // The token the kind found must be the one of the DPoP header (a
        // `jwt` route may read its token from elsewhere).
        let as_dpop = req
            .headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(dpop::scheme_token)
            .is_some_and(|t| t == token);
        let bound = jkt(&v);
        match (bound, as_dpop) {
            (None, false) => return Ok(v),
            // §7.1: a bound token as a bearer token is refused, with a DPoP challenge.
            (Some(_), false) => return Err(AuthError::Invalid(InvalidToken::DpopBound)),
            // The DPoP scheme is for DPoP-bound tokens only.
            (None, true) => return Err(AuthError::DpopProof(DpopError::WrongKey)),
            (Some(_), true) => {}
        }
        let proof = dpop::header(&req.headers)
            .map_err(AuthError::DpopProof)?
            .ok_or(AuthError::DpopProof(DpopError::Missing))?;
        let url = request_url(req, conn, &self.trusted).ok_or(AuthError::DpopProof(DpopError::Htu))?;
        let Some(own) = &self.own else {
            return Err(AuthError::Unavailable);
        };
        let expect = Expect {
            method: req.method.as_str(),
            url: &url,
            access_token: Some(&token),
            now: crate::store::now(),
        };
        let p = own.dpop.check(proof, &expect, self.nonce_required).await?;
        if Some(p.jkt.as_str()) != bound {
            return Err(AuthError::DpopProof(DpopError::WrongKey));
        }
        Ok(v)
    }

    /// Routes that demand nonces hand the current one out on every answer
    /// (§8.2), so clients rotate without a refusal first.
    pub fn response(&self, resp: &mut http::response::Parts) {
        if !self.nonce_required {
            return;
        }
        if let Some(own) = &self.own {
            if let Ok(v) = HeaderValue::from_str(&own.dpop.nonce(crate::store::now())) {
                resp.headers.entry(DPOP_NONCE).or_insert(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder()
            .uri("/photos/1?page=2")
            .header(HOST, "gw.internal:8080");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_url_a_client_addressed_honours_only_trusted_proxies() {
        let proxy = ConnInfo::new("10.0.0.7:5000".parse().unwrap(), false);
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let fwd = [("x-forwarded-proto", "https"), ("x-forwarded-host", "api.example.com")];
        assert_eq!(
            request_url(&parts(&fwd), &proxy, &trusted).as_deref(),
            Some("https://api.example.com/photos/1")
        );
        // The first value is the hop nearest the client.
        let chain = [
            ("x-forwarded-proto", "https, http"),
            ("x-forwarded-host", "api.example.com:8443, lb.internal"),
        ];
        assert_eq!(
            request_url(&parts(&chain), &proxy, &trusted).as_deref(),
            Some("https://api.example.com:8443/photos/1")
        );
        // Only the scheme forwarded: the Host stays.
        assert_eq!(
            request_url(&parts(&fwd[..1]), &proxy, &trusted).as_deref(),
            Some("https://gw.internal:8080/photos/1")
        );
        // From a peer that is not trusted the headers say nothing.
        let client = ConnInfo::new("203.0.113.9:5000".parse().unwrap(), false);
        assert_eq!(
            request_url(&parts(&fwd), &client, &trusted).as_deref(),
            Some("http://gw.internal:8080/photos/1")
        );
        assert_eq!(
            request_url(&parts(&fwd), &proxy, &[]).as_deref(),
            Some("http://gw.internal:8080/photos/1")
        );
        // Garbage from a trusted proxy matches no URL at all.
        for bad in [
            [("x-forwarded-proto", "gopher"), ("x-forwarded-host", "api.example.com")],
            [
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "evil@api.example.com"),
            ],
            [
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "api.example.com/other"),
            ],
        ] {
            assert_eq!(request_url(&parts(&bad), &proxy, &trusted), None, "{bad:?}");
        }
    }
}
