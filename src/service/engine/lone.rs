//! A lone window of an idle route, computed on the batcher's own task.
//!
//! Handing a window to a compute thread wakes that thread: on the 2-core
//! VMs this runs on, about 30 µs (the queue stage) before the model starts,
//! about as long as the model call itself. When the route has been quiet
//! and a thread is free, the batcher runs the model itself. Ten pairs of
//! alternating runs of `benches/idle_latency.py` (one stream at 100/s, an
//! Intel Xeon): the queue stage 32–45 µs → 6–9 µs, the client's p50 lower
//! in 9 of 10 pairs, by 0.015–0.10 ms (BENCHMARKS.md). Under load nothing
//! changes: a window that comes within [`IDLE_GAP`] of the route's last, a
//! batch of more than one, or one that had to wait for a thread goes to
//! the compute threads as before.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Job;
use super::compute::{Done, run};
use crate::fast::Scratch;
use crate::format::LoadedModel;
use crate::stats::{RouteCounters, Stats};

/// A route is idle when its previous window came at least this long
/// before: at 1,000 windows a second and more, windows go to the threads.
pub(super) const IDLE_GAP: Duration = Duration::from_millis(1);

/// The longest a model call may hold the batcher's task (an async worker):
/// a model whose lone windows took longer [`SLOW_IN_A_ROW`] times in a row
/// computes on the threads from then on. The shipped models take 30–150 µs
/// idle, by CPU.
const MAX_ON_TASK: Duration = Duration::from_micros(250);
/// A slow model is slow every time; a fast one is, now and then, when the
/// worker is preempted (on a 2-core VM, one call in a few dozen went over
/// the limit; one such call used to turn this off for good).
const SLOW_IN_A_ROW: u32 = 3;

/// The batcher's own model buffers, and what tells a lone window of an
/// idle route.
pub(super) struct Lone {
    stats: Arc<Stats>,
    input: Vec<f32>,
    scratch: Scratch,
    /// When the route's latest window so far was queued.
    last: Option<Instant>,
    /// Lone windows in a row that took over [`MAX_ON_TASK`].
    over: u32,
    /// A model found too slow for the task (its id).
    slow: Option<String>,
}

impl Lone {
    pub fn new(stats: Arc<Stats>) -> Self {
        Lone {
            stats,
            input: Vec::new(),
            scratch: Scratch::default(),
            last: None,
            over: 0,
            slow: None,
        }
    }

    /// Whether the batcher computes `batch` itself: one window, the route
    /// idle before it, a compute thread free without waiting, no shadow to
    /// run beside it, a model fast enough. Called for every batch (it
    /// notes when the route's latest window came).
    pub fn takes(
        &mut self,
        batch: &[Job],
        free_at_once: bool,
        observed: bool,
        model: &LoadedModel,
    ) -> bool {
        let (Some(first), Some(latest)) = (batch.first(), batch.last()) else {
            return false;
        };
        let idle = self
            .last
            .is_none_or(|l| first.enqueued.saturating_duration_since(l) >= IDLE_GAP);
        self.last = Some(latest.enqueued);
        idle && batch.len() == 1
            && free_at_once
            && !observed
            && self.slow.as_deref() != Some(model.id.as_str())
    }

    /// Computes the batch here (see [`run`]).
    pub fn run(
        &mut self,
        model: Arc<LoadedModel>,
        counters: &RouteCounters,
        jobs: Vec<Job>,
        out: Vec<f32>,
    ) -> Done {
        let done = run(
            model,
            counters,
            jobs,
            out,
            &mut self.input,
            &mut self.scratch,
            &self.stats,
        );
        self.timed(done.computed.duration_since(done.started), &done.model.id);
        done
    }

    /// Notes that a lone window of model `id` took `took` here.
    fn timed(&mut self, took: Duration, id: &str) {
        self.over = if took > MAX_ON_TASK { self.over + 1 } else { 0 };
        if self.over >= SLOW_IN_A_ROW && self.slow.as_deref() != Some(id) {
            tracing::debug!(
                model = %id, ?took,
                "{SLOW_IN_A_ROW} lone windows in a row took longer than {MAX_ON_TASK:?}: this \
                 model's go to the compute threads"
            );
            self.slow = Some(id.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a model slow in a row goes back to the threads: a fast one
    /// preempted now and then stays.
    #[test]
    fn a_model_is_slow_after_three_slow_windows_in_a_row() {
        let mut lone = Lone::new(Arc::default());
        let (slow, fast) = (MAX_ON_TASK * 2, MAX_ON_TASK / 4);
        for took in [slow, slow, fast, slow, slow, fast] {
            lone.timed(took, "a");
        }
        assert_eq!(lone.slow, None, "never three in a row");
        for _ in 0..SLOW_IN_A_ROW {
            lone.timed(slow, "a");
        }
        assert_eq!(lone.slow.as_deref(), Some("a"));
    }
}
