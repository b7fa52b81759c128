//! Raw TOML → validated `Config`. Each check reports the span it is about.

use super::error::{At, Source};
use super::raw::*;
use super::*;
use std::collections::HashMap;
use std::str::FromStr;

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Grant types this build serves. The SAML bearer grant is there only in
/// a build with the `saml` cargo feature (it links libxmlsec1).
pub const KNOWN_GRANTS: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "password",
    "client_credentials",
    "implicit",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    #[cfg(feature = "saml")]
    SAML2_BEARER,
    DEVICE_CODE_GRANT,
    TOKEN_EXCHANGE_GRANT,
];

/// RFC 8628 §3.4: the device flow's grant type (the full URN, as in
/// `grant_types`).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8693 §2.1.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const SAML2_BEARER: &str = "urn:ietf:params:oauth:grant-type:saml2-bearer";

/// What a build without the `saml` feature says about SAML configuration.
pub const NO_SAML: &str = "this gatehouse was built without SAML support (the `saml` cargo feature, which links \
     libxmlsec1); build it with `cargo build --release --features saml` (needs pkg-config, libxmlsec1-dev, \
     libssl-dev and libclang-dev; see the README, \"Building with SAML\")";

fn span<T>(s: &toml::Spanned<T>) -> At {
    At::Span(s.span())
}

/// A value that may come from the file or be overridden by the environment.
fn overridden(
    env: &HashMap<&str, &str>,
    var: &'static str,
    file: Option<&toml::Spanned<String>>,
) -> Option<(String, At)> {
    match env.get(var) {
        Some(v) => Some((v.to_string(), At::Env(var))),
        None => file.map(|s| (s.get_ref().clone(), span(s))),
    }
}

pub fn parse(text: &str, label: &str, base: &Path, env_vars: &[(String, String)]) -> Result<Config, ConfigError> {
    let src = Source { label, text };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(At::File, At::Span);
        src.err(at, e.message().trim().to_string())
    })?;
    let env: HashMap<&str, &str> = env_vars
        .iter()
        .filter(|(k, _)| k.starts_with("GATEHOUSE_"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };

    let (listen_s, listen_at) =
        overridden(&env, "GATEHOUSE_LISTEN", raw.listen.as_ref()).unwrap_or((DEFAULT_LISTEN.into(), At::File));
    let listen: SocketAddr = listen_s.parse().map_err(|_| {
        src.err(
            listen_at,
            format!("listen: {listen_s:?} is not an address like \"127.0.0.1:8080\""),
        )
    })?;

    let issuer = match overridden(&env, "GATEHOUSE_ISSUER", raw.issuer.as_ref()) {
        Some((i, at)) => {
            let u = url::Url::parse(&i).map_err(|e| src.err(at.clone(), format!("issuer: {e}")))?;
            if !matches!(u.scheme(), "http" | "https") || u.query().is_some() || u.fragment().is_some() {
                return Err(src.err(at, "issuer must be an http(s) URL without query or fragment"));
            }
            i.trim_end_matches('/').to_string()
        }
        // Served over TLS when [tls] is set: the issuer is https then.
        None if raw.tls.is_some() => format!("https://{listen}"),
        None => format!("http://{listen}"),
    };

    // [store]
    let (mut store_url, store_at) = overridden(&env, "GATEHOUSE_STORE_URL", raw.store.url.as_ref())
        .unwrap_or(("sqlite://gatehouse-data/gatehouse.db".into(), At::File));
    if let Some(rest) = store_url.strip_prefix("sqlite://") {
        if rest.is_empty() {
            return Err(src.err(store_at, "store.url: sqlite:// needs a file path"));
        }
        store_url = format!("sqlite://{}", resolve(rest).display());
    } else if crate::store::cassandra::is_cassandra(&store_url) {
        if let Err(e) = crate::store::cassandra::CassandraUrl::parse(&store_url) {
            return Err(src.err(store_at, format!("store.url: {e}")));
        }
    } else if !(store_url.starts_with("memory://")
        || store_url.starts_with("postgres://")
        || store_url.starts_with("postgresql://"))
    {
        return Err(src.err(
            store_at,
            format!("store.url: {store_url:?} is not sqlite://…, postgres://…, cassandra://… or memory://"),
        ));
    }
    let env_dur = |var: &'static str, file: Option<Dur>, default: u64| -> Result<Duration, ConfigError> {
        match env.get(var) {
            Some(v) => parse_duration(v).map_err(|e| src.err(At::Env(var), e)),
            None => Ok(file.map_or(Duration::from_secs(default), |d| d.0)),
        }
    };
    let env_num = |var: &'static str, file: Option<u64>| -> Result<Option<u64>, ConfigError> {
        match env.get(var) {
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| src.err(At::Env(var), "must be a non-negative whole number")),
            None => Ok(file),
        }
    };
    let pool_size = match env_num("GATEHOUSE_STORE_POOL_SIZE", raw.store.pool_size.map(u64::from))? {
        Some(0) => return Err(src.err(At::File, "store.pool_size must be at least 1")),
        Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        None => None,
    };
    let fail_open = match env.get("GATEHOUSE_STORE_FAIL_OPEN") {
        Some(v) => match *v {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(src.err(At::Env("GATEHOUSE_STORE_FAIL_OPEN"), "must be true or false")),
        },
        None => raw.store.fail_open.unwrap_or(true),
    };
    let store = StoreSettings {
        url: store_url,
        cache_entries: env_num("GATEHOUSE_STORE_CACHE_MAX_ENTRIES", raw.store.cache.max_entries)?.unwrap_or(100_000),
        purge_every: env_dur("GATEHOUSE_STORE_PURGE_EVERY", raw.store.purge_every, 60)?,
        revocation_staleness: env_dur(
            "GATEHOUSE_STORE_REVOCATION_STALENESS",
            raw.store.revocation_staleness,
            5,
        )?,
        pool_size,
        connect_timeout: env_dur("GATEHOUSE_STORE_CONNECT_TIMEOUT", raw.store.connect_timeout, 3)?,
        statement_timeout: env_dur("GATEHOUSE_STORE_STATEMENT_TIMEOUT", raw.store.statement_timeout, 5)?,
        fail_open,
    };

    // [tokens]
    let access_format = match overridden(
        &env,
        "GATEHOUSE_TOKENS_ACCESS_FORMAT",
        raw.tokens.access_format.as_ref(),
    ) {
        None => AccessFormat::Jwt,
        Some((f, at)) => match f.as_str() {
            "jwt" => AccessFormat::Jwt,
            "opaque" => AccessFormat::Opaque,
            _ => return Err(src.err(at, format!("tokens.access_format: {f:?} is not \"jwt\" or \"opaque\""))),
        },
    };
    let signing_alg = match overridden(&env, "GATEHOUSE_TOKENS_SIGNING_ALG", raw.tokens.signing_alg.as_ref()) {
        None => SigningAlg::Rs256,
        Some((a, at)) => SigningAlg::from_str(&a).map_err(|e| src.err(at, format!("tokens.signing_alg: {e}")))?,
    };
    let tokens = TokenSettings {
        access_format,
        access_ttl: env_dur("GATEHOUSE_TOKENS_ACCESS_TTL", raw.tokens.access_ttl, 3600)?,
        refresh_ttl: env_dur("GATEHOUSE_TOKENS_REFRESH_TTL", raw.tokens.refresh_ttl, 30 * 86400)?,
        code_ttl: env_dur("GATEHOUSE_TOKENS_CODE_TTL", raw.tokens.code_ttl, 60)?,
        id_token_ttl: raw.tokens.id_token_ttl.map_or(Duration::from_secs(3600), |d| d.0),
        signing_alg,
        device_code_ttl: raw.tokens.device_code_ttl.map_or(Duration::from_secs(600), |d| d.0),
        device_poll_interval: raw.tokens.device_poll_interval.map_or(Duration::from_secs(5), |d| d.0),
        dpop_nonce: raw.tokens.dpop_nonce.unwrap_or(true),
        par_ttl: raw.tokens.par_ttl.map_or(Duration::from_secs(60), |d| d.0),
        require_pushed_authorization_requests: raw.tokens.require_pushed_authorization_requests.unwrap_or(false),
    };
    // RFC 9126 §2.2: long enough to reach the authorization endpoint,
    // short enough that a leaked URI is soon worthless (FAPI 2.0: < 600 s).
    if !(Duration::from_secs(5)..=Duration::from_secs(600)).contains(&tokens.par_ttl) {
        return Err(src.err(At::File, "tokens.par_ttl must be between 5s and 10m"));
    }
    // Device grant lifetimes: a code must live long enough for a person to
    // type it in, and a client must be able to poll it at least once.
    if !(Duration::from_secs(10)..=Duration::from_secs(86400)).contains(&tokens.device_code_ttl) {
        return Err(src.err(At::File, "tokens.device_code_ttl must be between 10s and 1d"));
    }
    if tokens.device_poll_interval < Duration::from_secs(1) || tokens.device_poll_interval > tokens.device_code_ttl {
        return Err(src.err(
            At::File,
            "tokens.device_poll_interval must be at least 1s and at most tokens.device_code_ttl",
        ));
    }

    let keys_dir = match env.get("GATEHOUSE_KEYS_DIR") {
        Some(d) => PathBuf::from(d),
        None => resolve(raw.keys.dir.as_deref().unwrap_or("gatehouse-data/keys")),
    };
    let keys_rotate_every = match raw.keys.rotate_every {
        Some(d) if d.0 < Duration::from_secs(1) => {
            return Err(src.err(At::File, "keys.rotate_every must be at least 1s"));
        }
        d => d.map(|d| d.0),
    };

    let limit = |v: &Option<toml::Spanned<usize>>,
                 name: &str,
                 default: usize,
                 range: std::ops::RangeInclusive<usize>| {
        match v {
            None => Ok(default),
            Some(n) if range.contains(n.get_ref()) => Ok(*n.get_ref()),
            Some(n) => Err(src.err(
                span(n),
                format!("server.{name}: must be between {} and {}", range.start(), range.end()),
            )),
        }
    };
    let server = ServerSettings {
        header_timeout: raw.server.header_timeout.map_or(Duration::from_secs(30), |d| d.0),
        body_timeout: raw.server.body_timeout.map_or(Duration::from_secs(60), |d| d.0),
        max_connections: limit(&raw.server.max_connections, "max_connections", 10_000, 1..=1_000_000)?,
        max_headers: limit(&raw.server.max_headers, "max_headers", 100, 1..=10_000)?,
        max_header_bytes: limit(
            &raw.server.max_header_bytes,
            "max_header_bytes",
            64 * 1024,
            1024..=1 << 20,
        )?,
        h2c: raw.server.h2c.unwrap_or(false),
    };
    let tls = match raw.tls {
        None => None,
        Some(t) => Some(TlsSettings {
            cert: resolve(t.cert.get_ref()),
            key: resolve(t.key.get_ref()),
            redirect_listen: match &t.redirect_listen {
                None => None,
                Some(a) => Some(
                    a.get_ref()
                        .parse()
                        .map_err(|e| src.err(span(a), format!("tls.redirect_listen {:?}: {e}", a.get_ref())))?,
                ),
            },
            hsts: match &t.hsts {
                None => None,
                Some(h) => Some(hsts(h.get_ref()).map_err(|e| src.err(span(h), format!("tls.hsts: {e}")))?),
            },
            ocsp: t.ocsp.as_ref().map(|o| resolve(o.get_ref())),
        }),
    };

    let gateway = GatewaySettings {
        max_body_bytes: raw.gateway.max_body_bytes.unwrap_or(100 * 1024 * 1024),
        ca_file: raw.gateway.ca_file.as_deref().map(resolve),
        connect_timeout: raw.gateway.connect_timeout.map_or(Duration::from_secs(5), |d| d.0),
        timeout: raw.gateway.timeout.map_or(Duration::from_secs(60), |d| d.0),
        max_token_bytes: raw.gateway.max_token_bytes.unwrap_or(16 * 1024),
        token_cache_entries: raw.gateway.token_cache_entries.unwrap_or(100_000),
        trusted_proxies: match &raw.gateway.trusted_proxies {
            None => Vec::new(),
            Some(list) => list
                .get_ref()
                .iter()
                .map(|c| {
                    c.parse::<ipnet::IpNet>()
                        .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| {
                            src.err(
                                span(list),
                                format!("[gateway] trusted_proxies: {c:?} is not an address or CIDR"),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
        },
        rate_limit_store: match &raw.gateway.rate_limit_store {
            None => RateLimitStore::Local,
            Some(s) => match s.get_ref().as_str() {
                "local" => RateLimitStore::Local,
                "store" => RateLimitStore::Store,
                url if url.starts_with("redis://") => {
                    // The URL's form is checked here; the server is asked
                    // only at the first sync (it may start later).
                    redis::Client::open(url)
                        .map_err(|e| src.err(span(s), format!("[gateway] rate_limit_store: {e}")))?;
                    RateLimitStore::Redis(url.to_string())
                }
                other => {
                    return Err(src.err(
                        span(s),
                        format!("[gateway] rate_limit_store {other:?} is not \"local\", \"store\" or a redis:// URL"),
                    ))
                }
            },
        },
        rate_limit_sync: match &raw.gateway.rate_limit_sync {
            None => Duration::from_millis(100),
            Some(d) if d.get_ref().0 >= Duration::from_millis(10) && d.get_ref().0 <= Duration::from_secs(60) => {
                d.get_ref().0
            }
            Some(d) => return Err(src.err(span(d), "[gateway] rate_limit_sync must be between 10ms and 60s")),
        },
        rate_limit_refuse_when_down: match &raw.gateway.rate_limit_fallback {
            None => false,
            Some(f) => match f.get_ref().as_str() {
                "local" => false,
                "refuse" => true,
                other => {
                    return Err(src.err(
                        span(f),
                        format!("[gateway] rate_limit_fallback {other:?} is not \"local\" or \"refuse\""),
                    ))
                }
            },
        },
    };

    let log = LogSettings {
        json: match overridden(&env, "GATEHOUSE_LOG_FORMAT", raw.log.format.as_ref()) {
            None => false,
            Some((f, at)) => match f.as_str() {
                "text" => false,
                "json" => true,
                _ => return Err(src.err(at, format!("log.format: {f:?} is not \"text\" or \"json\""))),
            },
        },
        level: env
            .get("GATEHOUSE_LOG_LEVEL")
            .map(|s| s.to_string())
            .or(raw.log.level)
            .unwrap_or_else(|| "info".into()),
        access: match env.get("GATEHOUSE_LOG_ACCESS").copied() {
            None => raw.log.access.unwrap_or(true),
            Some("true") => true,
            Some("false") => false,
            Some(_) => return Err(src.err(At::Env("GATEHOUSE_LOG_ACCESS"), "must be true or false")),
        },
    };

    let telemetry = match raw.telemetry {
        None => None,
        Some(t) => Some(telemetry(&src, t)?),
    };

    let outbound = outbound(&src, raw.outbound)?;
    let clients = raw
        .clients
        .into_iter()
        .map(|c| client(&src, c, signing_alg, &outbound))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = HashMap::new();
    for c in &clients {
        if seen.insert(c.id.clone(), ()).is_some() {
            return Err(src.err(At::File, format!("client id {:?} is declared twice", c.id)));
        }
    }
    let users = raw
        .users
        .into_iter()
        .map(|u| user(&src, u))
        .collect::<Result<Vec<_>, _>>()?;

    let mut trusted_issuers = Vec::new();
    for t in raw.trusted_issuers {
        let at = span(&t.issuer);
        let keys = key_source(
            &src,
            &resolve,
            at,
            None,
            t.jwks,
            t.jwks_file.map(|f| f.into_inner()),
            t.jwks_uri.map(|u| u.into_inner()),
        )?;
        let subject = match t.subject.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("user") => AssertionSubject::User,
            Some("client") => AssertionSubject::Client,
            Some(other) => {
                return Err(src.err(
                    t.subject.as_ref().map_or(At::File, span),
                    format!("subject {other:?} is not \"user\" or \"client\""),
                ))
            }
        };
        trusted_issuers.push(TrustedIssuer {
            issuer: t.issuer.into_inner(),
            keys,
            audience: t.audience.map(StringOrList::into_vec).unwrap_or_default(),
            subject,
            max_assertion_lifetime: t.max_assertion_lifetime.map_or(Duration::from_secs(3600), |d| d.0),
        });
    }

    let mut saml_idps = Vec::new();
    for s in raw.saml_idps {
        if !cfg!(feature = "saml") {
            return Err(src.err(span(&s.entity_id), format!("[[saml_idps]]: {NO_SAML}")));
        }
        let path = resolve(s.certificate.get_ref());
        let certificate_pem = std::fs::read_to_string(&path).map_err(|e| {
            src.err(
                span(&s.certificate),
                format!("certificate file {}: {e}", path.display()),
            )
        })?;
        saml_idps.push(SamlIdp {
            entity_id: s.entity_id.into_inner(),
            certificate_pem,
        });
    }

    let mut upstreams: Vec<PoolSpec> = Vec::new();
    for u in raw.upstreams {
        let at = span(&u.name);
        let pool = super::upstreams::pool(&src, &gateway, u)?;
        if upstreams.iter().any(|p| p.name == pool.name) {
            return Err(src.err(at, format!("duplicate upstream name {:?}", pool.name)));
        }
        upstreams.push(pool);
    }

    let mut apis: Vec<ApiSpec> = Vec::new();
    for a in raw.apis {
        let path_at = span(&a.path);
        let api = api(&src, &resolve, &trusted_issuers, &gateway, &upstreams, a)?;
        // One path may serve several hosts, one route per host set; a
        // request that two routes could both take is a config mistake.
        if let Some(x) = apis.iter().find(|x| {
            x.path == api.path
                && ((x.hosts.is_empty() && api.hosts.is_empty()) || x.hosts.iter().any(|h| api.hosts.contains(h)))
        }) {
            return Err(src.err(
                path_at,
                format!("duplicate api path {:?} (routes may share a path only when their hosts differ, at most one without hosts; see route {:?})", api.path, x.name),
            ));
        }
        apis.push(api);
    }

    let admin = match raw.admin {
        None => None,
        Some(a) => {
            let at = span(&a.username);
            let password = match (a.password, a.password_hash) {
                (Some(p), None) if p.len() >= 8 => SecretSpec::Plain(p),
                (None, Some(h)) if h.starts_with("$argon2") => SecretSpec::Hash(h),
                (Some(_), None) => return Err(src.err(at, "[admin] password must be at least 8 characters")),
                _ => {
                    return Err(src.err(
                        at,
                        "[admin] needs exactly one of password or password_hash ($argon2id$…)",
                    ))
                }
            };
            let username = a.username.into_inner();
            if username.is_empty() {
                return Err(src.err(at, "[admin] username must not be empty"));
            }
            Some(AdminSettings { username, password })
        }
    };
    let registration = match raw.registration {
        None => None,
        Some(r) => {
            let at = span(&r.initial_access_token);
            let initial_access_token = r.initial_access_token.into_inner();
            // A guessable token would let anyone register clients.
            if initial_access_token.len() < 16 {
                return Err(src.err(at, "[registration] initial_access_token must be at least 16 characters"));
            }
            let allowed_scopes = match r.allowed_scopes {
                None => super::DEFAULT_REGISTRATION_SCOPES
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                Some(list) => {
                    let at = span(&list);
                    let list = list.into_inner();
                    if let Some(bad) = list
                        .iter()
                        .find(|s| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\'))
                    {
                        return Err(src.err(at, format!("[registration] allowed_scopes: {bad:?} is not a scope")));
                    }
                    list
                }
            };
            Some(RegistrationSettings {
                initial_access_token,
                allowed_scopes,
            })
        }
    };

    let throttle = throttle(&src, &raw.throttle)?;

    let workers = match env.get("GATEHOUSE_WORKERS") {
        Some(w) => w
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| src.err(At::Env("GATEHOUSE_WORKERS"), "must be a positive number"))?,
        None => raw
            .workers
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    };

    Ok(Config {
        source: None,
        issuer,
        listen,
        workers,
        server,
        tls,
        store,
        tokens,
        keys_dir,
        keys_rotate_every,
        gateway,
        log,
        telemetry,
        clients,
        users,
        trusted_issuers,
        saml_idps,
        apis,
        upstreams,
        admin,
        registration,
        outbound,
        throttle,
    })
}

/// `[tls] hsts`: RFC 6797 §6.1 directives, `max-age` exactly once, in the
/// spelling browsers expect; the value goes into a header as written.
fn hsts(v: &str) -> Result<String, String> {
    let mut max_age = 0;
    for d in v.split(';').map(str::trim) {
        match d.split_once('=') {
            Some((k, n)) if k.trim().eq_ignore_ascii_case("max-age") => {
                let n = n.trim();
                if n.is_empty() || n.len() > 10 || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("max-age {n:?} is not a number of seconds"));
                }
                max_age += 1;
            }
            None if d.eq_ignore_ascii_case("includeSubDomains") || d.eq_ignore_ascii_case("preload") => {}
            _ => {
                return Err(format!(
                    "{d:?} is not max-age=SECONDS, includeSubDomains or preload (e.g. \"max-age=31536000; includeSubDomains\")"
                ))
            }
        }
    }
    if max_age != 1 {
        return Err("needs max-age=SECONDS exactly once".into());
    }
    Ok(v.trim().to_string())
}

/// `[throttle]`: every limit at least 1 (0 would refuse everyone), the
/// window at least a second (Retry-After counts whole seconds).
fn throttle(src: &Source, raw: &RawThrottle) -> Result<ThrottleSettings, ConfigError> {
    let d = ThrottleSettings::default();
    let window = match raw.window {
        Some(w) if w.0 < Duration::from_secs(1) => {
            return Err(src.err(At::File, "throttle.window must be at least 1s"));
        }
        w => w.map_or(d.window, |w| w.0),
    };
    let limits = |r: &RawThrottleLimits, table: &str, d: ThrottleLimits| -> Result<ThrottleLimits, ConfigError> {
        let one = |v: &Option<toml::Spanned<u32>>, name: &str, default: u32| match v {
            None => Ok(default),
            Some(n) if *n.get_ref() >= 1 => Ok(*n.get_ref()),
            Some(n) => Err(src.err(span(n), format!("throttle.{table}.{name}: must be at least 1"))),
        };
        Ok(ThrottleLimits {
            per_account_address: one(&r.per_account_address, "per_account_address", d.per_account_address)?,
            per_account: one(&r.per_account, "per_account", d.per_account)?,
            per_address: one(&r.per_address, "per_address", d.per_address)?,
        })
    };
    Ok(ThrottleSettings {
        window,
        passwords: limits(&raw.passwords, "passwords", d.passwords)?,
        client_secrets: limits(&raw.client_secrets, "client_secrets", d.client_secrets)?,
    })
}

/// `[outbound]`: networks (CIDR or single addresses) and host names
/// (exact, or `*.suffix`) that client-caused fetches may reach.
fn outbound(src: &Source, raw: RawOutbound) -> Result<crate::outbound::Policy, ConfigError> {
    let mut policy = crate::outbound::Policy::default();
    if let Some(list) = raw.allow_networks {
        let at = span(&list);
        for n in list.into_inner() {
            let net = n
                .parse::<ipnet::IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    src.err(
                        at.clone(),
                        format!("[outbound] allow_networks: {n:?} is not an address or a network like \"10.0.0.0/8\""),
                    )
                })?;
            policy.allow_networks.push(net);
        }
    }
    if let Some(list) = raw.allow_hosts {
        let at = span(&list);
        for h in list.into_inner() {
            let name = h.strip_prefix("*.").unwrap_or(&h);
            let ok = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|l| {
                    !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !ok {
                return Err(src.err(
                    at,
                    format!("[outbound] allow_hosts: {h:?} is not a host name or a pattern like \"*.corp.example\""),
                ));
            }
            policy.allow_hosts.push(h.to_ascii_lowercase());
        }
    }
    Ok(policy)
}

/// `[telemetry]`: an http OTLP endpoint (the collector's base URL, to
/// which `/v1/traces` is added as OTLP/HTTP does, or the full traces URL)
/// and a ratio in [0, 1].
fn telemetry(src: &Source, t: RawTelemetry) -> Result<TelemetrySettings, ConfigError> {
    let endpoint = t.otlp_endpoint.get_ref().trim_end_matches('/');
    let ok = url::Url::parse(endpoint)
        .ok()
        .filter(|u| u.scheme() == "http" && u.host().is_some() && u.query().is_none());
    if ok.is_none() {
        return Err(src.err(
            span(&t.otlp_endpoint),
            format!("telemetry.otlp_endpoint: {endpoint:?} is not an http:// URL (e.g. \"http://127.0.0.1:4318\"; OTLP over TLS is not built in: export to a local collector)"),
        ));
    }
    let traces_url = if endpoint.ends_with("/v1/traces") {
        endpoint.to_string()
    } else {
        format!("{endpoint}/v1/traces")
    };
    let sample_ratio = match &t.sample_ratio {
        None => 1.0,
        Some(r) if (0.0..=1.0).contains(r.get_ref()) => *r.get_ref(),
        Some(r) => {
            return Err(src.err(
                span(r),
                format!("telemetry.sample_ratio: {} is not between 0 and 1", r.get_ref()),
            ))
        }
    };
    Ok(TelemetrySettings {
        traces_url,
        service_name: t.service_name.unwrap_or_else(|| "gatehouse".into()),
        sample_ratio,
        export_timeout: t.export_timeout.map_or(Duration::from_secs(10), |d| d.0),
    })
}

fn client(
    src: &Source,
    c: RawClient,
    signing_alg: SigningAlg,
    outbound: &crate::outbound::Policy,
) -> Result<ClientSpec, ConfigError> {
    let at = span(&c.id);
    // What the server signs for the client: RS256 (always there) or `[tokens] signing_alg`.
    let signed_alg = |field: &str, a: &Option<toml::Spanned<String>>| match a {
        None => Ok(None),
        Some(a) => match SigningAlg::from_str(a.get_ref()) {
            Ok(alg) if alg == SigningAlg::Rs256 || alg == signing_alg => Ok(Some(alg)),
            _ => Err(src.err(
                span(a),
                format!(
                    "{field} {:?}: the server signs with RS256 or {} ([tokens] signing_alg)",
                    a.get_ref(),
                    signing_alg.as_str()
                ),
            )),
        },
    };
    let id_token_signed_response_alg = signed_alg("id_token_signed_response_alg", &c.id_token_signed_response_alg)?;
    let introspection_signed_response_alg = signed_alg(
        "introspection_signed_response_alg",
        &c.introspection_signed_response_alg,
    )?;
    let method = c.token_endpoint_auth_method.as_ref().map(|m| m.get_ref().as_str());
    let key_jwt = method == Some("private_key_jwt");
    if let Some(m) = &c.token_endpoint_auth_method {
        let ok = match m.get_ref().as_str() {
            "client_secret_basic" | "client_secret_post" => !c.public,
            "private_key_jwt" => !c.public && c.secret.is_none() && c.secret_hash.is_none(),
            // The MAC needs the secret itself: a hash cannot check it.
            "client_secret_jwt" => !c.public && c.secret.is_some() && c.secret_hash.is_none(),
            "none" => c.public,
            _ => false,
        };
        if !ok {
            return Err(src.err(
                span(m),
                format!(
                    "token_endpoint_auth_method {:?}: one of client_secret_basic, client_secret_post (with a secret), client_secret_jwt (with secret, not secret_hash), private_key_jwt (with jwks or jwks_uri, no secret) or none (public = true)",
                    m.get_ref()
                ),
            ));
        }
    }
    let jwks = match &c.jwks {
        None => None,
        Some(v) => {
            let json = serde_json::to_value(v).map_err(|e| src.err(at.clone(), format!("jwks: {e}")))?;
            crate::keys::PublicKeySet::from_value(&json).map_err(|e| src.err(at.clone(), format!("jwks: {e}")))?;
            Some(json)
        }
    };
    if let Some(u) = &c.backchannel_logout_uri {
        // POSTed to when a session ends: absolute http(s) without a
        // fragment, and the outbound guard's rules.
        let parsed =
            url::Url::parse(u).map_err(|e| src.err(at.clone(), format!("backchannel_logout_uri {u:?}: {e}")))?;
        if parsed.fragment().is_some() {
            return Err(src.err(at, format!("backchannel_logout_uri {u:?} must not contain a fragment")));
        }
        outbound
            .check_url(u)
            .map_err(|e| src.err(at.clone(), format!("backchannel_logout_uri {e}")))?;
    }
    if let Some(u) = &c.jwks_uri {
        // Fetched when the client authenticates: the outbound guard's rules.
        outbound
            .check_url(u)
            .map_err(|e| src.err(at.clone(), format!("jwks_uri {e}")))?;
    }
    // Any client may register keys (its request objects, RFC 9101, are
    // signed with them); private_key_jwt needs them.
    if (jwks.is_some() && c.jwks_uri.is_some()) || (key_jwt && jwks.is_none() && c.jwks_uri.is_none()) {
        return Err(src.err(
            at.clone(),
            "give at most one of jwks or jwks_uri; private_key_jwt needs one of them",
        ));
    }
    let secret = match (c.public, c.secret, c.secret_hash) {
        (false, None, None) if key_jwt => None,
        (true, None, None) => None,
        (true, _, _) => return Err(src.err(at, "a public client has no secret")),
        (false, Some(s), None) if !s.is_empty() => Some(SecretSpec::Plain(s)),
        (false, None, Some(h)) if h.starts_with("$argon2") => Some(SecretSpec::Hash(h)),
        (false, None, Some(_)) => return Err(src.err(at, "secret_hash must be an argon2 PHC string ($argon2id$…)")),
        (false, _, _) => {
            return Err(src.err(
                at,
                "a confidential client needs exactly one of secret or secret_hash (or public = true)",
            ))
        }
    };
    let mut grant_types = Vec::new();
    for g in &c.grant_types {
        if g.get_ref() == SAML2_BEARER && !KNOWN_GRANTS.contains(&SAML2_BEARER) {
            return Err(src.err(span(g), format!("grant type {SAML2_BEARER}: {NO_SAML}")));
        }
        if !KNOWN_GRANTS.contains(&g.get_ref().as_str()) {
            return Err(src.err(
                span(g),
                format!(
                    "unknown grant type {:?}; known: {}",
                    g.get_ref(),
                    KNOWN_GRANTS.join(", ")
                ),
            ));
        }
        grant_types.push(g.get_ref().clone());
    }
    if grant_types.is_empty() {
        grant_types = vec!["authorization_code".into(), "refresh_token".into()];
    }
    for r in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris) {
        let u = url::Url::parse(r).map_err(|e| src.err(at.clone(), format!("redirect_uri {r:?}: {e}")))?;
        if u.fragment().is_some() {
            return Err(src.err(at, format!("redirect_uri {r:?} must not contain a fragment")));
        }
    }
    if c.public && grant_types.iter().any(|g| g == TOKEN_EXCHANGE_GRANT) {
        return Err(src.err(
            at,
            "token exchange needs a confidential client (it trades one service's token for another's)",
        ));
    }
    let token_exchange = match c.token_exchange {
        None => None,
        Some(t) => {
            if !grant_types.iter().any(|g| g == TOKEN_EXCHANGE_GRANT) {
                return Err(src.err(
                    at,
                    format!("token_exchange is set but grant_types does not list {TOKEN_EXCHANGE_GRANT:?}"),
                ));
            }
            let policy = crate::store::TokenExchangePolicy {
                audiences: t.audiences,
                scopes: t.scopes,
                may_impersonate: t.may_impersonate,
            };
            policy
                .check()
                .map_err(|e| src.err(at.clone(), format!("token_exchange: {e}")))?;
            Some(policy)
        }
    };
    Ok(ClientSpec {
        id: c.id.into_inner(),
        name: c.name,
        secret,
        redirect_uris: c.redirect_uris,
        grant_types,
        scopes: c.scopes,
        audience: c.audience.unwrap_or_default(),
        access_ttl: c.access_ttl.map(|d| d.0),
        refresh_ttl: c.refresh_ttl.map(|d| d.0),
        id_token_signed_response_alg,
        introspection_signed_response_alg,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        backchannel_logout_uri: c.backchannel_logout_uri,
        backchannel_logout_session_required: c.backchannel_logout_session_required,
        token_endpoint_auth_method: method.map(str::to_owned),
        jwks,
        jwks_uri: c.jwks_uri,
        token_exchange,
        dpop_bound_access_tokens: c.dpop_bound_access_tokens,
        require_pushed_authorization_requests: c.require_pushed_authorization_requests,
    })
}

fn user(src: &Source, u: RawUser) -> Result<UserSpec, ConfigError> {
    let at = span(&u.username);
    let password = match (u.password, u.password_hash) {
        (Some(p), None) if !p.is_empty() => SecretSpec::Plain(p),
        (None, Some(h)) if h.starts_with("$argon2") => SecretSpec::Hash(h),
        _ => {
            return Err(src.err(
                at,
                "a user needs exactly one of password or password_hash ($argon2id$…)",
            ))
        }
    };
    Ok(UserSpec {
        username: u.username.into_inner(),
        password,
        name: u.name,
        email: u.email,
    })
}

fn toml_to_json(v: toml::Value) -> Result<serde_json::Value, String> {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

/// Exactly one way of naming keys: inline JWK(S), a file, or a URL.
fn key_source(
    src: &Source,
    resolve: &dyn Fn(&str) -> PathBuf,
    at: At,
    jwk: Option<toml::Value>,
    jwks: Option<toml::Value>,
    jwks_file: Option<String>,
    jwks_uri: Option<String>,
) -> Result<KeySource, ConfigError> {
    let given = [jwk.is_some(), jwks.is_some(), jwks_file.is_some(), jwks_uri.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given != 1 {
        return Err(src.err(
            at,
            "name the verification key exactly once: jwk, jwks, jwks_file or jwks_uri",
        ));
    }
    let from_file = |p: &str| -> Result<KeySource, ConfigError> {
        let path = resolve(p);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| src.err(at.clone(), format!("key file {}: {e}", path.display())))?;
        let set = PublicKeySet::from_json(&text)
            .map_err(|e| src.err(at.clone(), format!("key file {}: {e}", path.display())))?;
        Ok(KeySource::Static(Arc::new(set)))
    };
    let inline = |v: toml::Value| -> Result<KeySource, ConfigError> {
        let json = toml_to_json(v).map_err(|e| src.err(at.clone(), e))?;
        let set = PublicKeySet::from_value(&json).map_err(|e| src.err(at.clone(), e))?;
        Ok(KeySource::Static(Arc::new(set)))
    };
    match (jwk, jwks, jwks_file, jwks_uri) {
        (Some(toml::Value::String(p)), ..) => from_file(&p),
        (Some(v @ toml::Value::Table(_)), ..) => inline(v),
        (Some(_), ..) => Err(src.err(at, "jwk must be a file path or an inline JWK table")),
        (_, Some(v), ..) => inline(v),
        (_, _, Some(f), _) => from_file(&f),
        (_, _, _, Some(u)) => {
            let parsed = url::Url::parse(&u).map_err(|e| src.err(at.clone(), format!("jwks_uri {u:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(src.err(at, format!("jwks_uri {u:?} must be http(s)")));
            }
            Ok(KeySource::Remote { uri: u })
        }
        _ => Err(src.err(at, "no verification key given")),
    }
}

fn api(
    src: &Source,
    resolve: &dyn Fn(&str) -> PathBuf,
    trusted: &[TrustedIssuer],
    gateway: &GatewaySettings,
    pools: &[PoolSpec],
    a: RawApi,
) -> Result<ApiSpec, ConfigError> {
    let path_at = span(&a.path);
    let raw_path = a.path.get_ref();
    if !raw_path.starts_with('/') || raw_path.contains(['?', '#']) {
        return Err(src.err(
            path_at,
            format!("api path {raw_path:?} must start with '/' and have no query"),
        ));
    }
    let path = match raw_path.trim_end_matches('/') {
        "" => "/".to_string(),
        p => p.to_string(),
    };
    let name: Arc<str> = a.name.unwrap_or_else(|| path.clone()).into();

    let methods = match &a.methods {
        None => None,
        Some(m) => {
            let mut out = Vec::new();
            for s in m.get_ref() {
                let up = s.to_ascii_uppercase();
                let method = Method::from_bytes(up.as_bytes())
                    .map_err(|_| src.err(span(m), format!("bad HTTP method {s:?}")))?;
                out.push(method);
            }
            if out.is_empty() {
                return Err(src.err(
                    span(m),
                    "methods must not be empty (leave it out to allow every method)",
                ));
            }
            Some(out)
        }
    };

    let dpop_nonce = a.auth.as_ref().and_then(|r| r.dpop_nonce.clone());
    let hosts = super::policies::hosts(src, a.hosts)?;
    let cors = super::policies::cors(src, a.cors)?;
    let rate_limit = super::policies::rate_limit(src, a.rate_limit, gateway.rate_limit_store != RateLimitStore::Local)?;
    let mut rules = AuthRules::default();
    let auth = match a.auth {
        None => AuthSpec::None,
        Some(mut r) => {
            let at = span(&r.kind);
            rules = auth_rules(src, &at, &mut r)?;
            let introspection_only = [
                ("url", r.url.is_some()),
                ("client_id", r.client_id.is_some()),
                ("client_secret", r.client_secret.is_some()),
                ("private_key", r.private_key.is_some()),
                ("cache", r.cache.is_some()),
                ("timeout", r.timeout.is_some()),
            ];
            if r.kind.get_ref() != "introspection" {
                if let Some((k, _)) = introspection_only.iter().find(|(_, set)| *set) {
                    return Err(src.err(at, format!("{k:?} is a key of auth kind \"introspection\" only")));
                }
            }
            match r.kind.get_ref().as_str() {
                "none" => AuthSpec::None,
                "oauth2" => {
                    // jwt-only keys on an oauth2 route are a mistake, not a no-op.
                    let jwt_only = [
                        ("jwk", r.jwk.is_some()),
                        ("jwks", r.jwks.is_some()),
                        ("jwks_file", r.jwks_file.is_some()),
                        ("jwks_uri", r.jwks_uri.is_some()),
                        ("trusted_issuer", r.trusted_issuer.is_some()),
                        ("issuer", r.issuer.is_some()),
                        ("location", r.location.is_some()),
                        ("name", r.name.is_some()),
                        ("leeway", r.leeway.is_some()),
                        ("jwks_min_refresh", r.jwks_min_refresh.is_some()),
                        ("forward_claims", !r.forward_claims.is_empty()),
                    ];
                    if let Some((k, _)) = jwt_only.iter().find(|(_, set)| *set) {
                        return Err(src.err(
                            at,
                            format!("auth kind \"oauth2\" does not take {k:?} (a key of kind \"jwt\")"),
                        ));
                    }
                    // The route's audience (RFC 8707 resource, RFC 8693
                    // exchange target): a token minted for another API
                    // is refused here.
                    rules.audience = r.audience.take().map(StringOrList::into_vec).unwrap_or_default();
                    AuthSpec::OAuth2 { scopes: r.scopes }
                }
                "jwt" => AuthSpec::Jwt(jwt_spec(src, resolve, trusted, at, r)?),
                "introspection" => {
                    rules.audience = r.audience.take().map(StringOrList::into_vec).unwrap_or_default();
                    AuthSpec::Introspection(introspection_spec(src, resolve, gateway, at, r)?)
                }
                k => {
                    return Err(src.err(
                        at,
                        format!("auth kind {k:?} is not \"none\", \"jwt\", \"oauth2\" or \"introspection\""),
                    ))
                }
            }
        }
    };

    let dpop_nonce = match dpop_nonce {
        Some(n) if matches!(auth, AuthSpec::None) => {
            return Err(src.err(span(&n), "dpop_nonce needs auth kind \"oauth2\" or \"jwt\""))
        }
        n => n.is_some_and(|n| n.into_inner()),
    };

    let b = a.backend;
    let backend_at = b
        .upstream
        .as_ref()
        .or(b.pool.as_ref())
        .map_or_else(|| span(&a.path), span);
    let pool_only = [
        ("connect_timeout", b.connect_timeout.is_some()),
        ("timeout", b.timeout.is_some()),
        ("idle_timeout", b.idle_timeout.is_some()),
        ("protocol", b.protocol.is_some()),
    ];
    let backend = match (b.upstream.map(toml::Spanned::into_inner), b.pool, b.mock) {
        (Some(u), None, None) => {
            let base = super::upstreams::upstream_url(src, backend_at.clone(), &u)?;
            let protocol = super::upstreams::protocol(src, b.protocol.as_ref())?;
            if protocol == Protocol::H2c && base.scheme_str() != Some("http") {
                return Err(src.err(
                    backend_at,
                    "protocol \"h2c\" needs an http:// upstream (\"auto\" negotiates h2 over https)",
                ));
            }
            BackendSpec::Upstream(UpstreamSpec {
                base,
                // [gateway] holds the defaults every upstream inherits.
                connect_timeout: b.connect_timeout.map_or(gateway.connect_timeout, |d| d.0),
                timeout: b.timeout.map_or(gateway.timeout, |d| d.0),
                idle_timeout: b.idle_timeout.map_or(Duration::from_secs(60), |d| d.0),
                protocol,
                strip_prefix: b.strip_prefix,
            })
        }
        (None, Some(p), None) => {
            if let Some((k, _)) = pool_only.iter().find(|(_, set)| *set) {
                return Err(src.err(
                    backend_at,
                    format!("backend = {{ pool = … }} takes {k:?} from the [[upstreams]] entry, not the route"),
                ));
            }
            let name = p.into_inner();
            match pools.iter().find(|x| *x.name == *name) {
                Some(x) => BackendSpec::Pool {
                    name: x.name.clone(),
                    strip_prefix: b.strip_prefix,
                },
                None => {
                    let known: Vec<&str> = pools.iter().map(|x| &*x.name).collect();
                    return Err(src.err(
                        backend_at,
                        format!("no [[upstreams]] entry is named {name:?} (known: {known:?})"),
                    ));
                }
            }
        }
        (None, None, Some(m)) => {
            let status = StatusCode::from_u16(m.status.unwrap_or(200))
                .map_err(|_| src.err(backend_at.clone(), "mock status must be 100..=999"))?;
            let mut headers = HeaderMap::new();
            for (k, v) in m.headers {
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| src.err(backend_at.clone(), format!("bad header name {k:?}")))?;
                let value = v
                    .parse()
                    .map_err(|_| src.err(backend_at.clone(), format!("bad value for header {k:?}")))?;
                headers.insert(name, value);
            }
            if !headers.contains_key(http::header::CONTENT_TYPE) {
                headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain; charset=utf-8"),
                );
            }
            let body = Bytes::from(m.body.unwrap_or_else(|| "hello world".into()));
            BackendSpec::Mock(MockSpec { status, headers, body })
        }
        _ => {
            return Err(src.err(
                backend_at,
                "backend needs exactly one of upstream = \"http://…\", pool = \"NAME\" or mock = { … }",
            ))
        }
    };

    if matches!(auth, AuthSpec::None) && rate_limit.as_ref().is_some_and(|r| r.by.needs_principal()) {
        return Err(src.err(
            path_at,
            "rate_limit by \"client\" or \"subject\" needs an auth kind that accepts tokens (or use by = \"ip\" / \"header:NAME\")",
        ));
    }
    let forwarded = auth.forwarded_headers();
    let request_headers =
        super::policies::header_transform(src, path_at.clone(), "request_headers", a.request_headers, &forwarded)?;
    let response_headers =
        super::policies::header_transform(src, path_at.clone(), "response_headers", a.response_headers, &forwarded)?;

    Ok(ApiSpec {
        name,
        path,
        methods,
        auth,
        dpop_nonce,
        rules,
        backend,
        max_body_bytes: a.max_body_bytes.unwrap_or(gateway.max_body_bytes),
        hosts,
        cors,
        rate_limit,
        request_headers,
        response_headers,
    })
}

/// `clients`, `claims`, `acr_values`, `max_age`: what an accepted token
/// must also satisfy, on `jwt` and `oauth2` routes.
fn auth_rules(src: &Source, at: &At, r: &mut RawAuth) -> Result<AuthRules, ConfigError> {
    let kind = r.kind.get_ref().as_str();
    let set = r.clients.is_some() || !r.claims.is_empty() || r.acr_values.is_some() || r.max_age.is_some();
    if set && kind == "none" {
        return Err(src.err(
            at.clone(),
            "auth kind \"none\" accepts no token, so clients/claims/acr_values/max_age cannot apply",
        ));
    }
    let list = |v: Option<toml::Spanned<Vec<String>>>, what: &str| -> Result<Vec<String>, ConfigError> {
        match v {
            None => Ok(Vec::new()),
            Some(l) if l.get_ref().is_empty() => Err(src.err(span(&l), format!("{what} must not be empty"))),
            Some(l) => Ok(l.into_inner()),
        }
    };
    let claims = std::mem::take(&mut r.claims)
        .into_iter()
        .map(|(k, v)| {
            let v = v.into_vec();
            if v.is_empty() {
                Err(src.err(at.clone(), format!("claims {k:?}: give a value or a list of values")))
            } else {
                Ok((k, v))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let acr_at = r.acr_values.as_ref().map(span);
    let acr_values = list(r.acr_values.take(), "acr_values")?;
    // They go into a WWW-Authenticate challenge as one quoted string.
    if let Some(bad) = acr_values
        .iter()
        .find(|a| a.is_empty() || !a.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'))
    {
        return Err(src.err(
            acr_at.unwrap_or(At::File),
            format!("acr_values: {bad:?} must be visible ASCII without quotes or backslashes"),
        ));
    }
    Ok(AuthRules {
        // Set by the oauth2 arm (jwt routes check audience in their verifier).
        audience: Vec::new(),
        acr_values,
        clients: list(r.clients.take(), "clients")?,
        claims,
        max_age: r.max_age.take().map(|d| d.0),
    })
}

/// `auth = { kind = "introspection", url, client_id, client_secret |
/// private_key, cache, timeout, scopes, forward_claims }`.
fn introspection_spec(
    src: &Source,
    resolve: &dyn Fn(&str) -> PathBuf,
    gateway: &GatewaySettings,
    at: At,
    r: RawAuth,
) -> Result<IntrospectionSpec, ConfigError> {
    let not_here = [
        ("jwk", r.jwk.is_some()),
        ("jwks", r.jwks.is_some()),
        ("jwks_file", r.jwks_file.is_some()),
        ("jwks_uri", r.jwks_uri.is_some()),
        ("trusted_issuer", r.trusted_issuer.is_some()),
        ("location", r.location.is_some()),
        ("name", r.name.is_some()),
        ("leeway", r.leeway.is_some()),
        ("jwks_min_refresh", r.jwks_min_refresh.is_some()),
        ("dpop_nonce", r.dpop_nonce.is_some()),
    ];
    if let Some((k, _)) = not_here.iter().find(|(_, set)| *set) {
        return Err(src.err(at, format!("auth kind \"introspection\" does not take {k:?}")));
    }
    let Some(url) = &r.url else {
        return Err(src.err(at, "auth kind \"introspection\" needs url (the RFC 7662 endpoint)"));
    };
    let parsed = url::Url::parse(url.get_ref())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.fragment().is_none());
    if parsed.is_none() {
        return Err(src.err(
            span(url),
            format!("introspection url {:?} is not an http(s) URL", url.get_ref()),
        ));
    }
    let Some(client_id) = r.client_id.clone().filter(|c| !c.is_empty()) else {
        return Err(src.err(at, "auth kind \"introspection\" needs client_id"));
    };
    let credential = match (&r.client_secret, &r.private_key) {
        (Some(secret), None) => IntrospectionCredential::Secret(secret.clone()),
        (None, Some(path)) => {
            let file = resolve(path.get_ref());
            let pem = std::fs::read(&file)
                .map_err(|e| src.err(span(path), format!("private_key {}: {e}", file.display())))?;
            let alg = if jsonwebtoken::EncodingKey::from_rsa_pem(&pem).is_ok() {
                jsonwebtoken::Algorithm::RS256
            } else if jsonwebtoken::EncodingKey::from_ec_pem(&pem).is_ok() {
                jsonwebtoken::Algorithm::ES256
            } else {
                return Err(src.err(
                    span(path),
                    format!("private_key {}: not an RSA or P-256 private key in PEM", file.display()),
                ));
            };
            IntrospectionCredential::PrivateKey { pem, alg }
        }
        _ => {
            return Err(src.err(
                at,
                "auth kind \"introspection\" needs exactly one of client_secret and private_key",
            ))
        }
    };
    let cache = match &r.cache {
        None => Duration::from_secs(30),
        Some(c) if c.get_ref().0 <= Duration::from_secs(3600) => c.get_ref().0,
        Some(c) => return Err(src.err(span(c), "introspection cache must be at most 1h")),
    };
    let mut forward_claims = Vec::new();
    for (claim, header) in &r.forward_claims {
        let h = HeaderName::from_bytes(header.to_ascii_lowercase().as_bytes())
            .map_err(|_| src.err(at.clone(), format!("forward_claims: bad header name {header:?}")))?;
        forward_claims.push((claim.clone(), h));
    }
    Ok(IntrospectionSpec {
        // The other server's issuer: what a private_key_jwt assertion is
        // addressed to (RFC 7523 §3; the URL when not given).
        assertion_audience: r.issuer.clone().unwrap_or_else(|| url.get_ref().clone()),
        url: url.get_ref().clone(),
        client_id,
        credential,
        cache,
        timeout: r.timeout.map_or(gateway.timeout.min(Duration::from_secs(10)), |d| d.0),
        forward_claims,
        scopes: r.scopes,
    })
}

fn jwt_spec(
    src: &Source,
    resolve: &dyn Fn(&str) -> PathBuf,
    trusted: &[TrustedIssuer],
    at: At,
    r: RawAuth,
) -> Result<JwtSpec, ConfigError> {
    let (keys, issuer, default_aud) = match &r.trusted_issuer {
        Some(name) => {
            if r.jwk.is_some() || r.jwks.is_some() || r.jwks_file.is_some() || r.jwks_uri.is_some() {
                return Err(src.err(
                    at,
                    "trusted_issuer already names the keys; drop jwk/jwks/jwks_file/jwks_uri",
                ));
            }
            let t = trusted.iter().find(|t| &t.issuer == name).ok_or_else(|| {
                src.err(
                    at.clone(),
                    format!("trusted_issuer {name:?} is not declared in [[trusted_issuers]]"),
                )
            })?;
            (t.keys.clone(), Some(t.issuer.clone()), t.audience.clone())
        }
        None => (
            key_source(src, resolve, at.clone(), r.jwk, r.jwks, r.jwks_file, r.jwks_uri)?,
            r.issuer.clone(),
            Vec::new(),
        ),
    };
    let location = match r.location.as_deref().unwrap_or("header") {
        "header" => {
            let n = r.name.as_deref().unwrap_or("authorization");
            TokenLocation::Header(
                HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes())
                    .map_err(|_| src.err(at.clone(), format!("bad header name {n:?}")))?,
            )
        }
        "query" => TokenLocation::Query(r.name.clone().unwrap_or_else(|| "access_token".into())),
        "cookie" => TokenLocation::Cookie(r.name.clone().unwrap_or_else(|| "access_token".into())),
        l => return Err(src.err(at, format!("token location {l:?} is not header, query or cookie"))),
    };
    let mut forward_claims = Vec::new();
    for (claim, header) in r.forward_claims {
        let h = HeaderName::from_bytes(header.to_ascii_lowercase().as_bytes())
            .map_err(|_| src.err(at.clone(), format!("forward_claims: bad header name {header:?}")))?;
        forward_claims.push((claim, h));
    }
    Ok(JwtSpec {
        keys,
        issuer: r.issuer.or(issuer),
        audience: r.audience.map(StringOrList::into_vec).unwrap_or(default_aud),
        location,
        leeway: r.leeway.map_or(Duration::from_secs(30), |d| d.0),
        jwks_min_refresh: r.jwks_min_refresh.map_or(Duration::from_secs(10), |d| d.0),
        forward_claims,
        scopes: r.scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(t: &str) -> Result<Config, ConfigError> {
        parse(t, "test.toml", Path::new("/nonexistent"), &[])
    }

    #[test]
    fn empty_config_has_sane_defaults() {
        let c = parse_str("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.tokens.code_ttl, Duration::from_secs(60));
        assert_eq!(c.tokens.signing_alg, SigningAlg::Rs256);
        assert_eq!(c.tokens.access_format, AccessFormat::Jwt);
        assert!(c.apis.is_empty());
    }

    #[test]
    fn unknown_field_names_line() {
        let e = parse_str("listen = \"127.0.0.1:1\"\nlisten_port = 3\n").unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("test.toml", 2));
        assert!(e.reason.contains("unknown field"), "{e}");
    }

    #[test]
    fn bad_duration_names_line() {
        let e = parse_str("[tokens]\n\naccess_ttl = \"forever\"\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("invalid duration"), "{e}");
    }

    #[test]
    fn duplicate_path_names_second_declaration() {
        let t = "[[apis]]\npath = \"/a\"\nbackend = { mock = {} }\n[[apis]]\npath = \"/a/\"\nbackend = { mock = {} }\n";
        let e = parse_str(t).unwrap_err();
        assert_eq!(e.line, 5);
        assert!(e.reason.contains("duplicate api path"), "{e}");
    }

    #[test]
    fn env_overrides_file_values() {
        let env = vec![
            ("GATEHOUSE_LISTEN".to_string(), "127.0.0.1:9999".to_string()),
            ("GATEHOUSE_STORE_URL".into(), "memory://".into()),
        ];
        let c = parse("listen = \"127.0.0.1:1\"", "t", Path::new("."), &env).unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.store.url, "memory://");
        let bad = vec![("GATEHOUSE_TOKENS_ACCESS_TTL".to_string(), "soon".to_string())];
        let e = parse("", "t", Path::new("."), &bad).unwrap_err();
        assert!(e.file.contains("GATEHOUSE_TOKENS_ACCESS_TTL"), "{e}");
    }

    #[test]
    fn backchannel_logout_uris_are_checked_like_fetched_ones() {
        let client = |extra: &str| {
            format!("[[clients]]\nid = \"rp\"\nsecret = \"s\"\nredirect_uris = [\"https://rp.example/cb\"]\n{extra}\n")
        };
        let c = parse_str(&client(
            "backchannel_logout_uri = \"https://rp.example/bcl?x=1\"\nbackchannel_logout_session_required = true\nintrospection_signed_response_alg = \"RS256\"",
        ))
        .unwrap();
        assert_eq!(
            c.clients[0].backchannel_logout_uri.as_deref(),
            Some("https://rp.example/bcl?x=1")
        );
        assert!(c.clients[0].backchannel_logout_session_required);
        assert_eq!(c.clients[0].introspection_signed_response_alg, Some(SigningAlg::Rs256));
        for (bad, why) in [
            ("https://rp.example/bcl#f", "fragment"),
            ("http://127.0.0.1:9000/bcl", "allow_networks"),
            ("http://localhost/bcl", "allow_hosts"),
            ("ftp://rp.example/bcl", "http(s)"),
            ("/bcl", "backchannel_logout_uri"),
        ] {
            let e = parse_str(&client(&format!("backchannel_logout_uri = \"{bad}\""))).unwrap_err();
            assert!(
                e.reason.contains("backchannel_logout_uri") && e.reason.contains(why),
                "{bad}: {e}"
            );
        }
        // Loopback once [outbound] allows it.
        let t = format!(
            "[outbound]\nallow_networks = [\"127.0.0.0/8\"]\n{}",
            client("backchannel_logout_uri = \"http://127.0.0.1:9000/bcl\"")
        );
        assert!(parse_str(&t).is_ok());
        let e = parse_str(&client("introspection_signed_response_alg = \"PS256\"")).unwrap_err();
        assert!(e.reason.contains("introspection_signed_response_alg"), "{e}");
    }

    #[test]
    fn mock_defaults_to_hello_world() {
        let c = parse_str("[[apis]]\npath = \"/hello\"\nbackend = { mock = {} }\n").unwrap();
        match &c.apis[0].backend {
            BackendSpec::Mock(m) => {
                assert_eq!(m.status, StatusCode::OK);
                assert_eq!(&m.body[..], b"hello world");
            }
            other => panic!("expected mock, got {other:?}"),
        }
    }

    #[test]
    fn upstreams_inherit_gateway_timeouts() {
        let t = "[gateway]\ntimeout = \"7s\"\nconnect_timeout = \"2s\"\n[[apis]]\npath = \"/a\"\nbackend = { upstream = \"http://127.0.0.1:1\" }\n[[apis]]\npath = \"/b\"\nbackend = { upstream = \"http://127.0.0.1:1\", timeout = \"3s\" }\n";
        let c = parse_str(t).unwrap();
        let t = |i: usize| match &c.apis[i].backend {
            BackendSpec::Upstream(u) => (u.timeout, u.connect_timeout),
            other => panic!("{other:?}"),
        };
        assert_eq!(t(0), (Duration::from_secs(7), Duration::from_secs(2)));
        assert_eq!(t(1), (Duration::from_secs(3), Duration::from_secs(2)));
    }

    #[test]
    fn jwt_keys_on_an_oauth2_route_are_an_error() {
        let t =
            "[[apis]]\npath = \"/a\"\nauth = { kind = \"oauth2\", issuer = \"https://x\" }\nbackend = { mock = {} }\n";
        let e = parse_str(t).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("\"issuer\""), "{e}");
    }

    #[test]
    fn embedded_demo_parses() {
        Config::demo().unwrap();
    }
}
