//! Clients: one row each, list-valued and extra settings as JSON text.

use super::{all, first, from_json, limit, search, to_json, Arg, Db, SqlRow, SqlStore};
use crate::store::{Change, Client, ClientMeta, ClientStore, ListQuery, StoreError};
use async_trait::async_trait;

#[async_trait]
impl<D: Db> ClientStore for SqlStore<D> {
    async fn put_client(&self, c: &Client) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO clients ({CLIENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, secret_hash = excluded.secret_hash, \
             redirect_uris = excluded.redirect_uris, grant_types = excluded.grant_types, \
             scopes = excluded.scopes, audience = excluded.audience, access_ttl = excluded.access_ttl, \
             refresh_ttl = excluded.refresh_ttl, created_at = excluded.created_at, metadata = excluded.metadata"
        );
        let args = [
            Arg::Str(&c.id),
            Arg::Str(&c.name),
            Arg::OptStr(c.secret_hash.as_deref()),
            Arg::Text(to_json(&c.redirect_uris)?),
            Arg::Text(to_json(&c.grant_types)?),
            Arg::Text(to_json(&c.scopes)?),
            Arg::Text(to_json(&c.audience)?),
            Arg::OptInt(c.access_ttl),
            Arg::OptInt(c.refresh_ttl),
            Arg::Int(c.created_at),
            Arg::Text(to_json(&c.meta)?),
        ];
        self.exec(&sql, &args).await?;
        self.announce(Change::Client(c.id.clone())).await;
        Ok(())
    }

    async fn get_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLS} FROM clients WHERE id = $1");
        first(self.rows(&sql, &[Arg::Str(id)]).await?, client)
    }

    async fn list_clients(&self, q: &ListQuery<'_>) -> Result<Vec<Client>, StoreError> {
        let sql = format!(
            "SELECT {CLIENT_COLS} FROM clients WHERE ($1 IS NULL OR id > $1) AND ($2 IS NULL \
             OR lower(id) LIKE $2 ESCAPE '\\' OR lower(name) LIKE $2 ESCAPE '\\') ORDER BY id LIMIT $3"
        );
        let args = [Arg::OptStr(q.after), search(q.search), limit(q.limit)];
        all(self.rows(&sql, &args).await?, client)
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let n = self.exec("DELETE FROM clients WHERE id = $1", &[Arg::Str(id)]).await?;
        self.announce(Change::Client(id.to_string())).await;
        Ok(n > 0)
    }
}

const CLIENT_COLS: &str = "id, name, secret_hash, redirect_uris, grant_types, scopes, audience, access_ttl, \
     refresh_ttl, created_at, metadata";

fn client(r: &impl SqlRow) -> Result<Client, StoreError> {
    Ok(Client {
        id: r.text("id")?,
        name: r.text("name")?,
        secret_hash: r.opt_text("secret_hash")?,
        redirect_uris: from_json(&r.text("redirect_uris")?)?,
        grant_types: from_json(&r.text("grant_types")?)?,
        scopes: from_json(&r.text("scopes")?)?,
        audience: from_json(&r.text("audience")?)?,
        access_ttl: r.opt_int("access_ttl")?,
        refresh_ttl: r.opt_int("refresh_ttl")?,
        created_at: r.int("created_at")?,
        meta: from_json::<ClientMeta>(&r.text("metadata")?)?,
    })
}
