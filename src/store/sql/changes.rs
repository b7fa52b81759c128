//! Other instances' changes, when the database can announce them
//! (PostgreSQL LISTEN/NOTIFY, see `postgres.rs`).

use super::{Db, SqlStore};
use crate::store::{Change, ChangeFeed};
use tokio::sync::broadcast;

impl<D: Db> ChangeFeed for SqlStore<D> {
    fn changes(&self) -> Option<broadcast::Receiver<Change>> {
        self.changes.as_ref().map(broadcast::Sender::subscribe)
    }
}
