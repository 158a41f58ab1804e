//! The compute threads every route shares: whole batches in, the live
//! model (and a shadow, after the live results are on their way) run on
//! each, the results handed back through the batch's slot.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use super::lone::OnTask;
use super::{Job, Observer};
use crate::error::{Error, Result};
use crate::fast::Scratch;
use crate::format::LoadedModel;
use crate::service::observe::Observed;
use crate::stats::{RouteCounters, Stats};

/// A batch for the compute threads.
pub(super) struct ComputeJob {
    pub model: Arc<LoadedModel>,
    /// The route's counters (its histograms record the batch).
    pub counters: Arc<RouteCounters>,
    pub observer: Option<Observer>,
    pub jobs: Vec<Job>,
    /// Where the outputs go (a recycled buffer).
    pub out: Vec<f32>,
    pub done: oneshot::Sender<Done>,
    /// A compute thread's permit (`free`), or, for a full batch sent while
    /// every thread was busy, a place in line (`ahead`); given back when the
    /// batch (and its shadow) is done.
    pub permit: OwnedSemaphorePermit,
}

/// A computed batch.
pub(in crate::service) struct Done {
    pub jobs: Vec<Job>,
    /// The model that computed this batch (a swap may change the route's).
    pub model: Arc<LoadedModel>,
    pub outputs: Result<Vec<f32>>,
    /// When the model started on it (on a compute thread or a task).
    pub started: Instant,
    /// When the model finished it (for the publish stage's time).
    pub computed: Instant,
}

/// The shared compute threads: a queue of whole batches, and one permit per
/// thread, so a batcher knows whether a thread is free right now.
#[derive(Clone)]
pub(in crate::service) struct Compute {
    pub(super) tx: mpsc::Sender<ComputeJob>,
    pub(super) free: Arc<Semaphore>,
    /// Places in line for full batches, one per thread: a full batch goes
    /// while every thread is busy and waits in the queue, so a thread that
    /// finishes starts on it at once. Left to the batcher, that hand-over
    /// waits until the async runtime schedules it: on a runtime busy with
    /// ingest, 0.36 ms per batch, 7% of a flat-out run.
    pub(super) ahead: Arc<Semaphore>,
    /// The one call at a time that may run on an async task instead.
    pub(super) on_task: Arc<OnTask>,
    /// Batches sent to the threads and not yet taken by one: live work
    /// waiting, which a shadow model yields to ([`spare`]).
    pub(super) queued: Arc<AtomicUsize>,
}

impl Compute {
    /// Starts `threads` compute threads (never on the async runtime). They
    /// end when every `Compute` clone is dropped.
    pub fn start(
        threads: usize,
        stats: Arc<Stats>,
    ) -> Result<(Self, Vec<std::thread::JoinHandle<()>>)> {
        // Room for every batch that can hold a permit: one per thread
        // computed or about to be, one per place in line.
        let (tx, rx) = mpsc::channel::<ComputeJob>(threads * 2);
        let rx = Arc::new(Mutex::new(rx));
        let queued = Arc::new(AtomicUsize::new(0));
        let handles = (0..threads)
            .map(|i| {
                let (rx, stats, queued) = (rx.clone(), stats.clone(), queued.clone());
                std::thread::Builder::new()
                    .name(format!("compute-{i}"))
                    .spawn(move || compute_loop(rx, queued, stats, i))
                    .map_err(Error::Io)
            })
            .collect::<Result<_>>()?;
        let free = Arc::new(Semaphore::new(threads));
        let ahead = Arc::new(Semaphore::new(threads));
        let on_task = Arc::new(OnTask::new(stats));
        Ok((
            Self {
                tx,
                free,
                ahead,
                on_task,
                queued,
            },
            handles,
        ))
    }

    /// One window outside any stream (a `pipeline.translate` request), to
    /// the threads as soon as one is free (behind at most the batches
    /// waiting in line, one per thread).
    pub async fn one(
        &self,
        model: Arc<LoadedModel>,
        counters: Arc<RouteCounters>,
        input: Vec<f32>,
    ) -> Result<Vec<f32>> {
        let stopping = || Error::Nats("shutting down".into());
        let permit = self
            .free
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| stopping())?;
        let (done, rx) = oneshot::channel();
        let job = Job {
            stream: "".into(),
            seq: 0,
            input,
            ts: None,
            live: false,
            enqueued: Instant::now(),
            trace: None,
        };
        let batch = ComputeJob {
            model,
            counters,
            observer: None,
            jobs: vec![job],
            out: Vec::new(),
            done,
            permit,
        };
        self.send(batch).await.map_err(|_| stopping())?;
        rx.await.map_err(|_| stopping())?.outputs
    }

    /// Sends a batch to the threads, counted as queued until one takes it.
    pub(super) async fn send(
        &self,
        batch: ComputeJob,
    ) -> std::result::Result<(), mpsc::error::SendError<ComputeJob>> {
        self.queued.fetch_add(1, Relaxed);
        self.tx.send(batch).await
    }
}

/// Counts the batch's windows far outside the model's training range, and
/// names each of the first streams once per model (translated all the same: a state the model never
/// saw may be real, but other units make every translation nonsense).
fn check_range(model: &LoadedModel, counters: &RouteCounters, jobs: &[Job]) {
    use crate::stats::OUT_OF_RANGE_SCALES;
    let expects = model
        .meta
        .scaling
        .map_or(crate::scaling::Affine::IDENTITY, |s| s.input);
    let mean =
        |j: &Job| j.input.iter().map(|&x| f64::from(x)).sum::<f64>() / j.input.len().max(1) as f64;
    let limit = OUT_OF_RANGE_SCALES * expects.scale.abs();
    // One pass: how many are far, each of their streams named once (a
    // batch holds many streams' windows).
    let mut far = 0u64;
    for j in jobs {
        let m = mean(j);
        if (m - expects.center).abs() <= limit {
            continue;
        }
        far += 1;
        if let Some(n) = (counters.out_of_range_warned).first_time(&model.id, &j.stream) {
            tracing::warn!(
                model = %model.id, stream = %j.stream, seq = j.seq,
                "a window's mean {} is over {OUT_OF_RANGE_SCALES} scales from what the model was \
                 trained on ({}): other units, another channel, or a state it never saw? \
                 (counted in pipeline_input_out_of_range_total; {})",
                crate::eval::significant(m),
                crate::eval::around(expects.center, expects.scale),
                crate::stats::Said::how(n)
            );
        }
    }
    counters.input_out_of_range.fetch_add(far, Relaxed);
}

/// Runs `model` on a batch: the windows side by side in `input`, the
/// outputs into `out`; the batch counted in the route's histograms (its
/// windows' queue waits, the call's time).
pub(super) fn run(
    model: Arc<LoadedModel>,
    counters: &RouteCounters,
    jobs: Vec<Job>,
    mut out: Vec<f32>,
    input: &mut Vec<f32>,
    scratch: &mut Scratch,
    stats: &Stats,
) -> Done {
    let started = Instant::now();
    input.clear();
    for j in &jobs {
        input.extend_from_slice(&j.input);
    }
    check_range(&model, counters, &jobs);
    out.clear();
    out.resize(input.len(), 0.0);
    // Tests make the call panic: no windows, which `translate` asserts
    // against in test builds.
    #[cfg(test)]
    let input: &[f32] = if jobs.iter().any(|j| &*j.stream == PANIC_STREAM) {
        &[]
    } else {
        input
    };
    let outputs = translate(&model, input, &mut out, scratch).map(|()| out);
    let waits = jobs.iter().map(|j| started.duration_since(j.enqueued));
    stats.batch(counters, waits, started.elapsed());
    Done {
        jobs,
        model,
        outputs,
        started,
        computed: Instant::now(),
    }
}

/// A window of this stream makes the model call panic (tests only).
#[cfg(test)]
pub(super) const PANIC_STREAM: &str = "test: the model panics";

/// The model call, with a panic in it turned into an error for its batch:
/// a bug in the model's code fails the batch it met, which the publisher
/// counts and logs as it does any model error, instead of ending the
/// compute thread (with one thread, nothing would be computed again) or,
/// for a lone window computed on the batcher, the route's batcher.
fn translate(
    model: &LoadedModel,
    input: &[f32],
    out: &mut [f32],
    scratch: &mut Scratch,
) -> Result<()> {
    let call = std::panic::AssertUnwindSafe(|| {
        #[cfg(test)]
        assert!(!input.is_empty(), "a model call on no windows");
        model.fast.translate_into(input, out, scratch)
    });
    std::panic::catch_unwind(call).unwrap_or_else(|panic| {
        // Whatever state the call left its buffers in is not reused.
        *scratch = Scratch::default();
        // Logged where the error lands: the publisher, or the shadow's report.
        Err(Error::ModelPanicked {
            model: model.id.clone(),
            reason: crate::stats::panic_text(&*panic),
        })
    })
}

/// A compute thread: takes whole batches and runs the model; then, for a
/// route being observed, the shadow model on the same input (after the
/// live results are on their way, and only where no live work waits for
/// the thread: see [`spare`]).
pub(super) fn compute_loop(
    rx: Arc<Mutex<mpsc::Receiver<ComputeJob>>>,
    queued: Arc<AtomicUsize>,
    stats: Arc<Stats>,
    i: usize,
) {
    let beat = stats.compute_thread(i);
    let _stopped = crate::stats::StopOnDrop(beat.clone());
    let mut input = Vec::new();
    let mut scratch = Scratch::default();
    loop {
        let job = match rx.lock() {
            Ok(mut rx) => rx.blocking_recv(),
            Err(_) => return,
        };
        let Some(ComputeJob {
            model,
            counters,
            observer,
            jobs,
            out,
            done,
            permit,
        }) = job
        else {
            return;
        };
        // Never below zero (a batch sent past `Compute::send`, in tests).
        let _ = queued.fetch_update(Relaxed, Relaxed, |q| Some(q.saturating_sub(1)));
        beat.busy();
        let live_model = observer.as_ref().map(|_| model.clone());
        let result = run(
            model,
            &counters,
            jobs,
            out,
            &mut input,
            &mut scratch,
            &stats,
        );
        let mut observed = match (&observer, &result.outputs, live_model) {
            (Some(o), Ok(live), Some(model)) => Some(Observed {
                windows: result
                    .jobs
                    .iter()
                    .map(|j| (j.stream.clone(), j.seq, j.ts))
                    .collect(),
                live: live.clone(),
                model,
                shadow: None,
                compared: true,
                generation: o.generation,
                input: Vec::new(),
            }),
            _ => None,
        };
        let _ = done.send(result);
        // (The inputs for the live model's linear map, once the results
        // are on their way: only on a route that scores a truth.)
        if let Some(o) = observed
            .as_mut()
            .filter(|_| observer.as_ref().is_some_and(|o| o.truth))
        {
            o.input = input.clone();
        }
        let (Some(observer), Some(mut observed)) = (observer, observed) else {
            beat.idle();
            continue;
        };
        if let Some(shadow) = observer.shadow {
            match spare(permit, &queued, observer.backlog.as_ref()) {
                // Held while the shadow runs, as the live batch's was.
                Some(_busy) => {
                    let mut out = vec![0f32; input.len()];
                    match translate(&shadow, &input, &mut out, &mut scratch) {
                        Ok(()) => observed.shadow = Some((shadow, out)),
                        Err(e) => tracing::warn!(
                            id = %shadow.id, "the shadow model failed on a batch: {e}"
                        ),
                    }
                }
                // Both models are scored on the same windows, or neither;
                // each stream's deviation is still watched on the live ones,
                // where the route watches it.
                None => {
                    observer.compare.dropped(1);
                    if !observer.watches {
                        beat.idle();
                        continue;
                    }
                    observed.compared = false;
                }
            }
        }
        beat.idle();
        // An observer that cannot keep up loses comparisons, never windows
        // (a batch already counted as dropped is not counted again).
        let compared = observed.compared;
        if observer.tx.try_send(observed).is_err() && compared {
            observer.compare.dropped(1);
        }
    }
}

/// This thread's permit, to run a shadow with, unless live work is behind:
/// a full batch waiting in line for a thread, or the route's queue of
/// windows an eighth full (512 windows by default; the ingest sheds
/// windows only when it is full). A shadow model runs on spare compute:
/// before, it ran on every observed batch and halved the live capacity
/// (10-31% of the live windows shed at 1,000 streams × 30-40/s, where
/// without a shadow none were). Yielding whenever any window waited was
/// too eager: a burst of one stream's samples went unshadowed.
fn spare(
    permit: OwnedSemaphorePermit,
    queued: &AtomicUsize,
    backlog: Option<&mpsc::WeakSender<Job>>,
) -> Option<OwnedSemaphorePermit> {
    let behind = |tx: mpsc::Sender<Job>| {
        let waiting = tx.max_capacity() - tx.capacity();
        waiting > 0 && waiting >= tx.max_capacity() / 8
    };
    let queue_behind = backlog.and_then(|b| b.upgrade()).is_some_and(behind);
    (queued.load(Relaxed) == 0 && !queue_behind).then_some(permit)
}
