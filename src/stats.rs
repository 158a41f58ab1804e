//! Service counters: lock-free, shared by the ingest, batcher, compute and
//! publisher stages, read by `$SRV.STATS` and the logs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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
    1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
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

    /// Appends the Prometheus text form of this histogram.
    pub fn render(&self, name: &str, help: &str, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            cum += c.load(Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cum}");
        }
        let _ = writeln!(out, "{name}_sum {}", self.sum_e9.load(Relaxed) as f64 / 1e9);
        let _ = writeln!(out, "{name}_count {cum}");
    }
}

#[derive(Debug)]
pub struct Stats {
    pub messages_in: AtomicU64,
    pub samples_in: AtomicU64,
    pub windows_out: AtomicU64,
    pub batches: AtomicU64,
    pub batched_windows: AtomicU64,
    pub requests: AtomicU64,
    pub publish_failures: AtomicU64,
    pub streams_active: AtomicU64,
    pub streams_evicted: AtomicU64,
    pub reconnects: AtomicU64,
    /// Durable mode: checkpoints written.
    pub checkpoints: AtomicU64,
    /// Durable mode: restarts from the last checkpoint after an error.
    pub durable_restarts: AtomicU64,
    /// Durable mode: outputs the output stream recognised as already stored
    /// (`Nats-Msg-Id`), i.e. replays after a restart.
    pub duplicates: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    queue_ns: AtomicU64,
    compute_ns: AtomicU64,
    /// Windows per model call.
    pub batch_size: Histogram,
    /// Time a window waited for its batch to start computing.
    pub queue_seconds: Histogram,
    /// Model time per batch.
    pub compute_seconds: Histogram,
    /// Sample published (its `ts`) → translation handed to the client.
    pub end_to_end_seconds: Histogram,
    /// A batch's results computed → every window handed to the client
    /// (waits in batch order included).
    pub publish_seconds: Histogram,
    /// Sample published (its `ts`) → taken off the subscription by ingest:
    /// the network, the server and the client's buffer.
    pub receive_seconds: Histogram,
    /// Durable mode: what each unit (KV key) is doing now.
    pub units: std::sync::Mutex<std::collections::BTreeMap<String, UnitState>>,
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
    /// Ready: the unit is doing its job (processing, or standing by).
    pub fn ready(self) -> bool {
        matches!(self, UnitState::Owning | UnitState::StandingBy)
    }
}

impl Stats {
    /// Records a durable unit's state (`None`: the unit stopped).
    pub fn unit(&self, key: &str, state: Option<UnitState>) {
        let Ok(mut units) = self.units.lock() else {
            return;
        };
        match state {
            Some(s) => {
                units.insert(key.to_string(), s);
            }
            None => {
                units.remove(key);
            }
        }
    }

    pub fn unit_states(&self) -> Vec<(String, UnitState)> {
        match self.units.lock() {
            Ok(u) => u.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            messages_in: AtomicU64::new(0),
            samples_in: AtomicU64::new(0),
            windows_out: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            batched_windows: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            publish_failures: AtomicU64::new(0),
            streams_active: AtomicU64::new(0),
            streams_evicted: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            durable_restarts: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            errors: Default::default(),
            queue_ns: AtomicU64::new(0),
            compute_ns: AtomicU64::new(0),
            batch_size: Histogram::new(SIZES),
            queue_seconds: Histogram::new(SECONDS),
            compute_seconds: Histogram::new(SECONDS),
            end_to_end_seconds: Histogram::new(SECONDS),
            publish_seconds: Histogram::new(SECONDS),
            receive_seconds: Histogram::new(SECONDS),
            units: Default::default(),
        }
    }
}

/// A point-in-time copy of [`Stats`], as served in `$SRV.STATS` `data`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Snapshot {
    pub messages_in: u64,
    pub samples_in: u64,
    pub windows_out: u64,
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
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Durable mode: each unit's state.
    #[serde(default)]
    pub units: std::collections::BTreeMap<String, UnitState>,
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

    /// Records one computed batch: each window's wait in the queue (one
    /// observation per window), its size and its compute time.
    pub fn batch(&self, queue_waits: impl ExactSizeIterator<Item = Duration>, compute: Duration) {
        let windows = queue_waits.len();
        let mut total_queue = Duration::ZERO;
        for q in queue_waits {
            self.queue_seconds.observe(q.as_secs_f64());
            total_queue += q;
        }
        self.batch_size.observe(windows as f64);
        self.compute_seconds.observe(compute.as_secs_f64());
        self.batches.fetch_add(1, Relaxed);
        self.batched_windows.fetch_add(windows as u64, Relaxed);
        self.queue_ns
            .fetch_add(total_queue.as_nanos() as u64, Relaxed);
        self.compute_ns
            .fetch_add(compute.as_nanos() as u64, Relaxed);
    }

    /// Sample publication (`ts`) to ingest taking the message, when known.
    pub fn observe_receive(&self, ts: Option<i64>) {
        if let Some(ts) = ts {
            let secs = (crate::wire::now_ns() - ts) as f64 / 1e9;
            self.receive_seconds.observe(secs);
        }
    }

    /// Sample publication (`ts`, ns since the epoch) to now, when known.
    pub fn observe_end_to_end(&self, ts: Option<i64>) {
        if let Some(ts) = ts {
            let secs = (crate::wire::now_ns() - ts) as f64 / 1e9;
            self.end_to_end_seconds.observe(secs);
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let batches = self.batches.load(Relaxed);
        let windows = self.batched_windows.load(Relaxed);
        let per = |total: u64, n: u64| if n == 0 { 0.0 } else { total as f64 / n as f64 };
        Snapshot {
            messages_in: self.messages_in.load(Relaxed),
            samples_in: self.samples_in.load(Relaxed),
            windows_out: self.windows_out.load(Relaxed),
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
            errors: ErrorKind::ALL
                .iter()
                .map(|k| (k.as_str().to_string(), self.errors_of(*k)))
                .collect(),
            units: self.unit_states().into_iter().collect(),
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
    /// Shadow translations published.
    pub shadow_published: u64,
    /// Batches the observer could not take in time (not compared).
    pub dropped: u64,
    /// Windows whose truth never arrived (or arrived too late to be kept).
    pub unmatched: u64,
}

/// One route's own counts (the process-wide ones sum every route).
#[derive(Debug, Default)]
pub struct RouteCounters {
    pub samples_in: AtomicU64,
    pub windows_out: AtomicU64,
}

/// What `/metrics` and `$SRV.STATS` say about one route.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RouteInfo {
    pub pair: String,
    /// Samples accepted into this route's windows.
    pub samples_in: u64,
    /// This route's translations published (stored, in durable mode).
    pub windows_out: u64,
    /// Id of the live model.
    pub model: String,
    /// Id of the shadow model, when there is one.
    pub shadow: Option<String>,
    pub compare: CompareSnapshot,
}

impl Stats {
    /// The counters in Prometheus' text exposition format, with each
    /// route's models and comparisons.
    pub fn render_prometheus(&self, routes: &[RouteInfo]) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "pipeline_messages_in_total",
            "Sample messages received.",
            self.messages_in.load(Relaxed),
        );
        counter(
            &mut out,
            "pipeline_samples_in_total",
            "Samples accepted into windows.",
            self.samples_in.load(Relaxed),
        );
        counter(
            &mut out,
            "pipeline_windows_out_total",
            "Translations published.",
            self.windows_out.load(Relaxed),
        );
        counter(
            &mut out,
            "pipeline_batches_total",
            "Model calls.",
            self.batches.load(Relaxed),
        );
        counter(
            &mut out,
            "pipeline_requests_total",
            "pipeline.translate requests.",
            self.requests.load(Relaxed),
        );
        counter(
            &mut out,
            "pipeline_publish_failures_total",
            "Translations or events that could not be published.",
            self.publish_failures.load(Relaxed),
        );
        counter(
            &mut out,
            "pipeline_reconnects_total",
            "Reconnections to NATS.",
            self.reconnects.load(Relaxed),
        );
        counter(
            &mut out,
            "pipeline_streams_evicted_total",
            "Idle streams forgotten.",
            self.streams_evicted.load(Relaxed),
        );
        counter(
            &mut out,
            "pipeline_checkpoints_total",
            "Durable mode: window checkpoints written.",
            self.checkpoints.load(Relaxed),
        );
        counter(
            &mut out,
            "pipeline_durable_restarts_total",
            "Durable mode: resumptions from the last checkpoint after an error.",
            self.durable_restarts.load(Relaxed),
        );
        counter(
            &mut out,
            "pipeline_duplicates_total",
            "Durable mode: replayed outputs the output stream already held.",
            self.duplicates.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP pipeline_errors_total Error events by kind.\n# TYPE pipeline_errors_total counter"
        );
        for k in ErrorKind::ALL {
            let _ = writeln!(
                out,
                "pipeline_errors_total{{kind=\"{}\"}} {}",
                k.as_str(),
                self.errors_of(k)
            );
        }
        let _ = writeln!(
            out,
            "# HELP pipeline_streams_active Streams with a live window.\n# TYPE pipeline_streams_active gauge\npipeline_streams_active {}",
            self.streams_active.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP pipeline_build_info The running build.\n# TYPE pipeline_build_info gauge\n\
             pipeline_build_info{{version=\"{}\",kernel=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            crate::fast::kernel_name()
        );
        let _ = writeln!(
            out,
            "# HELP pipeline_model_info The model each route serves.\n# TYPE pipeline_model_info gauge"
        );
        for r in routes {
            let _ = writeln!(
                out,
                "pipeline_model_info{{pair=\"{}\",model=\"{}\",role=\"live\"}} 1",
                r.pair, r.model
            );
            if let Some(id) = &r.shadow {
                let _ = writeln!(
                    out,
                    "pipeline_model_info{{pair=\"{}\",model=\"{id}\",role=\"shadow\"}} 1",
                    r.pair
                );
            }
        }
        render_comparisons(routes, &mut out);
        let units = self.unit_states();
        if !units.is_empty() {
            let _ = writeln!(
                out,
                "# HELP pipeline_durable_unit Durable units by state (1 for the state each is in).\n# TYPE pipeline_durable_unit gauge"
            );
            for (key, state) in units {
                for s in [
                    UnitState::Starting,
                    UnitState::Owning,
                    UnitState::StandingBy,
                    UnitState::Retrying,
                ] {
                    let name = serde_json::to_value(s).unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "pipeline_durable_unit{{unit=\"{key}\",state={name}}} {}",
                        u8::from(s == state)
                    );
                }
            }
        }
        self.batch_size
            .render("pipeline_batch_size", "Windows per model call.", &mut out);
        self.queue_seconds.render(
            "pipeline_queue_seconds",
            "Wait of each window in the queue, from its last sample's arrival to its batch's compute start.",
            &mut out,
        );
        self.compute_seconds.render(
            "pipeline_compute_seconds",
            "Model time per batch.",
            &mut out,
        );
        self.end_to_end_seconds.render(
            "pipeline_end_to_end_seconds",
            "Sample publication (ts) to translation publication.",
            &mut out,
        );
        self.publish_seconds.render(
            "pipeline_publish_seconds",
            "A batch's results computed to every window handed to the NATS client.",
            &mut out,
        );
        self.receive_seconds.render(
            "pipeline_receive_seconds",
            "Sample publication (ts) to the message taken off the subscription (network, server, client buffer).",
            &mut out,
        );
        out
    }
}

/// Per-route comparisons: running MSE as gauges (they restart when a
/// route's models change), counts as counters.
fn render_comparisons(routes: &[RouteInfo], out: &mut String) {
    use std::fmt::Write as _;
    type Pick = fn(&CompareSnapshot) -> &Running;
    let gauges: [(&str, &str, &str, Pick); 3] = [
        (
            "pipeline_shadow_mse",
            "Running MSE of the shadow model against the live one (since the models last changed).",
            "",
            |c| &c.shadow_vs_live,
        ),
        (
            "pipeline_truth_mse",
            "Running MSE against the truth channel, by model role (since the models last changed).",
            "live",
            |c| &c.live_vs_truth,
        ),
        ("pipeline_truth_mse", "", "shadow", |c| &c.shadow_vs_truth),
    ];
    for (name, help, role, pick) in gauges {
        if !help.is_empty() {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        }
        for r in routes {
            let Some(mse) = pick(&r.compare).mse() else {
                continue;
            };
            let role = if role.is_empty() {
                String::new()
            } else {
                format!(",role=\"{role}\"")
            };
            let _ = writeln!(out, "{name}{{pair=\"{}\"{role}}} {mse:e}", r.pair);
        }
    }
    type Count = fn(&RouteInfo) -> u64;
    let counters: [(&str, &str, Count); 5] = [
        (
            "pipeline_route_samples_in_total",
            "Samples accepted into windows, by route.",
            |r| r.samples_in,
        ),
        (
            "pipeline_route_windows_out_total",
            "Translations published, by route.",
            |r| r.windows_out,
        ),
        (
            "pipeline_shadow_windows_total",
            "Shadow translations published.",
            |r| r.compare.shadow_published,
        ),
        (
            "pipeline_observer_dropped_total",
            "Batches the observer could not take in time (not compared, never lost for the live output).",
            |r| r.compare.dropped,
        ),
        (
            "pipeline_truth_unmatched_total",
            "Windows whose truth did not arrive (or arrived too late) to be compared.",
            |r| r.compare.unmatched,
        ),
    ];
    for (name, help, get) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for r in routes {
            let _ = writeln!(out, "{name}{{pair=\"{}\"}} {}", r.pair, get(r));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_in_the_text_form() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 2.0, 3.0, 100.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render("x", "help", &mut out);
        assert!(out.contains("x_bucket{le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"10\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(
            out.contains("x_sum 105.5\n") && out.contains("x_count 4\n"),
            "{out}"
        );
    }

    /// The queue histogram counts windows (each its own wait), the compute
    /// and batch-size histograms count batches.
    #[test]
    fn queue_waits_are_observed_per_window() {
        let s = Stats::default();
        let waits = [1e-4, 2e-4, 3e-3].map(Duration::from_secs_f64);
        s.batch(waits.into_iter(), Duration::from_micros(50));
        let text = s.render_prometheus(&[]);
        assert!(text.contains("pipeline_queue_seconds_count 3\n"), "{text}");
        assert!(
            text.contains("pipeline_compute_seconds_count 1\n"),
            "{text}"
        );
        assert!(text.contains("pipeline_batch_size_count 1\n"), "{text}");
        assert!((s.snapshot().mean_queue_us - 1100.0).abs() < 1e-6);
    }

    #[test]
    fn prometheus_text_has_every_error_kind() {
        let s = Stats::default();
        s.error(ErrorKind::Gap);
        let mut route = RouteInfo {
            pair: "sin-cos".into(),
            model: "abc".into(),
            shadow: Some("def".into()),
            ..Default::default()
        };
        route.compare.shadow_vs_live.add(&[1.0, 2.0], &[1.0, 0.0]);
        route.compare.shadow_published = 7;
        let text = s.render_prometheus(&[route]);
        assert!(text.contains("pipeline_errors_total{kind=\"gap\"} 1"));
        assert!(text.contains("pipeline_errors_total{kind=\"malformed\"} 0"));
        assert!(
            text.contains("pipeline_model_info{pair=\"sin-cos\",model=\"abc\",role=\"live\"} 1")
        );
        assert!(
            text.contains("pipeline_model_info{pair=\"sin-cos\",model=\"def\",role=\"shadow\"} 1")
        );
        assert!(
            text.contains("pipeline_shadow_mse{pair=\"sin-cos\"} 2e0\n"),
            "{text}"
        );
        assert!(text.contains("pipeline_shadow_windows_total{pair=\"sin-cos\"} 7\n"));
        assert!(
            !text.contains("pipeline_truth_mse{"),
            "no truth compared yet"
        );
    }
}
