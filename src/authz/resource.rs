//! Resource indicators (RFC 8707): a client names the resource servers a
//! token is for with `resource` parameters (at authorize and at the token
//! endpoint), and they become the access token's `aud`. A client may name
//! the entries of its `audience` list and nothing else; anything else is
//! `invalid_target`, so a token can never be minted for a resource server
//! the operator did not give the client.

use super::form::Form;
use crate::error::OAuthError;
use crate::store::Client;

/// Most `resource` values one request may carry.
pub const MAX_RESOURCES: usize = 10;

/// The request's `resource` values, checked: None when it names none.
pub fn requested(form: &Form, client: &Client) -> Result<Option<Vec<String>>, OAuthError> {
    check(form.get_all("resource"), client)
}

/// Checks resource values: absolute URIs without a fragment (§2), each in
/// the client's `audience`; duplicates collapse.
pub fn check<'a>(values: impl Iterator<Item = &'a str>, client: &Client) -> Result<Option<Vec<String>>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for r in values {
        if out.len() == MAX_RESOURCES {
            return Err(OAuthError::InvalidTarget(format!(
                "at most {MAX_RESOURCES} resource parameters"
            )));
        }
        let absolute = url::Url::parse(r).is_ok_and(|u| u.fragment().is_none());
        if !absolute {
            return Err(OAuthError::InvalidTarget(format!(
                "resource {r:?} is not an absolute URI without a fragment"
            )));
        }
        if !client.audience.iter().any(|a| a == r) {
            return Err(OAuthError::InvalidTarget(format!(
                "resource {r:?} is not one this client may ask for (its audience list)"
            )));
        }
        if !out.iter().any(|o| o == r) {
            out.push(r.to_string());
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// A later request's resources (token request for a code, refresh) may
/// only narrow what the grant was for (§2.2).
pub fn narrow(asked: Option<Vec<String>>, granted: &[String]) -> Result<Vec<String>, OAuthError> {
    match asked {
        None => Ok(granted.to_vec()),
        Some(asked) => match asked.iter().find(|a| !granted.contains(a)) {
            Some(a) => Err(OAuthError::InvalidTarget(format!(
                "resource {a:?} was not part of the original grant"
            ))),
            None => Ok(asked),
        },
    }
}
