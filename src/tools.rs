//! Tools for people (and tests): `pipeline publish` sends a pair's input
//! curve, or a recording's input column, as live streams; `pipeline tail`
//! prints translations as they arrive, with their error against the true
//! curve (or the recording's output column) and the latency.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::Client;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::pairs::{self, Pair};

use crate::wire::{SamplesOut, Translation};

mod figure;
mod stored;

pub use crate::wire::now_ns;

/// A signal whose sample `seq` is known: a pair's curves, or a recording's
/// two columns (row `seq`).
#[derive(Debug, Clone)]
pub enum Signal {
    Pair(&'static Pair),
    /// A recording's two channels by data row (`None`: the row was skipped
    /// for a bad cell).
    Recorded {
        input: std::sync::Arc<[Option<f32>]>,
        output: std::sync::Arc<[Option<f32>]>,
        /// Rows that follow a gap in the recording's time column (none
        /// without one): a window holding one and the row before it spans
        /// the gap, which training left out, so it is not scored.
        gaps: std::sync::Arc<[u64]>,
        /// Each row's time in seconds, as the time column reads (empty
        /// without one): what [`publish`] stamps a message with.
        times: std::sync::Arc<[Option<f64>]>,
    },
}

impl Signal {
    /// The recording's rows: row N (0-based, skipped rows counted) is
    /// sample N, so streams published from two columns of one file line up
    /// by `seq` whichever rows each skipped.
    pub fn recorded(r: &crate::recording::Recording) -> Self {
        Self::Recorded {
            input: r.by_row(|s| &s.input).into(),
            output: r.by_row(|s| &s.output).into(),
            gaps: r.time_gap_rows.iter().map(|&g| g as u64).collect(),
            times: r.row_times.clone().into(),
        }
    }

    /// Whether rows `first .. first + len` span a gap in time.
    pub fn spans_gap(&self, first: u64, len: u64) -> bool {
        match self {
            Self::Pair(_) => false,
            Self::Recorded { gaps, .. } => gaps.iter().any(|&g| first < g && g < first + len),
        }
    }

    pub fn input_at(&self, seq: u64) -> Option<f32> {
        match self {
            Self::Pair(p) => Some((p.input)(p.stream_x(seq)) as f32),
            Self::Recorded { input, .. } => input.get(seq as usize).copied().flatten(),
        }
    }

    pub fn output_at(&self, seq: u64) -> Option<f32> {
        match self {
            Self::Pair(p) => Some((p.output)(p.stream_x(seq)) as f32),
            Self::Recorded { output, .. } => output.get(seq as usize).copied().flatten(),
        }
    }

    /// Row `seq`'s recorded time in seconds (`None`: none recorded).
    pub(crate) fn time_at(&self, seq: u64) -> Option<f64> {
        match self {
            Self::Pair(_) => None,
            Self::Recorded { times, .. } => times.get(seq as usize).copied().flatten(),
        }
    }

    /// Rows available, skipped ones counted (`None`: endless).
    pub fn samples(&self) -> Option<u64> {
        match self {
            Self::Pair(_) => None,
            Self::Recorded { input, .. } => Some(input.len() as u64),
        }
    }
}

/// What `pipeline publish` sends.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// What the streams carry (a recording ends after its last row).
    pub signal: Signal,
    /// Stream keys; each gets the same curve.
    pub streams: Vec<String>,
    /// Subject prefix: samples go to `<prefix>.<stream>`.
    pub prefix: String,
    /// Samples per second per stream (0: as fast as possible).
    pub rate: f64,
    /// For a recording read with a time column: send each message when its
    /// first row's time since the first row sent, divided by `speed`, has
    /// passed (`rate` is then not used): the recording at its own pace, its
    /// gaps included, `speed` times faster.
    pub speed: Option<f64>,
    /// Samples per stream, then stop (`None`: until cancelled).
    pub count: Option<u64>,
    /// Samples per message (`value` when 1, `values` otherwise).
    pub batch: usize,
    /// Sequence number of the first sample.
    pub start_seq: u64,
    /// Publish into JetStream (durable mode's input stream): each message
    /// with `Nats-Msg-Id: <subject>:<seq>`, acknowledged before it counts,
    /// retried with the same id when an acknowledgement does not come (a
    /// server restart), so nothing is lost and nothing stored twice.
    pub jetstream: bool,
    /// The unit the samples are in (`"°F"`), sent in every message where
    /// known (the recording's column names it): a service whose model reads
    /// another refuses them instead of translating nonsense.
    pub unit: Option<String>,
}

/// What [`publish`] sent on each stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub samples: u64,
    /// Rows of a recording not sent: skipped for a bad cell in the input
    /// column (their `seq`s are missing from the stream).
    pub skipped: u64,
}

/// The next message from `seq` on, before `end`: its first `seq` and how many
/// samples it carries (up to `batch`). Rows without an input (skipped in the
/// recording) are not sent, and no message spans one, so the stream has a
/// gap where the file has one, as training had; nor does a message span a
/// gap in the recording's time, so that its first row's `ts` (see
/// [`Stamps`]) tells the service of each.
fn next_message(signal: &Signal, mut seq: u64, end: Option<u64>, batch: u64) -> Option<(u64, u64)> {
    while signal.input_at(seq).is_none() {
        if end.is_none_or(|e| seq >= e) {
            return None;
        }
        seq += 1;
    }
    let room = end.map_or(batch, |e| batch.min(e.saturating_sub(seq)));
    if room == 0 {
        return None;
    }
    let n = 1
        + (1..room)
            .take_while(|&k| signal.input_at(seq + k).is_some() && !signal.spans_gap(seq, k + 1))
            .count() as u64;
    Some((seq, n))
}

/// Seconds to ns, to the µs (exact in an f64 for dates to year 2255);
/// `as` and the multiplication saturate, so a stamp past 2262 is
/// `i64::MAX`, no panic.
fn ns(seconds: f64) -> i64 {
    ((seconds * 1e6).round() as i64).saturating_mul(1_000)
}

/// Publishes the signal's input on every stream. Sample `seq` is the pair's
/// input curve at [`Pair::stream_x`], or a recording's row `seq`.
pub async fn publish(client: &Client, opts: &PublishOptions) -> Result<Published> {
    publish_with(client, opts, &Progress::default()).await
}

/// How far a [`publish_with`] has come, readable while it runs: what a
/// replay stopped half way reports, so that `--start-seq` can go on from it.
#[derive(Debug, Default)]
pub struct Progress {
    next_seq: AtomicU64,
    samples: AtomicU64,
}

impl Progress {
    /// The `seq` of the next sample to send.
    pub fn next_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Relaxed)
    }

    /// Samples sent on each stream so far.
    pub fn samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }
}

/// [`publish`], keeping `progress` up to date message by message.
pub async fn publish_with(
    client: &Client,
    opts: &PublishOptions,
    progress: &Progress,
) -> Result<Published> {
    progress.next_seq.store(opts.start_seq, Ordering::Relaxed);
    let batch = opts.batch.max(1) as u64;
    let subjects: Vec<String> = opts
        .streams
        .iter()
        .map(|s| format!("{}.{s}", opts.prefix))
        .collect();
    let end = match (
        opts.count.map(|c| opts.start_seq + c),
        opts.signal.samples(),
    ) {
        (Some(e), Some(len)) => Some(e.min(len)),
        (e, len) => e.or(len),
    };
    let mut values = Vec::with_capacity(batch as usize);
    let first = next_message(&opts.signal, opts.start_seq, end, batch).map(|(seq, _)| seq);
    let stamps = Stamps::new(&opts.signal, first, end, &subjects);
    let mut pace = Pace::new(opts, first);
    let mut stored = opts.jetstream.then(|| stored::Stored::new(client));
    let (mut next, mut sent) = (opts.start_seq, 0);
    while let Some((seq, n)) = next_message(&opts.signal, next, end, batch) {
        pace.wait(&opts.signal, seq).await;
        values.clear();
        values.extend((seq..seq + n).filter_map(|s| opts.signal.input_at(s)));
        let samples = SamplesOut {
            seq,
            value: (n == 1).then(|| values[0]),
            values: (n > 1).then_some(values.as_slice()),
            ts: Some(stamps.ts(&opts.signal, seq)),
        };
        let msg = match &opts.unit {
            Some(unit) => samples.encode_with_unit(unit),
            None => samples.encode(),
        };
        let msg = bytes::Bytes::from(msg);
        for subject in &subjects {
            match stored.as_mut() {
                Some(stored) => stored.publish(subject, seq, msg.clone()).await?,
                None => client
                    .publish(subject.clone(), msg.clone())
                    .await
                    .map_err(|e| Error::Nats(format!("publish: {e}")))?,
            }
        }
        sent += n;
        next = seq + n;
        progress.samples.store(sent, Ordering::Relaxed);
        progress.next_seq.store(next, Ordering::Relaxed);
    }
    if let Some(stored) = stored.as_mut() {
        stored.settle(0).await?;
    }
    client
        .flush()
        .await
        .map_err(|e| Error::Nats(format!("flush: {e}")))?;
    // The loop ends at `end` (an endless signal never ends it).
    let covered = end.map_or(next, |e| e.max(opts.start_seq)) - opts.start_seq;
    Ok(Published {
        samples: sent,
        skipped: covered - sent,
    })
}

/// [`publish_with`] for several signals at once, each on its own streams
/// (a file of several devices' rows: each device's under its key), with
/// one [`Progress`] each; the first error ends them all.
pub async fn publish_all(
    client: &Client,
    runs: &[PublishOptions],
    progress: &[Progress],
) -> Result<Vec<Published>> {
    let all = (runs.iter().zip(progress)).map(|(opts, p)| publish_with(client, opts, p));
    futures::future::try_join_all(all).await
}

/// What `pipeline tail` does.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Subject to subscribe to (`translated.>`, or one stream's subject).
    pub subject: String,
    /// Stop after this many translations.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Compare with the true curve of streams made by `pipeline publish`
    /// (the translation's pair), or with this recording's output column.
    pub truth: bool,
    /// The recording the streams were published from (`publish --data`).
    pub recording: Option<Signal>,
    /// Or, from a file of several devices' rows (`--stream-column`), each
    /// stream's by its key: a stream not among them has no truth.
    pub by_stream: HashMap<String, Signal>,
    /// Print every n-th translation (0: none, only the summary).
    pub print_every: u64,
    /// Write a PNG of input / translation / truth for the first stream.
    pub plot: Option<PathBuf>,
    /// The plot's value axis (a recording's column, in its units);
    /// `None`: "value".
    pub y_label: Option<String>,
}

/// What `tail` saw.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TailSummary {
    pub windows: u64,
    pub streams: usize,
    /// Mean squared error against the true curve (with `truth`).
    pub mse: Option<f64>,
    /// The MSE over the variance of the truth it was scored against (the
    /// same values): 1 is what the truth's own mean would score, so over 1
    /// the translations are further from it than a flat line.
    pub nmse: Option<f64>,
    /// Windows the MSE is over: those whose every step has a truth (a
    /// recording's skipped rows have none).
    pub scored: u64,
    /// Sample publish → translation receipt, milliseconds (from `ts`).
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p99: Option<f64>,
    pub latency_ms_max: Option<f64>,
    /// Windows that came after a later one of their stream, and not twice.
    pub out_of_order: u64,
    /// Windows that came again (a stream and `seq` already received): what
    /// a service restarted after a crash publishes again from its last
    /// checkpoint, which a core subscriber receives twice (a durable output
    /// stream keeps each once).
    pub repeated: u64,
    /// Streams whose publisher started its count again (a seq back with a
    /// later stamp), which the service starts over: neither again nor late.
    #[serde(skip_serializing_if = "is_zero")]
    pub restarts: u64,
    /// Windows absent between two of a stream by `seq`: a skipped row (a
    /// window's worth each), or samples the service dropped (counted in its
    /// `pipeline_errors_total`, a slow consumer say), so a loss shows here.
    pub missing: u64,
    /// Windows whose `ts` is no time of publication (a recording's own
    /// time, as `publish --time-column` sends): no latency from them.
    pub recorded_times: u64,
    /// Windows stamped after they were received (the publisher's clock
    /// ahead of this host's), their latency read as 0, and by how much.
    #[serde(skip_serializing_if = "is_zero")]
    pub stamps_ahead: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ahead_ms_max: Option<f64>,
    /// The models that translated them, run by run as they came: a
    /// reload, promote or rollback starts the next run from its first
    /// window (A, then B, then A again after a rollback or restart).
    pub models: Vec<ModelSeen>,
    /// The unit the translations say they are in (the first that says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// With a file of several devices' truth: windows of streams it names
    /// no device of (their keys, up to 256), not scored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams_without_truth: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub windows_without_truth: u64,
    /// The seq of the first window a truth file gave no truth for (past
    /// its rows, or over a skipped one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_unscored_seq: Option<u64>,
    /// With a file of several devices' truth: each stream's scores, by
    /// name (up to 256 streams).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_stream: Vec<StreamScore>,
    /// Switches between models past the first [`RUNS`] runs, not listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub more_switches: u64,
    /// The model of the last window (where the next run starts).
    #[serde(skip)]
    pub(super) last_model: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A run of windows one model translated, among those `tail` saw.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ModelSeen {
    pub model: String,
    pub windows: u64,
    /// Its first window: stream and seq.
    pub first: (String, u64),
}

/// The signal a translation is compared with and plotted against.
fn signal_of(t: &Translation, opts: &TailOptions) -> Option<Signal> {
    if !opts.by_stream.is_empty() {
        return opts.by_stream.get(&t.stream).cloned();
    }
    match &opts.recording {
        Some(s) => Some(s.clone()),
        None => pairs::find(&t.pair).ok().map(Signal::Pair),
    }
}

fn truth_of(t: &Translation, opts: &TailOptions) -> Option<Vec<f32>> {
    let signal = signal_of(t, opts)?;
    if signal.spans_gap(t.seq, t.values.len() as u64) {
        return None;
    }
    (0..t.values.len() as u64)
        .map(|k| signal.output_at(t.seq + k))
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[i])
}

/// Subscribes and prints translations until `count`, `duration` or `stop`.
pub async fn tail(
    client: &Client,
    opts: &TailOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<TailSummary> {
    let mut sub = client
        .subscribe(opts.subject.clone())
        .await
        .map_err(|e| Error::Nats(format!("subscribe {}: {e}", opts.subject)))?;
    // A round trip, so the server knows the subscription before we say so.
    crate::nats::barrier(client).await.map_err(Error::Nats)?;
    tracing::info!(subject = %opts.subject, "listening");
    let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
    let sleep = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    tokio::pin!(stop);
    let mut summary = TailSummary::default();
    let (mut scores, mut streams) = (Scores::default(), ByStream::default());
    let mut latencies = Vec::new();
    let mut seqs: HashMap<String, SeqsSeen> = HashMap::new();
    let mut told_no_truth = false;
    let mut first_stream: Option<String> = None;
    let mut every = Every::new(opts.print_every);
    let mut kept: Vec<Translation> = Vec::new();
    while opts.count.is_none_or(|c| summary.windows < c) {
        let msg = tokio::select! {
            _ = &mut sleep => break,
            _ = &mut stop => break,
            m = sub.next() => match m { Some(m) => m, None => break },
        };
        let received = now_ns();
        let t = match Translation::decode(&msg.payload) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("{}: not a translation: {e}", msg.subject);
                continue;
            }
        };
        summary.windows += 1;
        add_run(&mut summary, &t);
        if summary.unit.is_none() {
            summary.unit.clone_from(&t.unit);
        }
        match seqs.get_mut(&t.stream) {
            Some(seen) => seen.add(t.seq, t.ts, &mut summary),
            None => {
                seqs.insert(t.stream.clone(), SeqsSeen::new(t.seq, t.ts));
            }
        }
        // A stamp that is no time of publication (a recording's own, from
        // `publish --data --time-column`) gives no latency.
        let latency = t.ts.and_then(|ts| crate::stats::latency_at(ts, received));
        let latency = latency.map(|s| s * 1e3);
        // Read as 0 where the stamp lies ahead of the receipt: said.
        let ahead = (latency.and(t.ts)).map(|ts| crate::window::stamp_ns(ts) - received);
        // (By more than a ms: hosts kept in step by NTP differ by less.)
        if let Some(ahead @ 1_000_001..) = ahead {
            summary.stamps_ahead += 1;
            let ms = ahead as f64 / 1e6;
            summary.ahead_ms_max = Some(summary.ahead_ms_max.map_or(ms, |m| m.max(ms)));
        }
        match latency {
            Some(l) => latencies.push(l),
            None if t.ts.is_some() => summary.recorded_times += 1,
            None => {}
        }
        let truth = if opts.truth { truth_of(&t, opts) } else { None };
        let recorded = opts.recording.is_some() || !opts.by_stream.is_empty();
        if opts.truth && !recorded && truth.is_none() && !told_no_truth {
            told_no_truth = true;
            tracing::warn!(
                "no truth for pair {:?}: it is not a built-in pair; for a model trained on a \
                 recording, pass --data FILE --truth-column COL",
                t.pair
            );
        }
        if opts.truth && !opts.by_stream.is_empty() && !opts.by_stream.contains_key(&t.stream) {
            summary.windows_without_truth += 1;
            let listed = &mut summary.streams_without_truth;
            if listed.len() < crate::recording::MAX_STREAMS && !listed.contains(&t.stream) {
                listed.push(t.stream.clone());
            }
        }
        if opts.truth && recorded && truth.is_none() {
            summary.first_unscored_seq.get_or_insert(t.seq);
        }
        if let Some(tr) = &truth {
            scores.add(&t.values, tr);
            if !opts.by_stream.is_empty() {
                streams.add(&t.stream, &t.values, tr);
            }
            summary.scored += 1;
        }
        if every.take(&t.stream) {
            println!("{}", describe(&t, truth.as_deref(), latency));
        }
        if opts.plot.is_some() && first_stream.get_or_insert_with(|| t.stream.clone()) == &t.stream
        {
            kept.push(t);
        }
    }
    summary.streams = seqs.len();
    (summary.mse, summary.nmse) = (scores.mse(), scores.nmse());
    summary.by_stream = streams.scores();
    latencies.sort_by(|a, b| a.total_cmp(b));
    summary.latency_ms_p50 = percentile(&latencies, 0.5);
    summary.latency_ms_p99 = percentile(&latencies, 0.99);
    summary.latency_ms_max = latencies.last().copied();
    if let Some(path) = &opts.plot {
        let y_label = opts.y_label.as_deref().unwrap_or("value");
        let signal = kept.first().and_then(|t| signal_of(t, opts));
        figure::plot_stream(path, &kept, signal.as_ref(), y_label)?;
    }
    Ok(summary)
}

mod lines;
use lines::Every;
pub use lines::describe;
mod seqs;
use seqs::{SeqsSeen, add_run};
mod pace;
use pace::Pace;
mod stamps;
use stamps::Stamps;
mod scores;
pub use scores::StreamScore;
use scores::{ByStream, Scores};
#[cfg(test)]
mod tests;
