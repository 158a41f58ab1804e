//! Truth that numbers nothing, on a route that reads a clock: a live meter
//! publishing its readings as they change (`{"value": 212.4, "ts": …}`, or
//! a bare number), read on the route's clock as the input is (each value
//! held until the next, at most the route's hold, a refused reading such
//! as `unavailable` ending it; a tick and a half at most for a model
//! trained on rows, [`Resample::truth_clock`]), so that tick k's truth
//! meets the window whose samples are ticks k … k+W-1.
//!
//! [`Resample::truth_clock`]: crate::window::hold::Resample::truth_clock

use tokio::time::Instant;

use super::{Compare, TRUTH_SAMPLES, Truths};
use crate::window::hold::{Clock, Hold, Run};
use crate::wire::{ErrorKind, now_ns};

impl Truths {
    /// Takes a truth message of changes: at its `ts` (`stamped`), else at
    /// its arrival, its samples one step of the clock apart. `Err`: what to
    /// report (the changes it could take are taken).
    pub(super) fn add_changes(
        &mut self,
        key: &str,
        clock: Clock,
        stamped: Option<i64>,
        values: &[f32],
        compare: &Compare,
    ) -> Result<(), (ErrorKind, String)> {
        let (t, lag) = clock
            .changes_at(stamped, values.len(), now_ns())
            .map_err(|why| (ErrorKind::InvalidValue, format!("truth: {why}")))?;
        let Some(s) = self.stream(key, Instant::now()) else {
            return Ok(());
        };
        // A hold of another clock's ticks (a model read at another step
        // swapped in): its truth starts over on this one.
        if !s.hold.on(Some(&clock)) {
            s.hold = Hold::default();
        }
        let (mut runs, mut earlier) = (Vec::new(), 0);
        for (i, &v) in values.iter().enumerate() {
            let mut at = t.saturating_add((i as i64).saturating_mul(clock.step_ns));
            if stamped.is_none() {
                // The service's clock set back: not before the value held.
                at = at.max(s.hold.held_at().unwrap_or(at));
            }
            match s.hold.change(&clock, v, at, lag) {
                Ok(run) => runs.extend(run),
                // Further back than a value is held: the meter's clock was
                // set back, and its truth starts over from this change.
                Err(e) if e.held_at.saturating_sub(at) > clock.live_ns() => {
                    s.hold = Hold::default();
                    runs.extend(s.hold.change(&clock, v, at, lag).ok().flatten());
                }
                Err(_) => earlier += 1,
            }
        }
        for run in runs {
            self.add_run(key, run, compare, true);
        }
        match earlier {
            0 => Ok(()),
            n => Err((
                ErrorKind::OutOfOrder,
                format!("truth: {n} change(s) stamped before the value held: dropped"),
            )),
        }
    }

    /// Reads a live truth stream's value held up to the service's time
    /// (less its lag): the truth of windows just computed, where its meter
    /// has not changed since. A replay's is read by its next change.
    pub(super) fn read_held(&mut self, key: &str, clock: Clock, compare: &Compare) {
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        let Some(lag) = s.hold.lag_ns.filter(|_| s.hold.on(Some(&clock))) else {
            return;
        };
        if let Some(run) = s.hold.read(&clock, now_ns().saturating_sub(lag)) {
            self.add_run(key, run, compare, false);
        }
    }

    /// [`Self::read_held`] for every stream (their meters quiet, and no
    /// window of theirs computed since).
    pub(super) fn read_all_held(&mut self, clock: Clock, compare: &Compare) {
        let live: Vec<_> = (self.streams.iter())
            .filter(|(_, s)| s.hold.holds() && s.hold.lag_ns.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for key in live {
            self.read_held(&key, clock, compare);
        }
    }

    /// A refused truth reading (`unavailable`, a missing-value code) ends
    /// the value held: at its `ts`, else at its arrival less the stream's
    /// lag (a replay's at its last change).
    pub(super) fn end_held(&mut self, key: &str, stamped: Option<i64>) {
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        let now = now_ns();
        let at = stamped.filter(|&t| t <= now);
        let lag = s.hold.lag_ns;
        s.hold.end(at.or(lag.map(|l| now.saturating_sub(l))));
    }

    /// The ticks of one run as truth samples (the last the buffer holds,
    /// where a hold ran longer). Read off a hold by the service's time
    /// alone (not `message`), they do not keep the stream from being
    /// forgotten: a hold nothing bounds would refresh it for ever.
    fn add_run(&mut self, key: &str, run: Run, compare: &Compare, message: bool) {
        let cap = TRUTH_SAMPLES.max(self.w * 8) as u64;
        let skip = run.len.saturating_sub(cap);
        let values = vec![run.value; (run.len - skip) as usize];
        let seen = self.streams.get(key).and_then(|s| s.last_seen);
        self.add_truth(key, run.first + skip, &values, compare);
        if let (false, Some(s)) = (message, self.streams.get_mut(key)) {
            s.last_seen = seen;
        }
    }
}
