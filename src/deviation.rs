//! `[route.deviation]`: each stream's truth watched against its live
//! translation. A stream's mean of truth − translation over its last few
//! windows that share no sample (each truth sample counted once) passing
//! the threshold begins a deviation; back within half of it (so a mean
//! hovering at the threshold does not flap), the deviation ends; where the
//! watch of a deviating stream stops (the stream forgotten, its truth gone
//! quiet, a model that gives no threshold), it is said to have stopped, so
//! no alert stays on for ever. Each change is an event on
//! `<subject>.<stream key>`, counted, and the streams deviating now are in
//! `$SRV.STATS` and `/metrics`.

use std::collections::{BTreeMap, VecDeque};

use tokio::time::Instant;

use crate::config::{DeviationConfig, Side};
use crate::format::LoadedModel;
use serde::Serialize;

use crate::stats::CompareSnapshot;
use crate::wire::{DeviationEvent, DeviationState};

/// Streams named in `$SRV.STATS` (the rest are counted).
const NAMED: usize = 10;

/// What one live model's windows are judged by.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub threshold: f64,
    windows: usize,
    side: Side,
    model: String,
    unit: Option<String>,
}

impl Rule {
    /// The rule for `model`; `Err`: why there is none (no threshold set,
    /// and the model records no held-out error).
    pub fn of(cfg: &DeviationConfig, model: &LoadedModel) -> Result<Self, String> {
        let (threshold, _) = cfg.threshold_for(model)?;
        Ok(Rule {
            threshold,
            windows: cfg.windows.max(1),
            side: cfg.side,
            model: model.id.clone(),
            unit: model.output_unit.clone(),
        })
    }

    /// How far `mean` lies beyond the allowed side (negative: within).
    fn beyond(&self, mean: f64) -> f64 {
        match self.side {
            Side::Both => mean.abs(),
            Side::Below => -mean,
            Side::Above => mean,
        }
    }
}

/// One stream's watch.
#[derive(Debug, Default)]
pub struct Watch {
    /// The first seq of the next window sharing no sample with the last
    /// one taken.
    next: Option<u64>,
    /// The first seq of the last window taken.
    last: u64,
    /// Mean of truth − translation of each window taken, the last
    /// `windows`.
    means: VecDeque<f64>,
    /// Deviating now.
    on: bool,
    /// When a window of it was last judged.
    judged_at: Option<Instant>,
}

/// A deviation ends only where none of its last windows' own means lies
/// beyond this many thresholds (one window's mean, of fewer samples, is
/// noisier than the mean over the windows the threshold is for).
const WINDOW_BEYOND: f64 = 2.0;

/// A window this far before the last one taken starts is of a count
/// started again (a publisher restarted); nearer, it came out of order
/// (batches of several compute threads reach the observer in any order)
/// and is skipped.
const RESTARTED: u64 = 1024;

impl Watch {
    /// The stream's count started again: its windows are taken afresh.
    pub fn restarted(&mut self) {
        self.next = None;
        self.means.clear();
    }

    /// Deviating, and no window judged for `idle`: its truth has stopped.
    pub fn unjudged_for(&self, idle: std::time::Duration) -> bool {
        self.on && self.judged_at.is_some_and(|t| t.elapsed() >= idle)
    }
}

/// A window scored against its truth.
pub struct Scored<'a> {
    pub seq: u64,
    pub ts: Option<i64>,
    pub live: &'a [f32],
    pub truth: &'a [f32],
}

/// A route's watches' rule, events to publish and who deviates now.
pub struct Deviations {
    cfg: DeviationConfig,
    pair: String,
    /// The last rule set; it judges the windows of `generation` where
    /// `active` (not where that generation's model gave none: said why).
    rule: Option<Rule>,
    active: bool,
    generation: Option<u64>,
    events: Vec<DeviationEvent>,
    /// Streams deviating now, with their last mean difference.
    now: BTreeMap<String, f64>,
    /// `now` changed since the counts were last written.
    changed: bool,
    /// The largest mean judged, beyond the allowed side, over the threshold;
    /// its stream and the mean itself.
    peak: f64,
    peak_at: Option<(String, f64)>,
    /// The window (its seq) that ended the run of windows of that mean.
    peak_seq: u64,
}

impl Deviations {
    pub fn new(cfg: DeviationConfig, pair: &str) -> Self {
        Self {
            cfg,
            pair: pair.to_string(),
            rule: None,
            active: false,
            generation: None,
            events: Vec::new(),
            now: BTreeMap::new(),
            changed: false,
            peak: f64::NEG_INFINITY,
            peak_at: None,
            peak_seq: 0,
        }
    }

    /// The rule windows are judged by now, if any.
    pub fn rule(&self) -> Option<&Rule> {
        self.rule.as_ref().filter(|_| self.active)
    }

    /// A batch of the models of `generation` (`live` serving): a newer
    /// generation's model sets the rule. True when it did: every stream's
    /// means start again (the last model's errors are not the new one's);
    /// a stream deviating stays so until the new model's windows say, or,
    /// where the new model gives no threshold, is stopped by the caller.
    pub fn follow(&mut self, generation: u64, live: &LoadedModel) -> bool {
        if self.generation.is_some_and(|g| g >= generation) {
            return false;
        }
        self.generation = Some(generation);
        match Rule::of(&self.cfg, live) {
            Ok(r) => {
                let says = self.cfg.describe(live);
                tracing::info!(pair = %self.pair, model = %live.id, "deviation: {says}");
                (self.rule, self.active) = (Some(r), true)
            }
            Err(why) => {
                tracing::warn!(pair = %self.pair, "deviation: {why}");
                self.active = false;
            }
        }
        true
    }

    /// Whether windows of `generation` are judged (those of models before
    /// the rule's are not).
    pub fn judges(&self, generation: u64) -> bool {
        self.active && self.generation == Some(generation)
    }

    /// A window of `stream` (`w` values) scored: taken where it shares no
    /// sample with the last one taken; an event where the stream's mean
    /// crosses.
    pub fn scored(&mut self, watch: &mut Watch, stream: &str, w: usize, s: Scored<'_>) {
        let Some(rule) = self.rule.as_ref().filter(|_| self.active) else {
            return;
        };
        // Its truth came: the stream is watched (however many windows
        // apart the ones taken are: hours, on a slow clock).
        watch.judged_at = Some(Instant::now());
        match watch.next {
            // A count started again (a publisher restarted).
            Some(_) if s.seq.saturating_add(RESTARTED) < watch.last => watch.restarted(),
            // Out of order, or sharing samples with the last one taken.
            Some(next) if s.seq < next => return,
            _ => {}
        }
        watch.next = Some(s.seq + w as u64);
        watch.last = s.seq;
        let diff = s.live.iter().zip(s.truth);
        let sum: f64 = diff.map(|(l, t)| f64::from(*t) - f64::from(*l)).sum();
        watch.means.push_back(sum / s.live.len().max(1) as f64);
        while watch.means.len() > rule.windows {
            watch.means.pop_front();
        }
        if watch.means.len() < rule.windows {
            return;
        }
        let mean = watch.means.iter().sum::<f64>() / watch.means.len() as f64;
        // Each window's own mean, on the watched side: a gain changed (a
        // bearing seizing doubles a strain's response to temperature)
        // swings the mean over windows through 0 with the input, while
        // window after window lies beyond the threshold.
        let window_beyond = (watch.means.iter())
            .map(|&m| rule.beyond(m))
            .fold(0.0, f64::max);
        let beyond = rule.beyond(mean);
        if beyond / rule.threshold > self.peak {
            self.peak = beyond / rule.threshold;
            self.peak_at = Some((stream.to_string(), mean));
            self.peak_seq = s.seq;
        }
        let state = if !watch.on && beyond > rule.threshold {
            DeviationState::Begin
        } else if watch.on
            && beyond <= rule.threshold / 2.0
            && window_beyond <= WINDOW_BEYOND * rule.threshold
        {
            DeviationState::End
        } else {
            if watch.on {
                self.now.insert(stream.to_string(), mean);
                self.changed = true;
            }
            return;
        };
        watch.on = state == DeviationState::Begin;
        if watch.on {
            self.now.insert(stream.to_string(), mean);
        } else {
            self.now.remove(stream);
        }
        self.changed = true;
        self.events.push(DeviationEvent {
            stream: stream.to_string(),
            pair: self.pair.clone(),
            model: rule.model.clone(),
            state,
            mean_difference: mean,
            threshold: rule.threshold,
            windows: rule.windows,
            seq: s.seq,
            ts: s.ts,
            unit: rule.unit.clone(),
            reason: None,
        });
    }

    /// The models changed: each stream's means start again.
    pub fn restart(watch: &mut Watch) {
        watch.means.clear();
    }

    /// The watch of `stream` stops (`why`: `forgotten`, `no truth`, `no
    /// threshold`): said, where it deviated, and it deviates no more.
    pub fn stop(&mut self, stream: &str, watch: &mut Watch, why: &str) {
        let on = std::mem::take(&mut watch.on);
        // (A stream deviates only under a rule, and the last one is kept.)
        let (true, Some(mean), Some(rule)) = (on, self.now.remove(stream), &self.rule) else {
            return;
        };
        self.changed = true;
        watch.means.clear();
        self.events.push(DeviationEvent {
            stream: stream.to_string(),
            pair: self.pair.clone(),
            model: rule.model.clone(),
            state: DeviationState::Stopped,
            mean_difference: mean,
            threshold: rule.threshold,
            windows: rule.windows,
            seq: watch.last,
            ts: None,
            unit: rule.unit.clone(),
            reason: Some(why.to_string()),
        });
    }

    /// Nothing to publish or count since the last [`Self::take`].
    pub fn quiet(&self) -> bool {
        self.events.is_empty() && !self.changed
    }

    /// The events to publish; the counts go to `c`.
    pub fn take(&mut self, c: &mut CompareSnapshot) -> Vec<DeviationEvent> {
        if !std::mem::take(&mut self.changed) {
            return std::mem::take(&mut self.events);
        }
        let count = |state| self.events.iter().filter(|e| e.state == state).count() as u64;
        let (begun, stopped) = (count(DeviationState::Begin), count(DeviationState::Stopped));
        let named = (self.now.iter().take(NAMED))
            .map(|(s, m)| (s.clone(), *m))
            .collect();
        let deviating = self.now.len() as u64;
        c.deviations += begun;
        c.deviations_stopped += stopped;
        c.deviating = deviating;
        c.deviating_streams = named;
        std::mem::take(&mut self.events)
    }
}

/// What the watch would have said of windows already scored (`eval`):
/// how many deviations each part (a stream, a file) begins, and how near
/// the threshold the means came, so a user can set one before serving.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replay {
    pub threshold: f64,
    pub windows: usize,
    pub side: Side,
    /// Each part's name and the deviations it begins, where it begins any.
    pub begun: Vec<(String, usize)>,
    /// Each such part's first deviation: the index, among the part's
    /// windows, of the window that began it.
    pub first_begun: Vec<(String, u64)>,
    /// Their parts' places among those given (`None`: judged as one).
    #[serde(skip)]
    pub first_part: Vec<Option<usize>>,
    /// And where that window ends, as [`Self::locate`] found it (its data
    /// row, its time).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub first_at: Vec<(String, String)>,
    /// Every deviation, in order: which of a fault's windows an alarm
    /// came on is what a user tuning the watch asks (the first alone
    /// was a false alarm in the walk that asked).
    #[serde(skip)]
    pub spans: Vec<Span>,
    /// And each located (see [`Self::locate`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deviations: Vec<Located>,
    /// The largest mean beyond the watched side, over the threshold (under
    /// 1: none begins; `None` where no part had enough windows).
    pub peak: Option<f64>,
    /// Its part, and the mean of truth − translation itself.
    pub peak_at: Option<(String, f64)>,
    /// Its part's place (`None`: judged as one) and the window that ended
    /// its run of windows; and that window located.
    #[serde(skip)]
    pub peak_window: Option<(Option<usize>, u64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_where: Option<String>,
    /// Each part's largest mean (beyond the watched side), itself: a
    /// fleet's steady offsets show here, stream by stream.
    pub by_part: Vec<(String, f64)>,
    /// Rows a window holds.
    pub rows: usize,
    /// The recording's time step (seconds), where it has one: the watch's
    /// span said in time too (set by whoever prints the line).
    #[serde(skip)]
    pub step_s: Option<f64>,
}

/// One deviation of a replay: its part (name, place among those given,
/// `None` where judged as one), the window that began it and the one that
/// ended it (`None`: still on at the part's last window).
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub part: String,
    pub index: Option<usize>,
    pub begin: u64,
    pub end: Option<u64>,
}

/// A deviation where its windows end in the recording (a data row, a time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Located {
    pub part: String,
    pub begins: String,
    /// `None`: still on at the part's last window.
    pub ends: Option<String>,
}

/// Replays the watch over scored windows (`pred`, `truth`: row-major
/// windows of `w`, each part's in turn, `parts` naming them and their
/// counts), with `threshold` in the output's units.
pub fn replay(
    cfg: &DeviationConfig,
    threshold: f64,
    parts: &[(String, usize)],
    w: usize,
    pred: &[f32],
    truth: &[f32],
) -> Replay {
    let rule = Rule {
        threshold,
        windows: cfg.windows.max(1),
        side: cfg.side,
        model: String::new(),
        unit: None,
    };
    let mut d = Deviations::new(cfg.clone(), "");
    (d.rule, d.active, d.generation) = (Some(rule), true, Some(0));
    // Parts that do not add up to the windows: judged as one.
    let n = pred.len().min(truth.len()) / w.max(1);
    let whole = [(String::from("all"), n)];
    let whole_only = parts.iter().map(|(_, k)| k).sum::<usize>() != n;
    let parts = if whole_only { &whole[..] } else { parts };
    let (mut begun, mut first_begun) = (Vec::new(), Vec::new());
    let mut by_part = Vec::new();
    let mut overall: (f64, Option<(String, f64)>) = (f64::NEG_INFINITY, None);
    let mut at = 0;
    let mut first_part = Vec::new();
    let mut spans: Vec<Span> = Vec::new();
    let mut peak_window = None;
    for (index, (name, n)) in parts.iter().enumerate() {
        (d.peak, d.peak_at) = (f64::NEG_INFINITY, None);
        let mut watch = Watch::default();
        for i in 0..*n {
            let rows = (at + i) * w..(at + i + 1) * w;
            let (Some(live), Some(truth)) = (pred.get(rows.clone()), truth.get(rows)) else {
                break;
            };
            let seq = i as u64;
            let s = Scored {
                seq,
                ts: None,
                live,
                truth,
            };
            d.scored(&mut watch, name, w, s);
        }
        at += n;
        let index = (!whole_only).then_some(index);
        let mut begins: Vec<u64> = Vec::new();
        for e in d.events.drain(..) {
            match e.state {
                DeviationState::Begin => {
                    begins.push(e.seq);
                    spans.push(Span {
                        part: name.clone(),
                        index,
                        begin: e.seq,
                        end: None,
                    });
                }
                _ => {
                    if let Some(open) = spans.last_mut().filter(|s| s.end.is_none()) {
                        open.end = Some(e.seq);
                    }
                }
            }
        }
        if let Some(&first) = begins.first() {
            begun.push((name.clone(), begins.len()));
            first_begun.push((name.clone(), first));
            first_part.push(index);
        }
        if let Some((_, mean)) = &d.peak_at {
            by_part.push((name.clone(), *mean));
        }
        if d.peak > overall.0 {
            overall = (d.peak, d.peak_at.take());
            peak_window = Some((index, d.peak_seq));
        }
    }
    Replay {
        threshold,
        windows: cfg.windows.max(1),
        side: cfg.side,
        begun,
        first_begun,
        first_part,
        first_at: Vec::new(),
        spans,
        deviations: Vec::new(),
        peak_window,
        peak_where: None,
        step_s: None,
        peak: overall.0.is_finite().then_some(overall.0),
        peak_at: overall.1,
        by_part,
        rows: w,
    }
}

impl Replay {
    /// Sets [`Self::first_at`]: `at(part, window)` says where the window
    /// of the part (its place among those given) ends, where it can.
    pub fn locate(&mut self, at: &dyn Fn(usize, u64) -> Option<String>) {
        self.first_at = (self.first_begun.iter().zip(&self.first_part))
            .filter_map(|((name, k), part)| Some((name.clone(), at((*part)?, *k)?)))
            .collect();
        self.deviations = (self.spans.iter())
            .filter_map(|s| {
                let part = s.index?;
                Some(Located {
                    part: s.part.clone(),
                    begins: at(part, s.begin)?,
                    ends: match s.end {
                        Some(e) => Some(at(part, e)?),
                        None => None,
                    },
                })
            })
            .collect();
        self.peak_where = self.peak_window.and_then(|(part, k)| at(part?, k));
    }

    /// Where the deviations begin and end, as located: `; it begins on
    /// a.csv's window ending at data row 43, … and ends on …`, or the
    /// first few of several.
    fn spans_said(&self, total: usize) -> String {
        const SAID: usize = 3;
        let parts = {
            let mut p: Vec<&str> = self.deviations.iter().map(|d| d.part.as_str()).collect();
            p.dedup();
            p.len()
        };
        match &self.deviations[..] {
            [] => String::new(),
            [d] if total == 1 => match &d.ends {
                Some(end) => format!(
                    "; it begins on {}'s window ending at {} and ends on the one ending at {end}",
                    d.part, d.begins
                ),
                None => format!(
                    "; it begins on {}'s window ending at {} and is on to its last window",
                    d.part, d.begins
                ),
            },
            all => {
                let each: Vec<String> = (all.iter().take(SAID))
                    .map(|d| {
                        let part = if parts > 1 {
                            format!("{}: ", d.part)
                        } else {
                            String::new()
                        };
                        let end = d
                            .ends
                            .as_ref()
                            .map_or("to the last window".into(), |e| format!("to {e}"));
                        format!("{part}{} ({end})", d.begins)
                    })
                    .collect();
                let more = match total.saturating_sub(SAID) {
                    0 => String::new(),
                    n => format!(" and {n} more (--json lists them: deviation_watch.deviations)"),
                };
                format!(
                    "; they begin on the windows ending at {}{more}",
                    each.join("; ")
                )
            }
        }
    }

    /// The line `eval` prints.
    pub fn line(&self, whence: &str, unit: Option<&str>) -> String {
        let unit = unit.map_or(String::new(), |u| format!(" {u}"));
        let side = match self.side {
            Side::Both => "either way",
            Side::Below => "below",
            Side::Above => "above",
        };
        // (96 rows of 15 minutes: a day; four of them, four days.)
        let span = self.step_s.map_or(String::new(), |s| {
            let all = s * (self.windows * self.rows) as f64;
            format!(", {} in all", crate::recording::time::span(all))
        });
        let how = format!(
            "serve --deviation would watch for a mean of truth − translation over {} windows \
             ({} rows each, sharing none{span}) beyond {}{unit} {side} ({whence})",
            self.windows,
            self.rows,
            crate::eval::significant(self.threshold)
        );
        let peak = match (self.peak, &self.peak_at) {
            (Some(p), Some((part, mean))) => format!(
                "; the largest mean, {}{unit} on {part}{}, came to {} of the threshold",
                crate::eval::significant(*mean),
                (self.peak_where.as_ref()).map_or(String::new(), |w| format!(" (to {w})")),
                crate::eval::significant(p)
            ),
            _ => String::new(),
        };
        // Stream by stream, where there are several (the first 12).
        let peak = match self.by_part.len() {
            0 | 1 => peak,
            k => {
                let each: Vec<String> = (self.by_part.iter().take(12))
                    .map(|(part, mean)| format!("{part} {}", crate::eval::significant(*mean)))
                    .collect();
                let more = if k > 12 {
                    format!(" and {} more", k - 12)
                } else {
                    String::new()
                };
                format!("{peak}; by stream, the largest: {}{more}", each.join(", "))
            }
        };
        match self.begun.len() {
            _ if self.peak.is_none() => format!("{how}: too few windows here to judge"),
            0 => format!("{how}: no deviation would begin on these windows{peak}"),
            _ => {
                let total: usize = self.begun.iter().map(|(_, n)| n).sum();
                let named: Vec<String> = (self.begun.iter().take(5))
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect();
                let more = match self.begun.len() {
                    k if k > 5 => format!(" and {} more", k - 5),
                    _ => String::new(),
                };
                // When they began and ended: what a user judging the watch
                // asks first (a walk stood up a service to learn it).
                let first = self.spans_said(total);
                format!(
                    "{how}: {total} deviation(s) would begin on these windows ({}{more}{first}){peak}",
                    named.join(", ")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests;
