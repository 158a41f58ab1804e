//! A unit's checkpoint in the KV bucket: the codec, taking ownership
//! (compare-and-set, leases), reading the windows back, and writing a new
//! generation before acknowledging the input.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use super::setup::{Unit, token};
use super::{Attempt, Failure, Shared, State, retry};
use crate::error::Error;
use crate::service::engine::{Progress, Verify};
use crate::service::ingest::Ingest;
use crate::stats::UnitState;
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
pub(super) struct Checkpoint {
    pub(super) version: u32,
    /// The instance that wrote it.
    pub(super) owner: String,
    /// The last input stream sequence reflected in the windows.
    pub(super) stream_seq: u64,
    /// Counts checkpoints; its parity picks the chunk set.
    pub(super) generation: u64,
    /// Keys of the chunks holding the windows, in order.
    pub(super) chunks: Vec<String>,
    /// Its owner stopped after writing it and handed the unit over: any
    /// instance may take it at once. (Absent in older checkpoints; an older
    /// build ignores it and waits a lease.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) released: bool,
    /// The model serving the unit's route when it was written (absent in
    /// older checkpoints): a restart that serves another (a model promoted
    /// or reloaded at run time is not in the configuration) says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) model: Option<Served>,
}

/// A model by its id and file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(super) struct Served {
    pub id: String,
    pub path: String,
}

impl Served {
    pub(super) fn of(ingest: &super::Ingest) -> Self {
        let live = ingest.route.current();
        Served {
            id: live.id.clone(),
            path: live.path.display().to_string(),
        }
    }
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

/// Takes ownership of the unit's checkpoint (see the module doc): its
/// revision, the checkpoint, and when the write that took it was sent (the
/// unit is held from then). `None` when stopped while standing by.
pub(super) async fn acquire(
    shared: &Shared,
    unit: &Unit,
    stop: &mut watch::Receiver<bool>,
) -> Attempt<Option<(u64, Checkpoint, Instant)>> {
    let me = &shared.instance;
    let lease = Duration::from_secs_f64(shared.cfg.lease_s);
    // The revision seen and since when (our clock): a revision that does not
    // move for a lease means its owner is gone. No clocks are compared.
    let mut seen: Option<(u64, Instant)> = None;
    loop {
        // A read changes nothing: stopping need not wait for its answer
        // (with the server gone, the client's 10 s timeout).
        let entry = tokio::select! {
            entry = shared.kv.entry(&unit.key) => entry,
            _ = stop.changed() => return Ok(None),
        };
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if bucket_gone(shared).await => {
                return Err(lost(
                    shared,
                    unit,
                    format!("its bucket was deleted while the unit ran ({e})"),
                ));
            }
            Err(e) => return Err(retry("reading the checkpoint")(e.to_string())),
        };
        let live = entry.filter(|e| e.operation == kv::Operation::Put);
        let Some(entry) = live else {
            if let Some(after) = resumed_after(shared, unit).await? {
                return Err(lost(
                    shared,
                    unit,
                    format!(
                        "there is none, but the unit's consumer has acknowledged input up to \
                         stream seq {after}, which only a checkpoint does"
                    ),
                ));
            }
            let fresh = Checkpoint {
                version: CHECKPOINT_VERSION,
                owner: me.clone(),
                stream_seq: 0,
                generation: 0,
                chunks: Vec::new(),
                released: false,
                model: None,
            };
            let sent = Instant::now();
            match shared.kv.create(&unit.key, fresh.encode()).await {
                Ok(rev) => {
                    shared.stats.unit(&unit.key, Some(UnitState::Owning));
                    return Ok(Some((rev, fresh, sent)));
                }
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => continue,
                Err(e) => return Err(retry("creating the checkpoint")(e.to_string())),
            }
        };
        let mut cp: Checkpoint = rmp_serde::from_slice(&entry.value)
            .map_err(|e| corrupt(shared, unit, format!("not readable ({e})")))?;
        if cp.version > CHECKPOINT_VERSION {
            return Err(corrupt(
                shared,
                unit,
                format!(
                    "format {} (this build reads up to {CHECKPOINT_VERSION})",
                    cp.version
                ),
            ));
        }
        let stale =
            matches!(seen, Some((rev, since)) if rev == entry.revision && since.elapsed() >= lease);
        if cp.owner == *me || stale || cp.released {
            let (from, released) = (std::mem::replace(&mut cp.owner, me.clone()), cp.released);
            let taken_over = from != *me;
            cp.released = false;
            let sent = Instant::now();
            match shared
                .kv
                .update(&unit.key, cp.encode(), entry.revision)
                .await
            {
                Ok(rev) => {
                    // Counted and said once taken (another standby may win
                    // the write, and then nothing was taken over); said
                    // last, so a reader of the log finds the counts done.
                    if taken_over {
                        shared.stats.durable_takeovers.fetch_add(1, Relaxed);
                    }
                    shared.stats.unit(&unit.key, Some(UnitState::Owning));
                    if taken_over && released {
                        tracing::info!(unit = %unit.key, %from, "taking over: its owner stopped and released it");
                    } else if taken_over {
                        tracing::warn!(unit = %unit.key, %from, "taking over: its owner wrote no checkpoint for {lease:?}");
                    }
                    return Ok(Some((rev, cp, sent)));
                }
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
                shared.stats.unit(&unit.key, Some(UnitState::StandingBy));
            }
            seen = Some((entry.revision, Instant::now()));
        }
        tokio::select! {
            _ = stop.changed() => return Ok(None),
            _ = tokio::time::sleep((lease / 4).min(Duration::from_secs(1))) => {}
        }
    }
}

/// How far the unit's consumer had got, when a checkpoint must have
/// existed there: input is acknowledged only once checkpointed, and a
/// consumer resumes only from a checkpoint. `None`: no consumer, or one at
/// the first sample with nothing acknowledged (a unit that never wrote a
/// checkpoint past its fresh one starts over just as it would resume).
async fn resumed_after(shared: &Shared, unit: &Unit) -> Attempt<Option<u64>> {
    use async_nats::jetstream::{consumer::DeliverPolicy, context::ConsumerInfoErrorKind};
    let stream = (shared.js.get_stream(&shared.cfg.input_stream).await)
        .map_err(|e| retry("input stream")(e.to_string()))?;
    match stream.consumer_info(&unit.consumer).await {
        Ok(info) => {
            let resumed = match info.config.deliver_policy {
                DeliverPolicy::ByStartSequence { start_sequence } => {
                    start_sequence.saturating_sub(1)
                }
                _ => 0,
            };
            let after = info.ack_floor.stream_sequence.max(resumed);
            Ok((after > 0).then_some(after))
        }
        Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => Ok(None),
        Err(e) => Err(retry("reading the consumer")(e.to_string())),
    }
}

/// Whether the checkpoint bucket's stream no longer exists (the server's
/// answer, not a guess from a failed read: a server restarting is retried).
async fn bucket_gone(shared: &Shared) -> bool {
    use async_nats::jetstream::{ErrorCode, context::GetStreamErrorKind};
    let name = format!("KV_{}", shared.cfg.checkpoint_bucket);
    matches!(
        shared.js.get_stream(&name).await.map_err(|e| e.kind()),
        Err(GetStreamErrorKind::JetStream(j)) if j.error_code() == ErrorCode::STREAM_NOT_FOUND
    )
}

/// A checkpoint that existed and is gone: the unit stops (see
/// `Error::CheckpointLost`).
fn lost(shared: &Shared, unit: &Unit, reason: String) -> Failure {
    let (stream, consumer) = (&shared.cfg.input_stream, &unit.consumer);
    Failure::Fatal(Error::CheckpointLost {
        bucket: shared.cfg.checkpoint_bucket.clone(),
        key: unit.key.clone(),
        reason: format!(
            "{reason}. Starting over would store every window of {stream} again; to do so \
             anyway, delete the consumer too: nats consumer rm {stream} {consumer}"
        ),
    })
}

/// A checkpoint this build cannot read back: the unit stops (see
/// `Error::Checkpoint`).
pub(super) fn corrupt(shared: &Shared, unit: &Unit, reason: String) -> Failure {
    Failure::Fatal(Error::Checkpoint {
        bucket: shared.cfg.checkpoint_bucket.clone(),
        key: unit.key.clone(),
        reason,
    })
}

/// A checkpoint past the end of its input stream: the stream was removed
/// and made again since (`nats stream rm`, then a publish or a unit's start
/// created it anew), and its sequence numbers started over; resuming would
/// skip the new stream's samples up to the checkpoint's without a word. The
/// unit stops, as for a checkpoint it cannot read.
pub(super) async fn behind_its_stream(
    shared: &Shared,
    unit: &Unit,
    cp: &Checkpoint,
) -> Attempt<()> {
    if cp.stream_seq == 0 {
        return Ok(());
    }
    let name = &shared.cfg.input_stream;
    let mut stream =
        (shared.js.get_stream(name).await).map_err(|e| retry("input stream")(e.to_string()))?;
    let last = (stream.info().await)
        .map_err(|e| retry("input stream")(e.to_string()))?
        .state
        .last_sequence;
    if cp.stream_seq <= last {
        return Ok(());
    }
    Err(corrupt(
        shared,
        unit,
        format!(
            "it is at {name} seq {}, past the stream's last message ({last}): the stream was \
             removed and made again since (its sequence numbers started over), and resuming \
             would skip its samples up to seq {} without a word",
            cp.stream_seq, cp.stream_seq
        ),
    ))
}

/// Reads the windows a checkpoint head names. A missing or unreadable
/// chunk is a corrupt checkpoint: the unit stops rather than lose windows.
pub(super) async fn load_windows(
    shared: &Shared,
    unit: &Unit,
    head: &Checkpoint,
) -> Attempt<Windows> {
    let mut windows = Windows::new();
    for key in &head.chunks {
        let corrupt = |why: String| corrupt(shared, unit, format!("chunk {key} {why}"));
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

/// A checkpoint taken at one point of the input, to be written once every
/// window handed on by then is stored. Taking it is synchronous (a copy of
/// the windows); writing it waits for the publisher and the bucket, so the
/// unit goes on consuming meanwhile (see [`write`]).
pub(super) struct Snapshot {
    /// Windows handed to the engine by then.
    sent: u64,
    /// The last input stream sequence the windows reflect.
    seq: u64,
    windows: Windows,
    /// Acks every input message up to `seq`.
    acker: Option<jetstream::message::Acker>,
    /// The head it replaces.
    revision: u64,
    generation: u64,
    chunks: Vec<String>,
    progress: watch::Receiver<Progress>,
    model: Served,
}

/// What a written checkpoint changes in the unit's state.
pub(super) struct Written {
    model: Served,
    /// When its head was sent: the unit was held from then.
    sent: Instant,
    revision: u64,
    generation: u64,
    chunks: Vec<String>,
    seq: u64,
}

/// Takes a checkpoint if there is news (or `force` with input to ack, or
/// the lease needs renewing). Call it only when no other is being written:
/// each names the head the one before it wrote.
pub(super) fn snapshot(
    shared: &Shared,
    ingest: &Ingest,
    state: &mut State,
    force: bool,
) -> Option<Snapshot> {
    let renew = state.written.elapsed().as_secs_f64() >= shared.cfg.lease_s / 3.0;
    if state.processed == state.checkpointed && !renew && !(force && state.last.is_some()) {
        return None;
    }
    // Its messages are acked once it is written: count from here.
    state.unacked = 0;
    Some(Snapshot {
        sent: state.sent,
        seq: state.processed,
        windows: ingest.save(),
        acker: state.last.take(),
        revision: state.revision,
        generation: state.generation,
        chunks: state.chunks.clone(),
        progress: state.progress.clone(),
        model: Served::of(ingest),
    })
}

/// Writes a snapshot: after every window handed on before it is stored,
/// its windows into the chunk set the head does not name, then the head
/// (compare-and-set), then the ack of its input.
pub(super) async fn write(shared: &Shared, unit: &Unit, snap: Snapshot) -> Attempt<Written> {
    let Snapshot {
        sent,
        seq,
        windows,
        acker,
        revision,
        generation,
        chunks: old_chunks,
        mut progress,
        model,
    } = snap;
    loop {
        let p = progress.borrow_and_update().clone();
        if let Some(e) = p.failed {
            return Err(Failure::Retry(format!("publishing: {e}")));
        }
        if p.stored >= sent {
            break;
        }
        if progress.changed().await.is_err() {
            return Err(Failure::Retry("the publisher stopped".into()));
        }
    }
    let generation = generation + 1;
    let prefix = format!(
        "{}.{}.{}",
        unit.key,
        token(&shared.instance),
        generation % 2
    );
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
        stream_seq: seq,
        generation,
        chunks: chunks.into_iter().map(|(k, _)| k).collect(),
        released: false,
        model: Some(model.clone()),
    };
    let sent = Instant::now();
    let revision = match shared.kv.update(&unit.key, head.encode(), revision).await {
        Ok(rev) => rev,
        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
            return Err(Failure::Fatal(Error::Nats(format!(
                "checkpoint {} was written by another instance: this one no longer owns it",
                unit.key
            ))));
        }
        Err(e) => return Err(retry("writing the checkpoint")(e.to_string())),
    };
    // Chunks of a previous owner (a takeover) are not reused: remove them.
    let mine = format!("{}.{}.", unit.key, token(&shared.instance));
    for old in old_chunks.iter().filter(|k| !k.starts_with(&mine)) {
        let _ = shared.kv.purge(old).await;
    }
    shared.stats.checkpoints.fetch_add(1, Relaxed);
    if let Some(acker) = acker {
        // A lost ack only means a redelivery, which is skipped.
        if let Err(e) = acker.ack().await {
            tracing::debug!(unit = %unit.key, "ack: {e}");
        }
    }
    Ok(Written {
        model,
        sent,
        revision,
        generation,
        chunks: head.chunks,
        seq,
    })
}

impl State {
    /// Records a written checkpoint as the unit's head.
    pub(super) fn written(&mut self, w: Written) {
        self.revision = w.revision;
        self.generation = w.generation;
        self.chunks = w.chunks;
        self.checkpointed = w.seq;
        self.written = Instant::now();
        self.lease.confirm(w.sent);
        self.model = Some(w.model);
    }
}

/// Hands the unit over after its last checkpoint: the same head, marked
/// released. Compare-and-set on the head this owner wrote, so a unit already
/// taken over is left alone. When this fails (the server is gone), a
/// standby takes the unit after a lease, as after a crash.
pub(super) async fn release(shared: &Shared, unit: &Unit, state: &State) {
    let head = Checkpoint {
        version: CHECKPOINT_VERSION,
        owner: shared.instance.clone(),
        stream_seq: state.checkpointed,
        generation: state.generation,
        chunks: state.chunks.clone(),
        released: true,
        model: state.model.clone(),
    };
    match shared
        .kv
        .update(&unit.key, head.encode(), state.revision)
        .await
    {
        Ok(_) => tracing::info!(unit = %unit.key, "released: a standby may take the unit at once"),
        Err(e) => {
            tracing::info!(unit = %unit.key, "not released ({e}): a standby takes the unit after a lease")
        }
    }
}

/// Who owns the unit's checkpoint now, for the publisher's lease (see
/// `engine::lease`): an error unless this instance does.
pub(super) fn owner_check(shared: &Shared, unit: &Unit) -> Verify {
    let (kv, key, me) = (shared.kv.clone(), unit.key.clone(), shared.instance.clone());
    Box::new(move || {
        let (kv, key, me) = (kv.clone(), key.clone(), me.clone());
        Box::pin(async move {
            let value = (kv.get(key.as_str()).await)
                .map_err(|e| format!("reading checkpoint {key} to see who owns it: {e}"))?
                .ok_or_else(|| format!("checkpoint {key} is gone"))?;
            let cp: Checkpoint = rmp_serde::from_slice(&value)
                .map_err(|e| format!("checkpoint {key} is not readable: {e}"))?;
            if cp.owner == me {
                Ok(())
            } else {
                Err(format!(
                    "checkpoint {key} belongs to instance {:?} now: this one went a lease \
                     without a checkpoint (paused?) and was taken over, so what it computed \
                     before is not published",
                    cp.owner
                ))
            }
        })
    })
}

/// Takes and writes a checkpoint, waiting for it (when stopping, or when too
/// much input is unacknowledged to go on).
pub(super) async fn checkpoint(
    shared: &Shared,
    unit: &Unit,
    ingest: &Ingest,
    state: &mut State,
    force: bool,
) -> Attempt<()> {
    if let Some(snap) = snapshot(shared, ingest, state, force) {
        let w = write(shared, unit, snap).await?;
        state.written(w);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip() {
        let cp = Checkpoint {
            version: CHECKPOINT_VERSION,
            owner: "host-1".into(),
            stream_seq: 42,
            generation: 7,
            chunks: vec!["sin-cos.all.host-1.1.0".into()],
            released: true,
            model: Some(Served {
                id: "61e09ef96e057b53".into(),
                path: "models/wind-power.safetensors".into(),
            }),
        };
        let back: Checkpoint = rmp_serde::from_slice(&cp.encode()).unwrap();
        assert_eq!(back, cp);
        let windows: Windows = vec![(
            "pump.7".into(),
            SavedWindow {
                next_seq: Some(9),
                run: 9,
                tail: vec![1.5, -2.0],
                last_ts: Some((8, 1_764_320_000_000_000_000)),
                unnumbered: true,
                hold: None,
            },
        )];
        let back: Windows =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&windows).unwrap()).unwrap();
        assert_eq!(back, windows);
    }
}
