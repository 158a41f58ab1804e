//! What a model put in says of the route's time: its recording's step
//! and its clock for a sensor's changes, against the route's now.

use super::Route;
use crate::format::LoadedModel;
use crate::window::TimeGaps;
use crate::window::hold::Resample;

impl Route {
    /// A model whose recording's step is not the one the route's streams
    /// are windowed and judged at now: said, since serving live it moves
    /// the route to its own (where a stream's window restarts in time, and
    /// the rate it is judged at), from the next sample on.
    pub(super) fn other_step(&self, new: &LoadedModel) -> Option<String> {
        let theirs = TimeGaps::of(self.cfg.max_gap, new.meta.metrics.as_ref());
        let ours = self.time_gaps();
        let step = |g: Option<TimeGaps>| g.map_or(0, |g| g.step_ns);
        let span = |ns: i64| crate::recording::time::span(ns as f64 / 1e9);
        let live = "serving live, it moves the route to its own from the next sample on";
        match (theirs, ours) {
            (Some(t), Some(o)) if step(theirs) > 0 && step(ours) > 0 => {
                let differ = (t.step_ns as f64 / o.step_ns as f64 - 1.0).abs() > 0.01;
                differ.then(|| {
                    format!(
                        "it was trained on a recording sampled every {}, the route's streams are \
                         windowed at {} (a window restarts after {}): {live} (after {})",
                        span(t.step_ns),
                        span(o.step_ns),
                        span(o.max_gap_ns),
                        span(t.max_gap_ns)
                    )
                })
            }
            (Some(t), None) => Some(format!(
                "it records its recording's time step ({}), the route's model none: {live} (a \
                 stream's window restarts where its ts jumps by more than {})",
                span(t.step_ns),
                span(t.max_gap_ns)
            )),
            (None, Some(_)) => Some(format!(
                "it records no time step, the route's model one: {live} (no window restarts at a \
                 gap in time)"
            )),
            _ => None,
        }
    }

    /// A model whose clock for a sensor's changes is not the route's now:
    /// said, since serving live it moves the route to its own.
    pub(super) fn other_clock(&self, new: &LoadedModel) -> Option<String> {
        let theirs = Resample::of(
            self.cfg.resample,
            self.cfg.max_gap,
            new.meta.metrics.as_ref(),
        );
        let span = |s: f64| crate::recording::time::span(s);
        let live = "serving live, it moves the route to its own from the next sample on";
        match (theirs, self.resample()) {
            (Some(t), Some(o)) => ((t.step_s / o.step_s - 1.0).abs() > 0.01).then(|| {
                format!(
                    "its recording was read every {}, the route reads a sensor's changes every \
                     {}: {live} (held streams start over on it)",
                    span(t.step_s),
                    span(o.step_s)
                )
            }),
            (Some(t), None) => Some(format!(
                "its recording was read on a clock ({}, every {}), the route's model's was not: \
                 {live} (samples without seq are read as changes, each held until the next)",
                match Resample::joined(new.meta.metrics.as_ref()) {
                    true => "pipeline join held its input on the output's",
                    false => "retrain --resample",
                },
                span(t.step_s)
            )),
            (None, Some(o)) => Some(format!(
                "it was trained without --resample, the route reads a sensor's changes every {} \
                 now: {live} (samples without seq windowed as they come; a route's resample, \
                 serve --resample, keeps a clock)",
                span(o.step_s)
            )),
            (None, None) => None,
        }
    }
}
