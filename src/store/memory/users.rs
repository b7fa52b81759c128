//! Users in a map keyed by username.

use super::{matches, page, read, write, MemoryStore};
use crate::store::{ListQuery, StoreError, User, UserStore};
use async_trait::async_trait;

#[async_trait]
impl UserStore for MemoryStore {
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
}
