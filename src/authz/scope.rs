//! Scope handling (RFC 6749 §3.3): space-delimited, order-free sets.

use crate::error::OAuthError;

pub fn split(scope: &str) -> Vec<String> {
    let mut v: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
    v.sort();
    v.dedup();
    v
}

pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// The scopes to grant: what was asked, which must all be allowed; or, when
/// nothing was asked, everything allowed (the client's registered scopes).
pub fn grant(requested: Option<&str>, allowed: &[String]) -> Result<Vec<String>, OAuthError> {
    match requested {
        None => Ok(split(&allowed.join(" "))),
        Some(r) => {
            if r.chars().any(|c| c == '"' || c == '\\' || c.is_control() && c != ' ') {
                return Err(OAuthError::InvalidScope("the scope contains invalid characters".into()));
            }
            let asked = split(r);
            if let Some(bad) = asked.iter().find(|s| !allowed.contains(s)) {
                return Err(OAuthError::InvalidScope(format!(
                    "scope {bad:?} is not allowed for this client"
                )));
            }
            Ok(asked)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_defaults_to_allowed_and_refuses_extras() {
        let allowed = vec!["photos".to_string(), "profile".to_string()];
        assert_eq!(grant(None, &allowed).unwrap(), allowed);
        assert_eq!(
            grant(Some("photos photos"), &allowed).unwrap(),
            vec!["photos".to_string()]
        );
        assert!(matches!(
            grant(Some("photos admin"), &allowed),
            Err(OAuthError::InvalidScope(_))
        ));
    }
}
