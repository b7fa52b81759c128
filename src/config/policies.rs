//! Route policy settings (SPEC §7): `hosts`, `cors`, `rate_limit`,
//! `request_headers`, `response_headers` — each as written (serde, with
//! spans for errors) and as validated. The matchers (host patterns, CORS
//! origins, header templates) live here too, beside the rules that make
//! them, so `check` and the gateway can never disagree; the gateway's
//! policy files only apply them.

use super::duration::Dur;
use super::error::{At, ConfigError, Source};
use http::{HeaderName, HeaderValue, Method};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

fn span<T>(s: &Spanned<T>) -> At {
    At::Span(s.span())
}

// ---------------------------------------------------------------- hosts

/// One entry of `hosts`: an exact name or `*.suffix` (which matches
/// `a.suffix` and `a.b.suffix`, never `suffix` itself). Stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    /// The suffix with its leading dot: `.example.org`.
    Wildcard(String),
}

impl HostPattern {
    pub fn parse(s: &str) -> Result<HostPattern, String> {
        let lower = s.to_ascii_lowercase();
        let (wild, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(format!(
                "host {s:?} is not a host name or \"*.\" followed by one (no port, no scheme)"
            ));
        }
        Ok(if wild {
            HostPattern::Wildcard(format!(".{name}"))
        } else {
            HostPattern::Exact(name.to_string())
        })
    }

    /// `host` is already lowercase and without a port (see [`request_host`]).
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(n) => n == host,
            HostPattern::Wildcard(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }

    /// How specific a match is: an exact name beats any wildcard, a
    /// longer wildcard beats a shorter one.
    pub fn rank(&self) -> usize {
        match self {
            // Host names are at most 255 bytes: any exact name outranks them.
            HostPattern::Exact(_) => 1024,
            HostPattern::Wildcard(s) => s.len(),
        }
    }
}

/// The host a request names (`Host`, or the URI's authority for HTTP/2's
/// `:authority`), lowercased, without a port and without a trailing dot.
/// None when there is none or it is not a plausible host (the request
/// head check has refused the worst already).
pub fn request_host(authority: &str) -> Option<String> {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        // An IPv6 literal: "[::1]:8080".
        &a[..rest.find(']')? + 2]
    } else {
        match a.rfind(':') {
            Some(i) if a[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &a[..i],
            Some(_) => return None,
            None => a,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > 255 {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

pub fn hosts(src: &Source, raw: Option<Spanned<Vec<String>>>) -> Result<Vec<HostPattern>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let at = span(&raw);
    let list = raw.into_inner();
    if list.is_empty() {
        return Err(src.err(at, "hosts must not be empty (leave it out to match every host)"));
    }
    list.iter()
        .map(|h| HostPattern::parse(h).map_err(|e| src.err(at.clone(), e)))
        .collect()
}

// ---------------------------------------------------------------- cors

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCors {
    pub origins: Spanned<Vec<String>>,
    pub methods: Option<Spanned<Vec<String>>>,
    pub headers: Option<Spanned<Vec<String>>>,
    pub expose_headers: Option<Spanned<Vec<String>>>,
    pub credentials: Option<Spanned<bool>>,
    pub max_age: Option<Dur>,
}

/// An origin as browsers send it: scheme, host, port if not the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    /// `https://app.example` (serialised by the `url` crate, so
    /// `HTTPS://App.Example:443` and `https://app.example` are one).
    Exact(String),
    /// `https://*.example.com`: scheme, and the host's suffix with its dot.
    Subdomains {
        scheme: String,
        suffix: String,
        port: Option<u16>,
    },
}

impl OriginPattern {
    pub fn parse(s: &str) -> Result<OriginPattern, String> {
        let bad = || format!("CORS origin {s:?} is not scheme://host[:port] (no path), \"https://*.domain\" or \"*\"");
        if let Some((scheme, rest)) = s.split_once("://*.") {
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad())?)),
                None => (rest, None),
            };
            HostPattern::parse(host).map_err(|_| bad())?;
            let scheme = scheme.to_ascii_lowercase();
            if scheme != "http" && scheme != "https" {
                return Err(bad());
            }
            return Ok(OriginPattern::Subdomains {
                scheme,
                suffix: format!(".{}", host.to_ascii_lowercase()),
                port,
            });
        }
        serialise_origin(s).map(OriginPattern::Exact).ok_or_else(bad)
    }

    fn matches(&self, origin: &url::Url, serialised: &str) -> bool {
        match self {
            OriginPattern::Exact(o) => o == serialised,
            OriginPattern::Subdomains { scheme, suffix, port } => {
                origin.scheme() == scheme
                    && origin.port() == *port
                    && origin
                        .host_str()
                        .is_some_and(|h| h.len() > suffix.len() && h.ends_with(suffix.as_str()))
            }
        }
    }
}

/// The ASCII serialisation of an http(s) origin (RFC 6454 §6.2), or None
/// for anything else (`null`, other schemes, paths, userinfo).
pub fn serialise_origin(s: &str) -> Option<String> {
    if s.len() > 2048 {
        return None;
    }
    let u = url::Url::parse(s).ok()?;
    if !matches!(u.scheme(), "http" | "https") || !u.username().is_empty() || u.password().is_some() {
        return None;
    }
    if u.path() != "/" || u.query().is_some() || u.fragment().is_some() {
        return None;
    }
    u.host_str()?;
    Some(u.origin().ascii_serialization())
}

#[derive(Debug, Clone)]
pub struct CorsSpec {
    /// None: any origin (`origins = ["*"]`, never with credentials).
    pub origins: Option<Vec<OriginPattern>>,
    pub methods: Vec<Method>,
    /// Lowercase request header names a preflight may ask for.
    pub headers: Vec<HeaderName>,
    pub expose_headers: Vec<HeaderName>,
    pub credentials: bool,
    pub max_age: Duration,
}

impl CorsSpec {
    /// Whether `origin` (the request's `Origin` header) may read answers;
    /// returns it as the value to echo.
    pub fn allows(&self, origin: &[u8]) -> Option<HeaderValue> {
        // The common case without parsing: a browser sends the origin
        // serialised (RFC 6454 §6.2), so one equal to a listed origin's
        // serialisation is that origin (serialising it again gives it back).
        if let Some(list) = &self.origins {
            if list
                .iter()
                .any(|p| matches!(p, OriginPattern::Exact(o) if o.as_bytes() == origin))
            {
                return HeaderValue::from_bytes(origin).ok();
            }
        }
        let text = std::str::from_utf8(origin).ok()?;
        let serialised = serialise_origin(text)?;
        let ok = match &self.origins {
            None => true,
            Some(list) => {
                let u = url::Url::parse(text).ok()?;
                list.iter().any(|p| p.matches(&u, &serialised))
            }
        };
        // Echo the origin as the browser sent it: it compares bytes.
        ok.then(|| HeaderValue::from_bytes(origin).ok()).flatten()
    }
}

pub fn cors(src: &Source, raw: Option<RawCors>) -> Result<Option<CorsSpec>, ConfigError> {
    let Some(r) = raw else { return Ok(None) };
    let at = span(&r.origins);
    let list = r.origins.into_inner();
    let credentials = r.credentials.as_ref().is_some_and(|c| *c.get_ref());
    let origins = if list.iter().any(|o| o == "*") {
        if list.len() > 1 {
            return Err(src.err(at, "cors origins: \"*\" stands alone (it already allows every origin)"));
        }
        if credentials {
            return Err(src.err(
                at,
                "cors: origins = [\"*\"] with credentials = true would let every site read answers made with the user's cookies; list the origins",
            ));
        }
        None
    } else {
        if list.is_empty() {
            return Err(src.err(at, "cors origins must not be empty"));
        }
        Some(
            list.iter()
                .map(|o| OriginPattern::parse(o).map_err(|e| src.err(at.clone(), e)))
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let methods = match r.methods {
        None => vec![Method::GET, Method::HEAD, Method::POST],
        Some(m) => {
            let at = span(&m);
            m.into_inner()
                .iter()
                .map(|s| {
                    Method::from_bytes(s.to_ascii_uppercase().as_bytes())
                        .map_err(|_| src.err(at.clone(), format!("cors methods: bad HTTP method {s:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    let names = |field: &str, v: Option<Spanned<Vec<String>>>| -> Result<Vec<HeaderName>, ConfigError> {
        let Some(v) = v else { return Ok(Vec::new()) };
        let at = span(&v);
        v.into_inner()
            .iter()
            .map(|s| {
                HeaderName::from_bytes(s.to_ascii_lowercase().as_bytes())
                    .map_err(|_| src.err(at.clone(), format!("cors {field}: bad header name {s:?}")))
            })
            .collect()
    };
    let max_age = r.max_age.map_or(Duration::from_secs(600), |d| d.0);
    Ok(Some(CorsSpec {
        origins,
        methods,
        headers: names("headers", r.headers)?,
        expose_headers: names("expose_headers", r.expose_headers)?,
        credentials,
        max_age,
    }))
}

// ---------------------------------------------------------------- rate_limit

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub requests: Spanned<u64>,
    pub per: Spanned<String>,
    pub by: Option<Spanned<String>>,
    pub burst: Option<Spanned<u64>>,
    /// Per-key budgets: `{ "printer" = 1000 }` (requests per `per`).
    #[serde(default)]
    pub overrides: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKey {
    /// The accepted token's `client_id` (after auth).
    Client,
    /// The accepted token's `sub` (after auth).
    Subject,
    /// The client's address (`X-Forwarded-For` from trusted proxies only).
    Ip,
    Header(HeaderName),
}

impl RateKey {
    /// Keys that need the accepted token run after auth in the chain;
    /// the others before it, so floods are refused before any token work.
    pub fn needs_principal(&self) -> bool {
        matches!(self, RateKey::Client | RateKey::Subject)
    }
}

#[derive(Debug, Clone)]
pub struct RateLimitSpec {
    pub requests: u64,
    pub per: Duration,
    pub by: RateKey,
    /// Requests allowed back to back (default `requests`).
    pub burst: u64,
    pub overrides: Vec<(String, u64)>,
}

/// Budgets this small or this slow are config mistakes, not limits.
const MAX_WINDOW: Duration = Duration::from_secs(7 * 86400);

/// `shared`: counted across instances (`rate_limit_store` not "local").
pub fn rate_limit(src: &Source, raw: Option<RawRateLimit>, shared: bool) -> Result<Option<RateLimitSpec>, ConfigError> {
    let Some(r) = raw else { return Ok(None) };
    let at = span(&r.requests);
    let requests = *r.requests.get_ref();
    if requests == 0 || requests > 1_000_000_000 {
        return Err(src.err(
            at,
            "rate_limit requests must be 1..=1000000000 (leave rate_limit out for no limit)",
        ));
    }
    let per_at = span(&r.per);
    let per =
        super::duration::parse(r.per.get_ref()).map_err(|e| src.err(per_at.clone(), format!("rate_limit per: {e}")))?;
    if per < Duration::from_millis(1) || per > MAX_WINDOW {
        return Err(src.err(per_at, "rate_limit per must be between 1ms and 7d"));
    }
    let by = match &r.by {
        None => RateKey::Ip,
        Some(b) => {
            let s = b.get_ref().as_str();
            match s {
                "client" => RateKey::Client,
                "subject" => RateKey::Subject,
                "ip" => RateKey::Ip,
                _ => match s.strip_prefix("header:") {
                    Some(h) => RateKey::Header(
                        HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
                            .map_err(|_| src.err(span(b), format!("rate_limit by: bad header name {h:?}")))?,
                    ),
                    None => {
                        return Err(src.err(
                            span(b),
                            format!("rate_limit by {s:?} is not \"client\", \"subject\", \"ip\" or \"header:NAME\""),
                        ))
                    }
                },
            }
        }
    };
    let burst = match &r.burst {
        None => requests,
        Some(b) if shared && *b.get_ref() != requests => {
            return Err(src.err(
                span(b),
                "rate_limit burst needs [gateway] rate_limit_store = \"local\": shared limits count sliding \
                 windows, in which the whole budget may come at once",
            ))
        }
        Some(b) if *b.get_ref() >= 1 && *b.get_ref() <= 1_000_000_000 => *b.get_ref(),
        Some(b) => return Err(src.err(span(b), "rate_limit burst must be 1..=1000000000")),
    };
    let mut overrides = Vec::new();
    for (k, n) in r.overrides {
        if n == 0 || n > 1_000_000_000 {
            return Err(src.err(
                at.clone(),
                format!("rate_limit overrides {k:?}: must be 1..=1000000000"),
            ));
        }
        overrides.push((k, n));
    }
    Ok(Some(RateLimitSpec {
        requests,
        per,
        by,
        burst,
        overrides,
    }))
}

// ---------------------------------------------------------------- header transforms

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawHeaders {
    pub set: BTreeMap<String, String>,
    pub append: BTreeMap<String, String>,
    pub remove: Vec<String>,
}

/// A header value with `${claim.NAME}`, `${client_id}`, `${route}` or
/// `${request_id}` in it, filled per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Claim(String),
    ClientId,
    Route,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub pieces: Vec<Piece>,
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            if i > 0 {
                pieces.push(Piece::Text(rest[..i].to_string()));
            }
            let after = &rest[i + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("header value {s:?}: \"${{\" without a closing \"}}\""))?;
            let name = &after[..end];
            pieces.push(match name {
                "client_id" => Piece::ClientId,
                "route" => Piece::Route,
                _ => match name.strip_prefix("claim.") {
                    Some(c) if !c.is_empty() && c.len() <= 256 => Piece::Claim(c.to_string()),
                    _ => {
                        return Err(format!(
                            "header value {s:?}: ${{{name}}} is not ${{claim.NAME}}, ${{client_id}} or ${{route}}"
                        ))
                    }
                },
            });
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        // The literal parts must already be a valid header value.
        for p in &pieces {
            if let Piece::Text(t) = p {
                HeaderValue::from_str(t)
                    .map_err(|_| format!("header value {s:?} has characters a header cannot carry"))?;
            }
        }
        Ok(Template { pieces })
    }

    /// Only literal text: the value is the same on every request.
    pub fn literal(&self) -> Option<HeaderValue> {
        match self.pieces.as_slice() {
            [] => Some(HeaderValue::from_static("")),
            [Piece::Text(t)] => HeaderValue::from_str(t).ok(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct HeaderTransform {
    pub set: Vec<(HeaderName, Template)>,
    pub append: Vec<(HeaderName, Template)>,
    pub remove: Vec<HeaderName>,
}

impl HeaderTransform {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.append.is_empty() && self.remove.is_empty()
    }
}

/// Headers a transform may not touch: hop-by-hop fields (the connection's,
/// not the message's), framing, and what the gateway itself vouches for.
pub fn protected_header(name: &str, forwarded: &[HeaderName]) -> bool {
    const FIXED: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
        "x-request-id",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "forwarded",
        "traceparent",
        "tracestate",
    ];
    let canon = name.replace('_', "-");
    FIXED.contains(&canon.as_str()) || forwarded.iter().any(|f| f.as_str() == canon)
}

pub fn header_transform(
    src: &Source,
    at: At,
    field: &str,
    raw: Option<RawHeaders>,
    forwarded: &[HeaderName],
) -> Result<HeaderTransform, ConfigError> {
    let Some(r) = raw else {
        return Ok(HeaderTransform::default());
    };
    let name = |s: &str| -> Result<HeaderName, ConfigError> {
        let n = HeaderName::from_bytes(s.to_ascii_lowercase().as_bytes())
            .map_err(|_| src.err(at.clone(), format!("{field}: bad header name {s:?}")))?;
        if protected_header(n.as_str(), forwarded) {
            return Err(src.err(
                at.clone(),
                format!("{field}: {s:?} is set by the gateway or the connection and cannot be changed"),
            ));
        }
        Ok(n)
    };
    let pairs = |m: BTreeMap<String, String>| -> Result<Vec<(HeaderName, Template)>, ConfigError> {
        m.iter()
            .map(|(k, v)| {
                Ok((
                    name(k)?,
                    Template::parse(v).map_err(|e| src.err(at.clone(), format!("{field}: {e}")))?,
                ))
            })
            .collect()
    };
    Ok(HeaderTransform {
        set: pairs(r.set)?,
        append: pairs(r.append)?,
        remove: r.remove.iter().map(|s| name(s)).collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_match_exact_names_and_strict_subdomains() {
        let w = HostPattern::parse("*.Example.org").unwrap();
        assert!(w.matches("a.example.org"));
        assert!(w.matches("a.b.example.org"));
        assert!(!w.matches("example.org"), "a wildcard needs a label");
        assert!(!w.matches("aexample.org"));
        let e = HostPattern::parse("API.example.com").unwrap();
        assert!(e.matches("api.example.com"));
        assert!(!e.matches("x.api.example.com"));
        for bad in ["", "*.", "a b", "a:80", "http://a", "a/b", "-a.b", "*.*.a", "a..b"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn request_hosts_lose_port_case_and_trailing_dot() {
        assert_eq!(request_host("API.Example.com:8080").as_deref(), Some("api.example.com"));
        assert_eq!(request_host("a.example.").as_deref(), Some("a.example"));
        assert_eq!(request_host("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(request_host("a:b"), None);
        assert_eq!(request_host(""), None);
    }

    #[test]
    fn origins_are_compared_serialised() {
        let spec = CorsSpec {
            origins: Some(vec![
                OriginPattern::parse("https://App.example").unwrap(),
                OriginPattern::parse("https://*.apps.example").unwrap(),
            ]),
            methods: vec![],
            headers: vec![],
            expose_headers: vec![],
            credentials: true,
            max_age: Duration::from_secs(1),
        };
        assert!(spec.allows(b"https://app.example").is_some());
        assert!(spec.allows(b"https://app.example:443").is_some());
        assert!(spec.allows(b"https://x.apps.example").is_some());
        assert!(spec.allows(b"https://apps.example").is_none());
        assert!(spec.allows(b"http://app.example").is_none());
        assert!(spec.allows(b"https://app.example.evil").is_none());
        assert!(spec.allows(b"null").is_none());
        assert!(spec.allows(b"https://app.example/path").is_none());
        assert!(spec.allows(&[0xff, 0xfe]).is_none());
        for bad in [
            "https://a.example/x",
            "ftp://a",
            "a.example",
            "https://u@a.example",
            "https://*.",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn templates_name_claims_and_the_client() {
        let t = Template::parse("user=${claim.sub}; via ${client_id}").unwrap();
        assert_eq!(
            t.pieces,
            vec![
                Piece::Text("user=".into()),
                Piece::Claim("sub".into()),
                Piece::Text("; via ".into()),
                Piece::ClientId
            ]
        );
        assert!(Template::parse("${nope}").is_err());
        assert!(Template::parse("${claim.sub").is_err());
        assert!(Template::parse("a\nb").is_err());
        assert_eq!(Template::parse("2").unwrap().literal().unwrap(), "2");
    }

    #[test]
    fn gateway_headers_are_protected_under_any_spelling() {
        let fwd = [HeaderName::from_static("x-auth-sub")];
        assert!(protected_header("x_auth_sub", &fwd));
        assert!(protected_header("connection", &fwd));
        assert!(protected_header("x-request-id", &fwd));
        assert!(!protected_header("x-api-version", &fwd));
    }
}
