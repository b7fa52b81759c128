//! Shared rate-limit windows: per key and window, each instance's count.

use super::{read, write, MemoryStore};
use crate::store::rate_counts::{InstanceCount, RateCountStore, WindowCount};
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
impl RateCountStore for MemoryStore {
    async fn sync_rate_counts(
        &self,
        instance: &str,
        counts: &[WindowCount],
        wanted: &[(String, i64)],
        now: i64,
    ) -> Result<Vec<InstanceCount>, StoreError> {
        {
            let mut m = write(&self.rate_counts);
            for c in counts {
                m.entry((c.key.clone(), c.window))
                    .or_default()
                    .insert(instance.to_string(), (c.count, c.expires_at));
            }
        }
        let m = read(&self.rate_counts);
        let mut out = Vec::new();
        for (key, window) in wanted {
            for (who, (count, until)) in m.get(&(key.clone(), *window)).into_iter().flatten() {
                if *until > now {
                    out.push(InstanceCount {
                        key: key.clone(),
                        window: *window,
                        instance: who.clone(),
                        count: *count,
                    });
                }
            }
        }
        Ok(out)
    }
}
