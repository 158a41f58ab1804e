//! A lone window of an idle route, computed on the batcher's own task.
//!
//! Handing a window to a compute thread wakes that thread: on the 2-core
//! VMs this runs on, about 30 µs (the queue stage) before the model starts,
//! about as long as the model call itself. When a route has been quiet
//! and a thread is free, the batcher runs the model itself. Ten pairs of
//! alternating runs of `benches/idle_latency.py` (one stream at 100/s, an
//! Intel Xeon): the queue stage 32–45 µs → 6–9 µs, the client's p50 lower
//! in 9 of 10 pairs, by 0.015–0.10 ms (BENCHMARKS.md).
//!
//! A model call holds an async worker (there are two) while it runs, so
//! only one runs on a task at a time in the whole service ([`OnTask`]),
//! only a model fast enough does, and only for a window that would
//! otherwise wake a thread: one window, at least [`IDLE_GAP`] after its
//! route's previous one, with a compute thread free at once and no shadow
//! model. Every other batch goes to the compute threads as before. On core
//! NATS the batcher then publishes the translation itself too, when no
//! batch waits to be published ahead of it ([`super::publisher`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::Job;
use super::compute::{Done, run};
use crate::fast::Scratch;
use crate::format::LoadedModel;
use crate::stats::{Heartbeat, RouteCounters, Stats};

/// A route is quiet when its previous window came at least this long
/// before; windows closer together go to the threads.
pub(super) const IDLE_GAP: Duration = Duration::from_millis(1);

/// The longest a model call should hold an async worker: a model whose
/// lone windows take longer [`SLOW_IN_A_ROW`] times in a row, or once 4×
/// longer, computes on the threads from then on. The shipped models take
/// 30–150 µs idle, by CPU.
const MAX_ON_TASK: Duration = Duration::from_micros(250);
/// A slow model is slow every time; a fast one is, now and then, when the
/// worker is preempted (on a 2-core VM, one call in a few dozen went over
/// the limit).
const SLOW_IN_A_ROW: u32 = 3;

/// When a route's windows came: tells a lone window of a quiet route.
#[derive(Default)]
pub(super) struct Quiet {
    /// When the route's latest window so far was queued.
    last: Option<Instant>,
}

impl Quiet {
    /// Whether `batch` is one window that came at least [`IDLE_GAP`] after
    /// the route's previous one. Called for every batch (it notes when the
    /// latest window came).
    pub fn lone(&mut self, batch: &[Job]) -> bool {
        let (Some(first), Some(latest)) = (batch.first(), batch.last()) else {
            return false;
        };
        let quiet = self
            .last
            .is_none_or(|l| first.enqueued.saturating_duration_since(l) >= IDLE_GAP);
        self.last = Some(latest.enqueued);
        quiet && batch.len() == 1
    }
}

/// The one model call the service makes on an async task at a time,
/// shared by every route (through [`super::Compute`]): its buffers, what
/// it has learnt of the models' speed, and a heartbeat for `/healthz`.
pub(in crate::service) struct OnTask {
    state: Mutex<State>,
    stats: Arc<Stats>,
    beat: Arc<Heartbeat>,
}

#[derive(Default)]
struct State {
    input: Vec<f32>,
    scratch: Scratch,
    /// The model of the latest call, and how many of its calls in a row
    /// took over [`MAX_ON_TASK`].
    latest: String,
    over: u32,
    /// Models found too slow for a task (their ids).
    slow: HashSet<String>,
}

/// The right to run one batch on this task (see [`OnTask::slot`]).
pub(super) struct Slot<'a> {
    state: MutexGuard<'a, State>,
    on: &'a OnTask,
}

impl OnTask {
    pub fn new(stats: Arc<Stats>) -> Self {
        let beat = stats.heartbeat("the model call on an async task".into());
        OnTask {
            state: Mutex::default(),
            stats,
            beat,
        }
    }

    /// The slot, unless another call is on a task now or `model` is too
    /// slow for one.
    pub fn slot(&self, model: &LoadedModel) -> Option<Slot<'_>> {
        let state = self.state.try_lock().ok()?;
        (!state.slow.contains(&model.id)).then_some(Slot { state, on: self })
    }
}

impl Slot<'_> {
    /// Computes the batch here (see [`run`]).
    pub fn run(
        mut self,
        model: Arc<LoadedModel>,
        counters: &RouteCounters,
        jobs: Vec<Job>,
        out: Vec<f32>,
    ) -> Done {
        let s = &mut *self.state;
        self.on.beat.busy();
        let done = run(
            model,
            counters,
            jobs,
            out,
            &mut s.input,
            &mut s.scratch,
            &self.on.stats,
        );
        self.on.beat.idle();
        s.timed(done.computed.duration_since(done.started), &done.model.id);
        done
    }
}

impl State {
    /// Notes that a lone window of model `id` took `took` on a task.
    fn timed(&mut self, took: Duration, id: &str) {
        if self.latest != id {
            id.clone_into(&mut self.latest);
            self.over = 0;
        }
        self.over = if took > MAX_ON_TASK { self.over + 1 } else { 0 };
        if self.over >= SLOW_IN_A_ROW || took > 4 * MAX_ON_TASK {
            tracing::debug!(
                model = %id, ?took,
                "lone windows take longer than {MAX_ON_TASK:?}: this model's go to the compute threads"
            );
            self.slow.insert(id.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model slow in a row, or very slow once, goes back to the threads:
    /// a fast one preempted now and then stays; slow calls of another
    /// model do not count against it.
    #[test]
    fn a_model_is_slow_after_three_slow_windows_in_a_row_or_one_very_slow() {
        let mut s = State::default();
        let (slow, fast) = (MAX_ON_TASK * 2, MAX_ON_TASK / 4);
        for took in [slow, slow, fast, slow, slow, fast] {
            s.timed(took, "a");
        }
        s.timed(slow, "a");
        s.timed(slow, "a");
        s.timed(slow, "b");
        assert!(s.slow.is_empty(), "never three in a row: {:?}", s.slow);
        s.timed(slow, "b");
        s.timed(slow, "b");
        assert_eq!(s.slow, HashSet::from(["b".to_string()]));
        s.timed(MAX_ON_TASK * 5, "c");
        assert!(s.slow.contains("c"), "one call 4x over the limit");
        assert!(!s.slow.contains("a"));
    }
}
