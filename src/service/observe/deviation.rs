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

use super::Compare;
use crate::config::{DeviationConfig, Side};
use crate::format::LoadedModel;
use crate::wire::{DeviationEvent, DeviationState};

/// Streams named in `$SRV.STATS` (the rest are counted).
const NAMED: usize = 10;

/// What one live model's windows are judged by.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Rule {
    pub threshold: f64,
    windows: usize,
    side: Side,
    model: String,
    unit: Option<String>,
}

impl Rule {
    /// The rule for `model`; `Err`: why there is none (no threshold set,
    /// and the model records no held-out error).
    pub(super) fn of(cfg: &DeviationConfig, model: &LoadedModel) -> Result<Self, String> {
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
pub(super) struct Watch {
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

/// A window this far behind the last one taken is of a count started
/// again (a publisher restarted); nearer, it came out of order (batches of
/// several compute threads reach the observer in any order) and is
/// skipped.
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
pub(super) struct Scored<'a> {
    pub seq: u64,
    pub ts: Option<i64>,
    pub live: &'a [f32],
    pub truth: &'a [f32],
}

/// A route's watches' rule, events to publish and who deviates now.
pub(super) struct Deviations {
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
        match watch.next {
            // A count started again (a publisher restarted).
            Some(next) if s.seq.saturating_add(RESTARTED) < next => watch.restarted(),
            // Out of order, or sharing samples with the last one taken.
            Some(next) if s.seq < next => return,
            _ => {}
        }
        watch.next = Some(s.seq + w as u64);
        watch.last = s.seq;
        watch.judged_at = Some(Instant::now());
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
        let beyond = rule.beyond(mean);
        let state = if !watch.on && beyond > rule.threshold {
            DeviationState::Begin
        } else if watch.on && beyond <= rule.threshold / 2.0 {
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

    /// The events to publish, and the counts in `compare`.
    pub fn take(&mut self, compare: &Compare) -> Vec<DeviationEvent> {
        if !std::mem::take(&mut self.changed) {
            return std::mem::take(&mut self.events);
        }
        let count = |state| self.events.iter().filter(|e| e.state == state).count() as u64;
        let (begun, stopped) = (count(DeviationState::Begin), count(DeviationState::Stopped));
        let named = (self.now.iter().take(NAMED))
            .map(|(s, m)| (s.clone(), *m))
            .collect();
        let deviating = self.now.len() as u64;
        compare.update(|c| {
            c.deviations += begun;
            c.deviations_stopped += stopped;
            c.deviating = deviating;
            c.deviating_streams = named;
        });
        std::mem::take(&mut self.events)
    }
}

#[cfg(test)]
mod tests;
