//! `auth = { kind = … }`: the policy that decides who a request speaks for.
//! Each kind (one file, behind `AuthKind`) finds and checks a credential;
//! this policy does what every kind shares: the required scopes, the
//! principal in the exchange, and the identity headers sent upstream —
//! which come only from the gateway (a client's copies are removed, under
//! any spelling an upstream framework might read as the same name).
//!
//! A verdict already cached is decided without waiting (the proxy path's
//! common case costs no allocation); anything else waits on the kind's
//! full check. Adding a kind is one file and one arm in `build`.

pub mod bound;
pub mod introspection;
pub mod jwt;
pub mod oauth2;
pub mod rules;

use super::{BuildContext, Exchange, Policy, Step, Stop};
use crate::config::{ApiSpec, AuthSpec};
use crate::error::{AuthError, GatewayError};
use crate::token::{has_scopes, Verified};
use http::request::Parts;
use http::{HeaderMap, HeaderName};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type Check<'a> = Pin<Box<dyn Future<Output = Result<Arc<Verified>, AuthError>> + Send + 'a>>;

pub trait AuthKind: Send + Sync + 'static {
    /// The verdict on the request's credential when it is known without
    /// I/O (a cached verification); None: `check` must decide.
    fn cached(&self, req: &Parts) -> Option<Result<Arc<Verified>, AuthError>>;

    /// The full check (may fetch keys or ask a store).
    fn check<'a>(&'a self, req: &'a Parts) -> Check<'a>;

    /// (claim, header) pairs sent upstream for an accepted credential.
    fn forwarded(&self) -> &[(String, HeaderName)];

    /// The credential as the request carries it (for a proof's `ath`).
    fn token<'p>(&self, req: &'p Parts) -> Result<Cow<'p, str>, AuthError>;
}

pub struct Auth {
    kind: Box<dyn AuthKind>,
    /// `clients`, `claims`, `acr_values`, `max_age` (None: none set).
    rules: Option<rules::Rules>,
    scopes: Vec<String>,
    scope_text: Arc<str>,
    route: Arc<str>,
    /// Sender-constrained tokens (DPoP): checked after the token itself.
    bound: bound::Binding,
}

pub fn build(api: &ApiSpec, cx: &BuildContext<'_>) -> Result<Option<Arc<dyn Policy>>, String> {
    let (kind, scopes): (Box<dyn AuthKind>, &[String]) = match &api.auth {
        AuthSpec::None => return Ok(None),
        AuthSpec::Jwt(spec) => (Box::new(jwt::JwtAuth::new(spec, cx)), &spec.scopes),
        AuthSpec::Introspection(spec) => (Box::new(introspection::IntrospectionAuth::new(spec, cx)?), &spec.scopes),
        AuthSpec::OAuth2 { scopes } => match cx.own {
            Some(own) => (Box::new(oauth2::OAuth2Auth::new(own.clone())), scopes),
            None => return Err("auth kind \"oauth2\" needs the authorization server".into()),
        },
    };
    Ok(Some(Arc::new(Auth {
        kind,
        rules: rules::Rules::new(&api.rules),
        scopes: scopes.to_vec(),
        scope_text: scopes.join(" ").into(),
        route: api.name.clone(),
        bound: bound::Binding::new(api, cx.own, &cx.cfg.gateway.trusted_proxies),
    })))
}

/// Removes a client's copies of the headers `forwarded` names, including
/// spellings with `_` for `-` in any case (`X_Authenticated_Userid`), which
/// many upstream frameworks (CGI, PHP, some WSGI servers) read as the same.
fn remove_identity_headers(h: &mut HeaderMap, forwarded: &[(String, HeaderName)]) {
    let ours = |name: &str| forwarded.iter().any(|(_, f)| f.as_str() == name);
    // One pass over the names; nearly always nothing to remove.
    let mut doomed: Vec<HeaderName> = Vec::new();
    for k in h.keys() {
        let s = k.as_str();
        if ours(s) || (s.contains('_') && ours(&s.replace('_', "-"))) {
            doomed.push(k.clone());
        }
    }
    for k in doomed {
        h.remove(k);
    }
}

impl Auth {
    fn admit(
        &self,
        verdict: Result<Arc<Verified>, AuthError>,
        req: &mut Parts,
        cx: &mut Exchange<'_>,
    ) -> Result<(), Stop> {
        let v = verdict.map_err(|e| self.refuse(e))?;
        if !has_scopes(&v.scopes, &self.scopes) {
            return Err(self.refuse(AuthError::InsufficientScope(self.scope_text.clone())));
        }
        if let Some(r) = &self.rules {
            r.check(&v).map_err(|e| self.refuse(e))?;
        }
        remove_identity_headers(&mut req.headers, self.kind.forwarded());
        for (h, val) in &v.forward {
            req.headers.insert(h.clone(), val.clone());
        }
        cx.principal = Some(v);
        Ok(())
    }

    fn refuse(&self, e: AuthError) -> Stop {
        crate::ops::metrics::auth_failure(&self.route, e.label());
        Stop::Refuse(GatewayError::Auth(e))
    }
}

impl Policy for Auth {
    fn name(&self) -> &'static str {
        "auth"
    }

    fn request<'a>(&'a self, req: &'a mut Parts, cx: &'a mut Exchange<'_>) -> Step<'a> {
        let cached = match self.kind.cached(req) {
            Some(v) if !self.bound.applies(&v, req) => {
                return match self.admit(v, req, cx) {
                    Ok(()) => Step::Next,
                    Err(s) => Step::Stop(s),
                }
            }
            c => c,
        };
        Step::Wait(Box::pin(async move {
            let v = match cached {
                Some(v) => v,
                None => self.kind.check(req).await,
            };
            let v = self.bound.check(v, &*self.kind, req, cx.conn).await;
            self.admit(v, req, cx)
        }))
    }

    fn response(&self, resp: &mut http::response::Parts, _cx: &Exchange<'_>) {
        self.bound.response(resp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_from_clients_go_under_any_spelling() {
        let fwd = vec![("sub".to_string(), HeaderName::from_static("x-authenticated-userid"))];
        let mut h = HeaderMap::new();
        h.insert("x-authenticated-userid", "mallory".parse().unwrap());
        h.insert("x_authenticated_userid", "mallory".parse().unwrap());
        h.insert("x_Authenticated-USERID", "mallory".parse().unwrap());
        h.insert("x-other", "kept".parse().unwrap());
        remove_identity_headers(&mut h, &fwd);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-other"));
    }
}
