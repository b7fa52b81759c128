//! Hashing and checking of passwords and client secrets.
//!
//! Passwords and hand-chosen client secrets are argon2id (slow on purpose:
//! they may be guessable). Secrets gatehouse generates carry 256 bits of
//! entropy, so nobody can brute-force them whatever the hash; for those a
//! single SHA-256 is enough and keeps client authentication on the token
//! endpoint fast (argon2 would cap it at a few hundred requests/s).

use argon2::password_hash::rand_core::OsRng as PhOsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const SHA256_PREFIX: &str = "sha256$";

/// 256 random bits, base64url: for tokens, codes and generated secrets.
/// From AWS-LC's DRBG (seeded from the OS, per thread, reseeded on its
/// schedule): the OS generator costs a system call per token, one of the
/// three a token request makes otherwise (read, write).
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        rand::rngs::OsRng.fill_bytes(&mut b);
    }
    URL_SAFE_NO_PAD.encode(b)
}

/// An opaque access or refresh token: 16 hex digits of issue time (in
/// nanoseconds, so tokens sort by age) and 256 random bits. The prefix is
/// no secret (a JWT says as much in `iat`); see `store::hash_token`.
pub fn stored_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut t = format!("{nanos:016x}");
    t.push_str(&random_token());
    debug_assert_eq!(t.len(), crate::store::STORED_TOKEN_LEN);
    t
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut PhOsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash password: {e}"))
}

/// Constant-time comparison is inside argon2's verifier.
pub fn verify_password(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// Argon2 verifications running at once, process-wide: one per core. Each
/// takes a core and its memory cost (19 MiB at the defaults) for tens of
/// milliseconds, so more at once only multiply the memory and make every
/// one of them finish later: 64 connections arriving together used to start
/// 64 (1.2 GiB resident, the last done after 3 s, the other requests of
/// the server starved meanwhile). Waiting callers queue in arrival order.
fn slow_hash_permits() -> &'static tokio::sync::Semaphore {
    static S: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
    })
}

/// `verify_password` off the async workers (argon2 takes tens of
/// milliseconds), at most one per core at a time.
pub async fn verify_password_queued(phc: String, password: String) -> bool {
    let Ok(_permit) = slow_hash_permits().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || verify_password(&phc, &password))
        .await
        .unwrap_or(false)
}

/// An argon2 hash of nothing anyone knows, made once with the parameters
/// of `hash_password`: verified when there is no real hash to check (an
/// unknown user or client), so that answer costs the same time as a wrong
/// password (no enumeration by timing).
pub fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

/// A fresh client secret and the hash to store. The secret is shown once.
pub fn new_client_secret() -> (String, String) {
    let secret = random_token();
    let hash = fast_hash(&secret);
    (secret, hash)
}

fn fast_hash(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    format!("{SHA256_PREFIX}{}", URL_SAFE_NO_PAD.encode(d))
}

/// Hash for a secret chosen by a person (config file, CLI --secret).
pub fn hash_chosen_secret(secret: &str) -> Result<String, String> {
    hash_password(secret)
}

/// True for the fast (generated-secret) hash form.
pub fn is_fast_hash(stored: &str) -> bool {
    stored.starts_with(SHA256_PREFIX)
}

/// Checks a presented client secret against its stored hash, in constant
/// time for the fast form (argon2 verifies in constant time itself).
pub fn verify_client_secret(stored: &str, presented: &str) -> bool {
    match stored.strip_prefix(SHA256_PREFIX) {
        Some(_) => verify_fast_secret(stored, presented),
        None => verify_password(stored, presented),
    }
}

/// The fast (generated-secret) form: one SHA-256, constant-time compare.
pub fn verify_fast_secret(stored: &str, presented: &str) -> bool {
    fast_hash(presented).as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_tokens_sort_by_age_and_their_hashes_keep_the_prefix() {
        use crate::store::{hash_token, STORED_TOKEN_LEN};
        let a = stored_token();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = stored_token();
        assert_eq!((a.len(), b.len()), (STORED_TOKEN_LEN, STORED_TOKEN_LEN));
        assert!(a < b, "{a} then {b}");
        assert_ne!(a[16..], b[16..]);
        let (ha, hb) = (hash_token(&a), hash_token(&b));
        assert!(ha.starts_with(&a[..16]) && ha.len() == 16 + 64);
        assert!(ha < hb);
        // Anything else (codes, older 43-character tokens) is the plain hash.
        let old = random_token();
        assert_eq!(hash_token(&old).len(), 64);
        // A look-alike with a non-hex prefix gets no prefix either.
        let odd = format!("zzzzzzzzzzzzzzzz{}", random_token());
        assert_eq!(hash_token(&odd).len(), 64);
    }

    #[test]
    fn passwords_round_trip_with_argon2id() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong"));
        assert!(!verify_password("not a hash", "x"));
    }

    #[test]
    fn generated_and_chosen_secrets_verify() {
        let (s, h) = new_client_secret();
        assert!(h.starts_with("sha256$") && !h.contains(&s));
        assert!(verify_client_secret(&h, &s));
        assert!(!verify_client_secret(&h, "nope"));
        let h2 = hash_chosen_secret("hunter2").unwrap();
        assert!(verify_client_secret(&h2, "hunter2"));
        assert!(!verify_client_secret(&h2, "hunter3"));
    }
}
