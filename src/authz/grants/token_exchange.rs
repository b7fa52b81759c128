//! RFC 8693 token exchange: a service that received a user's token trades
//! it for a narrower one for the next service.
//!
//! - Subject tokens (`subject_token_type`): `…:access_token` (gatehouse's
//!   own JWT or opaque access tokens, or a `[[trusted_issuers]]` JWT),
//!   `…:jwt` (the same JWTs), `…:id_token` (gatehouse's own ID tokens or a
//!   trusted issuer's). Gatehouse's tokens must be valid and unrevoked and
//!   have been issued to the exchanging client or name it in `aud`; a
//!   trusted issuer's JWT must be validly signed, unexpired and name this
//!   server (issuer or token endpoint) or the client in `aud`.
//! - Delegation: an `actor_token` (same types) puts the actor in `act`,
//!   over the subject token's own `act` (nested, at most `MAX_ACT_DEPTH`
//!   deep); a subject token's `may_act` must name the actor. Without an
//!   actor token (impersonation) the client needs `may_impersonate`.
//! - Targets (`audience`, `resource`; several allowed) become `aud`, each
//!   one of the client's `token_exchange.audiences` (else
//!   `invalid_target`); none: the client's usual audience.
//! - Scope only shrinks: within the subject token's scopes and the
//!   client's `token_exchange.scopes` (default its scopes).
//! - The new token is an RFC 9068 JWT (it carries `act` and a per-request
//!   `aud`) that never outlives the subject token. Where the subject is
//!   gatehouse's own, the new token is tied to the subject's grant (`fid`):
//!   the subject's grant family when it has one (authorization code,
//!   device code, password: revoking the refresh token or the grant revokes
//!   every token exchanged from it), else the subject token itself
//!   (client_credentials, JWT bearer: revoking that token revokes them).
//!
//! Errors follow §2.2.2: `invalid_request` for a missing, malformed,
//! unsupported, untrusted, expired or revoked token; `invalid_target`;
//! `invalid_scope`.

use super::{Grant, Request};
use crate::authz::form::Form;
use crate::authz::issuer::TokenResponse;
use crate::authz::{assertion, scope, secrets, AuthServer};
use crate::config::{AssertionSubject, TOKEN_EXCHANGE_GRANT};
use crate::error::{AuthError, InvalidToken, OAuthError};
use crate::store::{self, hash_token, Client, TokenExchangePolicy};
use crate::token::own::looks_like_jwt;
use async_trait::async_trait;
use serde_json::{json, Map, Value};

/// RFC 8693 §3 token type identifiers.
pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const SAML1: &str = "urn:ietf:params:oauth:token-type:saml1";
pub const SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";

/// Actors one token may record: the current one and its predecessors.
pub const MAX_ACT_DEPTH: usize = 5;
/// Targets one request may name (`audience` and `resource` together).
pub const MAX_TARGETS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    AccessToken,
    Jwt,
    IdToken,
}

impl TokenType {
    pub fn urn(self) -> &'static str {
        match self {
            TokenType::AccessToken => ACCESS_TOKEN,
            TokenType::Jwt => JWT,
            TokenType::IdToken => ID_TOKEN,
        }
    }
}

/// A token type parameter: one gatehouse takes, or a precise refusal.
fn token_type(param: &str, value: &str) -> Result<TokenType, OAuthError> {
    match value {
        ACCESS_TOKEN => Ok(TokenType::AccessToken),
        JWT => Ok(TokenType::Jwt),
        ID_TOKEN => Ok(TokenType::IdToken),
        REFRESH_TOKEN | SAML1 | SAML2 => Err(OAuthError::InvalidRequest(format!(
            "{param} {value:?} is not accepted here (access_token, jwt or id_token)"
        ))),
        _ => Err(OAuthError::InvalidRequest(format!(
            "{param} {value:?} is not a token type this server knows"
        ))),
    }
}

/// A token exchange request, read and checked for shape (§2.1) before any
/// token is looked at.
#[derive(Debug, PartialEq, Eq)]
pub struct ExchangeRequest<'a> {
    pub subject_token: &'a str,
    pub subject_type: TokenType,
    pub actor: Option<(&'a str, TokenType)>,
    /// What the client wants back: an access token (default) or a JWT.
    pub requested: TokenType,
    /// `audience` and `resource` values, in order, without repeats.
    pub targets: Vec<&'a str>,
    pub scope: Option<&'a str>,
}

/// Reads the §2.1 parameters of `form`; `max_token` bounds each token.
pub fn parse_request(form: &Form, max_token: usize) -> Result<ExchangeRequest<'_>, OAuthError> {
    let subject_token = form.require("subject_token")?;
    let subject_type = token_type("subject_token_type", form.require("subject_token_type")?)?;
    let actor = match (form.get("actor_token"), form.get("actor_token_type")) {
        (Some(t), Some(ty)) => Some((t, token_type("actor_token_type", ty)?)),
        (Some(_), None) => {
            return Err(OAuthError::InvalidRequest(
                "actor_token_type is required with an actor_token".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(OAuthError::InvalidRequest(
                "actor_token_type is sent only with an actor_token".into(),
            ))
        }
        (None, None) => None,
    };
    for (name, t) in [
        ("subject_token", Some(subject_token)),
        ("actor_token", actor.map(|a| a.0)),
    ] {
        if t.is_some_and(|t| t.len() > max_token) {
            return Err(OAuthError::InvalidRequest(format!("the {name} is too large")));
        }
    }
    let requested = match form.get("requested_token_type") {
        None | Some(ACCESS_TOKEN) => TokenType::AccessToken,
        Some(JWT) => TokenType::Jwt,
        Some(other) => {
            return Err(OAuthError::InvalidRequest(format!(
                "requested_token_type {other:?}: this server issues access_token or jwt"
            )))
        }
    };
    let mut targets: Vec<&str> = Vec::new();
    for r in form.get_all("resource") {
        // RFC 8707 §2: an absolute URI without a fragment.
        let ok = url::Url::parse(r).is_ok_and(|u| u.fragment().is_none() && !u.cannot_be_a_base());
        if !ok {
            return Err(OAuthError::InvalidTarget(format!(
                "resource {r:?} is not an absolute URI without a fragment"
            )));
        }
        if !targets.contains(&r) {
            targets.push(r);
        }
    }
    for a in form.get_all("audience") {
        if !targets.contains(&a) {
            targets.push(a);
        }
    }
    if targets.len() > MAX_TARGETS {
        return Err(OAuthError::InvalidTarget(format!("at most {MAX_TARGETS} targets")));
    }
    Ok(ExchangeRequest {
        subject_token,
        subject_type,
        actor,
        requested,
        targets,
        scope: form.get("scope"),
    })
}

/// Who a presented token speaks for, as far as the exchange cares.
struct Party {
    sub: String,
    /// The issuer when it is not this server (for `act`).
    foreign_iss: Option<String>,
    /// The client a gatehouse token was issued to.
    client_id: Option<String>,
    /// Granted scopes; None when the token carries none (ID tokens, JWTs
    /// without `scope`).
    scopes: Option<Vec<String>>,
    act: Option<Value>,
    may_act: Option<Value>,
    /// Gatehouse's own: the grant family (or the token's own revocation
    /// id) the exchanged token joins.
    tie: Option<String>,
    exp: Option<i64>,
    auth_time: Option<i64>,
}

fn bad(role: &str, why: &str) -> OAuthError {
    OAuthError::InvalidRequest(format!("the {role} {why}"))
}

fn refused(role: &str, e: AuthError) -> OAuthError {
    match e {
        AuthError::Unavailable => OAuthError::TemporarilyUnavailable,
        AuthError::Invalid(InvalidToken::Expired) => bad(role, "expired"),
        AuthError::Invalid(InvalidToken::Revoked) => bad(role, "was revoked"),
        AuthError::Invalid(InvalidToken::Unknown) => bad(role, "is not known"),
        _ => bad(role, "is not a valid token of this server"),
    }
}

fn aud_contains(claims: &Map<String, Value>, want: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(s)) => s == want,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(want)),
        _ => false,
    }
}

fn scopes_of(claims: &Map<String, Value>) -> Option<Vec<String>> {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => Some(scope::split(s)),
        (None, Some(Value::Array(a))) => Some(scope::split(
            &a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
        )),
        (None, Some(Value::String(s))) => Some(scope::split(s)),
        _ => None,
    }
}

/// How deep an `act` chain goes (0: none); None when it is not a chain of
/// objects or is deeper than the bound.
pub fn act_depth(act: Option<&Value>) -> Option<usize> {
    let mut depth = 0;
    let mut cur = act;
    while let Some(v) = cur {
        let o = v.as_object()?;
        depth += 1;
        if depth > MAX_ACT_DEPTH {
            return None;
        }
        cur = o.get("act");
    }
    Some(depth)
}

impl AuthServer {
    /// Validates a subject or actor token of type `ty` for `client`.
    async fn exchange_party(
        &self,
        role: &str,
        token: &str,
        ty: TokenType,
        client: &Client,
    ) -> Result<Party, OAuthError> {
        if !looks_like_jwt(token) {
            if ty != TokenType::AccessToken {
                return Err(bad(role, "is not a JWT"));
            }
            return self.own_access_party(role, token, client).await;
        }
        let iss =
            assertion::unverified_claim(token, "iss").ok_or_else(|| bad(role, "is not a JWT with an iss claim"))?;
        if iss == self.cfg.issuer {
            let header = jsonwebtoken::decode_header(token).map_err(|_| bad(role, "has a malformed header"))?;
            let at = header.typ.as_deref().is_some_and(|t| {
                let t = t.strip_prefix("application/").unwrap_or(t);
                t.eq_ignore_ascii_case("at+jwt")
            });
            return match (ty, at) {
                (TokenType::AccessToken | TokenType::Jwt, true) => self.own_access_party(role, token, client).await,
                (TokenType::IdToken | TokenType::Jwt, false) => self.own_id_token_party(role, token, client).await,
                (TokenType::AccessToken, false) => Err(bad(role, "is not an access token (typ at+jwt)")),
                (TokenType::IdToken, true) => Err(bad(role, "is an access token, not an ID token")),
            };
        }
        self.trusted_party(role, token, &iss, client).await
    }

    async fn own_access_party(&self, role: &str, token: &str, client: &Client) -> Result<Party, OAuthError> {
        let v = self.validate_access(token).await.map_err(|e| refused(role, e))?;
        let c = &v.claims;
        let issued_to = v.claim_str("client_id");
        if issued_to != Some(client.id.as_str()) && !aud_contains(c, &client.id) {
            return Err(bad(role, "was neither issued to this client nor names it in aud"));
        }
        let sub = v.claim_str("sub").ok_or_else(|| bad(role, "has no sub"))?.to_string();
        // What revokes the subject revokes the exchanged token: its grant
        // family, else the token itself (a JWT's jti; an opaque token's
        // hash, which revocation lists as well).
        let tie = match (v.claim_str("fid"), v.claim_str("jti")) {
            (Some(f), _) => Some(f.to_string()),
            (None, Some(j)) => Some(j.to_string()),
            (None, None) => match self.store.get_token(&hash_token(token)).await? {
                Some(r) if !r.family_id.is_empty() => Some(r.family_id),
                Some(r) => Some(r.token_hash),
                None => return Err(bad(role, "is not known")),
            },
        };
        Ok(Party {
            sub,
            foreign_iss: None,
            client_id: issued_to.map(str::to_owned),
            scopes: Some(scope::split(&v.scopes.join(" "))),
            act: c.get("act").cloned(),
            may_act: c.get("may_act").cloned(),
            tie,
            exp: i64::try_from(v.exp).ok(),
            auth_time: c.get("auth_time").and_then(Value::as_i64),
        })
    }

    async fn own_id_token_party(&self, role: &str, token: &str, client: &Client) -> Result<Party, OAuthError> {
        let claims = self
            .verify_own_id_token(token)
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .ok_or_else(|| bad(role, "is not a valid ID token of this server"))?;
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp <= store::now() {
            return Err(bad(role, "expired"));
        }
        if !aud_contains(&claims, &client.id) {
            return Err(bad(role, "is an ID token for another client"));
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if self.store.get_user(&sub).await?.is_none() {
            return Err(bad(role, "names a user who no longer exists"));
        }
        Ok(Party {
            sub,
            foreign_iss: None,
            client_id: None,
            scopes: None,
            act: None,
            may_act: None,
            tie: None,
            exp: Some(exp),
            auth_time: claims.get("auth_time").and_then(Value::as_i64),
        })
    }

    async fn trusted_party(&self, role: &str, token: &str, iss: &str, client: &Client) -> Result<Party, OAuthError> {
        let (trusted, keys) = self
            .cfg
            .trusted_issuers
            .iter()
            .zip(&self.assertion_keys)
            .find(|(t, _)| t.issuer == iss)
            .map(|(t, (_, k))| (t, k))
            .ok_or_else(|| bad(role, "comes from an issuer that is not trusted"))?;
        let token_url = self.token_endpoint();
        let claims = assertion::verify(keys, token, iss, None, &[&self.cfg.issuer, &token_url, &client.id])
            .await
            .map_err(|f| match f {
                assertion::Failure::Unavailable => OAuthError::TemporarilyUnavailable,
                assertion::Failure::Malformed => bad(role, "has a malformed header"),
                assertion::Failure::Invalid => bad(
                    role,
                    "is not validly signed by its issuer, is expired, or names neither this server nor this client in aud",
                ),
            })?;
        let Value::Object(c) = claims else {
            return Err(bad(role, "has no claims object"));
        };
        let sub = c
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad(role, "has no sub"))?
            .to_string();
        // The new token is gatehouse's: it speaks only for principals
        // gatehouse knows, as the JWT bearer grant does.
        let known = match trusted.subject {
            AssertionSubject::User => self.store.get_user(&sub).await?.is_some(),
            AssertionSubject::Client => self.client(&sub).await?.is_some(),
        };
        if !known {
            return Err(bad(role, "names a subject this server does not know"));
        }
        Ok(Party {
            sub,
            foreign_iss: Some(iss.to_string()),
            client_id: None,
            scopes: scopes_of(&c),
            act: c.get("act").cloned(),
            may_act: c.get("may_act").cloned(),
            tie: None,
            exp: c.get("exp").and_then(Value::as_i64),
            auth_time: c.get("auth_time").and_then(Value::as_i64),
        })
    }
}

/// The `act` claim of the new token: the actor over the subject's chain
/// (delegation), or the subject's chain as it is (impersonation).
fn new_act(subject: &Party, actor: Option<&Party>) -> Result<Option<Value>, OAuthError> {
    if act_depth(subject.act.as_ref()).is_none() {
        return Err(OAuthError::InvalidRequest(format!(
            "the subject_token's act claim is malformed or deeper than {MAX_ACT_DEPTH}"
        )));
    }
    let Some(a) = actor else {
        return Ok(subject.act.clone());
    };
    let mut act = Map::new();
    act.insert("sub".into(), json!(a.sub));
    if let Some(iss) = &a.foreign_iss {
        act.insert("iss".into(), json!(iss));
    }
    if let Some(c) = &a.client_id {
        act.insert("client_id".into(), json!(c));
    }
    if let Some(prior) = &subject.act {
        act.insert("act".into(), prior.clone());
    }
    let act = Value::Object(act);
    if act_depth(Some(&act)).is_none() {
        return Err(OAuthError::InvalidRequest(format!(
            "the delegation chain would be deeper than {MAX_ACT_DEPTH} actors"
        )));
    }
    Ok(Some(act))
}

/// RFC 8693 §4.4: a subject token's `may_act` names who may act for it.
fn may_act_allows(subject: &Party, actor: &Party) -> bool {
    let Some(m) = &subject.may_act else { return true };
    let Some(m) = m.as_object() else { return false };
    let sub_ok = m.get("sub").and_then(Value::as_str).is_none_or(|s| s == actor.sub);
    let iss_ok = match m.get("iss").and_then(Value::as_str) {
        None => true,
        Some(i) => actor.foreign_iss.as_deref() == Some(i),
    };
    sub_ok && iss_ok
}

pub struct TokenExchange;

#[async_trait]
impl Grant for TokenExchange {
    fn grant_type(&self) -> &'static str {
        TOKEN_EXCHANGE_GRANT
    }

    async fn exchange(&self, server: &AuthServer, req: Request<'_>) -> Result<TokenResponse, OAuthError> {
        let client = req.client;
        if client.is_public() {
            return Err(OAuthError::UnauthorizedClient(
                "token exchange is for confidential clients",
            ));
        }
        let r = parse_request(req.form, server.cfg.gateway.max_token_bytes)?;
        let default_policy = TokenExchangePolicy::default();
        let policy = client.meta.token_exchange.as_ref().unwrap_or(&default_policy);

        if let Some(t) = r.targets.iter().find(|t| !policy.audiences.iter().any(|a| a == *t)) {
            return Err(OAuthError::InvalidTarget(format!(
                "{t:?} is not among this client's token_exchange audiences"
            )));
        }
        let subject = server
            .exchange_party("subject_token", r.subject_token, r.subject_type, client)
            .await?;
        let actor = match r.actor {
            Some((token, ty)) => Some(server.exchange_party("actor_token", token, ty, client).await?),
            None if policy.may_impersonate => None,
            None => {
                return Err(OAuthError::InvalidRequest(
                    "an actor_token is required: this client may not impersonate (token_exchange.may_impersonate)"
                        .into(),
                ))
            }
        };
        if let Some(a) = &actor {
            if !may_act_allows(&subject, a) {
                return Err(OAuthError::InvalidRequest(
                    "the subject_token's may_act does not name this actor".into(),
                ));
            }
        }
        let act = new_act(&subject, actor.as_ref())?;

        // Scope only shrinks: the policy's scopes, and never more than the
        // subject token was granted.
        let allowed = policy.scopes.as_ref().unwrap_or(&client.scopes);
        let base: Vec<String> = match &subject.scopes {
            Some(had) => had.iter().filter(|s| allowed.contains(s)).cloned().collect(),
            None => scope::split(&allowed.join(" ")),
        };
        let scopes = scope::grant(r.scope, &base)?;

        let audience = if r.targets.is_empty() {
            server.audience_for(client)
        } else {
            r.targets.iter().map(|t| t.to_string()).collect()
        };
        let now = store::now();
        let ttl = client
            .access_ttl
            .unwrap_or(server.cfg.tokens.access_ttl.as_secs() as i64);
        // Never outlives what it was exchanged from.
        let exp = subject.exp.map_or(now + ttl, |e| e.min(now + ttl));
        // A trusted issuer's token within its clock-skew leeway is valid
        // yet past its exp: nothing of it is left to hand on.
        if exp <= now {
            return Err(bad("subject_token", "expired"));
        }
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(server.cfg.issuer));
        claims.insert("sub".into(), json!(subject.sub));
        claims.insert("aud".into(), json!(audience));
        claims.insert("client_id".into(), json!(client.id));
        claims.insert("scope".into(), json!(scope::join(&scopes)));
        claims.insert("jti".into(), json!(secrets::random_token()));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(exp));
        if let Some(t) = subject.auth_time {
            claims.insert("auth_time".into(), json!(t));
        }
        if let Some(f) = &subject.tie {
            claims.insert("fid".into(), json!(f));
        }
        if let Some(a) = act {
            claims.insert("act".into(), a);
        }
        // A DPoP proof (or client certificate) at the token endpoint binds
        // the exchanged token like any other (RFC 9449 §5, RFC 8705 §3).
        if let Some(c) = &req.cnf {
            claims.insert("cnf".into(), json!(c));
        }
        let access_token = server.keys.load().sign("at+jwt", &claims).map_err(|e| {
            tracing::error!(error = %e, "cannot sign an exchanged token");
            OAuthError::ServerError
        })?;
        tracing::info!(
            client = %client.id,
            sub = %subject.sub,
            delegated = actor.is_some(),
            "token exchanged"
        );
        Ok(TokenResponse {
            access_token,
            token_type: if req.cnf.as_ref().is_some_and(|c| c.jkt.is_some()) {
                "DPoP"
            } else {
                "Bearer"
            },
            expires_in: (exp - now).max(0),
            refresh_token: None,
            scope: scope::join(&scopes),
            id_token: None,
            issued_token_type: Some(r.requested.urn()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(s: &str) -> Form {
        Form::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn requests_are_read_and_refused_precisely() {
        let at = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";
        let f = form(&format!(
            "subject_token=s&subject_token_type={at}&audience=b&resource=https%3A%2F%2Fr.example%2Fapi&audience=b&scope=x"
        ));
        let r = parse_request(&f, 100).unwrap();
        assert_eq!(r.subject_type, TokenType::AccessToken);
        assert_eq!(r.targets, ["https://r.example/api", "b"]);
        assert_eq!(r.requested, TokenType::AccessToken);
        assert_eq!(r.scope, Some("x"));
        let err = |s: &str| parse_request(&form(s), 100).unwrap_err();
        assert_eq!(err("subject_token_type=x").code(), "invalid_request");
        assert!(err(&format!("subject_token=s&subject_token_type={at}x"))
            .description()
            .contains("not a token type"));
        assert!(
            err("subject_token=s&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Asaml2")
                .description()
                .contains("not accepted")
        );
        assert!(err(&format!("subject_token=s&subject_token_type={at}&actor_token=a"))
            .description()
            .contains("actor_token_type is required"));
        assert!(err(&format!(
            "subject_token=s&subject_token_type={at}&actor_token_type={at}"
        ))
        .description()
        .contains("only with an actor_token"));
        assert_eq!(
            err(&format!("subject_token=s&subject_token_type={at}&resource=relative")).code(),
            "invalid_target"
        );
        assert_eq!(
            err(&format!(
                "subject_token=s&subject_token_type={at}&requested_token_type={at}x"
            ))
            .code(),
            "invalid_request"
        );
        let long = "t".repeat(101);
        assert!(err(&format!("subject_token={long}&subject_token_type={at}"))
            .description()
            .contains("too large"));
    }

    #[test]
    fn act_chains_are_bounded() {
        let mut v = json!({"sub": "a0"});
        for i in 1..MAX_ACT_DEPTH {
            v = json!({"sub": format!("a{i}"), "act": v});
        }
        assert_eq!(act_depth(Some(&v)), Some(MAX_ACT_DEPTH));
        let deeper = json!({"sub": "x", "act": v});
        assert_eq!(act_depth(Some(&deeper)), None);
        assert_eq!(act_depth(Some(&json!("not an object"))), None);
        assert_eq!(act_depth(None), Some(0));
    }
}
