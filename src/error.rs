//! Error enums of the gateway layer and their one mapping to HTTP
//! (RFC 6750 for token problems, JSON bodies with no internals).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use std::sync::Arc;

/// RFC 9449 §8: where the server hands out DPoP nonces.
pub const DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");

/// Why a presented token was not accepted. `label` feeds metrics and logs;
/// `description` goes to the client and reveals nothing about keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidToken {
    Malformed,
    TooLarge,
    Expired,
    NotYetValid,
    BadSignature,
    AlgorithmNotAllowed,
    UnknownKey,
    WrongIssuer,
    WrongAudience,
    MissingClaim,
    /// A JWS header names critical extensions (`crit`) or unencoded
    /// payloads (`b64`): none is understood, so RFC 7515 §4.1.11 says reject.
    CriticalHeader,
    Revoked,
    Unknown,
    /// A DPoP-bound token sent as a bearer token, or with a proof by
    /// another key (RFC 9449 §7.1): answered with a `DPoP` challenge.
    DpopBound,
}

impl InvalidToken {
    pub fn label(self) -> &'static str {
        match self {
            InvalidToken::Malformed => "malformed",
            InvalidToken::TooLarge => "too_large",
            InvalidToken::Expired => "expired",
            InvalidToken::NotYetValid => "not_yet_valid",
            InvalidToken::BadSignature => "bad_signature",
            InvalidToken::AlgorithmNotAllowed => "algorithm_not_allowed",
            InvalidToken::UnknownKey => "unknown_kid",
            InvalidToken::WrongIssuer => "wrong_issuer",
            InvalidToken::WrongAudience => "wrong_audience",
            InvalidToken::MissingClaim => "missing_claim",
            InvalidToken::CriticalHeader => "critical_header",
            InvalidToken::Revoked => "revoked",
            InvalidToken::Unknown => "unknown_token",
            InvalidToken::DpopBound => "dpop_bound",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            InvalidToken::Malformed => "the access token is malformed",
            InvalidToken::TooLarge => "the access token is too large",
            InvalidToken::Expired => "the access token expired",
            InvalidToken::NotYetValid => "the access token is not valid yet",
            InvalidToken::BadSignature => "the access token signature is invalid",
            InvalidToken::AlgorithmNotAllowed => "the access token algorithm is not allowed",
            InvalidToken::UnknownKey => "the access token was signed by an unknown key",
            InvalidToken::WrongIssuer => "the access token issuer is not accepted",
            InvalidToken::WrongAudience => "the access token audience is not accepted",
            InvalidToken::MissingClaim => "the access token lacks a required claim",
            InvalidToken::CriticalHeader => "the access token header has extensions this server does not understand",
            InvalidToken::Revoked => "the access token was revoked",
            InvalidToken::Unknown => "the access token is not known",
            InvalidToken::DpopBound => {
                "the access token is bound to a DPoP key: send it as Authorization: DPoP with a proof by that key"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No credentials at all: RFC 6750 §3.1 says no error code then.
    Missing,
    Invalid(InvalidToken),
    /// Space-separated scopes the route needs.
    InsufficientScope(Arc<str>),
    /// Keys or the store could not be reached: not the client's fault.
    Unavailable,
    /// A DPoP proof was refused (RFC 9449 §7.1 `invalid_dpop_proof`).
    DpopProof(crate::token::dpop::DpopError),
    /// The proof lacks a current server nonce (`use_dpop_nonce`, §9):
    /// the answer carries a fresh one in `DPoP-Nonce`.
    UseDpopNonce(Arc<str>),
    /// A valid token this route does not admit (`clients`, `claims`): 403.
    NotAllowed(&'static str),
    /// RFC 9470 step-up: the user must authenticate again, (more) strongly
    /// (`acr_values`) or recently (`max_age`, seconds): 401.
    StepUp {
        acr_values: Option<Arc<str>>,
        max_age: Option<u64>,
    },
}

impl AuthError {
    pub fn label(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Invalid(r) => r.label(),
            AuthError::InsufficientScope(_) => "insufficient_scope",
            AuthError::Unavailable => "unavailable",
            AuthError::DpopProof(_) => "invalid_dpop_proof",
            AuthError::UseDpopNonce(_) => "use_dpop_nonce",
            AuthError::NotAllowed(_) => "not_allowed",
            AuthError::StepUp { .. } => "insufficient_user_authentication",
        }
    }
}

#[derive(Debug)]
pub enum GatewayError {
    NoRoute,
    /// The request path was refused by the canonicaliser (gateway/path.rs).
    BadPath(&'static str),
    MethodNotAllowed(HeaderValue),
    Auth(AuthError),
    UpstreamUnavailable,
    UpstreamTimeout,
    /// Every target of the route's pool is unhealthy or ejected (503).
    NoHealthyUpstream,
    /// The request head is malformed (a bad or repeated Host, …): 400.
    BadRequest(&'static str),
    /// A transfer coding other than chunked (RFC 9112 §6.1): 501.
    UnsupportedTransferCoding,
    /// The request body is over the route's `max_body_bytes` (413).
    BodyTooLarge,
    /// The client paused too long while sending the body (408).
    BodyTimeout,
    /// Over the route's rate limit (429); seconds until a request is
    /// allowed again. The `RateLimit` fields come from the policy.
    RateLimited {
        retry_after: u64,
    },
    /// A CORS preflight the route's `cors` does not allow (403).
    CorsRefused(&'static str),
    /// Shared rate limits cannot reach their store and
    /// `rate_limit_fallback = "refuse"` (503).
    RateLimitUnavailable,
}

pub(crate) fn json_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description}).to_string();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn www_authenticate(error: Option<&str>, description: Option<&str>, scope: Option<&str>) -> HeaderValue {
    challenge("Bearer realm=\"gatehouse\"", error, description, scope)
}

/// RFC 9449 §7.1: the `DPoP` scheme's challenge names the accepted proof
/// algorithms.
pub fn dpop_challenge(error: Option<&str>, description: Option<&str>) -> HeaderValue {
    let head = format!("DPoP realm=\"gatehouse\", algs=\"{}\"", crate::token::dpop::ALGS_PARAM);
    challenge(&head, error, description, None)
}

fn challenge(head: &str, error: Option<&str>, description: Option<&str>, scope: Option<&str>) -> HeaderValue {
    let mut v = String::from(head);
    for (k, val) in [("error", error), ("error_description", description), ("scope", scope)] {
        if let Some(val) = val {
            v.push_str(", ");
            v.push_str(k);
            v.push_str("=\"");
            // Values are our own static texts or scope tokens (no quotes or
            // backslashes by RFC 6749 §3.3), so no escaping is needed.
            v.push_str(val);
            v.push('"');
        }
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"gatehouse\""))
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let (mut resp, header) = match &self {
            AuthError::Missing => (
                json_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_request",
                    "an access token is required",
                ),
                www_authenticate(None, None, None),
            ),
            AuthError::Invalid(r @ InvalidToken::DpopBound) => (
                json_error(StatusCode::UNAUTHORIZED, "invalid_token", r.description()),
                dpop_challenge(Some("invalid_token"), Some(r.description())),
            ),
            AuthError::Invalid(r) => (
                json_error(StatusCode::UNAUTHORIZED, "invalid_token", r.description()),
                www_authenticate(Some("invalid_token"), Some(r.description()), None),
            ),
            AuthError::DpopProof(e) => {
                let d = e.to_string();
                (
                    json_error(StatusCode::UNAUTHORIZED, "invalid_dpop_proof", &d),
                    dpop_challenge(Some("invalid_dpop_proof"), Some(&d)),
                )
            }
            AuthError::UseDpopNonce(nonce) => {
                let d = "a DPoP proof with the server's nonce is required";
                let mut r = json_error(StatusCode::UNAUTHORIZED, "use_dpop_nonce", d);
                if let Ok(v) = HeaderValue::from_str(nonce) {
                    r.headers_mut().insert(DPOP_NONCE, v);
                }
                (r, dpop_challenge(Some("use_dpop_nonce"), Some(d)))
            }
            AuthError::InsufficientScope(scope) => (
                json_error(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    "the access token lacks a required scope",
                ),
                www_authenticate(
                    Some("insufficient_scope"),
                    Some("the access token lacks a required scope"),
                    Some(scope),
                ),
            ),
            AuthError::NotAllowed(why) => (
                json_error(StatusCode::FORBIDDEN, "access_denied", why),
                www_authenticate(Some("insufficient_scope"), Some(why), None),
            ),
            AuthError::StepUp { acr_values, max_age } => {
                let d = "the user must authenticate again to use this API";
                let mut h = String::from("Bearer realm=\"gatehouse\", error=\"insufficient_user_authentication\"");
                h.push_str(", error_description=\"");
                h.push_str(d);
                h.push('"');
                // acr values are config text checked to be visible ASCII
                // without quotes or backslashes.
                if let Some(a) = acr_values {
                    h.push_str(", acr_values=\"");
                    h.push_str(a);
                    h.push('"');
                }
                if let Some(m) = max_age {
                    h.push_str(&format!(", max_age=\"{m}\""));
                }
                (
                    json_error(StatusCode::UNAUTHORIZED, "insufficient_user_authentication", d),
                    HeaderValue::from_str(&h)
                        .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"gatehouse\"")),
                )
            }
            AuthError::Unavailable => {
                let r = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "token verification is temporarily unavailable",
                );
                return r;
            }
        };
        resp.headers_mut().insert(WWW_AUTHENTICATE, header);
        resp
    }
}

impl GatewayError {
    /// The gRPC status a gRPC client should see for this refusal (gRPC's
    /// HTTP-to-status mapping, made explicit in `grpc-status`).
    pub fn grpc_status(&self) -> u8 {
        match self {
            GatewayError::Auth(
                AuthError::Missing
                | AuthError::Invalid(_)
                | AuthError::DpopProof(_)
                | AuthError::UseDpopNonce(_)
                | AuthError::StepUp { .. },
            ) => 16, // UNAUTHENTICATED
            GatewayError::Auth(AuthError::InsufficientScope(_) | AuthError::NotAllowed(_))
            | GatewayError::CorsRefused(_) => 7, // PERMISSION_DENIED
            GatewayError::RateLimited { .. } => 8, // RESOURCE_EXHAUSTED
            GatewayError::Auth(AuthError::Unavailable)
            | GatewayError::UpstreamUnavailable
            | GatewayError::RateLimitUnavailable
            | GatewayError::NoHealthyUpstream => 14, // UNAVAILABLE
            GatewayError::UpstreamTimeout => 4,    // DEADLINE_EXCEEDED
            GatewayError::NoRoute | GatewayError::MethodNotAllowed(_) => 12, // UNIMPLEMENTED
            GatewayError::BodyTooLarge => 8,       // RESOURCE_EXHAUSTED
            GatewayError::BodyTimeout => 4,
            GatewayError::BadPath(_) | GatewayError::BadRequest(_) => 3, // INVALID_ARGUMENT
            GatewayError::UnsupportedTransferCoding => 12,
        }
    }
}

impl GatewayError {
    /// What a gRPC client shows as the status message.
    pub fn grpc_message(&self) -> &'static str {
        match self {
            GatewayError::Auth(AuthError::Missing) => "an access token is required",
            GatewayError::Auth(AuthError::Invalid(r)) => r.description(),
            GatewayError::Auth(AuthError::DpopProof(_)) => "the DPoP proof is invalid",
            GatewayError::Auth(AuthError::UseDpopNonce(_)) => "a DPoP nonce from the server is required",
            GatewayError::Auth(AuthError::InsufficientScope(_)) => "the access token lacks a required scope",
            GatewayError::Auth(AuthError::NotAllowed(why)) => why,
            GatewayError::Auth(AuthError::StepUp { .. }) => "the user must authenticate again",
            GatewayError::RateLimited { .. } => "rate limit exceeded",
            GatewayError::CorsRefused(why) => why,
            GatewayError::Auth(AuthError::Unavailable) => "token validation is unavailable",
            GatewayError::NoRoute => "no API matches this path",
            GatewayError::MethodNotAllowed(_) => "this API does not accept the method",
            GatewayError::UpstreamUnavailable => "the upstream service is unavailable",
            GatewayError::UpstreamTimeout => "the upstream service did not answer in time",
            GatewayError::NoHealthyUpstream => "no target of this API's upstream pool is healthy",
            GatewayError::BodyTooLarge => "the request body is larger than this API accepts",
            GatewayError::BodyTimeout => "the client paused too long while sending the request body",
            GatewayError::BadPath(why) | GatewayError::BadRequest(why) => why,
            GatewayError::UnsupportedTransferCoding => "only the chunked transfer coding is supported",
            GatewayError::RateLimitUnavailable => "the shared rate-limit store is unavailable",
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        match self {
            GatewayError::NoRoute => json_error(StatusCode::NOT_FOUND, "not_found", "no API matches this path"),
            GatewayError::BadPath(why) => json_error(StatusCode::BAD_REQUEST, "invalid_request", why),
            GatewayError::MethodNotAllowed(allow) => {
                let mut r = json_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "this API does not accept the method",
                );
                r.headers_mut().insert(ALLOW, allow);
                r
            }
            GatewayError::Auth(a) => a.into_response(),
            GatewayError::UpstreamUnavailable => json_error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "the upstream service is unavailable",
            ),
            GatewayError::BodyTooLarge => json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                "the request body is larger than this API accepts",
            ),
            GatewayError::BodyTimeout => json_error(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the client paused too long while sending the request body",
            ),
            GatewayError::UpstreamTimeout => json_error(
                StatusCode::GATEWAY_TIMEOUT,
                "gateway_timeout",
                "the upstream service did not answer in time",
            ),
            GatewayError::NoHealthyUpstream => json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_healthy_upstream",
                "no target of this API's upstream pool is healthy",
            ),
            GatewayError::BadRequest(why) => json_error(StatusCode::BAD_REQUEST, "invalid_request", why),
            GatewayError::UnsupportedTransferCoding => json_error(
                StatusCode::NOT_IMPLEMENTED,
                "not_implemented",
                "only the chunked transfer coding is supported",
            ),
            GatewayError::RateLimited { retry_after } => {
                let mut r = json_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many requests: retry after the time in Retry-After",
                );
                r.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after));
                r
            }
            GatewayError::CorsRefused(why) => json_error(StatusCode::FORBIDDEN, "cors_not_allowed", why),
            GatewayError::RateLimitUnavailable => {
                let mut r = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "rate_limit_unavailable",
                    "the shared rate-limit store is unavailable",
                );
                r.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
        }
    }
}

/// RFC 6749 §5.2 error codes (and RFC 7009/7662 additions) of the
/// authorization server. The one place they become HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthError {
    InvalidRequest(String),
    /// Always 401 with a `WWW-Authenticate: Basic` challenge: RFC 6749
    /// §5.2 requires it when the client used Basic, and every 401 carries
    /// a challenge (RFC 9110 §15.5.2), also after `client_secret_post`.
    InvalidClient {
        description: &'static str,
    },
    /// The request body exceeded the endpoint's limit (413).
    BodyTooLarge,
    /// The client paused too long while sending the body (408).
    BodyTimeout,
    InvalidGrant(String),
    UnauthorizedClient(&'static str),
    UnsupportedGrantType,
    InvalidScope(String),
    UnsupportedTokenType,
    /// Throttled: `invalid_grant` plus Retry-After, so nothing is revealed
    /// about whether the password was right.
    Throttled {
        retry_after: u64,
    },
    /// Too many failed client authentications from this address or for
    /// this client: 429 `temporarily_unavailable` plus Retry-After, also
    /// for the right secret (RFC 6749 has no code of its own for it;
    /// `invalid_client` stays the answer to a wrong secret).
    ClientThrottled {
        retry_after: u64,
    },
    AccessDenied(&'static str),
    /// RFC 8628 §3.5: the user has not decided yet; poll again.
    AuthorizationPending,
    /// RFC 8628 §3.5: polled too fast; wait `interval` seconds (raised).
    SlowDown {
        interval: i64,
    },
    /// RFC 8628 §3.5: the device code expired; start again.
    ExpiredToken,
    /// RFC 8693 §2.2.2 and RFC 8707 §2: an `audience` or `resource` this
    /// client may not have, or (RFC 8707) not an absolute URI.
    InvalidTarget(String),
    /// The store or a key failed: nothing about it goes to the client.
    ServerError,
    TemporarilyUnavailable,
    /// RFC 9449 §5: the token request's DPoP proof was refused.
    InvalidDpopProof(String),
    /// RFC 9449 §8: retry with the nonce in the answer's `DPoP-Nonce`.
    UseDpopNonce {
        nonce: String,
    },
    /// RFC 9101 §6.3: the request object was refused.
    InvalidRequestObject(String),
    /// RFC 9126 §2.3: a pushed authorization request refused with the code
    /// the authorization endpoint would have sent to the redirect URI
    /// (`invalid_scope`, `unauthorized_client`, `invalid_target`, …).
    AuthorizationRequest {
        error: &'static str,
        description: String,
    },
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) | OAuthError::BodyTooLarge | OAuthError::BodyTimeout => "invalid_request",
            OAuthError::InvalidClient { .. } => "invalid_client",
            OAuthError::InvalidGrant(_) | OAuthError::Throttled { .. } => "invalid_grant",
            OAuthError::UnauthorizedClient(_) => "unauthorized_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::UnsupportedTokenType => "unsupported_token_type",
            OAuthError::AccessDenied(_) => "access_denied",
            OAuthError::AuthorizationPending => "authorization_pending",
            OAuthError::SlowDown { .. } => "slow_down",
            OAuthError::ExpiredToken => "expired_token",
            OAuthError::InvalidTarget(_) => "invalid_target",
            OAuthError::ServerError => "server_error",
            OAuthError::TemporarilyUnavailable | OAuthError::ClientThrottled { .. } => "temporarily_unavailable",
            OAuthError::InvalidDpopProof(_) => "invalid_dpop_proof",
            OAuthError::UseDpopNonce { .. } => "use_dpop_nonce",
            OAuthError::InvalidRequestObject(_) => "invalid_request_object",
            OAuthError::AuthorizationRequest { error, .. } => error,
        }
    }

    pub fn description(&self) -> &str {
        match self {
            OAuthError::InvalidRequest(d)
            | OAuthError::InvalidGrant(d)
            | OAuthError::InvalidScope(d)
            | OAuthError::InvalidTarget(d)
            | OAuthError::InvalidDpopProof(d)
            | OAuthError::InvalidRequestObject(d)
            | OAuthError::AuthorizationRequest { description: d, .. } => d,
            OAuthError::AuthorizationPending => "the user has not yet approved or denied the request",
            OAuthError::SlowDown { .. } => "polling too fast: wait the interval (now raised by 5 s) between requests",
            OAuthError::ExpiredToken => "the device code expired; start a new device authorization",
            OAuthError::UseDpopNonce { .. } => "the authorization server requires a nonce in the DPoP proof",
            OAuthError::InvalidClient { description, .. } => description,
            OAuthError::UnauthorizedClient(d) | OAuthError::AccessDenied(d) => d,
            OAuthError::UnsupportedGrantType => "the grant type is not supported",
            OAuthError::BodyTooLarge => "the request body is too large",
            OAuthError::BodyTimeout => "the client paused too long while sending the request body",
            OAuthError::UnsupportedTokenType => "the token type is not supported",
            OAuthError::Throttled { .. } => "too many failed attempts; try again later",
            OAuthError::ClientThrottled { .. } => {
                "too many failed client authentications; try again after the Retry-After delay"
            }
            OAuthError::ServerError => "the server could not complete the request",
            OAuthError::TemporarilyUnavailable => "the server is temporarily unavailable",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            OAuthError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            OAuthError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            OAuthError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            OAuthError::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            OAuthError::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::ClientThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        OAuthError::TemporarilyUnavailable
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut r = match &self {
            // The raised interval too, so a client need not count (RFC 8628
            // §3.5 has it add 5 s itself; an extra member is ignored).
            OAuthError::SlowDown { interval } => {
                let body = serde_json::json!({"error": self.code(), "error_description": self.description(), "interval": interval});
                let mut r = json_error(self.status(), self.code(), self.description());
                *r.body_mut() = Body::from(body.to_string());
                r
            }
            _ => json_error(self.status(), self.code(), self.description()),
        };
        r.headers_mut()
            .insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
        match &self {
            OAuthError::InvalidClient { .. } => {
                r.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"gatehouse\", charset=\"UTF-8\""),
                );
            }
            OAuthError::Throttled { retry_after } | OAuthError::ClientThrottled { retry_after } => {
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            OAuthError::UseDpopNonce { nonce } => {
                if let Ok(v) = HeaderValue::from_str(nonce) {
                    r.headers_mut().insert(DPOP_NONCE, v);
                }
            }
            _ => {}
        }
        r
    }
}

/// Why metadata was refused, with RFC 7591 §3.2.2's codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("{0}")]
    RedirectUri(String),
    #[error("{0}")]
    Metadata(String),
}

impl MetadataError {
    pub fn code(&self) -> &'static str {
        match self {
            MetadataError::RedirectUri(_) => "invalid_redirect_uri",
            MetadataError::Metadata(_) => "invalid_client_metadata",
        }
    }
}

/// The JSON body of an `AdminError` (for the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable code: unauthorized, too_many_attempts, not_found, conflict,
    /// invalid_request, invalid_redirect_uri, invalid_client_metadata,
    /// temporarily_unavailable, server_error.
    pub error: String,
    pub error_description: String,
}

/// Errors of the admin API and of dynamic client registration: JSON with
/// a stable `error` code and an `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// 401 with a challenge (`Basic` for the admin API, `Bearer` for
    /// registration, RFC 6750 §3.1).
    #[error("{description}")]
    Unauthorized {
        code: &'static str,
        description: &'static str,
        challenge: &'static str,
    },
    #[error("too many failed sign-in attempts; try again later")]
    Throttled { retry_after: u64 },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("{0}")]
    BadRequest(String),
    #[error("the store is temporarily unavailable")]
    Unavailable,
    #[error("the server could not complete the request")]
    Server,
}

impl AdminError {
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::Unauthorized { code, .. } => code,
            AdminError::Throttled { .. } => "too_many_attempts",
            AdminError::NotFound(_) => "not_found",
            AdminError::Conflict(_) => "conflict",
            AdminError::Metadata(m) => m.code(),
            AdminError::BadRequest(_) => "invalid_request",
            AdminError::Unavailable => "temporarily_unavailable",
            AdminError::Server => "server_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            AdminError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::Metadata(_) | AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Server => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::store::StoreError> for AdminError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store error");
        match e {
            crate::store::StoreError::Conflict(m) => AdminError::Conflict(m),
            _ => AdminError::Unavailable,
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let mut r = json_error(self.status(), self.code(), &self.to_string());
        match &self {
            AdminError::Unauthorized { challenge, .. } => {
                r.headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
            AdminError::Throttled { retry_after } => {
                r.headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        r
    }
}
