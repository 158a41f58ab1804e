//! Service counters: lock-free, shared by the ingest, batcher, compute and
//! publisher stages, read by `$SRV.STATS` and the logs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

use crate::wire::ErrorKind;

#[derive(Debug, Default)]
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
    errors: [AtomicU64; ErrorKind::ALL.len()],
    queue_ns: AtomicU64,
    compute_ns: AtomicU64,
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
    pub errors: std::collections::BTreeMap<String, u64>,
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

    /// Records one computed batch: its size, the summed queue wait of its
    /// windows, and its compute time.
    pub fn batch(&self, windows: usize, total_queue: Duration, compute: Duration) {
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
            windows_out: self.windows_out.load(Relaxed),
            batches,
            mean_batch_size: per(windows, batches),
            requests: self.requests.load(Relaxed),
            publish_failures: self.publish_failures.load(Relaxed),
            streams_active: self.streams_active.load(Relaxed),
            streams_evicted: self.streams_evicted.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            errors: ErrorKind::ALL
                .iter()
                .map(|k| (k.as_str().to_string(), self.errors_of(*k)))
                .collect(),
            mean_queue_us: per(self.queue_ns.load(Relaxed), windows) / 1e3,
            mean_compute_us: per(self.compute_ns.load(Relaxed), batches) / 1e3,
        }
    }
}
