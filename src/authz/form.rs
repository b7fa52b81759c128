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

/// Most parameters one OAuth request may carry. The richest requests
/// (authorize with PKCE, OIDC and RFC 9126/9101/8707 parameters, a token
/// request with assertions and DPoP) stay under 40; a bound keeps the cost
/// of a hostile body with 200,000 parameters to one short scan.
pub const MAX_FORM_PARAMS: usize = 100;

/// Parameters a request may repeat: RFC 8693 §2.1 and RFC 8707 §2 name
/// several targets with several `audience` / `resource` parameters. Every
/// other parameter appears at most once (RFC 6749 §3.1).
pub const REPEATABLE: [&str; 2] = ["audience", "resource"];

#[derive(Debug, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Linear in the input: the pair count is bounded before anything is
    /// decoded past it, and repeats are found with a set, not by scanning
    /// every earlier pair (which made 100,000 parameters cost 15 s of CPU).
    /// The usual request has two to five parameters: those are checked
    /// against each other directly, and a set (hashing every name) is
    /// built only past `SMALL_FORM`.
    pub fn parse(bytes: &[u8]) -> Result<Form, OAuthError> {
        Self::from_pairs(form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())))
    }

    /// Parameters from elsewhere (a pushed request, a request object),
    /// under the same rules as a parsed form.
    pub fn from_pairs(input: impl IntoIterator<Item = (String, String)>) -> Result<Form, OAuthError> {
        const SMALL_FORM: usize = 8;
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(4);
        let mut seen: Option<std::collections::HashSet<String>> = None;
        for (k, v) in input {
            if pairs.len() == MAX_FORM_PARAMS {
                return Err(OAuthError::InvalidRequest(format!(
                    "too many parameters (at most {MAX_FORM_PARAMS})"
                )));
            }
            let repeated = match &mut seen {
                Some(set) => !set.insert(k.clone()),
                None if pairs.len() < SMALL_FORM => pairs.iter().any(|(p, _)| *p == k),
                None => {
                    let mut set: std::collections::HashSet<String> = pairs.iter().map(|(p, _)| p.clone()).collect();
                    let repeated = !set.insert(k.clone());
                    seen = Some(set);
                    repeated
                }
            };
            if repeated && !REPEATABLE.contains(&k.as_str()) {
                return Err(OAuthError::InvalidRequest(format!("parameter {k:?} is repeated")));
            }
            pairs.push((k, v));
        }
        Ok(Form { pairs })
    }

    /// Every parameter, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
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

    /// Every non-empty value of a repeatable parameter, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, v)| k == key && !v.is_empty())
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
        let f = Form::parse(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").unwrap();
        assert_eq!(f.get_all("resource").collect::<Vec<_>>(), ["https://a", "https://b"]);
        let f = Form::parse(b"audience=a&resource=https%3A%2F%2Fr&audience=b&audience=").unwrap();
        assert_eq!(f.get_all("audience").collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn repeats_are_found_in_small_and_large_forms() {
        for n in [1, 7, 8, 9, 20, 99] {
            let mut names: Vec<String> = (0..n).map(|i| format!("p{i}=v")).collect();
            assert!(Form::parse(names.join("&").as_bytes()).is_ok(), "{n} distinct");
            for repeat in [0, n - 1] {
                names.push(format!("p{repeat}=again"));
                let e = Form::parse(names.join("&").as_bytes());
                assert!(
                    matches!(e, Err(OAuthError::InvalidRequest(m)) if m.contains("repeated")),
                    "{n}: p{repeat}"
                );
                names.pop();
            }
        }
    }

    #[test]
    fn parameter_count_is_bounded_and_parsing_is_linear() {
        let ok: Vec<String> = (0..MAX_FORM_PARAMS).map(|i| format!("p{i}=v")).collect();
        assert!(Form::parse(ok.join("&").as_bytes()).is_ok());
        let over: Vec<String> = (0..=MAX_FORM_PARAMS).map(|i| format!("p{i}=v")).collect();
        assert!(
            matches!(Form::parse(over.join("&").as_bytes()), Err(OAuthError::InvalidRequest(m)) if m.contains("too many"))
        );
        // 200,000 distinct parameters: refused after the first hundred.
        let huge: Vec<String> = (0..200_000).map(|i| format!("p{i}=v")).collect();
        let t = std::time::Instant::now();
        assert!(Form::parse(huge.join("&").as_bytes()).is_err());
        assert!(t.elapsed() < std::time::Duration::from_millis(200), "{:?}", t.elapsed());
    }
}
