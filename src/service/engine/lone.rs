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

use std::collections::HashMap;
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
/// longer, computes on the threads for [`SLOW_FOR`]. The shipped models
/// take 30–150 µs idle, by CPU. A call is timed by its thread's CPU time
/// where the OS tells it ([`thread_cpu_time`]), so that a worker preempted
/// mid-call (another process busy for a moment) does not make the model
/// look slow: before, one call preempted for 5 ms sent every lone window
/// through the threads until the service restarted.
const MAX_ON_TASK: Duration = Duration::from_micros(250);
/// A slow model is slow every time; a fast one may be, now and then (where
/// only the wall clock times a call, when the worker is preempted: on a
/// 2-core VM, one call in a few dozen went over the limit).
const SLOW_IN_A_ROW: u32 = 3;
/// How long a model found slow computes on the threads before its lone
/// windows are tried on a task again: a model slow by nature costs a few
/// slow calls a minute; one that was only unlucky is back within a minute.
const SLOW_FOR: Duration = Duration::from_secs(60);

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
    /// Models found too slow for a task (their ids), and when.
    slow: HashMap<String, Instant>,
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

    /// The slot, unless another call is on a task now or `model` was found
    /// too slow for one in the last [`SLOW_FOR`].
    pub fn slot(&self, model: &LoadedModel) -> Option<Slot<'_>> {
        let mut state = self.state.try_lock().ok()?;
        state
            .fast(&model.id, Instant::now())
            .then_some(Slot { state, on: self })
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
        let cpu = thread_cpu_time();
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
        let took = match (cpu, thread_cpu_time()) {
            (Some(before), Some(after)) => after.saturating_sub(before),
            _ => done.computed.duration_since(done.started),
        };
        // A failed call (a panic, caught, and its backtrace) tells nothing
        // of the model's speed.
        if done.outputs.is_ok() {
            s.timed(took, &done.model.id, done.computed);
        }
        done
    }
}

impl State {
    /// Whether model `id` may compute on a task at `now`: not found slow,
    /// or found slow [`SLOW_FOR`] ago or longer (then it starts afresh).
    fn fast(&mut self, id: &str, now: Instant) -> bool {
        match self.slow.get(id) {
            None => true,
            Some(&since) if now.saturating_duration_since(since) < SLOW_FOR => false,
            Some(_) => {
                self.slow.remove(id);
                if self.latest == id {
                    self.over = 0;
                }
                true
            }
        }
    }

    /// Notes that a lone window of model `id` took `took` on a task,
    /// ending at `now`.
    fn timed(&mut self, took: Duration, id: &str, now: Instant) {
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
            self.slow.insert(id.to_string(), now);
        }
    }
}

/// The CPU time the calling thread has used, where the OS tells it
/// (Linux: `CLOCK_THREAD_CPUTIME_ID`, a system call: 0.24 µs on the Intel
/// Xeon VM these notes measure on, two per lone window);
/// `None` elsewhere, or if the call fails.
#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Option<Duration> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec for the call's duration;
    // the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(t.tv_sec).ok()?,
        u32::try_from(t.tv_nsec).ok()?,
    ))
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model slow in a row, or very slow once, goes back to the threads:
    /// a fast one slow now and then stays; slow calls of another model do
    /// not count against it.
    #[test]
    fn a_model_is_slow_after_three_slow_windows_in_a_row_or_one_very_slow() {
        let mut s = State::default();
        let now = Instant::now();
        let (slow, fast) = (MAX_ON_TASK * 2, MAX_ON_TASK / 4);
        for took in [slow, slow, fast, slow, slow, fast] {
            s.timed(took, "a", now);
        }
        s.timed(slow, "a", now);
        s.timed(slow, "a", now);
        s.timed(slow, "b", now);
        assert!(s.slow.is_empty(), "never three in a row: {:?}", s.slow);
        s.timed(slow, "b", now);
        s.timed(slow, "b", now);
        assert_eq!(s.slow.keys().collect::<Vec<_>>(), ["b"]);
        assert!(!s.fast("b", now) && s.fast("a", now));
        s.timed(MAX_ON_TASK * 5, "c", now);
        assert!(!s.fast("c", now), "one call 4x over the limit");
    }

    /// A slow model is tried on a task again [`SLOW_FOR`] after it was
    /// found slow, afresh: one slow call then is not a third in a row.
    #[test]
    fn a_slow_model_is_tried_again_after_a_while() {
        let mut s = State::default();
        let found = Instant::now();
        let slow = MAX_ON_TASK * 2;
        for _ in 0..SLOW_IN_A_ROW {
            s.timed(slow, "a", found);
        }
        assert!(!s.fast("a", found + SLOW_FOR / 2), "still slow");
        let later = found + SLOW_FOR;
        assert!(s.fast("a", later), "tried again");
        s.timed(slow, "a", later);
        assert!(
            s.fast("a", later),
            "one slow call after the retry is not three in a row"
        );
        s.timed(slow, "a", later);
        s.timed(slow, "a", later);
        assert!(!s.fast("a", later), "slow again, three in a row");
    }

    /// The thread's CPU clock runs while it computes and stands still
    /// while it sleeps: a worker preempted mid-call, which is asleep as
    /// far as its CPU time goes, does not make a model look slow.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_thread_cpu_clock_counts_work_not_sleep() {
        let start = thread_cpu_time().expect("a thread CPU clock on Linux");
        std::thread::sleep(Duration::from_millis(50));
        let slept = thread_cpu_time().expect("clock").saturating_sub(start);
        assert!(
            slept < Duration::from_millis(10),
            "asleep 50 ms, CPU {slept:?}"
        );
        // Busy until the clock has moved 5 ms (bounded, on a loaded host).
        let (wall, before) = (std::time::Instant::now(), thread_cpu_time().expect("clock"));
        let mut x = 0u64;
        while thread_cpu_time().expect("clock").saturating_sub(before) < Duration::from_millis(5) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            assert!(
                wall.elapsed() < Duration::from_secs(30),
                "the CPU clock stood still"
            );
        }
    }
}
