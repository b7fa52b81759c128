//! The secret behind login-session cookies, CSRF form tokens, sealed
//! authorization requests and DPoP nonces. Kept beside the signing keys
//! (`[keys].dir/session.key`, 0600) so instances sharing the key directory
//! share sessions, and created on first start.

use aws_lc_rs::hmac;
use rand::RngCore;
use std::path::Path;

pub struct SessionKey {
    key: hmac::Key,
    /// The cookie crate's private-jar key, derived from the same secret
    /// (HKDF) so no second file has to be shared between instances.
    cookies: cookie::Key,
}

const FILE: &str = "session.key";

impl SessionKey {
    pub fn load_or_create(dir: &Path) -> Result<SessionKey, String> {
        let path = dir.join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) if b.len() >= 32 => b,
            Ok(_) => return Err(format!("{}: too short (need 32 bytes)", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut b = vec![0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut b);
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                write_private(&path, &b)?;
                b
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(SessionKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            // At least 32 bytes, checked above: derive_from panics on fewer.
            cookies: cookie::Key::derive_from(&bytes),
        })
    }

    pub fn cookie_key(&self) -> &cookie::Key {
        &self.cookies
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        hmac::sign(&self.key, msg).as_ref().to_vec()
    }

    /// Constant-time (ring's verify).
    pub fn verify(&self, msg: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.key, msg, tag).is_ok()
    }
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_persists_and_verifies_only_its_own_tags() {
        let dir = tempfile::tempdir().unwrap();
        let a = SessionKey::load_or_create(dir.path()).unwrap();
        let b = SessionKey::load_or_create(dir.path()).unwrap();
        let tag = a.sign(b"hello");
        assert!(b.verify(b"hello", &tag));
        assert!(!b.verify(b"hellO", &tag));
        let other = SessionKey::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(!other.verify(b"hello", &tag));
    }
}
