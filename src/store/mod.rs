//! Storage, split by concern as fosite does it: one small trait per kind of
//! data (one file each here: `clients.rs`, `codes.rs`, `tokens.rs`, …), and
//! `Store`, every concern at once, which is what the rest of the program
//! holds (`DynStore`). Each backend is a folder with one file per concern
//! (`memory/`, `sql/` shared by `sql/sqlite.rs` and `sql/postgres.rs`,
//! `cassandra/`), and
//! one conformance suite, organised the same way, runs on every backend
//! (`conformance/`).
//!
//! A new concern is: a trait in its own file here, added to `Store`'s
//! bounds; a file in every backend folder; a file of cases in
//! `conformance/`, listed in its macro; its expiring rows in every
//! backend's purge.
//!
//! Secrets never reach the store in clear: tokens and codes are stored as
//! SHA-256 hashes (`hash_token`), passwords and client secrets as hashes.

pub mod changes;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod device_codes;
pub mod failures;
pub mod health;
pub mod purge;
pub mod pushed_requests;
pub mod rate_counts;
pub mod revocations;
pub mod sessions;
pub mod tokens;
pub mod used_ids;
pub mod users;

pub mod cassandra;
pub mod memory;
mod sql;
pub use sql::{postgres, sqlite};

#[cfg(test)]
pub mod conformance;

pub use changes::{Change, ChangeFeed};
pub use clients::{Client, ClientMeta, ClientStore, TokenExchangePolicy};
pub use codes::{AuthCode, CodeStore};
pub use consents::{Consent, ConsentStore};
pub use device_codes::{DeviceCode, DeviceCodeStore, DeviceDecision, DevicePoll};
pub use failures::{FailureStore, Failures};
pub use health::HealthCheck;
pub use purge::PurgeStore;
pub use pushed_requests::{PushedRequest, PushedRequestStore};
pub use rate_counts::{InstanceCount, RateCountStore, WindowCount};
pub use revocations::RevocationStore;
pub use sessions::{SessionRecord, SessionStore};
pub use tokens::{Confirmation, Owner, TokenKind, TokenRecord, TokenStore};
pub use used_ids::UsedIdStore;
pub use users::{User, UserStore};

/// Every concern trait, for code that holds a concrete backend rather
/// than a `DynStore` (whose methods need no import).
pub mod prelude {
    pub use super::{
        ChangeFeed, ClientStore, CodeStore, ConsentStore, DeviceCodeStore, FailureStore, HealthCheck, PurgeStore,
        PushedRequestStore, RateCountStore, RevocationStore, SessionStore, TokenStore, UsedIdStore, UserStore,
    };
}

use crate::config::StoreSettings;
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store conflict: {0}")]
    Conflict(String),
    #[error("unsupported store url {0:?}")]
    Unsupported(String),
}

/// A page of a listing: optional case-insensitive substring search, rows
/// after a key (keyset paging, in key order), at most `limit` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery<'a> {
    pub search: Option<&'a str>,
    pub after: Option<&'a str>,
    pub limit: u32,
}

impl ListQuery<'_> {
    /// Everything (for the CLI and small installations).
    pub const ALL: ListQuery<'static> = ListQuery {
        search: None,
        after: None,
        limit: u32::MAX,
    };
}

/// Outcome of a single-use exchange (codes, refresh tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consume<T> {
    /// First use: it is now marked used.
    Consumed(T),
    /// It was used before: the caller must treat this as a replay.
    AlreadyUsed(T),
    NotFound,
}

/// Every concern at once: what a backend is, and what the rest of the
/// program holds. Implemented for anything that implements them all.
pub trait Store:
    HealthCheck
    + ClientStore
    + UserStore
    + CodeStore
    + TokenStore
    + RevocationStore
    + UsedIdStore
    + SessionStore
    + FailureStore
    + ConsentStore
    + DeviceCodeStore
    + PushedRequestStore
    + RateCountStore
    + PurgeStore
    + ChangeFeed
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: HealthCheck
        + ClientStore
        + UserStore
        + CodeStore
        + TokenStore
        + RevocationStore
        + UsedIdStore
        + SessionStore
        + FailureStore
        + ConsentStore
        + DeviceCodeStore
        + PushedRequestStore
        + RateCountStore
        + PurgeStore
        + ChangeFeed
        + Send
        + Sync
        + 'static
{
}

pub type DynStore = Arc<dyn Store>;

/// Opens the backend named by the store URL (schema migrated).
pub async fn open(s: &StoreSettings) -> Result<DynStore, StoreError> {
    let url = s.url.as_str();
    if url.starts_with("memory://") {
        Ok(Arc::new(memory::MemoryStore::default()))
    } else if url.starts_with("sqlite://") {
        Ok(Arc::new(sqlite::SqliteStore::connect(s).await?))
    } else if is_postgres(url) {
        Ok(Arc::new(postgres::PgStore::connect(s).await?))
    } else if cassandra::is_cassandra(url) {
        Ok(Arc::new(cassandra::CassandraStore::connect(s).await?))
    } else {
        Err(StoreError::Unsupported(url.to_string()))
    }
}

/// Applies the store's schema migrations (`gatehouse migrate`; `open`
/// does it too). Nothing to do for `memory://`.
pub async fn migrate(s: &StoreSettings) -> Result<(), StoreError> {
    if is_postgres(&s.url) {
        postgres::migrate(s).await
    } else {
        open(s).await.map(|_| ())
    }
}

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Length of a token from `authz::secrets::stored_token`: a 16-hex-digit
/// time prefix, then 256 random bits in base64url.
pub const STORED_TOKEN_LEN: usize = 16 + 43;

/// What the store keys on: SHA-256 hex of a token or code. Tokens are
/// 256-bit random values, so a fast unsalted hash is enough (no dictionary
/// to try). A stored token's time prefix is kept in front of the hash so
/// that new keys land at the end of the index (appends instead of random
/// page writes: about twice the insert rate on SQLite).
pub fn hash_token(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    let prefix = match token.as_bytes() {
        b if b.len() == STORED_TOKEN_LEN && b[..16].iter().all(u8::is_ascii_hexdigit) => &token[..16],
        _ => "",
    };
    let mut s = String::with_capacity(prefix.len() + 64);
    s.push_str(prefix);
    for b in d {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
