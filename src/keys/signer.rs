//! The authorization server's signing keys: loaded from `[keys].dir`
//! (generated there on first start), the newest key of the configured
//! algorithm signs, and every key in the directory is published in the JWKS
//! so tokens signed before a rotation still verify. When the configured
//! algorithm is not RS256, an RS256 key is kept beside it: OIDC Core §15.1
//! makes RS256 the ID token algorithm every relying party may ask for (and
//! the default when a client registers none).
//!
//! Signing uses aws-lc key pairs parsed once at start: re-parsing a private
//! key per token (what `jsonwebtoken::encode` does) costs more than signing.
//! aws-lc rather than ring because its RSA uses AVX-512 IFMA where the CPU
//! has it (twice ring's RS256 rate on the benchmark machine).

use super::generate::{generate, write_to_dir, JWK_FILE, PRIVATE_FILE};
use super::jwk::PublicKeySet;
use super::SigningAlg;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

struct Signer {
    alg: SigningAlg,
    kid: String,
    pair: Pair,
}

pub struct SigningKeys {
    /// The configured algorithm and its key: access tokens, and ID tokens
    /// of clients that ask for it.
    pub alg: SigningAlg,
    pub kid: String,
    /// The configured key first, then RS256 if that is another.
    signers: Vec<Signer>,
    rng: SystemRandom,
    /// Public keys of every key in the directory (verification + JWKS).
    pub public: PublicKeySet,
    /// The JWKS document, rendered once.
    pub jwks_json: String,
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
    /// Loads `dir/*/` key folders; creates one for `alg` (and for RS256)
    /// if none fits.
    pub fn load_or_create(dir: &Path, alg: SigningAlg) -> Result<SigningKeys, String> {
        let mut signers = vec![Self::load_signer(dir, alg)?];
        if alg != SigningAlg::Rs256 {
            signers.push(Self::load_signer(dir, SigningAlg::Rs256)?);
        }
        // Every key in the directory is published, the new ones included.
        let mut jwks: Vec<Value> = Vec::new();
        for f in Self::folders(dir)? {
            let text = std::fs::read_to_string(f.join(JWK_FILE)).map_err(|e| format!("{}: {e}", f.display()))?;
            jwks.push(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?);
        }
        let doc = serde_json::json!({ "keys": jwks });
        let public = PublicKeySet::from_value(&doc)?;
        Ok(SigningKeys {
            alg,
            kid: signers[0].kid.clone(),
            signers,
            rng: SystemRandom::new(),
            public,
            jwks_json: doc.to_string(),
        })
    }

    /// Key folders of `dir`, oldest first.
    fn folders(dir: &Path) -> Result<Vec<PathBuf>, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut folders: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join(PRIVATE_FILE).is_file() && p.join(JWK_FILE).is_file())
            .filter_map(|p| Some((std::fs::metadata(p.join(PRIVATE_FILE)).ok()?.modified().ok()?, p)))
            .collect();
        folders.sort();
        Ok(folders.into_iter().map(|(_, p)| p).collect())
    }

    /// The newest key of `alg` in `dir`, generated there if there is none.
    fn load_signer(dir: &Path, alg: SigningAlg) -> Result<Signer, String> {
        let mut active: Option<(String, PathBuf)> = None;
        for f in Self::folders(dir)? {
            let text = std::fs::read_to_string(f.join(JWK_FILE)).map_err(|e| format!("{}: {e}", f.display()))?;
            let jwk: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
            if jwk.get("alg").and_then(Value::as_str) == Some(alg.as_str()) {
                let kid = jwk.get("kid").and_then(Value::as_str).unwrap_or_default().to_string();
                active = Some((kid, f));
            }
        }
        let (kid, folder) = match active {
            Some(a) => a,
            None => {
                let key = generate(alg).map_err(|e| e.to_string())?;
                let folder = dir.join(format!(
                    "{}-{}",
                    alg.as_str().to_ascii_lowercase(),
                    &key.kid[..12.min(key.kid.len())]
                ));
                write_to_dir(&key, &folder, false).map_err(|e| e.to_string())?;
                tracing::info!(kid = %key.kid, alg = %alg, dir = %folder.display(), "generated signing key");
                (key.kid.clone(), folder)
            }
        };
        let private_path = folder.join(PRIVATE_FILE);
        let pem_text = zeroize::Zeroizing::new(
            std::fs::read_to_string(&private_path).map_err(|e| format!("{}: {e}", private_path.display()))?,
        );
        let der = zeroize::Zeroizing::new(pem_der(&pem_text, &private_path)?);
        let bad = |e: aws_lc_rs::error::KeyRejected| format!("{}: key rejected: {e}", private_path.display());
        let pair = match alg {
            SigningAlg::Rs256 => Pair::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(bad)?),
            SigningAlg::Es256 => {
                Pair::Ec(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).map_err(bad)?)
            }
            SigningAlg::EdDsa => Pair::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(bad)?),
        };
        Ok(Signer { alg, kid, pair })
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
        let signer = self.signers.iter().find(|s| s.alg == alg).unwrap_or(&self.signers[0]);
        let header = serde_json::json!({"alg": signer.alg.as_str(), "kid": signer.kid, "typ": typ});
        let header = serde_json::to_vec(&header).map_err(|e| SignError::Json(e.to_string()))?;
        let payload = serde_json::to_vec(claims).map_err(|e| SignError::Json(e.to_string()))?;
        let mut out = String::with_capacity(header.len() * 4 / 3 + payload.len() * 4 / 3 + 360);
        URL_SAFE_NO_PAD.encode_string(&header, &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
        let sig = self.raw_sign(signer, out.as_bytes())?;
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
        for alg in [SigningAlg::Es256, SigningAlg::EdDsa] {
            let dir = tempfile::tempdir().unwrap();
            let k = SigningKeys::load_or_create(dir.path(), alg).unwrap();
            assert_eq!(k.algs(), vec![alg, SigningAlg::Rs256]);
            assert_eq!(k.public.keys.len(), 2, "both keys are published");
            let claims = serde_json::json!({"sub": "x"});
            let h = jsonwebtoken::decode_header(&k.sign("JWT", &claims).unwrap()).unwrap();
            assert_eq!(h.alg, alg.jwt_alg());
            let h = jsonwebtoken::decode_header(&k.sign_as(SigningAlg::Rs256, "JWT", &claims).unwrap()).unwrap();
            assert_eq!(h.alg, jsonwebtoken::Algorithm::RS256);
            assert!(k.public.has_kid(h.kid.as_deref().unwrap()));
            // The second start reuses both keys.
            let again = SigningKeys::load_or_create(dir.path(), alg).unwrap();
            assert_eq!(again.public.keys.len(), 2);
        }
    }
}
