//! Durable mode (`serve --durable`): samples from a JetStream stream,
//! translations into a JetStream stream, window state in a KV bucket.
//!
//! One *unit* per route and owned partition. Each unit runs this protocol:
//!
//! 1. **Own the checkpoint.** The unit's KV key holds `{owner, stream_seq,
//!    windows}`. The unit takes it over by compare-and-set on its revision;
//!    a checkpoint owned by another instance is only taken once it has not
//!    changed for `lease_s` (that instance is gone): until then the unit
//!    stands by. Every later write is also compare-and-set, so an instance
//!    that lost its checkpoint to another stops instead of clobbering it.
//!    An owner that stops gracefully writes its last checkpoint again
//!    marked released, which a standby takes at once.
//! 2. **Resume at the checkpoint.** The durable pull consumer is re-created
//!    to deliver from `stream_seq + 1` and the windows are restored. The
//!    checkpoint, not the consumer, is the source of truth: consumer
//!    position and window state always move together.
//! 3. **Process** messages in stream order through the shared batcher and
//!    compute threads. Outputs are published to JetStream with
//!    `Nats-Msg-Id = {output subject}:{seq}`, so a replay after a crash is
//!    discarded by the output stream's duplicate window, whichever model
//!    computes it (a model may be reloaded or promoted in between).
//! 4. **Checkpoint** every `checkpoint_ms`: snapshot the windows at the
//!    last processed message; once every window handed to the batcher by
//!    then is stored (publish acknowledged), write the snapshot, then
//!    acknowledge the input up to that message (`AckPolicy::All`). A sample
//!    is thus acked only after all its windows are stored and the windows
//!    it is part of are in a checkpoint. Consuming goes on while a
//!    checkpoint is written (one at a time), so the pipeline does not drain
//!    five times a second.
//!
//! Any error (server restart, lost publish, consumer gone) ends the attempt
//! and the unit starts again from step 1: the crash-recovery path is the
//! only recovery path, so it is the one every test exercises.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv};
use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use super::engine::{self, BatchLimits, Compute, Progress, Sink};
use super::events::Reporter;
use super::ingest::{Handled, Ingest, IngestLimits, WhenFull};
use crate::config::DurableConfig;
use crate::error::{Error, Result};
use crate::stats::{Stats, UnitState};

mod checkpoint;
mod clock;
mod dead_letter;
mod setup;

use checkpoint::{Written, acquire, checkpoint, load_windows, snapshot, write};
pub use setup::consumer_name;
pub(super) use setup::{Setup, Unit, setup_with_retry};

/// Why an attempt ended.
enum Failure {
    /// Transient: start again from the last checkpoint.
    Retry(String),
    /// The unit cannot go on (corrupt checkpoint, lost ownership).
    Fatal(Error),
}

type Attempt<T> = std::result::Result<T, Failure>;

fn retry(what: &str) -> impl Fn(String) -> Failure + '_ {
    move |e| Failure::Retry(format!("{what}: {e}"))
}

/// What every unit shares.
pub(super) struct Shared {
    pub js: jetstream::Context,
    pub kv: kv::Store,
    pub cfg: DurableConfig,
    pub instance: String,
    pub stats: Arc<Stats>,
    pub reporter: Reporter,
    pub compute: Compute,
    pub limits: IngestLimits,
    pub batching: BatchLimits,
    /// Whether outputs go out as fast-ingest batches (the output stream
    /// allows them).
    pub batched: bool,
    /// Changes on every disconnect from NATS.
    pub epoch: watch::Receiver<u64>,
}

/// Runs one unit until `stop`, resuming from its checkpoint after errors.
/// Returns an error only when it cannot go on.
pub(super) async fn run_unit(
    shared: Arc<Shared>,
    unit: Unit,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut backoff = Duration::from_millis(100);
    let state = |s| shared.stats.unit(&unit.key, s);
    // The furthest input any attempt handled: what a later attempt replays
    // from the checkpoint up to there is not counted as new input.
    let mut handled = 0;
    loop {
        state(Some(UnitState::Starting));
        match attempt(&shared, &unit, &mut stop, &mut handled).await {
            Ok(()) => {
                state(None);
                return Ok(());
            }
            Err(Failure::Fatal(e)) => {
                state(None);
                tracing::error!(unit = %unit.key, "durable unit stopped: {e}");
                return Err(e);
            }
            // Stopping already (the last checkpoint failed): starting again
            // would wait for a stop that was already seen. The next start
            // resumes from the checkpoint before; replayed outputs are
            // discarded by their message ids.
            Err(Failure::Retry(e)) if *stop.borrow() => {
                state(None);
                tracing::warn!(unit = %unit.key, "stopping without a last checkpoint: {e}");
                return Ok(());
            }
            Err(Failure::Retry(e)) => {
                state(Some(UnitState::Retrying));
                shared.stats.durable_restarts.fetch_add(1, Relaxed);
                tracing::warn!(unit = %unit.key, "{e}; resuming from the last checkpoint in {backoff:?}");
                tokio::select! {
                    _ = stop.changed() => {
                        state(None);
                        return Ok(());
                    }
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Whether the output stream takes fast-ingest batches, read again for
/// every attempt: after an operator turns `allow_batched` off, batches are
/// refused and the attempt fails; the next publishes per translation
/// (and after it is turned on, the next attempt batches). When the
/// stream cannot be read, what setup found.
async fn output_batched(shared: &Shared, unit: &Unit) -> bool {
    let name = &shared.cfg.output_stream;
    let Ok(stream) = shared.js.get_stream(name).await else {
        return shared.batched;
    };
    let batched = stream.cached_info().config.allow_batch_publish;
    if batched != shared.batched {
        tracing::info!(unit = %unit.key, stream = %name, batched, "the output stream's batching changed");
    }
    batched
}

/// One run of the protocol, from taking the checkpoint to an error or stop.
async fn attempt(
    shared: &Shared,
    unit: &Unit,
    stop: &mut watch::Receiver<bool>,
    handled: &mut u64,
) -> Attempt<()> {
    let Some((revision, saved, taken)) = acquire(shared, unit, stop).await? else {
        return Ok(());
    };
    checkpoint::behind_its_stream(shared, unit, &saved).await?;
    let windows = load_windows(shared, unit, &saved).await?;
    let route = &unit.route;

    // This attempt's own engine, fed by its ingest; the compute threads
    // are shared.
    let (progress_tx, progress) = watch::channel(Progress::default());
    let batched = output_batched(shared, unit).await;
    let client = shared.js.client();
    let fast = match batched {
        true => (engine::FastIngest::open(&client).await).map_err(retry("batches"))?,
        false => None,
    };
    if batched && fast.is_none() {
        tracing::info!(
            unit = %unit.key,
            "the client's inbox prefix is not one token: every translation is acknowledged on its own"
        );
    }
    let acked = match fast {
        Some(fast) => engine::Acked::Batches(fast),
        None => engine::Acked::Each(
            (engine::PerMessage::open(&client, &shared.cfg.output_stream).await)
                .map_err(retry("acknowledgements"))?,
        ),
    };
    let lease = Arc::new(engine::Lease::new(
        Duration::from_secs_f64(shared.cfg.lease_s),
        checkpoint::owner_check(shared, unit),
    ));
    lease.confirm(taken);
    let sink = Sink::Stored {
        progress: progress_tx,
        acked,
        lease: lease.clone(),
    };
    let (jobs_tx, engine) = engine::spawn(
        route.clone(),
        shared.compute.clone(),
        sink,
        shared.stats.clone(),
        &shared.batching,
    );
    let mut ingest = Ingest::new(
        route.clone(),
        jobs_tx,
        shared.reporter.clone(),
        shared.limits,
    );
    // A publisher's count started again stays out of order here: its
    // translations' ids (`subject:seq`) would be the old count's, which the
    // output stream's duplicate window drops as stored.
    ingest.recount = false;
    ingest
        .restore(&windows)
        .map_err(|e| checkpoint::corrupt(shared, unit, e))?;
    let mut state = State {
        revision,
        generation: saved.generation,
        chunks: saved.chunks.clone(),
        checkpointed: saved.stream_seq,
        processed: saved.stream_seq,
        last: None,
        sent: 0,
        unacked: 0,
        delivered: 0,
        written: Instant::now(),
        lease,
        progress,
        model: saved.model.clone(),
    };
    // A model put in at run time (promote, reload) is not in the
    // configuration: a restart serves the configured one again. Said, with
    // how to put it back.
    let now = checkpoint::Served::of(&ingest);
    if let Some(was) = saved.model.as_ref().filter(|was| was.id != now.id) {
        tracing::warn!(
            unit = %unit.key, was = %was.id, now = %now.id,
            "the last checkpoint was written while model {} ({}) served this route; this start \
             serves {} ({}), the configured one: a model promoted or reloaded at run time is not \
             kept across a restart (`pipeline reload --model {}` puts it back; or name it in the \
             configuration)",
            was.id, was.path, now.id, now.path, was.path
        );
    }
    if saved.stream_seq == 0 {
        tracing::info!(unit = %unit.key, "starting: no checkpoint yet, from the stream's first sample");
    } else {
        tracing::info!(
            unit = %unit.key, from = saved.stream_seq + 1, streams = windows.len(),
            "resuming from checkpoint"
        );
    }
    let result = consume(shared, unit, &mut ingest, &mut state, stop, handled).await;
    let result = match result {
        // Stopping: what was handed on is stored, then a last checkpoint.
        Ok(()) => checkpoint(shared, unit, &ingest, &mut state, true).await,
        Err(e) => Err(e),
    };
    ingest.finish();
    for task in engine {
        let _ = task.await;
    }
    if result.is_ok() {
        // Every window is stored and checkpointed: a standby may take the
        // unit now rather than after a lease (a rolling restart).
        checkpoint::release(shared, unit, &state).await;
    }
    result
}

/// A unit's position and what is pending acknowledgement.
struct State {
    revision: u64,
    /// Generation and chunk keys of the checkpoint the head names now.
    generation: u64,
    chunks: Vec<String>,
    /// Stream sequence in the last checkpoint written.
    checkpointed: u64,
    /// Stream sequence of the last message processed.
    processed: u64,
    /// The last message delivered: acking it acks every earlier one.
    last: Option<jetstream::message::Acker>,
    /// Windows handed to the engine so far: a checkpoint waits until the
    /// publisher has stored this many.
    sent: u64,
    unacked: i64,
    /// Consumer sequence of the last delivery.
    delivered: u64,
    written: Instant,
    /// The publisher's view of this unit's hold (confirmed by each write).
    lease: Arc<engine::Lease>,
    progress: watch::Receiver<Progress>,
    /// The model serving when the head was written.
    model: Option<checkpoint::Served>,
}

async fn consume(
    shared: &Shared,
    unit: &Unit,
    ingest: &mut Ingest,
    state: &mut State,
    stop: &mut watch::Receiver<bool>,
    handled: &mut u64,
) -> Attempt<()> {
    let cfg = &shared.cfg;
    let consumer = reset_consumer(shared, unit, state.checkpointed).await?;
    // A backlog: samples stored while no unit consumed them (published in
    // core mode too, which the input stream stores all the same).
    let waiting = consumer.cached_info().num_pending;
    match (waiting, state.checkpointed) {
        (0, _) => {}
        (_, 0) => tracing::info!(
            unit = %unit.key, waiting, stream = %cfg.input_stream,
            subjects = %unit.filter.join(","),
            "samples stored before this unit's first checkpoint wait: translated first, as a \
             backlog (to begin from the present instead: stop, `nats stream purge {} --subject \
             S` for each of the unit's subjects, start again)",
            cfg.input_stream
        ),
        _ => tracing::info!(
            unit = %unit.key, waiting, stream = %cfg.input_stream,
            "samples wait past the checkpoint: catching up"
        ),
    }
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(1000)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
        .map_err(|e| retry("pulling")(e.to_string()))?;
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.checkpoint_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(ingest.sweep_every());
    let mut epoch = shared.epoch.clone();
    epoch.borrow_and_update();
    let lag = shared.stats.unit_pending(&unit.key);
    // The checkpoint being written, if any: consuming goes on meanwhile
    // (its snapshot was taken at one point of the input), so the compute
    // threads are not left idle while outputs drain and the bucket
    // answers. One at a time: each names the head the one before wrote.
    let mut writing: Writing = None;
    // A quiet route's ticks are read by a clock message of the unit's own
    // (see `clock`), stored once one is due and no sample has read it.
    let mut clocked = clock::Clocked::new(unit.clock.as_deref());
    let mut pending = waiting;
    let next_clock = |ingest: &Ingest| Instant::now() + ingest.next_clock_read() + clock::QUIET;
    let clock_at = tokio::time::sleep_until(next_clock(ingest));
    tokio::pin!(clock_at);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => {
                // Its head must be known before the last checkpoint.
                finish_writing(&mut writing, state).await?;
                return Ok(());
            }
            _ = epoch.changed() => {
                return Err(Failure::Retry(
                    "the connection to NATS dropped: deliveries in flight are not acknowledged, and come again".into(),
                ));
            }
            w = async {
                match writing.as_mut() {
                    Some(w) => w.await,
                    None => std::future::pending().await,
                }
            }, if writing.is_some() => {
                writing = None;
                state.written(w?);
            }
            _ = tick.tick(), if writing.is_none() => {
                if let Some(snap) = snapshot(shared, ingest, state, false) {
                    writing = Some(Box::pin(write(shared, unit, snap)));
                }
            }
            _ = sweep.tick() => {
                // (A stream holding a value is kept: nothing is read here.)
                state.sent += ingest.evict_idle(WhenFull::Wait).await.unwrap_or(0);
            }
            _ = &mut clock_at => {
                // (Behind, the samples waiting read the clock themselves.)
                if pending == 0 && ingest.ticks_due(clocked.now()) {
                    clocked.ask(&shared.js);
                }
                clock_at.as_mut().reset(next_clock(ingest));
            }
            m = messages.next() => {
                let m = match m {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => return Err(Failure::Retry(format!("consumer {}: {e}", unit.consumer))),
                    None => return Err(Failure::Retry("the consumer's message stream ended".into())),
                };
                let info = m.info().map_err(|e| retry("message info")(e.to_string()))?;
                let seq = info.stream_sequence;
                let stored_at = i64::try_from(info.published.unix_timestamp_nanos()).ok();
                lag.store(info.pending, Relaxed);
                pending = info.pending;
                // Deliveries of a fresh consumer are numbered 1, 2, 3, …: a
                // jump means some were lost with a dropped connection. Acking
                // past them would lose them, so start again from the
                // checkpoint instead.
                if info.consumer_sequence != state.delivered + 1 {
                    return Err(Failure::Retry(format!(
                        "deliveries {}..{} were lost (a dropped connection): the first lost \
                         is the unit's next message in {} after seq {}",
                        state.delivered + 1,
                        info.consumer_sequence.saturating_sub(1),
                        shared.cfg.input_stream,
                        state.processed,
                    )));
                }
                state.delivered = info.consumer_sequence;
                let (msg, acker) = m.split();
                state.last = Some(acker);
                state.unacked += 1;
                // A redelivery of a message already processed (it was not
                // acked in time): its effect is in the windows already.
                if seq > state.processed {
                    state.processed = seq;
                    ingest.replaying = seq <= *handled;
                    ingest.stored_at = stored_at;
                    *handled = (*handled).max(seq);
                    let outcome = match clocked.is(msg.subject.as_str()) {
                        true => {
                            clocked.read(stored_at);
                            ingest.tick(WhenFull::Wait).await
                        }
                        false => ingest.handle(&msg, WhenFull::Wait).await,
                    };
                    match outcome {
                        Handled::Windows(n) => state.sent += n,
                        Handled::Refused(why, n) => {
                            state.sent += n;
                            if let Some(dead) = &shared.cfg.dead_letter_stream {
                                let input = &shared.cfg.input_stream;
                                dead_letter::keep(&shared.js, dead, input, seq, &msg, &why).await?;
                            }
                        }
                        Handled::Stopped => {
                            // It stops on a failed publication: say which
                            // (the acker may take a moment to record it).
                            let failed = state.progress.wait_for(|p| p.failed.is_some());
                            let why = match tokio::time::timeout(Duration::from_secs(1), failed).await {
                                Ok(Ok(p)) => p.failed.clone(),
                                _ => None,
                            };
                            return Err(Failure::Retry(match why {
                                Some(e) => format!("publishing: {e}"),
                                None => "the batcher stopped".into(),
                            }));
                        }
                    }
                }
                if state.unacked >= cfg.max_ack_pending / 2 {
                    finish_writing(&mut writing, state).await?;
                    checkpoint(shared, unit, ingest, state, true).await?;
                }
            }
        }
    }
}

/// The checkpoint being written while the unit consumes, if any.
type Writing<'a> = Option<Pin<Box<dyn Future<Output = Attempt<Written>> + Send + 'a>>>;

/// Waits for the checkpoint being written, if any, and records its head:
/// the next checkpoint names it.
async fn finish_writing(writing: &mut Writing<'_>, state: &mut State) -> Attempt<()> {
    if let Some(w) = writing.take() {
        state.written(w.await?);
    }
    Ok(())
}

/// Re-creates the unit's durable consumer to deliver after `seq`.
async fn reset_consumer(shared: &Shared, unit: &Unit, seq: u64) -> Attempt<consumer::PullConsumer> {
    let input = shared
        .js
        .get_stream(&shared.cfg.input_stream)
        .await
        .map_err(|e| retry("input stream")(e.to_string()))?;
    // Not found is fine (the server's error code, not its text); anything
    // else is retried.
    if let Err(e) = input.delete_consumer(&unit.consumer).await
        && !matches!(
            e.kind(),
            async_nats::jetstream::stream::ConsumerErrorKind::JetStream(j)
                if j.error_code() == async_nats::jetstream::ErrorCode::CONSUMER_NOT_FOUND
        )
    {
        return Err(retry("deleting the old consumer")(e.to_string()));
    }
    let deliver_policy = if seq == 0 {
        consumer::DeliverPolicy::All
    } else {
        consumer::DeliverPolicy::ByStartSequence {
            start_sequence: seq + 1,
        }
    };
    input
        .create_consumer(consumer::pull::Config {
            durable_name: Some(unit.consumer.clone()),
            description: Some(format!("pipeline durable unit {}", unit.key)),
            filter_subjects: unit.filter.clone(),
            deliver_policy,
            ack_policy: consumer::AckPolicy::All,
            ack_wait: Duration::from_secs(60),
            max_ack_pending: shared.cfg.max_ack_pending,
            ..Default::default()
        })
        .await
        .map_err(|e| retry("creating the consumer")(e.to_string()))
}
