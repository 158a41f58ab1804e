//! The `ts` `publish` stamps a message with.

use super::{Signal, ns};
use crate::wire::now_ns;

/// A message's `ts`: now, or, for a recording read with a time column,
/// its first row's recorded time, so that a route with a `max_gap` (a model
/// trained with `--time-column` has one) restarts its window at the
/// recording's gaps in time. A date from 2001 on (as the service's `ts`
/// rule reads one) is sent as it is; any other time (seconds from the start
/// of a run) counts from 2001-09-09T01:46:40Z, the first such date: no time
/// of publication, so neither the service nor `tail` takes a latency from
/// it, and the same rows get the same stamps in every run. Stamps are sent
/// to the µs (an f64 date holds no finer).
pub(super) struct Stamps {
    /// Seconds to add to a recorded time; `None`: stamp with now.
    base: Option<f64>,
}

impl Stamps {
    /// The first date `ts` takes as seconds since the epoch.
    const DATES_FROM: f64 = 1e9;

    /// (`subjects`: where the signal goes, named where its times are
    /// recent.)
    pub fn new(signal: &Signal, first: Option<u64>, end: Option<u64>, subjects: &[String]) -> Self {
        let t0 = first.and_then(|seq| signal.time_at(seq));
        let base = t0.map(|t0| {
            if t0 >= Self::DATES_FROM {
                0.0
            } else {
                Self::DATES_FROM
            }
        });
        // Any row whose date the service and `tail` would take for a time
        // of publication (from the last 7 days, or a minute ahead at most):
        // the first, not only the first row (a replay of an export that
        // runs up to today).
        let recent = Self::first_recent(signal, first, end, now_ns());
        if let (Some(seq), Some(0.0)) = (recent, base) {
            tracing::warn!(
                data_row = seq, subjects = %subjects.join(","),
                "the recording's times from data row {seq} on are from the last 7 days (or this \
                 minute): the service and `tail` take such stamps for times of publication, so \
                 their latency figures (pipeline_end_to_end_seconds, tail's latency line) count \
                 the days since; replay an older export, or leave --time-column out (stamped \
                 with now, the recording's gaps in time are then not sent)"
            );
        }
        Stamps { base }
    }

    /// The first row from `first` to `end` whose date the service and
    /// `tail` would take for a time of publication at `now`.
    pub fn first_recent(
        signal: &Signal,
        first: Option<u64>,
        end: Option<u64>,
        now: i64,
    ) -> Option<u64> {
        (first.unwrap_or(0)..end.unwrap_or(0)).find(|&seq| {
            signal.time_at(seq).is_some_and(|t| {
                t >= Self::DATES_FROM && crate::stats::latency_at(ns(t), now).is_some()
            })
        })
    }

    pub fn ts(&self, signal: &Signal, seq: u64) -> i64 {
        match (self.base, signal.time_at(seq)) {
            (Some(base), Some(t)) => ns(base + t),
            _ => now_ns(),
        }
    }
}
