//! Device codes: one map, every state change under its write lock.

use super::{read, write, MemoryStore};
use crate::store::device_codes::{settled, too_early, DeviceStatus, SLOW_DOWN_STEP};
use crate::store::{DeviceCode, DeviceCodeStore, DeviceDecision, DevicePoll, StoreError};
use async_trait::async_trait;

#[async_trait]
impl DeviceCodeStore for MemoryStore {
    async fn put_device_code(&self, d: &DeviceCode) -> Result<(), StoreError> {
        let mut m = write(&self.device_codes);
        if m.contains_key(&d.device_code_hash) || m.values().any(|x| x.user_code_hash == d.user_code_hash) {
            return Err(StoreError::Conflict("device or user code exists".into()));
        }
        m.insert(d.device_code_hash.clone(), d.clone());
        Ok(())
    }

    async fn device_code_by_user_code(&self, user_code_hash: &str) -> Result<Option<DeviceCode>, StoreError> {
        Ok(read(&self.device_codes)
            .values()
            .find(|d| d.user_code_hash == user_code_hash)
            .cloned())
    }

    async fn decide_device_code(
        &self,
        user_code_hash: &str,
        decision: &DeviceDecision,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut m = write(&self.device_codes);
        let Some(d) = m.values_mut().find(|d| d.user_code_hash == user_code_hash) else {
            return Ok(false);
        };
        if d.status != DeviceStatus::Pending || d.expires_at <= now {
            return Ok(false);
        }
        match decision {
            DeviceDecision::Approve { subject, auth_time } => {
                d.status = DeviceStatus::Approved;
                d.subject = Some(subject.clone());
                d.auth_time = Some(*auth_time);
            }
            DeviceDecision::Deny { subject } => {
                d.status = DeviceStatus::Denied;
                d.subject = Some(subject.clone());
            }
        }
        Ok(true)
    }

    async fn poll_device_code(
        &self,
        device_code_hash: &str,
        client_id: &str,
        now_ms: i64,
    ) -> Result<DevicePoll, StoreError> {
        let now = now_ms.div_euclid(1000);
        let mut m = write(&self.device_codes);
        let Some(d) = m.get_mut(device_code_hash).filter(|d| d.client_id == client_id) else {
            return Ok(DevicePoll::NotFound);
        };
        if d.expires_at > now {
            match d.status {
                DeviceStatus::Approved => {
                    d.status = DeviceStatus::Used;
                    return Ok(DevicePoll::Approved(d.clone()));
                }
                DeviceStatus::Pending if too_early(d, now_ms) => {
                    d.poll_interval += SLOW_DOWN_STEP;
                    d.last_poll_ms = now_ms;
                    return Ok(DevicePoll::SlowDown(d.poll_interval));
                }
                DeviceStatus::Pending => {
                    d.last_poll_ms = now_ms;
                    return Ok(DevicePoll::Pending);
                }
                _ => {}
            }
        }
        Ok(settled(d.clone(), now))
    }
}
