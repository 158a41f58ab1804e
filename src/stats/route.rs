//! One route's counters and latency histograms, and what `/metrics` and
//! `$SRV.STATS` say about the route.

use std::sync::atomic::AtomicU64;

use serde::Serialize;

use super::{CompareSnapshot, Histogram, SECONDS, SIZES};
use crate::wire::ErrorKind;

/// One route's own counts (the process-wide ones sum every route) and its
/// latency histograms (`/metrics` labels them with the route's pair).
#[derive(Debug)]
pub struct RouteCounters {
    pub samples_in: AtomicU64,
    pub windows_out: AtomicU64,
    /// Core mode: windows shed under overload ([`super::Stats::windows_shed`]).
    pub windows_shed: AtomicU64,
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
    /// Messages whose `ts` is no plausible time (see [`latency`]): kept out
    /// of the latency histograms.
    pub timestamps_ignored: AtomicU64,
    /// Windows whose mean lies far outside the live model's training
    /// range (see [`OUT_OF_RANGE_SCALES`]).
    pub input_out_of_range: AtomicU64,
    /// The streams warned about, per live model.
    pub out_of_range_warned: Said,
    /// Windows of streams stamped at another step than the model's
    /// training recording (see [`crate::window::RATE_BAND`]).
    pub input_off_rate: AtomicU64,
    /// The streams warned about, per live model.
    pub off_rate_warned: Said,
    /// Truth messages refused (an error event each): not scored against.
    pub truth_refused: AtomicU64,
    /// Whether any truth message was taken (see `observe::truth`).
    pub truth_taken: std::sync::atomic::AtomicBool,
    /// Translations handed to the output by each live model, by id, in the
    /// order they served (a swap shows in Prometheus, not only in the
    /// messages' `model`).
    pub model_windows: std::sync::Mutex<Vec<(String, u64)>>,
    /// Changes of streams read on a clock that came over ten times as
    /// often as the model's training input changed, several per tick.
    pub input_too_fast: AtomicU64,
    /// Streams whose changes come far faster than the model's training
    /// input changed, said so (see `ingest::said::sped_up`).
    pub sped_up_warned: Said,
    /// Windows of streams without `ts` on a route with a time rule: their
    /// gaps in time and rate go unchecked.
    pub input_unstamped: AtomicU64,
    /// Whether that was said (once per route).
    pub unstamped_warned: std::sync::atomic::AtomicBool,
    /// Error events of this route's messages, by [`ErrorKind::index`].
    pub errors: [AtomicU64; ErrorKind::ALL.len()],
}

/// How many of the model's input scales (its training standard deviation)
/// a window's mean may lie from its input center before the window counts
/// as out of range. A window's mean varies less than a sample does, so a
/// signal like the training data is hardly ever this far out; another
/// unit (°F for °C, mV for V), another channel, or a state the model
/// never saw is.
pub const OUT_OF_RANGE_SCALES: f64 = 5.0;

impl Default for RouteCounters {
    fn default() -> Self {
        Self {
            samples_in: AtomicU64::new(0),
            windows_out: AtomicU64::new(0),
            windows_shed: AtomicU64::new(0),
            batch_size: Histogram::new(SIZES),
            queue_seconds: Histogram::new(SECONDS),
            compute_seconds: Histogram::new(SECONDS),
            end_to_end_seconds: Histogram::new(SECONDS),
            publish_seconds: Histogram::new(SECONDS),
            receive_seconds: Histogram::new(SECONDS),
            timestamps_ignored: AtomicU64::new(0),
            input_out_of_range: AtomicU64::new(0),
            out_of_range_warned: Said::default(),
            input_off_rate: AtomicU64::new(0),
            truth_refused: AtomicU64::new(0),
            truth_taken: Default::default(),
            model_windows: Default::default(),
            off_rate_warned: Said::default(),
            input_too_fast: AtomicU64::new(0),
            sped_up_warned: Said::default(),
            input_unstamped: AtomicU64::new(0),
            unstamped_warned: std::sync::atomic::AtomicBool::new(false),
            errors: Default::default(),
        }
    }
}

/// Which streams a warning named, for the live model: each of the first
/// [`Said::STREAMS`] is named once (an operator sees which streams are
/// wrong, not only that one is), the rest only counted; a model put in
/// later is warned about afresh.
#[derive(Debug, Default)]
pub struct Said(std::sync::Mutex<(String, Vec<String>)>);

impl Said {
    /// Streams named per model.
    pub const STREAMS: usize = 10;

    /// Whether to say it of `stream` under `model`: `Some(n)` for the n-th
    /// stream named (1-based), `None` when it was, or enough were.
    pub fn first_time(&self, model: &str, stream: &str) -> Option<usize> {
        let mut said = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if said.0 != model {
            *said = (model.to_string(), Vec::new());
        }
        if said.1.len() >= Self::STREAMS || said.1.iter().any(|s| s == stream) {
            return None;
        }
        said.1.push(stream.to_string());
        Some(said.1.len())
    }

    /// What a warning ends with: named once per stream, and where the
    /// naming stops.
    pub fn how(n: usize) -> String {
        match n {
            Self::STREAMS => format!(
                "said of the first {} streams per model; more are only counted",
                Self::STREAMS
            ),
            _ => "said once per stream and model".into(),
        }
    }
}

/// A histogram's sum, count and per-bucket counts ([`Histogram::read`]).
pub type Buckets = (f64, u64, Vec<(f64, u64)>);

/// The per-route histograms in `/metrics`: name (without the unit),
/// whether it is in seconds, help.
pub const ROUTE_HISTOGRAMS: [(&str, bool, &str); 6] = [
    ("pipeline_batch_size", false, "Windows per model call."),
    (
        "pipeline_queue",
        true,
        "Wait of each window in the queue, from its last sample's arrival to its batch's compute start.",
    ),
    ("pipeline_compute", true, "Model time per batch."),
    (
        "pipeline_end_to_end",
        true,
        "Sample publication (ts) to translation published (core mode) or stored, its acknowledgement received (durable mode).",
    ),
    (
        "pipeline_publish",
        true,
        "A batch's results computed to every window handed to the NATS client.",
    ),
    (
        "pipeline_receive",
        true,
        "Sample publication (ts) to the message taken off the subscription (network, server, client buffer).",
    ),
];

impl RouteCounters {
    /// The histograms, in [`ROUTE_HISTOGRAMS`]' order.
    pub fn histograms(&self) -> [&Histogram; 6] {
        [
            &self.batch_size,
            &self.queue_seconds,
            &self.compute_seconds,
            &self.end_to_end_seconds,
            &self.publish_seconds,
            &self.receive_seconds,
        ]
    }

    /// `n` more translations of live model `id` handed to the output.
    pub fn model_windows_add(&self, id: &str, n: u64) {
        // (A batch none of whose windows went out lists no model.)
        if n == 0 {
            return;
        }
        let mut by = self.model_windows.lock().unwrap_or_else(|p| p.into_inner());
        match by.iter_mut().find(|(m, _)| m == id) {
            Some((_, count)) => *count += n,
            None => by.push((id.to_string(), n)),
        }
    }

    /// Sample publication (`ts`) to ingest taking the message, when known.
    pub fn observe_receive(&self, ts: Option<i64>) {
        match ts.map(latency) {
            Some(Some(s)) => self.receive_seconds.observe(s),
            Some(None) => {
                (self.timestamps_ignored).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            None => {}
        }
    }

    /// Sample publication (`ts`, ns since the epoch) to now, when known.
    pub fn observe_end_to_end(&self, ts: Option<i64>) {
        if let Some(s) = ts.and_then(latency) {
            self.end_to_end_seconds.observe(s);
        }
    }

    /// An error event caused by one of this route's messages (counted in
    /// the process-wide [`super::Stats::error`] too).
    pub fn error(&self, kind: ErrorKind) {
        self.errors[kind.index()].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Error events by kind name, every kind a route's message can cause
    /// listed (a slow consumer is the connection's, of no route).
    pub fn read_errors(&self) -> std::collections::BTreeMap<&'static str, u64> {
        ErrorKind::ALL
            .iter()
            .filter(|k| **k != ErrorKind::SlowConsumer)
            .map(|k| {
                let n = self.errors[k.index()].load(std::sync::atomic::Ordering::Relaxed);
                (k.as_str(), n)
            })
            .collect()
    }

    /// Every histogram read once, in [`ROUTE_HISTOGRAMS`]' order.
    pub fn read_histograms(&self) -> Vec<Buckets> {
        self.histograms().iter().map(|h| h.read()).collect()
    }
}

/// What `/metrics` and `$SRV.STATS` say about one route.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RouteInfo {
    pub pair: String,
    /// Samples accepted into this route's windows.
    pub samples_in: u64,
    /// This route's translations published (stored, in durable mode).
    pub windows_out: u64,
    /// Core mode: this route's windows shed under overload.
    #[serde(default)]
    pub windows_shed: u64,
    /// Messages whose `ts` was kept out of the latency histograms.
    pub timestamps_ignored: u64,
    /// Windows far outside the live model's training range.
    #[serde(default)]
    pub input_out_of_range: u64,
    /// Windows of streams sampled at another rate than the model's.
    #[serde(default)]
    pub input_off_rate: u64,
    /// Truth messages refused: not scored against.
    #[serde(default)]
    pub truth_refused: u64,
    /// Translations handed to the output by each live model (its id).
    #[serde(default)]
    pub model_windows: Vec<(String, u64)>,
    /// Windows of streams without `ts` on a route with a time rule.
    #[serde(default)]
    pub input_unstamped: u64,
    /// Changes of streams far faster than the model's training input.
    #[serde(default)]
    pub input_too_fast: u64,
    /// Error events of this route's messages, by kind.
    #[serde(default)]
    pub errors: std::collections::BTreeMap<&'static str, u64>,
    /// Id of the live model.
    pub model: String,
    /// The channels the live model translates, as its training recording
    /// named them (`P1_Drehzahl → P1_Leistung`), where it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<String>,
    /// The unit of its translations (and of the truth's differences from
    /// them), where its training named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Id of the shadow model, when there is one.
    pub shadow: Option<String>,
    /// Id of the model a rollback would put back, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Where a stream's `ts` jumps by more than this (seconds), its window
    /// restarts (a `time_gap` event); none: the route never splits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gap_s: Option<f64>,
    /// The clock a sensor's changes are read on (seconds between ticks);
    /// none: samples are windowed as they come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resample_s: Option<f64>,
    pub compare: CompareSnapshot,
    /// The route's histograms ([`RouteCounters::read_histograms`]); for
    /// `/metrics` only.
    #[serde(skip)]
    pub histograms: Vec<Buckets>,
}

/// Seconds from `ts` (ns since the epoch, as a publisher wrote it) to now.
/// A publisher's clock or field may be anything: `i64::MIN` must not
/// overflow (it panicked a route's task in a debug build), and a time
/// stamp ahead of this host's clock counts as no time.
pub fn seconds_since(ts: i64) -> f64 {
    crate::wire::now_ns().saturating_sub(ts).max(0) as f64 / 1e9
}

/// Seconds from `ts` to now for the latency histograms, when `ts` is a
/// plausible publication time: at most a minute ahead of this host's clock
/// (skew) and at most 7 days behind (a backlog). A stamp in seconds,
/// milliseconds or microseconds since the epoch (an MQTT bridge's
/// `Date.now()`) is taken as such ([`crate::window::stamp_ns`]; the
/// windows' time rule reads one under 1990 as seconds since a start,
/// [`crate::window::rule_ns`], of which no latency is taken). Anything else is a negative or made-up
/// value, or a recording's own time, and would turn the histograms' sums
/// into centuries (a helper's walkthrough: one sample with `ts: -5` put
/// 350 years into `pipeline_end_to_end_seconds_sum`).
pub fn latency(ts: i64) -> Option<f64> {
    latency_at(ts, crate::wire::now_ns())
}

/// [`latency`] as of `now` (ns since the epoch): `pipeline tail`'s, from
/// when a translation came, and a recording's stamps (`publish --data
/// --time-column`) count as no latency.
pub fn latency_at(ts: i64, now: i64) -> Option<f64> {
    // Whole seconds are no latency at all: their truncation alone adds half
    // a second on average (`int(time.time())`).
    if (1_000_000_000..10_000_000_000).contains(&ts) {
        return None;
    }
    let ts = crate::window::stamp_ns(ts);
    let s = (i128::from(now) - i128::from(ts)) as f64 / 1e9;
    (-60.0..=7.0 * 86_400.0).contains(&s).then_some(s.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::Said;

    /// Each of the first streams is named once per model, the rest not; a
    /// model put in later names them afresh.
    #[test]
    fn a_warning_names_each_of_the_first_streams_once_per_model() {
        let said = Said::default();
        assert_eq!(said.first_time("m1", "a"), Some(1));
        assert_eq!(said.first_time("m1", "a"), None);
        assert_eq!(said.first_time("m1", "b"), Some(2));
        for k in 3..=Said::STREAMS {
            assert_eq!(said.first_time("m1", &format!("s{k}")), Some(k));
        }
        assert_eq!(said.first_time("m1", "one more"), None);
        assert!(Said::how(Said::STREAMS).contains("more are only counted"));
        assert_eq!(said.first_time("m2", "a"), Some(1));
    }

    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    /// A `ts` negative, far behind or far ahead, or in whole seconds (their
    /// truncation half a second on average) is counted and kept out of the
    /// histograms; a plausible one is observed, in ms since the epoch too.
    #[test]
    fn implausible_time_stamps_stay_out_of_the_histograms() {
        let now = crate::wire::now_ns();
        let c = RouteCounters::default();
        let ms_a_day_ago = now / 1_000_000 - 86_400_000;
        for ts in [
            -5,
            i64::MIN,
            i64::MAX,
            ms_a_day_ago - 7 * 86_400_000,
            now / 1_000_000_000,
            now + 3_600_000_000_000,
        ] {
            c.observe_receive(Some(ts));
            c.observe_end_to_end(Some(ts));
        }
        assert_eq!(c.timestamps_ignored.load(Relaxed), 6);
        assert_eq!(c.receive_seconds.read().1, 0);
        // A bridge's `Date.now()`, a day behind (a backlog): its latency.
        c.observe_receive(Some(ms_a_day_ago));
        let (sum, count, _) = c.receive_seconds.read();
        assert_eq!(count, 1);
        assert!((86_400.0..86_401.0).contains(&sum), "{sum}");
        let c = RouteCounters::default();
        assert_eq!(c.receive_seconds.read().1, 0);
        assert_eq!(c.end_to_end_seconds.read().1, 0);
        c.observe_receive(Some(now - 2_000_000));
        c.observe_end_to_end(Some(now + 1_000_000)); // a little skew: no time
        let (sum, count, _) = c.receive_seconds.read();
        assert_eq!(count, 1);
        assert!((0.002..1.0).contains(&sum), "{sum}");
        assert_eq!(
            c.end_to_end_seconds.read(),
            (0.0, 1, c.end_to_end_seconds.read().2)
        );
        assert_eq!(c.timestamps_ignored.load(Relaxed), 0);
    }
}
