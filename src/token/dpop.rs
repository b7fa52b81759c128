//! DPoP proofs (RFC 9449): the verifier the token endpoint, userinfo and
//! the gateway share, and the server nonces they hand out.
//!
//! A proof is a JWT the client signs with a key of its own and sends in the
//! `DPoP` header; its public key rides in the header (`jwk`). What makes it
//! a proof of *this* request at *this* time: `htm` and `htu` name the
//! method and URL, `iat` is recent, `jti` is never seen twice (the caller
//! records it in the store, see `replay_id`), `ath` is the hash of the
//! access token it accompanies, and `nonce` is one the server handed out
//! recently. Tokens issued with a proof carry `cnf.jkt`, the key's RFC 7638
//! thumbprint, and are only accepted together with a proof by that key.

use crate::keys::jwk::thumbprint;
use crate::keys::PublicJwk;
use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Asymmetric algorithms a proof may use (§4.2: never `none` or a MAC);
/// listed in discovery as `dpop_signing_alg_values_supported` and in the
/// `algs` of `WWW-Authenticate: DPoP` challenges.
pub const ALGS: [&str; 9] = [
    "ES256", "ES384", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512",
];

/// The `algs` challenge parameter: the same list, space-separated.
pub const ALGS_PARAM: &str = "ES256 ES384 EdDSA PS256 PS384 PS512 RS256 RS384 RS512";

/// A proof this old (by `iat`) is refused: long enough for a loaded
/// client and clock skew, short enough that the replay records stay few.
pub const MAX_AGE_SECS: i64 = 300;
/// How far `iat` may lie in the future (clock skew).
pub const MAX_SKEW_SECS: i64 = 60;
/// Proofs larger than this are refused before any parsing (an RSA-4096
/// proof with every claim is under 2 KiB).
pub const MAX_PROOF_BYTES: usize = 8192;
/// Longest accepted `jti` (it is hashed for the replay record anyway).
const MAX_JTI_LEN: usize = 256;
/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_BYTES: usize = 256;

/// Why a proof was refused; each becomes `invalid_dpop_proof` with this
/// description (or `use_dpop_nonce` for the nonce cases).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    #[error("the DPoP proof is not a compact JWT")]
    Malformed,
    #[error("the DPoP proof is too large")]
    TooLarge,
    #[error("more than one DPoP header")]
    Multiple,
    #[error("the DPoP proof's typ must be \"dpop+jwt\"")]
    Typ,
    #[error("the DPoP proof's alg is not an accepted asymmetric algorithm")]
    Alg,
    #[error("the DPoP proof's jwk is missing or not a usable public key: {0}")]
    Jwk(String),
    #[error("the DPoP proof's signature does not verify with its jwk")]
    Signature,
    #[error("the DPoP proof lacks the claim {0}")]
    MissingClaim(&'static str),
    #[error("the DPoP proof's htm does not match the request method")]
    Htm,
    #[error("the DPoP proof's htu does not match the request URL")]
    Htu,
    #[error("the DPoP proof's iat is too old or in the future")]
    Iat,
    #[error("the DPoP proof's ath does not match the access token")]
    Ath,
    #[error("the DPoP proof's jti was used before")]
    Replay,
    #[error("the DPoP proof is signed by another key than the token is bound to")]
    WrongKey,
    #[error("a DPoP nonce is required")]
    NonceRequired,
    #[error("the DPoP nonce is not current")]
    NonceStale,
    #[error("the DPoP-bound access token came without a DPoP proof")]
    Missing,
}

impl DpopError {
    /// True for the refusals a client mends by retrying with the nonce of
    /// the `DPoP-Nonce` header (`use_dpop_nonce`, §8).
    pub fn wants_nonce(&self) -> bool {
        matches!(self, DpopError::NonceRequired | DpopError::NonceStale)
    }
}

/// A proof that verified: what the caller still has to check or record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof's key (`cnf.jkt`).
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    pub nonce: Option<String>,
}

impl Proof {
    /// The single-use id recorded in the store (fixed length whatever the
    /// `jti`, and per key, so clients cannot collide with each other).
    pub fn replay_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.jkt.as_bytes());
        h.update(b"\0");
        h.update(self.jti.as_bytes());
        format!("dpop:{}", hex(&h.finalize()))
    }

    /// When the replay record may go: no proof with this `iat` is accepted
    /// after it.
    pub fn replay_until(&self) -> i64 {
        self.iat.saturating_add(MAX_AGE_SECS + MAX_SKEW_SECS)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What the proof must match.
pub struct Expect<'a> {
    /// The request method (`htm`).
    pub method: &'a str,
    /// The request URL as the client addressed it (`htu`); compared after
    /// RFC 9449 §4.3 normalisation, without query and fragment.
    pub url: &'a str,
    /// The access token the proof accompanies (`ath` required), if any.
    pub access_token: Option<&'a str>,
    pub now: i64,
}

/// The one `DPoP` header of a request: None when absent, an error when
/// repeated or not text.
pub fn header(headers: &http::HeaderMap) -> Result<Option<&str>, DpopError> {
    let mut it = headers.get_all("dpop").iter();
    let Some(first) = it.next() else { return Ok(None) };
    if it.next().is_some() {
        return Err(DpopError::Multiple);
    }
    first.to_str().map(Some).map_err(|_| DpopError::Malformed)
}

/// The token of an `Authorization: DPoP <token>` header value (RFC 9449
/// §7.1); None for another scheme.
pub fn scheme_token(v: &str) -> Option<&str> {
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("dpop") {
        return None;
    }
    let t = rest.trim();
    (!t.is_empty() && !t.contains(char::is_whitespace)).then_some(t)
}

/// base64url(SHA-256(access token)): the `ath` a proof must carry.
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// RFC 9449 §4.3 / RFC 3986 §6 normalisation of an `htu` or request URL:
/// scheme and host lowercased, default port dropped, dot segments
/// resolved, query and fragment removed. None when not an absolute
/// http(s) URL.
pub fn normalise_htu(u: &str) -> Option<String> {
    let mut url = url::Url::parse(u).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// Verifies a proof's form, signature and claims against the request.
/// The caller then checks the nonce (`Nonces::check`), records the `jti`
/// (`Proof::replay_id`) and, for a bound token, compares `jkt`.
pub fn verify(proof: &str, expect: &Expect<'_>) -> Result<Proof, DpopError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(DpopError::TooLarge);
    }
    let mut parts = proof.split('.');
    let (Some(h64), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(DpopError::Malformed);
    };
    let header_bytes = URL_SAFE_NO_PAD.decode(h64).map_err(|_| DpopError::Malformed)?;
    let header: Value = serde_json::from_slice(&header_bytes).map_err(|_| DpopError::Malformed)?;
    let header = header.as_object().ok_or(DpopError::Malformed)?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(DpopError::Typ);
    }
    let alg_name = header.get("alg").and_then(Value::as_str).ok_or(DpopError::Alg)?;
    if !ALGS.contains(&alg_name) {
        return Err(DpopError::Alg);
    }
    let alg: Algorithm = alg_name.parse().map_err(|_| DpopError::Alg)?;
    let jwk = header
        .get("jwk")
        .ok_or_else(|| DpopError::Jwk("no jwk in the header".into()))?;
    let mut jwk_with_alg = jwk.clone();
    match jwk_with_alg.as_object_mut() {
        Some(o) => match o.get("alg").and_then(Value::as_str) {
            Some(a) if a != alg_name => return Err(DpopError::Jwk(format!("the jwk is for {a}, not {alg_name}"))),
            _ => {
                o.insert("alg".into(), Value::from(alg_name));
            }
        },
        None => return Err(DpopError::Jwk("not a JSON object".into())),
    }
    // Refuses private and symmetric keys and keys that do not fit `alg`.
    let key = PublicJwk::from_value(&jwk_with_alg).map_err(DpopError::Jwk)?;
    if jwk.get("kty").and_then(Value::as_str) == Some("RSA") {
        let n = jwk.get("n").and_then(Value::as_str).unwrap_or("");
        let bytes = URL_SAFE_NO_PAD
            .decode(n)
            .map_err(|_| DpopError::Jwk("bad RSA modulus".into()))?;
        let significant = bytes.iter().skip_while(|b| **b == 0).count();
        if significant < MIN_RSA_BYTES {
            return Err(DpopError::Jwk("RSA keys must have at least 2048 bits".into()));
        }
    }
    let jkt = thumbprint(jwk).ok_or_else(|| DpopError::Jwk("no thumbprint".into()))?;

    let mut v = Validation::new(alg);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    let claims = jsonwebtoken::decode::<Value>(proof, &key.key, &v)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => DpopError::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => DpopError::Alg,
            _ => DpopError::Malformed,
        })?
        .claims;
    let claims = claims.as_object().ok_or(DpopError::Malformed)?;
    let text = |k: &'static str| claims.get(k).and_then(Value::as_str).ok_or(DpopError::MissingClaim(k));

    let jti = text("jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(DpopError::MissingClaim("jti"));
    }
    if text("htm")? != expect.method {
        return Err(DpopError::Htm);
    }
    match (normalise_htu(text("htu")?), normalise_htu(expect.url)) {
        (Some(a), Some(b)) if a == b => {}
        _ => return Err(DpopError::Htu),
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(DpopError::MissingClaim("iat"))?;
    if iat < expect.now.saturating_sub(MAX_AGE_SECS) || iat > expect.now.saturating_add(MAX_SKEW_SECS) {
        return Err(DpopError::Iat);
    }
    if let Some(token) = expect.access_token {
        let got = text("ath")?;
        let want = ath(token);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(got.as_bytes(), want.as_bytes())) {
            return Err(DpopError::Ath);
        }
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(n)) if n.len() <= 256 => Some(n.clone()),
        Some(_) => return Err(DpopError::NonceStale),
    };
    Ok(Proof {
        jkt,
        jti: jti.to_string(),
        iat,
        nonce,
    })
}

/// Server-provided nonces (§8), stateless: a nonce is a time slot and an
/// HMAC over it, so every instance that shares the key directory accepts
/// the others' nonces without a store round trip. A nonce lives for the
/// current and the next slot; a new one is handed out when a slot turns.
pub struct Nonces {
    key: hmac::Key,
    period: i64,
}

impl Nonces {
    /// `secret` is the instances' shared session key material; the nonce
    /// key is derived from it under its own label.
    pub fn new(derive: impl FnOnce(&[u8]) -> Vec<u8>, period_secs: i64) -> Nonces {
        let k = derive(b"gatehouse dpop nonce key v1");
        Nonces {
            key: hmac::Key::new(hmac::HMAC_SHA256, &k),
            period: period_secs.max(1),
        }
    }

    fn slot(&self, now: i64) -> i64 {
        now.div_euclid(self.period)
    }

    fn make(&self, slot: i64) -> String {
        let sb = slot.to_be_bytes();
        let tag = hmac::sign(&self.key, &sb);
        let mut raw = sb.to_vec();
        raw.extend_from_slice(&tag.as_ref()[..16]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The nonce to hand out now.
    pub fn current(&self, now: i64) -> String {
        self.make(self.slot(now))
    }

    /// Accepts a nonce of this slot or the previous one.
    pub fn check(&self, nonce: Option<&str>, now: i64) -> Result<(), DpopError> {
        let n = nonce.ok_or(DpopError::NonceRequired)?;
        let raw = URL_SAFE_NO_PAD.decode(n).map_err(|_| DpopError::NonceStale)?;
        if raw.len() != 24 {
            return Err(DpopError::NonceStale);
        }
        let mut sb = [0u8; 8];
        sb.copy_from_slice(&raw[..8]);
        let slot = i64::from_be_bytes(sb);
        let cur = self.slot(now);
        if slot != cur && slot != cur - 1 {
            return Err(DpopError::NonceStale);
        }
        let tag = hmac::sign(&self.key, &sb);
        if bool::from(subtle::ConstantTimeEq::ct_eq(&tag.as_ref()[..16], &raw[8..])) {
            Ok(())
        } else {
            Err(DpopError::NonceStale)
        }
    }
}

/// How long one server nonce is handed out; it is accepted for twice that.
pub const NONCE_PERIOD_SECS: i64 = 300;

/// Why a request's proof was not accepted, before it is mapped to the
/// token endpoint's or a resource's error form.
#[derive(Debug)]
pub enum Refusal {
    Proof(DpopError),
    /// Retry with this nonce.
    Nonce(String),
    Unavailable,
}

impl From<Refusal> for crate::error::AuthError {
    fn from(r: Refusal) -> Self {
        use crate::error::AuthError;
        match r {
            Refusal::Proof(e) => AuthError::DpopProof(e),
            Refusal::Nonce(nonce) => AuthError::UseDpopNonce(nonce.into()),
            Refusal::Unavailable => AuthError::Unavailable,
        }
    }
}

/// What every place that accepts proofs shares beyond `verify`: the server
/// nonces and the single use of each `jti`, recorded in the store so that a
/// proof replayed to another instance is refused as well (the store's
/// used-ids records expire with `Proof::replay_until` and are purged).
pub struct Guard {
    store: crate::store::DynStore,
    nonces: Nonces,
}

impl Guard {
    pub fn new(store: crate::store::DynStore, nonces: Nonces) -> Guard {
        Guard { store, nonces }
    }

    /// The nonce to hand out now (`DPoP-Nonce`).
    pub fn nonce(&self, now: i64) -> String {
        self.nonces.current(now)
    }

    /// Verifies `proof` against `expect`, then the nonce (when
    /// `nonce_required`), then records its `jti`: a proof that fails any
    /// earlier check leaves no record behind.
    pub async fn check(&self, proof: &str, expect: &Expect<'_>, nonce_required: bool) -> Result<Proof, Refusal> {
        let p = verify(proof, expect).map_err(Refusal::Proof)?;
        if nonce_required {
            if let Err(e) = self.nonces.check(p.nonce.as_deref(), expect.now) {
                tracing::debug!(reason = %e, "DPoP proof without a current nonce");
                return Err(Refusal::Nonce(self.nonces.current(expect.now)));
            }
        }
        match self.store.use_once(&p.replay_id(), p.replay_until(), expect.now).await {
            Ok(true) => Ok(p),
            Ok(false) => Err(Refusal::Proof(DpopError::Replay)),
            Err(e) => {
                tracing::error!(error = %e, "cannot record a DPoP proof's jti");
                Err(Refusal::Unavailable)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    struct Key(EcdsaKeyPair);

    impl Key {
        fn new() -> Key {
            let rng = SystemRandom::new();
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            Key(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap())
        }
        fn jwk(&self) -> Value {
            let p = self.0.public_key().as_ref();
            json!({"kty":"EC","crv":"P-256","x":URL_SAFE_NO_PAD.encode(&p[1..33]),"y":URL_SAFE_NO_PAD.encode(&p[33..65])})
        }
        fn sign(&self, header: Value, claims: Value) -> String {
            let mut s = URL_SAFE_NO_PAD.encode(header.to_string());
            s.push('.');
            s.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
            let sig = self.0.sign(&SystemRandom::new(), s.as_bytes()).unwrap();
            s.push('.');
            s.push_str(&URL_SAFE_NO_PAD.encode(sig.as_ref()));
            s
        }
        fn proof(&self, claims: Value) -> String {
            self.sign(json!({"typ":"dpop+jwt","alg":"ES256","jwk":self.jwk()}), claims)
        }
    }

    const URL: &str = "https://as.example/api/oauth/token";

    fn expect(now: i64) -> Expect<'static> {
        Expect {
            method: "POST",
            url: URL,
            access_token: None,
            now,
        }
    }

    #[test]
    fn a_good_proof_verifies_and_names_its_key() {
        let k = Key::new();
        let p = verify(
            &k.proof(json!({"jti":"a","htm":"POST","htu":URL,"iat":1000})),
            &expect(1000),
        )
        .unwrap();
        assert_eq!(p.jkt, thumbprint(&k.jwk()).unwrap());
        assert_eq!(p.nonce, None);
        assert!(p.replay_id().starts_with("dpop:"));
    }

    #[test]
    fn each_claim_is_checked() {
        let k = Key::new();
        let c = |v: Value| verify(&k.proof(v), &expect(1000));
        assert_eq!(
            c(json!({"jti":"a","htm":"GET","htu":URL,"iat":1000})),
            Err(DpopError::Htm)
        );
        assert_eq!(
            c(json!({"jti":"a","htm":"POST","htu":"https://as.example/other","iat":1000})),
            Err(DpopError::Htu)
        );
        assert_eq!(
            c(json!({"jti":"a","htm":"POST","htu":URL,"iat":600})),
            Err(DpopError::Iat)
        );
        assert_eq!(
            c(json!({"jti":"a","htm":"POST","htu":URL,"iat":1100})),
            Err(DpopError::Iat)
        );
        assert_eq!(
            c(json!({"htm":"POST","htu":URL,"iat":1000})),
            Err(DpopError::MissingClaim("jti"))
        );
        // htu normalisation: case of scheme and host, default port, query.
        assert!(
            c(json!({"jti":"a","htm":"POST","htu":"HTTPS://AS.example:443/api/oauth/token?x=1#f","iat":1000})).is_ok()
        );
        let mut e = expect(1000);
        e.access_token = Some("tok");
        let no_ath = k.proof(json!({"jti":"a","htm":"POST","htu":URL,"iat":1000}));
        assert_eq!(verify(&no_ath, &e), Err(DpopError::MissingClaim("ath")));
        let wrong = k.proof(json!({"jti":"a","htm":"POST","htu":URL,"iat":1000,"ath":ath("other")}));
        assert_eq!(verify(&wrong, &e), Err(DpopError::Ath));
        let right = k.proof(json!({"jti":"a","htm":"POST","htu":URL,"iat":1000,"ath":ath("tok")}));
        assert!(verify(&right, &e).is_ok());
    }

    #[test]
    fn header_rules_typ_alg_and_public_jwk() {
        let k = Key::new();
        let claims = json!({"jti":"a","htm":"POST","htu":URL,"iat":1000});
        let t = |h: Value| verify(&k.sign(h, claims.clone()), &expect(1000));
        assert_eq!(t(json!({"typ":"JWT","alg":"ES256","jwk":k.jwk()})), Err(DpopError::Typ));
        assert_eq!(
            t(json!({"typ":"dpop+jwt","alg":"HS256","jwk":k.jwk()})),
            Err(DpopError::Alg)
        );
        assert_eq!(
            t(json!({"typ":"dpop+jwt","alg":"none","jwk":k.jwk()})),
            Err(DpopError::Alg)
        );
        assert!(matches!(
            t(json!({"typ":"dpop+jwt","alg":"ES256"})),
            Err(DpopError::Jwk(_))
        ));
        let mut private = k.jwk();
        private["d"] = json!("AAAA");
        assert!(matches!(
            t(json!({"typ":"dpop+jwt","alg":"ES256","jwk":private})),
            Err(DpopError::Jwk(_))
        ));
        // Another key's jwk: the signature does not verify.
        let other = Key::new();
        assert_eq!(
            t(json!({"typ":"dpop+jwt","alg":"ES256","jwk":other.jwk()})),
            Err(DpopError::Signature)
        );
        assert!(matches!(
            t(json!({"typ":"dpop+jwt","alg":"RS256","jwk":k.jwk()})),
            Err(DpopError::Jwk(_))
        ));
        assert_eq!(verify("a.b", &expect(1000)), Err(DpopError::Malformed));
        assert_eq!(verify("!!.b.c", &expect(1000)), Err(DpopError::Malformed));
    }

    #[test]
    fn nonces_rotate_and_are_checked_in_constant_time() {
        let n = Nonces::new(|l| l.to_vec(), 60);
        let a = n.current(120);
        assert_eq!(n.check(Some(&a), 150), Ok(()));
        assert_eq!(n.check(Some(&a), 190), Ok(()), "the previous slot's nonce still works");
        assert_eq!(n.check(Some(&a), 240), Err(DpopError::NonceStale));
        assert_ne!(n.current(180), a);
        assert_eq!(n.check(None, 150), Err(DpopError::NonceRequired));
        assert_eq!(n.check(Some("garbage"), 150), Err(DpopError::NonceStale));
        let other = Nonces::new(|_| b"another key".to_vec(), 60);
        assert_eq!(other.check(Some(&a), 150), Err(DpopError::NonceStale));
    }
}
