//! `rate_limit = { requests, per, by, burst, overrides }`: a budget per
//! route and key (SPEC §7, §10). `by = "ip"` or `"header:NAME"` runs before
//! auth, so a flood is refused before any token work; `by = "client"` or
//! `"subject"` needs the accepted token and runs right after auth.
//!
//! Answers carry the IETF `RateLimit-Policy` and `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers: `q` quota, `w` window seconds;
//! `r` remaining, `t` seconds until the quota is whole); a refusal is 429
//! with `Retry-After`. Counting is per instance (`local.rs`, GCRA), or
//! across instances (`shared.rs`: sliding windows synchronised in batches
//! through the store or `redis.rs`).

pub mod local;
pub mod redis;
pub mod shared;

use super::{BuildContext, Exchange, Policy, Step, Stop};
use crate::config::policies::{RateKey, RateLimitSpec};
use crate::config::ApiSpec;
use crate::error::GatewayError;
use http::request::Parts;
use http::{HeaderName, HeaderValue};
use local::{Budget, Local};
use shared::{Shared, Verdict};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

pub struct RateLimit {
    by: RateKey,
    limit: Limit,
    /// Keys with budgets of their own.
    overrides: Vec<(String, Limit)>,
    per: Duration,
    counter: Counter,
    trusted: Vec<ipnet::IpNet>,
    route: Arc<str>,
}

/// A budget, as each counter needs it, and its `RateLimit-Policy`.
struct Limit {
    requests: u64,
    budget: Budget,
    policy: HeaderValue,
}

enum Counter {
    Local(Local),
    Shared(Arc<Shared>),
}

pub fn build_before_auth(api: &ApiSpec, cx: &BuildContext<'_>) -> Result<Option<Arc<dyn Policy>>, String> {
    build(api, cx, false)
}

pub fn build_after_auth(api: &ApiSpec, cx: &BuildContext<'_>) -> Result<Option<Arc<dyn Policy>>, String> {
    build(api, cx, true)
}

fn policy_field(requests: u64, per: std::time::Duration) -> HeaderValue {
    // Whole seconds (the field's unit), at least 1.
    let w = per.as_secs().max(1);
    HeaderValue::from_str(&format!("\"default\";q={requests};w={w}")).unwrap_or(HeaderValue::from_static("\"default\""))
}

fn build(api: &ApiSpec, cx: &BuildContext<'_>, after_auth: bool) -> Result<Option<Arc<dyn Policy>>, String> {
    let Some(spec) = &api.rate_limit else { return Ok(None) };
    if spec.by.needs_principal() != after_auth {
        return Ok(None);
    }
    let RateLimitSpec {
        requests,
        per,
        by,
        burst,
        overrides,
    } = spec;
    let limit = |n: u64, burst: u64| Limit {
        requests: n,
        budget: Budget::new(n, *per, burst),
        policy: policy_field(n, *per),
    };
    let overrides = overrides
        .iter()
        .map(|(k, n)| {
            // An override scales the burst with the budget.
            let b = (*burst as u128 * *n as u128 / *requests as u128).max(1) as u64;
            (k.clone(), limit(*n, b))
        })
        .collect();
    let counter = match &cx.shared_limits {
        Some(s) => Counter::Shared(s.clone()),
        None => Counter::Local(Local::default()),
    };
    Ok(Some(Arc::new(RateLimit {
        by: by.clone(),
        limit: limit(*requests, *burst),
        overrides,
        per: *per,
        counter,
        trusted: cx.cfg.gateway.trusted_proxies.clone(),
        route: api.name.clone(),
    })))
}

/// The client's address: the peer, unless the peer is a trusted proxy,
/// then the right-most `X-Forwarded-For` hop that is not one (hops left of
/// it could be written by anybody).
pub fn client_ip(req: &Parts, peer: IpAddr, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut ip = peer;
    // Last header line last; at most 32 hops are looked at.
    let lines: Vec<&str> = req
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    for hop in lines.iter().rev().flat_map(|l| l.rsplit(',')).take(32) {
        match hop.trim().parse::<IpAddr>() {
            Ok(h) => {
                ip = h;
                if !is_trusted(&h) {
                    break;
                }
            }
            // Garbage in the chain: trust stops here.
            Err(_) => break,
        }
    }
    ip
}

/// The key text for a request, or None when it has none (no such header):
/// such requests share one budget under an empty key.
pub fn key_text<'r>(by: &RateKey, req: &'r Parts, cx: &'r Exchange<'_>, ip_buf: &'r mut String) -> &'r [u8] {
    match by {
        RateKey::Client => cx.client_id().unwrap_or("").as_bytes(),
        RateKey::Subject => cx
            .principal
            .as_ref()
            .and_then(|p| p.claim_str("sub"))
            .unwrap_or("")
            .as_bytes(),
        RateKey::Header(h) => req.headers.get(h).map_or(&[][..], |v| v.as_bytes()),
        RateKey::Ip => {
            use std::fmt::Write;
            let _ = write!(ip_buf, "{}", cx.client_ip);
            ip_buf.as_bytes()
        }
    }
}

impl Policy for RateLimit {
    fn name(&self) -> &'static str {
        "rate_limit"
    }

    fn request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Exchange<'_>) -> Step<'a> {
        if self.by == RateKey::Ip {
            cx.client_ip = client_ip(req, cx.conn.peer.ip(), &self.trusted);
        }
        let mut buf = String::new();
        let text = key_text(&self.by, req, cx, &mut buf);
        let limit = match self.overrides.iter().find(|(k, _)| k.as_bytes() == text) {
            Some((_, l)) => l,
            None => &self.limit,
        };
        let d = match &self.counter {
            Counter::Local(c) => c.check(c.key(text), &limit.budget, c.now_ns()),
            Counter::Shared(s) => {
                let key = shared::digest(&self.route, text);
                match s.check(key, limit.requests, self.per, shared::now_ms()) {
                    Verdict::Decided(d) => d,
                    Verdict::Unavailable => return Step::Stop(Stop::Refuse(GatewayError::RateLimitUnavailable)),
                }
            }
        };
        let secs = |ns: u64| ns.div_ceil(1_000_000_000);
        let field = format!("\"default\";r={};t={}", d.remaining, secs(d.reset_ns));
        cx.answer_headers.push((RATELIMIT_POLICY.clone(), limit.policy.clone()));
        if let Ok(v) = HeaderValue::from_str(&field) {
            cx.answer_headers.push((RATELIMIT.clone(), v));
        }
        if d.allowed {
            return Step::Next;
        }
        crate::ops::metrics::rate_limited(&self.route);
        Step::Stop(Stop::Refuse(GatewayError::RateLimited {
            retry_after: secs(d.retry_ns).max(1),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(xff: &[&str]) -> Parts {
        let mut b = http::Request::builder();
        for x in xff {
            b = b.header("x-forwarded-for", *x);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let outsider: IpAddr = "203.0.113.9".parse().unwrap();
        // From an untrusted peer, the header is the client's own word.
        assert_eq!(client_ip(&parts(&["1.2.3.4"]), outsider, &trusted), outsider);
        // Through a trusted proxy: the right-most untrusted hop.
        assert_eq!(
            client_ip(&parts(&["6.6.6.6, 198.51.100.7, 10.0.0.2"]), peer, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(&parts(&["6.6.6.6", "198.51.100.7"]), peer, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(client_ip(&parts(&["junk"]), peer, &trusted), peer);
        assert_eq!(client_ip(&parts(&[]), peer, &trusted), peer);
    }
}
