//! `memory://`: everything in process maps. For tests and throwaway runs;
//! nothing survives a restart.
//!
//! Each map has its own lock, taken only inside synchronous sections (never
//! across an `.await`), so single-use exchanges are atomic: the check and the
//! mark happen under one write lock.

mod clients;
mod codes;
mod consents;
mod device_codes;
mod failures;
mod health;
mod purge;
mod pushed_requests;
mod rate_counts;
mod revocations;
mod sessions;
mod tokens;
mod used_ids;
mod users;

use super::{AuthCode, ChangeFeed, Client, Consent, Failures, ListQuery, Owner, SessionRecord, TokenRecord, User};
use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

type InstanceCounts = HashMap<String, (i64, i64)>;

#[derive(Default)]
pub struct MemoryStore {
    clients: RwLock<HashMap<String, Client>>,
    users: RwLock<HashMap<String, User>>,
    /// Code and whether it has been used.
    codes: RwLock<HashMap<String, (AuthCode, bool)>>,
    tokens: RwLock<HashMap<String, TokenRecord>>,
    revocations: RwLock<HashMap<String, Revocation>>,
    consents: RwLock<HashMap<(String, String), Consent>>,
    /// Single-use id → until when it stays used.
    used_ids: RwLock<HashMap<String, i64>>,
    sessions: RwLock<HashMap<String, SessionRecord>>,
    failures: RwLock<HashMap<String, Failures>>,
    /// Device authorizations by device code hash.
    device_codes: RwLock<HashMap<String, super::DeviceCode>>,
    /// Pushed authorization requests by request_uri hash.
    pushed_requests: RwLock<HashMap<String, super::PushedRequest>>,
    /// Shared rate-limit windows: (key, window) → instance → (count, until).
    rate_counts: RwLock<HashMap<(String, i64), InstanceCounts>>,
}

#[derive(Debug, Clone, Copy)]
struct Revocation {
    /// Until when the entry must be kept.
    until: i64,
    /// None: everything carrying the id; Some(t): what was issued up to t.
    cutoff: Option<i64>,
}

// A panic while a lock was held cannot leave a map half-updated (every write
// is a single insert/remove/field store), so a poisoned lock is still usable.
fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Removes up to `batch` entries matching `expired` per lock acquisition,
/// so readers get a turn between batches.
fn purge_map<K: Clone + Eq + std::hash::Hash, V>(
    map: &RwLock<HashMap<K, V>>,
    batch: usize,
    expired: impl Fn(&V) -> bool,
) -> u64 {
    let mut total = 0u64;
    loop {
        let mut m = write(map);
        let keys: Vec<K> = m
            .iter()
            .filter(|(_, v)| expired(v))
            .map(|(k, _)| k.clone())
            .take(batch)
            .collect();
        for k in &keys {
            m.remove(k);
        }
        drop(m);
        total += keys.len() as u64;
        if keys.len() < batch {
            return total;
        }
    }
}

impl MemoryStore {
    /// `cutoff` None revokes everything; a later cutoff widens an earlier
    /// one; the later `until` is kept.
    fn add_revocation(&self, id: &str, until: i64, cutoff: Option<i64>) {
        let mut m = write(&self.revocations);
        let e = m.entry(id.to_string()).or_insert(Revocation { until, cutoff });
        e.until = e.until.max(until);
        e.cutoff = match (e.cutoff, cutoff) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }

    /// What `get_token` answers: revoked also when the family or the
    /// owner is on the revocation list (see the trait).
    fn effective(&self, t: &TokenRecord) -> TokenRecord {
        let revs = read(&self.revocations);
        let family = revs.get(&t.family_id).is_some_and(|r| r.cutoff.is_none());
        let mut owners = vec![Owner::Client(&t.client_id).revocation_id()];
        if let Some(s) = &t.subject {
            owners.push(Owner::Subject(s).revocation_id());
        }
        let cut = owners
            .iter()
            .any(|o| revs.get(o).and_then(|r| r.cutoff).is_some_and(|c| t.issued_at <= c));
        TokenRecord {
            revoked: t.revoked || family || cut,
            ..t.clone()
        }
    }
}

/// The case-insensitive substring test of `ListQuery::search`.
fn matches(search: Option<&str>, fields: &[Option<&str>]) -> bool {
    let Some(s) = search else { return true };
    let s = s.to_lowercase();
    fields.iter().flatten().any(|f| f.to_lowercase().contains(&s))
}

/// Keyset paging over a sorted listing.
fn page<T>(mut v: Vec<T>, key: impl Fn(&T) -> &str, q: &ListQuery<'_>) -> Vec<T> {
    v.sort_by(|a, b| key(a).cmp(key(b)));
    v.into_iter()
        .filter(|x| q.after.is_none_or(|a| key(x) > a))
        .take(q.limit as usize)
        .collect()
}

fn owns(owner: Owner<'_>, t: &TokenRecord) -> bool {
    match owner {
        Owner::Client(c) => t.client_id == c,
        Owner::Subject(s) => t.subject.as_deref() == Some(s),
    }
}

/// No other process shares these maps: nothing to announce.
impl ChangeFeed for MemoryStore {}
