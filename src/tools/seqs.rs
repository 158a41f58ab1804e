//! Which windows `tail` received twice, late, or never, by stream and `seq`.

use super::{ModelSeen, TailSummary};
use crate::wire::Translation;

/// Runs kept in [`TailSummary::models`]: past them (instances serving
/// different models, their windows interleaved), a model's windows go to
/// its latest run and each switch is only counted.
const RUNS: usize = 32;

/// Counts `t` in the run of its model: the last run, a new one after a
/// swap, or past [`RUNS`] the model's latest.
pub(super) fn add_run(summary: &mut TailSummary, t: &Translation) {
    let switched = summary.last_model.as_deref() != Some(t.model.as_str());
    let runs = &mut summary.models;
    let latest = match switched {
        false => runs.len().checked_sub(1),
        true if runs.len() >= RUNS => {
            summary.more_switches += 1;
            runs.iter().rposition(|m| m.model == t.model)
        }
        true => None,
    };
    match latest {
        Some(i) => runs[i].windows += 1,
        None => runs.push(ModelSeen {
            model: t.model.clone(),
            windows: 1,
            first: (t.stream.clone(), t.seq),
        }),
    }
    if switched {
        summary.last_model = Some(t.model.clone());
    }
}

/// One stream's `seq`s as `tail` received them: the first and the newest,
/// and which of the last [`SeqsSeen::KEPT`] came (a bit each: 512 bytes a
/// stream), to tell a window that came again from one that came late.
pub(super) struct SeqsSeen {
    first: u64,
    newest: u64,
    /// The newest window's `ts`: a seq back with a later one is a
    /// publisher that restarted its count, not a window again.
    newest_ts: Option<i64>,
    /// Bit `seq % KEPT`: `seq` came, for seqs from [`Self::floor`] to
    /// `newest`.
    bits: Box<[u64; (SeqsSeen::KEPT / 64) as usize]>,
}

impl SeqsSeen {
    /// Seqs this far behind the newest are forgotten: a restarted service
    /// publishes again what came since its last checkpoint, a fraction of
    /// a second of a stream's windows.
    const KEPT: u64 = 4096;

    pub fn new(seq: u64, ts: Option<i64>) -> Self {
        let mut s = Self {
            first: seq,
            newest: seq,
            newest_ts: ts,
            bits: Box::new([0; (Self::KEPT / 64) as usize]),
        };
        s.set(seq, true);
        s
    }

    /// The lowest seq whose bit is kept: below it, a window came before
    /// the first `tail` saw, or is forgotten.
    fn floor(&self) -> u64 {
        self.first.max((self.newest + 1).saturating_sub(Self::KEPT))
    }

    fn came(&self, seq: u64) -> bool {
        let i = seq % Self::KEPT;
        self.bits[(i / 64) as usize] >> (i % 64) & 1 == 1
    }

    fn set(&mut self, seq: u64, came: bool) {
        let i = seq % Self::KEPT;
        let (word, bit) = (&mut self.bits[(i / 64) as usize], 1u64 << (i % 64));
        *word = if came { *word | bit } else { *word & !bit };
    }

    pub fn add(&mut self, seq: u64, ts: Option<i64>, summary: &mut TailSummary) {
        // The service starts such a stream over (a `gap` event): so does
        // `tail`, its windows neither again nor late.
        // (A cycler's next test counts its seconds from 0 again: a window
        // from seq 0 or 1 with a since-start stamp back, as the service
        // reads it.)
        let since = |t: i64| (0..crate::window::SINCE_START).contains(&t);
        let restarted = ts
            .zip(self.newest_ts)
            .is_some_and(|(t, n)| t > n || (seq <= 1 && since(t) && since(n) && t < n));
        if seq < self.newest && restarted {
            summary.restarts += 1;
            *self = Self::new(seq, ts);
            return;
        }
        if seq < self.floor() {
            // Never counted missing: only late.
            summary.out_of_order += 1;
        } else if seq <= self.newest {
            if self.came(seq) {
                summary.repeated += 1;
            } else {
                // Counted missing when a later one came first.
                self.set(seq, true);
                summary.out_of_order += 1;
                summary.missing = summary.missing.saturating_sub(1);
            }
        } else {
            summary.missing += seq - self.newest - 1;
            // The slots of the seqs skipped to are those of seqs now
            // forgotten.
            for s in (self.newest + 1)..=seq.min(self.newest + Self::KEPT) {
                self.set(s, false);
            }
            self.newest = seq;
            self.newest_ts = ts.or(self.newest_ts);
            self.set(seq, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Models A, B, A: three runs; interleaved past [`RUNS`], each
    /// model's windows go to its latest run and the switches are counted.
    #[test]
    fn model_runs_are_kept_as_they_came_and_bounded() {
        let mut summary = TailSummary::default();
        let add = |summary: &mut TailSummary, model: &str, seq: u64| {
            let t = Translation {
                model: model.into(),
                stream: "s".into(),
                seq,
                values: Vec::new(),
                pair: "p".into(),
                ts: None,
                unit: None,
            };
            add_run(summary, &t);
        };
        for (seq, m) in ["a", "a", "b", "b", "b", "a"].iter().enumerate() {
            add(&mut summary, m, seq as u64);
        }
        let runs: Vec<(&str, u64, u64)> = (summary.models.iter())
            .map(|m| (m.model.as_str(), m.windows, m.first.1))
            .collect();
        assert_eq!(runs, [("a", 2, 0), ("b", 3, 2), ("a", 1, 5)]);
        for seq in 6..1006u64 {
            add(&mut summary, if seq % 2 == 0 { "b" } else { "a" }, seq);
        }
        assert_eq!(summary.models.len(), RUNS);
        assert_eq!(summary.models.iter().map(|m| m.windows).sum::<u64>(), 1006);
        assert_eq!(summary.more_switches, 1000 - (RUNS as u64 - 3));
    }

    fn seen(seqs: &[u64]) -> TailSummary {
        let mut summary = TailSummary::default();
        let mut s = SeqsSeen::new(seqs[0], None);
        for &q in &seqs[1..] {
            s.add(q, None, &mut summary);
        }
        summary
    }

    /// A publisher that starts its count again with later stamps: the
    /// service starts the stream over, and `tail` counts a restart, not
    /// windows received again (an ICU gateway's 1977 "repeated").
    #[test]
    fn a_count_started_again_with_later_stamps_is_a_restart() {
        let mut summary = TailSummary::default();
        let mut s = SeqsSeen::new(23, Some(1_000));
        for seq in 24..=60u64 {
            s.add(seq, Some(1_000 + seq as i64), &mut summary);
        }
        // A crashed service's windows again: their own stamps.
        for seq in 50..=60u64 {
            s.add(seq, Some(1_000 + seq as i64), &mut summary);
        }
        assert_eq!((summary.repeated, summary.restarts), (11, 0));
        // The count from 0 again, stamped after the last.
        for seq in 23..=40u64 {
            s.add(seq, Some(2_000 + seq as i64), &mut summary);
        }
        let counts = (summary.repeated, summary.restarts, summary.out_of_order);
        assert_eq!((counts, summary.missing), ((11, 1, 0), 0));
        // A cycler's next test: its seconds since its start from 0 again.
        let mut summary = TailSummary::default();
        let mut s = SeqsSeen::new(0, Some(24));
        for seq in 1..=30u64 {
            s.add(seq, Some(24 + seq as i64), &mut summary);
        }
        for seq in 0..=5u64 {
            s.add(seq, Some(24 + seq as i64), &mut summary);
        }
        assert_eq!((summary.repeated, summary.restarts), (0, 1));
    }

    /// A service restarted after a crash publishes again from its last
    /// checkpoint: those windows come twice, which is neither out of
    /// order nor missing (`tail` said "1 out of order" for 8 repeats).
    #[test]
    fn windows_received_again_are_counted_as_such() {
        let mut seqs: Vec<u64> = (0..=10).collect();
        seqs.extend(3..=14);
        let s = seen(&seqs);
        assert_eq!((s.repeated, s.out_of_order, s.missing), (8, 0, 0));
        // A late window fills the gap it left: out of order, not missing.
        let s = seen(&[0, 1, 5, 3, 6]);
        assert_eq!((s.repeated, s.out_of_order, s.missing), (0, 1, 2));
        // Windows from before the first `tail` saw (a restart replaying
        // from its checkpoint): out of order, no missing one found.
        let s = seen(&[1000, 1001, 990, 991, 1002, 1005]);
        assert_eq!((s.repeated, s.out_of_order, s.missing), (0, 2, 2));
        // A gap alone (a skipped row's windows).
        let s = seen(&[0, 1, 30, 31]);
        assert_eq!((s.repeated, s.out_of_order, s.missing), (0, 0, 28));
    }
}
