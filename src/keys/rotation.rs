//! The key ring on disk: every key folder under `[keys].dir` has a state.
//!
//! - `current`: signs. One per algorithm in use (the configured one, and
//!   RS256 beside ES256/EdDSA for ID tokens): the newest key of that
//!   algorithm that has not been retired.
//! - `retiring`: no longer signs, still published in the JWKS until every
//!   token it could have signed has expired: `publish_until` is the retire
//!   time plus the longest token lifetime plus a grace for instances that
//!   had not yet seen the rotation.
//! - `retired`: past `publish_until`; dropped from the JWKS, and its folder
//!   is deleted at the next rotation or scheduled check.
//!
//! The times live in `meta.json` in each key folder (written atomically,
//! tmp + rename, under the directory lock). A folder without one (keys from
//! before rotation existed, or `gatehouse keygen` output copied in) counts
//! as created at its private key's modification time and not retired.
//! New keys are written into a hidden folder and renamed into place, so a
//! reader never sees half a key.

use super::generate::{generate, write_to_dir, JWK_FILE, PRIVATE_FILE};
use super::{with_dir_lock, SigningAlg};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const META_FILE: &str = "meta.json";

/// Publication time added after a retired key's last token can expire:
/// instances sharing the directory look at it every `WATCH_EVERY`, so one
/// may sign with the old key for that long after the rotation.
pub const GRACE: Duration = Duration::from_secs(10);

/// What is recorded in a key folder's `meta.json` (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_until: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Signs new tokens.
    Current,
    /// Signs nothing; published until its tokens have expired.
    Retiring,
    /// Signs nothing and is no longer published; deleted soon.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Current => "current",
            KeyState::Retiring => "retiring",
            KeyState::Retired => "retired",
        }
    }

    /// Whether the key belongs in the JWKS.
    pub fn published(self) -> bool {
        self != KeyState::Retired
    }
}

/// One key of the ring, as `gatehouse keys list` and the admin API show it.
/// Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    /// "RS256", "ES256" or "EdDSA".
    pub alg: String,
    pub state: KeyState,
    pub created_at: i64,
    /// When it stopped signing (None: current, or superseded by a newer key
    /// of its algorithm without a rotation having marked it yet).
    pub retired_at: Option<i64>,
    /// Until when it stays in the JWKS (None: current, or no end recorded).
    pub publish_until: Option<i64>,
}

/// A key folder as found on disk.
#[derive(Debug, Clone)]
pub struct Entry {
    pub folder: PathBuf,
    pub kid: String,
    pub alg: SigningAlg,
    pub jwk: Value,
    pub meta: Meta,
    /// Modification time of the private key: orders keys created in the
    /// same second.
    mtime: SystemTime,
}

impl Entry {
    pub fn info(&self, state: KeyState) -> KeyInfo {
        KeyInfo {
            kid: self.kid.clone(),
            alg: self.alg.as_str().to_string(),
            state,
            created_at: self.meta.created_at,
            retired_at: self.meta.retired_at,
            publish_until: self.meta.publish_until,
        }
    }
}

pub fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

pub fn now() -> i64 {
    unix(SystemTime::now())
}

fn io_err(p: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", p.display())
}

/// Key folders of `dir` (a missing `dir` has none), oldest first. Hidden
/// entries (the lock file, folders being written) are skipped, and so are
/// folders without both a private key and a public JWK.
pub fn scan(dir: &Path) -> Result<Vec<Entry>, String> {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut out = Vec::new();
    for e in read {
        let e = e.map_err(io_err(dir))?;
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let folder = e.path();
        let (private, jwk_path) = (folder.join(PRIVATE_FILE), folder.join(JWK_FILE));
        if !private.is_file() || !jwk_path.is_file() {
            continue;
        }
        let mtime = std::fs::metadata(&private)
            .and_then(|m| m.modified())
            .map_err(io_err(&private))?;
        let text = std::fs::read_to_string(&jwk_path).map_err(io_err(&jwk_path))?;
        let jwk: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", jwk_path.display()))?;
        let kid = jwk
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{}: the JWK has no \"kid\"", jwk_path.display()))?
            .to_string();
        let alg = jwk
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{}: the JWK has no \"alg\"", jwk_path.display()))
            .and_then(|a| SigningAlg::from_str(a).map_err(|e| format!("{}: {e}", jwk_path.display())))?;
        let meta_path = folder.join(META_FILE);
        let meta = match std::fs::read_to_string(&meta_path) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| format!("{}: {e}", meta_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Meta {
                created_at: unix(mtime),
                ..Meta::default()
            },
            Err(e) => return Err(format!("{}: {e}", meta_path.display())),
        };
        out.push(Entry {
            folder,
            kid,
            alg,
            jwk,
            meta,
            mtime,
        });
    }
    out.sort_by(|a, b| (a.meta.created_at, a.mtime, &a.folder).cmp(&(b.meta.created_at, b.mtime, &b.folder)));
    Ok(out)
}

/// The algorithms that need a current key when `alg` is configured.
pub fn signing_algs(alg: SigningAlg) -> Vec<SigningAlg> {
    if alg == SigningAlg::Rs256 {
        vec![alg]
    } else {
        vec![alg, SigningAlg::Rs256]
    }
}

/// The state of each entry (same order) at `now`.
pub fn classify(entries: &[Entry], alg: SigningAlg, now: i64) -> Vec<KeyState> {
    let mut states: Vec<KeyState> = entries
        .iter()
        .map(|e| match (e.meta.retired_at, e.meta.publish_until) {
            (Some(_), Some(until)) if until <= now => KeyState::Retired,
            _ => KeyState::Retiring,
        })
        .collect();
    for a in signing_algs(alg) {
        // Entries are oldest first: the last live one of `a` signs.
        if let Some(i) = entries.iter().rposition(|e| e.alg == a && e.meta.retired_at.is_none()) {
            states[i] = KeyState::Current;
        }
    }
    states
}

/// Every key of `dir` with its state now: current keys, keys still
/// published, and retired ones not yet deleted. Reads only; no lock.
pub fn list(dir: &Path, alg: SigningAlg) -> Result<Vec<KeyInfo>, String> {
    let entries = scan(dir)?;
    let states = classify(&entries, alg, now());
    Ok(entries.iter().zip(states).map(|(e, s)| e.info(s)).collect())
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{} -> {}: {e}", tmp.display(), path.display()))
}

pub fn write_meta(folder: &Path, meta: &Meta) -> Result<(), String> {
    let path = folder.join(META_FILE);
    let text = serde_json::to_string_pretty(meta).map_err(|e| format!("{}: {e}", path.display()))?;
    write_atomic(&path, format!("{text}\n").as_bytes())
}

/// Generates a key of `alg` into `dir` with its `meta.json`: written in a
/// hidden folder, then renamed into place. Call holding the directory lock.
pub fn create_key(dir: &Path, alg: SigningAlg, now: i64) -> Result<Entry, String> {
    let key = generate(alg).map_err(|e| e.to_string())?;
    let name = format!(
        "{}-{}",
        alg.as_str().to_ascii_lowercase(),
        &key.kid[..12.min(key.kid.len())]
    );
    let tmp = dir.join(format!(".new-{name}"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    write_to_dir(&key, &tmp, false).map_err(|e| e.to_string())?;
    let meta = Meta {
        created_at: now,
        ..Meta::default()
    };
    write_meta(&tmp, &meta)?;
    let folder = dir.join(&name);
    if folder.exists() {
        return Err(format!("{}: already exists", folder.display()));
    }
    std::fs::rename(&tmp, &folder).map_err(|e| format!("{} -> {}: {e}", tmp.display(), folder.display()))?;
    let mtime = std::fs::metadata(folder.join(PRIVATE_FILE))
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| SystemTime::now());
    tracing::info!(kid = %key.kid, alg = %alg, dir = %folder.display(), "generated signing key");
    Ok(Entry {
        folder,
        kid: key.kid.clone(),
        alg,
        jwk: key.jwk.clone(),
        meta,
        mtime,
    })
}

/// Deletes the folders of retired keys. Call holding the directory lock.
pub fn prune_locked(dir: &Path, alg: SigningAlg, now: i64) -> Result<Vec<KeyInfo>, String> {
    let entries = scan(dir)?;
    let states = classify(&entries, alg, now);
    let mut pruned = Vec::new();
    for (e, s) in entries.iter().zip(states) {
        if s == KeyState::Retired {
            std::fs::remove_dir_all(&e.folder).map_err(io_err(&e.folder))?;
            tracing::info!(kid = %e.kid, dir = %e.folder.display(), "retired signing key deleted");
            pruned.push(e.info(s));
        }
    }
    Ok(pruned)
}

/// Makes new current keys (for `alg`, and RS256 beside it) and marks every
/// other live key retiring, published until `now + max_lifetime + GRACE`;
/// then deletes retired keys. Returns the new keys, `alg`'s first. Call
/// holding the directory lock.
pub fn rotate_locked(dir: &Path, alg: SigningAlg, max_lifetime: Duration, now: i64) -> Result<Vec<KeyInfo>, String> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let old = scan(dir)?;
    let mut new = Vec::new();
    for a in signing_algs(alg) {
        new.push(create_key(dir, a, now)?);
    }
    let until = now
        .saturating_add(max_lifetime.as_secs() as i64)
        .saturating_add(GRACE.as_secs() as i64);
    for e in old.iter().filter(|e| e.meta.retired_at.is_none()) {
        let meta = Meta {
            created_at: e.meta.created_at,
            retired_at: Some(now),
            publish_until: Some(until),
        };
        write_meta(&e.folder, &meta)?;
        tracing::info!(kid = %e.kid, publish_until = until, "signing key retiring");
    }
    prune_locked(dir, alg, now)?;
    Ok(new.iter().map(|e| e.info(KeyState::Current)).collect())
}

/// `rotate_locked` under the directory lock: returns the new current key
/// of `alg` (an RS256 key beside it is rotated too; `list` shows it).
/// `max_lifetime`: the longest lifetime of anything the old keys signed.
pub fn rotate(dir: &Path, alg: SigningAlg, max_lifetime: Duration) -> Result<KeyInfo, String> {
    let new = with_dir_lock(dir, || rotate_locked(dir, alg, max_lifetime, now()))?;
    new.into_iter()
        .next()
        .ok_or_else(|| format!("{}: no key was created", dir.display()))
}

/// Scheduled rotation: under the lock, rotates when `alg`'s current key is
/// at least `every` old (or there is none), and deletes retired keys.
/// Instances sharing the directory each call this; the age check after
/// taking the lock makes only the first one rotate.
pub fn rotate_if_due(
    dir: &Path,
    alg: SigningAlg,
    every: Duration,
    max_lifetime: Duration,
) -> Result<Option<KeyInfo>, String> {
    with_dir_lock(dir, || {
        let now = now();
        if !rotation_due(dir, alg, every, now)? {
            prune_locked(dir, alg, now)?;
            return Ok(None);
        }
        Ok(rotate_locked(dir, alg, max_lifetime, now)?.into_iter().next())
    })
}

/// Whether `alg`'s current key in `dir` is at least `every` old (or missing).
pub fn rotation_due(dir: &Path, alg: SigningAlg, every: Duration, now: i64) -> Result<bool, String> {
    let entries = scan(dir)?;
    let states = classify(&entries, alg, now);
    let current = entries
        .iter()
        .zip(&states)
        .find(|(e, s)| e.alg == alg && **s == KeyState::Current);
    Ok(match current {
        None => true,
        Some((e, _)) => now.saturating_sub(e.meta.created_at) >= every.as_secs() as i64,
    })
}

/// Whether any key in `dir` is retired (its folder can go).
pub fn has_retired(dir: &Path, alg: SigningAlg, now: i64) -> Result<bool, String> {
    let entries = scan(dir)?;
    Ok(classify(&entries, alg, now).contains(&KeyState::Retired))
}

/// A cheap summary of the directory (folder names, meta and private key
/// modification times): when it changes, the keys are read again.
pub fn fingerprint(dir: &Path) -> Result<u64, String> {
    use std::hash::{Hash, Hasher};
    let mut items: Vec<(String, Option<SystemTime>, Option<SystemTime>)> = Vec::new();
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    for e in read {
        let e = e.map_err(io_err(dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let p = e.path();
        let m = |f: &str| std::fs::metadata(p.join(f)).and_then(|m| m.modified()).ok();
        items.push((name, m(META_FILE), m(PRIVATE_FILE)));
    }
    items.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    items.hash(&mut h);
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(dir: &Path, alg: SigningAlg, at: i64) -> Vec<(String, KeyState)> {
        let e = scan(dir).unwrap();
        let s = classify(&e, alg, at);
        e.iter().map(|e| e.kid.clone()).zip(s).collect()
    }

    #[test]
    fn rotation_makes_a_new_current_key_and_retires_the_old_one_until_its_tokens_expired() {
        let dir = tempfile::tempdir().unwrap();
        let first = rotate(dir.path(), SigningAlg::Es256, Duration::from_secs(60)).unwrap();
        let l = list(dir.path(), SigningAlg::Es256).unwrap();
        assert_eq!(l.len(), 2, "ES256 and the RS256 key beside it: {l:?}");
        assert!(l.iter().all(|k| k.state == KeyState::Current), "{l:?}");
        assert_eq!(first.alg, "ES256");

        let t0 = now();
        let second = rotate(dir.path(), SigningAlg::Es256, Duration::from_secs(60)).unwrap();
        assert_ne!(first.kid, second.kid);
        let l = list(dir.path(), SigningAlg::Es256).unwrap();
        assert_eq!(l.len(), 4, "{l:?}");
        let old = l.iter().find(|k| k.kid == first.kid).unwrap();
        assert_eq!(old.state, KeyState::Retiring);
        let retired_at = old.retired_at.unwrap();
        assert!(retired_at >= t0);
        assert_eq!(old.publish_until, Some(retired_at + 60 + GRACE.as_secs() as i64));
        let current: Vec<_> = l.iter().filter(|k| k.state == KeyState::Current).collect();
        assert_eq!(current.len(), 2);
        assert!(current.iter().any(|k| k.kid == second.kid));
        assert!(current.iter().any(|k| k.alg == "RS256"));

        // After the old tokens' lifetime the key is retired, then deleted.
        let later = old.publish_until.unwrap();
        let s = states(dir.path(), SigningAlg::Es256, later - 1);
        assert_eq!(s.iter().filter(|(_, s)| *s == KeyState::Retiring).count(), 2);
        let s = states(dir.path(), SigningAlg::Es256, later);
        assert_eq!(s.iter().filter(|(_, s)| *s == KeyState::Retired).count(), 2);
        let pruned = with_dir_lock(dir.path(), || prune_locked(dir.path(), SigningAlg::Es256, later)).unwrap();
        assert_eq!(pruned.len(), 2);
        let l = list(dir.path(), SigningAlg::Es256).unwrap();
        assert_eq!(l.len(), 2);
        assert!(l.iter().all(|k| k.state == KeyState::Current));
    }

    #[test]
    fn a_retired_key_is_not_retired_again_and_keeps_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let a = rotate(dir.path(), SigningAlg::Rs256, Duration::from_secs(100)).unwrap();
        rotate(dir.path(), SigningAlg::Rs256, Duration::from_secs(100)).unwrap();
        let before = list(dir.path(), SigningAlg::Rs256).unwrap();
        rotate(dir.path(), SigningAlg::Rs256, Duration::from_secs(5000)).unwrap();
        let after = list(dir.path(), SigningAlg::Rs256).unwrap();
        let find = |l: &[KeyInfo]| l.iter().find(|k| k.kid == a.kid).cloned().unwrap();
        assert_eq!(find(&before), find(&after));
        assert_eq!(after.iter().filter(|k| k.state == KeyState::Current).count(), 1);
    }

    #[test]
    fn keys_without_meta_count_from_their_file_time_and_the_newest_signs() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["a", "b"] {
            let k = generate(SigningAlg::EdDsa).unwrap();
            write_to_dir(&k, &dir.path().join(n), false).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let e = scan(dir.path()).unwrap();
        let mtime = std::fs::metadata(e[1].folder.join(PRIVATE_FILE))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(e[1].meta.created_at, unix(mtime));
        assert_eq!(e[1].folder, dir.path().join("b"));
        let s = classify(&e, SigningAlg::EdDsa, now());
        assert_eq!(s, [KeyState::Retiring, KeyState::Current]);
        // A rotation records the old ones as retiring.
        rotate(dir.path(), SigningAlg::EdDsa, Duration::from_secs(1)).unwrap();
        let l = list(dir.path(), SigningAlg::EdDsa).unwrap();
        assert_eq!(l.len(), 4, "EdDSA + RS256 new, two old: {l:?}");
        assert!(l[..2]
            .iter()
            .all(|k| k.state == KeyState::Retiring && k.retired_at.is_some()));
    }

    #[test]
    fn scheduled_rotation_happens_only_when_the_current_key_is_old_enough() {
        let dir = tempfile::tempdir().unwrap();
        let a = rotate_if_due(dir.path(), SigningAlg::Rs256, Duration::from_secs(3600), Duration::ZERO)
            .unwrap()
            .expect("no key: rotate at once");
        assert!(
            rotate_if_due(dir.path(), SigningAlg::Rs256, Duration::from_secs(3600), Duration::ZERO)
                .unwrap()
                .is_none()
        );
        assert!(rotation_due(dir.path(), SigningAlg::Rs256, Duration::from_secs(3600), now() + 3600).unwrap());
        let b = rotate_if_due(dir.path(), SigningAlg::Rs256, Duration::ZERO, Duration::ZERO)
            .unwrap()
            .unwrap();
        assert_ne!(a.kid, b.kid);
    }

    #[test]
    fn meta_is_written_atomically_and_the_fingerprint_follows_changes() {
        let dir = tempfile::tempdir().unwrap();
        let f0 = fingerprint(dir.path()).unwrap();
        rotate(dir.path(), SigningAlg::Rs256, Duration::ZERO).unwrap();
        let f1 = fingerprint(dir.path()).unwrap();
        assert_ne!(f0, f1);
        assert_eq!(f1, fingerprint(dir.path()).unwrap());
        let e = scan(dir.path()).unwrap();
        let names: Vec<String> = std::fs::read_dir(&e[0].folder)
            .unwrap()
            .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&META_FILE.to_string()), "{names:?}");
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(e[0].folder.join(PRIVATE_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::thread::sleep(Duration::from_millis(20));
        rotate(dir.path(), SigningAlg::Rs256, Duration::ZERO).unwrap();
        assert_ne!(f1, fingerprint(dir.path()).unwrap());
    }

    #[test]
    fn a_broken_meta_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        rotate(dir.path(), SigningAlg::Rs256, Duration::ZERO).unwrap();
        let e = scan(dir.path()).unwrap();
        std::fs::write(e[0].folder.join(META_FILE), "{").unwrap();
        let err = list(dir.path(), SigningAlg::Rs256).unwrap_err();
        assert!(err.contains("meta.json"), "{err}");
    }
}
