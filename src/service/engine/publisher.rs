//! The publisher: each batch's translations into the route's sink, in the
//! order the batcher formed the batches.
//!
//! The publisher's state is shared with the batcher ([`Shared`]): a lone
//! window the batcher computed itself ([`super::lone`]) is published there
//! too, on core NATS, when no batch waits to be published ahead of it. Why:
//! the sample's path is then ingest → batcher → the client's connection
//! task, three hand-overs that tokio makes on the worker that read the
//! sample (its LIFO slot takes three in a row). Through the publisher task
//! it was four, and the fourth wake, past that limit, went to the run queue
//! with a futex wake of the other worker: `strace` showed one per window,
//! and the publish stage read 28–40 µs against 7–11 µs with one worker
//! only, 5–6 µs now (BENCHMARKS.md, idle latency).

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

use async_nats::Client;
use tokio::sync::{Mutex, MutexGuard, mpsc, oneshot};
use tokio::time::Instant;

use super::buffers::{ARENA_BYTES, header_block, slices};
use super::stored::StoredOut;
use super::{Done, Job};
use crate::format::LoadedModel;
use crate::service::events::TraceParent;
use crate::service::route::Route;
use crate::stats::Stats;
use crate::wire::TranslationRef;

/// The publisher's side of a sink.
pub(super) enum Out {
    Core(Client),
    /// Publishes go out at once (in a fast batch, each once the next is
    /// added or the batch ends); their acknowledgements are awaited by the
    /// acker, in order, so the next batches are published meanwhile (up to
    /// the channel's bound, plus the client's own in-flight limit).
    Stored(Box<StoredOut>),
}

impl Out {
    /// Gives up on a batch. Returns true when publishing must stop.
    async fn fail(&self, stats: &Stats, windows: usize, why: String) -> bool {
        match self {
            Out::Core(_) => {
                tracing::error!(windows, "{why}");
                stats.publish_failures.fetch_add(windows as u64, Relaxed);
                false
            }
            Out::Stored(out) => {
                out.fail(why).await;
                true
            }
        }
    }
}

/// What the publisher task and the batcher share: the publisher, and how
/// many batches wait for it.
pub(super) struct Shared {
    publisher: Mutex<Publisher>,
    /// Result slots the batcher has handed the publisher task and it has not
    /// finished publishing.
    pending: AtomicUsize,
    /// Whether the batcher may publish (core NATS only: a stored sink's
    /// fast batches and acknowledgements stay with the publisher task).
    direct: bool,
}

impl Shared {
    pub fn new(publisher: Publisher) -> Arc<Self> {
        let direct = matches!(publisher.sink, Out::Core(_));
        Arc::new(Shared {
            publisher: Mutex::new(publisher),
            pending: AtomicUsize::new(0),
            direct,
        })
    }

    /// Counts a result slot the batcher hands the publisher task.
    pub fn queued(&self) {
        self.pending.fetch_add(1, AcqRel);
    }

    /// The publisher, for the batcher to publish a batch itself: only when
    /// no slot waits (so nothing is overtaken: the batcher alone adds
    /// slots) and the sink is core NATS.
    pub fn idle(&self) -> Option<MutexGuard<'_, Publisher>> {
        if !self.direct || self.pending.load(Acquire) > 0 {
            return None;
        }
        self.publisher.try_lock().ok()
    }
}

/// Publishes one route's results in batch order.
pub(super) async fn publisher(
    mut slots: mpsc::Receiver<oneshot::Receiver<Done>>,
    shared: Arc<Shared>,
) {
    while let Some(slot) = slots.recv().await {
        let result = slot.await.ok();
        let go_on = shared.publisher.lock().await.publish(result).await;
        // After the lock is released: a batcher that sees no slot pending
        // finds the publisher free.
        shared.pending.fetch_sub(1, AcqRel);
        if !go_on {
            return;
        }
    }
}

/// A route's sink and the buffers its messages are written in.
pub(super) struct Publisher {
    route: Arc<Route>,
    sink: Out,
    stats: Arc<Stats>,
    /// Reused for every message: the encoded payload.
    payload: Vec<u8>,
    /// Subjects and payloads handed to the client are slices of one shared
    /// block: a new block every few hundred messages (or the old one again,
    /// once the client has written all of it), not an allocation per message.
    arena: bytes::BytesMut,
}

impl Publisher {
    pub fn new(route: Arc<Route>, sink: Out, stats: Arc<Stats>) -> Self {
        Publisher {
            route,
            sink,
            stats,
            payload: Vec::new(),
            arena: bytes::BytesMut::with_capacity(ARENA_BYTES),
        }
    }

    /// Publishes a batch's translations (`None`: its compute thread died).
    /// Returns false when publishing must stop (a stored sink failed).
    pub async fn publish(&mut self, result: Option<Done>) -> bool {
        let Publisher {
            route,
            sink,
            stats,
            payload,
            arena,
        } = self;
        let Some(Done {
            jobs,
            model,
            outputs,
            started,
            computed,
        }) = result
        else {
            let why = "a compute thread died; its batch is lost";
            return !sink.fail(stats, 0, why.into()).await;
        };
        let outputs = match outputs {
            Ok(o) => o,
            Err(e) => {
                let why = format!("model failed on a batch: {e}");
                return !sink.fail(stats, jobs.len(), why).await;
            }
        };
        let mut handed = 0u64;
        for (job, values) in jobs.iter().zip(outputs.chunks_exact(route.window)) {
            TranslationRef {
                stream: &job.stream,
                seq: job.seq,
                values,
                pair: &route.cfg.pair,
                model: &model.id,
                ts: job.ts,
                unit: model.output_unit.as_deref(),
            }
            .encode_as(route.cfg.output_format, payload);
            let (subject, bytes) = slices(arena, &route.cfg.output, &job.stream, payload);
            let trace = job.trace.as_ref().map(TraceParent::as_str);
            match sink {
                Out::Core(client) => match publish(client, arena, subject, bytes, trace).await {
                    Ok(()) => {
                        handed += 1;
                        stats.windows_out.fetch_add(1, Relaxed);
                        route.counters.windows_out.fetch_add(1, Relaxed);
                        route
                            .counters
                            .observe_end_to_end(job.ts.filter(|_| job.live));
                    }
                    Err(e) => {
                        stats.publish_failures.fetch_add(1, Relaxed);
                        tracing::warn!("publish failed: {e}");
                    }
                },
                Out::Stored(out) => {
                    let ts = job.ts.filter(|_| job.live);
                    let sent = out.send(arena, subject, bytes, job.seq, trace, ts);
                    if let Err(why) = sent.await {
                        out.fail(why).await;
                        return false;
                    }
                    handed += 1;
                }
            }
        }
        route.counters.model_windows_add(&model.id, handed);
        if let Out::Stored(out) = sink
            && !out.finish(arena).await
        {
            return false; // the acker reports why
        }
        if crate::telemetry::enabled() {
            trace_batch(route, &model, &jobs, started, computed);
        }
        route.buffers.recycle(jobs, outputs);
        (route.counters.publish_seconds).observe(computed.elapsed().as_secs_f64());
        true
    }
}

/// The batch's span, once every window is handed on (see `telemetry`).
fn trace_batch(
    route: &Route,
    model: &LoadedModel,
    jobs: &[Job],
    started: Instant,
    computed: Instant,
) {
    crate::telemetry::record(crate::telemetry::BatchSpan {
        pair: &route.cfg.pair,
        model: &model.id,
        windows: jobs.len(),
        traces: &mut jobs
            .iter()
            .filter_map(|j| j.trace.as_ref().map(TraceParent::as_str)),
        first_queued: jobs
            .iter()
            .map(|j| j.enqueued)
            .min()
            .unwrap_or(started)
            .into_std(),
        compute_start: started.into_std(),
        computed: computed.into_std(),
        published: Instant::now().into_std(),
    });
}

/// Publishes on core NATS, with the trace context when there is one (its
/// header block written into `arena`).
async fn publish(
    client: &Client,
    arena: &mut bytes::BytesMut,
    subject: async_nats::Subject,
    payload: bytes::Bytes,
    trace: Option<&str>,
) -> std::result::Result<(), async_nats::PublishError> {
    match trace {
        None => client.publish(subject, payload).await,
        Some(t) => {
            let headers = header_block(arena, None, Some(t));
            client
                .publish_with_header_block(subject, headers, payload)
                .await
        }
    }
}
