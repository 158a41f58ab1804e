//! Held-out windows that are another file's training windows. Exports of
//! overlapping periods (20 January to February beside January) hold the
//! same rows: one file's held-out part would then score the model, and fit
//! nothing of the baselines, on rows another file trained both on.

use std::collections::{HashMap, HashSet};

use super::seen::hash;
use crate::data::Windows;

/// Each file's held-out windows less those in a stretch of another file's
/// training windows, with a note on what was left out. Exports of
/// overlapping periods share every window of the period, one after another;
/// independent recordings of quantised signals share a few by chance (two
/// drives coasting to a stop alike, a pump off at night), never a stretch
/// of [`STRETCH`] windows. So a held-out window goes where it lies in such
/// a stretch of matches: windows that say nothing of where they are (one
/// value in and out, or a window a training part holds twice) neither make
/// nor break one. Where that would leave no held-out window at all (a
/// periodic signal in every file, sampled alike), every one is kept and the
/// note says so. Each file's held-out windows (the second of its pair) are
/// cut in place.
pub(super) fn held_out(parts: &mut [(Windows, Windows)]) -> Vec<Option<String>> {
    if parts.len() < 2 {
        return vec![None; parts.len()];
    }
    let keys = |w: &Windows| -> Vec<u64> {
        (0..w.len())
            .map(|i| hash(w.input_row(i), w.target_row(i)))
            .collect()
    };
    // Each training part's windows: those it holds once, and those twice or more.
    let trained: Vec<(HashSet<u64>, HashSet<u64>)> = parts
        .iter()
        .map(|(t, _)| {
            let mut seen = HashMap::new();
            for k in keys(t) {
                *seen.entry(k).or_insert(0usize) += 1;
            }
            let (once, more): (Vec<_>, Vec<_>) = seen.into_iter().partition(|&(_, n)| n == 1);
            (
                once.into_iter().map(|(k, _)| k).collect(),
                more.into_iter().map(|(k, _)| k).collect(),
            )
        })
        .collect();
    let kept: Vec<Vec<usize>> = parts
        .iter()
        .enumerate()
        .map(|(f, (_, valid))| {
            let others = || (trained.iter().enumerate()).filter(move |(g, _)| *g != f);
            let keys = keys(valid);
            // Some(true): another file's training window; None: says nothing.
            let state: Vec<Option<bool>> = (0..valid.len())
                .map(|i| {
                    let k = &keys[i];
                    let vague =
                        constant(valid, i) || others().any(|(_, (_, more))| more.contains(k));
                    (!vague).then(|| others().any(|(_, (once, _))| once.contains(k)))
                })
                .collect();
            let gone = stretches(&state, STRETCH * valid.window.max(1) / 24);
            (0..valid.len()).filter(|&i| !gone[i]).collect()
        })
        .collect();
    let all_gone = kept.iter().all(Vec::is_empty);
    parts
        .iter_mut()
        .zip(kept)
        .map(|((_, valid), kept)| {
            let left = valid.len() - kept.len();
            if left == 0 {
                return None;
            }
            if all_gone {
                let note = format!(
                    "all {} of its held-out windows repeat training windows of another file \
                     given (a periodic signal sampled alike?): scored as they are, in-sample",
                    valid.len()
                );
                return Some(note);
            }
            let note = format!(
                "{left} of its {} held-out windows are training windows of another file given \
                 (exports of overlapping periods): left out of the held-out part, which would \
                 have scored the model on rows it was trained on",
                valid.len()
            );
            *valid = valid.gather(&kept);
            Some(note)
        })
        .collect()
}

/// Matches in a row that make an overlap, for a window of 24 (scaled with
/// the window): chance matches between independent drives came in runs of
/// 42 at most; an overlap of a day of minutes, of 1,400.
const STRETCH: usize = 48;

/// Which windows lie in a stretch of matches (`Some(true)`) that holds
/// `min` in a row: windows that say nothing (`None`) between matches join
/// the stretch (a standstill inside an overlapping period) but do not make
/// one; a non-match (`Some(false)`) ends it.
fn stretches(state: &[Option<bool>], min: usize) -> Vec<bool> {
    let mut gone = vec![false; state.len()];
    let mut i = 0;
    while i < state.len() {
        if state[i] != Some(true) {
            i += 1;
            continue;
        }
        // From this match to the last before a non-match.
        let (start, mut last, mut streak, mut best) = (i, i, 0, 0);
        while i < state.len() && state[i] != Some(false) {
            streak = if state[i] == Some(true) {
                streak + 1
            } else {
                0
            };
            if state[i] == Some(true) {
                last = i;
            }
            best = best.max(streak);
            i += 1;
        }
        if best >= min.max(1) {
            gone[start..=last].iter_mut().for_each(|g| *g = true);
        }
    }
    gone
}

/// Whether window `i` holds one value in and one out: a night of a PV
/// plant (0 in, 0 out) or a stuck sensor, which any recording repeats.
fn constant(w: &Windows, i: usize) -> bool {
    let one = |row: &[f32]| row.iter().all(|v| *v == row[0]);
    one(w.input_row(i)) && one(w.target_row(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(rows: std::ops::Range<usize>) -> Windows {
        let mut w = Windows::empty(3);
        for r in rows {
            let x = r as f32;
            w.input.extend([x, x + 0.5, x + 0.25]);
            w.target.extend([-x, 2.0 * x, x * x]);
        }
        w
    }

    /// Each file's held-out windows after [`held_out`], with its note.
    fn held_out_of(parts: &[(Windows, Windows)]) -> Vec<(Windows, Option<String>)> {
        let mut parts = parts.to_vec();
        let notes = held_out(&mut parts);
        parts
            .into_iter()
            .zip(notes)
            .map(|((_, v), n)| (v, n))
            .collect()
    }

    #[test]
    fn held_out_windows_another_file_trained_on_are_left_out() {
        // File a: rows 0..80 train, 80..100 held out; file b, an export of
        // rows 90..190: its training part (90..170) holds a's rows 90..100.
        let a = (windows(0..80), windows(80..100));
        let b = (windows(90..170), windows(170..190));
        let out = held_out_of(&[a, b.clone()]);
        assert_eq!(out[0].0.len(), 10, "a's rows 80..90 are kept");
        assert_eq!(out[0].0.input_row(0), windows(80..81).input_row(0));
        let note = out[0].1.as_deref().unwrap_or_default();
        assert!(note.starts_with("10 of its 20 held-out windows"), "{note}");
        assert_eq!(out[1].0, b.1);
        assert_eq!(out[1].1, None);
        // The same rows as input but another output: not the same window.
        let mut other = windows(90..170);
        other.target.iter_mut().for_each(|v| *v += 1.0);
        let out = held_out_of(&[(windows(0..80), windows(80..100)), (other, windows(0..1))]);
        assert_eq!((out[0].0.len(), &out[0].1), (20, &None));
        // Windows that repeat within a file (a stuck sensor, a night of
        // zeros) or hold one value are no sign of an overlap: kept.
        let mut stuck = windows(0..80);
        stuck.extend(&windows(30..31));
        let mut night = Windows::empty(3);
        night.input.extend([0.0; 3]);
        night.target.extend([0.0; 3]);
        let mut held = windows(30..31);
        held.extend(&night);
        let mut trained = stuck.clone();
        trained.extend(&night);
        let out = held_out_of(&[(trained, windows(200..201)), (windows(300..380), held)]);
        assert_eq!((out[1].0.len(), &out[1].1), (2, &None));
        // A few windows two files share by chance (a car coasting alike in
        // two drives): fewer than a stretch (6 matches for a window of 3),
        // kept; the same between other windows of an overlap: left out.
        let chance = windows(500..505);
        let mut a = windows(0..80);
        a.extend(&chance);
        let mut held = windows(700..720);
        held.extend(&chance);
        held.extend(&windows(720..740));
        let out = held_out_of(&[(a.clone(), windows(200..201)), (windows(300..380), held)]);
        assert_eq!((out[1].0.len(), &out[1].1), (45, &None));
        let mut held = windows(40..60);
        held.extend(&windows(300..301)); // a window the training parts never held
        held.extend(&windows(60..70));
        let out = held_out_of(&[(a, windows(200..201)), (windows(300..380), held)]);
        assert_eq!(out[1].0.len(), 1, "{:?}", out[1].1);
        // Nothing left anywhere: kept, and said.
        let out = held_out_of(&[
            (windows(1..11), windows(20..30)),
            (windows(20..30), windows(1..11)),
        ]);
        assert_eq!(out[0].0.len(), 10);
        assert!(
            out[0]
                .1
                .as_deref()
                .unwrap_or_default()
                .contains("in-sample")
        );
    }
}
