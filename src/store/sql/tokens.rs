//! Tokens: group-committed multi-row INSERTs, reads that fold in the
//! revocation list, rotation as one conditional UPDATE per batch.

use super::revocations::{REVOKE_CUTOFF_SQL, REVOKE_ID_SQL};
use super::{all, first, from_json, limit, timed, to_json, Arg, Db, Pending, SqlRow, SqlStore, TOKEN_BATCH};
use crate::store::{Change, Consume, Owner, StoreError, TokenKind, TokenRecord, TokenStore};
use async_trait::async_trait;
use std::time::Duration;

#[async_trait]
impl<D: Db> TokenStore for SqlStore<D> {
    async fn put_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        // Plain INSERT for the same reason as put_code, batched with the
        // tokens other requests are issuing at the same moment.
        let (db, limit, anon) = (self.db.clone(), self.limit, self.dialect.anonymous_params);
        self.tokens
            .submit(t.clone(), move |batch| write_tokens(db, batch, limit, anon))
            .await
    }

    async fn get_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_SELECT} FROM tokens WHERE token_hash = $1");
        first(self.rows(&sql, &[Arg::Str(token_hash)]).await?, token)
    }

    async fn consume_refresh(&self, token_hash: &str) -> Result<Consume<TokenRecord>, StoreError> {
        // Group-committed like new tokens: every rotation is a write, and
        // one transaction each serialised them on SQLite's write lock (and
        // on a commit each on PostgreSQL).
        let (db, limit) = (self.db.clone(), self.limit);
        self.consumes
            .submit(token_hash.to_string(), move |batch| write_consumes(db, batch, limit))
            .await
    }

    async fn revoke_token(&self, token_hash: &str) -> Result<bool, StoreError> {
        let n = self
            .exec(
                "UPDATE tokens SET revoked = TRUE WHERE token_hash = $1",
                &[Arg::Str(token_hash)],
            )
            .await?;
        self.announce(Change::Token(token_hash.to_string())).await;
        Ok(n > 0)
    }

    async fn revoke_family(&self, family_id: &str, until: i64) -> Result<u64, StoreError> {
        // The list entry first: from then on every token of the family reads
        // as revoked, including one stored by a rotation racing with us.
        self.exec(REVOKE_ID_SQL, &[Arg::Str(family_id), Arg::Int(until)])
            .await?;
        let n = self
            .exec(
                "UPDATE tokens SET revoked = TRUE WHERE family_id = $1 AND revoked = FALSE",
                &[Arg::Str(family_id)],
            )
            .await?;
        self.announce(Change::Revoked(family_id.to_string())).await;
        Ok(n)
    }

    async fn list_tokens(&self, owner: Owner<'_>, now: i64, lim: u32) -> Result<Vec<TokenRecord>, StoreError> {
        let (col, who) = owner_column(owner);
        let sql = format!(
            "SELECT * FROM (SELECT {TOKEN_SELECT} FROM tokens WHERE {col} = $1 AND expires_at > $2 \
             AND used = FALSE) t WHERE NOT t.revoked ORDER BY issued_at DESC, token_hash LIMIT $3"
        );
        all(
            self.rows(&sql, &[Arg::Str(who), Arg::Int(now), limit(lim)]).await?,
            token,
        )
    }

    async fn revoke_owner(&self, owner: Owner<'_>, now: i64, until: i64) -> Result<u64, StoreError> {
        let id = owner.revocation_id();
        self.exec(REVOKE_CUTOFF_SQL, &[Arg::Str(&id), Arg::Int(until), Arg::Int(now)])
            .await?;
        let (col, who) = owner_column(owner);
        let sql = format!("UPDATE tokens SET revoked = TRUE WHERE {col} = $1 AND revoked = FALSE");
        let n = self.exec(&sql, &[Arg::Str(who)]).await?;
        self.announce(Change::Revoked(id)).await;
        Ok(n)
    }
}

const TOKEN_COLS: &str = "token_hash, kind, client_id, subject, scope, audience, family_id, issued_at, \
     expires_at, auth_time, used, revoked, cnf";

/// Columns (and arguments) per inserted token row.
const TOKEN_ARGS: usize = 13;

/// A token as read: revoked when its row says so, when its family is on
/// the revocation list, or when its client or subject was cut off after it
/// was issued (rows stored while a revocation ran are covered too).
const TOKEN_SELECT: &str = "token_hash, kind, client_id, subject, scope, audience, family_id, issued_at, \
     expires_at, auth_time, used, cnf, (revoked OR EXISTS (SELECT 1 FROM revocations r WHERE \
     (r.id = tokens.family_id AND r.cutoff IS NULL) OR \
     (r.id IN ('client:' || tokens.client_id, 'sub:' || tokens.subject) AND tokens.issued_at <= r.cutoff))) \
     AS revoked";

fn insert_tokens_sql(rows: usize, anon: bool) -> String {
    let mut sql = format!("INSERT INTO tokens ({TOKEN_COLS}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..TOKEN_ARGS {
            if c > 0 {
                sql.push_str(", ");
            }
            if anon {
                sql.push('?');
            } else {
                sql.push_str(&format!("${}", r * TOKEN_ARGS + c + 1));
            }
        }
        sql.push(')');
    }
    sql
}

fn token_args<'a>(t: &'a TokenRecord, out: &mut Vec<Arg<'a>>) -> Result<(), StoreError> {
    out.extend([
        Arg::Str(&t.token_hash),
        Arg::Str(t.kind.as_str()),
        Arg::Str(&t.client_id),
        Arg::OptStr(t.subject.as_deref()),
        Arg::Str(&t.scope),
        Arg::Text(to_json(&t.audience)?),
        Arg::Str(&t.family_id),
        Arg::Int(t.issued_at),
        Arg::Int(t.expires_at),
        Arg::OptInt(t.auth_time),
        Arg::Bool(t.used),
        Arg::Bool(t.revoked),
        match &t.cnf {
            None => Arg::OptStr(None),
            Some(c) => Arg::Text(to_json(c)?),
        },
    ]);
    Ok(())
}

/// Inserts `rows` with one statement (autocommit: one transaction).
async fn insert_tokens<D: Db>(db: &D, rows: &[&TokenRecord], limit: Duration, anon: bool) -> Result<(), StoreError> {
    let mut args = Vec::with_capacity(rows.len() * TOKEN_ARGS);
    for t in rows {
        token_args(t, &mut args)?;
    }
    timed(limit, db.exec(&insert_tokens_sql(rows.len(), anon), &args)).await?;
    Ok(())
}

/// Writes a batch and answers every caller. If a multi-row INSERT fails
/// (one duplicate fails the whole statement), its rows are retried one by
/// one so each caller gets exactly the answer a lone INSERT would give.
async fn write_tokens<D: Db>(db: D, batch: Vec<Pending<TokenRecord, ()>>, limit: Duration, anon: bool) {
    let mut batch = batch.into_iter().peekable();
    while batch.peek().is_some() {
        let chunk: Vec<Pending<TokenRecord, ()>> = batch.by_ref().take(TOKEN_BATCH).collect();
        let rows: Vec<&TokenRecord> = chunk.iter().map(|(t, _)| t).collect();
        let res = insert_tokens(&db, &rows, limit, anon).await;
        if res.is_ok() || chunk.len() == 1 {
            for (_, tx) in chunk {
                let _ = tx.send(res.as_ref().map(|_| ()).map_err(StoreError::clone));
            }
            continue;
        }
        for (t, tx) in chunk {
            let _ = tx.send(insert_tokens(&db, &[&t], limit, anon).await);
        }
    }
}

fn token(r: &impl SqlRow) -> Result<TokenRecord, StoreError> {
    let kind = match r.text("kind")?.as_str() {
        "access" => TokenKind::Access,
        "refresh" => TokenKind::Refresh,
        other => return Err(StoreError::Unavailable(format!("corrupt token kind {other:?}"))),
    };
    Ok(TokenRecord {
        token_hash: r.text("token_hash")?,
        kind,
        client_id: r.text("client_id")?,
        subject: r.opt_text("subject")?,
        scope: r.text("scope")?,
        audience: from_json(&r.text("audience")?)?,
        family_id: r.text("family_id")?,
        issued_at: r.int("issued_at")?,
        expires_at: r.int("expires_at")?,
        auth_time: r.opt_int("auth_time")?,
        used: r.flag("used")?,
        revoked: r.flag("revoked")?,
        cnf: match r.opt_text("cnf")? {
            None => None,
            Some(t) => Some(from_json(&t)?),
        },
    })
}

/// The tokens column an owner is matched on (a constant, never input).
fn owner_column(owner: Owner<'_>) -> (&'static str, &str) {
    match owner {
        Owner::Client(c) => ("client_id", c),
        Owner::Subject(s) => ("subject", s),
    }
}

/// `$1, $2, …, $n`.
fn params(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Marks the unused refresh tokens among `n` hashes used; RETURNING names
/// (and reads) the ones this statement consumed.
fn consume_many_sql(n: usize) -> String {
    format!(
        "UPDATE tokens SET used = TRUE WHERE kind = 'refresh' AND used = FALSE AND token_hash IN ({}) \
         RETURNING {TOKEN_SELECT}",
        params(n)
    )
}

fn refresh_rows_sql(n: usize) -> String {
    format!(
        "SELECT {TOKEN_SELECT} FROM tokens WHERE kind = 'refresh' AND token_hash IN ({})",
        params(n)
    )
}

/// Consumes a batch of refresh tokens and answers each caller exactly as a
/// lone `consume_refresh` would: the first caller presenting an unused
/// token consumes it, a hash repeated within the batch is a reuse of that
/// first use, a used one is `AlreadyUsed`, an unknown one `NotFound`.
///
/// No one-by-one fallback (unlike INSERTs, no single row can fail an
/// `UPDATE … IN`), and an error is never turned into an answer: a winner
/// reported as `AlreadyUsed` would revoke its whole family. If the UPDATE
/// fails (or times out, committed or not) every caller gets the error, as
/// a lone UPDATE's caller would; if only the SELECT that follows fails, the
/// winners still get their tokens and only the others get the error.
async fn write_consumes<D: Db>(db: D, batch: Vec<Pending<String, Consume<TokenRecord>>>, limit: Duration) {
    let mut batch = batch.into_iter().peekable();
    while batch.peek().is_some() {
        let chunk: Vec<Pending<String, Consume<TokenRecord>>> = batch.by_ref().take(TOKEN_BATCH).collect();
        let mut distinct: Vec<&str> = Vec::with_capacity(chunk.len());
        for (hash, _) in &chunk {
            if !distinct.contains(&hash.as_str()) {
                distinct.push(hash);
            }
        }
        let won = match consume_many(&db, &distinct, limit).await {
            Ok(won) => won,
            Err(e) => {
                for (_, tx) in chunk {
                    let _ = tx.send(Err(e.clone()));
                }
                continue;
            }
        };
        let rest: Vec<&str> = distinct
            .iter()
            .copied()
            .filter(|h| !won.iter().any(|t| t.token_hash == *h))
            .collect();
        let seen = if rest.is_empty() {
            Ok(Vec::new())
        } else {
            refresh_rows(&db, &rest, limit).await
        };
        let mut answered: Vec<String> = Vec::with_capacity(chunk.len());
        for (hash, tx) in chunk {
            let first_ask = !answered.contains(&hash);
            let answer = match (won.iter().find(|t| t.token_hash == hash), first_ask, &seen) {
                (Some(t), true, _) => Ok(Consume::Consumed(t.clone())),
                (Some(t), false, _) => Ok(Consume::AlreadyUsed(t.clone())),
                (None, _, Ok(seen)) => Ok(match seen.iter().find(|t| t.token_hash == hash) {
                    Some(t) => Consume::AlreadyUsed(t.clone()),
                    None => Consume::NotFound,
                }),
                (None, _, Err(e)) => Err(e.clone()),
            };
            answered.push(hash);
            let _ = tx.send(answer);
        }
    }
}

/// One UPDATE for `hashes`: the refresh tokens among them it consumed.
async fn consume_many<D: Db>(db: &D, hashes: &[&str], limit: Duration) -> Result<Vec<TokenRecord>, StoreError> {
    let args: Vec<Arg> = hashes.iter().map(|h| Arg::Str(h)).collect();
    all(
        timed(limit, db.rows(&consume_many_sql(args.len()), &args)).await?,
        token,
    )
}

/// The refresh tokens among `hashes` as stored (already used ones).
async fn refresh_rows<D: Db>(db: &D, hashes: &[&str], limit: Duration) -> Result<Vec<TokenRecord>, StoreError> {
    let args: Vec<Arg> = hashes.iter().map(|h| Arg::Str(h)).collect();
    all(
        timed(limit, db.rows(&refresh_rows_sql(args.len()), &args)).await?,
        token,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_insert_numbers_every_parameter() {
        let sql = insert_tokens_sql(2, false);
        assert!(sql.ends_with("($14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)"));
        let sql = insert_tokens_sql(2, true);
        assert!(sql.ends_with("), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    }
}
