//! Device codes: each state change one conditional UPDATE (`status =
//! 'pending'`, `'approved'`), which SQLite's write lock and PostgreSQL's
//! row lock make atomic across connections and instances.

use super::{first, Arg, Db, SqlRow, SqlStore};
use crate::store::device_codes::{settled, DeviceStatus, POLL_LEEWAY_MS, SLOW_DOWN_STEP};
use crate::store::{DeviceCode, DeviceCodeStore, DeviceDecision, DevicePoll, StoreError};
use async_trait::async_trait;

const COLS: &str = "device_code_hash, user_code_hash, client_id, scope, status, subject, auth_time, family_id, \
     poll_interval, last_poll_ms, expires_at";

fn row(r: &impl SqlRow) -> Result<DeviceCode, StoreError> {
    Ok(DeviceCode {
        device_code_hash: r.text("device_code_hash")?,
        user_code_hash: r.text("user_code_hash")?,
        client_id: r.text("client_id")?,
        scope: r.text("scope")?,
        status: DeviceStatus::parse(&r.text("status")?)?,
        subject: r.opt_text("subject")?,
        auth_time: r.opt_int("auth_time")?,
        family_id: r.text("family_id")?,
        poll_interval: r.int("poll_interval")?,
        last_poll_ms: r.int("last_poll_ms")?,
        expires_at: r.int("expires_at")?,
    })
}

#[async_trait]
impl<D: Db> DeviceCodeStore for SqlStore<D> {
    async fn put_device_code(&self, d: &DeviceCode) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO device_codes ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
        let args = [
            Arg::Str(&d.device_code_hash),
            Arg::Str(&d.user_code_hash),
            Arg::Str(&d.client_id),
            Arg::Str(&d.scope),
            Arg::Str(d.status.as_str()),
            Arg::OptStr(d.subject.as_deref()),
            Arg::OptInt(d.auth_time),
            Arg::Str(&d.family_id),
            Arg::Int(d.poll_interval),
            Arg::Int(d.last_poll_ms),
            Arg::Int(d.expires_at),
        ];
        self.exec(&sql, &args).await?;
        Ok(())
    }

    async fn device_code_by_user_code(&self, user_code_hash: &str) -> Result<Option<DeviceCode>, StoreError> {
        let sql = format!("SELECT {COLS} FROM device_codes WHERE user_code_hash = $1");
        first(self.rows(&sql, &[Arg::Str(user_code_hash)]).await?, row)
    }

    async fn decide_device_code(
        &self,
        user_code_hash: &str,
        decision: &DeviceDecision,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (status, subject, auth_time) = match decision {
            DeviceDecision::Approve { subject, auth_time } => (DeviceStatus::Approved, subject, Some(*auth_time)),
            DeviceDecision::Deny { subject } => (DeviceStatus::Denied, subject, None),
        };
        let n = self
            .exec(
                "UPDATE device_codes SET status = $2, subject = $3, auth_time = $4 \
                 WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $5",
                &[
                    Arg::Str(user_code_hash),
                    Arg::Str(status.as_str()),
                    Arg::Str(subject),
                    Arg::OptInt(auth_time),
                    Arg::Int(now),
                ],
            )
            .await?;
        Ok(n > 0)
    }

    async fn poll_device_code(
        &self,
        device_code_hash: &str,
        client_id: &str,
        now_ms: i64,
    ) -> Result<DevicePoll, StoreError> {
        let now = now_ms.div_euclid(1000);
        let key = [
            Arg::Str(device_code_hash),
            Arg::Str(client_id),
            Arg::Int(now),
            Arg::Int(now_ms),
        ];
        // Each state change is one conditional UPDATE; the statuses are
        // exclusive, so at most one of them applies. The common poll (still
        // pending, on time) costs one statement.
        let on_time = format!(
            "UPDATE device_codes SET last_poll_ms = $4 WHERE device_code_hash = $1 AND client_id = $2 \
             AND status = 'pending' AND expires_at > $3 \
             AND (last_poll_ms = 0 OR last_poll_ms + poll_interval * 1000 - {POLL_LEEWAY_MS} <= $4)"
        );
        if self.exec(&on_time, &key).await? > 0 {
            return Ok(DevicePoll::Pending);
        }
        let won = format!(
            "UPDATE device_codes SET status = 'used' WHERE device_code_hash = $1 AND client_id = $2 \
             AND status = 'approved' AND expires_at > $3 RETURNING {COLS}"
        );
        if let Some(d) = first(self.rows(&won, &key[..3]).await?, row)? {
            return Ok(DevicePoll::Approved(d));
        }
        let early = format!(
            "UPDATE device_codes SET last_poll_ms = $4, poll_interval = poll_interval + {SLOW_DOWN_STEP} \
             WHERE device_code_hash = $1 AND client_id = $2 AND status = 'pending' AND expires_at > $3 \
             RETURNING poll_interval"
        );
        if let Some(r) = self.rows(&early, &key).await?.first() {
            return Ok(DevicePoll::SlowDown(r.int("poll_interval")?));
        }
        let seen = format!("SELECT {COLS} FROM device_codes WHERE device_code_hash = $1 AND client_id = $2");
        Ok(
            match first(
                self.rows(&seen, &[Arg::Str(device_code_hash), Arg::Str(client_id)])
                    .await?,
                row,
            )? {
                Some(d) => settled(d, now),
                None => DevicePoll::NotFound,
            },
        )
    }
}
