//! The authorization server's signing keys: loaded from `[keys].dir`
//! (generated there on first start), the current key of the configured
//! algorithm signs, and current and retiring keys are published in the
//! JWKS so tokens signed before a rotation still verify (`rotation.rs`). When the configured
//! algorithm is not RS256, an RS256 key is kept beside it: OIDC Core §15.1
//! makes RS256 the ID token algorithm every relying party may ask for (and
//! the default when a client registers none).
//!
//! Signing uses aws-lc key pairs parsed once at start: re-parsing a private
//! key per token (what `jsonwebtoken::encode` does) costs more than signing.
//! aws-lc rather than ring because its RSA uses AVX-512 IFMA where the CPU
//! has it (twice ring's RS256 rate on the benchmark machine).

use super::generate::PRIVATE_FILE;
use super::jwk::PublicKeySet;
use super::rotation::{self, Entry, KeyState};
use super::SigningAlg;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

enum Pair {
    Rsa(RsaKeyPair),
    Pss(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

struct Signer {
    alg: SigningAlg,
    kid: String,
    pair: Pair,
    /// The base64url JWS header for the usual `typ`s, encoded once: the
    /// header of every access token is the same bytes.
    headers: Vec<(&'static str, String)>,
}

/// `typ`s whose headers are encoded at load: access tokens (RFC 9068) and
/// ID tokens / logout tokens.
const COMMON_TYPS: [&str; 2] = ["at+jwt", "JWT"];

fn encoded_header(alg: SigningAlg, kid: &str, typ: &str) -> Result<String, SignError> {
    let header = serde_json::json!({"alg": alg.as_str(), "kid": kid, "typ": typ});
    let header = serde_json::to_vec(&header).map_err(|e| SignError::Json(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(header))
}

pub struct SigningKeys {
    /// The configured algorithm and its key: access tokens, and ID tokens
    /// of clients that ask for it.
    pub alg: SigningAlg,
    pub kid: String,
    /// The configured key first, then RS256 if that is another.
    signers: Vec<Signer>,
    rng: SystemRandom,
    /// Public keys of every published key: current and retiring
    /// (verification + JWKS).
    pub public: Arc<PublicKeySet>,
    /// The JWKS document, rendered once.
    pub jwks_json: String,
    /// When a retiring key's publication ends (Unix seconds): the set must
    /// be read again then even if the directory has not changed.
    pub next_change: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot serialise claims: {0}")]
    Json(String),
    #[error("signing failed")]
    Crypto,
}

fn pem_der(text: &str, path: &Path) -> Result<Vec<u8>, String> {
    let p = pem::parse(text).map_err(|e| format!("{}: not PEM: {e}", path.display()))?;
    Ok(p.into_contents())
}

impl SigningKeys {
    /// Loads the key ring of `dir`; creates a current key for `alg` (and
    /// for RS256) if there is none, and deletes retired keys. Call holding
    /// the directory lock (`keys::with_dir_lock`).
    pub fn load_or_create(dir: &Path, alg: SigningAlg) -> Result<SigningKeys, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let now = rotation::now();
        let entries = rotation::scan(dir)?;
        let states = rotation::classify(&entries, alg, now);
        for a in rotation::signing_algs(alg) {
            let has = entries
                .iter()
                .zip(&states)
                .any(|(e, s)| e.alg == a && *s == KeyState::Current);
            if !has {
                rotation::create_key(dir, a, now)?;
            }
        }
        rotation::prune_locked(dir, alg, now)?;
        Self::load(dir, alg)
    }

    /// Loads the key ring of `dir` as it is now, creating nothing: the
    /// current keys sign, current and retiring keys are published.
    pub fn load(dir: &Path, alg: SigningAlg) -> Result<SigningKeys, String> {
        let now = rotation::now();
        let entries = rotation::scan(dir)?;
        let states = rotation::classify(&entries, alg, now);
        let mut signers = Vec::new();
        for a in rotation::signing_algs(alg) {
            let entry = entries
                .iter()
                .zip(&states)
                .find(|(e, s)| e.alg == a && **s == KeyState::Current)
                .map(|(e, _)| e)
                .ok_or_else(|| format!("{}: no current {a} signing key", dir.display()))?;
            signers.push(Self::load_signer(entry)?);
        }
        let mut jwks: Vec<Value> = Vec::new();
        let mut next_change: Option<i64> = None;
        for (e, s) in entries.iter().zip(&states) {
            if !s.published() {
                continue;
            }
            jwks.push(e.jwk.clone());
            if *s == KeyState::Retiring {
                if let Some(u) = e.meta.publish_until {
                    next_change = Some(next_change.map_or(u, |n| n.min(u)));
                }
            }
        }
        let doc = serde_json::json!({ "keys": jwks });
        let public = PublicKeySet::from_value(&doc).map_err(|e| format!("{}: {e}", dir.display()))?;
        let kid = signers
            .first()
            .map(|s| s.kid.clone())
            .ok_or_else(|| format!("{}: no signing key", dir.display()))?;
        Ok(SigningKeys {
            alg,
            kid,
            signers,
            rng: SystemRandom::new(),
            public: Arc::new(public),
            jwks_json: doc.to_string(),
            next_change,
        })
    }

    fn load_signer(entry: &Entry) -> Result<Signer, String> {
        let alg = entry.alg;
        let private_path = entry.folder.join(PRIVATE_FILE);
        let pem_text = zeroize::Zeroizing::new(
            std::fs::read_to_string(&private_path).map_err(|e| format!("{}: {e}", private_path.display()))?,
        );
        let der = zeroize::Zeroizing::new(pem_der(&pem_text, &private_path)?);
        let bad = |e: aws_lc_rs::error::KeyRejected| format!("{}: key rejected: {e}", private_path.display());
        let pair = match alg {
            SigningAlg::Rs256 => Pair::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(bad)?),
            SigningAlg::Ps256 => Pair::Pss(RsaKeyPair::from_pkcs8(&der).map_err(bad)?),
            SigningAlg::Es256 => {
                Pair::Ec(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).map_err(bad)?)
            }
            SigningAlg::EdDsa => Pair::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(bad)?),
        };
        let headers = COMMON_TYPS
            .iter()
            .map(|t| Ok((*t, encoded_header(alg, &entry.kid, t)?)))
            .collect::<Result<_, SignError>>()
            .map_err(|e| format!("{}: {e}", entry.kid))?;
        Ok(Signer {
            alg,
            kid: entry.kid.clone(),
            pair,
            headers,
        })
    }

    /// Algorithms ID tokens can be signed with: the configured one, RS256.
    pub fn algs(&self) -> Vec<SigningAlg> {
        self.signers.iter().map(|s| s.alg).collect()
    }

    /// A compact JWS with header `{alg, kid, typ}` over the claims, signed
    /// with the configured key.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, SignError> {
        self.sign_as(self.alg, typ, claims)
    }

    /// Like `sign`, with the key of `alg` (the configured key when there
    /// is none: `algs` lists what there is).
    pub fn sign_as<T: Serialize>(&self, alg: SigningAlg, typ: &str, claims: &T) -> Result<String, SignError> {
        let payload = serde_json::to_vec(claims).map_err(|e| SignError::Json(e.to_string()))?;
        self.sign_payload(alg, typ, &payload)
    }

    /// Like `sign_as`, over a claims set already serialised (the caller
    /// vouches that `payload` is one JSON object): the JWT introspection
    /// response embeds the plain answer's bytes as they are.
    pub fn sign_payload(&self, alg: SigningAlg, typ: &str, payload: &[u8]) -> Result<String, SignError> {
        let signer = self.signers.iter().find(|s| s.alg == alg).unwrap_or(&self.signers[0]);
        let mut out = String::with_capacity(100 + payload.len() * 4 / 3 + 360);
        match signer.headers.iter().find(|(t, _)| *t == typ) {
            Some((_, h)) => out.push_str(h),
            None => out.push_str(&encoded_header(signer.alg, &signer.kid, typ)?),
        }
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut out);
        let sig = self.raw_sign(signer, out.as_bytes())?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&sig, &mut out);
        Ok(out)
    }

    /// A JWS with exactly this (base64url) protected header, signed by the
    /// first key: tests build headers `sign` would never write.
    #[cfg(test)]
    pub fn sign_with_header<T: Serialize>(&self, header_b64: &str, claims: &T) -> Result<String, SignError> {
        let payload = serde_json::to_vec(claims).map_err(|e| SignError::Json(e.to_string()))?;
        let mut out = format!("{header_b64}.");
        URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
        let sig = self.raw_sign(&self.signers[0], out.as_bytes())?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&sig, &mut out);
        Ok(out)
    }

    fn raw_sign(&self, signer: &Signer, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        match &signer.pair {
            Pair::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &self.rng, msg, &mut sig)
                    .map_err(|_| SignError::Crypto)?;
                Ok(sig)
            }
            Pair::Pss(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PSS_SHA256, &self.rng, msg, &mut sig)
                    .map_err(|_| SignError::Crypto)?;
                Ok(sig)
            }
            Pair::Ec(k) => Ok(k.sign(&self.rng, msg).map_err(|_| SignError::Crypto)?.as_ref().to_vec()),
            Pair::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_reuses_after_and_signs_verifiable_tokens_for_each_alg() {
        for alg in SigningAlg::ALL {
            let dir = tempfile::tempdir().unwrap();
            let a = SigningKeys::load_or_create(dir.path(), alg).unwrap();
            let b = SigningKeys::load_or_create(dir.path(), alg).unwrap();
            assert_eq!(a.kid, b.kid, "the second start reuses the key");
            let t = a
                .sign("at+jwt", &serde_json::json!({"sub": "x", "exp": 4102444800u64}))
                .unwrap();
            let h = jsonwebtoken::decode_header(&t).unwrap();
            assert_eq!(h.kid.as_deref(), Some(a.kid.as_str()));
            assert_eq!(h.typ.as_deref(), Some("at+jwt"));
            let key = &b.public.keys[0];
            let mut v = jsonwebtoken::Validation::new(alg.jwt_alg());
            v.required_spec_claims.clear();
            jsonwebtoken::decode::<serde_json::Value>(&t, &key.key, &v).unwrap();
        }
    }

    #[test]
    fn old_keys_stay_published_after_switching_algorithm() {
        let dir = tempfile::tempdir().unwrap();
        let rs = SigningKeys::load_or_create(dir.path(), SigningAlg::Rs256).unwrap();
        let es = SigningKeys::load_or_create(dir.path(), SigningAlg::Es256).unwrap();
        assert_eq!(es.public.keys.len(), 2);
        assert!(es.public.has_kid(&rs.kid));
        assert!(es.jwks_json.contains(&rs.kid));
    }

    #[test]
    fn an_rs256_key_is_kept_beside_es256_and_eddsa() {
        for alg in [SigningAlg::Ps256, SigningAlg::Es256, SigningAlg::EdDsa] {
            let dir = tempfile::tempdir().unwrap();
            let k = SigningKeys::load_or_create(dir.path(), alg).unwrap();
            assert_eq!(k.algs(), vec![alg, SigningAlg::Rs256]);
            assert_eq!(k.public.keys.len(), 2, "both keys are published");
            let claims = serde_json::json!({"sub": "x"});
            let h = jsonwebtoken::decode_header(k.sign("JWT", &claims).unwrap()).unwrap();
            assert_eq!(h.alg, alg.jwt_alg());
            let h = jsonwebtoken::decode_header(k.sign_as(SigningAlg::Rs256, "JWT", &claims).unwrap()).unwrap();
            assert_eq!(h.alg, jsonwebtoken::Algorithm::RS256);
            assert!(k.public.has_kid(h.kid.as_deref().unwrap()));
            // The second start reuses both keys.
            let again = SigningKeys::load_or_create(dir.path(), alg).unwrap();
            assert_eq!(again.public.keys.len(), 2);
        }
    }
}
