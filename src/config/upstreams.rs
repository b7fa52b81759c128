//! `[[upstreams]]`: named pools of targets with load balancing, health
//! checks, passive ejection and retries (SPEC §6). The raw TOML shape and
//! its validation live together here; the data plane that runs a pool is
//! `gateway::upstream`.

use super::duration::Dur;
use super::error::{At, Source};
use super::{ConfigError, GatewaySettings};
use http::{StatusCode, Uri};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub name: Spanned<String>,
    /// Each a URL string or `{ url = "…", weight = N }`.
    pub targets: Spanned<Vec<toml::Value>>,
    pub balance: Option<Spanned<String>>,
    pub hash_on: Option<Spanned<String>>,
    pub protocol: Option<Spanned<String>>,
    pub connect_timeout: Option<Dur>,
    pub timeout: Option<Dur>,
    pub idle_timeout: Option<Dur>,
    pub retries: Option<Spanned<i64>>,
    pub health: Option<RawHealth>,
    pub passive: Option<RawPassive>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub path: Spanned<String>,
    pub interval: Option<Dur>,
    pub timeout: Option<Dur>,
    pub healthy: Option<Spanned<i64>>,
    pub unhealthy: Option<Spanned<i64>>,
    /// Statuses that count as healthy (default: any 2xx or 3xx).
    pub status: Option<Spanned<Vec<u16>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPassive {
    pub failures: Spanned<i64>,
    pub window: Option<Dur>,
    pub cooldown: Option<Dur>,
}

/// A validated pool. `PartialEq` decides what a reload keeps: a pool whose
/// definition did not change keeps its connections and health state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    pub name: Arc<str>,
    pub targets: Vec<TargetSpec>,
    pub balance: Balance,
    pub protocol: Protocol,
    pub connect_timeout: Duration,
    /// Longest wait for the response head.
    pub timeout: Duration,
    /// Idle upstream connections and upgraded (WebSocket) streams that
    /// carry nothing this long are closed.
    pub idle_timeout: Duration,
    pub retries: u32,
    pub health: Option<HealthSpec>,
    pub passive: Option<PassiveSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// scheme://authority[/base-path]
    pub url: Uri,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    LeastConnections,
    ConsistentHash(HashOn),
}

/// What a consistent-hash pool hashes to choose a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    Header(http::HeaderName),
    Cookie(String),
    Ip,
    Claim(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    /// HTTP/2 with prior knowledge (cleartext; gRPC backends).
    H2c,
    /// ALPN over https (h2 or HTTP/1.1), HTTP/1.1 over http.
    Auto,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive successes that bring an unhealthy target back.
    pub healthy: u32,
    /// Consecutive failures that take a healthy target out.
    pub unhealthy: u32,
    /// Empty: any 2xx or 3xx.
    pub status: Vec<StatusCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveSpec {
    pub failures: u32,
    pub window: Duration,
    pub cooldown: Duration,
}

/// Most targets one pool may have (a bound on ring size and check tasks).
pub const MAX_TARGETS: usize = 256;
pub const MAX_WEIGHT: u32 = 1000;

fn span<T>(s: &Spanned<T>) -> At {
    At::Span(s.span())
}

/// An upstream URL: http(s)://host[:port][/path], no query or fragment.
pub fn upstream_url(src: &Source, at: At, u: &str) -> Result<Uri, ConfigError> {
    let base: Uri = u
        .parse()
        .map_err(|e| src.err(at.clone(), format!("upstream {u:?}: {e}")))?;
    let ok_scheme = matches!(base.scheme_str(), Some("http" | "https"));
    if !ok_scheme || base.authority().is_none() || base.query().is_some() || u.contains('#') {
        return Err(src.err(at, format!("upstream {u:?} must be http(s)://host[:port][/path]")));
    }
    if base.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(src.err(at, format!("upstream {u:?}: credentials in the URL are not supported")));
    }
    Ok(base)
}

pub fn protocol(src: &Source, p: Option<&Spanned<String>>) -> Result<Protocol, ConfigError> {
    Ok(match p.map(|p| (p.get_ref().as_str(), span(p))) {
        // auto: HTTP/1.1 to http:// targets, and h2 where an https target
        // offers it by ALPN (what the single-URL backend always did).
        None | Some(("auto", _)) => Protocol::Auto,
        Some(("http1", _)) => Protocol::Http1,
        Some(("h2c", _)) => Protocol::H2c,
        Some((other, at)) => {
            return Err(src.err(at, format!("protocol {other:?} is not \"http1\", \"h2c\" or \"auto\"")))
        }
    })
}

fn count(src: &Source, v: &Spanned<i64>, what: &str, range: std::ops::RangeInclusive<i64>) -> Result<u32, ConfigError> {
    let n = *v.get_ref();
    if !range.contains(&n) {
        return Err(src.err(span(v), format!("{what} must be {} to {}", range.start(), range.end())));
    }
    Ok(n as u32)
}

fn positive(src: &Source, at: &At, d: Option<Dur>, default: Duration, what: &str) -> Result<Duration, ConfigError> {
    let d = d.map_or(default, |d| d.0);
    if d.is_zero() {
        return Err(src.err(at.clone(), format!("{what} must be more than 0s")));
    }
    Ok(d)
}

fn hash_on(src: &Source, s: &Spanned<String>) -> Result<HashOn, ConfigError> {
    let at = span(s);
    let v = s.get_ref().as_str();
    let bad = |why: &str| src.err(at.clone(), format!("hash_on {v:?}: {why}"));
    match v.split_once(':') {
        None if v == "ip" => Ok(HashOn::Ip),
        Some(("header", n)) => http::HeaderName::from_bytes(n.as_bytes())
            .map(HashOn::Header)
            .map_err(|_| bad("not a header name")),
        Some(("cookie", n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && !b"=;,\"".contains(&b)) => {
            Ok(HashOn::Cookie(n.to_string()))
        }
        Some(("claim", n)) if !n.is_empty() => Ok(HashOn::Claim(n.to_string())),
        _ => Err(bad("write header:NAME, cookie:NAME, ip or claim:NAME")),
    }
}

pub fn pool(src: &Source, gateway: &GatewaySettings, r: RawUpstream) -> Result<PoolSpec, ConfigError> {
    let name_at = span(&r.name);
    let name = r.name.get_ref().trim().to_string();
    if name.is_empty() || name.len() > 100 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(src.err(name_at, "upstream name: 1 to 100 letters, digits, '-', '_' or '.'"));
    }
    let targets_at = span(&r.targets);
    let mut targets = Vec::new();
    for (i, t) in r.targets.get_ref().iter().enumerate() {
        let (url, weight) = match t {
            toml::Value::String(u) => (u.clone(), 1),
            toml::Value::Table(tb) => {
                if let Some(k) = tb.keys().find(|k| *k != "url" && *k != "weight") {
                    return Err(src.err(targets_at, format!("targets[{i}]: unknown key {k:?} (url, weight)")));
                }
                let Some(toml::Value::String(u)) = tb.get("url") else {
                    return Err(src.err(targets_at, format!("targets[{i}]: url = \"http://…\" is required")));
                };
                let w = match tb.get("weight") {
                    None => 1,
                    Some(toml::Value::Integer(w)) if (1..=MAX_WEIGHT as i64).contains(w) => *w as u32,
                    Some(_) => {
                        return Err(src.err(
                            targets_at,
                            format!("targets[{i}]: weight must be an integer from 1 to {MAX_WEIGHT}"),
                        ))
                    }
                };
                (u.clone(), w)
            }
            _ => {
                return Err(src.err(
                    targets_at,
                    format!("targets[{i}]: a URL string or {{ url = \"…\", weight = N }}"),
                ))
            }
        };
        let url = upstream_url(src, targets_at.clone(), &url)?;
        if targets.iter().any(|t: &TargetSpec| t.url == url) {
            return Err(src.err(targets_at, format!("targets[{i}]: {url} is listed twice")));
        }
        targets.push(TargetSpec { url, weight });
    }
    if targets.is_empty() {
        return Err(src.err(targets_at, format!("upstream {name:?}: targets must not be empty")));
    }
    if targets.len() > MAX_TARGETS {
        return Err(src.err(targets_at, format!("at most {MAX_TARGETS} targets")));
    }
    let hash = r.hash_on.as_ref().map(|h| hash_on(src, h)).transpose()?;
    let balance = match r.balance.as_ref().map(|b| (b.get_ref().as_str(), span(b))) {
        None | Some(("round_robin", _)) => Balance::RoundRobin,
        Some(("least_connections", _)) => Balance::LeastConnections,
        Some(("consistent_hash", at)) => match &hash {
            Some(h) => Balance::ConsistentHash(h.clone()),
            None => return Err(src.err(at, "balance \"consistent_hash\" needs hash_on = \"header:NAME\" | \"cookie:NAME\" | \"ip\" | \"claim:NAME\"")),
        },
        Some((other, at)) => {
            return Err(src.err(
                at,
                format!("balance {other:?} is not \"round_robin\", \"least_connections\" or \"consistent_hash\""),
            ))
        }
    };
    if let (Some(h), false) = (&r.hash_on, matches!(balance, Balance::ConsistentHash(_))) {
        return Err(src.err(span(h), "hash_on is only for balance = \"consistent_hash\""));
    }
    let protocol = protocol(src, r.protocol.as_ref())?;
    if protocol == Protocol::H2c {
        if let Some(t) = targets.iter().find(|t| t.url.scheme_str() != Some("http")) {
            return Err(src.err(
                targets_at,
                format!(
                    "protocol \"h2c\" is cleartext HTTP/2: {} must be http:// (use \"auto\" for https)",
                    t.url
                ),
            ));
        }
    }
    let retries = match &r.retries {
        None => 1.min(targets.len() as u32 - 1),
        Some(n) => count(src, n, "retries", 0..=10)?,
    };
    let health = match r.health {
        None => None,
        Some(h) => {
            let at = span(&h.path);
            let path = h.path.get_ref().clone();
            if !path.starts_with('/') || path.contains(['#', ' ']) || path.len() > 1000 {
                return Err(src.err(at, format!("health path {path:?} must start with '/'")));
            }
            let interval = positive(src, &at, h.interval, Duration::from_secs(5), "health interval")?;
            let timeout = positive(src, &at, h.timeout, Duration::from_secs(1), "health timeout")?;
            if timeout > interval {
                return Err(src.err(at, "health timeout must not exceed the interval"));
            }
            let status = match &h.status {
                None => Vec::new(),
                Some(s) => s
                    .get_ref()
                    .iter()
                    .map(|c| {
                        StatusCode::from_u16(*c)
                            .map_err(|_| src.err(span(s), format!("status {c} is not an HTTP status")))
                    })
                    .collect::<Result<_, _>>()?,
            };
            Some(HealthSpec {
                path,
                interval,
                timeout,
                healthy: h
                    .healthy
                    .as_ref()
                    .map_or(Ok(2), |n| count(src, n, "healthy", 1..=100))?,
                unhealthy: h
                    .unhealthy
                    .as_ref()
                    .map_or(Ok(3), |n| count(src, n, "unhealthy", 1..=100))?,
                status,
            })
        }
    };
    let passive = match r.passive {
        None => None,
        Some(p) => {
            let at = span(&p.failures);
            Some(PassiveSpec {
                failures: count(src, &p.failures, "passive failures", 1..=10_000)?,
                window: positive(src, &at, p.window, Duration::from_secs(10), "passive window")?,
                cooldown: positive(src, &at, p.cooldown, Duration::from_secs(30), "passive cooldown")?,
            })
        }
    };
    Ok(PoolSpec {
        name: name.into(),
        targets,
        balance,
        protocol,
        connect_timeout: positive(
            src,
            &name_at,
            r.connect_timeout,
            gateway.connect_timeout,
            "connect_timeout",
        )?,
        timeout: positive(src, &name_at, r.timeout, gateway.timeout, "timeout")?,
        idle_timeout: positive(src, &name_at, r.idle_timeout, Duration::from_secs(60), "idle_timeout")?,
        retries,
        health,
        passive,
    })
}
