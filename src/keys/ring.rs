//! The signing keys in service, swapped whole when the key directory
//! changes (a rotation by the CLI, the admin API or another instance):
//! signing, the JWKS document and verification of our own tokens all read
//! one `ArcSwap`, so a request sees either the old ring or the new one and
//! pays one atomic load for it.

use super::jwk::PublicKeySet;
use super::rotation;
use super::signer::SigningKeys;
use super::{with_dir_lock, SigningAlg};
use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often a running server looks at the key directory.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// A token with an unknown `kid` makes the directory be read at once (a
/// rotation by another instance), at most this often.
const UNKNOWN_KID_CHECK_EVERY: Duration = Duration::from_secs(1);

pub struct KeyRing {
    dir: PathBuf,
    alg: SigningAlg,
    live: ArcSwap<SigningKeys>,
    /// The directory's fingerprint when `live` was read; its lock also
    /// serialises reloads.
    seen: Mutex<u64>,
    last_kid_check: Mutex<Option<Instant>>,
}

impl KeyRing {
    /// Loads the ring of `dir` under the directory lock, creating current
    /// keys if there are none. Blocking (file system, RSA key generation).
    pub fn open(dir: &Path, alg: SigningAlg) -> Result<KeyRing, String> {
        let keys = with_dir_lock(dir, || SigningKeys::load_or_create(dir, alg))?;
        Ok(Self::new(dir.to_path_buf(), alg, keys))
    }

    pub fn new(dir: PathBuf, alg: SigningAlg, keys: SigningKeys) -> KeyRing {
        let seen = rotation::fingerprint(&dir).unwrap_or(0);
        KeyRing {
            dir,
            alg,
            live: ArcSwap::from_pointee(keys),
            seen: Mutex::new(seen),
            last_kid_check: Mutex::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configured signing algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The keys in service now (sign with them, publish them).
    pub fn load(&self) -> arc_swap::Guard<Arc<SigningKeys>> {
        self.live.load()
    }

    /// Re-reads the directory when it changed since the last read or a
    /// retiring key's publication has ended; true when it was re-read. A
    /// directory that does not load leaves the keys in service as they
    /// are (the error says why). Blocking (file system).
    pub fn refresh(&self) -> Result<bool, String> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let fp = rotation::fingerprint(&self.dir)?;
        let ended = self.live.load().next_change.is_some_and(|t| t <= rotation::now());
        if fp == *seen && !ended {
            return Ok(false);
        }
        let keys = SigningKeys::load(&self.dir, self.alg)?;
        tracing::info!(kid = %keys.kid, published = keys.public.keys.len(), dir = %self.dir.display(), "signing keys reloaded");
        self.live.store(Arc::new(keys));
        *seen = fp;
        Ok(true)
    }

    /// Reads the directory again whatever its fingerprint (after this
    /// process changed it). Blocking.
    pub fn reload(&self) -> Result<(), String> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let fp = rotation::fingerprint(&self.dir)?;
        let keys = SigningKeys::load(&self.dir, self.alg)?;
        self.live.store(Arc::new(keys));
        *seen = fp;
        Ok(())
    }

    /// A token names a kid that `seen` lacks: true when keys other than
    /// `seen` are in service now (read from the directory at most once per
    /// `UNKNOWN_KID_CHECK_EVERY`, so made-up kids cost little).
    pub async fn refresh_for_unknown_kid(self: &Arc<Self>, seen: &Arc<PublicKeySet>) -> bool {
        if !Arc::ptr_eq(&self.live.load().public, seen) {
            return true;
        }
        {
            let mut last = self.last_kid_check.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|t| t.elapsed() < UNKNOWN_KID_CHECK_EVERY) {
                return false;
            }
            *last = Some(Instant::now());
        }
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.refresh()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "signing keys not reloaded"),
            Err(e) => tracing::warn!(error = %e, "signing key reload failed"),
        }
        !Arc::ptr_eq(&self.live.load().public, seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_on_disk_is_picked_up_by_refresh_and_old_keys_stay_published() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::open(dir.path(), SigningAlg::Es256).unwrap();
        let before = ring.load().kid.clone();
        assert!(!ring.refresh().unwrap(), "nothing changed");
        let new = rotation::rotate(dir.path(), SigningAlg::Es256, Duration::from_secs(60)).unwrap();
        assert_eq!(ring.load().kid, before, "not before a refresh");
        assert!(ring.refresh().unwrap());
        let k = ring.load();
        assert_eq!(k.kid, new.kid);
        assert!(k.public.has_kid(&before) && k.public.has_kid(&new.kid));
        assert_eq!(k.public.keys.len(), 4);
        assert!(k.next_change.is_some());
    }

    #[test]
    fn a_broken_directory_keeps_the_keys_in_service() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::open(dir.path(), SigningAlg::Rs256).unwrap();
        let kid = ring.load().kid.clone();
        let folder = rotation::scan(dir.path()).unwrap()[0].folder.clone();
        std::fs::write(folder.join(rotation::META_FILE), "not json").unwrap();
        let e = ring.refresh().unwrap_err();
        assert!(e.contains("meta.json"), "{e}");
        assert_eq!(ring.load().kid, kid);
    }
}
