//! Held-out windows that are another file's training windows. Exports of
//! overlapping periods (20 January to February beside January) hold the
//! same rows: one file's held-out part would then score the model, and fit
//! nothing of the baselines, on rows another file trained both on.

use std::collections::{HashMap, HashSet};

use super::seen::hash;
use crate::data::Windows;

/// Each file's held-out windows less those whose values (input and output)
/// are a training window of another file, with a note on what was left out.
/// Only windows that occur once among their file's training windows and
/// are not constant count: a night of a PV plant (0 in, 0 out) or a stuck
/// sensor repeats in any recording, and is no sign of an overlap. Where
/// that would leave no held-out window at all (a periodic signal in every
/// file, sampled alike), every one is kept and the note says so.
/// Each file's held-out windows (the second of its pair) are cut in place.
pub(super) fn held_out(parts: &mut [(Windows, Windows)]) -> Vec<Option<String>> {
    if parts.len() < 2 {
        return vec![None; parts.len()];
    }
    let keys = |w: &Windows| -> Vec<u64> {
        (0..w.len())
            .map(|i| hash(w.input_row(i), w.target_row(i)))
            .collect()
    };
    let trained: Vec<HashSet<u64>> = parts
        .iter()
        .map(|(t, _)| {
            let mut seen = HashMap::new();
            for (i, k) in keys(t).into_iter().enumerate() {
                if !constant(t, i) {
                    *seen.entry(k).or_insert(0usize) += 1;
                }
            }
            seen.into_iter()
                .filter(|&(_, n)| n == 1)
                .map(|(k, _)| k)
                .collect()
        })
        .collect();
    let kept: Vec<Vec<usize>> = parts
        .iter()
        .enumerate()
        .map(|(f, (_, valid))| {
            let others =
                |k: &u64| (trained.iter().enumerate()).any(|(g, t)| g != f && t.contains(k));
            let keys = keys(valid);
            (0..valid.len())
                .filter(|&i| constant(valid, i) || !others(&keys[i]))
                .collect()
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

/// Whether window `i` says too little to be known again: one input value
/// (a car coasting, pedal released, its speed falling as physics has it),
/// or in a longer window at most three pairs of values (cruising, its
/// pedal dithering by one CAN step, its speed steady; a pump off). Two
/// independent recordings of quantised signals share such windows by
/// chance; overlapping exports share every window, the telling ones too
/// (an on/off input that switches, with a moving output, tells).
fn constant(w: &Windows, i: usize) -> bool {
    let (x, y) = (w.input_row(i), w.target_row(i));
    if x.iter().all(|v| *v == x[0]) {
        return true;
    }
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(4);
    for (a, b) in x.iter().zip(y) {
        let p = (a.to_bits(), b.to_bits());
        if !pairs.contains(&p) {
            pairs.push(p);
            if pairs.len() > 3 {
                return false;
            }
        }
    }
    pairs.len() == 1 || x.len() > 4
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
        // Nor are windows where a channel takes two values (a speed held,
        // a pedal dithering by one step), shared by chance.
        let mut cruise = Windows::empty(6);
        cruise.input.extend([31.2, 31.2, 30.8, 30.8, 30.8, 30.8]);
        cruise
            .target
            .extend([130.15, 130.15, 130.15, 130.2, 130.2, 130.2]);
        let (mut trained, mut other) = (Windows::empty(6), Windows::empty(6));
        let (x, y) = (
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            [6.0, 5.0, 4.0, 3.0, 2.0, 1.0],
        );
        for w in [&mut trained, &mut other] {
            w.input.extend(x);
            w.target.extend(y);
        }
        trained.extend(&cruise);
        other.extend(&cruise);
        let out = held_out_of(&[(trained.clone(), windows(200..202)), (trained, other)]);
        assert_eq!(
            out[1].0.len(),
            1,
            "the telling window left out, the cruise kept"
        );
        assert_eq!(out[1].0.input_row(0), cruise.input_row(0));
        // An on/off input with a moving output tells: left out.
        let mut heater = Windows::empty(6);
        heater.input.extend([0.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
        heater.target.extend([20.0, 19.9, 20.1, 20.4, 20.6, 20.5]);
        let out = held_out_of(&[(heater.clone(), windows(200..202)), (windows(0..9), heater)]);
        assert_eq!(out[1].0.len(), 0, "{:?}", out[1].1);
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
