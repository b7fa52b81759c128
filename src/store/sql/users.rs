//! Users: one row each.

use super::{all, first, limit, search, Arg, Db, SqlRow, SqlStore};
use crate::store::{ListQuery, StoreError, User, UserStore};
use async_trait::async_trait;

#[async_trait]
impl<D: Db> UserStore for SqlStore<D> {
    async fn put_user(&self, u: &User) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO UPDATE \
             SET password_hash = excluded.password_hash, name = excluded.name, email = excluded.email, \
             created_at = excluded.created_at"
        );
        let args = [
            Arg::Str(&u.username),
            Arg::Str(&u.password_hash),
            Arg::OptStr(u.name.as_deref()),
            Arg::OptStr(u.email.as_deref()),
            Arg::Int(u.created_at),
        ];
        self.exec(&sql, &args).await?;
        Ok(())
    }

    async fn get_user(&self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE username = $1");
        first(self.rows(&sql, &[Arg::Str(username)]).await?, user)
    }

    async fn list_users(&self, q: &ListQuery<'_>) -> Result<Vec<User>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLS} FROM users WHERE ($1 IS NULL OR username > $1) AND ($2 IS NULL \
             OR lower(username) LIKE $2 ESCAPE '\\' OR lower(coalesce(name, '')) LIKE $2 ESCAPE '\\' \
             OR lower(coalesce(email, '')) LIKE $2 ESCAPE '\\') ORDER BY username LIMIT $3"
        );
        let args = [Arg::OptStr(q.after), search(q.search), limit(q.limit)];
        all(self.rows(&sql, &args).await?, user)
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        let n = self
            .exec("DELETE FROM users WHERE username = $1", &[Arg::Str(username)])
            .await?;
        Ok(n > 0)
    }
}

const USER_COLS: &str = "username, password_hash, name, email, created_at";

fn user(r: &impl SqlRow) -> Result<User, StoreError> {
    Ok(User {
        username: r.text("username")?,
        password_hash: r.text("password_hash")?,
        name: r.opt_text("name")?,
        email: r.opt_text("email")?,
        created_at: r.int("created_at")?,
    })
}
