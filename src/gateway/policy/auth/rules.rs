//! What an accepted token must also satisfy on a route: `clients` and
//! `claims` allowlists (403, RFC 6750 `insufficient_scope` challenge) and
//! RFC 9470 step-up, `acr_values` and `max_age` (401
//! `insufficient_user_authentication`, the parameters in the challenge, so
//! the client knows what to ask the authorization server for).

use crate::config::AuthRules;
use crate::error::{AuthError, InvalidToken};
use crate::token::{now_secs, Verified};
use serde_json::Value;
use std::sync::Arc;

pub struct Rules {
    rules: AuthRules,
    acr_text: Option<Arc<str>>,
}

impl Rules {
    /// None when the route has no rules (the common case costs nothing).
    pub fn new(rules: &AuthRules) -> Option<Rules> {
        if rules.is_empty() {
            return None;
        }
        Some(Rules {
            acr_text: (!rules.acr_values.is_empty()).then(|| rules.acr_values.join(" ").into()),
            rules: rules.clone(),
        })
    }

    pub fn check(&self, v: &Verified) -> Result<(), AuthError> {
        let r = &self.rules;
        if !r.audience.is_empty() && !claim_holds(v.claims.get("aud"), &r.audience) {
            return Err(AuthError::Invalid(InvalidToken::WrongAudience));
        }
        if !r.clients.is_empty() {
            let client = v.claim_str("client_id").or_else(|| v.claim_str("azp"));
            if !client.is_some_and(|c| r.clients.iter().any(|x| x == c)) {
                return Err(AuthError::NotAllowed("this client may not use this API"));
            }
        }
        for (name, wanted) in &r.claims {
            if !claim_holds(v.claims.get(name), wanted) {
                return Err(AuthError::NotAllowed(
                    "the access token lacks a claim value this API requires",
                ));
            }
        }
        let step_up = || AuthError::StepUp {
            acr_values: self.acr_text.clone(),
            max_age: r.max_age.map(|d| d.as_secs()),
        };
        if !r.acr_values.is_empty() {
            let acr = v.claim_str("acr");
            if !acr.is_some_and(|a| r.acr_values.iter().any(|x| x == a)) {
                return Err(step_up());
            }
        }
        if let Some(max) = r.max_age {
            let fresh = v
                .claims
                .get("auth_time")
                .and_then(Value::as_u64)
                .is_some_and(|t| now_secs().saturating_sub(t) <= max.as_secs());
            if !fresh {
                return Err(step_up());
            }
        }
        Ok(())
    }
}

/// A string claim equal to one of `wanted`, an array claim holding one of
/// them, a number or boolean whose JSON text is one of them. Objects never.
fn claim_holds(c: Option<&Value>, wanted: &[String]) -> bool {
    let one = |v: &Value| match v {
        Value::String(s) => wanted.iter().any(|w| w == s),
        Value::Number(_) | Value::Bool(_) => {
            let t = v.to_string();
            wanted.contains(&t)
        }
        _ => false,
    };
    match c {
        Some(Value::Array(items)) => items.iter().any(one),
        Some(v) => one(v),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(claims: Value) -> Verified {
        Verified {
            exp: u64::MAX,
            claims: claims.as_object().unwrap().clone(),
            scopes: vec![],
            forward: vec![],
        }
    }

    #[test]
    fn allowlists_and_step_up() {
        let rules = AuthRules {
            audience: vec![],
            clients: vec!["printer".into()],
            claims: vec![
                ("groups".into(), vec!["admins".into()]),
                ("tier".into(), vec!["2".into()]),
            ],
            acr_values: vec!["urn:mfa".into()],
            max_age: Some(std::time::Duration::from_secs(300)),
        };
        let r = Rules::new(&rules).unwrap();
        let now = now_secs();
        let good = json!({"client_id": "printer", "groups": ["x", "admins"], "tier": 2, "acr": "urn:mfa", "auth_time": now - 10});
        assert_eq!(r.check(&token(good.clone())), Ok(()));
        let with = |k: &str, v: Value| {
            let mut t = good.clone();
            t[k] = v;
            r.check(&token(t))
        };
        assert!(matches!(
            with("client_id", json!("scanner")),
            Err(AuthError::NotAllowed(_))
        ));
        assert!(matches!(
            with("groups", json!({"admins": true})),
            Err(AuthError::NotAllowed(_))
        ));
        assert!(matches!(with("groups", json!("admins")), Ok(())));
        assert!(matches!(with("tier", json!("3")), Err(AuthError::NotAllowed(_))));
        match with("acr", json!("urn:pwd")) {
            Err(AuthError::StepUp { acr_values, max_age }) => {
                assert_eq!(acr_values.as_deref(), Some("urn:mfa"));
                assert_eq!(max_age, Some(300));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            with("auth_time", json!(now - 301)),
            Err(AuthError::StepUp { .. })
        ));
        assert!(matches!(
            with("auth_time", json!("soon")),
            Err(AuthError::StepUp { .. })
        ));
        assert!(Rules::new(&AuthRules::default()).is_none());
    }
}
