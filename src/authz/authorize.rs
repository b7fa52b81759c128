//! The authorization request (RFC 6749 §4.1.1 / §4.2.1, OIDC Core §3):
//! validated into a typed request, or an error that says whether it may be
//! sent back to the client (only once client and redirect URI are trusted).

use super::form::Form;
use super::{scope, AuthServer};
use crate::store::Client;
use std::sync::Arc;

/// Which artefacts the response carries; only the combinations we support
/// can be built (`parse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseType {
    pub code: bool,
    pub token: bool,
    pub id_token: bool,
}

impl ResponseType {
    /// RFC 6749 plus OAuth 2.0 Multiple Response Types §3-5: every
    /// non-empty combination of the three (`none` is not offered).
    pub const SUPPORTED: [&'static str; 7] = [
        "code",
        "token",
        "id_token",
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ];

    /// Space-separated values in any order, each at most once.
    pub fn parse(s: &str) -> Option<ResponseType> {
        let mut rt = ResponseType {
            code: false,
            token: false,
            id_token: false,
        };
        for part in s.split(' ') {
            let flag = match part {
                "code" => &mut rt.code,
                "token" => &mut rt.token,
                "id_token" => &mut rt.id_token,
                _ => return None,
            };
            if std::mem::replace(flag, true) {
                return None;
            }
        }
        Some(rt)
    }
}

/// How the response reaches the client: the query, the fragment, or an
/// auto-submitted form POST (OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

impl ResponseMode {
    pub const SUPPORTED: [&'static str; 3] = ["query", "fragment", "form_post"];

    /// Anything beyond a bare code defaults to the fragment (RFC 6749
    /// §4.2.2, Multiple Response Types §5).
    pub fn default_for(rt: ResponseType) -> ResponseMode {
        if rt.token || rt.id_token {
            ResponseMode::Fragment
        } else {
            ResponseMode::Query
        }
    }

    fn parse(s: &str) -> Option<ResponseMode> {
        match s {
            "query" => Some(ResponseMode::Query),
            "fragment" => Some(ResponseMode::Fragment),
            "form_post" => Some(ResponseMode::FormPost),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

#[derive(Debug)]
pub struct AuthorizeRequest {
    pub client: Arc<Client>,
    pub redirect_uri: String,
    pub response: ResponseType,
    pub mode: ResponseMode,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub code_challenge: Option<String>,
    /// RFC 8707 `resource` values (checked against the client's audience).
    pub resources: Vec<String>,
    /// Where the parameters came from (PAR, a request object, the query).
    pub origin: Origin,
    /// The request's own parameters, carried through the login and consent
    /// forms as hidden fields.
    pub params: Vec<(String, String)>,
}

/// Parameters that make up a request (and so are carried through forms).
const CARRIED: [&str; 12] = [
    "response_type",
    "response_mode",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "login_hint",
    "code_challenge",
    "code_challenge_method",
];

/// Where an authorization request's parameters came from. Pushed and
/// object requests were verified once; the forms that carry them on
/// through sign-in and consent are sealed (an HMAC under the session key)
/// so they keep that standing without the single-use URI or object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The query or form itself.
    Plain,
    /// RFC 9126: pushed to the PAR endpoint by the authenticated client.
    Pushed,
    /// RFC 9101: a request object signed by the client.
    Object,
}

impl Origin {
    fn tag(self) -> char {
        match self {
            Origin::Plain => 'q',
            Origin::Pushed => 'p',
            Origin::Object => 'o',
        }
    }
}

/// RFC 9126 §2.2: the `request_uri`s the PAR endpoint hands out.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// The hidden field that carries the seal of a pushed or object request.
pub const SEAL_FIELD: &str = "sealed";
/// How long a sealed sign-in/consent form stays good.
const SEAL_TTL: i64 = 3600;

/// What a seal covers: the origin, its expiry, every carried parameter.
fn seal_message(origin: Origin, exp: i64, params: &[(String, String)]) -> Vec<u8> {
    let mut m = format!("gatehouse authorize seal\0{}{exp}\0", origin.tag()).into_bytes();
    for (k, v) in params {
        m.extend_from_slice(k.as_bytes());
        m.push(0);
        m.extend_from_slice(v.as_bytes());
        m.push(0);
    }
    m
}

/// A request's carried parameters as the forms hold them, in the one
/// order they are written in (so a seal can be checked against them).
fn carried(form: &Form) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = CARRIED
        .iter()
        .filter_map(|k| form.get(k).map(|v| (k.to_string(), v.to_string())))
        .collect();
    params.extend(
        form.get_all("resource")
            .map(|r| ("resource".to_string(), r.to_string())),
    );
    params
}

#[derive(Debug)]
pub enum AuthorizeError {
    /// Client or redirect URI cannot be trusted: show a page, never redirect.
    Page(&'static str),
    /// The store did not answer: a 503 page (the request may be fine).
    Unavailable,
    /// Sent back to the client's redirect URI (§4.1.2.1).
    Redirect {
        redirect_uri: String,
        mode: ResponseMode,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

/// RFC 7636 §4.1/§4.2: a `code_verifier` or S256 `code_challenge` is 43 to
/// 128 characters of the unreserved set.
pub fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

impl AuthServer {
    /// The authorization request a browser brings: from a pushed request
    /// (`request_uri`), a request object (`request`), a sealed form of
    /// either, or its own parameters.
    pub async fn authorize_request(&self, form: &Form) -> Result<AuthorizeRequest, AuthorizeError> {
        match self.resolve_request(form).await? {
            (Some(resolved), origin) => self.authorize_request_from(&resolved, origin).await,
            (None, origin) => self.authorize_request_from(form, origin).await,
        }
    }

    async fn resolve_request(&self, form: &Form) -> Result<(Option<Form>, Origin), AuthorizeError> {
        let (uri, object) = (form.get("request_uri"), form.get("request"));
        if uri.is_none() && object.is_none() {
            return Ok((None, self.open_seal(form)?));
        }
        let client_id = form
            .get("client_id")
            .ok_or(AuthorizeError::Page("The request names no client (client_id)."))?;
        let client = self
            .client(client_id)
            .await
            .map_err(|_| AuthorizeError::Unavailable)?
            .ok_or(AuthorizeError::Page(
                "The application is not registered here (unknown client_id).",
            ))?;
        // Until the request is known, errors go to the redirect URI the
        // query names (when registered) or the client's only one.
        let fail = |error: &'static str, description: String| {
            match form.get("redirect_uri") {
                Some(r) if client.redirect_uris.iter().any(|u| u == r) => Ok(r.to_string()),
                None if client.redirect_uris.len() == 1 => Ok(client.redirect_uris[0].clone()),
                _ => Err(()),
            }
            .map_or(
                AuthorizeError::Page("The request could not be read (invalid request_uri or request object)."),
                |redirect_uri| AuthorizeError::Redirect {
                    redirect_uri,
                    mode: form
                        .get("response_mode")
                        .and_then(ResponseMode::parse)
                        .unwrap_or(ResponseMode::Query),
                    state: form.get("state").map(str::to_owned),
                    error,
                    description,
                },
            )
        };
        let pairs = match (uri, object) {
            (Some(_), Some(_)) => return Err(fail("invalid_request", "use request_uri or request, not both".into())),
            (Some(uri), _) => {
                let bad = || {
                    fail(
                        "invalid_request_uri",
                        "the request_uri is unknown, expired, already used or not this client's".into(),
                    )
                };
                // Only our own PAR URIs: nothing is ever fetched.
                let id = uri.strip_prefix(REQUEST_URI_PREFIX).ok_or_else(bad)?;
                if id.len() > 128 {
                    return Err(bad());
                }
                let taken = self
                    .store
                    .take_pushed_request(&crate::store::hash_token(id), &client.id, crate::store::now())
                    .await
                    .map_err(|_| AuthorizeError::Unavailable)?;
                (taken.ok_or_else(bad)?.params, Origin::Pushed)
            }
            (None, Some(jwt)) => match self.request_object(&client, jwt).await {
                Ok(p) => (p, Origin::Object),
                Err(super::request_object::ObjectError::Unavailable) => {
                    return Err(AuthorizeError::Page(
                        "The server is temporarily unavailable. Try again later.",
                    ))
                }
                Err(super::request_object::ObjectError::Invalid(d)) => return Err(fail("invalid_request_object", d)),
            },
            (None, None) => return Ok((None, Origin::Plain)),
        };
        let resolved =
            Form::from_pairs(pairs.0).map_err(|e| fail("invalid_request_object", e.description().to_string()))?;
        Ok((Some(resolved), pairs.1))
    }

    /// The seal for the forms of a pushed or object request (none for a
    /// plain one).
    pub fn sealed(&self, origin: Origin, mut params: Vec<(String, String)>) -> Vec<(String, String)> {
        if origin != Origin::Plain {
            use base64::Engine;
            let exp = crate::store::now() + SEAL_TTL;
            let tag = self.session_key.sign(&seal_message(origin, exp, &params));
            let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag);
            params.push((SEAL_FIELD.to_string(), format!("{}{exp}.{tag}", origin.tag())));
        }
        params
    }

    /// A form's seal, checked against its carried parameters: the origin
    /// it proves, Plain when there is none.
    fn open_seal(&self, form: &Form) -> Result<Origin, AuthorizeError> {
        use base64::Engine;
        let Some(seal) = form.get(SEAL_FIELD) else {
            return Ok(Origin::Plain);
        };
        let expired =
            AuthorizeError::Page("The sign-in form expired or was altered. Start again from the application.");
        let origin = match seal.chars().next() {
            Some('p') => Origin::Pushed,
            Some('o') => Origin::Object,
            _ => return Err(expired),
        };
        let (exp, tag) = seal[1..].split_once('.').ok_or(AuthorizeError::Page(
            "The sign-in form expired or was altered. Start again from the application.",
        ))?;
        let exp: i64 = exp
            .parse()
            .map_err(|_| AuthorizeError::Page("The sign-in form was altered."))?;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| AuthorizeError::Page("The sign-in form was altered."))?;
        if exp <= crate::store::now()
            || !self
                .session_key
                .verify(&seal_message(origin, exp, &carried(form)), &tag)
        {
            return Err(expired);
        }
        Ok(origin)
    }

    /// Validates an authorization request's parameters (`origin` says
    /// where they came from; the PAR endpoint validates what is pushed).
    pub async fn authorize_request_from(
        &self,
        form: &Form,
        origin: Origin,
    ) -> Result<AuthorizeRequest, AuthorizeError> {
        let client_id = form
            .get("client_id")
            .ok_or(AuthorizeError::Page("The request names no client (client_id)."))?;
        let client = self
            .client(client_id)
            .await
            .map_err(|_| AuthorizeError::Unavailable)?
            .ok_or(AuthorizeError::Page(
                "The application is not registered here (unknown client_id).",
            ))?;
        let redirect_uri = match form.get("redirect_uri") {
            Some(r) if client.redirect_uris.iter().any(|u| u == r) => r.to_string(),
            Some(_) => {
                return Err(AuthorizeError::Page(
                    "The redirect URI does not match any registered for this application.",
                ))
            }
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => {
                return Err(AuthorizeError::Page(
                    "The request has no redirect_uri and the application has none or several registered.",
                ))
            }
        };
        let state = form.get("state").map(str::to_owned);
        let rt_raw = form.get("response_type").unwrap_or("");
        // Errors found before the response type is known go back the way
        // the request asked, or the way its response type implies.
        let mode_guess =
            form.get("response_mode")
                .and_then(ResponseMode::parse)
                .unwrap_or(if rt_raw.contains("token") {
                    ResponseMode::Fragment
                } else {
                    ResponseMode::Query
                });
        let fail = |error: &'static str, description: String| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            mode: mode_guess,
            state: state.clone(),
            error,
            description,
        };
        if rt_raw.is_empty() {
            return Err(fail("invalid_request", "missing response_type".into()));
        }
        let response = ResponseType::parse(rt_raw).ok_or_else(|| {
            fail(
                "unsupported_response_type",
                format!("response_type {rt_raw:?} is not supported"),
            )
        })?;
        let mode = match form.get("response_mode") {
            None => ResponseMode::default_for(response),
            Some(m) => match ResponseMode::parse(m) {
                // Tokens never go in a query (Multiple Response Types §5).
                Some(ResponseMode::Query) if response.token || response.id_token => {
                    return Err(fail(
                        "invalid_request",
                        "response_mode=query cannot carry tokens; use fragment or form_post".into(),
                    ))
                }
                Some(mode) => mode,
                None => return Err(fail("invalid_request", format!("response_mode {m:?} is not supported"))),
            },
        };
        if response.code && !client.allows_grant("authorization_code") {
            return Err(fail(
                "unauthorized_client",
                "the client may not use the authorization code flow".into(),
            ));
        }
        if (response.token || (response.id_token && !response.code)) && !client.allows_grant("implicit") {
            return Err(fail(
                "unauthorized_client",
                "the client may not use the implicit flow".into(),
            ));
        }
        if form.get("request").is_some() || form.get("request_uri").is_some() {
            return Err(fail(
                "invalid_request",
                "request and request_uri cannot be nested or pushed".into(),
            ));
        }
        // RFC 9126 §5/§6: the server or this client takes pushed requests only.
        if origin != Origin::Pushed
            && (self.cfg.tokens.require_pushed_authorization_requests
                || client.meta.require_pushed_authorization_requests)
        {
            return Err(fail(
                "invalid_request",
                "authorization requests must be pushed to the PAR endpoint first (RFC 9126)".into(),
            ));
        }
        let scopes = scope::grant(form.get("scope"), &client.scopes)
            .map_err(|e| fail("invalid_scope", e.description().to_string()))?;
        let resources = super::resource::requested(form, &client)
            .map_err(|e| fail("invalid_target", e.description().to_string()))?
            .unwrap_or_default();
        let nonce = form.get("nonce").map(str::to_owned);
        if response.id_token {
            if !scopes.iter().any(|s| s == "openid") {
                return Err(fail(
                    "invalid_scope",
                    "an id_token response needs the openid scope".into(),
                ));
            }
            if nonce.is_none() {
                return Err(fail(
                    "invalid_request",
                    "nonce is required when an ID token is returned from this endpoint".into(),
                ));
            }
        }
        let code_challenge = match (form.get("code_challenge"), form.get("code_challenge_method")) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(fail(
                    "invalid_request",
                    "code_challenge_method without code_challenge".into(),
                ))
            }
            (Some(c), Some("S256")) if is_pkce_value(c) => Some(c.to_string()),
            (Some(_), Some("S256")) => return Err(fail("invalid_request", "code_challenge is malformed".into())),
            // RFC 7636 defaults to "plain", which RFC 9700 §2.1.1 rules out.
            (Some(_), _) => {
                return Err(fail(
                    "invalid_request",
                    "code_challenge_method must be S256 (plain is not accepted)".into(),
                ))
            }
        };
        if response.code && client.is_public() && code_challenge.is_none() {
            return Err(fail(
                "invalid_request",
                "PKCE (code_challenge with S256) is required for public clients".into(),
            ));
        }
        let mut prompt = Prompt::default();
        for p in form.get("prompt").unwrap_or("").split_whitespace() {
            match p {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                other => return Err(fail("invalid_request", format!("unknown prompt value {other:?}"))),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(fail(
                "invalid_request",
                "prompt=none cannot be combined with other values".into(),
            ));
        }
        let max_age = match form.get("max_age") {
            None => None,
            Some(m) => Some(
                m.parse::<i64>()
                    .ok()
                    .filter(|v| *v >= 0)
                    .ok_or_else(|| fail("invalid_request", "max_age must be a non-negative integer".into()))?,
            ),
        };
        let mut params: Vec<(String, String)> = CARRIED
            .iter()
            .filter_map(|k| form.get(k).map(|v| (k.to_string(), v.to_string())))
            .collect();
        params.extend(resources.iter().map(|r| ("resource".to_string(), r.clone())));
        Ok(AuthorizeRequest {
            client,
            redirect_uri,
            response,
            mode,
            scopes,
            state,
            nonce,
            prompt,
            max_age,
            login_hint: form.get("login_hint").map(str::to_owned),
            code_challenge,
            resources,
            origin,
            params,
        })
    }
}

impl AuthorizeRequest {
    /// The carried parameters once the user has just signed in: `prompt=login`
    /// and `max_age` are satisfied and must not ask again.
    pub fn params_after_login(&self) -> Vec<(String, String)> {
        self.params
            .iter()
            .filter(|(k, _)| k != "max_age")
            .filter_map(|(k, v)| {
                if k == "prompt" {
                    let rest: Vec<&str> = v.split_whitespace().filter(|p| *p != "login").collect();
                    (!rest.is_empty()).then(|| (k.clone(), rest.join(" ")))
                } else {
                    Some((k.clone(), v.clone()))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_types_are_order_free_and_closed() {
        assert_eq!(
            ResponseType::parse("token id_token"),
            ResponseType::parse("id_token token")
        );
        let mode = |rt: &str| ResponseType::parse(rt).map(ResponseMode::default_for);
        assert_eq!(mode("code"), Some(ResponseMode::Query));
        assert_eq!(mode("code id_token"), Some(ResponseMode::Fragment));
        assert_eq!(mode("id_token"), Some(ResponseMode::Fragment));
        for rt in ResponseType::SUPPORTED {
            assert!(ResponseType::parse(rt).is_some(), "{rt}");
        }
        for bad in ["", "none", "code code", "code  token", "code device", " code"] {
            assert!(ResponseType::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn pkce_values_follow_rfc7636() {
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&format!("{}=", "a".repeat(43))));
    }
}
