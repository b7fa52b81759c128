//! Device codes (RFC 8628): the device authorization grant's requests.
//!
//! A device authorization is keyed by the SHA-256 of its `device_code`
//! and found by the page through the SHA-256 of its normalised
//! `user_code`; neither value is stored in clear. Every state change is
//! one conditional write (`… WHERE status = 'pending'`), so with any
//! number of instances sharing the store a code is decided once and
//! exchanged for tokens once.

use super::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// RFC 8628 §3.5: a client that polls too fast gets `slow_down`, and its
/// interval grows by this much for this and every later poll.
pub const SLOW_DOWN_STEP: i64 = 5;

/// Polls are measured when they arrive, so a client that waits exactly
/// the interval can look a little early (network jitter, a slow previous
/// answer): this much earliness is forgiven.
pub const POLL_LEEWAY_MS: i64 = 1000;

/// Rows are kept this long past their expiry so that a late poll still
/// gets `expired_token`, not an unknown code.
pub const PURGE_GRACE: i64 = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceStatus {
    /// Waiting for the user.
    Pending,
    /// The user allowed it; the next poll gets the tokens.
    Approved,
    /// The user refused it.
    Denied,
    /// Exchanged for tokens: never again.
    Used,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
            DeviceStatus::Used => "used",
        }
    }

    pub fn parse(s: &str) -> Result<DeviceStatus, StoreError> {
        Ok(match s {
            "pending" => DeviceStatus::Pending,
            "approved" => DeviceStatus::Approved,
            "denied" => DeviceStatus::Denied,
            "used" => DeviceStatus::Used,
            other => return Err(StoreError::Unavailable(format!("corrupt device code status {other:?}"))),
        })
    }
}

/// One device authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCode {
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub client_id: String,
    pub scope: String,
    pub status: DeviceStatus,
    /// The user who decided (Approved, Denied, Used).
    pub subject: Option<String>,
    pub auth_time: Option<i64>,
    /// The grant family of the tokens it becomes (a replay revokes them).
    pub family_id: String,
    /// Seconds the client must wait between polls (grows with slow_down).
    pub poll_interval: i64,
    /// When the client last polled, unix milliseconds; 0: never.
    pub last_poll_ms: i64,
    pub expires_at: i64,
}

/// What the user decided on the verification page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceDecision {
    Approve { subject: String, auth_time: i64 },
    Deny { subject: String },
}

/// The answer to one poll (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicePoll {
    /// Not decided yet: `authorization_pending`.
    Pending,
    /// Polled before the interval was up: `slow_down`; the new interval.
    SlowDown(i64),
    /// Allowed, and now marked used: issue the tokens (only one poll ever
    /// gets this).
    Approved(DeviceCode),
    /// `access_denied`.
    Denied,
    /// Exchanged before: a replay.
    AlreadyUsed(DeviceCode),
    /// `expired_token`.
    Expired,
    /// No such code for this client.
    NotFound,
}

#[async_trait]
pub trait DeviceCodeStore: Send + Sync {
    /// Plain insert: a device or user code hash already present is a
    /// Conflict (the caller draws a new user code).
    async fn put_device_code(&self, d: &DeviceCode) -> Result<(), StoreError>;
    /// The authorization a user code names, whatever its state (expiry is
    /// the caller's check).
    async fn device_code_by_user_code(&self, user_code_hash: &str) -> Result<Option<DeviceCode>, StoreError>;
    /// Records the user's decision on a pending, unexpired code; false when
    /// it was not pending any more (decided elsewhere, expired, unknown).
    async fn decide_device_code(
        &self,
        user_code_hash: &str,
        decision: &DeviceDecision,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// One poll by `client_id` at `now_ms` (unix milliseconds): the
    /// interval is enforced and an approved code is handed out once.
    async fn poll_device_code(
        &self,
        device_code_hash: &str,
        client_id: &str,
        now_ms: i64,
    ) -> Result<DevicePoll, StoreError>;
}

/// Whether a poll at `now_ms` comes before `d`'s interval is up.
pub(crate) fn too_early(d: &DeviceCode, now_ms: i64) -> bool {
    d.last_poll_ms != 0 && now_ms < d.last_poll_ms + d.poll_interval * 1000 - POLL_LEEWAY_MS
}

/// How an undecidable poll reads (the same rule for every backend).
pub(crate) fn settled(d: DeviceCode, now: i64) -> DevicePoll {
    match d.status {
        DeviceStatus::Used => DevicePoll::AlreadyUsed(d),
        DeviceStatus::Denied => DevicePoll::Denied,
        _ if d.expires_at <= now => DevicePoll::Expired,
        // Approved between two of the SQL statements: the next poll gets it.
        _ => DevicePoll::Pending,
    }
}
