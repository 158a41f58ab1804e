//! A model's training rows, recognised by content in other files. `retrain`
//! stores a few of each file's training windows (where they were, and a
//! hash of their values); `eval` on a file it does not know by its bytes (a
//! copy with other line ends, the logger's file grown since, an export of a
//! period that overlaps training) finds them there, so that rows the model
//! was trained on are not scored as unseen.

use std::collections::HashMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::data::Windows;
use crate::format::Fnv;
use crate::recording::{Recording, Segment};

/// Windows stored per training file: enough that an overlap of a few
/// percent of the training rows holds two of them.
const ANCHORS: usize = 64;
/// Stored windows that must agree on where a file's training rows lie in
/// another: one alone may be a window that recurs (a periodic signal).
const AGREEING: usize = 2;

/// One training file's stored windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRows {
    /// Rows in its training part (rows read; skipped ones not counted).
    pub rows: usize,
    /// Each stored window: its first row (among the rows read) and the
    /// hash of its values, in hex.
    pub anchors: Vec<(usize, String)>,
}

/// A hash of a window's values, as read (f32 bits), input then output.
fn hash(input: &[f32], output: &[f32]) -> u64 {
    let mut h = Fnv::default();
    for v in input.iter().chain(output) {
        h.write(&v.to_bits().to_le_bytes());
    }
    h.finish()
}

/// Each window of `window` rows inside `segments`, with its first row's
/// index among the rows read.
fn windows_at(
    segments: &[Segment],
    window: usize,
) -> impl Iterator<Item = (usize, &[f32], &[f32])> + '_ {
    let firsts = segments.iter().scan(0, |row, s| {
        let first = *row;
        *row += s.len();
        Some(first)
    });
    segments.iter().zip(firsts).flat_map(move |(s, first)| {
        let n = (s.len() + 1).saturating_sub(window.max(1));
        (0..n).map(move |i| (first + i, &s.input[i..i + window], &s.output[i..i + window]))
    })
}

impl TrainingRows {
    /// Up to [`ANCHORS`] windows spread over a file's training segments.
    /// A flat window (a sensor stuck, a pump off) would be found anywhere,
    /// and is not stored.
    pub fn of(train: &[Segment], window: usize) -> Self {
        let flat = |v: &[f32]| v.iter().all(|&x| x == v[0]);
        let candidates: Vec<_> = windows_at(train, window)
            .filter(|(_, x, y)| !(flat(x) && flat(y)))
            .collect();
        let every = candidates.len().div_ceil(ANCHORS).max(1);
        Self {
            rows: train.iter().map(Segment::len).sum(),
            anchors: candidates
                .iter()
                .step_by(every)
                .map(|&(row, x, y)| (row, format!("{:016x}", hash(x, y))))
                .collect(),
        }
    }

    /// What a model's metrics recorded, per training file (`None` for
    /// models from before, or a damaged entry).
    pub fn recorded(metrics: Option<&serde_json::Value>) -> Option<Vec<Self>> {
        serde_json::from_value(metrics?.get("training_rows")?.clone()).ok()
    }
}

/// Where a recording holds a model's training rows: ranges of its rows read
/// (merged, in order), and how many stored windows were found.
#[derive(Debug, Default, PartialEq)]
pub struct Found {
    pub rows: Vec<Range<usize>>,
    pub windows: usize,
}

/// Finds the training files' rows in `rec`: every window of `rec` whose
/// values hash like a stored window places that file's training rows at an
/// offset; an offset [`AGREEING`] stored windows agree on is taken.
pub fn find(rec: &Recording, stored: &[TrainingRows], window: usize) -> Found {
    let mut wanted: HashMap<u64, Vec<(usize, usize)>> = HashMap::new();
    for (f, t) in stored.iter().enumerate() {
        for (row, h) in &t.anchors {
            if let Ok(h) = u64::from_str_radix(h, 16) {
                wanted.entry(h).or_default().push((f, *row));
            }
        }
    }
    // (file, offset of its row 0 in `rec`) → stored windows found there.
    let mut offsets: HashMap<(usize, isize), usize> = HashMap::new();
    for (row, x, y) in windows_at(&rec.segments, window) {
        for &(f, at) in wanted.get(&hash(x, y)).into_iter().flatten() {
            *offsets.entry((f, row as isize - at as isize)).or_default() += 1;
        }
    }
    let mut found = Found::default();
    for ((f, offset), n) in offsets {
        let need = AGREEING.min(stored[f].anchors.len());
        if n < need {
            continue;
        }
        found.windows += n;
        let start = offset.max(0) as usize;
        let end = (offset + stored[f].rows as isize).clamp(0, rec.rows as isize) as usize;
        if start < end {
            found.rows.push(start..end);
        }
    }
    found.rows.sort_by_key(|r| r.start);
    found.rows = found.rows.into_iter().fold(Vec::new(), |mut merged, r| {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
        merged
    });
    found
}

/// The windows of `rec` none of whose rows is in `seen` (sorted ranges of
/// rows read).
pub fn unseen_windows(rec: &Recording, seen: &[Range<usize>], window: usize) -> Windows {
    let mut w = Windows::empty(window);
    for (row, x, y) in windows_at(&rec.segments, window) {
        let rows = row..row + window;
        if seen
            .iter()
            .all(|s| s.end <= rows.start || s.start >= rows.end)
        {
            w.input.extend_from_slice(x);
            w.target.extend_from_slice(y);
        }
    }
    w
}

/// The file's data row (0-based, skipped rows counted) of a row read.
pub fn data_row(rec: &Recording, row: usize) -> usize {
    let mut first = 0;
    for s in &rec.segments {
        if row < first + s.len() {
            return s.start + (row - first);
        }
        first += s.len();
    }
    rec.data_rows()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::CsvOptions;

    fn rec(rows: impl Iterator<Item = (f32, f32)>) -> Recording {
        let mut text = String::from("x,y\n");
        for (x, y) in rows {
            text += &format!("{x},{y}\n");
        }
        Recording::from_bytes(
            text.as_bytes(),
            std::path::Path::new("r.csv"),
            &CsvOptions::default(),
        )
        .unwrap()
    }

    fn signal(i: usize) -> (f32, f32) {
        let t = i as f32;
        ((t * 0.37).sin() + 0.01 * t, (t * 0.11).cos())
    }

    /// A file's training rows are found in a copy that grew, in an export
    /// of a period that overlaps them, and not in a file of other rows.
    #[test]
    fn training_rows_are_found_by_content_in_other_files() {
        let w = 24;
        let training = rec((0..1000).map(signal));
        let (train, _) = training.split(0.2);
        let stored = [TrainingRows::of(&train, w)];
        assert_eq!(stored[0].rows, 800);
        let anchors = stored[0].anchors.len();
        assert!((32..=64).contains(&anchors), "{anchors}");

        // The logger's file, 500 rows longer: its first 800 are training.
        let grown = rec((0..1500).map(signal));
        let found = find(&grown, &stored, w);
        assert_eq!(found.rows, vec![Range { start: 0, end: 800 }]);
        assert_eq!(found.windows, anchors);
        let left = unseen_windows(&grown, &found.rows, w);
        assert_eq!(left.len(), 700 - w + 1);
        assert_eq!(left.input[0], signal(800).0);

        // An export from row 600 on: its first 200 rows are training rows.
        let later = rec((600..1400).map(signal));
        let found = find(&later, &stored, w);
        assert_eq!(found.rows, vec![Range { start: 0, end: 200 }]);
        assert_eq!(data_row(&later, 200), 200);
        assert_eq!(unseen_windows(&later, &found.rows, w).len(), 600 - w + 1);

        // Other rows: nothing found, every window scored.
        let other = rec((5000..6000).map(signal));
        assert_eq!(find(&other, &stored, w), Found::default());
        assert_eq!(unseen_windows(&other, &[], w).len(), 1000 - w + 1);

        // Read back from a model's metrics.
        let metrics = serde_json::json!({ "training_rows": stored });
        assert_eq!(TrainingRows::recorded(Some(&metrics)).unwrap(), stored);
    }
}
