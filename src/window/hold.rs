//! A stream of changes read on a clock, live, as `retrain --resample` read
//! the recording: each change's value is held until the next and read at
//! every tick, the ticks numbered from the epoch (tick k is at k × step),
//! so a stream's samples are numbered by their time and a replay numbers
//! them alike.
//!
//! A tick is read once its value is known: when a later change comes (the
//! stream's own), or, for a stream timed by its arrival, when the service's
//! clock has passed it (see `service::ingest`). A change stamped before
//! ticks already read applies from the next (it came late).

use serde::{Deserialize, Serialize};

/// How a route reads changes on a clock: the model's `retrain --resample`
/// step, and how long one value is held at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// The step between ticks (ns, > 0).
    pub step_ns: i64,
    /// The longest a value is held (ns): the model's `--max-gap` (or the
    /// route's `max_gap`), else the route's idle time-out.
    pub max_hold_ns: i64,
}

/// The clock a route serving a model reads changes on: its `resample`
/// (seconds; 0: none), else the step its model's training recording was
/// read at (`reading.resample_s`); and the hold the route's `max_gap` or
/// the model's recorded `--max-gap` bounds (seconds; `None`: only by the
/// idle time-out). `None`: the route reads samples as they come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resample {
    pub step_s: f64,
    pub max_hold_s: Option<f64>,
}

impl Resample {
    pub fn of(
        resample: Option<f64>,
        max_gap: Option<f64>,
        metrics: Option<&serde_json::Value>,
    ) -> Option<Self> {
        let positive = |v: Option<f64>| v.filter(|s| s.is_finite() && *s > 0.0);
        let reading = metrics.map(|m| &m["reading"]);
        let step_s = match resample {
            Some(s) => positive(Some(s))?,
            None => positive(reading.and_then(|r| r["resample_s"].as_f64()))?,
        };
        // At least a nanosecond, as a tick must be.
        (step_s * 1e9 >= 1.0).then_some(())?;
        let max_hold_s = match max_gap {
            Some(g) => positive(Some(g)),
            None => positive(reading.and_then(|r| r["max_gap_s"].as_f64())),
        };
        Some(Self { step_s, max_hold_s })
    }

    /// The clock, a hold bounded by `idle` where nothing else bounds it.
    pub fn clock(self, idle: std::time::Duration) -> Clock {
        // Seconds to ns; `as` saturates (a hold of centuries is unbounded).
        let ns = |s: f64| (s * 1e9) as i64;
        let idle = i64::try_from(idle.as_nanos()).unwrap_or(i64::MAX);
        Clock {
            step_ns: ns(self.step_s).max(1),
            max_hold_ns: self.max_hold_s.map_or(idle, ns),
        }
    }
}

impl Clock {
    /// The first tick at or after `t` (ns).
    pub fn tick_from(&self, t: i64) -> i64 {
        let (q, r) = (t.div_euclid(self.step_ns), t.rem_euclid(self.step_ns));
        q + i64::from(r != 0)
    }

    /// The time of tick `k` (ns), saturating.
    pub fn at(&self, k: i64) -> i64 {
        k.saturating_mul(self.step_ns)
    }
}

/// Ticks read off a hold: `len` ticks from `first`, all `value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    pub first: u64,
    pub len: u64,
    pub value: f32,
}

/// A change stamped before the one held: dropped, as an out-of-order
/// sample is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Earlier {
    /// When the change held came (ns).
    pub held_at: i64,
}

/// One stream's value held on a clock, as a checkpoint stores it too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    /// The value held, and when it came (ns since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    held: Option<(f32, i64)>,
    /// A refused message ended the hold here (ns): ticks from it on have
    /// no value until the next change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<i64>,
    /// The first tick not yet read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<i64>,
    /// Its changes are timed by their arrival (they carry no `ts`): the
    /// service's clock reads its ticks as time passes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_arrival: bool,
}

impl Hold {
    /// Whether a value is held (its ticks are still to be read).
    pub fn holds(&self) -> bool {
        self.held.is_some()
    }

    /// Reads the ticks before `before` (ns) that the held value covers:
    /// those up to its hold's end (`max_hold_ns` after it came, or where a
    /// refused message ended it); past that end the value is let go.
    pub fn read(&mut self, clock: &Clock, before: i64) -> Option<Run> {
        let (value, t0) = self.held?;
        let next = self.next.unwrap_or_else(|| clock.tick_from(t0));
        // The last tick of the hold: within `max_hold_ns` of the change,
        // and before a refusal.
        let mut end = t0
            .saturating_add(clock.max_hold_ns)
            .div_euclid(clock.step_ns);
        if let Some(u) = self.until {
            end = end.min(clock.tick_from(u) - 1);
        }
        let last = (clock.tick_from(before) - 1).min(end);
        if clock.tick_from(before) > end {
            // Past its end: nothing more is read of it.
            self.held = None;
            self.until = None;
        }
        if last < next || next < 0 {
            self.next = Some(next.max(last.saturating_add(1)));
            return None;
        }
        self.next = Some(last + 1);
        Some(Run {
            first: next as u64,
            len: (last - next + 1) as u64,
            value,
        })
    }

    /// Takes a change to `value` at `t` (ns): the ticks before it read
    /// with the value held until then, and the new value held from it.
    pub fn change(
        &mut self,
        clock: &Clock,
        value: f32,
        t: i64,
        by_arrival: bool,
    ) -> Result<Option<Run>, Earlier> {
        if let Some((_, t0)) = self.held.filter(|&(_, t0)| t < t0) {
            return Err(Earlier { held_at: t0 });
        }
        let run = self.read(clock, t);
        let from = clock.tick_from(t);
        self.next = Some(self.next.map_or(from, |n| n.max(from)));
        self.held = Some((value, t));
        self.until = None;
        self.by_arrival = by_arrival;
        Ok(run)
    }

    /// A refused message of the stream came at `at` (ns): the value held
    /// ends there, as a word in place of a reading ended it in training
    /// (no tick from it on has a value until the next change). A stream
    /// stamped by its sender ends at its last change: the refused
    /// message's own time is not known.
    pub fn end(&mut self, at: Option<i64>) {
        if let Some((_, t0)) = self.held {
            let u = at.map_or(t0.saturating_add(1), |a| a.max(t0));
            self.until = Some(self.until.map_or(u, |x| x.min(u)));
        }
    }
}

#[cfg(test)]
mod tests;
