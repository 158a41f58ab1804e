//! Tools for people (and tests): `pipeline publish` sends a pair's input
//! curve, or a recording's input column, as live streams; `pipeline tail`
//! prints translations as they arrive, with their error against the true
//! curve (or the recording's output column) and the latency.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::Client;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::pairs::{self, Pair};
use crate::plot::{self, Chart, Line};
use crate::wire::{SamplesOut, Translation};

pub use crate::wire::now_ns;

/// A signal whose sample `seq` is known: a pair's curves, or a recording's
/// two columns (row `seq`).
#[derive(Debug, Clone)]
pub enum Signal {
    Pair(&'static Pair),
    Recorded {
        input: std::sync::Arc<[f32]>,
        output: std::sync::Arc<[f32]>,
    },
}

impl Signal {
    /// The recording's rows (all segments, in order).
    pub fn recorded(r: &crate::recording::Recording) -> Self {
        Self::Recorded {
            input: r.input().collect(),
            output: r.output().collect(),
        }
    }

    pub fn input_at(&self, seq: u64) -> Option<f32> {
        match self {
            Self::Pair(p) => Some((p.input)(p.stream_x(seq)) as f32),
            Self::Recorded { input, .. } => input.get(seq as usize).copied(),
        }
    }

    pub fn output_at(&self, seq: u64) -> Option<f32> {
        match self {
            Self::Pair(p) => Some((p.output)(p.stream_x(seq)) as f32),
            Self::Recorded { output, .. } => output.get(seq as usize).copied(),
        }
    }

    /// Samples available (`None`: endless).
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
    /// Samples per stream, then stop (`None`: until cancelled).
    pub count: Option<u64>,
    /// Samples per message (`value` when 1, `values` otherwise).
    pub batch: usize,
    /// Sequence number of the first sample.
    pub start_seq: u64,
}

/// Publishes the signal's input on every stream; returns samples sent per
/// stream. Sample `seq` is the pair's input curve at [`Pair::stream_x`], or
/// a recording's row `seq`.
pub async fn publish(client: &Client, opts: &PublishOptions) -> Result<u64> {
    let batch = opts.batch.max(1) as u64;
    let subjects: Vec<String> = opts
        .streams
        .iter()
        .map(|s| format!("{}.{s}", opts.prefix))
        .collect();
    let mut ticker = (opts.rate > 0.0).then(|| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(batch as f64 / opts.rate));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        t
    });
    let mut seq = opts.start_seq;
    let end = match (
        opts.count.map(|c| opts.start_seq + c),
        opts.signal.samples(),
    ) {
        (Some(e), Some(len)) => Some(e.min(len)),
        (e, len) => e.or(len),
    };
    let mut values = Vec::with_capacity(batch as usize);
    loop {
        let n = match end {
            Some(e) if seq >= e => break,
            Some(e) => batch.min(e - seq),
            None => batch,
        };
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        values.clear();
        values.extend((seq..seq + n).filter_map(|s| opts.signal.input_at(s)));
        let msg = SamplesOut {
            seq,
            value: (n == 1).then(|| values[0]),
            values: (n > 1).then_some(values.as_slice()),
            ts: Some(now_ns()),
        }
        .encode();
        for subject in &subjects {
            client
                .publish(subject.clone(), msg.clone().into())
                .await
                .map_err(|e| Error::Nats(format!("publish: {e}")))?;
        }
        seq += n;
    }
    client
        .flush()
        .await
        .map_err(|e| Error::Nats(format!("flush: {e}")))?;
    Ok(seq - opts.start_seq)
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
    /// Print every n-th translation (0: none, only the summary).
    pub print_every: u64,
    /// Write a PNG of input / translation / truth for the first stream.
    pub plot: Option<PathBuf>,
}

/// What `tail` saw.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TailSummary {
    pub windows: u64,
    pub streams: usize,
    /// Mean squared error against the true curve (with `truth`).
    pub mse: Option<f64>,
    /// Sample publish → translation receipt, milliseconds (from `ts`).
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p99: Option<f64>,
    pub latency_ms_max: Option<f64>,
    /// Windows whose `seq` was not after the previous one of their stream.
    pub out_of_order: u64,
}

/// The signal a translation is compared with and plotted against.
fn signal_of(t: &Translation, recording: Option<&Signal>) -> Option<Signal> {
    match recording {
        Some(s) => Some(s.clone()),
        None => pairs::find(&t.pair).ok().map(Signal::Pair),
    }
}

fn truth_of(t: &Translation, recording: Option<&Signal>) -> Option<Vec<f32>> {
    let signal = signal_of(t, recording)?;
    (0..t.values.len() as u64)
        .map(|k| signal.output_at(t.seq + k))
        .collect()
}

/// Formats one translation for people.
pub fn describe(t: &Translation, truth: Option<&[f32]>, latency_ms: Option<f64>) -> String {
    let vals: Vec<String> = t
        .values
        .iter()
        .take(4)
        .map(|v| format!("{v:+.4}"))
        .collect();
    let mut line = format!(
        "{} seq {} [{} … {:+.4}] ({} values, {})",
        t.stream,
        t.seq,
        vals.join(" "),
        t.values.last().copied().unwrap_or(f32::NAN),
        t.values.len(),
        t.pair
    );
    if let Some(truth) = truth {
        line.push_str(&format!("  mse {:.2e}", crate::eval::mse(&t.values, truth)));
    }
    if let Some(l) = latency_ms {
        line.push_str(&format!("  latency {l:.2} ms"));
    }
    line
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
    let (mut se, mut n_err) = (0f64, 0usize);
    let mut latencies = Vec::new();
    let mut last_seq: HashMap<String, u64> = HashMap::new();
    let mut first_stream: Option<String> = None;
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
        if let Some(prev) = last_seq.insert(t.stream.clone(), t.seq)
            && t.seq <= prev
        {
            summary.out_of_order += 1;
        }
        let latency = t.ts.map(|ts| (received - ts) as f64 / 1e6);
        if let Some(l) = latency {
            latencies.push(l);
        }
        let truth = if opts.truth {
            truth_of(&t, opts.recording.as_ref())
        } else {
            None
        };
        if let Some(tr) = &truth {
            se += crate::eval::mse(&t.values, tr) * tr.len() as f64;
            n_err += tr.len();
        }
        if opts.print_every > 0 && (summary.windows - 1) % opts.print_every == 0 {
            println!("{}", describe(&t, truth.as_deref(), latency));
        }
        if opts.plot.is_some() && first_stream.get_or_insert_with(|| t.stream.clone()) == &t.stream
        {
            kept.push(t);
        }
    }
    summary.streams = last_seq.len();
    summary.mse = (n_err > 0).then(|| se / n_err as f64);
    latencies.sort_by(|a, b| a.total_cmp(b));
    summary.latency_ms_p50 = percentile(&latencies, 0.5);
    summary.latency_ms_p99 = percentile(&latencies, 0.99);
    summary.latency_ms_max = latencies.last().copied();
    if let Some(path) = &opts.plot {
        plot_stream(path, &kept, opts.recording.as_ref())?;
    }
    Ok(summary)
}

/// Input, translation and truth of one stream: the translations of the
/// first few windows that do not overlap (every W-th), laid end to end.
fn plot_stream(
    path: &std::path::Path,
    windows: &[Translation],
    recording: Option<&Signal>,
) -> Result<()> {
    let Some(first) = windows.first() else {
        return Err(Error::Data("no translations to plot".into()));
    };
    let signal = match signal_of(first, recording) {
        Some(s) => s,
        None => Signal::Pair(pairs::find(&first.pair)?),
    };
    let w = first.values.len() as u64;
    let start = first.seq;
    let mut translated = Vec::new();
    let mut next = start;
    // Eight windows (192 samples for W = 24): a few periods stay readable.
    for t in windows {
        if next >= start + 8 * w {
            break;
        }
        if t.seq == next {
            for (k, v) in t.values.iter().enumerate() {
                translated.push(((t.seq + k as u64) as f64, *v as f64));
            }
            next += w;
        }
    }
    let end = next.max(start + w);
    let curve = |f: fn(&Signal, u64) -> Option<f32>| -> Vec<(f64, f64)> {
        (start..end)
            .filter_map(|s| f(&signal, s).map(|v| (s as f64, v as f64)))
            .collect()
    };
    let title = format!(
        "{}: stream {}, seq {start}..{end}, translated live through NATS",
        first.pair, first.stream
    );
    let mut lines = Vec::with_capacity(3);
    // A recording's input is in other units than its output: only a pair's
    // curves share an axis.
    if matches!(signal, Signal::Pair(_)) {
        lines.push(Line::new(
            "input (published)".to_string(),
            curve(Signal::input_at),
            plot::BLUE,
        ));
    }
    lines.push(Line::new("truth".to_string(), curve(Signal::output_at), plot::GREY).dashed());
    lines.push(Line::new(
        "translation (non-overlapping windows)".to_string(),
        translated,
        plot::RED,
    ));
    plot::line_chart(
        path,
        &Chart {
            title: &title,
            x_label: "sample (seq)",
            y_label: "value",
            log_y: false,
        },
        &lines,
    )
}
