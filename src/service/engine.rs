//! The engine both modes share: windows → batcher → compute threads →
//! publisher → a sink (core NATS, or JetStream with acknowledgements). A
//! lone window of an idle route skips the threads: the batcher computes it
//! itself ([`lone`]), saving a thread's wake-up.
//!
//! A route (core mode) or a durable unit calls [`spawn`] once per run and
//! feeds the returned sender; the compute threads ([`Compute`]) are shared
//! by every route. The publisher takes each batch's result slot in the order
//! batches were formed, so per-stream outputs stay in `seq` order even with
//! several compute threads.

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::events::TraceParent;
use super::observe::{Compare, Observed};
use super::route::Route;
use crate::format::LoadedModel;
use crate::stats::{RouteCounters, Stats, watched};

/// One window on its way through the pipeline.
pub(super) struct Job {
    pub stream: Arc<str>,
    pub seq: u64,
    pub input: Vec<f32>,
    pub ts: Option<i64>,
    /// Whether `ts` is when a live sample was taken, so its latency counts
    /// (a replay's on a clock is its recording's time, days ago perhaps).
    pub live: bool,
    pub enqueued: Instant,
    /// The W3C `traceparent` of the message that completed the window,
    /// carried to its translation.
    pub trace: Option<TraceParent>,
}

/// Where a batch's comparisons go: the route's shadow model (computed on
/// the same input after the live results are handed on) and its observer.
#[derive(Clone)]
pub(super) struct Observer {
    pub shadow: Option<Arc<LoadedModel>>,
    pub tx: mpsc::Sender<Observed>,
    pub compare: Arc<Compare>,
    /// The models' generation ([`super::route::Serving::generation`]).
    pub generation: u64,
    /// The route watches each stream's deviation (`[route.deviation]`): a
    /// batch a shadow could not run on still goes to the observer.
    pub watches: bool,
    /// The route scores a truth: the batch's inputs go to the observer
    /// too (the live model's linear map is scored beside it).
    pub truth: bool,
    /// The route's queue of windows, to tell how far live work is behind
    /// (a shadow yields to it: see [`compute`]'s `spare`).
    pub backlog: Option<mpsc::WeakSender<Job>>,
}

/// How far a stored sink has got: windows stored, or why it stopped.
#[derive(Debug, Clone, Default)]
pub(super) struct Progress {
    pub stored: u64,
    pub failed: Option<String>,
}

/// Where a route's translations go.
pub(super) enum Sink {
    /// Core NATS, at most once: a failed publish is counted and logged, and
    /// publishing goes on.
    Core(Client),
    /// JetStream, each translation with a `Nats-Msg-Id` of its output
    /// subject and seq (the same whichever model computed it, so a replay
    /// after a crash or a model swap is discarded, never stored twice).
    /// `progress` counts the windows stored (acknowledged), in order; the
    /// first failure stops publishing (the durable unit then resumes from
    /// its checkpoint).
    Stored {
        progress: watch::Sender<Progress>,
        acked: Acked,
        /// Checked before each translation: a unit taken over while this
        /// instance was paused publishes nothing more.
        lease: Arc<Lease>,
    },
}

/// Starts a route's batcher and publisher (one run of a durable unit, or a
/// core route for the service's life) and returns the sender windows go to.
/// The tasks end once that sender is dropped and every window is handed on
/// (and, for a stored sink, acknowledged or failed).
pub(super) fn spawn(
    route: Arc<Route>,
    compute: Compute,
    sink: Sink,
    stats: Arc<Stats>,
    limits: &BatchLimits,
) -> (mpsc::Sender<Job>, Vec<JoinHandle<()>>) {
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(limits.queue);
    let (slots_tx, slots_rx) = mpsc::channel::<oneshot::Receiver<Done>>(limits.slots);
    let source = route.clone();
    let backlog = jobs_tx.downgrade();
    let watch = |stage: &str| (stats.clone(), format!("route {:?} {stage}", route.cfg.pair));
    let mut tasks = Vec::new();
    let out = sink_out(sink, &route, &stats, limits, &mut tasks);
    let shared = Shared::new(Publisher::new(route.clone(), out, stats.clone()));
    tasks.push(spawn_watched(
        watch("batcher"),
        batcher(
            jobs_rx,
            move || {
                let (live, observer) = source.for_batch();
                let observer = observer.map(|o| Observer {
                    backlog: Some(backlog.clone()),
                    ..o
                });
                (live, observer, source.counters.clone())
            },
            route.buffers.clone(),
            compute,
            Outlet {
                slots: slots_tx,
                publisher: Some(shared.clone()),
            },
            limits.max_batch,
            limits.max_wait,
            true,
        ),
    ));
    tasks.push(spawn_watched(
        watch("publisher"),
        publisher(slots_rx, shared),
    ));
    (jobs_tx, tasks)
}

/// The publisher's side of a sink, with the acker a stored sink needs.
fn sink_out(
    sink: Sink,
    route: &Arc<Route>,
    stats: &Arc<Stats>,
    limits: &BatchLimits,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Out {
    let watch = |stage: &str| (stats.clone(), format!("route {:?} {stage}", route.cfg.pair));
    match sink {
        Sink::Core(client) => Out::Core(client),
        Sink::Stored {
            progress,
            mut acked,
            lease,
        } => {
            let (settle, rx) = mpsc::channel(limits.slots * 4);
            let counters = route.counters.clone();
            let readers = match &mut acked {
                Acked::Batches(fast) => Readers {
                    each: None,
                    give_back: fast.give_back(),
                },
                Acked::Each(each) => Readers {
                    each: each.reader(),
                    give_back: None,
                },
            };
            tasks.push(spawn_watched(
                watch("acker"),
                acker(rx, readers, progress, stats.clone(), counters),
            ));
            Out::Stored(Box::new(StoredOut::new(settle, acked, lease)))
        }
    }
}

/// Spawns `task` so that a panic in it fails `/healthz` (see [`watched`]).
fn spawn_watched(
    (stats, name): (Arc<Stats>, String),
    task: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(watched(stats, name, task))
}

/// Queue and batch sizes, the same for every route.
#[derive(Debug, Clone, Copy)]
pub(super) struct BatchLimits {
    /// Windows waiting for the batcher.
    pub queue: usize,
    /// Batches formed and not yet published.
    pub slots: usize,
    pub max_batch: usize,
    pub max_wait: Duration,
}

/// What a batch goes with: the route's live model and observer as they are
/// when it goes, and the route's counters.
type BatchWith = (Arc<LoadedModel>, Option<Observer>, Arc<RouteCounters>);

/// Groups one route's windows into batches without waiting when idle: a
/// batch goes as soon as a compute thread is free, with every window queued
/// by then (up to `max_batch`); windows that arrive while every thread is
/// busy gather into the next batch. So one window alone goes at once, and
/// under load batches grow to what keeps the threads fed (Triton's dynamic
/// batcher, Clipper's adaptive batching); a batch that reaches
/// `max_batch` while every thread is busy goes to wait in line (one per
/// thread, see [`Compute::ahead`]), so that a thread that finishes starts
/// on it without waiting for this task to be scheduled. `max_wait` > 0 additionally holds
/// a batch up to that long for it to fill (fuller batches for a little
/// latency). Each batch takes the route's models as they are when the batch
/// goes, so a swap applies from the next batch on. With `on_task`, a lone
/// window of a quiet route may be computed on this task (see [`lone`]).
#[allow(clippy::too_many_arguments)]
async fn batcher(
    mut jobs: mpsc::Receiver<Job>,
    models: impl Fn() -> BatchWith,
    buffers: Arc<Buffers>,
    compute: Compute,
    out: Outlet,
    max_batch: usize,
    max_wait: Duration,
    on_task: bool,
) {
    let max_batch = max_batch.max(1);
    let mut quiet = Quiet::default();
    while let Some(first) = jobs.recv().await {
        let deadline = first.enqueued + max_wait;
        let mut batch = buffers.batches.take();
        batch.push(first);
        let mut open = take_queued(&mut jobs, &mut batch, max_batch);
        while open && !max_wait.is_zero() && batch.len() < max_batch {
            match tokio::time::timeout_at(deadline, jobs.recv()).await {
                Ok(Some(j)) => {
                    batch.push(j);
                    open = take_queued(&mut jobs, &mut batch, max_batch);
                }
                Ok(None) => open = false,
                Err(_) => break,
            }
        }
        // A free compute thread; until one is, keep gathering windows. A
        // full batch need not wait for one: it takes a place in line.
        let free_at_once = compute.free.available_permits() > 0;
        let acquire = compute.free.clone().acquire_owned();
        let in_line = compute.ahead.clone().acquire_owned();
        tokio::pin!(acquire, in_line);
        let permit = loop {
            tokio::select! {
                biased;
                p = &mut acquire => break p,
                p = &mut in_line, if batch.len() >= max_batch => break p,
                j = jobs.recv(), if open && batch.len() < max_batch => match j {
                    Some(j) => batch.push(j),
                    None => open = false,
                },
            }
        };
        let Ok(permit) = permit else {
            return; // the service is stopping: the semaphore is closed
        };
        let (model, observer, counters) = models();
        let lone = quiet.lone(&batch) && free_at_once && observer.is_none();
        // Computed here, or not: the slot (a lock) ends with this statement,
        // before any await.
        let here = match (on_task && lone).then(|| compute.on_task.slot(&model)) {
            Some(Some(slot)) => Ok(slot.run(model, &counters, batch, buffers.outputs.take())),
            _ => Err((model, batch)),
        };
        let (model, batch) = match here {
            Ok(done) => {
                drop(permit);
                if !out.hand(done).await {
                    return;
                }
                continue;
            }
            Err(not_here) => not_here,
        };
        // The slot goes to the publisher first, so results are published in
        // the order batches were formed whichever thread finishes first.
        let (done_tx, done_rx) = oneshot::channel();
        if !out.queue(done_rx).await {
            return;
        }
        let job = ComputeJob {
            model,
            counters,
            observer,
            jobs: batch,
            out: buffers.outputs.take(),
            done: done_tx,
            permit,
        };
        if compute.send(job).await.is_err() {
            return;
        }
    }
}

/// Where the batcher hands results: the publisher task's queue of result
/// slots, and the publisher itself for a batch computed on the batcher
/// (see [`publisher`]).
struct Outlet {
    slots: mpsc::Sender<oneshot::Receiver<Done>>,
    /// `None` where nothing publishes (the batcher's tests read the slots).
    publisher: Option<Arc<Shared>>,
}

impl Outlet {
    /// Queues a batch's result slot for the publisher task. False when
    /// that task is gone.
    async fn queue(&self, slot: oneshot::Receiver<Done>) -> bool {
        if let Some(p) = &self.publisher {
            p.queued();
        }
        self.slots.send(slot).await.is_ok()
    }

    /// A batch computed here: published at once when no batch waits to be
    /// published ahead of it (core NATS), queued otherwise. False when
    /// publishing has stopped.
    async fn hand(&self, done: Done) -> bool {
        if let Some(mut publisher) = self.publisher.as_ref().and_then(|p| p.idle()) {
            return publisher.publish(Some(done)).await;
        }
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(done);
        self.queue(rx).await
    }
}

/// Moves every window already queued into `batch` (up to `max`) without
/// waiting. Returns false when the queue is closed.
fn take_queued(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, max: usize) -> bool {
    while batch.len() < max {
        match jobs.try_recv() {
            Ok(j) => batch.push(j),
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
    true
}

mod acker;
mod buffers;
mod compute;
mod fast_ingest;
mod lease;
mod lone;
mod per_message;
mod publisher;
mod stored;

use acker::{Readers, acker};
pub(super) use buffers::Buffers;
use compute::ComputeJob;
pub(super) use compute::{Compute, Done};
pub(super) use fast_ingest::FastIngest;
pub(super) use lease::{Lease, Verify};
use lone::Quiet;
pub(super) use per_message::{PerMessage, publish_acked};
use publisher::{Out, Publisher, Shared, publisher};
pub(super) use stored::Acked;
use stored::StoredOut;

#[cfg(test)]
mod tests;
