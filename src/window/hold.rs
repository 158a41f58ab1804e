//! A stream of changes read on a clock, live, as `retrain --resample` read
//! the recording: each change's value is held until the next and read at
//! every tick, the ticks numbered from the epoch (tick k is at k × step,
//! plus a joined model's phase: [`Clock::phase_ns`]),
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
    /// The longest a value is held (ns): the route's `max_gap`, else the
    /// model's `--max-gap`; `i64::MAX`: until the next change, however
    /// long, as training held it without one.
    pub max_hold_ns: i64,
    /// Where the ticks lie in each step (ns, 0 ≤ phase < step): tick k is
    /// at k × step + phase. 0 but for a model trained on a file `join`
    /// joined on the rows of an output logged off the epoch's grid (a
    /// logger launched at 12:07, a row every 15 min): its ticks are that
    /// output's, as its training rows were.
    pub phase_ns: i64,
}

/// How far a change's stamp may lie from the service's time and still
/// count as live (and how far ahead it may lie at all, or before the value
/// held without starting the stream over): two ticks, at least a minute.
const LIVE_NS: i64 = 60_000_000_000;

/// The grid the service's time is read on, at most (see
/// [`Clock::grid_ns`]).
const GRID_NS: i64 = 100_000_000;

/// The clock a route serving a model reads changes on: its `resample`
/// (seconds; 0: none), else the step its model's training recording was
/// read at (`reading.resample_s`); and the hold the route's `max_gap` or
/// the model's recorded `--max-gap` bounds (seconds; `None`: unbounded).
/// `None`: the route reads samples as they come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resample {
    pub step_s: f64,
    pub max_hold_s: Option<f64>,
    /// How often the model's training input changed (per second), where
    /// it recorded it: a stream's changes far faster are a replay sped up.
    pub trained_changes_per_s: Option<f64>,
    /// Whether the model learnt each row's own reading of its output, on
    /// the clock its input was held on (a file `pipeline join` joined):
    /// a tick's truth is a reading of that tick ([`Self::truth_clock`]).
    /// Otherwise its truth is held as its input (a model trained on a
    /// clock held both; a meter that reports on change beside a model
    /// trained on rows holds its value between changes).
    pub truth_per_tick: bool,
    /// Where the ticks lie in each step (seconds; see [`Clock::phase_ns`]):
    /// a joined file's output's, where the clock is its step.
    pub phase_s: f64,
}

impl Resample {
    pub fn of(
        resample: Option<f64>,
        max_gap: Option<f64>,
        metrics: Option<&serde_json::Value>,
    ) -> Option<Self> {
        let positive = |v: Option<f64>| v.filter(|s| s.is_finite() && *s > 0.0);
        let reading = metrics.map(|m| &m["reading"]);
        // (A model trained on a file `join` held the input of on the
        // output's clock: that clock, unless the route sets one.)
        let joined = crate::recording::join::JoinClock::recorded(metrics);
        let step_s = match resample {
            Some(s) => positive(Some(s))?,
            None => positive(reading.and_then(|r| r["resample_s"].as_f64()))
                .or(joined.map(|j| j.resample_s))?,
        };
        // At least a nanosecond, as a tick must be.
        (step_s * 1e9 >= 1.0).then_some(())?;
        // (A model trained on rows read on a route's clock, two loggers'
        // files joined on the output's: the hold is the route's, which
        // `join` prints as the one it joined with; see `Joined::serve`.)
        let max_hold_s = match max_gap {
            Some(g) => positive(Some(g)),
            // The hold the join read the input with, as training saw it.
            None if !Self::trained_on_clock(metrics) && joined.is_some() => {
                joined.and_then(|j| j.max_gap_s)
            }
            None => positive(reading.and_then(|r| r["max_gap_s"].as_f64())),
        };
        let trained_step = reading.and_then(|r| r["resample_s"].as_f64());
        let trained_changes_per_s = (metrics.and_then(|m| m["changes_per_tick"].as_f64()))
            .zip(positive(trained_step))
            .map(|(n, step)| n / step);
        // The joined output's ticks, where the clock is its step (not on
        // a model `retrain --resample` read the file with: on the epoch's).
        let phase_s = joined
            .filter(|_| !Self::trained_on_clock(metrics))
            .filter(|j| (j.resample_s - step_s).abs() <= 1e-9 * step_s)
            .and_then(|j| j.phase_s)
            .filter(|p| p.is_finite() && *p > 0.0 && *p < step_s)
            .unwrap_or(0.0);
        Some(Self {
            step_s,
            max_hold_s,
            trained_changes_per_s,
            truth_per_tick: Self::joined(metrics),
            phase_s,
        })
    }

    /// What an operator should know of this clock on a route whose idle
    /// time-out is `idle`: a hold shorter than a tick and a half reads
    /// nothing of some changes (`retrain` refuses one), one of more ticks
    /// than a read takes is cut, and a hold the model's training did not
    /// bound is not bounded here either.
    pub fn warnings(
        self,
        idle: std::time::Duration,
        metrics: Option<&serde_json::Value>,
    ) -> Vec<String> {
        let clock = self.clock();
        let span = |ns: i64| crate::recording::time::span(ns as f64 / 1e9);
        let (step, hold) = (span(clock.step_ns), span(clock.max_hold_ns));
        let mut said = Vec::new();
        // A route's own clock against the step the model learnt.
        let reading = metrics.map(|m| &m["reading"]["resample_s"]);
        let trained = (reading.and_then(serde_json::Value::as_f64))
            .or_else(|| metrics.and_then(|m| m["time_step_s"].as_f64()))
            .filter(|s| s.is_finite() && *s > 0.0);
        if let Some(t) = trained.filter(|t| (self.step_s / t - 1.0).abs() > 0.01) {
            let (faster, ratio) = match self.step_s < t {
                true => ("slower", t / self.step_s),
                false => ("faster", self.step_s / t),
            };
            said.push(format!(
                "the route reads changes every {step}, its model learnt a series read every {}: \
                 it sees the signal {}× {faster} than it was trained on (the model's own \
                 clock: leave resample out)",
                crate::recording::time::span(t),
                (ratio * 1000.0).round() / 1000.0
            ));
        }
        if (clock.max_hold_ns as f64) < 1.5 * clock.step_ns as f64 {
            said.push(format!(
                "a value is held {hold} at most, under a tick and a half of the clock (every \
                 {step}): a change more than {hold} before the next tick is never read (a \
                 max_gap of at least 1.5 ticks, as retrain --resample requires)"
            ));
        }
        if clock.max_hold_ns != i64::MAX && clock.max_hold_ns / clock.step_ns > MAX_RUN {
            said.push(format!(
                "a value is held {hold} at most, more than {MAX_RUN} ticks of the clock (every \
                 {step}): a read takes {MAX_RUN} at most, a change cuts the rest"
            ));
        }
        let trained_on_clock = Self::trained_on_clock(metrics);
        if self.max_hold_s.is_none() {
            let why = match trained_on_clock {
                true => {
                    "the model's training held each value until its next change, however long \
                     (no --max-gap), and so is it served"
                }
                false => {
                    "each value is held until its next change, however long (neither the route's \
                     max_gap nor the model bounds it)"
                }
            };
            said.push(format!(
                "{why}: a sensor gone quiet is translated at every tick until it is forgotten ({} \
                 without a message in core NATS; in durable mode never); a route's max_gap bounds \
                 a hold",
                crate::recording::time::span(idle.as_secs_f64())
            ));
        }
        said
    }

    /// Whether a model's training read its recording on a clock
    /// (`retrain --resample`, recorded as `reading.resample_s`).
    pub fn trained_on_clock(metrics: Option<&serde_json::Value>) -> bool {
        metrics.is_some_and(|m| m["reading"]["resample_s"].is_number())
    }

    /// Whether a model's clock is the one its training file was joined on
    /// (`pipeline join`, recorded as `joined`), where it was trained on
    /// rows.
    pub fn joined(metrics: Option<&serde_json::Value>) -> bool {
        !Self::trained_on_clock(metrics)
            && crate::recording::join::JoinClock::recorded(metrics).is_some()
    }

    /// The clock a truth stream is read on: the input's, its hold at most
    /// a tick and a half where the model learnt a reading per tick (a
    /// reading each tick, late by less than half a tick, is read at every
    /// tick; a meter gone quiet has no truth from the next tick on, as the
    /// joined rows had none, instead of its last reading scored against
    /// for as long as the input is held).
    pub fn truth_clock(self) -> Clock {
        let c = self.clock();
        match !self.truth_per_tick {
            true => c,
            false => Clock {
                max_hold_ns: c.max_hold_ns.min(c.step_ns.saturating_mul(3) / 2),
                ..c
            },
        }
    }

    /// The clock.
    pub fn clock(self) -> Clock {
        // Seconds to ns; `as` saturates (a hold of centuries is unbounded).
        let ns = |s: f64| (s * 1e9) as i64;
        let step_ns = ns(self.step_s).max(1);
        Clock {
            step_ns,
            max_hold_ns: self.max_hold_s.map_or(i64::MAX, ns),
            phase_ns: ns(self.phase_s).clamp(0, step_ns - 1),
        }
    }
}

impl Clock {
    /// The first tick at or after `t` (ns).
    pub fn tick_from(&self, t: i64) -> i64 {
        let t = t.saturating_sub(self.phase_ns);
        let (q, r) = (t.div_euclid(self.step_ns), t.rem_euclid(self.step_ns));
        q + i64::from(r != 0)
    }

    /// The last tick at or before `t` (ns).
    pub fn tick_until(&self, t: i64) -> i64 {
        t.saturating_sub(self.phase_ns).div_euclid(self.step_ns)
    }

    /// The time of tick `k` (ns), saturating.
    pub fn at(&self, k: i64) -> i64 {
        k.saturating_mul(self.step_ns).saturating_add(self.phase_ns)
    }

    /// Whether a hold's ticks numbered on this clock are `other`'s.
    fn same_ticks(&self, other: &Clock) -> bool {
        (self.step_ns, self.phase_ns) == (other.step_ns, other.phase_ns)
    }

    /// The grid the service's time is read on: a tenth of a second that
    /// divides the step (the step where none does, or where it is finer).
    /// A live stream's lag is whole grid steps, so what a read takes
    /// depends on the grid cell of the service's time alone.
    pub fn grid_ns(&self) -> i64 {
        let step = self.step_ns.max(1);
        // The fewest parts of the step, each a tenth of a second or less
        // (0.25 s in 4, 1.25 s in 16), among the next 256 counts.
        let d = (step - 1) / GRID_NS + 1;
        (d..=d.saturating_add(256))
            .find(|n| step % n == 0)
            .map_or(step, |n| step / n)
    }

    /// The first grid point at or after `t` (ns), as a cell number.
    pub fn cell(&self, t: i64) -> i64 {
        let g = self.grid_ns();
        t.div_euclid(g) + i64::from(t.rem_euclid(g) != 0)
    }

    /// How far a stamp may lie from the service's time and count as live;
    /// further ahead it is refused, further before the value held it
    /// starts the stream over (two ticks, at least a minute).
    pub fn live_ns(&self) -> i64 {
        self.step_ns.saturating_mul(2).max(LIVE_NS)
    }

    /// When a message's `n` changes came, the first's time, and how far
    /// behind the service's time `now` their ticks are read ([`Self::lag_ns`]):
    /// from its `ts` (`stamped`), else up to its arrival, one step apart.
    /// `Err`: why no tick reads them: a time before 1970, or one far ahead
    /// of the service's (a wrong stamp would hold every later change back).
    pub fn changes_at(
        &self,
        stamped: Option<i64>,
        n: usize,
        now: i64,
    ) -> Result<(i64, Option<i64>), String> {
        let rest = (n.max(1) as i64 - 1).saturating_mul(self.step_ns);
        let t = match stamped {
            Some(ts) => ts,
            None => now.saturating_sub(rest),
        };
        if t < 0 {
            return Err(format!(
                "ts {t} lies before 1970: no tick of the route's clock reads it"
            ));
        }
        let ahead = t.saturating_add(rest).saturating_sub(now);
        if ahead > self.live_ns() {
            let span = |ns: i64| crate::recording::time::span(ns as f64 / 1e9);
            return Err(format!(
                "ts lies {} ahead of the service's time (more than {}): a sender's clock set \
                 wrong? (refused: its changes would hold back every later one)",
                span(ahead),
                span(self.live_ns())
            ));
        }
        Ok((t, self.lag_ns(stamped.map(|_| -ahead))))
    }

    /// How far behind the service's time a stream's ticks are read (its
    /// [`Hold::lag_ns`]): 0 for one timed by its arrival (`behind` `None`);
    /// for a live sender, whose newest stamp lies `behind` ns behind the
    /// service's time (within [`Self::live_ns`]), that lag and a tenth of a
    /// second more for its messages' jitter, rounded up to the grid, so
    /// what is read depends on the grid cell of the service's time alone
    /// and a replay reads alike; `None` for a replay's stamps, whose ticks
    /// only its next change reads.
    pub fn lag_ns(&self, behind: Option<i64>) -> Option<i64> {
        match behind {
            None => Some(0),
            Some(b) if b <= self.live_ns() => {
                let lag = b.max(0).saturating_add(100_000_000);
                Some(self.cell(lag).saturating_mul(self.grid_ns()))
            }
            Some(_) => None,
        }
    }
}

/// The most ticks one read takes off a hold: a run past it (a clock of
/// milliseconds whose values are held for minutes) is read in parts by the
/// service's clock, or cut by the next change (the rest has no value), so
/// no stream's read makes more windows than this at once.
pub const MAX_RUN: i64 = 1 << 16;

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
    /// How far its changes' time runs behind the service's (ns): 0 for a
    /// stream timed by its arrival (no `ts`), what its last change's stamp
    /// lagged for a live sender's; its ticks are read as the service's time
    /// passes. `None`: stamps far from the service's time (a replay of a
    /// recording), whose ticks only its next change reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_ns: Option<i64>,
    /// The step of the clock its ticks are numbered on (ns): a model read
    /// at another step swapped in numbers them otherwise.
    #[serde(default, skip_serializing_if = "is_zero")]
    step_ns: i64,
    /// And where its ticks lie in a step (ns; see [`Clock::phase_ns`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    phase_ns: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Hold {
    /// Whether a value is held (its ticks are still to be read).
    pub fn holds(&self) -> bool {
        self.held.is_some()
    }

    /// When the change held came (ns).
    pub fn held_at(&self) -> Option<i64> {
        self.held.map(|(_, t)| t)
    }

    /// The same value held, its ticks numbered on `clock` from the first
    /// time not yet read (from its change where none was).
    pub fn rebased(self, clock: &Clock) -> Self {
        let from = (self.next.zip(self.ticks()))
            .filter(|(_, old)| old.step_ns > 0)
            .map(|(next, old)| old.at(next));
        Self {
            next: from.map(|t| clock.tick_from(t)),
            step_ns: clock.step_ns,
            phase_ns: clock.phase_ns,
            ..self
        }
    }

    /// The clock its ticks are numbered on, where it has one (its hold
    /// unbounded: only the ticks' times are meant).
    fn ticks(&self) -> Option<Clock> {
        (self.step_ns > 0).then_some(Clock {
            step_ns: self.step_ns,
            max_hold_ns: i64::MAX,
            phase_ns: self.phase_ns,
        })
    }

    /// Whether its ticks are numbered on `clock` (or it has none).
    pub fn on(&self, clock: Option<&Clock>) -> bool {
        *self == Self::default()
            || self
                .ticks()
                .zip(clock)
                .is_some_and(|(a, b)| a.same_ticks(b))
    }

    /// Reads the ticks before `before` (ns) that the held value covers:
    /// those up to its hold's end (`max_hold_ns` after it came, or where a
    /// refused message ended it); past that end the value is let go.
    pub fn read(&mut self, clock: &Clock, before: i64) -> Option<Run> {
        let (value, t0) = self.held?;
        let next = self.next.unwrap_or_else(|| clock.tick_from(t0));
        // The last tick of the hold: within `max_hold_ns` of the change,
        // and before a refusal.
        let mut end = clock.tick_until(t0.saturating_add(clock.max_hold_ns));
        if let Some(u) = self.until {
            end = end.min(clock.tick_from(u) - 1);
        }
        let reach = (clock.tick_from(before) - 1).min(end);
        let last = reach.min(next.saturating_add(MAX_RUN - 1));
        if clock.tick_from(before) > end && last == end {
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
        lag_ns: Option<i64>,
    ) -> Result<Option<Run>, Earlier> {
        if let Some((_, t0)) = self.held.filter(|&(_, t0)| t < t0) {
            return Err(Earlier { held_at: t0 });
        }
        let run = self.read(clock, t);
        let from = clock.tick_from(t);
        self.next = Some(self.next.map_or(from, |n| n.max(from)));
        self.held = Some((value, t));
        self.until = None;
        self.lag_ns = lag_ns;
        self.step_ns = clock.step_ns;
        self.phase_ns = clock.phase_ns;
        Ok(run)
    }

    /// Whether `t` lies at or after the value held (or none is).
    pub fn since(&self, t: i64) -> bool {
        self.held.is_none_or(|(_, t0)| t >= t0)
    }

    /// A refused message of the stream came at `at` (ns, the service's
    /// time less the stream's lag): the value held ends there, as a word
    /// in place of a reading ended it in training (no tick from it on has a
    /// value until the next change). A replay's stream ends at its last
    /// change: the refused message's own time is not known.
    pub fn end(&mut self, at: Option<i64>) {
        if let Some((_, t0)) = self.held {
            let u = at.map_or(t0.saturating_add(1), |a| a.max(t0));
            self.until = Some(self.until.map_or(u, |x| x.min(u)));
        }
    }
}

#[cfg(test)]
mod tests;
