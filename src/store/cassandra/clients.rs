//! Clients: one partition (`part = 0`) clustered by id, each client one
//! JSON document (read and replaced whole). Listings walk the partition in
//! id order from `after`; the search is applied here (CQL has no
//! case-insensitive substring match), reading pages until `limit` match.

use super::{unavailable, CassandraStore};
use crate::store::{Change, Client, ClientStore, ListQuery, StoreError};
use async_trait::async_trait;

/// Rows read per page of a listing.
pub(super) const PAGE: i32 = 500;

pub(super) fn matches(search: Option<&str>, fields: &[Option<&str>]) -> bool {
    match search {
        None => true,
        Some(s) => {
            let s = s.to_lowercase();
            fields.iter().flatten().any(|f| f.to_lowercase().contains(&s))
        }
    }
}

#[async_trait]
impl ClientStore for CassandraStore {
    async fn put_client(&self, c: &Client) -> Result<(), StoreError> {
        let doc = serde_json::to_string(c).map_err(unavailable)?;
        self.exec("INSERT INTO clients (part, id, doc) VALUES (0, ?, ?)", (&c.id, doc))
            .await?;
        self.announce(Change::Client(c.id.clone())).await;
        Ok(())
    }

    async fn get_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let rows: Vec<(String,)> = self
            .rows("SELECT doc FROM clients WHERE part = 0 AND id = ?", (id,))
            .await?;
        rows.into_iter()
            .next()
            .map(|(d,)| serde_json::from_str(&d).map_err(unavailable))
            .transpose()
    }

    async fn list_clients(&self, q: &ListQuery<'_>) -> Result<Vec<Client>, StoreError> {
        let mut out = Vec::new();
        let mut after = q.after.unwrap_or("").to_string();
        while out.len() < q.limit as usize {
            let rows: Vec<(String, String)> = self
                .rows(
                    "SELECT id, doc FROM clients WHERE part = 0 AND id > ? LIMIT ?",
                    (&after, PAGE),
                )
                .await?;
            let n = rows.len();
            for (id, doc) in rows {
                let c: Client = serde_json::from_str(&doc).map_err(unavailable)?;
                if matches(q.search, &[Some(&c.id), Some(&c.name)]) && out.len() < q.limit as usize {
                    out.push(c);
                }
                after = id;
            }
            if n < PAGE as usize {
                break;
            }
        }
        Ok(out)
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let existed = self
            .lwt("DELETE FROM clients WHERE part = 0 AND id = ? IF EXISTS", (id,))
            .await?;
        self.announce(Change::Client(id.to_string())).await;
        Ok(existed)
    }
}
