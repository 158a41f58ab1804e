//! One route's counters and latency histograms, and what `/metrics` and
//! `$SRV.STATS` say about the route.

use std::sync::atomic::AtomicU64;

use serde::Serialize;

use super::{CompareSnapshot, Histogram, SECONDS, SIZES};

/// One route's own counts (the process-wide ones sum every route) and its
/// latency histograms (`/metrics` labels them with the route's pair).
#[derive(Debug)]
pub struct RouteCounters {
    pub samples_in: AtomicU64,
    pub windows_out: AtomicU64,
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
}

impl Default for RouteCounters {
    fn default() -> Self {
        Self {
            samples_in: AtomicU64::new(0),
            windows_out: AtomicU64::new(0),
            batch_size: Histogram::new(SIZES),
            queue_seconds: Histogram::new(SECONDS),
            compute_seconds: Histogram::new(SECONDS),
            end_to_end_seconds: Histogram::new(SECONDS),
            publish_seconds: Histogram::new(SECONDS),
            receive_seconds: Histogram::new(SECONDS),
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

    /// Sample publication (`ts`) to ingest taking the message, when known.
    pub fn observe_receive(&self, ts: Option<i64>) {
        if let Some(ts) = ts {
            self.receive_seconds.observe(seconds_since(ts));
        }
    }

    /// Sample publication (`ts`, ns since the epoch) to now, when known.
    pub fn observe_end_to_end(&self, ts: Option<i64>) {
        if let Some(ts) = ts {
            self.end_to_end_seconds.observe(seconds_since(ts));
        }
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
    /// Id of the live model.
    pub model: String,
    /// Id of the shadow model, when there is one.
    pub shadow: Option<String>,
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
