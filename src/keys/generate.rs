//! Key generation: what `gatehouse keygen` writes and what the authorization
//! server creates on first start.

use super::jwk::thumbprint;
use super::SigningAlg;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
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

/// PEM with LF line endings (the pem crate's default is CRLF, which the
/// files written before did not have).
fn to_pem(tag: &str, der: &[u8]) -> String {
    let p = pem::Pem::new(tag, der);
    let text = pem::encode_config(&p, pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF));
    // The Pem holds a copy of the private DER.
    drop(zeroize::Zeroizing::new(p.into_contents()));
    text
}

pub fn generate(alg: SigningAlg) -> Result<GeneratedKey, KeyGenError> {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
    use aws_lc_rs::signature::{
        EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents, ECDSA_P256_SHA256_FIXED_SIGNING,
    };
    let failed = |what: &str| KeyGenError::Crypto(what.into());
    let (private_der, public_der, jwk) = match alg {
        SigningAlg::Rs256 | SigningAlg::Ps256 => {
            let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|_| failed("RSA"))?;
            let private: Pkcs8V1Der = key.as_der().map_err(|_| failed("RSA PKCS#8"))?;
            let public: PublicKeyX509Der = key.public_key().as_der().map_err(|_| failed("RSA SPKI"))?;
            // Big-endian without leading zeros, as RFC 7518 §6.3.1 wants n and e.
            let c = RsaPublicKeyComponents::<Vec<u8>>::from(key.public_key());
            let jwk = json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)});
            (private.as_ref().to_vec(), public.as_ref().to_vec(), jwk)
        }
        SigningAlg::Es256 => {
            let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| failed("P-256"))?;
            let private = key.to_pkcs8v1().map_err(|_| failed("P-256 PKCS#8"))?;
            let public: PublicKeyX509Der = key.public_key().as_der().map_err(|_| failed("P-256 SPKI"))?;
            // The SEC1 uncompressed point: 0x04 || x || y.
            let (x, y) = match key.public_key().as_ref() {
                [4, xy @ ..] if xy.len() == 64 => xy.split_at(32),
                _ => return Err(failed("P-256 public key is not an uncompressed point")),
            };
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)});
            (private.as_ref().to_vec(), public.as_ref().to_vec(), jwk)
        }
        SigningAlg::EdDsa => {
            let key = Ed25519KeyPair::generate().map_err(|_| failed("Ed25519"))?;
            // PKCS#8 v1 (RFC 8410 without the public key): OpenSSL 3.0's CLI,
            // Node's crypto and Python's cryptography refuse the v2 form.
            let private = key.to_pkcs8v1().map_err(|_| failed("Ed25519 PKCS#8"))?;
            let public: PublicKeyX509Der = key.public_key().as_der().map_err(|_| failed("Ed25519 SPKI"))?;
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.public_key().as_ref())});
            (private.as_ref().to_vec(), public.as_ref().to_vec(), jwk)
        }
    };
    let private_der = zeroize::Zeroizing::new(private_der);
    let private_pem = zeroize::Zeroizing::new(to_pem("PRIVATE KEY", &private_der));
    let public_pem = to_pem("PUBLIC KEY", &public_der);
    let mut jwk = jwk;
    let kid = thumbprint(&jwk).ok_or_else(|| KeyGenError::Crypto("cannot compute JWK thumbprint".into()))?;
    if let Some(o) = jwk.as_object_mut() {
        o.insert("kid".into(), json!(kid));
        o.insert("alg".into(), json!(alg.as_str()));
        o.insert("use".into(), json!("sig"));
    }
    Ok(GeneratedKey {
        alg,
        kid,
        private_pem,
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

    /// OpenSSL 3.0's CLI, Node and Python's cryptography refuse a PKCS#8
    /// v2 Ed25519 key (tests/keygen_interop.rs runs them); the files keep
    /// the LF line endings of the keys written before aws-lc-rs.
    #[test]
    fn private_keys_are_pkcs8_v1_pem_with_lf_endings() {
        for alg in SigningAlg::ALL {
            let k = generate(alg).unwrap();
            for (text, tag) in [
                (k.private_pem.as_str(), "PRIVATE KEY"),
                (k.public_pem.as_str(), "PUBLIC KEY"),
            ] {
                assert!(text.starts_with(&format!("-----BEGIN {tag}-----\n")), "{alg}: {text}");
                assert!(text.ends_with(&format!("-----END {tag}-----\n")), "{alg}: {text}");
                assert!(!text.contains('\r'), "{alg}");
            }
            let der = pem::parse(k.private_pem.as_bytes()).unwrap().into_contents();
            // SEQUENCE { INTEGER version, ... }: version 0 is v1.
            let body = match der[1] {
                0x82 => &der[4..],
                0x81 => &der[3..],
                _ => &der[2..],
            };
            assert_eq!(&body[..3], &[0x02, 0x01, 0x00], "{alg}: PKCS#8 v1");
            if alg == SigningAlg::EdDsa {
                assert_eq!(der.len(), 48, "RFC 8410 §10.3 v1 without the public key");
            }
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
