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
use crate::wire::{self, DecodeError, ErrorKind, TranslationRef};

/// One computed batch, as the observer sees it.
pub(super) struct Observed {
    /// (stream, seq, ts) of each window, in batch order.
    pub windows: Vec<(Arc<str>, u64, Option<i64>)>,
    /// The live model's outputs, W per window.
    pub live: Vec<f32>,
    /// The shadow model and its outputs, when the route has one.
    pub shadow: Option<(Arc<LoadedModel>, Vec<f32>)>,
    /// The models' generation that computed it: a batch in flight when the
    /// models changed is not compared as theirs successors'.
    pub generation: u64,
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
}

struct Pending {
    seq: u64,
    live: Vec<f32>,
    shadow: Option<Vec<f32>>,
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
}

impl Truths {
    fn stream(&mut self, key: &str, now: Instant) -> Option<&mut StreamTruth> {
        if !self.streams.contains_key(key) && self.streams.len() >= self.limits.max_streams {
            return None;
        }
        let s = self.streams.entry(key.into()).or_default();
        s.last_seen = Some(now);
        Some(s)
    }

    /// Appends truth samples `seq…`. A gap of up to the buffer's length is
    /// held as NaN (truth samples are finite), so windows on either side of
    /// it still meet their truth, and one across it is unmatched; a longer
    /// gap or a step back starts again.
    fn add_truth(&mut self, key: &str, seq: u64, values: &[f32], compare: &Compare) {
        let cap = TRUTH_SAMPLES.max(self.w * 8);
        let w = self.w;
        let Some(s) = self.stream(key, Instant::now()) else {
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
                lost = s.pending.len();
                s.pending.clear();
                compare.unmatched(lost as u64);
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
        let scored = score(s, w, compare);
        self.pending -= scored + lost;
    }

    fn add_window(&mut self, key: &str, p: Pending, compare: &Compare) {
        let w = self.w;
        let mut total = self.pending;
        let Some(s) = self.stream(key, Instant::now()) else {
            compare.unmatched(1);
            return;
        };
        if (s.pending.len() >= MAX_PENDING || total >= MAX_PENDING_ALL)
            && s.pending.pop_front().is_some()
        {
            total -= 1;
            compare.unmatched(1);
        }
        if total >= MAX_PENDING_ALL {
            // Other streams hold every place: this window cannot wait.
            compare.unmatched(1);
            return;
        }
        s.pending.push_back(p);
        let scored = score(s, w, compare);
        self.pending = total + 1 - scored;
    }

    fn evict_idle(&mut self, compare: &Compare) {
        let idle = self.limits.idle_timeout;
        let mut lost = 0;
        self.streams.retain(|_, s| {
            let keep = s.last_seen.is_some_and(|t| t.elapsed() < idle);
            if !keep {
                lost += s.pending.len() as u64;
            }
            keep
        });
        self.pending -= lost as usize;
        if lost > 0 {
            compare.unmatched(lost);
        }
    }
}

/// Scores every pending window whose truth is in hand; drops those whose
/// truth is gone, and truth no later window needs. Returns how many
/// windows left the queue.
fn score(s: &mut StreamTruth, w: usize, compare: &Compare) -> usize {
    let end = s.base + s.values.len() as u64;
    let (base, values) = (s.base, &s.values);
    let before = s.pending.len();
    let mut next = s.next;
    s.pending.retain(|p| {
        if p.seq < base {
            compare.unmatched(1);
            return false;
        }
        if p.seq + w as u64 > end {
            return true; // its truth has not all arrived yet
        }
        let from = (p.seq - base) as usize;
        let truth: Vec<f32> = values.range(from..from + w).copied().collect();
        next = next.max(Some(p.seq + 1));
        if truth.iter().any(|v| v.is_nan()) {
            compare.unmatched(1); // across a gap in the truth
            return false;
        }
        compare.update(|c| {
            if c.generation != p.generation {
                return; // computed by the models before the last change
            }
            c.live_vs_truth.add(&p.live, &truth);
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
                Some(m) => truth_message(&route, &reporter, &mut truths, m).await,
                None => truth = None,
            },
            _ = sweep.tick() => truths.evict_idle(&route.compare),
        }
    }
    while let Ok(o) = rx.try_recv() {
        observed(&route, &client, &mut truths, o, &mut payload).await;
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
            let p = Pending {
                seq: *seq,
                live: live.to_vec(),
                shadow: shadow_values.map(|(_, v)| v.to_vec()),
                generation: o.generation,
            };
            truths.add_window(stream, p, compare);
        }
    }
}

async fn truth_message(
    route: &Route,
    reporter: &Reporter,
    truths: &mut Truths,
    msg: async_nats::Message,
) {
    let subject = msg.subject.as_str();
    let Some(pattern) = route.truth_pattern.as_ref() else {
        return;
    };
    let key = match pattern.key(subject) {
        Ok(k) => k,
        Err(e) => {
            let detail = format!("truth subject {subject:?}: {e}");
            return reporter
                .report(ErrorKind::BadSubject, "", subject, detail)
                .await;
        }
    };
    match wire::decode_samples(&msg.payload) {
        Ok(wire::Samples {
            seq: Some(seq),
            values,
            ..
        }) => match route.missing_code(&values) {
            // Scored against, a lost frame written as 0 would count as a
            // reading the model missed.
            Some((i, code)) => {
                let detail = format!(
                    "truth: sample {i} (seq {}) is {code}, what the model's training recording \
                     wrote for a missing sample: not scored against",
                    seq + i as u64
                );
                reporter
                    .report(ErrorKind::InvalidValue, &key, subject, detail)
                    .await
            }
            None => truths.add_truth(&key, seq, &values, &route.compare),
        },
        // Truth is matched to windows by seq: one the sender does not
        // number has nothing to be matched by.
        Ok(_) => {
            let detail = "truth: a truth message must carry `seq` (the seq of the sample it is \
                          the truth of): it is matched to windows by it"
                .to_string();
            reporter
                .report(ErrorKind::Malformed, &key, subject, detail)
                .await
        }
        Err(DecodeError::Malformed(d)) => {
            reporter
                .report(ErrorKind::Malformed, &key, subject, format!("truth: {d}"))
                .await
        }
        Err(DecodeError::InvalidValue(d)) => {
            reporter
                .report(
                    ErrorKind::InvalidValue,
                    &key,
                    subject,
                    format!("truth: {d}"),
                )
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truths(w: usize) -> Truths {
        Truths {
            w,
            limits: IngestLimits {
                max_streams: 2,
                idle_timeout: std::time::Duration::from_secs(60),
            },
            streams: HashMap::new(),
            pending: 0,
        }
    }

    fn pending(seq: u64, live: &[f32]) -> Pending {
        Pending {
            seq,
            live: live.to_vec(),
            shadow: Some(vec![0.0; live.len()]),
            generation: 0,
        }
    }

    /// A window is scored once all W of its truth samples are in, whichever
    /// arrives first; the means are of squared differences per value.
    #[test]
    fn windows_meet_their_truth_in_either_order() {
        let c = Compare::default();
        let mut t = truths(2);
        // Window first, truth after (in two messages).
        t.add_window("a", pending(10, &[1.0, 2.0]), &c);
        t.add_truth("a", 10, &[1.0], &c);
        assert_eq!(c.snapshot().live_vs_truth.windows, 0, "half its truth");
        t.add_truth("a", 11, &[4.0, 5.0], &c);
        let s = c.snapshot();
        assert_eq!(s.live_vs_truth.windows, 1);
        assert_eq!(s.live_vs_truth.mse(), Some((0.0 + 4.0) / 2.0));
        assert_eq!(s.shadow_vs_truth.mse(), Some((1.0 + 16.0) / 2.0));
        // Truth first, window after.
        t.add_window("a", pending(11, &[4.0, 5.0]), &c);
        let s = c.snapshot();
        assert_eq!(s.live_vs_truth.windows, 2);
        assert_eq!(s.live_vs_truth.mse(), Some(4.0 / 4.0));
        assert_eq!(s.unmatched, 0);
    }

    /// Truth that has gone (a gap restarted the buffer past the window)
    /// makes the window unmatched, counted; a stream beyond `max_streams`
    /// is not tracked, also counted.
    #[test]
    fn lost_truth_and_too_many_streams_are_counted() {
        let c = Compare::default();
        let mut t = truths(2);
        t.add_window("a", pending(0, &[1.0, 1.0]), &c);
        t.add_truth("a", 5, &[1.0, 1.0, 1.0], &c);
        assert_eq!(c.snapshot().unmatched, 1);
        t.add_window("b", pending(0, &[1.0, 1.0]), &c);
        t.add_window("c", pending(0, &[1.0, 1.0]), &c);
        assert_eq!(c.snapshot().unmatched, 2);
        assert_eq!(t.streams.len(), 2);
        // Overlapping truth keeps the first values and appends the rest;
        // truth before the next window (seq 1, once window 0 is scored) goes.
        t.add_truth("b", 0, &[1.0, 9.0], &c);
        t.add_truth("b", 1, &[7.0, 1.0], &c);
        assert_eq!(
            (t.streams["b"].base, &t.streams["b"].values),
            (1, &[9.0, 1.0].into())
        );
        assert_eq!(c.snapshot().live_vs_truth.mse(), Some(64.0 / 2.0));
    }

    /// Truth published seconds before its input, or the input seconds
    /// before its truth (two publishers started by hand at 500 samples/s),
    /// still meets every window; what is scored is let go.
    #[test]
    fn seconds_between_input_and_truth_still_score_every_window() {
        let w = 24;
        for truth_first in [true, false] {
            let c = Compare::default();
            let mut t = truths(w);
            let truth = |t: &mut Truths, seqs: std::ops::Range<u64>| {
                for s in seqs {
                    t.add_truth("a", s, &[s as f32], &c);
                }
            };
            let windows = |t: &mut Truths, seqs: std::ops::Range<u64>| {
                for s in seqs {
                    let live: Vec<f32> = (s..s + w as u64).map(|v| v as f32 + 1.0).collect();
                    t.add_window("a", pending(s, &live), &c);
                }
            };
            // 1,000 samples (2 s) of one before the other, then both.
            let (n, lead) = (3_000u64, 1_000u64);
            if truth_first {
                truth(&mut t, 0..lead + w as u64);
                windows(&mut t, 0..lead);
            } else {
                windows(&mut t, 0..lead);
                truth(&mut t, 0..lead + w as u64);
            }
            truth(&mut t, lead + w as u64..n + w as u64);
            windows(&mut t, lead..n);
            let s = c.snapshot();
            assert_eq!(
                (s.live_vs_truth.windows, s.unmatched),
                (n, 0),
                "truth first: {truth_first}"
            );
            assert_eq!(s.live_vs_truth.mse(), Some(1.0));
            assert_eq!((t.pending, t.streams["a"].pending.len()), (0, 0));
            assert!(
                t.streams["a"].values.len() <= w,
                "{}",
                t.streams["a"].values.len()
            );
        }
    }

    /// Truth with holes (a historian's bad cells: every 100th sample
    /// missing) published ahead of its input: every window whose truth is
    /// whole is scored, on either side of each hole, and only those across
    /// one are unmatched. (Each hole used to drop the truth held before it,
    /// and with it every window not yet in: 76 of 380 scored.)
    #[test]
    fn a_truth_count_started_again_is_scored_from_there() {
        let c = Compare::default();
        let mut t = truths(2);
        for seq in 0..50u64 {
            t.add_truth("a", seq, &[1.0], &c);
            t.add_window("a", pending(seq, &[1.0, 1.0]), &c);
        }
        // Windows 49 and 50, whose truth the old count never completes,
        // then both counts start again at 0.
        t.add_window("a", pending(50, &[1.0, 1.0]), &c);
        let before = c.snapshot();
        t.add_truth("a", 0, &[3.0, 3.0], &c);
        t.add_window("a", pending(0, &[1.0, 1.0]), &c);
        let s = c.snapshot();
        assert_eq!(s.live_vs_truth.windows, before.live_vs_truth.windows + 1);
        assert_eq!((s.unmatched - before.unmatched, t.pending), (2, 0));
        assert_eq!(s.live_vs_truth.sum_sq, before.live_vs_truth.sum_sq + 8.0);
    }

    #[test]
    fn truth_with_holes_ahead_of_the_input_scores_every_whole_window() {
        let (w, n) = (24usize, 500u64);
        let c = Compare::default();
        let mut t = truths(w);
        for s in (0..n).filter(|s| s % 100 != 99) {
            t.add_truth("a", s, &[s as f32], &c);
        }
        for s in 0..=n - w as u64 {
            let live: Vec<f32> = (s..s + w as u64).map(|v| v as f32 + 2.0).collect();
            t.add_window("a", pending(s, &live), &c);
        }
        let whole = (0..=n - w as u64)
            .filter(|s| !(*s..s + w as u64).any(|v| v % 100 == 99))
            .count() as u64;
        // The last window waits for truth 499, a hole not known as one yet.
        let s = c.snapshot();
        assert_eq!(
            (s.live_vs_truth.windows, s.unmatched, t.pending),
            (whole, n - w as u64 - whole, 1)
        );
        assert_eq!(whole, 380);
        assert_eq!(s.live_vs_truth.mse(), Some(4.0));
        // Truth that comes late fills its hole: a window waiting across it
        // is scored.
        t.add_window("a", pending(n, &[2.0; 24]), &c);
        t.add_truth("a", n + 1, &[0.0; 10], &c);
        t.add_truth("a", n, &[0.0], &c);
        let before = c.snapshot().live_vs_truth.windows;
        t.add_truth("a", n + 11, &[0.0; 13], &c);
        assert_eq!(c.snapshot().live_vs_truth.windows, before + 1);
        // A hole longer than the buffer still starts again.
        t.add_truth("a", 10 * n, &[1.0], &c);
        assert_eq!(t.streams["a"].base, 10 * n);
    }

    #[test]
    fn resets_restart_the_means_not_the_counters() {
        let c = Compare::default();
        c.update(|s| {
            s.shadow_vs_live.add(&[1.0], &[0.0]);
            s.shadow_published = 3;
        });
        c.dropped(2);
        c.unmatched(4);
        c.reset(1);
        let s = c.snapshot();
        assert_eq!(s.shadow_vs_live, Running::default());
        assert_eq!((s.shadow_published, s.dropped), (3, 2));
        // The counter goes on; the count beside the means starts again.
        assert_eq!((s.unmatched, s.unmatched_now), (4, 0));
        c.unmatched(1);
        assert_eq!((c.snapshot().unmatched, c.snapshot().unmatched_now), (5, 1));
        // A window the models before the reset computed, scored after it
        // (its truth came late): not in the new models' means.
        let mut t = truths(2);
        t.add_window("a", pending(0, &[1.0, 1.0]), &c);
        t.add_truth("a", 0, &[3.0, 3.0], &c);
        assert_eq!(c.snapshot().live_vs_truth.windows, 0);
        let mut now = pending(1, &[1.0, 1.0]);
        now.generation = 1;
        t.add_window("a", now, &c);
        t.add_truth("a", 2, &[3.0], &c);
        assert_eq!(c.snapshot().live_vs_truth.windows, 1);
    }
}
