//! `memory://`: everything in process maps. For tests and throwaway runs;
//! nothing survives a restart.
//!
//! Each map has its own lock, taken only inside synchronous sections (never
//! across an `.await`), so single-use exchanges are atomic: the check and the
//! mark happen under one write lock.

use super::{AuthCode, Client, Consent, Consume, Store, StoreError, TokenKind, TokenRecord, User};
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
    /// Revoked id → until when the entry must be kept.
    revocations: RwLock<HashMap<String, i64>>,
    consents: RwLock<HashMap<(String, String), Consent>>,
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
    fn add_revocation(&self, id: &str, until: i64) {
        // Keep the later bound if the id is revoked twice.
        let mut m = write(&self.revocations);
        let e = m.entry(id.to_string()).or_insert(until);
        *e = (*e).max(until);
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

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let mut v: Vec<Client> = read(&self.clients).values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
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

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let mut v: Vec<User> = read(&self.users).values().cloned().collect();
        v.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(v)
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
        Ok(read(&self.tokens).get(token_hash).cloned())
    }

    async fn consume_refresh(&self, token_hash: &str) -> Result<Consume<TokenRecord>, StoreError> {
        let mut m = write(&self.tokens);
        Ok(match m.get_mut(token_hash) {
            Some(t) if t.kind == TokenKind::Refresh => {
                if t.used {
                    Consume::AlreadyUsed(t.clone())
                } else {
                    t.used = true;
                    Consume::Consumed(t.clone())
                }
            }
            _ => Consume::NotFound,
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
        let mut n = 0u64;
        for t in write(&self.tokens).values_mut() {
            if t.family_id == family_id && !t.revoked {
                t.revoked = true;
                n += 1;
            }
        }
        self.add_revocation(family_id, until);
        Ok(n)
    }

    async fn revoke_id(&self, id: &str, until: i64) -> Result<(), StoreError> {
        self.add_revocation(id, until);
        Ok(())
    }

    async fn is_revoked(&self, ids: &[&str]) -> Result<bool, StoreError> {
        let m = read(&self.revocations);
        Ok(ids.iter().any(|id| m.contains_key(*id)))
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
        let revs = purge_map(&self.revocations, batch, |until| *until <= now);
        Ok(codes + tokens + revs)
    }
}
