//! Form-encoded OAuth requests (RFC 6749 §3.2): bounded size, each
//! parameter at most once, empty values treated as absent (§3.1).

use crate::error::OAuthError;
use axum::body::Body;
use http::header::CONTENT_TYPE;
use http::HeaderMap;
use http_body_util::BodyExt;

const MAX_FORM_BYTES: usize = 64 * 1024;
/// The token endpoint's bound: a SAML assertion may be 256 KiB, and an
/// oversized one (up to this) still gets a clear `invalid_grant` instead
/// of a bare 413.
pub const MAX_TOKEN_FORM_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub fn parse(bytes: &[u8]) -> Result<Form, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(bytes) {
            if pairs.iter().any(|(pk, _)| *pk == k) {
                return Err(OAuthError::InvalidRequest(format!("parameter {k:?} is repeated")));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Form { pairs })
    }

    /// Reads a POST body; it must be `application/x-www-form-urlencoded`.
    pub async fn read(headers: &HeaderMap, body: Body) -> Result<Form, OAuthError> {
        Self::read_limited(headers, body, MAX_FORM_BYTES).await
    }

    /// [`Form::read`] with another size bound.
    pub async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Form, OAuthError> {
        let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::InvalidRequest(
                "the request body must be application/x-www-form-urlencoded".into(),
            ));
        }
        let limited = http_body_util::Limited::new(body, limit);
        let bytes = limited
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    OAuthError::BodyTooLarge
                } else if crate::net::is_body_timeout(&*e) {
                    OAuthError::BodyTimeout
                } else {
                    OAuthError::InvalidRequest("the request body could not be read".into())
                }
            })?
            .to_bytes();
        Self::parse(&bytes)
    }

    /// A browser endpoint's parameters: the query of a GET, the body of a
    /// POST (authorize and logout accept both).
    pub async fn of_request(
        method: &http::Method,
        uri: &http::Uri,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Form, OAuthError> {
        if method == http::Method::POST {
            Self::read(headers, body).await
        } else {
            Self::parse(uri.query().unwrap_or("").as_bytes())
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn require(&self, key: &str) -> Result<&str, OAuthError> {
        self.get(key)
            .ok_or_else(|| OAuthError::InvalidRequest(format!("missing parameter {key:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_are_absent() {
        assert!(matches!(Form::parse(b"a=1&a=2"), Err(OAuthError::InvalidRequest(_))));
        let f = Form::parse(b"grant_type=password&scope=&x=a%20b").unwrap();
        assert_eq!(f.get("grant_type"), Some("password"));
        assert_eq!(f.get("scope"), None);
        assert_eq!(f.get("x"), Some("a b"));
        assert!(f.require("username").is_err());
    }
}
