//! Keys: generation (`gatehouse keygen`), public JWK parsing for verifiers,
//! and (for the authorization server) the signing key set. The only module
//! that touches private key material.

pub mod generate;
pub mod jwk;
pub mod ring;
pub mod rotation;
pub mod sealed;
pub mod session;
pub mod signer;

use std::fmt;
use std::str::FromStr;

pub use jwk::{PublicJwk, PublicKeySet};

/// Runs `f` holding an exclusive lock on the key directory (created if
/// missing): instances that share the directory and start together, or a
/// rotation from the CLI, never each generate a key of their own.
pub fn with_dir_lock<T>(dir: &std::path::Path, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(".lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    lock.lock()
        .map_err(|e| format!("{}: cannot lock: {e}", path.display()))?;
    // The lock goes with the file handle, also on an early return.
    f()
}

/// The signing algorithms gatehouse issues with. Verification accepts more
/// (whatever a trusted JWK declares), issuance only these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    Rs256,
    /// RSASSA-PSS with SHA-256 (FAPI 2.0 allows PS256, ES256 and EdDSA,
    /// not RS256). Its own RSA key: a key is never used with two algorithms.
    Ps256,
    Es256,
    EdDsa,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 4] = [
        SigningAlg::Rs256,
        SigningAlg::Ps256,
        SigningAlg::Es256,
        SigningAlg::EdDsa,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Ps256 => "PS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }

    pub fn jwt_alg(self) -> jsonwebtoken::Algorithm {
        match self {
            SigningAlg::Rs256 => jsonwebtoken::Algorithm::RS256,
            SigningAlg::Ps256 => jsonwebtoken::Algorithm::PS256,
            SigningAlg::Es256 => jsonwebtoken::Algorithm::ES256,
            SigningAlg::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "RS256" => Ok(SigningAlg::Rs256),
            "PS256" => Ok(SigningAlg::Ps256),
            "ES256" => Ok(SigningAlg::Es256),
            "EdDSA" => Ok(SigningAlg::EdDsa),
            other => Err(format!(
                "unsupported signing algorithm {other:?}; use RS256, PS256, ES256 or EdDSA"
            )),
        }
    }
}
