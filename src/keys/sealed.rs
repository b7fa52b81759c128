//! The AES-256-GCM key that seals `client_secret_jwt` clients' secrets.
//! Secrets are otherwise kept only as one-way hashes, but HS256 client
//! assertions (RFC 7523 §2.2, OIDC Core §9) need the secret itself to
//! check the MAC. Kept beside the signing keys
//! (`[keys].dir/client-secrets.key`, 0600) so instances sharing the key
//! directory (and `gatehouse client add`) share it; created on first use.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use std::path::Path;
use zeroize::Zeroizing;

const FILE: &str = "client-secrets.key";
/// Marks the sealing format, so another one can follow.
const PREFIX: &str = "v1.";

pub struct SecretBox {
    key: LessSafeKey,
}

impl SecretBox {
    /// Takes the key directory's lock itself: call it outside
    /// [`crate::keys::with_dir_lock`].
    pub fn load_or_create(dir: &Path) -> Result<SecretBox, String> {
        crate::keys::with_dir_lock(dir, || Self::load_or_create_locked(dir))
    }

    /// For callers already holding the key directory's lock.
    pub fn load_or_create_locked(dir: &Path) -> Result<SecretBox, String> {
        let path = dir.join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) if b.len() == 32 => Zeroizing::new(b),
            Ok(_) => return Err(format!("{}: must hold exactly 32 bytes", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut b = Zeroizing::new(vec![0u8; 32]);
                rand::rngs::OsRng.fill_bytes(&mut b);
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                super::session::write_private(&path, &b)?;
                b
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| format!("{}: unusable key", path.display()))?;
        Ok(SecretBox {
            key: LessSafeKey::new(key),
        })
    }

    /// `secret` sealed for `client_id` (the id is authenticated data, so a
    /// sealed secret copied onto another client does not open).
    pub fn seal(&self, client_id: &str, secret: &str) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut buf = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(client_id.as_bytes()),
                &mut buf,
            )
            .map_err(|_| "cannot seal the client secret".to_string())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// The secret sealed by [`SecretBox::seal`] for `client_id`; None when
    /// it was sealed under another key or for another client.
    pub fn open(&self, client_id: &str, sealed: &str) -> Option<Zeroizing<Vec<u8>>> {
        let raw = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(client_id.as_bytes()), &mut buf)
            .ok()?;
        Some(Zeroizing::new(plain.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_only_for_its_client_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretBox::load_or_create(dir.path()).unwrap();
        let s = a.seal("printer", "s3cret").unwrap();
        assert!(!s.contains("s3cret"));
        let b = SecretBox::load_or_create(dir.path()).unwrap();
        assert_eq!(b.open("printer", &s).unwrap().as_slice(), b"s3cret");
        assert!(b.open("scanner", &s).is_none());
        let other = SecretBox::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(other.open("printer", &s).is_none());
        assert!(b.open("printer", "v1.AAAA").is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
