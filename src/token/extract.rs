//! Where a bearer token is found: a header (RFC 6750 §2.1, plus the Tencent
//! `Bearer id_token="…"` form), a query parameter, or a cookie.

use crate::config::TokenLocation;
use cookie::Cookie;
use http::header::{AUTHORIZATION, COOKIE};
use http::request::Parts;
use std::borrow::Cow;

pub enum Found<'a> {
    None,
    /// Something was there but it is not a bearer token.
    Unusable,
    Token(Cow<'a, str>),
}

pub fn token<'a>(parts: &'a Parts, location: &TokenLocation) -> Found<'a> {
    match location {
        TokenLocation::Header(name) => {
            let Some(v) = parts.headers.get(name) else {
                return Found::None;
            };
            let Ok(v) = v.to_str() else {
                return Found::Unusable;
            };
            if name == AUTHORIZATION {
                // `DPoP <token>` too (RFC 9449 §7.1): the auth policy then
                // demands the token be bound and the proof be good.
                match bearer(v).or_else(|| crate::token::dpop::scheme_token(v)) {
                    Some(t) => Found::Token(Cow::Borrowed(t)),
                    None => Found::Unusable,
                }
            } else {
                // A custom header may carry the bare token or a Bearer value.
                let t = bearer(v).unwrap_or(v.trim());
                if t.is_empty() {
                    Found::Unusable
                } else {
                    Found::Token(Cow::Borrowed(t))
                }
            }
        }
        TokenLocation::Query(param) => {
            let Some(q) = parts.uri.query() else {
                return Found::None;
            };
            match form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == param) {
                Some((_, v)) if !v.is_empty() => Found::Token(v),
                Some(_) => Found::Unusable,
                None => Found::None,
            }
        }
        TokenLocation::Cookie(name) => match cookie(&parts.headers, name) {
            None => Found::None,
            Some("") => Found::Unusable,
            Some(v) => Found::Token(Cow::Borrowed(v)),
        },
    }
}

/// The first cookie named `name` in the request's `Cookie` headers; pairs
/// that do not parse are skipped, as browsers send what scripts set.
pub fn find_cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<Cookie<'a>> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
}

/// The value of the first cookie named `name`, without the DQUOTEs that
/// RFC 6265 §4.1.1 allows around it (what `Cookie::value_trimmed` drops,
/// borrowed from the header rather than from the parsed cookie).
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    let raw = find_cookie(headers, name)?.value_raw()?;
    Some(raw.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(raw))
}

/// `Bearer <token>` or `Bearer id_token="<token>"`; scheme is case-insensitive.
pub fn bearer(v: &str) -> Option<&str> {
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let rest = rest.trim();
    let t = match rest.strip_prefix("id_token=") {
        Some(q) => q.strip_prefix('"')?.strip_suffix('"')?,
        None => rest,
    };
    (!t.is_empty() && !t.contains(char::is_whitespace)).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_forms() {
        assert_eq!(bearer("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("Bearer id_token=\"abc.def\""), Some("abc.def"));
        assert_eq!(bearer("Bearer id_token=abc"), None);
        assert_eq!(bearer("Basic Zm9vOmJhcg=="), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer a b"), None);
    }

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn query_and_cookie() {
        let p = parts(
            "/x?a=1&access_token=tok%2E1",
            &[("cookie", "a=b; session=s1; access_token=c1")],
        );
        assert!(matches!(token(&p, &TokenLocation::Query("access_token".into())), Found::Token(t) if t == "tok.1"));
        assert!(matches!(token(&p, &TokenLocation::Cookie("access_token".into())), Found::Token(t) if t == "c1"));
        assert!(matches!(token(&p, &TokenLocation::Cookie("nope".into())), Found::None));
    }

    #[test]
    fn cookie_values_lose_their_quotes_and_bad_pairs_are_skipped() {
        let p = parts(
            "/x",
            &[
                ("cookie", "junk; access_token=\"c1\""),
                ("cookie", "other=1;;  lone=\"x; access_token=c2"),
            ],
        );
        let h = &p.headers;
        assert_eq!(cookie(h, "access_token"), Some("c1"), "first header, quotes dropped");
        assert_eq!(cookie(h, "other"), Some("1"));
        assert_eq!(cookie(h, "lone"), Some("\"x"), "an unbalanced quote stays");
        assert_eq!(cookie(h, "junk"), None, "a pair without '=' names no cookie");
    }

    #[test]
    fn authorization_takes_the_dpop_scheme_too() {
        let p = parts("/x", &[("authorization", "DPoP abc.def.ghi")]);
        assert!(matches!(token(&p, &TokenLocation::Header(AUTHORIZATION)), Found::Token(t) if t == "abc.def.ghi"));
        let p = parts("/x", &[("authorization", "Basic Zm9vOmJhcg==")]);
        assert!(matches!(
            token(&p, &TokenLocation::Header(AUTHORIZATION)),
            Found::Unusable
        ));
    }
}
