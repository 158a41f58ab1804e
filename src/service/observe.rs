//! A route's observer: publishes its shadow model's translations and keeps
//! the running comparisons an operator judges a candidate by: the shadow
//! against the live model, and both against the true output when the route
//! has a truth channel (`truth = "truth.*"`, samples in the input's format,
//! where a window at `seq` s is compared with truth samples s … s+W-1).
//!
//! It sits beside the pipeline, never in it: the compute threads hand it
//! batches with `try_send`, so a slow observer loses comparisons (counted),
//! never windows, and never delays the live output.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_nats::Client;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::events::Reporter;
use super::ingest::IngestLimits;
use super::route::Route;
use crate::format::LoadedModel;
use crate::stats::{CompareSnapshot, Paired, Running};
use crate::window::hold::Hold;
use crate::wire::{self, TranslationRef};

mod clocked;
mod truth;

use crate::deviation::{Deviations, Scored, Watch};

/// One computed batch, as the observer sees it.
pub(super) struct Observed {
    /// (stream, seq, ts) of each window, in batch order.
    pub windows: Vec<(Arc<str>, u64, Option<i64>)>,
    /// The live model's outputs, W per window.
    pub live: Vec<f32>,
    /// The live model that computed them.
    pub model: Arc<LoadedModel>,
    /// The shadow model and its outputs, when the route has one.
    pub shadow: Option<(Arc<LoadedModel>, Vec<f32>)>,
    /// Whether the comparisons take it (not a batch a shadow did not run
    /// on under load: only each stream's deviation is watched on it).
    pub compared: bool,
    /// The models' generation that computed it: a batch in flight when the
    /// models changed is not compared as theirs successors'.
    pub generation: u64,
    /// The windows' inputs, W per window, where the route scores a truth
    /// (for the live model's linear map); else empty.
    pub input: Vec<f32>,
}

#[derive(Debug, Default)]
pub struct Compare(Mutex<CompareSnapshot>);

impl Compare {
    pub fn snapshot(&self) -> CompareSnapshot {
        match self.0.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut CompareSnapshot)) {
        match self.0.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// The models changed (to `generation`): the running means start again,
    /// and take only batches those models computed.
    pub(super) fn reset(&self, generation: u64) {
        self.update(|s| {
            s.generation = generation;
            s.shadow_vs_live = Running::default();
            s.live_vs_truth = Running::default();
            s.shadow_vs_truth = Running::default();
            s.map_vs_truth = Running::default();
            s.shadow_minus_live = Paired::default();
            s.unmatched_now = 0;
        });
    }

    /// Windows that will never find their truth.
    fn unmatched(&self, windows: u64) {
        self.update(|s| {
            s.unmatched += windows;
            s.unmatched_now += windows;
        });
    }

    pub(super) fn dropped(&self, batches: u64) {
        self.update(|s| s.dropped += batches);
    }
}

/// Windows of one stream waiting for their truth, and the truth received.
#[derive(Default)]
struct StreamTruth {
    /// Seq of `values[0]`.
    base: u64,
    values: VecDeque<f32>,
    pending: VecDeque<Pending>,
    /// The next window's first seq once one was scored: truth before it
    /// is not needed again (a stream's windows come in order).
    next: Option<u64>,
    last_seen: Option<Instant>,
    /// On a route that reads a clock, the value a truth stream that
    /// numbers nothing holds (see `clocked`).
    hold: Hold,
    /// Its translations' deviation from the truth (`[route.deviation]`).
    watch: Watch,
}

struct Pending {
    seq: u64,
    ts: Option<i64>,
    /// Taken by the comparisons (see [`Observed::compared`]).
    compared: bool,
    live: Vec<f32>,
    shadow: Option<Vec<f32>>,
    /// The live model's linear map's prediction (where its file records
    /// one).
    map: Option<Vec<f32>>,
    generation: u64,
}

/// Truth samples kept per stream ahead of the windows that need them (at
/// least 8 windows' worth): a truth publisher started a few seconds before
/// the input (by hand, as in the README) still meets its windows; bounded
/// so a stream cannot pin memory (8 KiB). Truth a scored window has
/// passed is dropped at once.
const TRUTH_SAMPLES: usize = 2048;
/// Windows per stream waiting for truth (an input started a second or two
/// before its truth), and in all (~250 bytes each).
const MAX_PENDING: usize = 1024;
const MAX_PENDING_ALL: usize = 65_536;

/// Matches windows with their truth.
struct Truths {
    w: usize,
    limits: IngestLimits,
    streams: HashMap<Arc<str>, StreamTruth>,
    /// Windows waiting in all streams.
    pending: usize,
    /// Each stream's truth watched against its translation, where the
    /// route says so.
    deviations: Option<Deviations>,
    /// The live model's linear map, by the model's id (read from its
    /// file's record once per model).
    map: Option<(String, Option<crate::baseline::LinearMap>)>,
}

/// Windows of `pending` the comparisons take: those whose truth never
/// comes count as unmatched (a batch only watched for deviation, not).
fn compared(pending: &VecDeque<Pending>) -> u64 {
    pending.iter().filter(|p| p.compared).count() as u64
}

/// `key`'s stream, made where there is room (`max` streams).
fn stream_of<'a>(
    streams: &'a mut HashMap<Arc<str>, StreamTruth>,
    max: usize,
    key: &str,
    now: Instant,
) -> Option<&'a mut StreamTruth> {
    if !streams.contains_key(key) && streams.len() >= max {
        return None;
    }
    let s = streams.entry(key.into()).or_default();
    s.last_seen = Some(now);
    Some(s)
}

impl Truths {
    /// The linear map `model`'s file records (of windows of `w`), read
    /// once per model.
    fn map_of(&mut self, model: &LoadedModel, w: usize) -> Option<&crate::baseline::LinearMap> {
        if self.map.as_ref().is_none_or(|(id, _)| *id != model.id) {
            let map = crate::fit::Baselines::recorded(model.meta.metrics.as_ref(), w);
            self.map = Some((model.id.clone(), map.map(|b| b.linear)));
        }
        self.map.as_ref().and_then(|(_, m)| m.as_ref())
    }

    fn stream(&mut self, key: &str, now: Instant) -> Option<&mut StreamTruth> {
        stream_of(&mut self.streams, self.limits.max_streams, key, now)
    }

    /// Appends truth samples `seq…`. A gap of up to the buffer's length is
    /// held as NaN (truth samples are finite), so windows on either side of
    /// it still meet their truth, and one across it is unmatched; a longer
    /// gap or a step back starts again.
    fn add_truth(&mut self, key: &str, seq: u64, values: &[f32], compare: &Compare) {
        let cap = TRUTH_SAMPLES.max(self.w * 8);
        let w = self.w;
        let max = self.limits.max_streams;
        let Some(s) = stream_of(&mut self.streams, max, key, Instant::now()) else {
            return;
        };
        let end = s.base + s.values.len() as u64;
        let mut lost = 0;
        let skip = if !s.values.is_empty() && seq <= end && seq >= s.base {
            // Overlap with what is held: keep the first, but fill a gap's
            // holes with truth that came late.
            let held = s.values.range_mut((seq - s.base) as usize..);
            for (h, v) in held.zip(values) {
                if h.is_nan() {
                    *h = *v;
                }
            }
            (end - seq) as usize
        } else if !s.values.is_empty() && seq > end && seq - end <= cap as u64 {
            s.values
                .extend(std::iter::repeat_n(f32::NAN, (seq - end) as usize));
            0
        } else {
            // A step back (a publisher that started its count again): the
            // windows waiting on the old count's truth never meet it, and
            // the new count's are not behind the old one's.
            if seq < s.base {
                s.next = None;
                s.watch.restarted();
                lost = s.pending.len();
                compare.unmatched(compared(&s.pending));
                s.pending.clear();
            }
            s.values.clear();
            s.base = seq;
            0
        };
        s.values.extend(values.iter().skip(skip).copied());
        while s.values.len() > cap {
            s.values.pop_front();
            s.base += 1;
        }
        let scored = score(s, key, w, compare, self.deviations.as_mut());
        self.pending -= scored + lost;
    }

    fn add_window(&mut self, key: &str, p: Pending, compare: &Compare) {
        let w = self.w;
        let mut total = self.pending;
        let max = self.limits.max_streams;
        let Some(s) = stream_of(&mut self.streams, max, key, Instant::now()) else {
            compare.unmatched(u64::from(p.compared));
            return;
        };
        if (s.pending.len() >= MAX_PENDING || total >= MAX_PENDING_ALL)
            && let Some(old) = s.pending.pop_front()
        {
            total -= 1;
            compare.unmatched(u64::from(old.compared));
        }
        if total >= MAX_PENDING_ALL {
            // Other streams hold every place: this window cannot wait.
            compare.unmatched(u64::from(p.compared));
            return;
        }
        s.pending.push_back(p);
        let scored = score(s, key, w, compare, self.deviations.as_mut());
        self.pending = total + 1 - scored;
    }

    fn evict_idle(&mut self, compare: &Compare) {
        let idle = self.limits.idle_timeout;
        let (mut lost, mut unmatched) = (0, 0);
        let deviations = &mut self.deviations;
        self.streams.retain(|key, s| {
            let keep = s.last_seen.is_some_and(|t| t.elapsed() < idle);
            if !keep {
                lost += s.pending.len();
                unmatched += compared(&s.pending);
            }
            // A deviating stream's watch stops with it, or where its
            // windows go on without truth to judge them by.
            if let Some(d) = deviations.as_mut() {
                if !keep {
                    d.stop(key, &mut s.watch, "forgotten");
                } else if s.watch.unjudged_for(idle) {
                    d.stop(key, &mut s.watch, "no truth");
                }
            }
            keep
        });
        self.pending -= lost;
        if unmatched > 0 {
            compare.unmatched(unmatched);
        }
    }
}

/// Scores every pending window whose truth is in hand (and watches it
/// for deviation, where the route does); drops those whose truth is gone,
/// and truth no later window needs. Returns how many windows left the
/// queue.
fn score(
    s: &mut StreamTruth,
    key: &str,
    w: usize,
    compare: &Compare,
    mut deviations: Option<&mut Deviations>,
) -> usize {
    let end = s.base + s.values.len() as u64;
    let (base, values) = (s.base, &s.values);
    let before = s.pending.len();
    let mut next = s.next;
    s.pending.retain(|p| {
        if p.seq < base {
            compare.unmatched(u64::from(p.compared));
            return false;
        }
        if p.seq + w as u64 > end {
            return true; // its truth has not all arrived yet
        }
        let from = (p.seq - base) as usize;
        let truth: Vec<f32> = values.range(from..from + w).copied().collect();
        next = next.max(Some(p.seq + 1));
        if truth.iter().any(|v| v.is_nan()) {
            compare.unmatched(u64::from(p.compared)); // across a gap in the truth
            return false;
        }
        if let Some(d) = deviations.as_deref_mut().filter(|d| d.judges(p.generation)) {
            let (seq, ts, live) = (p.seq, p.ts, &p.live);
            let scored = Scored {
                seq,
                ts,
                live,
                truth: &truth,
            };
            d.scored(&mut s.watch, key, w, scored);
        }
        compare.update(|c| {
            if p.compared {
                c.live_vs_truth_total.add(&p.live, &truth);
                if let Some(map) = &p.map {
                    c.map_vs_truth_total.add(map, &truth);
                }
                if let Some(sh) = &p.shadow {
                    c.shadow_vs_truth_total.add(sh, &truth);
                }
            }
            if c.generation != p.generation || !p.compared {
                return; // computed by the models before the last change
            }
            c.live_vs_truth.add(&p.live, &truth);
            if let Some(map) = &p.map {
                c.map_vs_truth.add(map, &truth);
            }
            if let Some(sh) = &p.shadow {
                c.shadow_vs_truth.add(sh, &truth);
                if p.seq.is_multiple_of(w as u64) {
                    c.shadow_minus_live.add(sh, &p.live, &truth);
                }
            }
        });
        false
    });
    s.next = next;
    if let Some(from) = s.pending.front().map(|p| p.seq).or(s.next) {
        while s.base < from && s.values.pop_front().is_some() {
            s.base += 1;
        }
    }
    before - s.pending.len()
}

/// What an observer needs beside its route.
pub(super) struct ObserverParts {
    pub client: Client,
    pub reporter: Reporter,
    pub truth: Option<super::Inputs>,
    pub limits: IngestLimits,
}

/// Runs a route's observer until `finish` (sent once the compute threads
/// are done, so every shadow result computed is published).
pub(super) async fn observe(
    route: Arc<Route>,
    mut rx: mpsc::Receiver<Observed>,
    parts: ObserverParts,
    mut finish: watch::Receiver<bool>,
) {
    let ObserverParts {
        client,
        reporter,
        mut truth,
        limits,
    } = parts;
    let limits = limits.for_route(&route);
    let reporter = reporter.for_route(&route.counters);
    let mut truths = Truths {
        w: route.window,
        limits,
        streams: HashMap::new(),
        pending: 0,
        deviations: (route.cfg.deviation.clone()).map(|d| Deviations::new(d, &route.cfg.pair)),
        map: None,
    };
    let mut payload = Vec::new();
    let mut sweep = tokio::time::interval(
        limits
            .idle_timeout
            .max(std::time::Duration::from_millis(40))
            / 4,
    );
    loop {
        tokio::select! {
            _ = finish.changed() => break,
            o = rx.recv() => match o {
                Some(o) => observed(&route, &client, &mut truths, o, &mut payload).await,
                None => break,
            },
            m = async { truth.as_mut()?.next().await }, if truth.is_some() => match m {
                Some(m) => truth::message(&route, &reporter, &mut truths, m).await,
                None => truth = None,
            },
            _ = sweep.tick() => {
                if let Some(r) = route.resample() {
                    truths.read_all_held(r.truth_clock(), &route.compare);
                }
                truths.evict_idle(&route.compare)
            }
        }
        publish_deviations(&route, &client, &mut truths).await;
    }
    while let Ok(o) = rx.try_recv() {
        observed(&route, &client, &mut truths, o, &mut payload).await;
    }
    publish_deviations(&route, &client, &mut truths).await;
}

/// Publishes the deviation events the last step raised, each on
/// `<subject>.<stream key>` in the route's output format.
async fn publish_deviations(route: &Route, client: &Client, truths: &mut Truths) {
    let (Some(d), Some(cfg)) = (truths.deviations.as_mut(), &route.cfg.deviation) else {
        return;
    };
    if d.quiet() {
        return;
    }
    let mut events = Vec::new();
    route.compare.update(|c| events = d.take(c));
    for e in events {
        let subject = format!("{}.{}", cfg.subject, e.stream);
        let unit = e.unit.as_deref().map_or(String::new(), |u| format!(" {u}"));
        match e.state {
            wire::DeviationState::Begin => tracing::warn!(
                pair = %e.pair,
                stream = %e.stream,
                seq = e.seq,
                ts = e.ts,
                "deviation: truth − translation {:+.4}{unit} mean over its last {} windows, \
                 beyond the threshold {:.4}{unit}",
                e.mean_difference,
                e.windows,
                e.threshold
            ),
            wire::DeviationState::End => tracing::info!(
                pair = %e.pair,
                stream = %e.stream,
                seq = e.seq,
                ts = e.ts,
                "deviation over: truth − translation {:+.4}{unit} mean, within half the \
                 threshold, and the error within it",
                e.mean_difference
            ),
            wire::DeviationState::Stopped => tracing::info!(
                pair = %e.pair,
                stream = %e.stream,
                reason = e.reason.as_deref().unwrap_or(""),
                "deviation no longer watched: truth − translation {:+.4}{unit} mean when last \
                 judged",
                e.mean_difference
            ),
        }
        let payload = e.encode_as(route.cfg.output_format);
        if let Err(err) = client.publish(subject, payload.into()).await {
            tracing::debug!("deviation event not published: {err}");
        }
    }
}

async fn observed(
    route: &Route,
    client: &Client,
    truths: &mut Truths,
    o: Observed,
    payload: &mut Vec<u8>,
) {
    let w = route.window;
    let compare = &route.compare;
    let shadow = o.shadow.as_ref();
    if let Some(d) = truths.deviations.as_mut()
        && d.follow(o.generation, &o.model)
    {
        let stopped = d.rule().is_none();
        for (key, s) in truths.streams.iter_mut() {
            Deviations::restart(&mut s.watch);
            if stopped {
                d.stop(key, &mut s.watch, "no threshold");
            }
        }
    }
    let mapped = (truths.map_of(&o.model, w))
        .filter(|_| o.input.len() == o.live.len())
        .map(|m| m.predict(&o.input));
    for (i, (stream, seq, ts)) in o.windows.iter().enumerate() {
        let live = &o.live[i * w..(i + 1) * w];
        let shadow_values = shadow.map(|(m, out)| (m, &out[i * w..(i + 1) * w]));
        if let Some((model, values)) = shadow_values {
            compare.update(|c| {
                if c.generation == o.generation {
                    c.shadow_vs_live.add(values, live);
                }
            });
            TranslationRef {
                stream,
                seq: *seq,
                values,
                pair: &route.cfg.pair,
                model: &model.id,
                ts: *ts,
                unit: model.output_unit.as_deref(),
            }
            .encode_as(route.cfg.output_format, payload);
            let subject = format!("{}.{stream}", route.cfg.shadow.output);
            match client
                .publish(subject, bytes::Bytes::copy_from_slice(payload))
                .await
            {
                Ok(()) => compare.update(|c| c.shadow_published += 1),
                Err(e) => tracing::debug!("shadow publish failed: {e}"),
            }
        }
        if route.cfg.truth.is_some() {
            if let Some(r) = route.resample() {
                truths.read_held(stream, r.truth_clock(), compare);
            }
            let p = Pending {
                seq: *seq,
                ts: *ts,
                compared: o.compared,
                live: live.to_vec(),
                shadow: shadow_values.map(|(_, v)| v.to_vec()),
                map: mapped.as_ref().map(|m| m[i * w..(i + 1) * w].to_vec()),
                generation: o.generation,
            };
            truths.add_window(stream, p, compare);
        }
    }
}

#[cfg(test)]
mod tests;
