//! The change feed: what other instances changed, for in-process caches
//! to drop at once (PostgreSQL LISTEN/NOTIFY; a polled changes table on
//! Cassandra). Backends without one rely on the caches' staleness bound.

/// Something another instance changed that in-process caches must drop at
/// once (announced by backends that can, see `ChangeFeed::changes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A stored token (by hash) was revoked.
    Token(String),
    /// An id on the revocation list (JWT `jti`, grant family, owner cutoff).
    Revoked(String),
    Client(String),
    /// Announcements may have been missed (the channel broke or came
    /// back): forget every cached answer.
    Everything,
}

impl Change {
    /// The wire form other instances receive: a tag, a colon, the id.
    pub fn encode(&self) -> String {
        match self {
            Change::Token(h) => format!("t:{h}"),
            Change::Revoked(id) => format!("r:{id}"),
            Change::Client(id) => format!("c:{id}"),
            Change::Everything => "a:".to_string(),
        }
    }

    pub fn decode(s: &str) -> Option<Change> {
        let (tag, id) = s.split_once(':')?;
        let id = id.to_string();
        match tag {
            "t" => Some(Change::Token(id)),
            "r" => Some(Change::Revoked(id)),
            "c" => Some(Change::Client(id)),
            "a" => Some(Change::Everything),
            _ => None,
        }
    }
}

pub trait ChangeFeed: Send + Sync {
    /// Changes made by other instances, as they happen. None: caches rely
    /// on their staleness bound alone.
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        None
    }
}
