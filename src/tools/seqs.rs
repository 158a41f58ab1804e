//! Which windows `tail` received twice, late, or never, by stream and `seq`.

use super::TailSummary;

/// One stream's `seq`s as `tail` received them: the newest, and those of
/// the last [`SeqsSeen::KEPT`], to tell a window that came again from one
/// that came late.
pub(super) struct SeqsSeen {
    newest: u64,
    recent: std::collections::BTreeSet<u64>,
}

impl SeqsSeen {
    /// Seqs this far behind the newest are forgotten: a restarted service
    /// publishes again at most what came since its last checkpoint.
    const KEPT: u64 = 1 << 16;

    pub fn new(seq: u64) -> Self {
        Self {
            newest: seq,
            recent: [seq].into(),
        }
    }

    pub fn add(&mut self, seq: u64, summary: &mut TailSummary) {
        if !self.recent.insert(seq) {
            summary.repeated += 1;
        } else if seq < self.newest {
            // Counted missing when a later one came first.
            summary.out_of_order += 1;
            summary.missing = summary.missing.saturating_sub(1);
        } else {
            summary.missing += seq - self.newest - 1;
            self.newest = seq;
        }
        if self.recent.len() as u64 > 2 * Self::KEPT {
            self.recent = self
                .recent
                .split_off(&self.newest.saturating_sub(Self::KEPT));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(seqs: &[u64]) -> TailSummary {
        let mut summary = TailSummary::default();
        let mut s = SeqsSeen::new(seqs[0]);
        for &q in &seqs[1..] {
            s.add(q, &mut summary);
        }
        summary
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
        // A gap alone (a skipped row's windows).
        let s = seen(&[0, 1, 30, 31]);
        assert_eq!((s.repeated, s.out_of_order, s.missing), (0, 0, 28));
    }
}
