//! Client metadata (RFC 7591 names) and the one set of rules a client
//! registration must pass, whoever registers it: the admin API and console,
//! dynamic registration (`/api/oauth/register`) and `gatehouse client add`.

use crate::config::{KNOWN_GRANTS, NO_SAML, SAML2_BEARER};
use crate::keys::SigningAlg;
use crate::store::{Client, ClientMeta};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a client registers. Unknown members are ignored (RFC 7591 §2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ClientMetadata {
    /// Display name (default: the client id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Absolute URLs without fragments; required for the code and implicit grants.
    pub redirect_uris: Vec<String>,
    /// `client_secret_basic` (default), `client_secret_post`, `private_key_jwt`, or `none` (a public client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// Default `["authorization_code"]`.
    pub grant_types: Vec<String>,
    /// `code`, `token`, `id_token` and their combinations; must agree with `grant_types`.
    pub response_types: Vec<String>,
    /// Space-separated scopes the client may ask for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Public keys for `private_key_jwt` (a JWK Set), or `jwks_uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// OIDC Back-Channel Logout: where the server POSTs a logout token
    /// when a session the client was issued tokens in ends (absolute
    /// http(s), no fragment, reachable under the outbound policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in logout tokens (gatehouse always sends it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_required: bool,
    /// `RS256` (default) or the server's signing algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    /// RFC 9701 §6: algorithm of JWT introspection responses to this
    /// client: `RS256` (default) or the server's signing algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_signed_response_alg: Option<String>,
    /// Audience put in the client's access tokens (admin only).
    pub audience: Vec<String>,
    /// `jwt` (RFC 9068) or `opaque` access tokens (admin only; default: the server's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_format: Option<String>,
    /// Access token lifetime in seconds (admin only; default: the server's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl: Option<i64>,
    /// Refresh token lifetime in seconds (admin only; default: the server's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_ttl: Option<i64>,
    /// RFC 8693 token exchange policy (admin only): the audiences the
    /// client may name, the scopes exchanged tokens may carry, and whether
    /// it may impersonate (exchange without an actor token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<crate::store::TokenExchangePolicy>,
    /// RFC 9449 §5.2: every access token must be DPoP-bound.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6: authorization requests only by PAR.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
}

pub use crate::error::MetadataError;

/// Token endpoint authentication methods a client may register.
pub const AUTH_METHODS: [&str; 5] = [
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "none",
];

const MAX_URIS: usize = 20;
const MAX_URI_LEN: usize = 2000;
const MAX_SCOPES: usize = 100;
const MAX_NAME_LEN: usize = 200;
/// Longest lifetime an admin may give a client's tokens (one year).
pub const MAX_TTL: i64 = 366 * 86400;

fn meta(msg: impl Into<String>) -> MetadataError {
    MetadataError::Metadata(msg.into())
}

/// A client id: printable, no spaces (they end up in Basic credentials and
/// URLs), bounded.
pub fn check_client_id(id: &str) -> Result<(), MetadataError> {
    if id.is_empty() || id.len() > 200 || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(meta(format!(
            "invalid client id {id:?}: 1 to 200 characters, no spaces or control characters"
        )));
    }
    Ok(())
}

fn check_uri(field: &str, u: &str, redirect: bool) -> Result<url::Url, MetadataError> {
    let err = |m: String| {
        if redirect {
            MetadataError::RedirectUri(m)
        } else {
            meta(m)
        }
    };
    if u.len() > MAX_URI_LEN {
        return Err(err(format!("{field}: longer than {MAX_URI_LEN} characters")));
    }
    let parsed = url::Url::parse(u).map_err(|e| err(format!("{field} {u:?} is not an absolute URL: {e}")))?;
    if parsed.fragment().is_some() {
        return Err(err(format!("{field} {u:?} must not contain a fragment")));
    }
    // Custom schemes are fine for native apps (RFC 8252 §7.1), script-ish
    // ones never are.
    if matches!(parsed.scheme(), "javascript" | "data" | "vbscript" | "file" | "blob") {
        return Err(err(format!(
            "{field} {u:?}: scheme {:?} is not allowed",
            parsed.scheme()
        )));
    }
    if parsed.cannot_be_a_base() {
        return Err(err(format!("{field} {u:?} is not a hierarchical URL")));
    }
    Ok(parsed)
}

fn check_web_uri(field: &str, u: &str) -> Result<(), MetadataError> {
    let parsed = check_uri(field, u, false)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(meta(format!("{field} {u:?} must be http(s)")));
    }
    Ok(())
}

/// RFC 6749 §3.3 scope-token characters.
pub fn scope_token_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Checks `m` and makes the client it describes. `secret_hash`: the
/// client's (hashed) secret; confidential secret-based methods need one.
/// `signing_alg`: the server's, the other algorithm ID tokens may use.
/// `outbound`: what URLs the server fetches for the client may reach.
pub fn build_client(
    id: &str,
    m: &ClientMetadata,
    secret_hash: Option<String>,
    signing_alg: SigningAlg,
    created_at: i64,
    outbound: &crate::outbound::Policy,
) -> Result<Client, MetadataError> {
    check_client_id(id)?;
    let method = m.token_endpoint_auth_method.as_deref().unwrap_or("client_secret_basic");
    if !AUTH_METHODS.contains(&method) {
        return Err(meta(format!(
            "token_endpoint_auth_method {method:?}: one of {}",
            AUTH_METHODS.join(", ")
        )));
    }
    let public = method == "none";
    let key_jwt = method == "private_key_jwt";
    if (public || key_jwt) && secret_hash.is_some() {
        return Err(meta(format!("a client using {method:?} has no secret")));
    }
    if !public && !key_jwt && secret_hash.is_none() {
        return Err(meta(format!("{method} needs a client secret")));
    }
    if let Some(name) = &m.client_name {
        if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
            return Err(meta(format!(
                "client_name: at most {MAX_NAME_LEN} characters, no control characters"
            )));
        }
    }

    let mut grant_types: Vec<String> = Vec::new();
    for g in &m.grant_types {
        if g == SAML2_BEARER && !KNOWN_GRANTS.contains(&SAML2_BEARER) {
            return Err(meta(format!("grant type {g}: {NO_SAML}")));
        }
        if !KNOWN_GRANTS.contains(&g.as_str()) {
            return Err(meta(format!(
                "unknown grant type {g:?}; known: {}",
                KNOWN_GRANTS.join(", ")
            )));
        }
        if !grant_types.contains(g) {
            grant_types.push(g.clone());
        }
    }
    if grant_types.is_empty() {
        grant_types.push("authorization_code".into());
    }
    let has = |g: &str| grant_types.iter().any(|x| x == g);
    if public && has("client_credentials") {
        return Err(meta(
            "client_credentials needs a confidential client (RFC 6749 §4.4), not token_endpoint_auth_method none",
        ));
    }
    if public && has(crate::config::TOKEN_EXCHANGE_GRANT) {
        return Err(meta(
            "token exchange needs a confidential client, not token_endpoint_auth_method none",
        ));
    }
    if let Some(t) = &m.token_exchange {
        if !has(crate::config::TOKEN_EXCHANGE_GRANT) {
            return Err(meta(format!(
                "token_exchange is set but grant_types does not list {:?}",
                crate::config::TOKEN_EXCHANGE_GRANT
            )));
        }
        t.check().map_err(|e| meta(format!("token_exchange: {e}")))?;
    }
    for rt in &m.response_types {
        let mut parts: Vec<&str> = rt.split(' ').collect();
        parts.sort_unstable();
        if parts.is_empty() || parts.iter().any(|p| !matches!(*p, "code" | "token" | "id_token")) {
            return Err(meta(format!("response_types: {rt:?} is not a response type")));
        }
        if parts.contains(&"code") && !has("authorization_code") {
            return Err(meta(format!(
                "response_types {rt:?} needs the authorization_code grant type"
            )));
        }
        if parts.iter().any(|p| *p != "code") && !has("implicit") {
            return Err(meta(format!("response_types {rt:?} needs the implicit grant type")));
        }
    }

    if m.redirect_uris.len() > MAX_URIS || m.post_logout_redirect_uris.len() > MAX_URIS {
        return Err(MetadataError::RedirectUri(format!("at most {MAX_URIS} redirect URIs")));
    }
    for r in &m.redirect_uris {
        check_uri("redirect URI", r, true)?;
    }
    for r in &m.post_logout_redirect_uris {
        check_uri("post-logout redirect URI", r, true)?;
    }
    if m.redirect_uris.is_empty() && (has("authorization_code") || has("implicit")) {
        return Err(MetadataError::RedirectUri(
            "redirect_uris: at least one is needed for the authorization_code and implicit grants".into(),
        ));
    }

    let mut scopes: Vec<String> = Vec::new();
    for s in m.scope.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        if !scope_token_ok(s) {
            return Err(meta(format!("scope {s:?} has characters RFC 6749 §3.3 does not allow")));
        }
        if !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }
    if scopes.len() > MAX_SCOPES {
        return Err(meta(format!("at most {MAX_SCOPES} scopes")));
    }

    if let Some(l) = &m.logo_uri {
        check_web_uri("logo_uri", l)?;
    }
    if let Some(u) = &m.backchannel_logout_uri {
        // The server POSTs to it: a web URI, and the outbound guard's rules (SSRF).
        check_web_uri("backchannel_logout_uri", u)?;
        outbound
            .check_url(u)
            .map_err(|e| meta(format!("backchannel_logout_uri {e}")))?;
    }
    if let Some(u) = &m.jwks_uri {
        // The server fetches it: the outbound guard's rules (SSRF).
        outbound.check_url(u).map_err(|e| meta(format!("jwks_uri {e}")))?;
    }
    if let Some(j) = &m.jwks {
        crate::keys::PublicKeySet::from_value(j).map_err(|e| meta(format!("jwks: {e}")))?;
    }
    // RFC 7591 §2: never both. Any client may register keys (for its
    // request objects, RFC 9101); private_key_jwt needs them.
    if m.jwks.is_some() && m.jwks_uri.is_some() {
        return Err(meta("give jwks or jwks_uri, not both"));
    }
    if key_jwt && m.jwks.is_none() && m.jwks_uri.is_none() {
        return Err(meta("private_key_jwt needs one of jwks or jwks_uri"));
    }
    // Signed answers to the client: RS256 (always there) or the server's.
    let signed_alg = |field: &str, a: Option<&str>| match a {
        None => Ok(None),
        Some(a) => {
            let alg: SigningAlg = a.parse().map_err(meta)?;
            if alg != SigningAlg::Rs256 && alg != signing_alg {
                return Err(meta(format!(
                    "{field} {a:?}: this server signs with RS256 or {signing_alg}"
                )));
            }
            Ok(Some(alg.as_str().to_string()))
        }
    };
    let id_alg = signed_alg(
        "id_token_signed_response_alg",
        m.id_token_signed_response_alg.as_deref(),
    )?;
    let introspection_alg = signed_alg(
        "introspection_signed_response_alg",
        m.introspection_signed_response_alg.as_deref(),
    )?;
    if let Some(f) = m.access_token_format.as_deref() {
        if !matches!(f, "jwt" | "opaque") {
            return Err(meta(format!("access_token_format {f:?}: jwt or opaque")));
        }
    }
    for (field, ttl) in [
        ("access_token_ttl", m.access_token_ttl),
        ("refresh_token_ttl", m.refresh_token_ttl),
    ] {
        if let Some(t) = ttl {
            if !(1..=MAX_TTL).contains(&t) {
                return Err(meta(format!("{field}: 1 to {MAX_TTL} seconds")));
            }
        }
    }
    if m.audience.len() > MAX_URIS || m.audience.iter().any(|a| a.is_empty() || a.len() > MAX_URI_LEN) {
        return Err(meta(format!("audience: at most {MAX_URIS} non-empty values")));
    }

    Ok(Client {
        id: id.to_string(),
        name: m
            .client_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| id.to_string()),
        secret_hash,
        redirect_uris: m.redirect_uris.clone(),
        grant_types,
        scopes,
        audience: m.audience.clone(),
        access_ttl: m.access_token_ttl,
        refresh_ttl: m.refresh_token_ttl,
        created_at,
        meta: ClientMeta {
            // The default is not written down, so a later default change applies.
            token_endpoint_auth_method: m
                .token_endpoint_auth_method
                .clone()
                .filter(|x| x != "client_secret_basic"),
            jwks: m.jwks.clone(),
            jwks_uri: m.jwks_uri.clone(),
            // Set by the caller with the secret (`issue_secret`).
            client_secret_sealed: None,
            id_token_signed_response_alg: id_alg,
            introspection_signed_response_alg: introspection_alg,
            post_logout_redirect_uris: m.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: m.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: m.backchannel_logout_session_required,
            logo_uri: m.logo_uri.clone(),
            access_token_format: m.access_token_format.clone(),
            registration_token_hash: None,
            token_exchange: m.token_exchange.clone(),
            dpop_bound_access_tokens: m.dpop_bound_access_tokens,
            require_pushed_authorization_requests: m.require_pushed_authorization_requests,
        },
    })
}

/// The metadata a stored client was registered with (the inverse of
/// `build_client`, never with a secret).
pub fn metadata_of(c: &Client) -> ClientMetadata {
    let method = c.meta.token_endpoint_auth_method.clone().unwrap_or_else(|| {
        if c.is_public() {
            "none".into()
        } else {
            "client_secret_basic".into()
        }
    });
    let mut response_types = Vec::new();
    if c.allows_grant("authorization_code") {
        response_types.push("code".to_string());
    }
    if c.allows_grant("implicit") {
        response_types.extend(["token", "id_token", "id_token token"].map(String::from));
    }
    ClientMetadata {
        client_name: Some(c.name.clone()),
        redirect_uris: c.redirect_uris.clone(),
        token_endpoint_auth_method: Some(method),
        grant_types: c.grant_types.clone(),
        response_types,
        scope: Some(c.scopes.join(" ")),
        logo_uri: c.meta.logo_uri.clone(),
        jwks: c.meta.jwks.clone(),
        jwks_uri: c.meta.jwks_uri.clone(),
        post_logout_redirect_uris: c.meta.post_logout_redirect_uris.clone(),
        backchannel_logout_uri: c.meta.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: c.meta.backchannel_logout_session_required,
        id_token_signed_response_alg: c.meta.id_token_signed_response_alg.clone(),
        introspection_signed_response_alg: c.meta.introspection_signed_response_alg.clone(),
        audience: c.audience.clone(),
        access_token_format: c.meta.access_token_format.clone(),
        access_token_ttl: c.access_ttl,
        refresh_token_ttl: c.refresh_ttl,
        token_exchange: c.meta.token_exchange.clone(),
        dpop_bound_access_tokens: c.meta.dpop_bound_access_tokens,
        require_pushed_authorization_requests: c.meta.require_pushed_authorization_requests,
    }
}

/// How long a revocation cutoff must be kept: the longest anything issued
/// may live (the server's lifetimes, and the longest a client may be
/// given), plus an hour.
pub fn revocation_lifetime(t: &crate::config::TokenSettings) -> i64 {
    [t.access_ttl, t.refresh_ttl, t.id_token_ttl]
        .iter()
        .map(|d| d.as_secs() as i64)
        .fold(MAX_TTL, i64::max)
        + 3600
}

/// Deletes a client and revokes everything issued to it: stored tokens,
/// and (by a cutoff kept for `max_lifetime` seconds) its JWTs.
pub async fn remove_client(
    store: &crate::store::DynStore,
    id: &str,
    max_lifetime: i64,
) -> Result<(), crate::store::StoreError> {
    let now = crate::store::now();
    store
        .revoke_owner(crate::store::Owner::Client(id), now, now + max_lifetime)
        .await?;
    store.delete_client(id).await?;
    Ok(())
}

/// The secret of a registration: what to show once (a new secret only),
/// the hash to store, and for `client_secret_jwt` the secret sealed under
/// the key directory's key (HS256 needs the secret itself).
#[derive(Debug, Default)]
pub struct IssuedSecret {
    pub shown: Option<String>,
    pub hash: Option<String>,
    pub sealed: Option<String>,
}

/// The secret for a client `id` registering `m`: none for `none` and
/// `private_key_jwt`; the secret of `old` (an update) when it can serve
/// the method; otherwise a new one. `seal` seals a secret for the client.
pub fn issue_secret(
    id: &str,
    m: &ClientMetadata,
    old: Option<&Client>,
    seal: impl FnOnce(&str, &str) -> Result<String, String>,
) -> Result<IssuedSecret, String> {
    if !needs_secret(m) {
        return Ok(IssuedSecret::default());
    }
    let jwt = m.token_endpoint_auth_method.as_deref() == Some("client_secret_jwt");
    if let Some(old) = old {
        if old.secret_hash.is_some() && (!jwt || old.meta.client_secret_sealed.is_some()) {
            return Ok(IssuedSecret {
                shown: None,
                hash: old.secret_hash.clone(),
                sealed: if jwt {
                    old.meta.client_secret_sealed.clone()
                } else {
                    None
                },
            });
        }
    }
    let (secret, hash) = super::secrets::new_client_secret();
    let sealed = if jwt { Some(seal(id, &secret)?) } else { None };
    Ok(IssuedSecret {
        shown: Some(secret),
        hash: Some(hash),
        sealed,
    })
}

/// Whether `m` describes a client that authenticates with a secret.
pub fn needs_secret(m: &ClientMetadata) -> bool {
    !matches!(
        m.token_endpoint_auth_method.as_deref(),
        Some("none" | "private_key_jwt")
    )
}

/// A new random client id (dynamic registration and the admin API when
/// none is given).
pub fn new_client_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> ClientMetadata {
        ClientMetadata {
            redirect_uris: vec!["https://app.example/cb".into()],
            ..Default::default()
        }
    }

    fn build(m: &ClientMetadata) -> Result<Client, MetadataError> {
        let secret = needs_secret(m).then(|| "sha256$x".to_string());
        build_client(
            "c1",
            m,
            secret,
            SigningAlg::Es256,
            crate::store::now(),
            &Default::default(),
        )
    }

    #[test]
    fn defaults_and_round_trip() {
        let c = build(&web()).unwrap();
        assert_eq!(c.grant_types, vec!["authorization_code"]);
        assert!(!c.is_public());
        assert_eq!(c.name, "c1");
        let back = metadata_of(&c);
        assert_eq!(back.token_endpoint_auth_method.as_deref(), Some("client_secret_basic"));
        assert_eq!(back.redirect_uris, web().redirect_uris);
    }

    #[test]
    fn each_rule_refuses_with_its_code() {
        let cases: Vec<(ClientMetadata, &str)> = vec![
            (ClientMetadata::default(), "invalid_redirect_uri"),
            (
                ClientMetadata {
                    redirect_uris: vec!["/cb".into()],
                    ..web()
                },
                "invalid_redirect_uri",
            ),
            (
                ClientMetadata {
                    redirect_uris: vec!["https://a/cb#x".into()],
                    ..web()
                },
                "invalid_redirect_uri",
            ),
            (
                ClientMetadata {
                    redirect_uris: vec!["javascript:alert(1)".into()],
                    ..web()
                },
                "invalid_redirect_uri",
            ),
            (
                ClientMetadata {
                    grant_types: vec!["magic".into()],
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    token_endpoint_auth_method: Some("none".into()),
                    grant_types: vec!["client_credentials".into()],
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    token_endpoint_auth_method: Some("tls_client_auth".into()),
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    response_types: vec!["token".into()],
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    scope: Some("a \"b".into()),
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    logo_uri: Some("ftp://x/y.png".into()),
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    token_endpoint_auth_method: Some("private_key_jwt".into()),
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    jwks_uri: Some("https://a/jwks".into()),
                    jwks: Some(serde_json::json!({"keys": []})),
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    id_token_signed_response_alg: Some("HS256".into()),
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    backchannel_logout_uri: Some("https://app.example/bcl#frag".into()),
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    backchannel_logout_uri: Some("http://127.0.0.1:9000/bcl".into()),
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    backchannel_logout_uri: Some("com.example.app:/bcl".into()),
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    introspection_signed_response_alg: Some("PS256".into()),
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    access_token_ttl: Some(0),
                    ..web()
                },
                "invalid_client_metadata",
            ),
            (
                ClientMetadata {
                    client_name: Some("a\u{7}".into()),
                    ..web()
                },
                "invalid_client_metadata",
            ),
        ];
        for (m, code) in cases {
            let e = build(&m).expect_err(&format!("{m:?}"));
            assert_eq!(e.code(), code, "{m:?}: {e}");
        }
    }

    #[test]
    fn public_and_service_clients() {
        let public = ClientMetadata {
            token_endpoint_auth_method: Some("none".into()),
            ..web()
        };
        assert!(build(&public).unwrap().is_public());
        let service = ClientMetadata {
            grant_types: vec!["client_credentials".into()],
            ..Default::default()
        };
        assert!(build(&service).is_ok(), "no redirect URI needed");
        let native = ClientMetadata {
            redirect_uris: vec!["com.example.app:/cb".into()],
            ..Default::default()
        };
        assert!(build(&native).is_ok(), "RFC 8252 private-use scheme");
    }
}
