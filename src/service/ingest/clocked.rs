//! A sensor's changes read on its route's clock (a model trained with
//! `retrain --resample`): each change's value is held until the next and
//! read at every tick, the ticks numbered from the epoch, so a stream's
//! windows are of the samples training read (see [`crate::window::hold`]).
//!
//! A tick's value is known once a later change has come, or, for a stream
//! timed by its arrival, once the service's time has passed it: each
//! message first has the ticks before its time read off every such stream
//! (in durable mode its time is when JetStream stored it, so a replay
//! reads the same ticks where the first reading did), and while no message
//! comes, in core NATS a timer reads them, in durable mode a clock message
//! the unit stores (`durable::clock`).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::time::Instant;

use super::{Handled, Ingest, Rejection, StreamEntry, WhenFull};
use crate::service::engine::{Buffers, Job};
use crate::service::events::{Origin, TraceParent};
use crate::service::route::Route;
use crate::window::hold::{Clock, Run};
use crate::window::{Outcome, StreamWindow};
use crate::wire::ErrorKind;

/// Windows read off the clock held before they are handed on: a read of
/// many streams hands them on as they pass this.
const DISPATCH_AT: usize = 4096;

/// How fast a stream's changes come: measured over each run of
/// [`Pace::OVER`] changes.
#[derive(Debug, Default)]
pub(super) struct Pace {
    changes: u32,
    /// The run's first change, and its latest.
    since: Option<(i64, i64)>,
}

impl Pace {
    pub(super) const OVER: u32 = 48;

    /// A change at `at` (ns): every [`Pace::OVER`] changes, how many came
    /// per second.
    pub(super) fn note(&mut self, at: i64) -> Option<f64> {
        let (since, last) = *self.since.get_or_insert((at, at));
        // Its time went back (a clock set back, the stream started over):
        // measured afresh from here.
        if at < last {
            *self = Self::default();
            return self.note(at);
        }
        self.since = Some((since, at));
        self.changes += 1;
        if self.changes < Self::OVER {
            return None;
        }
        *self = Self::default();
        let span_s = (at - since) as f64 / 1e9;
        (span_s > 0.0).then(|| f64::from(Self::OVER - 1) / span_s)
    }
}

/// What makes a run of ticks into windows of one stream.
struct Feed<'a> {
    ticks: &'a mut Vec<f32>,
    completed: &'a mut Vec<Job>,
    buffers: &'a Buffers,
    clock: Clock,
    stride: u64,
}

impl<'a> Feed<'a> {
    fn new(
        ticks: &'a mut Vec<f32>,
        completed: &'a mut Vec<Job>,
        route: &'a Route,
        clock: Clock,
    ) -> Self {
        let (buffers, stride) = (&route.buffers, route.cfg.stride);
        Self {
            ticks,
            completed,
            buffers,
            clock,
            stride,
        }
    }

    /// Feeds `run` to `window`: each window completed becomes a job,
    /// stamped with the time of its newest tick.
    fn run(
        &mut self,
        window: &mut StreamWindow,
        run: Run,
        stream: &Arc<str>,
        trace: Option<&TraceParent>,
        live: bool,
    ) -> Outcome {
        let w = window.window() as u64;
        self.ticks.clear();
        self.ticks.resize(run.len as usize, run.value);
        let (clock, completed, buffers) = (self.clock, &mut *self.completed, self.buffers);
        window.accept_at(run.first, self.ticks, None, self.stride, |first, win| {
            let newest = i64::try_from(first + w - 1).unwrap_or(i64::MAX);
            completed.push(Job {
                stream: stream.clone(),
                seq: first,
                input: buffers.window(win),
                ts: Some(clock.at(newest)),
                live,
                enqueued: Instant::now(),
                trace: trace.cloned(),
            });
        })
    }
}

impl Ingest {
    /// The route's clock, if it reads changes on one.
    pub(super) fn clock(&self) -> Option<Clock> {
        self.route.resample().map(|r| r.clock())
    }

    /// How long the core-NATS timer waits to read the clock: until just
    /// after the next point of its grid (a tick, or a tenth of a second
    /// within one: a live stamped stream's lag is whole grid steps), so a
    /// quiet sensor's tick is translated within milliseconds of when it is
    /// due; a second where the route reads none (a model swapped in may
    /// bring one).
    pub(in crate::service) fn next_clock_read(&self) -> std::time::Duration {
        use std::time::Duration;
        let Some(clock) = self.clock() else {
            return Duration::from_secs(1);
        };
        let (now, grid) = (crate::wire::now_ns(), clock.grid_ns());
        let due = clock
            .cell(now.saturating_add(1))
            .saturating_mul(grid)
            .saturating_add(1_000_000);
        Duration::from_nanos(due.saturating_sub(now).unsigned_abs()).min(Duration::from_secs(1))
    }

    /// Reads the ticks before `now` (ns) off every stream timed by its
    /// arrival, once per tick of the clock, and hands their windows on:
    /// how many, or `None` when the batcher is gone.
    pub(in crate::service) async fn read_clock(
        &mut self,
        now: i64,
        when_full: WhenFull<'_>,
    ) -> Option<u64> {
        let Some(clock) = self.clock() else {
            return Some(0);
        };
        let cell = clock.cell(now);
        // (A swap to another clock's step reads anew.)
        if self
            .clock_read
            .is_some_and(|(step, read)| step == clock.step_ns && read >= cell)
        {
            return Some(0);
        }
        self.clock_read = Some((clock.step_ns, cell));
        self.read_holds(|e| e.window.hold.lag_ns.is_some(), when_full)
            .await
    }

    /// Whether a stream timed by the service's clock has a tick due by
    /// `now` (ns) that no message has read yet (durable mode then stores
    /// a clock message to read it: see `durable::clock`).
    pub(in crate::service) fn ticks_due(&self, now: i64) -> bool {
        let Some(clock) = self.clock() else {
            return false;
        };
        self.streams.values().any(|e| {
            let mut hold = e.window.hold;
            let before = hold.lag_ns.map(|lag| now.saturating_sub(lag));
            hold.holds() && before.is_some_and(|b| hold.read(&clock, b).is_some())
        })
    }

    /// A message that only tells the service's time (durable mode's clock
    /// message, stored at `stored_at`): the ticks before it are read.
    pub(in crate::service) async fn tick(&mut self, when_full: WhenFull<'_>) -> Handled {
        let now = self.stored_at.unwrap_or_else(crate::wire::now_ns);
        match self.read_clock(now, when_full).await {
            Some(n) => Handled::Windows(n),
            None => Handled::Stopped,
        }
    }

    /// Reads the ticks that the holds of the streams `which` picks cover
    /// up to now, less each stream's lag (a replay's: to the end of a
    /// bounded hold, its time being its own), and hands their windows on.
    pub(super) async fn read_holds(
        &mut self,
        which: impl Fn(&StreamEntry) -> bool,
        when_full: WhenFull<'_>,
    ) -> Option<u64> {
        let Some(clock) = self.clock() else {
            return Some(0);
        };
        let now = self.stored_at.unwrap_or_else(crate::wire::now_ns);
        self.completed.clear();
        let (mut gaps, mut swapped, mut sent) = (Vec::new(), Vec::new(), 0);
        // Many streams' ticks at once (a quiet spell on a fine clock) are
        // handed on as they pass DISPATCH_AT, not all held in memory: the
        // streams are gone over again after each (a read is idempotent).
        loop {
            let mut feed = Feed::new(&mut self.ticks, &mut self.completed, &self.route, clock);
            let mut full = false;
            for e in self.streams.values_mut() {
                if !(e.window.hold.holds() && which(e)) {
                    continue;
                }
                // A hold of another clock's ticks: numbered anew on this one.
                if e.window.on_clock(Some(&clock)) {
                    swapped.push(e.key.clone());
                }
                let hold = &mut e.window.hold;
                // (A lag is whole grid steps: the ticks read depend on the
                // grid cell of the service's time alone, so a read skipped
                // within one is none missed.)
                let before = match hold.lag_ns {
                    Some(lag) => now.saturating_sub(lag),
                    None if clock.max_hold_ns < i64::MAX => i64::MAX,
                    None => continue,
                };
                let Some(run) = hold.read(&clock, before) else {
                    continue;
                };
                let live = hold.lag_ns.is_some();
                let outcome = feed.run(&mut e.window, run, &e.key, None, live);
                gaps.extend(outcome.gap.map(|g| (e.key.clone(), g)));
                if feed.completed.len() >= DISPATCH_AT {
                    full = true;
                    break;
                }
            }
            if !full {
                break;
            }
            sent += self.dispatch(when_full).await?;
        }
        let said = (gaps.into_iter())
            .map(|(stream, (expected, got))| (stream, no_value(expected, got, &clock)))
            .chain(swapped.into_iter().map(|s| (s, other_clock(&clock))));
        for (stream, detail) in said.collect::<Vec<_>>() {
            let input = &self.route.cfg.input;
            (self.reporter)
                .report(ErrorKind::TimeGap, &stream, input, detail)
                .await;
        }
        Some(sent + self.dispatch(when_full).await?)
    }

    /// Takes one message of a stream read on the clock: its samples are
    /// changes at its `ts` (`stamped`), else at its arrival, one step of
    /// the clock apart.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn take_changes(
        &mut self,
        stream: &Arc<str>,
        clock: Clock,
        stamped: Option<i64>,
        trace: Option<TraceParent>,
        origin: Origin<'_>,
        subject: &str,
        when_full: WhenFull<'_>,
    ) -> Result<Option<u64>, Rejection> {
        let now = self.stored_at.unwrap_or_else(crate::wire::now_ns);
        let (t, lag) = clock
            .changes_at(stamped, self.values.len(), now)
            .map_err(|detail| Rejection {
                kind: ErrorKind::InvalidValue,
                stream: stream.to_string(),
                detail,
            })?;
        if lag.is_some() {
            self.route.counters.observe_receive(stamped);
        }
        let Some(entry) = self.streams.get_mut(&**stream) else {
            return Ok(Some(0));
        };
        self.completed.clear();
        let mut feed = Feed::new(&mut self.ticks, &mut self.completed, &self.route, clock);
        // A hold of another clock's ticks (a model read at another step
        // swapped in): the stream starts over on this one.
        let swapped = entry.window.on_clock(Some(&clock));
        let (mut taken, mut earlier, mut gap, mut back) = (0u64, (0usize, 0i64), None, None);
        let (mut dropped, mut pace) = (0, None);
        for (i, &v) in self.values.iter().enumerate() {
            let mut at = t.saturating_add((i as i64).saturating_mul(clock.step_ns));
            if stamped.is_none() {
                // The service's clock set back: not before the value held.
                at = at.max(entry.window.hold.held_at().unwrap_or(at));
            }
            let mut took = entry.window.hold.change(&clock, v, at, lag);
            // Further back than a value is held: the sender's clock was set
            // back, and the stream starts over from this change.
            if let Err(e) = took
                && e.held_at.saturating_sub(at) > clock.live_ns()
            {
                entry.window.restart_clock();
                back.get_or_insert(e.held_at.saturating_sub(at));
                took = entry.window.hold.change(&clock, v, at, lag);
            }
            match took {
                Ok(run) => {
                    taken += 1;
                    pace = entry.pace.note(at).or(pace);
                    if let Some(run) = run {
                        let outcome = feed.run(
                            &mut entry.window,
                            run,
                            stream,
                            trace.as_ref(),
                            lag.is_some(),
                        );
                        gap = gap.or(outcome.gap);
                        dropped += outcome.out_of_order;
                    }
                }
                Err(e) => earlier = (earlier.0 + 1, e.held_at),
            }
        }
        if !self.replaying {
            let stats = &self.reporter.stats;
            stats.samples_in.fetch_add(taken, Relaxed);
            (self.route.counters.samples_in).fetch_add(taken, Relaxed);
        }
        let reporter = &self.reporter;
        let say = async |kind, detail| {
            (reporter.report_from(origin, kind, stream, subject, detail)).await;
        };
        if swapped {
            say(ErrorKind::TimeGap, other_clock(&clock)).await;
        }
        if let Some(per_s) = pace.filter(|_| !self.replaying) {
            super::said::sped_up(&self.route, stream, per_s, &clock);
        }
        if dropped > 0 {
            let detail = format!(
                "{dropped} tick(s) of the route's clock dropped: the stream's count (samples sent \
                 with seq) is past them"
            );
            say(ErrorKind::OutOfOrder, detail).await;
        }
        if let Some((expected, got)) = gap {
            say(ErrorKind::TimeGap, no_value(expected, got, &clock)).await;
        }
        let span = |ns: i64| crate::recording::time::span(ns as f64 / 1e9);
        if let Some(ns) = back {
            let detail = format!(
                "its changes' time went back {} (a clock set back?): the stream starts over on \
                 the route's clock from this change",
                span(ns)
            );
            say(ErrorKind::TimeGap, detail).await;
        }
        if earlier.0 > 0 {
            let detail = format!(
                "{} change(s) stamped before the value held (its change came at {} ns): dropped",
                earlier.0, earlier.1
            );
            say(ErrorKind::OutOfOrder, detail).await;
        }
        Ok(self.dispatch(when_full).await)
    }
}

/// Why a stream starts over on the route's clock after a swap.
fn other_clock(clock: &Clock) -> String {
    format!(
        "the route's clock is now every {} (a model read at another step swapped in, or a \
         restart with another resample): the stream starts over on it",
        crate::recording::time::span(clock.step_ns as f64 / 1e9)
    )
}

/// Why ticks `expected` to `got` − 1 have no value.
fn no_value(expected: u64, got: u64, clock: &Clock) -> String {
    let span = |ns: i64| crate::recording::time::span(ns as f64 / 1e9);
    let n = got.saturating_sub(expected);
    let held = match clock.max_hold_ns {
        i64::MAX => String::new(),
        ns => format!(
            "a change is held {} at most (the route's max_gap, else the model's --max-gap), and ",
            span(ns)
        ),
    };
    // (Its time beside a tick's number, which is the seq its windows
    // carry: an hourly clock's ticks number in the hundreds of thousands.)
    // (A clock of seconds since a start, a cycler's, in seconds.)
    let at = |k: u64| {
        let s = clock.at(i64::try_from(k).unwrap_or(i64::MAX)) as f64 / 1e9;
        match s < crate::window::SINCE_START_F {
            true => format!("{s} s"),
            false => crate::recording::time::iso(s, true),
        }
    };
    format!(
        "{n} tick(s) of the route's clock (every {}) from tick {expected} ({}) had no value: \
         {held}a refused message ends a hold; window restarted at tick {got} ({})",
        span(clock.step_ns),
        at(expected),
        at(got),
    )
}
