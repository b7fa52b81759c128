//! Rate limits that hold across instances (`[gateway] rate_limit_store =
//! "store"` or `"redis://…"`): sliding windows counted here, synchronised
//! in batches, with the remaining budget divided up so that instances do
//! not each spend it between two syncs.
//!
//! Every request is decided here, from memory, without waiting: a request
//! at time `t` in window `w` (`t / per`) is allowed when
//!
//! ```text
//! prev_total · (1 − elapsed/per) + cur_total + 1 ≤ requests
//! ```
//!
//! (the sliding-window counter of Cloudflare and nginx: the previous
//! window's count weighs as much as it still overlaps the last `per`), and
//! when this instance is still under its *cap* for the window.
//!
//! Syncs run in two phases on the wall clock, every `[gateway]
//! rate_limit_sync` (P, 100 ms): at each multiple of P every instance
//! writes its own counts (absolute, so a repeated write is harmless); at
//! half a period later every instance reads everybody's. So each read sees
//! every instance's count as of the same instant `t_k`, and every
//! instance, from the same view, computes the same caps for everybody:
//!
//! - `allowed`: the sliding budget at the read, minus what was counted;
//! - kept for each instance that admitted anything in the last period:
//!   the rest of its previous cap, since it may be spending it right now,
//!   unseen, until the new caps apply (an instance idle for a period gives
//!   its rest back; one whose write missed the read keeps it);
//! - the rest shared in proportion to each instance's admissions in the
//!   last period (+1, so a quiet one can start);
//! - and as time goes on, what the previous window frees as it slides out
//!   shared by the same proportions, each instance growing its own cap
//!   without waiting for the next read. So a refilling budget reaches the
//!   instances as it refills, a missed read (a stalled process, a slow
//!   backend) costs nothing, and the caps still add up to the sliding
//!   budget at every instant. At a window boundary the parts carry over
//!   into the next window (the one ending holds at most the caps it
//!   ended with), so no instance waits for a read there either.
//!
//! The caps of a view add up to the budget, so N instances together do
//! not overshoot it, unless an instance idle for a whole period starts
//! again within the half period before a read (by at most what it had
//! left of its cap). A key
//! an instance has not seen in a view yet gets a small first cap (a
//! sixteenth of a fair part; the whole budget for an instance alone), so
//! one instance alone is exact, and a burst on a fresh key is checked
//! within one period. The backend sees two rounds per instance per period
//! whatever the traffic.
//!
//! When the backend does not answer, each instance counts on its own (the
//! limit then holds per instance, as with "local"), logs it once and sets
//! `gatehouse_rate_limit_shared_up` to 0; with `rate_limit_fallback =
//! "refuse"` it answers 503 instead. Counts made meanwhile are written
//! when the backend is back.
//!
//! Windows and phases follow the wall clock, so instances need clocks in
//! step (NTP): a skew of s shifts the window boundary by s, and a skew
//! near P/2 makes reads miss writes.

use super::local::Decision;
use crate::store::{DynStore, InstanceCount, WindowCount};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SHARDS: usize = 16;
/// Keys tracked at once; past it a shard forgets idle keys first.
const MAX_KEYS: usize = 1 << 20;
/// Keys written and read per sync, so one sync stays one bounded round;
/// the rest go in the next ones.
const MAX_PER_SYNC: usize = 10_000;
/// The presence key (no digest is all zeros but by a 2^-128 chance): a
/// row per instance in 10 s windows, so instances know of each other
/// before they count anything.
const PRESENCE: u128 = 0;
const PRESENCE_MS: u64 = 10_000;
/// An idle instance (no keys) still says it is there this often.
const PRESENCE_IDLE: Duration = Duration::from_secs(4);

/// Where the instances' counts meet: the shared store or Redis.
#[async_trait]
pub trait CountSync: Send + Sync + 'static {
    /// For logs and metrics.
    fn name(&self) -> &'static str;
    /// Writes `instance`'s counts, then returns everybody's for `read`.
    async fn sync(
        &self,
        instance: &str,
        write: &[WindowCount],
        read: &[(String, i64)],
    ) -> Result<Vec<InstanceCount>, String>;
}

/// The shared `[store]`.
pub struct StoreSync(pub DynStore);

#[async_trait]
impl CountSync for StoreSync {
    fn name(&self) -> &'static str {
        "store"
    }
    async fn sync(
        &self,
        instance: &str,
        write: &[WindowCount],
        read: &[(String, i64)],
    ) -> Result<Vec<InstanceCount>, String> {
        self.0
            .sync_rate_counts(instance, write, read, crate::store::now())
            .await
            .map_err(|e| e.to_string())
    }
}

/// What a request was told.
pub enum Verdict {
    Decided(Decision),
    /// The backend is down and the config says to refuse meanwhile.
    Unavailable,
}

#[derive(Debug, Clone)]
struct Entry {
    per_ms: u64,
    /// The budget per window, as of the last request.
    limit: u64,
    window: i64,
    /// This instance's admissions in the current and previous window.
    own_cur: u64,
    own_prev: u64,
    /// What was last written of them (changes go at the next write).
    written_cur: u64,
    written_prev: u64,
    /// The other instances' counts as of the last view.
    others_cur: u64,
    others_prev: u64,
    /// How far `own_cur` may go in this window at `grow_from_ms`; it
    /// grows from there by `frac` of what the previous window frees as it
    /// slides out (`grow_prev` requests over a whole window), so that
    /// between two reads, or when a read is missed, every instance keeps
    /// its part of the budget that time frees, and together they never
    /// run ahead of it.
    cap: u64,
    frac: f64,
    grow_prev: u64,
    grow_from_ms: u64,
    /// The cap never goes below this (the first cap of a window entered
    /// with a view of the previous one).
    floor: u64,
    /// The last view of this window: each instance's count and cap.
    view: Vec<Seen>,
    last_seen_ms: u64,
}

/// `cap` grown by `frac` of what a previous window of `prev` frees from
/// `from_ms` to `to_ms` (both in `window`).
fn grown(cap: u64, frac: f64, prev: u64, from_ms: u64, to_ms: u64, per_ms: u64, window: i64) -> u64 {
    let to = to_ms.min((window as u64 + 1).saturating_mul(per_ms));
    if to <= from_ms || frac <= 0.0 {
        return cap;
    }
    cap + (frac * prev as f64 * (to - from_ms) as f64 / per_ms as f64) as u64
}

impl Entry {
    fn new(per_ms: u64, limit: u64, now_ms: u64, cap: u64) -> Entry {
        Entry {
            per_ms,
            limit,
            window: (now_ms / per_ms) as i64,
            own_cur: 0,
            own_prev: 0,
            written_cur: 0,
            written_prev: 0,
            others_cur: 0,
            others_prev: 0,
            cap,
            frac: 0.0,
            grow_prev: 0,
            grow_from_ms: now_ms,
            floor: 0,
            view: Vec::new(),
            last_seen_ms: now_ms,
        }
    }

    /// A cap of this window's view (`cap` with its part `frac`) at `at_ms`.
    fn cap_of(&self, cap: u64, frac: f64, at_ms: u64) -> u64 {
        let c = grown(
            cap,
            frac,
            self.grow_prev,
            self.grow_from_ms,
            at_ms,
            self.per_ms,
            self.window,
        );
        c.max(self.floor)
    }

    /// This instance's cap at `now_ms`.
    fn cap_at(&self, now_ms: u64) -> u64 {
        self.cap_of(self.cap, self.frac, now_ms)
    }

    /// A cap of `seen` (in this window's view) at `at_ms`.
    fn seen_cap_at(&self, seen: &Seen, at_ms: u64) -> u64 {
        self.cap_of(seen.cap, seen.frac, at_ms)
    }

    /// Moves the windows on to the one `now_ms` is in.
    fn roll(&mut self, now_ms: u64, first_cap: u64) {
        let w = (now_ms / self.per_ms) as i64;
        if w == self.window {
            return;
        }
        let start = (w as u64).saturating_mul(self.per_ms);
        if w == self.window + 1 && !self.view.is_empty() {
            // Into the next window with a view of this one: every
            // instance that read it carries the same parts over. The
            // window that becomes previous holds at most what each
            // instance could admit in it, its cap at the end; of the
            // budget that leaves now and of what it frees as it slides
            // out, each gets its part, so no instance waits for a read
            // in the new window before it may go on.
            let bound: u64 = self
                .view
                .iter()
                .map(|v| v.count.max(self.seen_cap_at(v, start)))
                .sum::<u64>()
                .max(self.own_cur + self.others_cur);
            let left = self.limit.saturating_sub(bound);
            for v in &mut self.view {
                v.count = 0;
                v.cap = (v.frac * left as f64) as u64;
            }
            let mine = self.view.iter().find(|v| v.mine).map_or((0, 0.0), |v| (v.cap, v.frac));
            (self.cap, self.frac) = mine;
            (self.grow_prev, self.grow_from_ms, self.floor) = (bound, start, first_cap);
        } else {
            self.view.clear();
            (self.cap, self.frac, self.grow_prev, self.grow_from_ms, self.floor) = (first_cap, 0.0, 0, start, 0);
        }
        if w == self.window + 1 {
            (self.own_prev, self.written_prev, self.others_prev) = (self.own_cur, self.written_cur, self.others_cur);
        } else {
            (self.own_prev, self.written_prev, self.others_prev) = (0, 0, 0);
        }
        (self.own_cur, self.written_cur, self.others_cur) = (0, 0, 0);
        self.window = w;
    }

    fn totals(&self, with_others: bool) -> (f64, f64) {
        if with_others {
            (
                (self.own_prev + self.others_prev) as f64,
                (self.own_cur + self.others_cur) as f64,
            )
        } else {
            (self.own_prev as f64, self.own_cur as f64)
        }
    }

    /// The sliding-window count at `now_ms`.
    fn estimate(&self, now_ms: u64, with_others: bool) -> f64 {
        let (prev, cur) = self.totals(with_others);
        let elapsed = (now_ms % self.per_ms) as f64 / self.per_ms as f64;
        prev * (1.0 - elapsed) + cur
    }

    /// Milliseconds from `now_ms` until one more request fits under
    /// `limit`.
    fn wait_ms(&self, now_ms: u64, limit: u64, with_others: bool) -> u64 {
        let per = self.per_ms as f64;
        let into = (now_ms % self.per_ms) as f64;
        let (prev, cur) = self.totals(with_others);
        let room = limit as f64 - 1.0;
        let ms = if cur <= room && prev > 0.0 {
            // Within this window, once enough of the previous one slid out.
            per * (1.0 - (room - cur) / prev) - into
        } else {
            // In the next window, once enough of this one slid out.
            let f = if cur > 0.0 { (1.0 - room / cur).max(0.0) } else { 0.0 };
            per - into + per * f
        };
        ms.max(1.0).ceil() as u64
    }
}

type Shard = HashMap<u128, Entry>;

/// One instance in an entry's last view.
#[derive(Debug, Clone)]
struct Seen {
    id: Arc<str>,
    /// This instance.
    mine: bool,
    count: u64,
    cap: u64,
    /// Its part of what the window frees until the next view.
    frac: f64,
}

/// One instance as a read shows it, for `caps`.
#[derive(Debug, Clone)]
struct Row {
    id: Arc<str>,
    count: u64,
    /// Its cap from the previous view as of this read, and its part of
    /// the growth, if there was one.
    cap: Option<(u64, f64)>,
    /// What it admitted since the previous view.
    recent: u64,
    /// Its write for this read's boundary has not arrived: what it has
    /// may be more than the row says.
    late: bool,
}

/// (key, window) → each instance's count.
type Counts = HashMap<(u128, i64), Vec<(Arc<str>, u64)>>;

/// A peer whose presence is older than this is gone (an idle one writes
/// it every PRESENCE_IDLE).
const GONE_AFTER: Duration = Duration::from_secs(10);

pub struct Shared {
    backend: Box<dyn CountSync>,
    /// This process among the others (random: a restarted instance is a
    /// new one; its old rows simply expire).
    instance: Arc<str>,
    shards: Vec<Mutex<Shard>>,
    /// The last sync answered (or none has failed yet).
    up: AtomicBool,
    refuse_when_down: bool,
    every: Duration,
    /// How many other instances the last read found present.
    peer_count: AtomicU32,
    /// Other instances seen, and how many reads in a row missed their
    /// write (0: fresh).
    known: Mutex<HashMap<Arc<str>, u32>>,
    last_presence: Mutex<Instant>,
    /// The settings it was built from, to keep it across a reload.
    pub settings: String,
}

/// One key's digest: the same on every instance (unlike the local
/// limiter's per-process hash), and never the key itself in the store.
pub fn digest(route: &str, text: &[u8]) -> u128 {
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(text);
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_be_bytes(b)
}

fn hex(key: u128) -> String {
    let mut s = String::with_capacity(32);
    let _ = write!(s, "{key:032x}");
    s
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The cap of an instance on a key before a view has given it one: all of
/// it alone; with peers, a sixteenth of a fair part, so a key that is new
/// here but spent elsewhere is overshot by little until the next read.
fn first_cap(limit: u64, peers: u64) -> u64 {
    if peers == 0 {
        limit
    } else {
        (limit / (16 * (peers + 1))).max(1)
    }
}

/// Everybody's caps from one view, the same on every instance that reads
/// it (rows in id order; `allowed`: the budget at the read; `first`: the
/// cap of an instance that had none) → caps in the rows' order, with each
/// one's part of what the window frees until the next view (they add up
/// to at most 1: a late instance, which may not have this view, keeps its
/// old part, and the others share the rest by the same weights).
fn caps(view: &[Row], allowed: u64, first: u64) -> Vec<(u64, f64)> {
    let used: u64 = view.iter().map(|v| v.count).sum();
    // What each may be admitting unseen until the new caps apply: all of
    // its previous cap if it was admitting (or its write is late); none if
    // it was idle a whole period, so that an idle instance's cap goes back
    // to the others.
    let kept: Vec<u64> = view
        .iter()
        .map(|v| {
            if v.late || v.recent > 0 {
                v.cap.map_or(first, |c| c.0).saturating_sub(v.count)
            } else {
                0
            }
        })
        .collect();
    let spare = allowed.saturating_sub(used + kept.iter().sum::<u64>());
    let weights: Vec<u64> = view.iter().map(|v| if v.late { 1 } else { v.recent + 1 }).collect();
    let total_weight: u64 = weights.iter().sum::<u64>().max(1);
    let mut shares: Vec<u64> = weights
        .iter()
        .map(|w| (u128::from(spare) * u128::from(*w) / u128::from(total_weight)) as u64)
        .collect();
    // The remainder of the division, one each, in id order.
    let mut rest = spare - shares.iter().sum::<u64>();
    for s in shares.iter_mut() {
        if rest == 0 {
            break;
        }
        *s += 1;
        rest -= 1;
    }
    let n = view.len().max(1) as f64;
    let reserved: f64 = view
        .iter()
        .filter(|v| v.late)
        .map(|v| v.cap.map_or(1.0 / n, |c| c.1))
        .sum();
    let free = (1.0 - reserved).max(0.0);
    let busy_weight: u64 = view
        .iter()
        .filter(|v| !v.late)
        .map(|v| v.recent + 1)
        .sum::<u64>()
        .max(1);
    view.iter()
        .zip(kept)
        .zip(shares)
        .map(|((v, k), s)| {
            let frac = if v.late {
                v.cap.map_or(1.0 / n, |c| c.1)
            } else {
                free * (v.recent + 1) as f64 / busy_weight as f64
            };
            (v.count + k + s, frac)
        })
        .collect()
}

impl Shared {
    /// Starts the sync task (on the current runtime); it ends when the
    /// last holder of the returned Arc lets go.
    pub fn start(
        backend: Box<dyn CountSync>,
        every: Duration,
        refuse_when_down: bool,
        settings: String,
    ) -> Arc<Shared> {
        let shared = Arc::new(Shared::new(backend, every, refuse_when_down, settings));
        crate::ops::metrics::rate_limit_shared_up(true);
        tokio::spawn(sync_loop(Arc::downgrade(&shared), shared.every));
        shared
    }

    fn new(backend: Box<dyn CountSync>, every: Duration, refuse_when_down: bool, settings: String) -> Shared {
        let mut id = [0u8; 8];
        if aws_lc_rs::rand::fill(&mut id).is_err() {
            // Only uniqueness matters here, not secrecy.
            id = (now_ms() ^ u64::from(std::process::id()).rotate_left(40)).to_be_bytes();
        }
        let instance: String = id.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        Shared {
            backend,
            instance: instance.into(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            up: AtomicBool::new(true),
            refuse_when_down,
            every: every.max(Duration::from_millis(10)),
            peer_count: AtomicU32::new(0),
            known: Mutex::new(HashMap::new()),
            // Long ago: the first write says hello.
            last_presence: Mutex::new(
                Instant::now()
                    .checked_sub(PRESENCE_IDLE * 2)
                    .unwrap_or_else(Instant::now),
            ),
            settings,
        }
    }

    fn shard(&self, key: u128) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[(key >> 124) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Decides one request for `key` under `limit` per `per`.
    pub fn check(&self, key: u128, limit: u64, per: Duration, now_ms: u64) -> Verdict {
        let up = self.up.load(Ordering::Relaxed);
        if !up && self.refuse_when_down {
            return Verdict::Unavailable;
        }
        let per_ms = (per.as_millis() as u64).max(1);
        let limit = limit.max(1);
        let first = first_cap(limit, u64::from(self.peer_count.load(Ordering::Relaxed)));
        let mut map = self.shard(key);
        if map.len() >= MAX_KEYS / SHARDS && !map.contains_key(&key) {
            map.retain(|_, e| e.last_seen_ms + 2 * e.per_ms > now_ms || e.written_cur != e.own_cur);
            if map.len() >= MAX_KEYS / SHARDS {
                tracing::warn!(
                    keys = map.len(),
                    "shared rate limit: too many live keys in one shard; forgetting them"
                );
                crate::ops::metrics::rate_limit_reset();
                map.clear();
            }
        }
        let e = map
            .entry(key)
            .or_insert_with(|| Entry::new(per_ms, limit, now_ms, first));
        if e.per_ms != per_ms {
            // The route's window changed (a reload): start over.
            *e = Entry::new(per_ms, limit, now_ms, first);
        }
        e.roll(now_ms, first);
        e.last_seen_ms = now_ms;
        e.limit = limit;
        // Down: this instance alone, the whole budget, as "local" would.
        let est = e.estimate(now_ms, up);
        let fits = est + 1.0 <= limit as f64;
        let cap = e.cap_at(now_ms);
        let under_cap = !up || e.own_cur < cap;
        let reset_ns = |e: &Entry| e.wait_ms(now_ms, 1, up).saturating_mul(1_000_000);
        if fits && under_cap {
            e.own_cur += 1;
            let left = (limit as f64 - est - 1.0).max(0.0) as u64;
            let remaining = if up { left.min(cap - e.own_cur) } else { left };
            return Verdict::Decided(Decision {
                allowed: true,
                remaining,
                reset_ns: reset_ns(e),
                retry_ns: 0,
            });
        }
        let retry_ms = if fits {
            // Budget left, but this instance's cap is reached until the
            // next read hands out the rest.
            self.every.as_millis() as u64
        } else {
            e.wait_ms(now_ms, limit, up)
        };
        Verdict::Decided(Decision {
            allowed: false,
            remaining: 0,
            reset_ns: reset_ns(e),
            retry_ns: retry_ms.saturating_mul(1_000_000),
        })
    }

    /// Calls the backend within a time limit; a failure turns shared
    /// limits off until an answer comes, a success turns them back on.
    async fn call(&self, write: &[WindowCount], read: &[(String, i64)]) -> Option<Vec<InstanceCount>> {
        let started = Instant::now();
        let limit = (self.every * 10).max(Duration::from_secs(1));
        let answer = match tokio::time::timeout(limit, self.backend.sync(&self.instance, write, read)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer in {limit:?}")),
        };
        crate::ops::metrics::rate_limit_sync(self.backend.name(), answer.is_ok(), started.elapsed());
        match answer {
            Ok(v) => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    tracing::info!(backend = self.backend.name(), "shared rate limits are back");
                    crate::ops::metrics::rate_limit_shared_up(true);
                }
                Some(v)
            }
            Err(e) => {
                if self.up.swap(false, Ordering::Relaxed) {
                    let then = if self.refuse_when_down {
                        "refusing requests on routes with rate limits (rate_limit_fallback = \"refuse\")"
                    } else {
                        "each instance counts its own requests meanwhile"
                    };
                    tracing::warn!(backend = self.backend.name(), error = %e, "shared rate limits unavailable; {then}");
                    crate::ops::metrics::rate_limit_shared_up(false);
                }
                None
            }
        }
    }

    fn period_ms(&self) -> u64 {
        (self.every.as_millis() as u64).max(10)
    }

    /// Whether a sync round is due: with keys always, idle only to say
    /// this instance is there.
    fn due(&self, keys: bool) -> bool {
        keys || self.last_presence.lock().unwrap_or_else(|p| p.into_inner()).elapsed() >= PRESENCE_IDLE
    }

    /// The first phase, at `t`: this instance's changed counts out.
    /// Whether it went to the backend (then a read follows).
    async fn write_phase(&self, t: u64) -> bool {
        let mut write = Vec::new();
        let mut keys = false;
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
            let peers = u64::from(self.peer_count.load(Ordering::Relaxed));
            // Idle keys whose counts are written and whose windows are
            // over are forgotten: a new entry starts at zero, which is
            // what they are.
            map.retain(|_, e| {
                e.roll(t, first_cap(e.limit, peers));
                e.own_cur + e.own_prev > 0 || e.last_seen_ms + 2 * e.per_ms > t
            });
            keys |= !map.is_empty();
            for (key, e) in map.iter() {
                if write.len() >= MAX_PER_SYNC {
                    break;
                }
                // Kept for the window and the next one it weighs on.
                let until = |w: i64| ((w as u64 + 2) * e.per_ms / 1000 + 1) as i64;
                if e.written_cur != e.own_cur {
                    write.push(WindowCount {
                        key: hex(*key),
                        window: e.window,
                        count: e.own_cur as i64,
                        expires_at: until(e.window),
                    });
                }
                if e.written_prev != e.own_prev {
                    write.push(WindowCount {
                        key: hex(*key),
                        window: e.window - 1,
                        count: e.own_prev as i64,
                        expires_at: until(e.window - 1),
                    });
                }
            }
        }
        if !self.due(keys) {
            return false;
        }
        // Last: written after the counts, so a reader that finds this
        // boundary's presence finds this boundary's counts too.
        let pw = (t / PRESENCE_MS) as i64;
        write.push(WindowCount {
            key: hex(PRESENCE),
            window: pw,
            // Which boundary it was written at: a reader that finds an
            // older one knows this instance's write came late.
            count: (t / self.period_ms()) as i64,
            expires_at: ((pw as u64 + 2) * PRESENCE_MS / 1000 + 1) as i64,
        });
        if self.call(&write, &[]).await.is_none() {
            return false;
        }
        *self.last_presence.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        // Recorded as written only now that the backend has them.
        for w in &write {
            let Ok(key) = u128::from_str_radix(&w.key, 16) else {
                continue;
            };
            if key == PRESENCE {
                continue;
            }
            if let Some(e) = self.shard(key).get_mut(&key) {
                if e.window == w.window {
                    e.written_cur = w.count as u64;
                } else if e.window == w.window + 1 {
                    e.written_prev = w.count as u64;
                }
            }
        }
        true
    }

    /// The second phase, half a period after `t`: everybody's counts as of
    /// `t` in, and from them everybody's caps. `wrote_late`: this
    /// instance's write was answered so close to the reads that some peers
    /// may have read before it landed and counted this one late: it then
    /// counts itself late too, the view those peers made, since of the
    /// two possible views that one gives it the least.
    async fn read_phase(&self, t: u64, wrote: bool, wrote_late: bool) {
        let mut read = Vec::new();
        let mut asked: Vec<(u128, i64)> = Vec::new();
        for shard in &self.shards {
            let map = shard.lock().unwrap_or_else(|p| p.into_inner());
            for (key, e) in map.iter() {
                if asked.len() >= MAX_PER_SYNC {
                    break;
                }
                // The window as of `t`, which the writes were made in.
                let w = (t / e.per_ms) as i64;
                read.push((hex(*key), w));
                read.push((hex(*key), w - 1));
                asked.push((*key, w));
            }
        }
        if !wrote {
            return;
        }
        let pw = (t / PRESENCE_MS) as i64;
        read.push((hex(PRESENCE), pw));
        read.push((hex(PRESENCE), pw - 1));
        let Some(counts) = self.call(&[], &read).await else {
            return;
        };
        let k = (t / self.period_ms()) as i64;
        let mut by_key = Counts::new();
        // Each peer's latest boundary (from either presence window).
        let mut wrote_at: HashMap<Arc<str>, i64> = HashMap::new();
        for c in counts {
            let Ok(key) = u128::from_str_radix(&c.key, 16) else {
                continue;
            };
            let who: Arc<str> = if *c.instance == *self.instance {
                self.instance.clone()
            } else {
                c.instance.into()
            };
            if key == PRESENCE {
                if who != self.instance {
                    let at = wrote_at.entry(who).or_insert(c.count);
                    *at = (*at).max(c.count);
                }
                continue;
            }
            by_key
                .entry((key, c.window))
                .or_default()
                .push((who, c.count.max(0) as u64));
        }
        // Peers: those whose write for this boundary arrived, and those
        // whose write is late or who are idle, up to GONE_AFTER.
        let present: Vec<(Arc<str>, bool)> = {
            let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            // Without a row (a Redis that restarted empty), a known peer
            // ages by a read; with one, its row says how late it is.
            for (_, misses) in known.iter_mut() {
                *misses = misses.saturating_add(1);
            }
            for (who, at) in wrote_at {
                let misses = k.saturating_sub(at).clamp(0, i64::from(u32::MAX)) as u32;
                known.insert(who, misses);
            }
            let gone = (GONE_AFTER.as_millis() as u64 / self.period_ms()) as u32;
            known.retain(|_, misses| *misses <= gone);
            let mut v: Vec<(Arc<str>, bool)> = known.iter().map(|(id, m)| (id.clone(), *m > 0)).collect();
            v.sort();
            v
        };
        crate::ops::metrics::rate_limit_peers(present.len() as u32);
        self.peer_count.store(present.len() as u32, Ordering::Relaxed);
        // The reads were timed for t + P/2: the budget is taken there, the
        // same on every instance.
        let at = t + self.period_ms() / 2;
        for (key, w) in asked {
            let mut map = self.shard(key);
            let Some(e) = map.get_mut(&key) else { continue };
            let empty = Vec::new();
            let cur = by_key.get(&(key, w)).unwrap_or(&empty);
            let prev = by_key.get(&(key, w - 1)).unwrap_or(&empty);
            let others = |rows: &[(Arc<str>, u64)]| -> u64 {
                rows.iter().filter(|(who, _)| *who != self.instance).map(|r| r.1).sum()
            };
            if e.window == w + 1 {
                // It moved on since t: what was current is previous.
                e.others_prev = others(cur);
                continue;
            }
            if e.window != w {
                continue;
            }
            (e.others_cur, e.others_prev) = (others(cur), others(prev));
            // Everybody present or counting, and this instance, in id order.
            let mut ids: Vec<(Arc<str>, bool)> = present.clone();
            for r in cur {
                if !ids.iter().any(|(id, _)| *id == r.0) {
                    // Counting but absent from presence: not to be trusted
                    // as up to date.
                    ids.push((r.0.clone(), r.0 != self.instance));
                }
            }
            ids.retain(|(id, _)| *id != self.instance);
            ids.push((self.instance.clone(), wrote_late));
            ids.sort();
            let first = first_cap(e.limit, ids.len() as u64 - 1);
            let view: Vec<Row> = ids
                .into_iter()
                .map(|(id, late)| {
                    let row = cur.iter().find(|r| r.0 == id).map_or(0, |r| r.1);
                    let before = e.view.iter().find(|v| v.id == id);
                    let was = before.map_or(0, |v| v.count);
                    // A late write's row may be older than the last view.
                    let count = if late { row.max(was) } else { row };
                    Row {
                        recent: count.saturating_sub(was),
                        cap: before.map(|v| (e.seen_cap_at(v, at), v.frac)),
                        id,
                        count,
                        late,
                    }
                })
                .collect();
            let prev_total: u64 = prev.iter().map(|r| r.1).sum();
            let elapsed = (at % e.per_ms) as f64 / e.per_ms as f64;
            let allowed = (e.limit as f64 - prev_total as f64 * (1.0 - elapsed)).max(0.0) as u64;
            let caps = caps(&view, allowed, first);
            e.view = view
                .into_iter()
                .zip(caps)
                .map(|(v, (cap, frac))| Seen {
                    mine: v.id == self.instance,
                    id: v.id,
                    count: v.count,
                    cap,
                    frac,
                })
                .collect();
            if let Some(mine) = e.view.iter().find(|v| v.mine) {
                (e.cap, e.frac, e.grow_prev, e.grow_from_ms, e.floor) = (mine.cap, mine.frac, prev_total, at, 0);
            }
        }
    }
}

async fn sync_loop(shared: Weak<Shared>, every: Duration) {
    let p = (every.as_millis() as u64).max(10);
    loop {
        // Phase one at the next multiple of P, phase two half a P later.
        // A phase that cannot start in its slot (a stalled process, a
        // clock jump) is skipped rather than run late: a late write would
        // miss the reads it is meant for and a late read would mix two
        // boundaries' counts, and either would give instances different
        // views. Skipped, the counts go next period and the peers treat
        // this instance as late meanwhile (the safe side).
        let now = now_ms();
        let t = (now / p + 1) * p;
        tokio::time::sleep(Duration::from_millis(t - now)).await;
        let Some(s) = shared.upgrade() else { return };
        let wrote = now_ms() < t + p * 2 / 5 && s.write_phase(t).await;
        drop(s);
        let now = now_ms();
        // Peers read from t + P/2 on (by their clocks, a little apart).
        let wrote_late = now + p / 10 >= t + p / 2;
        if t + p / 2 > now {
            tokio::time::sleep(Duration::from_millis(t + p / 2 - now)).await;
        }
        let Some(s) = shared.upgrade() else { return };
        if wrote && now_ms() < t + p * 9 / 10 {
            s.read_phase(t, wrote, wrote_late).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Arc<str> {
        s.into()
    }

    fn row(name: &str, count: u64, cap: Option<u64>, recent: u64, late: bool) -> Row {
        Row {
            id: id(name),
            count,
            cap: cap.map(|c| (c, 0.5)),
            recent,
            late,
        }
    }

    fn caps(view: &[Row], allowed: u64, first: u64) -> Vec<u64> {
        super::caps(view, allowed, first).into_iter().map(|c| c.0).collect()
    }

    #[test]
    fn caps_add_up_to_the_budget_and_follow_demand() {
        // Two instances at 100 and 300 admitted, a busy one and a quiet one.
        let view = vec![
            row("a", 100, Some(150), 100, false),
            row("b", 300, Some(300), 10, false),
        ];
        let c = caps(&view, 1000, 1);
        assert_eq!(c.iter().sum::<u64>(), 1000, "{c:?}");
        // a keeps 50 (its unused cap) and most of the spare; b keeps 0
        // (its cap is spent).
        assert!(c[0] > 100 + 50 && c[1] >= 300, "{c:?}");
        assert!(c[0] - 150 > 8 * (c[1] - 300), "in proportion to 101:11: {c:?}");
        // Nothing left: caps are what was counted and kept.
        assert_eq!(caps(&view, 400, 1), vec![150, 300]);
        // Alone: the whole budget.
        assert_eq!(caps(&[row("a", 0, None, 0, false)], 250, 250), vec![250]);
        // An idle one gives its unused cap back.
        let idle = vec![row("a", 100, Some(150), 100, false), row("b", 100, Some(300), 0, false)];
        let c = caps(&idle, 1000, 1);
        assert_eq!(c.iter().sum::<u64>(), 1000);
        assert!(c[1] < 110, "{c:?}");
        // A peer whose write is late keeps all of its cap, even if its row
        // shows nothing new: the spare is smaller.
        let late = vec![row("a", 100, Some(150), 100, false), row("b", 100, Some(300), 0, true)];
        let c = caps(&late, 1000, 1);
        assert!((300..310).contains(&c[1]), "all of its cap kept, little more: {c:?}");
        assert_eq!(c.iter().sum::<u64>(), 1000);
    }

    #[test]
    fn parts_of_the_growth_add_up_to_one_and_a_late_peer_keeps_its_own() {
        let busy = vec![row("a", 10, Some(20), 10, false), row("b", 10, Some(20), 30, false)];
        let f: Vec<f64> = super::caps(&busy, 100, 1).into_iter().map(|c| c.1).collect();
        assert!((f.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{f:?}");
        assert!((f[1] / f[0] - 31.0 / 11.0).abs() < 1e-9, "by demand: {f:?}");
        // b is late and had half: a may only have the other half.
        let late = vec![row("a", 10, Some(20), 10, false), row("b", 10, Some(20), 0, true)];
        let f: Vec<f64> = super::caps(&late, 100, 1).into_iter().map(|c| c.1).collect();
        assert_eq!(f, vec![0.5, 0.5]);
    }

    fn seen(name: &str, mine: bool, count: u64, cap: u64, frac: f64) -> Seen {
        Seen {
            id: id(name),
            mine,
            count,
            cap,
            frac,
        }
    }

    #[test]
    fn caps_grow_as_the_previous_window_slides_out_and_carry_into_the_next() {
        // 100 per second, two busy instances with half each; the previous
        // window was full, so the budget is only what it frees.
        let mut e = Entry::new(1000, 100, 10_000, 3);
        e.own_prev = 50;
        e.others_prev = 50;
        (e.own_cur, e.others_cur) = (25, 25);
        e.view = vec![seen("a", true, 25, 25, 0.5), seen("b", false, 25, 25, 0.5)];
        (e.cap, e.frac, e.grow_prev, e.grow_from_ms, e.floor) = (25, 0.5, 100, 10_500, 0);
        assert_eq!(e.cap_at(10_500), 25);
        // 200 ms later the previous window freed 20 more: 10 each, with no
        // read in between.
        assert_eq!(e.cap_at(10_700), 35);
        // Never past the window's end.
        assert_eq!(e.cap_at(10_999), 49);
        assert_eq!(e.cap_at(12_000), 50);
        // Into the next window: this one holds at most 50 + 50 = 100, so
        // nothing is left at its start, and each grows by half of what it
        // frees from there, without waiting for a read.
        e.roll(11_000, 3);
        assert_eq!((e.own_prev, e.own_cur), (25, 0));
        assert_eq!(e.view.len(), 2);
        assert_eq!(e.cap_at(11_000), 3, "the floor, as before a view");
        assert_eq!(e.cap_at(11_300), 15);
        let together: u64 = e.view.iter().map(|v| e.seen_cap_at(v, 11_300)).sum();
        assert_eq!(together, 30, "what 0.3 of a full window frees");
        // Two windows on: nothing carried.
        e.roll(13_500, 3);
        assert!(e.view.is_empty());
        assert_eq!(e.cap_at(13_900), 3);
    }

    #[test]
    fn first_caps_are_small_with_peers() {
        assert_eq!(first_cap(400, 0), 400);
        assert_eq!(first_cap(400, 1), 12);
        assert_eq!(first_cap(10, 3), 1);
    }

    #[test]
    fn the_sliding_window_weighs_the_previous_one() {
        let mut e = Entry::new(1000, 10, 0, 10);
        e.own_cur = 10;
        // Half a window later, the 10 of the previous window count 5.
        e.roll(1500, 10);
        assert_eq!(e.own_prev, 10);
        assert!((e.estimate(1500, false) - 5.0).abs() < 1e-9);
        // 9 may be spent once 9 slid out… one more fits at 1100 ms in (10·0.9 = 9 ≤ 9).
        assert_eq!(e.wait_ms(1000, 10, false), 100);
    }
}
