//! Returning idle memory. mimalloc frees pages back to the OS only as part
//! of later allocator activity (after its purge delay), so memory used at
//! start-up or in a burst stays resident while the process is idle. A cheap
//! collection once a second on each thread lets the delayed purges happen.

use std::time::Duration;

const EVERY: Duration = Duration::from_secs(1);

/// Spawns the collector on the current runtime (call once per worker
/// thread: each thread has its own allocator heap).
pub fn spawn_trim() {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // SAFETY: mi_collect takes no pointers and may be called from
            // any thread at any time; `false` only does non-blocking work.
            unsafe { libmimalloc_sys::mi_collect(false) };
        }
    });
}
