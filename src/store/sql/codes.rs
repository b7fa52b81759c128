//! Codes: plain INSERT, and consumption as one conditional UPDATE
//! (`used = FALSE`) that SQLite's write lock and PostgreSQL's row lock make
//! atomic across connections and instances.

use super::{first, from_json, to_json, Arg, Db, SqlRow, SqlStore};
use crate::store::{AuthCode, CodeStore, Consume, StoreError};
use async_trait::async_trait;

#[async_trait]
impl<D: Db> CodeStore for SqlStore<D> {
    async fn put_code(&self, c: &AuthCode) -> Result<(), StoreError> {
        // Plain INSERT: a duplicate hash is a Conflict, never a replacement
        // (which would reset `used` and make a spent code work again).
        let sql = format!(
            "INSERT INTO auth_codes ({CODE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        let args = [
            Arg::Str(&c.code_hash),
            Arg::Str(&c.client_id),
            Arg::Str(&c.username),
            Arg::Str(&c.redirect_uri),
            Arg::Str(&c.scope),
            Arg::OptStr(c.code_challenge.as_deref()),
            Arg::OptStr(c.code_challenge_method.as_deref()),
            Arg::OptStr(c.nonce.as_deref()),
            Arg::Int(c.auth_time),
            Arg::Str(&c.family_id),
            Arg::Int(c.expires_at),
            Arg::Text(to_json(&c.resource)?),
            Arg::OptStr(c.sid.as_deref()),
        ];
        self.exec(&sql, &args).await?;
        Ok(())
    }

    async fn consume_code(&self, code_hash: &str) -> Result<Consume<AuthCode>, StoreError> {
        // Rows are fetched to completion, so the update is applied (and
        // SQLite's write lock released) before the result is looked at.
        let won =
            format!("UPDATE auth_codes SET used = TRUE WHERE code_hash = $1 AND used = FALSE RETURNING {CODE_COLS}");
        if let Some(c) = first(self.rows(&won, &[Arg::Str(code_hash)]).await?, code)? {
            return Ok(Consume::Consumed(c));
        }
        let seen = format!("SELECT {CODE_COLS} FROM auth_codes WHERE code_hash = $1");
        Ok(match first(self.rows(&seen, &[Arg::Str(code_hash)]).await?, code)? {
            Some(c) => Consume::AlreadyUsed(c),
            None => Consume::NotFound,
        })
    }
}

const CODE_COLS: &str = "code_hash, client_id, username, redirect_uri, scope, code_challenge, \
     code_challenge_method, nonce, auth_time, family_id, expires_at, resource, sid";

fn code(r: &impl SqlRow) -> Result<AuthCode, StoreError> {
    Ok(AuthCode {
        code_hash: r.text("code_hash")?,
        client_id: r.text("client_id")?,
        username: r.text("username")?,
        redirect_uri: r.text("redirect_uri")?,
        scope: r.text("scope")?,
        code_challenge: r.opt_text("code_challenge")?,
        code_challenge_method: r.opt_text("code_challenge_method")?,
        nonce: r.opt_text("nonce")?,
        auth_time: r.int("auth_time")?,
        family_id: r.text("family_id")?,
        expires_at: r.int("expires_at")?,
        resource: from_json(&r.text("resource")?)?,
        sid: r.opt_text("sid")?,
    })
}
