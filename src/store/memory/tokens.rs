//! Tokens in a map keyed by hash; what reads them also reads the
//! revocation list (`MemoryStore::effective`).

use super::{owns, read, write, MemoryStore};
use crate::store::{Consume, Owner, StoreError, TokenKind, TokenRecord, TokenStore};
use async_trait::async_trait;

#[async_trait]
impl TokenStore for MemoryStore {
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
}
