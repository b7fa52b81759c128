//! Users: one partition clustered by username, as clients are (see
//! clients.rs for listing and search).

use super::clients::{matches, PAGE};
use super::{unavailable, CassandraStore};
use crate::store::{ListQuery, StoreError, User, UserStore};
use async_trait::async_trait;

#[async_trait]
impl UserStore for CassandraStore {
    async fn put_user(&self, u: &User) -> Result<(), StoreError> {
        let doc = serde_json::to_string(u).map_err(unavailable)?;
        self.exec(
            "INSERT INTO users (part, username, doc) VALUES (0, ?, ?)",
            (&u.username, doc),
        )
        .await
    }

    async fn get_user(&self, username: &str) -> Result<Option<User>, StoreError> {
        let rows: Vec<(String,)> = self
            .rows("SELECT doc FROM users WHERE part = 0 AND username = ?", (username,))
            .await?;
        rows.into_iter()
            .next()
            .map(|(d,)| serde_json::from_str(&d).map_err(unavailable))
            .transpose()
    }

    async fn list_users(&self, q: &ListQuery<'_>) -> Result<Vec<User>, StoreError> {
        let mut out = Vec::new();
        let mut after = q.after.unwrap_or("").to_string();
        while out.len() < q.limit as usize {
            let rows: Vec<(String, String)> = self
                .rows(
                    "SELECT username, doc FROM users WHERE part = 0 AND username > ? LIMIT ?",
                    (&after, PAGE),
                )
                .await?;
            let n = rows.len();
            for (name, doc) in rows {
                let u: User = serde_json::from_str(&doc).map_err(unavailable)?;
                let fields = [Some(u.username.as_str()), u.name.as_deref(), u.email.as_deref()];
                if matches(q.search, &fields) && out.len() < q.limit as usize {
                    out.push(u);
                }
                after = name;
            }
            if n < PAGE as usize {
                break;
            }
        }
        Ok(out)
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        self.lwt(
            "DELETE FROM users WHERE part = 0 AND username = ? IF EXISTS",
            (username,),
        )
        .await
    }
}
