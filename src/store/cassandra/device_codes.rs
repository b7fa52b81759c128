//! Device codes (RFC 8628): the request by device code hash, and the user
//! code's claim in its own table (`IF NOT EXISTS`: a user code names one
//! request). Every state change is a compare-and-set on the row (`IF status
//! = 'pending' AND last_poll_ms = …`, `IF status = 'approved'`), so with
//! any number of instances a code is decided once and exchanged once; a
//! lost compare-and-set reads the row again and answers from what won.

use super::{ttl, CassandraStore};
use crate::store::device_codes::{settled, too_early, DeviceStatus, PURGE_GRACE, SLOW_DOWN_STEP};
use crate::store::{DeviceCode, DeviceCodeStore, DeviceDecision, DevicePoll, StoreError};
use async_trait::async_trait;

type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    String,
    i64,
    i64,
    i64,
);

const SELECT: &str = "SELECT user_code_hash, client_id, scope, status, subject, auth_time, family_id, \
     poll_interval, last_poll_ms, expires_at FROM device_codes WHERE device_code_hash = ?";

/// Compare-and-set rounds of one poll (each lost one means another poll
/// changed the row; the next read answers from it).
const ROUNDS: u32 = 16;

fn life(d: &DeviceCode) -> i32 {
    ttl(d.expires_at.saturating_add(PURGE_GRACE))
}

impl CassandraStore {
    async fn device_row(&self, hash: &str) -> Result<Option<DeviceCode>, StoreError> {
        let rows: Vec<Row> = self.serial_rows(SELECT, (hash,)).await?;
        rows.into_iter()
            .next()
            .map(|r| {
                let (
                    user_code_hash,
                    client_id,
                    scope,
                    status,
                    subject,
                    auth_time,
                    family_id,
                    poll_interval,
                    last_poll_ms,
                    expires_at,
                ) = r;
                Ok(DeviceCode {
                    device_code_hash: hash.to_string(),
                    user_code_hash,
                    client_id,
                    scope,
                    status: DeviceStatus::parse(&status)?,
                    subject,
                    auth_time,
                    family_id,
                    poll_interval,
                    last_poll_ms,
                    expires_at,
                })
            })
            .transpose()
    }
}

#[async_trait]
impl DeviceCodeStore for CassandraStore {
    async fn put_device_code(&self, d: &DeviceCode) -> Result<(), StoreError> {
        let t = life(d);
        if !self
            .lwt(
                "INSERT INTO device_user_codes (user_code_hash, device_code_hash) VALUES (?, ?) IF NOT EXISTS USING TTL ?",
                (&d.user_code_hash, &d.device_code_hash, t),
            )
            .await?
        {
            return Err(StoreError::Conflict("user code already in use".into()));
        }
        let fresh = self
            .lwt(
                "INSERT INTO device_codes (device_code_hash, user_code_hash, client_id, scope, status, subject, \
                 auth_time, family_id, poll_interval, last_poll_ms, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?",
                (
                    &d.device_code_hash,
                    &d.user_code_hash,
                    &d.client_id,
                    &d.scope,
                    d.status.as_str(),
                    d.subject.as_deref(),
                    d.auth_time,
                    &d.family_id,
                    d.poll_interval,
                    d.last_poll_ms,
                    d.expires_at,
                    t,
                ),
            )
            .await?;
        if fresh {
            return Ok(());
        }
        // Give the user code back: it names nothing.
        self.lwt(
            "DELETE FROM device_user_codes WHERE user_code_hash = ? IF device_code_hash = ?",
            (&d.user_code_hash, &d.device_code_hash),
        )
        .await?;
        Err(StoreError::Conflict("device code already stored".into()))
    }

    async fn device_code_by_user_code(&self, user_code_hash: &str) -> Result<Option<DeviceCode>, StoreError> {
        let rows: Vec<(String,)> = self
            .rows(
                "SELECT device_code_hash FROM device_user_codes WHERE user_code_hash = ?",
                (user_code_hash,),
            )
            .await?;
        match rows.into_iter().next() {
            Some((h,)) => Ok(self
                .device_row(&h)
                .await?
                .filter(|d| d.user_code_hash == user_code_hash)),
            None => Ok(None),
        }
    }

    async fn decide_device_code(
        &self,
        user_code_hash: &str,
        decision: &DeviceDecision,
        now: i64,
    ) -> Result<bool, StoreError> {
        let Some(d) = self.device_code_by_user_code(user_code_hash).await? else {
            return Ok(false);
        };
        if d.status != DeviceStatus::Pending || d.expires_at <= now {
            return Ok(false);
        }
        let (status, subject, auth_time) = match decision {
            DeviceDecision::Approve { subject, auth_time } => (DeviceStatus::Approved, subject, Some(*auth_time)),
            DeviceDecision::Deny { subject } => (DeviceStatus::Denied, subject, None),
        };
        self.lwt(
            "UPDATE device_codes USING TTL ? SET status = ?, subject = ?, auth_time = ? WHERE device_code_hash = ? \
             IF status = 'pending'",
            (life(&d), status.as_str(), subject, auth_time, &d.device_code_hash),
        )
        .await
    }

    async fn poll_device_code(
        &self,
        device_code_hash: &str,
        client_id: &str,
        now_ms: i64,
    ) -> Result<DevicePoll, StoreError> {
        let now = now_ms.div_euclid(1000);
        for _ in 0..ROUNDS {
            let d = match self.device_row(device_code_hash).await? {
                Some(d) if d.client_id == client_id => d,
                _ => return Ok(DevicePoll::NotFound),
            };
            let live = d.expires_at > now;
            match d.status {
                DeviceStatus::Pending if live && !too_early(&d, now_ms) => {
                    if self
                        .lwt(
                            "UPDATE device_codes USING TTL ? SET last_poll_ms = ? WHERE device_code_hash = ? \
                             IF status = 'pending' AND last_poll_ms = ?",
                            (life(&d), now_ms, device_code_hash, d.last_poll_ms),
                        )
                        .await?
                    {
                        return Ok(DevicePoll::Pending);
                    }
                }
                DeviceStatus::Pending if live => {
                    let interval = d.poll_interval + SLOW_DOWN_STEP;
                    if self
                        .lwt(
                            "UPDATE device_codes USING TTL ? SET last_poll_ms = ?, poll_interval = ? \
                             WHERE device_code_hash = ? IF status = 'pending' AND last_poll_ms = ? \
                             AND poll_interval = ?",
                            (
                                life(&d),
                                now_ms,
                                interval,
                                device_code_hash,
                                d.last_poll_ms,
                                d.poll_interval,
                            ),
                        )
                        .await?
                    {
                        return Ok(DevicePoll::SlowDown(interval));
                    }
                }
                DeviceStatus::Approved if live => {
                    if self
                        .lwt(
                            "UPDATE device_codes USING TTL ? SET status = 'used' WHERE device_code_hash = ? \
                             IF status = 'approved'",
                            (life(&d), device_code_hash),
                        )
                        .await?
                    {
                        return Ok(DevicePoll::Approved(DeviceCode {
                            status: DeviceStatus::Used,
                            ..d
                        }));
                    }
                }
                _ => return Ok(settled(d, now)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "device code: {ROUNDS} lost compare-and-set rounds"
        )))
    }
}
