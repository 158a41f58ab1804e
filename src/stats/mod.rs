//! Service counters: lock-free, shared by the ingest, batcher, compute and
//! publisher stages, read by `$SRV.STATS`, the logs and `/metrics`
//! (`exposition.rs`).

mod exposition;
mod process;
mod route;

pub use exposition::MetricsFormat;
pub use route::{
    Buckets, OUT_OF_RANGE_SCALES, ROUTE_HISTOGRAMS, RouteCounters, RouteInfo, Said, latency_at,
    seconds_since,
};

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::wire::ErrorKind;

/// A Prometheus-style histogram with fixed buckets (seconds or counts),
/// lock-free.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last is +Inf.
    counts: Vec<AtomicU64>,
    /// Sum of observations × 1e9 (nanoseconds for time, or count × 1e9).
    sum_e9: AtomicU64,
}

/// Latency buckets, seconds: 100 µs … 10 s.
pub const SECONDS: &[f64] = &[
    1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Batch-size buckets.
pub const SIZES: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_e9: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_e9.fetch_add((v.max(0.0) * 1e9) as u64, Relaxed);
    }

    /// Sum of the observations, their count, and each bucket's own count
    /// with its upper bound (the last one +Inf), as a snapshot.
    pub fn read(&self) -> Buckets {
        let buckets: Vec<(f64, u64)> = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    self.bounds.get(i).copied().unwrap_or(f64::INFINITY),
                    c.load(Relaxed),
                )
            })
            .collect();
        let count = buckets.iter().map(|(_, c)| c).sum();
        (self.sum_e9.load(Relaxed) as f64 / 1e9, count, buckets)
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    /// Tasks that panicked ([`watched`]): the service is unhealthy for good
    /// (a dead ingest task leaves its route silent, every counter still).
    panicked: Mutex<Vec<String>>,
    pub messages_in: AtomicU64,
    pub samples_in: AtomicU64,
    /// Seq numbers a gap skipped (got − expected), summed.
    pub samples_skipped: AtomicU64,
    pub windows_out: AtomicU64,
    /// Core mode: windows dropped because their route's queue was full
    /// while its subscription's buffer was more than 7/8 full (see
    /// `service::ingest`): the route could not keep up.
    pub windows_shed: AtomicU64,
    pub batches: AtomicU64,
    pub batched_windows: AtomicU64,
    pub requests: AtomicU64,
    pub publish_failures: AtomicU64,
    pub streams_active: AtomicU64,
    pub streams_evicted: AtomicU64,
    pub reconnects: AtomicU64,
    /// The client lost its server and has not reconnected yet, as `/metrics`
    /// last read the client's state (an outage stops every counter an alert
    /// watches; this says why).
    pub nats_disconnected: std::sync::atomic::AtomicBool,
    /// Durable mode: checkpoints written.
    pub checkpoints: AtomicU64,
    /// Durable mode: restarts from the last checkpoint after an error.
    pub durable_restarts: AtomicU64,
    /// Durable mode: outputs the output stream recognised as already stored
    /// (`Nats-Msg-Id`), i.e. replays after a restart.
    pub duplicates: AtomicU64,
    /// Durable mode: units taken from another instance (one that stopped
    /// and released them, or went a lease without a checkpoint).
    pub durable_takeovers: AtomicU64,
    /// Models swapped in or out by reload, shadow, promote and rollback
    /// requests and SIGHUP (one per route changed).
    pub model_changes: AtomicU64,
    /// Such requests refused: the models serving stayed as they were.
    pub model_changes_refused: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    queue_ns: AtomicU64,
    compute_ns: AtomicU64,
    /// Durable mode: what each unit (KV key) is doing now.
    pub units: std::sync::Mutex<std::collections::BTreeMap<String, UnitState>>,
    /// Durable mode: each unit's consumer lag (messages of its input not
    /// yet delivered to it, as of its last delivery).
    pending: std::sync::Mutex<std::collections::BTreeMap<String, Arc<AtomicU64>>>,
    /// One heartbeat per compute thread (`/healthz`).
    compute: std::sync::Mutex<Vec<Arc<Heartbeat>>>,
}

/// A compute thread's heartbeat: since when it has been on its current
/// batch (0: idle), and whether it has stopped (a panic included).
#[derive(Debug, Default)]
pub struct Heartbeat {
    /// What `/healthz` calls it ("compute thread 0").
    name: String,
    busy_since_us: AtomicU64,
    stopped: std::sync::atomic::AtomicBool,
}

/// Microseconds on a monotonic clock that starts with the process (never
/// 0, so 0 can mean idle).
fn monotonic_us() -> u64 {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    BASE.get_or_init(std::time::Instant::now)
        .elapsed()
        .as_micros() as u64
        + 1
}

impl Heartbeat {
    pub fn busy(&self) {
        self.busy_since_us.store(monotonic_us(), Relaxed);
    }

    pub fn idle(&self) {
        self.busy_since_us.store(0, Relaxed);
    }
}

/// Marks its heartbeat stopped when the compute thread ends, however it
/// ends (a panicking model unwinds through it).
pub struct StopOnDrop(pub Arc<Heartbeat>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stopped.store(true, Relaxed);
    }
}

/// What a durable unit is doing (`/readyz`, `$SRV.STATS`, `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitState {
    /// Taking its checkpoint over, or resuming from it.
    Starting,
    /// Owns its checkpoint and processes its partition.
    Owning,
    /// Another instance owns it; this one takes over if that one stops.
    StandingBy,
    /// An attempt failed; it resumes from its checkpoint after a pause.
    Retrying,
}

impl UnitState {
    pub const ALL: [UnitState; 4] = [
        UnitState::Starting,
        UnitState::Owning,
        UnitState::StandingBy,
        UnitState::Retrying,
    ];

    /// The name used on the wire and in metrics (as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            UnitState::Starting => "starting",
            UnitState::Owning => "owning",
            UnitState::StandingBy => "standing_by",
            UnitState::Retrying => "retrying",
        }
    }

    /// Ready: the unit is doing its job (processing, or standing by).
    pub fn ready(self) -> bool {
        matches!(self, UnitState::Owning | UnitState::StandingBy)
    }
}

impl Stats {
    /// A new compute thread's heartbeat, watched by [`Stats::health`].
    pub fn compute_thread(&self, i: usize) -> Arc<Heartbeat> {
        self.heartbeat(format!("compute thread {i}"))
    }

    /// A heartbeat for whatever else runs the model, watched as the
    /// compute threads' are; `name` says what it is in `/healthz`.
    pub fn heartbeat(&self, name: String) -> Arc<Heartbeat> {
        let beat = Arc::new(Heartbeat {
            name,
            ..Heartbeat::default()
        });
        if let Ok(mut all) = self.compute.lock() {
            all.push(beat.clone());
        }
        beat
    }

    /// `/healthz`: unhealthy when a compute thread has stopped, or has been
    /// on one batch longer than `stall` (a batch takes milliseconds: a
    /// thread that long on one is stuck, and the windows behind it wait).
    pub fn health(&self, stall: Duration) -> std::result::Result<(), String> {
        if let Some(task) = self.panicked.lock().ok().and_then(|p| p.first().cloned()) {
            return Err(format!("{task} panicked: restart the service"));
        }
        let Ok(all) = self.compute.lock() else {
            return Err("compute heartbeats unreadable".into());
        };
        let now = monotonic_us();
        for beat in all.iter() {
            let name = &beat.name;
            if beat.stopped.load(Relaxed) {
                return Err(format!("{name} has stopped"));
            }
            let since = beat.busy_since_us.load(Relaxed);
            let busy = Duration::from_micros(now.saturating_sub(since));
            if since != 0 && busy > stall {
                return Err(format!(
                    "{name} has been on one batch for {:.1} s",
                    busy.as_secs_f64()
                ));
            }
        }
        Ok(())
    }

    /// Records a durable unit's state (`None`: the unit stopped).
    pub fn unit(&self, key: &str, state: Option<UnitState>) {
        let Ok(mut units) = self.units.lock() else {
            return;
        };
        match state {
            // A standby has no consumer: the lag it had as owner is stale
            // (and would keep a lag alert firing for a caught-up unit).
            Some(UnitState::StandingBy) => {
                units.insert(key.to_string(), UnitState::StandingBy);
                if let Ok(mut pending) = self.pending.lock() {
                    pending.remove(key);
                }
            }
            Some(s) => {
                units.insert(key.to_string(), s);
            }
            None => {
                units.remove(key);
                if let Ok(mut pending) = self.pending.lock() {
                    pending.remove(key);
                }
            }
        }
    }

    /// A durable unit's lag gauge, which it sets on every delivery (one
    /// relaxed store: no lock on the hot path).
    pub fn unit_pending(&self, key: &str) -> Arc<AtomicU64> {
        match self.pending.lock() {
            Ok(mut p) => p.entry(key.to_string()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Each durable unit's consumer lag.
    pub fn pending(&self) -> std::collections::BTreeMap<String, u64> {
        match self.pending.lock() {
            Ok(p) => p
                .iter()
                .map(|(k, v)| (k.clone(), v.load(Relaxed)))
                .collect(),
            Err(_) => Default::default(),
        }
    }

    pub fn unit_states(&self) -> Vec<(String, UnitState)> {
        match self.units.lock() {
            Ok(u) => u.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A point-in-time copy of [`Stats`], as served in `$SRV.STATS` `data`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Snapshot {
    pub messages_in: u64,
    pub samples_in: u64,
    /// Seq numbers gaps skipped ([`Stats::samples_skipped`]).
    #[serde(default)]
    pub samples_skipped: u64,
    pub windows_out: u64,
    /// Core mode: windows shed under overload ([`Stats::windows_shed`]).
    #[serde(default)]
    pub windows_shed: u64,
    pub batches: u64,
    pub mean_batch_size: f64,
    pub requests: u64,
    pub publish_failures: u64,
    pub streams_active: u64,
    pub streams_evicted: u64,
    pub reconnects: u64,
    #[serde(default)]
    pub checkpoints: u64,
    #[serde(default)]
    pub durable_restarts: u64,
    #[serde(default)]
    pub duplicates: u64,
    #[serde(default)]
    pub durable_takeovers: u64,
    #[serde(default)]
    pub model_changes: u64,
    #[serde(default)]
    pub model_changes_refused: u64,
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Durable mode: each unit's state.
    #[serde(default)]
    pub units: std::collections::BTreeMap<String, UnitState>,
    /// Durable mode: each unit's consumer lag (messages not yet delivered).
    #[serde(default)]
    pub pending: std::collections::BTreeMap<String, u64>,
    /// Mean time a window waited for its batch to start computing, µs.
    pub mean_queue_us: f64,
    /// Mean compute time per batch, µs.
    pub mean_compute_us: f64,
}

impl Stats {
    pub fn error(&self, kind: ErrorKind) {
        self.errors[kind.index()].fetch_add(1, Relaxed);
    }

    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()].load(Relaxed)
    }

    /// Records one computed batch of `route`: each window's wait in the
    /// queue (one observation per window), its size and its compute time.
    pub fn batch(
        &self,
        route: &RouteCounters,
        queue_waits: impl ExactSizeIterator<Item = Duration>,
        compute: Duration,
    ) {
        let windows = queue_waits.len();
        let mut total_queue = Duration::ZERO;
        for q in queue_waits {
            route.queue_seconds.observe(q.as_secs_f64());
            total_queue += q;
        }
        route.batch_size.observe(windows as f64);
        route.compute_seconds.observe(compute.as_secs_f64());
        self.batches.fetch_add(1, Relaxed);
        self.batched_windows.fetch_add(windows as u64, Relaxed);
        self.queue_ns
            .fetch_add(total_queue.as_nanos() as u64, Relaxed);
        self.compute_ns
            .fetch_add(compute.as_nanos() as u64, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let batches = self.batches.load(Relaxed);
        let windows = self.batched_windows.load(Relaxed);
        let per = |total: u64, n: u64| if n == 0 { 0.0 } else { total as f64 / n as f64 };
        Snapshot {
            messages_in: self.messages_in.load(Relaxed),
            samples_in: self.samples_in.load(Relaxed),
            samples_skipped: self.samples_skipped.load(Relaxed),
            windows_out: self.windows_out.load(Relaxed),
            windows_shed: self.windows_shed.load(Relaxed),
            batches,
            mean_batch_size: per(windows, batches),
            requests: self.requests.load(Relaxed),
            publish_failures: self.publish_failures.load(Relaxed),
            streams_active: self.streams_active.load(Relaxed),
            streams_evicted: self.streams_evicted.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            checkpoints: self.checkpoints.load(Relaxed),
            durable_restarts: self.durable_restarts.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            durable_takeovers: self.durable_takeovers.load(Relaxed),
            model_changes: self.model_changes.load(Relaxed),
            model_changes_refused: self.model_changes_refused.load(Relaxed),
            errors: ErrorKind::ALL
                .iter()
                .map(|k| (k.as_str().to_string(), self.errors_of(*k)))
                .collect(),
            units: self.unit_states().into_iter().collect(),
            pending: self.pending(),
            mean_queue_us: per(self.queue_ns.load(Relaxed), windows) / 1e3,
            mean_compute_us: per(self.compute_ns.load(Relaxed), batches) / 1e3,
        }
    }
}

/// A running mean of squared differences.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Running {
    pub windows: u64,
    pub values: u64,
    pub sum_sq: f64,
}

impl Running {
    pub fn add(&mut self, a: &[f32], b: &[f32]) {
        self.windows += 1;
        self.values += a.len() as u64;
        self.sum_sq += a
            .iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
            .sum::<f64>();
    }

    /// Mean squared error so far (None before the first window).
    pub fn mse(&self) -> Option<f64> {
        (self.values > 0).then(|| self.sum_sq / self.values as f64)
    }
}

/// The shadow's squared error less the live model's, window by window
/// against the truth (every W-th window of a stream: windows that share no
/// sample), for a test of chance on their difference: two MSEs alone read
/// 21% apart where `eval --against` on the same rows found chance (t = −0.5).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Paired {
    pub windows: u64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl Paired {
    pub fn add(&mut self, shadow: &[f32], live: &[f32], truth: &[f32]) {
        let mse = |a: &[f32]| {
            let sq = a
                .iter()
                .zip(truth)
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2));
            sq.sum::<f64>() / truth.len().max(1) as f64
        };
        let d = mse(shadow) - mse(live);
        self.windows += 1;
        self.sum += d;
        self.sum_sq += d * d;
    }

    /// The mean difference over its standard error (negative: the shadow
    /// does better); `None` under two windows or without spread.
    pub fn t(windows: u64, sum: f64, sum_sq: f64) -> Option<f64> {
        let n = windows as f64;
        let mean = sum / n;
        let var = (sum_sq - n * mean * mean) / (n - 1.0);
        (windows >= 2 && var > 0.0).then(|| mean / (var / n).sqrt())
    }
}

/// A route's comparisons. The running means cover the models serving now
/// (they restart at every swap); the counters never restart.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CompareSnapshot {
    /// Shadow against live, in the route's output units.
    pub shadow_vs_live: Running,
    /// Live against truth.
    pub live_vs_truth: Running,
    /// Shadow against truth.
    pub shadow_vs_truth: Running,
    /// Live and shadow against truth since the service started, whatever
    /// model served (never reset: the counters a dashboard takes any range
    /// of).
    #[serde(default)]
    pub live_vs_truth_total: Running,
    #[serde(default)]
    pub shadow_vs_truth_total: Running,
    /// The live model's linear map (its training's baseline, which its
    /// file records) against truth, on the windows live is scored on: by
    /// now (since the models changed) and since start. Whether the model
    /// still beats the simple baseline it was judged against.
    #[serde(default)]
    pub map_vs_truth: Running,
    #[serde(default)]
    pub map_vs_truth_total: Running,
    /// Shadow less live against truth, on windows sharing no sample.
    pub shadow_minus_live: Paired,
    /// Shadow translations published.
    pub shadow_published: u64,
    /// Batches the observer could not take in time (not compared).
    pub dropped: u64,
    /// Windows whose truth never arrived (or arrived too late to be kept).
    pub unmatched: u64,
    /// The same, since the models serving now began (beside the means).
    #[serde(default)]
    pub unmatched_now: u64,
    /// Deviations begun (`[route.deviation]`: a stream's truth leaving its
    /// translation), streams deviating now, and the first of them by name
    /// with their last mean of truth − translation.
    #[serde(default)]
    pub deviations: u64,
    #[serde(default)]
    pub deviating: u64,
    /// Watches of deviating streams stopped (forgotten, no truth, no
    /// threshold): an alert on `deviating` resolves then too.
    #[serde(default)]
    pub deviations_stopped: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deviating_streams: Vec<(String, f64)>,
    /// The models' generation the means are of (see `service::route`).
    #[serde(skip)]
    pub generation: u64,
}

/// A compute thread on one batch this long is stuck (`/healthz` fails, so
/// a supervisor restarts the process). The largest batch takes well under a
/// second on a slow core.
pub const STALL: Duration = Duration::from_secs(10);

/// Runs `task`; if it panics, records it (`/healthz` fails from then on)
/// and logs it, instead of leaving the task's work undone without a trace.
pub async fn watched(stats: Arc<Stats>, name: String, task: impl Future<Output = ()>) {
    use futures::FutureExt;
    if let Err(panic) = std::panic::AssertUnwindSafe(task).catch_unwind().await {
        let what = panic_text(&*panic);
        tracing::error!(task = %name, "task panicked ({what}): /healthz fails from now on");
        if let Ok(mut p) = stats.panicked.lock() {
            p.push(name);
        }
    }
}

/// What a panic said (its message, when it is text).
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    (panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
