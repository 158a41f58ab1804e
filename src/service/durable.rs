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
//! 2. **Resume at the checkpoint.** The durable pull consumer is re-created
//!    to deliver from `stream_seq + 1` and the windows are restored. The
//!    checkpoint, not the consumer, is the source of truth: consumer
//!    position and window state always move together.
//! 3. **Process** messages in stream order through the shared batcher and
//!    compute threads. Outputs are published to JetStream with
//!    `Nats-Msg-Id = {output subject}:{seq}`, so a replay after a crash is
//!    discarded by the output stream's duplicate window, whichever model
//!    computes it (a model may be reloaded or promoted in between).
//! 4. **Checkpoint** every `checkpoint_ms`: wait until every window handed
//!    to the batcher so far is stored (publish acknowledged), write the
//!    checkpoint, then acknowledge the input up to the last processed
//!    message (`AckPolicy::All`). A sample is thus acked only after all its
//!    windows are stored and the windows it is part of are in a checkpoint.
//!
//! Any error (server restart, lost publish, consumer gone) ends the attempt
//! and the unit starts again from step 1: the crash-recovery path is the
//! only recovery path, so it is the one every test exercises.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::{self, consumer, kv, stream};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use super::engine::{self, BatchLimits, Compute, Progress, Sink};
use super::events::Reporter;
use super::ingest::{Ingest, IngestLimits};
use super::route::Route;
use crate::config::{DurableConfig, ServeConfig};
use crate::error::{Error, Result};
use crate::stats::Stats;
use crate::window::SavedWindow;

/// Checkpoint format version; a newer one is refused.
const CHECKPOINT_VERSION: u32 = 1;

/// What a unit's KV key holds: the head of a checkpoint. The windows
/// themselves are in chunk keys it lists, since one KV value is limited by
/// the server's `max_payload` (1 MB by default, ~7,000 streams).
///
/// Chunks of generation g are written under `<unit>.<owner>.<g % 2>.<i>`
/// *before* the head moves to g (compare-and-set), so the chunks the head
/// names are never being overwritten: a crash mid-write leaves the old head
/// and its chunks intact. Another owner writes under its own name, so a
/// fenced-off instance cannot overwrite the new owner's chunks either.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Checkpoint {
    version: u32,
    /// The instance that wrote it.
    owner: String,
    /// The last input stream sequence reflected in the windows.
    stream_seq: u64,
    /// Counts checkpoints; its parity picks the chunk set.
    generation: u64,
    /// Keys of the chunks holding the windows, in order.
    chunks: Vec<String>,
}

/// Streams per chunk: 1,000 × at most ~400 bytes (a 256-byte key and its
/// window) stays well under 1 MB.
const STREAMS_PER_CHUNK: usize = 1_000;

type Windows = Vec<(String, SavedWindow)>;

impl Checkpoint {
    fn encode(&self) -> Bytes {
        rmp_serde::to_vec_named(self).unwrap_or_default().into()
    }
}

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

/// One route (and partition) in durable mode.
pub(super) struct Unit {
    route: Arc<Route>,
    /// KV key of the checkpoint, e.g. `sin-cos.p3` or `sin-cos.all`.
    key: String,
    /// Durable consumer name.
    consumer: String,
    /// The consumer's filter subjects.
    filter: Vec<String>,
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
    /// Changes on every disconnect from NATS.
    pub epoch: watch::Receiver<u64>,
}

/// The durable consumer of a route's pair (and partition) on the input
/// stream: one name, used by the service and by whoever waits for it.
pub fn consumer_name(pair: &str, partition: Option<u32>) -> String {
    let pair = token(pair);
    match partition {
        Some(p) => format!("pipeline_{pair}_p{p}"),
        None => format!("pipeline_{pair}"),
    }
}

/// Names may only hold letters, digits, `-` and `_` (consumer names and KV
/// key tokens); anything else in a pair name becomes `_`.
fn token(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// [`setup`], retried with back-off while JetStream is not answering
/// (servers starting, a cluster still electing its leader).
pub(super) async fn setup_with_retry(
    client: &Client,
    config: &ServeConfig,
    cfg: &DurableConfig,
    routes: &[Arc<Route>],
) -> Result<(jetstream::Context, kv::Store, Vec<Unit>)> {
    let mut backoff = Duration::from_millis(250);
    let started = Instant::now();
    loop {
        match setup(client, config, cfg, routes).await {
            Err(Error::Nats(e))
                if [
                    "timed out",
                    "no responders",
                    "unavailable",
                    "not enabled",
                    "leader",
                ]
                .iter()
                .any(|t| e.contains(t)) =>
            {
                tracing::warn!(
                    waited = ?started.elapsed(),
                    "JetStream is not answering yet ({e}); retrying in {backoff:?}"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// Creates (or finds) the input and output streams and the checkpoint
/// bucket, and lists the units this instance runs.
async fn setup(
    client: &Client,
    config: &ServeConfig,
    cfg: &DurableConfig,
    routes: &[Arc<Route>],
) -> Result<(jetstream::Context, kv::Store, Vec<Unit>)> {
    let js = jetstream::new(client.clone());
    let nats = |what: &str| {
        let what = what.to_string();
        move |e: String| Error::Nats(format!("{what}: {e}"))
    };
    let mut inputs: Vec<String> = routes
        .iter()
        .map(|r| r.cfg.input.replace(crate::window::PARTITION_TOKEN, "*"))
        .collect();
    inputs.dedup();
    let outputs: Vec<String> = routes
        .iter()
        .map(|r| format!("{}.>", r.cfg.output))
        .collect();
    let input = js
        .get_or_create_stream(stream::Config {
            name: cfg.input_stream.clone(),
            subjects: inputs,
            storage: stream::StorageType::File,
            num_replicas: cfg.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| nats(&format!("input stream {}", cfg.input_stream))(e.to_string()))?;
    let want_dupes = Duration::from_secs_f64(cfg.duplicate_window_s);
    let mut output = js
        .get_or_create_stream(stream::Config {
            name: cfg.output_stream.clone(),
            subjects: outputs,
            storage: stream::StorageType::File,
            duplicate_window: want_dupes,
            num_replicas: cfg.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| nats(&format!("output stream {}", cfg.output_stream))(e.to_string()))?;
    let dupes = output
        .info()
        .await
        .map(|i| i.config.duplicate_window)
        .unwrap_or(want_dupes);
    if dupes < Duration::from_secs(120) {
        tracing::warn!(
            stream = %cfg.output_stream, ?dupes,
            "the output stream's duplicate window is under 2 minutes: replays after a long outage may duplicate"
        );
    }
    let kv = match js.get_key_value(&cfg.checkpoint_bucket).await {
        Ok(kv) => kv,
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: cfg.checkpoint_bucket.clone(),
                history: 1,
                storage: stream::StorageType::File,
                num_replicas: cfg.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                nats(&format!("checkpoint bucket {}", cfg.checkpoint_bucket))(e.to_string())
            })?,
    };
    tracing::info!(
        input = %input.cached_info().config.name, output = %cfg.output_stream,
        bucket = %cfg.checkpoint_bucket, "durable mode"
    );
    let owned: Vec<Option<u32>> = match &config.partitions {
        Some(p) => p.owned.iter().map(|o| Some(*o)).collect(),
        None => vec![None],
    };
    let mut units = Vec::new();
    for route in routes {
        for part in &owned {
            let pair = token(&route.cfg.pair);
            let consumer = consumer_name(&route.cfg.pair, *part);
            let (key, filter) = match part {
                Some(p) => (
                    format!("{pair}.p{p}"),
                    crate::window::subscriptions(&route.cfg.input, &[*p]),
                ),
                None => (format!("{pair}.all"), vec![route.cfg.input.clone()]),
            };
            units.push(Unit {
                route: route.clone(),
                key,
                consumer,
                filter,
            });
        }
    }
    Ok((js, kv, units))
}

/// Runs one unit until `stop`, resuming from its checkpoint after errors.
/// Returns an error only when it cannot go on.
pub(super) async fn run_unit(
    shared: Arc<Shared>,
    unit: Unit,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match attempt(&shared, &unit, &mut stop).await {
            Ok(()) => return Ok(()),
            Err(Failure::Fatal(e)) => {
                tracing::error!(unit = %unit.key, "durable unit stopped: {e}");
                return Err(e);
            }
            Err(Failure::Retry(e)) => {
                shared.stats.durable_restarts.fetch_add(1, Relaxed);
                tracing::warn!(unit = %unit.key, "{e}; resuming from the last checkpoint in {backoff:?}");
                tokio::select! {
                    _ = stop.changed() => return Ok(()),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Takes ownership of the unit's checkpoint (see the module doc). `None`
/// when stopped while standing by.
async fn acquire(
    shared: &Shared,
    unit: &Unit,
    stop: &mut watch::Receiver<bool>,
) -> Attempt<Option<(u64, Checkpoint)>> {
    let me = &shared.instance;
    let lease = Duration::from_secs_f64(shared.cfg.lease_s);
    // The revision seen and since when (our clock): a revision that does not
    // move for a lease means its owner is gone. No clocks are compared.
    let mut seen: Option<(u64, Instant)> = None;
    loop {
        let entry = shared
            .kv
            .entry(&unit.key)
            .await
            .map_err(|e| retry("reading the checkpoint")(e.to_string()))?;
        let live = entry.filter(|e| e.operation == kv::Operation::Put);
        let Some(entry) = live else {
            let fresh = Checkpoint {
                version: CHECKPOINT_VERSION,
                owner: me.clone(),
                stream_seq: 0,
                generation: 0,
                chunks: Vec::new(),
            };
            match shared.kv.create(&unit.key, fresh.encode()).await {
                Ok(rev) => return Ok(Some((rev, fresh))),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => continue,
                Err(e) => return Err(retry("creating the checkpoint")(e.to_string())),
            }
        };
        let mut cp: Checkpoint = rmp_serde::from_slice(&entry.value).map_err(|e| {
            Failure::Fatal(Error::Config(format!(
                "checkpoint {}/{} is not readable ({e}); delete the key to start over",
                shared.cfg.checkpoint_bucket, unit.key
            )))
        })?;
        if cp.version > CHECKPOINT_VERSION {
            return Err(Failure::Fatal(Error::Config(format!(
                "checkpoint {} has format {} (this build reads up to {CHECKPOINT_VERSION})",
                unit.key, cp.version
            ))));
        }
        let stale =
            matches!(seen, Some((rev, since)) if rev == entry.revision && since.elapsed() >= lease);
        if cp.owner == *me || stale {
            if cp.owner != *me {
                tracing::warn!(unit = %unit.key, from = %cp.owner, "taking over: its owner wrote no checkpoint for {lease:?}");
            }
            cp.owner = me.clone();
            match shared
                .kv
                .update(&unit.key, cp.encode(), entry.revision)
                .await
            {
                Ok(rev) => return Ok(Some((rev, cp))),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    seen = None;
                    continue;
                }
                Err(e) => return Err(retry("taking the checkpoint")(e.to_string())),
            }
        }
        if seen.map(|s| s.0) != Some(entry.revision) {
            if seen.is_none() {
                tracing::info!(unit = %unit.key, owner = %cp.owner, "standing by: another instance owns this unit");
            }
            seen = Some((entry.revision, Instant::now()));
        }
        tokio::select! {
            _ = stop.changed() => return Ok(None),
            _ = tokio::time::sleep((lease / 4).min(Duration::from_secs(1))) => {}
        }
    }
}

/// Reads the windows a checkpoint head names. A missing or unreadable
/// chunk is a corrupt checkpoint: the unit stops rather than lose windows.
async fn load_windows(shared: &Shared, unit: &Unit, head: &Checkpoint) -> Attempt<Windows> {
    let mut windows = Windows::new();
    for key in &head.chunks {
        let corrupt = |why: String| {
            Failure::Fatal(Error::Config(format!(
                "checkpoint {}/{}: chunk {key} {why}; delete the key to start over",
                shared.cfg.checkpoint_bucket, unit.key
            )))
        };
        let bytes = shared
            .kv
            .get(key)
            .await
            .map_err(|e| retry("reading the checkpoint's windows")(e.to_string()))?
            .ok_or_else(|| corrupt("is missing".into()))?;
        let chunk: Windows =
            rmp_serde::from_slice(&bytes).map_err(|e| corrupt(format!("is not readable ({e})")))?;
        windows.extend(chunk);
    }
    Ok(windows)
}

/// One run of the protocol, from taking the checkpoint to an error or stop.
async fn attempt(shared: &Shared, unit: &Unit, stop: &mut watch::Receiver<bool>) -> Attempt<()> {
    let Some((revision, saved)) = acquire(shared, unit, stop).await? else {
        return Ok(());
    };
    let windows = load_windows(shared, unit, &saved).await?;
    let route = &unit.route;

    // This attempt's own engine, fed by its ingest; the compute threads
    // are shared.
    let (progress_tx, progress) = watch::channel(Progress::default());
    let sink = Sink::Stored {
        js: shared.js.clone(),
        progress: progress_tx,
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
    ingest.restore(&windows).map_err(Failure::Fatal)?;
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
        progress,
    };
    tracing::info!(
        unit = %unit.key, from = saved.stream_seq + 1, streams = windows.len(),
        "resuming from checkpoint"
    );
    let result = consume(shared, unit, &mut ingest, &mut state, stop).await;
    let result = match result {
        // Stopping: what was handed on is stored, then a last checkpoint.
        Ok(()) => checkpoint(shared, unit, &ingest, &mut state, true).await,
        Err(e) => Err(e),
    };
    ingest.finish();
    for task in engine {
        let _ = task.await;
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
    progress: watch::Receiver<Progress>,
}

async fn consume(
    shared: &Shared,
    unit: &Unit,
    ingest: &mut Ingest,
    state: &mut State,
    stop: &mut watch::Receiver<bool>,
) -> Attempt<()> {
    let cfg = &shared.cfg;
    let consumer = reset_consumer(shared, unit, state.checkpointed).await?;
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
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            _ = epoch.changed() => {
                return Err(Failure::Retry(
                    "the connection to NATS dropped: deliveries in flight may be lost".into(),
                ));
            }
            _ = tick.tick() => checkpoint(shared, unit, ingest, state, false).await?,
            _ = sweep.tick() => ingest.evict_idle(),
            m = messages.next() => {
                let m = match m {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => return Err(Failure::Retry(format!("consumer {}: {e}", unit.consumer))),
                    None => return Err(Failure::Retry("the consumer's message stream ended".into())),
                };
                let info = m.info().map_err(|e| retry("message info")(e.to_string()))?;
                let seq = info.stream_sequence;
                // Deliveries of a fresh consumer are numbered 1, 2, 3, …: a
                // jump means some were lost with a dropped connection. Acking
                // past them would lose them, so start again from the
                // checkpoint instead.
                if info.consumer_sequence != state.delivered + 1 {
                    return Err(Failure::Retry(format!(
                        "deliveries {}..{} were lost (a dropped connection): the first lost \
                         is the unit's next message in {} after seq {}",
                        state.delivered + 1,
                        info.consumer_sequence - 1,
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
                    match ingest.handle(msg).await {
                        Some(n) => state.sent += n,
                        None => return Err(Failure::Retry("the batcher stopped".into())),
                    }
                }
                if state.unacked >= cfg.max_ack_pending / 2 {
                    checkpoint(shared, unit, ingest, state, true).await?;
                }
            }
        }
    }
}

/// Re-creates the unit's durable consumer to deliver after `seq`.
async fn reset_consumer(shared: &Shared, unit: &Unit, seq: u64) -> Attempt<consumer::PullConsumer> {
    let input = shared
        .js
        .get_stream(&shared.cfg.input_stream)
        .await
        .map_err(|e| retry("input stream")(e.to_string()))?;
    // Not found is fine; anything else is retried.
    if let Err(e) = input.delete_consumer(&unit.consumer).await
        && !e.to_string().contains("not found")
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

/// Writes a checkpoint if there is news (or `force`, or the lease needs
/// renewing), after every window handed on is stored; then acks the input.
async fn checkpoint(
    shared: &Shared,
    unit: &Unit,
    ingest: &Ingest,
    state: &mut State,
    force: bool,
) -> Attempt<()> {
    let renew = state.written.elapsed().as_secs_f64() >= shared.cfg.lease_s / 3.0;
    if state.processed == state.checkpointed && !renew && !(force && state.last.is_some()) {
        return Ok(());
    }
    let target = state.sent;
    loop {
        let p = state.progress.borrow_and_update().clone();
        if let Some(e) = p.failed {
            return Err(Failure::Retry(format!("publishing: {e}")));
        }
        if p.stored >= target {
            break;
        }
        if state.progress.changed().await.is_err() {
            return Err(Failure::Retry("the publisher stopped".into()));
        }
    }
    // The windows first, into the chunk set the head does not name.
    let generation = state.generation + 1;
    let prefix = format!(
        "{}.{}.{}",
        unit.key,
        token(&shared.instance),
        generation % 2
    );
    let windows = ingest.save();
    let chunks: Vec<(String, Bytes)> = windows
        .chunks(STREAMS_PER_CHUNK)
        .enumerate()
        .map(|(i, c)| {
            let bytes = rmp_serde::to_vec_named(c).unwrap_or_default();
            (format!("{prefix}.{i}"), bytes.into())
        })
        .collect();
    futures::future::try_join_all(chunks.iter().map(|(k, b)| shared.kv.put(k, b.clone())))
        .await
        .map_err(|e| retry("writing the checkpoint's windows")(e.to_string()))?;
    let head = Checkpoint {
        version: CHECKPOINT_VERSION,
        owner: shared.instance.clone(),
        stream_seq: state.processed,
        generation,
        chunks: chunks.into_iter().map(|(k, _)| k).collect(),
    };
    match shared
        .kv
        .update(&unit.key, head.encode(), state.revision)
        .await
    {
        Ok(rev) => state.revision = rev,
        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
            return Err(Failure::Fatal(Error::Nats(format!(
                "checkpoint {} was written by another instance: this one no longer owns it",
                unit.key
            ))));
        }
        Err(e) => return Err(retry("writing the checkpoint")(e.to_string())),
    }
    // Chunks of a previous owner (a takeover) are not reused: remove them.
    let mine = format!("{}.{}.", unit.key, token(&shared.instance));
    for old in state.chunks.iter().filter(|k| !k.starts_with(&mine)) {
        let _ = shared.kv.purge(old).await;
    }
    state.generation = generation;
    state.chunks = head.chunks;
    shared.stats.checkpoints.fetch_add(1, Relaxed);
    state.checkpointed = state.processed;
    state.written = Instant::now();
    if let Some(acker) = state.last.take() {
        // A lost ack only means a redelivery, which is skipped.
        if let Err(e) = acker.ack().await {
            tracing::debug!(unit = %unit.key, "ack: {e}");
        }
    }
    state.unacked = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe() {
        assert_eq!(token("sin-cos"), "sin-cos");
        assert_eq!(token("a.b c*"), "a_b_c_");
    }

    #[test]
    fn checkpoints_round_trip() {
        let cp = Checkpoint {
            version: CHECKPOINT_VERSION,
            owner: "host-1".into(),
            stream_seq: 42,
            generation: 7,
            chunks: vec!["sin-cos.all.host-1.1.0".into()],
        };
        let back: Checkpoint = rmp_serde::from_slice(&cp.encode()).unwrap();
        assert_eq!(back, cp);
        let windows: Windows = vec![(
            "pump.7".into(),
            SavedWindow {
                next_seq: Some(9),
                run: 9,
                tail: vec![1.5, -2.0],
            },
        )];
        let back: Windows =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&windows).unwrap()).unwrap();
        assert_eq!(back, windows);
    }
}
