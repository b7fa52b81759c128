//! Stored tokens: the row by hash (`IF NOT EXISTS`; rotation and
//! revocation by LWT), and two lookup tables written after it: by grant
//! family (revoke a family) and by owner, newest first (the admin pages'
//! listings, revoke everything of a client or user). A token reads as
//! revoked when its row says so or when the revocation list names its
//! family or cuts off its client or subject (so a token stored while a
//! revocation ran, or missing from a lookup table, is covered all the same).

use super::revocations::EVERYTHING;
use super::{ttl, unavailable, CassandraStore};
use crate::store::{Change, Confirmation, Consume, Owner, StoreError, TokenKind, TokenRecord, TokenStore};
use async_trait::async_trait;
use futures_util::StreamExt;
use scylla::statement::unprepared::Statement;

/// Most lookup rows one listing reads.
const LIST_SCAN: usize = 100_000;

type Row = (
    String,
    String,
    String,
    Option<String>,
    String,
    Option<Vec<String>>,
    String,
    i64,
    i64,
    Option<i64>,
    Option<bool>,
    Option<bool>,
    Option<String>,
);

const SELECT: &str = "SELECT token_hash, kind, client_id, subject, scope, audience, family_id, issued_at, \
     expires_at, auth_time, used, revoked, cnf FROM tokens WHERE token_hash = ?";

fn record(r: Row) -> Result<TokenRecord, StoreError> {
    let (
        token_hash,
        kind,
        client_id,
        subject,
        scope,
        audience,
        family_id,
        issued_at,
        expires_at,
        auth_time,
        used,
        revoked,
        cnf,
    ) = r;
    Ok(TokenRecord {
        token_hash,
        kind: match kind.as_str() {
            "access" => TokenKind::Access,
            "refresh" => TokenKind::Refresh,
            other => return Err(unavailable(format!("corrupt token kind {other:?}"))),
        },
        client_id,
        subject,
        scope,
        audience: audience.unwrap_or_default(),
        family_id,
        issued_at,
        expires_at,
        auth_time,
        used: used.unwrap_or(false),
        revoked: revoked.unwrap_or(false),
        cnf: cnf
            .map(|c| serde_json::from_str::<Confirmation>(&c))
            .transpose()
            .map_err(unavailable)?,
    })
}

impl CassandraStore {
    /// The row as stored (its own `revoked` flag only), optionally read at
    /// the serial consistency.
    async fn token_row(&self, token_hash: &str, serial: bool) -> Result<Option<TokenRecord>, StoreError> {
        let rows: Vec<Row> = if serial {
            self.serial_rows(SELECT, (token_hash,)).await?
        } else {
            self.rows(SELECT, (token_hash,)).await?
        };
        rows.into_iter().next().map(record).transpose()
    }

    /// Folds the revocation list into `t.revoked`.
    async fn with_list(&self, mut t: TokenRecord) -> Result<TokenRecord, StoreError> {
        if t.revoked {
            return Ok(t);
        }
        let client = Owner::Client(&t.client_id).revocation_id();
        let sub = t.subject.as_deref().map(|s| Owner::Subject(s).revocation_id());
        let mut ids = vec![client.as_str()];
        // No family, no family entry (and no empty partition key).
        if !t.family_id.is_empty() {
            ids.push(t.family_id.as_str());
        }
        if let Some(s) = &sub {
            ids.push(s);
        }
        for (id, cutoff) in self.cutoffs(&ids).await? {
            let hit = if id == t.family_id {
                cutoff == EVERYTHING
            } else {
                t.issued_at <= cutoff
            };
            if hit {
                t.revoked = true;
            }
        }
        Ok(t)
    }

    /// Marks one stored row revoked (by LWT, ordered with rotation);
    /// whether this call changed it.
    async fn mark_revoked(&self, token_hash: &str) -> Result<bool, StoreError> {
        let Some(t) = self.token_row(token_hash, false).await? else {
            return Ok(false);
        };
        if t.revoked {
            return Ok(false);
        }
        self.lwt(
            "UPDATE tokens USING TTL ? SET revoked = true WHERE token_hash = ? IF revoked = false",
            (ttl(t.expires_at), token_hash),
        )
        .await
    }

    /// The token hashes of a lookup partition, in its order, page by page.
    async fn hashes_of(
        &self,
        cql: &'static str,
        key: &str,
        mut each: impl FnMut(String) -> bool + Send,
    ) -> Result<(), StoreError> {
        let mut st = super::idempotent(Statement::new(cql));
        st.set_page_size(200);
        let pager = tokio::time::timeout(self.limit, self.db.execute_iter(st, (key,)))
            .await
            .map_err(|_| unavailable("cassandra did not answer in time"))?
            .map_err(unavailable)?;
        let mut rows = pager.rows_stream::<(String,)>().map_err(unavailable)?;
        while let Some(r) = tokio::time::timeout(self.limit, rows.next())
            .await
            .map_err(|_| unavailable("cassandra did not answer in time"))?
        {
            let (h,) = r.map_err(unavailable)?;
            if !each(h) {
                break;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl TokenStore for CassandraStore {
    async fn put_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let cnf = t
            .cnf
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(unavailable)?;
        let life = ttl(t.expires_at);
        // The hash of a token just minted: a row found there is ours.
        let fresh = self
            .insert_own(
                "INSERT INTO tokens (token_hash, kind, client_id, subject, scope, audience, family_id, issued_at, \
                 expires_at, auth_time, used, revoked, cnf) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 IF NOT EXISTS USING TTL ?",
                &(
                    &t.token_hash,
                    t.kind.as_str(),
                    &t.client_id,
                    t.subject.as_deref(),
                    &t.scope,
                    &t.audience,
                    &t.family_id,
                    t.issued_at,
                    t.expires_at,
                    t.auth_time,
                    t.used,
                    t.revoked,
                    cnf,
                    life,
                ),
            )
            .await?;
        if !fresh {
            return Err(StoreError::Conflict("token already stored".into()));
        }
        // A token of no family (client_credentials) has no by-family row:
        // an empty partition key is refused by Cassandra, and there is no
        // family to revoke.
        let family = async {
            if t.family_id.is_empty() {
                return Ok(());
            }
            self.exec(
                "INSERT INTO tokens_by_family (family_id, token_hash) VALUES (?, ?) USING TTL ?",
                (&t.family_id, &t.token_hash, life),
            )
            .await
        };
        let client = Owner::Client(&t.client_id).revocation_id();
        let by_client = self.exec(
            "INSERT INTO tokens_by_owner (owner, issued_at, token_hash) VALUES (?, ?, ?) USING TTL ?",
            (client, t.issued_at, &t.token_hash, life),
        );
        let by_subject = async {
            let Some(s) = &t.subject else { return Ok(()) };
            self.exec(
                "INSERT INTO tokens_by_owner (owner, issued_at, token_hash) VALUES (?, ?, ?) USING TTL ?",
                (Owner::Subject(s).revocation_id(), t.issued_at, &t.token_hash, life),
            )
            .await
        };
        tokio::try_join!(family, by_client, by_subject)?;
        Ok(())
    }

    async fn get_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        match self.token_row(token_hash, false).await? {
            Some(t) => Ok(Some(self.with_list(t).await?)),
            None => Ok(None),
        }
    }

    async fn consume_refresh(&self, token_hash: &str) -> Result<Consume<TokenRecord>, StoreError> {
        let t = match self.token_row(token_hash, true).await? {
            Some(t) if t.kind == TokenKind::Refresh => t,
            _ => return Ok(Consume::NotFound),
        };
        let me = crate::authz::secrets::random_token();
        let won = !t.used
            && self
                .claim(
                    "UPDATE tokens USING TTL ? SET used = true, used_by = ? WHERE token_hash = ? IF used = false",
                    &(ttl(t.expires_at), &me, token_hash),
                    "SELECT used_by FROM tokens WHERE token_hash = ?",
                    token_hash,
                    &me,
                )
                .await?;
        let t = self.with_list(TokenRecord { used: true, ..t }).await?;
        Ok(if won {
            Consume::Consumed(t)
        } else {
            Consume::AlreadyUsed(t)
        })
    }

    async fn revoke_token(&self, token_hash: &str) -> Result<bool, StoreError> {
        let Some(t) = self.token_row(token_hash, false).await? else {
            return Ok(false);
        };
        if !t.revoked {
            self.mark_revoked(token_hash).await?;
        }
        self.announce(Change::Token(token_hash.to_string())).await;
        Ok(true)
    }

    async fn revoke_family(&self, family_id: &str, until: i64) -> Result<u64, StoreError> {
        // The list entry first: from then on every token of the family reads
        // as revoked, including one stored by a rotation racing with us.
        self.add_revocation(family_id, EVERYTHING, until).await?;
        let mut hashes = Vec::new();
        self.hashes_of(
            "SELECT token_hash FROM tokens_by_family WHERE family_id = ?",
            family_id,
            |h| {
                hashes.push(h);
                true
            },
        )
        .await?;
        let mut n = 0;
        for h in hashes {
            if self.mark_revoked(&h).await? {
                n += 1;
            }
        }
        self.announce(Change::Revoked(family_id.to_string())).await;
        Ok(n)
    }

    async fn list_tokens(&self, owner: Owner<'_>, now: i64, limit: u32) -> Result<Vec<TokenRecord>, StoreError> {
        let key = owner.revocation_id();
        // The lookup partition in order (newest first); each hash is read
        // whole and checked against the list until `limit` active ones are
        // found. Bounded: an owner's partition holds its live tokens only
        // (TTL), and a listing looks at most LIST_SCAN of them.
        let mut hashes = Vec::new();
        self.hashes_of("SELECT token_hash FROM tokens_by_owner WHERE owner = ?", &key, |h| {
            hashes.push(h);
            hashes.len() < LIST_SCAN
        })
        .await?;
        let mut out = Vec::new();
        for h in &hashes {
            if out.len() >= limit as usize {
                break;
            }
            let Some(t) = self.get_token(h).await? else { continue };
            let mine = match owner {
                Owner::Client(c) => t.client_id == c,
                Owner::Subject(s) => t.subject.as_deref() == Some(s),
            };
            if mine && !t.used && t.is_active(now) {
                out.push(t);
            }
        }
        Ok(out)
    }

    async fn revoke_owner(&self, owner: Owner<'_>, now: i64, until: i64) -> Result<u64, StoreError> {
        let key = owner.revocation_id();
        self.add_revocation(&key, now, until).await?;
        let mut hashes = Vec::new();
        self.hashes_of("SELECT token_hash FROM tokens_by_owner WHERE owner = ?", &key, |h| {
            hashes.push(h);
            true
        })
        .await?;
        let mut n = 0;
        for h in hashes {
            if self.mark_revoked(&h).await? {
                n += 1;
            }
        }
        self.announce(Change::Revoked(key)).await;
        Ok(n)
    }
}
