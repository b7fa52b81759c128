//! Key generation: what `gatehouse keygen` writes and what the authorization
//! server creates on first start.

use super::jwk::thumbprint;
use super::SigningAlg;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use serde_json::{json, Value};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const PRIVATE_FILE: &str = "private.pem";
pub const PUBLIC_FILE: &str = "public.pem";
pub const JWK_FILE: &str = "public.jwk.json";

#[derive(Debug, thiserror::Error)]
pub enum KeyGenError {
    #[error("{0} already exists; pass --force to overwrite")]
    Exists(PathBuf),
    #[error("cannot write {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("key generation failed: {0}")]
    Crypto(String),
}

pub struct GeneratedKey {
    pub alg: SigningAlg,
    pub kid: String,
    /// PKCS#8 PEM; zeroed on drop.
    pub private_pem: zeroize::Zeroizing<String>,
    pub public_pem: String,
    /// Public JWK with `kid`, `alg`, `use`.
    pub jwk: Value,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn crypto<E: std::fmt::Display>(e: E) -> KeyGenError {
    KeyGenError::Crypto(e.to_string())
}

pub fn generate(alg: SigningAlg) -> Result<GeneratedKey, KeyGenError> {
    let (private_pem, public_pem, mut jwk) = match alg {
        SigningAlg::Rs256 | SigningAlg::Ps256 => {
            use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).map_err(crypto)?;
            let public = rsa::RsaPublicKey::from(&key);
            let private_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(crypto)?;
            let public_pem = public.to_public_key_pem(LineEnding::LF).map_err(crypto)?;
            let jwk = json!({"kty": "RSA", "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())});
            (private_pem, public_pem, jwk)
        }
        SigningAlg::Es256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
            let key = p256::SecretKey::random(&mut OsRng);
            let public = key.public_key();
            let point = public.to_encoded_point(false);
            let (x, y) = match (point.x(), point.y()) {
                (Some(x), Some(y)) => (b64(x), b64(y)),
                _ => return Err(KeyGenError::Crypto("P-256 point has no coordinates".into())),
            };
            let private_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(crypto)?;
            let public_pem = public.to_public_key_pem(LineEnding::LF).map_err(crypto)?;
            (
                private_pem,
                public_pem,
                json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
            )
        }
        SigningAlg::EdDsa => {
            use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
            use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
            let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
            let public = key.verifying_key();
            // PKCS#8 v1 (RFC 8410 without the public key): OpenSSL 3.0's CLI,
            // Node's crypto and Python's cryptography refuse the v2 form
            // that SigningKey::to_pkcs8_pem writes.
            let v1 = ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: key.to_bytes(),
                public_key: None,
            };
            let private_pem = v1.to_pkcs8_pem(LineEnding::LF).map_err(crypto)?;
            let public_pem = public.to_public_key_pem(LineEnding::LF).map_err(crypto)?;
            (
                private_pem,
                public_pem,
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(public.as_bytes())}),
            )
        }
    };
    let kid = thumbprint(&jwk).ok_or_else(|| KeyGenError::Crypto("cannot compute JWK thumbprint".into()))?;
    if let Some(o) = jwk.as_object_mut() {
        o.insert("kid".into(), json!(kid));
        o.insert("alg".into(), json!(alg.as_str()));
        o.insert("use".into(), json!("sig"));
    }
    Ok(GeneratedKey {
        alg,
        kid,
        private_pem: zeroize::Zeroizing::new(private_pem.to_string()),
        public_pem,
        jwk,
    })
}

/// Writes the three files into `dir`; the private key is created 0600.
/// Without `force`, an existing file is an error and nothing is written.
pub fn write_to_dir(key: &GeneratedKey, dir: &Path, force: bool) -> Result<(), KeyGenError> {
    std::fs::create_dir_all(dir).map_err(|e| KeyGenError::Io(dir.to_path_buf(), e))?;
    let files = [PRIVATE_FILE, PUBLIC_FILE, JWK_FILE].map(|f| dir.join(f));
    if !force {
        if let Some(existing) = files.iter().find(|p| p.exists()) {
            return Err(KeyGenError::Exists(existing.clone()));
        }
    }
    let jwk = serde_json::to_string_pretty(&key.jwk).map_err(crypto)?;
    write_file(&files[0], key.private_pem.as_bytes(), 0o600)?;
    write_file(&files[1], key.public_pem.as_bytes(), 0o644)?;
    write_file(&files[2], format!("{jwk}\n").as_bytes(), 0o644)?;
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyGenError> {
    let io = |e| KeyGenError::Io(path.to_path_buf(), e);
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(mode);
        let mut f = opts.open(path).map_err(io)?;
        // `mode` applies only at creation; enforce it on overwrite too.
        f.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        let mut f = opts.open(path).map_err(io)?;
        f.write_all(bytes).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PublicJwk;

    #[test]
    fn every_alg_produces_a_usable_public_jwk_that_verifies_its_own_signature() {
        for alg in SigningAlg::ALL {
            let k = generate(alg).unwrap();
            assert_eq!(k.jwk["kid"], k.kid);
            assert_eq!(k.jwk["alg"], alg.as_str());
            assert_eq!(k.jwk["use"], "sig");
            let public = PublicJwk::from_value(&k.jwk).unwrap();
            assert_eq!(public.alg, alg.jwt_alg());
            let enc = match alg {
                SigningAlg::Rs256 | SigningAlg::Ps256 => {
                    jsonwebtoken::EncodingKey::from_rsa_pem(k.private_pem.as_bytes())
                }
                SigningAlg::Es256 => jsonwebtoken::EncodingKey::from_ec_pem(k.private_pem.as_bytes()),
                SigningAlg::EdDsa => jsonwebtoken::EncodingKey::from_ed_pem(k.private_pem.as_bytes()),
            }
            .unwrap();
            let t = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(alg.jwt_alg()),
                &serde_json::json!({"sub":"x","exp":4102444800u64}),
                &enc,
            )
            .unwrap();
            let mut v = jsonwebtoken::Validation::new(alg.jwt_alg());
            v.required_spec_claims.clear();
            jsonwebtoken::decode::<serde_json::Value>(&t, &public.key, &v).unwrap();
        }
    }

    #[test]
    fn refuses_to_overwrite_without_force_and_private_key_is_0600() {
        let dir = tempfile::tempdir().unwrap();
        let k = generate(SigningAlg::Es256).unwrap();
        write_to_dir(&k, dir.path(), false).unwrap();
        assert!(matches!(
            write_to_dir(&k, dir.path(), false),
            Err(KeyGenError::Exists(_))
        ));
        write_to_dir(&k, dir.path(), true).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(PRIVATE_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
