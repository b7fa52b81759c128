//! `memory://`: everything in process maps. For tests and throwaway runs;
//! nothing survives a restart.
//!
//! Each map has its own lock, taken only inside synchronous sections (never
//! across an `.await`), so single-use exchanges are atomic: the check and the
//! mark happen under one write lock.

use super::{
    AuthCode, Client, Consent, Consume, Failures, ListQuery, Owner, SessionRecord, Store, StoreError, TokenKind,
    TokenRecord, User,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

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

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn put_client(&self, c: &Client) -> Result<(), StoreError> {
        write(&self.clients).insert(c.id.clone(), c.clone());
        Ok(())
    }

    async fn get_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        Ok(read(&self.clients).get(id).cloned())
    }

    async fn list_clients(&self, q: &ListQuery<'_>) -> Result<Vec<Client>, StoreError> {
        let v = read(&self.clients)
            .values()
            .filter(|c| matches(q.search, &[Some(&c.id), Some(&c.name)]))
            .cloned()
            .collect();
        Ok(page(v, |c| &c.id, q))
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        Ok(write(&self.clients).remove(id).is_some())
    }

    async fn put_user(&self, u: &User) -> Result<(), StoreError> {
        write(&self.users).insert(u.username.clone(), u.clone());
        Ok(())
    }

    async fn get_user(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(read(&self.users).get(username).cloned())
    }

    async fn list_users(&self, q: &ListQuery<'_>) -> Result<Vec<User>, StoreError> {
        let v = read(&self.users)
            .values()
            .filter(|u| matches(q.search, &[Some(&u.username), u.name.as_deref(), u.email.as_deref()]))
            .cloned()
            .collect();
        Ok(page(v, |u| &u.username, q))
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        Ok(write(&self.users).remove(username).is_some())
    }

    async fn put_code(&self, c: &AuthCode) -> Result<(), StoreError> {
        // Never overwrite: replacing a used code would make it usable again.
        let mut m = write(&self.codes);
        if m.contains_key(&c.code_hash) {
            return Err(StoreError::Conflict("authorization code already stored".into()));
        }
        m.insert(c.code_hash.clone(), (c.clone(), false));
        Ok(())
    }

    async fn consume_code(&self, code_hash: &str) -> Result<Consume<AuthCode>, StoreError> {
        let mut m = write(&self.codes);
        Ok(match m.get_mut(code_hash) {
            None => Consume::NotFound,
            Some((c, true)) => Consume::AlreadyUsed(c.clone()),
            Some((c, used)) => {
                *used = true;
                Consume::Consumed(c.clone())
            }
        })
    }

    async fn put_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        // Never overwrite: replacing a used refresh token would reset `used`.
        let mut m = write(&self.tokens);
        if m.contains_key(&t.token_hash) {
            return Err(StoreError::Conflict("token already stored".into()));
        }
        m.insert(t.token_hash.clone(), t.clone());
        Ok(())
    }

    async fn get_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let t = read(&self.tokens).get(token_hash).cloned();
        Ok(t.map(|t| self.effective(&t)))
    }

    async fn consume_refresh(&self, token_hash: &str) -> Result<Consume<TokenRecord>, StoreError> {
        let outcome = {
            let mut m = write(&self.tokens);
            match m.get_mut(token_hash) {
                Some(t) if t.kind == TokenKind::Refresh => {
                    if t.used {
                        Consume::AlreadyUsed(t.clone())
                    } else {
                        t.used = true;
                        Consume::Consumed(t.clone())
                    }
                }
                _ => Consume::NotFound,
            }
        };
        Ok(match outcome {
            Consume::Consumed(t) => Consume::Consumed(self.effective(&t)),
            Consume::AlreadyUsed(t) => Consume::AlreadyUsed(self.effective(&t)),
            Consume::NotFound => Consume::NotFound,
        })
    }

    async fn revoke_token(&self, token_hash: &str) -> Result<bool, StoreError> {
        Ok(match write(&self.tokens).get_mut(token_hash) {
            Some(t) => {
                t.revoked = true;
                true
            }
            None => false,
        })
    }

    async fn revoke_family(&self, family_id: &str, until: i64) -> Result<u64, StoreError> {
        self.add_revocation(family_id, until, None);
        let mut n = 0u64;
        for t in write(&self.tokens).values_mut() {
            if t.family_id == family_id && !t.revoked {
                t.revoked = true;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn list_tokens(&self, owner: Owner<'_>, now: i64, limit: u32) -> Result<Vec<TokenRecord>, StoreError> {
        let mine: Vec<TokenRecord> = read(&self.tokens)
            .values()
            .filter(|t| owns(owner, t) && t.expires_at > now && !t.used)
            .cloned()
            .collect();
        let mut v: Vec<TokenRecord> = mine.iter().map(|t| self.effective(t)).filter(|t| !t.revoked).collect();
        v.sort_by(|a, b| {
            b.issued_at
                .cmp(&a.issued_at)
                .then_with(|| a.token_hash.cmp(&b.token_hash))
        });
        v.truncate(limit as usize);
        Ok(v)
    }

    async fn revoke_owner(&self, owner: Owner<'_>, now: i64, until: i64) -> Result<u64, StoreError> {
        self.add_revocation(&owner.revocation_id(), until, Some(now));
        let mut n = 0u64;
        for t in write(&self.tokens).values_mut() {
            if owns(owner, t) && !t.revoked {
                t.revoked = true;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn revoke_id(&self, id: &str, until: i64) -> Result<(), StoreError> {
        self.add_revocation(id, until, None);
        Ok(())
    }

    async fn is_revoked(&self, ids: &[&str], issued_at: i64) -> Result<bool, StoreError> {
        let m = read(&self.revocations);
        Ok(ids
            .iter()
            .filter_map(|id| m.get(*id))
            .any(|r| r.cutoff.is_none_or(|c| issued_at <= c)))
    }

    async fn use_once(&self, id: &str, expires_at: i64, now: i64) -> Result<bool, StoreError> {
        let mut m = write(&self.used_ids);
        match m.get(id) {
            Some(until) if *until > now => Ok(false),
            _ => {
                m.insert(id.to_string(), expires_at);
                Ok(true)
            }
        }
    }

    async fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let mut m = write(&self.sessions);
        if m.contains_key(&s.id_hash) {
            return Err(StoreError::Conflict("session already stored".into()));
        }
        m.insert(s.id_hash.clone(), s.clone());
        Ok(())
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(read(&self.sessions).get(id_hash).cloned())
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        Ok(write(&self.sessions).remove(id_hash).is_some())
    }

    async fn delete_sessions_of(&self, kind: &str, subject: &str) -> Result<u64, StoreError> {
        let mut m = write(&self.sessions);
        let before = m.len();
        m.retain(|_, s| !(s.kind == kind && s.subject == subject));
        Ok((before - m.len()) as u64)
    }

    async fn add_failure(&self, key: &str, now: i64, window: i64) -> Result<Failures, StoreError> {
        let mut m = write(&self.failures);
        let until = now.saturating_add(window);
        let f = m.entry(key.to_string()).or_insert(Failures { count: 0, until });
        f.count = if f.until <= now { 1 } else { f.count.saturating_add(1) };
        f.until = until;
        Ok(*f)
    }

    async fn get_failures(&self, key: &str, now: i64) -> Result<Option<Failures>, StoreError> {
        Ok(read(&self.failures).get(key).filter(|f| f.until > now).copied())
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        write(&self.failures).remove(key);
        Ok(())
    }

    async fn put_consent(&self, c: &Consent) -> Result<(), StoreError> {
        write(&self.consents).insert((c.username.clone(), c.client_id.clone()), c.clone());
        Ok(())
    }

    async fn get_consent(&self, username: &str, client_id: &str) -> Result<Option<Consent>, StoreError> {
        Ok(read(&self.consents)
            .get(&(username.to_string(), client_id.to_string()))
            .cloned())
    }

    async fn delete_consent(&self, username: &str, client_id: &str) -> Result<bool, StoreError> {
        Ok(write(&self.consents)
            .remove(&(username.to_string(), client_id.to_string()))
            .is_some())
    }

    async fn purge_expired(&self, now: i64, batch: u32) -> Result<u64, StoreError> {
        let batch = batch.max(1) as usize;
        let codes = purge_map(&self.codes, batch, |(c, _)| c.expires_at <= now);
        let tokens = purge_map(&self.tokens, batch, |t| t.expires_at <= now);
        let revs = purge_map(&self.revocations, batch, |r| r.until <= now);
        let used = purge_map(&self.used_ids, batch, |until| *until <= now);
        let sessions = purge_map(&self.sessions, batch, |s| s.expires_at <= now);
        let failures = purge_map(&self.failures, batch, |f| f.until <= now);
        Ok(codes + tokens + revs + used + sessions + failures)
    }
}
