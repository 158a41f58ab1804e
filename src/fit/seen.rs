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
    /// The data row (skipped rows counted) after its training part: the
    /// training rows are the file's data rows before it.
    pub end_row: usize,
    /// Each stored window: its first data row and the hash of its values,
    /// in hex, in the order of the rows.
    pub anchors: Vec<(usize, String)>,
    /// The file's data rows after its training part: the held-out part,
    /// which chose the weights (early stopping, the best step kept). 0 in
    /// models from before it was stored.
    #[serde(default)]
    pub held_out_rows: usize,
    /// The times of the file's first and last data rows (seconds, as its
    /// time column reads), where it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<(f64, f64)>,
}

/// A hash of a window's values, as read (f32 bits, -0 as 0), input then
/// output.
pub(super) fn hash(input: &[f32], output: &[f32]) -> u64 {
    let mut h = Fnv::default();
    for v in input.iter().chain(output) {
        h.write(&(v + 0.0).to_bits().to_le_bytes());
    }
    h.finish()
}

/// Each window of `window` rows inside `segments`, with its first data row
/// (skipped rows counted: a row skipped in one export and not in another
/// does not shift the rows after it).
fn windows_at(
    segments: &[Segment],
    window: usize,
) -> impl Iterator<Item = (usize, &[f32], &[f32])> + '_ {
    segments.iter().flat_map(move |s| {
        let n = (s.len() + 1).saturating_sub(window.max(1));
        (0..n).map(move |i| {
            (
                s.start + i,
                &s.input[i..i + window],
                &s.output[i..i + window],
            )
        })
    })
}

impl TrainingRows {
    /// Up to [`ANCHORS`] windows spread over a file's training segments,
    /// each one whose values occur once there: a window that recurs (a
    /// periodic signal, a sensor stuck) would be found in rows never
    /// trained on.
    pub fn of(train: &[Segment], valid: &[Segment], window: usize) -> Self {
        let all: Vec<(usize, u64)> = windows_at(train, window)
            .map(|(row, x, y)| (row, hash(x, y)))
            .collect();
        let mut count: HashMap<u64, usize> = HashMap::new();
        for (_, h) in &all {
            *count.entry(*h).or_default() += 1;
        }
        let unique: Vec<_> = all.iter().filter(|(_, h)| count[h] == 1).collect();
        let every = unique.len().div_ceil(ANCHORS).max(1);
        let end_row = train.last().map_or(0, |s| s.start + s.len());
        // Rows that chose the weights: the held-out part, when it holds a
        // window (skipped rows at the end of a file are none of it).
        let scored = valid.iter().any(|s| s.len() >= window);
        let held_end = valid.last().map_or(end_row, |s| s.start + s.len());
        Self {
            span: None,
            end_row,
            held_out_rows: if scored {
                held_end.saturating_sub(end_row)
            } else {
                0
            },
            anchors: unique
                .iter()
                .step_by(every)
                .map(|(row, h)| (*row, format!("{h:016x}")))
                .collect(),
        }
    }

    /// What a model's metrics recorded, per training file (`None` for
    /// models from before, or a damaged entry).
    pub fn recorded(metrics: Option<&serde_json::Value>) -> Option<Vec<Self>> {
        serde_json::from_value(metrics?.get("training_rows")?.clone()).ok()
    }
}

impl TrainingRows {
    /// With the span of `times` (a recording's row times).
    pub fn spanning(mut self, times: &[Option<f64>]) -> Self {
        let mut t = times.iter().flatten().copied();
        let first = t
            .next()
            .map(|f| t.fold((f, f), |(lo, hi), x| (lo.min(x), hi.max(x))));
        self.span = first.filter(|(lo, hi)| hi > lo);
        self
    }
}

/// Where `rec`'s rows lie in the time a training file covered, though no
/// window of it was found there (an interpolated, resampled or re-exported
/// copy of the training period has other values): said, since such rows
/// score as never seen while the model was fitted to that period.
pub fn same_period(rec: &Recording, stored: &[TrainingRows]) -> Option<String> {
    let mut t = rec.row_times.iter().flatten().copied();
    let first = t.next()?;
    let (lo, hi) = t.fold((first, first), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let whole = (hi - lo).max(f64::MIN_POSITIVE);
    let utc = crate::recording::time::utc_text;
    // Seconds since a start (before 1990 as instants: a test bench's
    // clock, a cycler's Test_Time): every test starts at 0, so times alike
    // are no period alike.
    let since_start = |t: f64| t < crate::window::SINCE_START as f64;
    stored.iter().enumerate().find_map(|(k, s)| {
        let (a, b) = s
            .span
            .filter(|&(_, b)| !(since_start(b) && since_start(hi)))?;
        let overlap = hi.min(b) - lo.max(a);
        (overlap > 0.0 && overlap >= 0.1 * whole).then(|| {
            format!(
                "{:.0}% of its rows' time ({} to {}) lies in the time training file {} of {} \
                 covered ({} to {}), though none of its windows is a stored training window: \
                 an interpolated, resampled or re-exported copy of the training period scores \
                 here as never seen, while the model was fitted to it; score a period after \
                 training",
                100.0 * overlap / whole,
                utc(lo.max(a)),
                utc(hi.min(b)),
                k + 1,
                stored.len(),
                utc(a),
                utc(b)
            )
        })
    })
}

/// Where a recording holds a model's training rows: ranges of its data
/// rows (merged, in order), and how many stored windows were found.
#[derive(Debug, Default, PartialEq)]
pub struct Found {
    pub rows: Vec<Range<usize>>,
    pub windows: usize,
    /// Where the training files' held-out parts lie, after their training
    /// rows (not trained on, but they chose the weights).
    pub held_out: Vec<Range<usize>>,
}

/// Finds the training files' rows in `rec`. Every window of `rec` whose
/// values hash like a stored window places that file's training rows at an
/// offset; an offset is taken when at least [`AGREEING`] stored windows,
/// and a quarter of those that would lie inside `rec` there, are found at
/// it (a few windows alike in other rows are not enough), and then all of
/// that file's training rows at it are: a row edited or skipped in one
/// export leaves its neighbours training rows, and rows that may be
/// training rows are left out rather than scored as unseen.
pub fn find(rec: &Recording, stored: &[TrainingRows], window: usize) -> Found {
    let mut wanted: HashMap<u64, Vec<(usize, usize)>> = HashMap::new();
    for (f, t) in stored.iter().enumerate() {
        for (k, (_, h)) in t.anchors.iter().enumerate() {
            if let Ok(h) = u64::from_str_radix(h, 16) {
                wanted.entry(h).or_default().push((f, k));
            }
        }
    }
    // (file, offset of its data row 0 in `rec`) → its stored windows found there.
    let mut offsets: HashMap<(usize, isize), Vec<usize>> = HashMap::new();
    for (row, x, y) in windows_at(&rec.segments, window) {
        for &(f, k) in wanted.get(&hash(x, y)).into_iter().flatten() {
            let at = row as isize - stored[f].anchors[k].0 as isize;
            offsets.entry((f, at)).or_default().push(k);
        }
    }
    let rows = rec.data_rows() as isize;
    // Offsets a window apart or less are one placement: rows deleted from
    // (or added to) one export shift the stored windows after them a row
    // each, spreading them over neighbouring offsets.
    let mut placements: Vec<((usize, isize), Vec<usize>)> = offsets.into_iter().collect();
    placements.sort_unstable_by_key(|(key, _)| *key);
    let mut clusters: Vec<(usize, isize, isize, Vec<usize>)> = Vec::new();
    for ((f, offset), ks) in placements {
        match clusters.last_mut() {
            Some((g, _, last, all)) if *g == f && offset - *last <= window as isize => {
                *last = offset;
                all.extend(ks);
            }
            _ => clusters.push((f, offset, offset, ks)),
        }
    }
    let mut found = Found::default();
    for (f, first, last, mut ks) in clusters {
        let t = &stored[f];
        ks.sort_unstable();
        ks.dedup();
        let inside = t
            .anchors
            .iter()
            .filter(|(r, _)| {
                let at = first + *r as isize;
                at >= 0 && at + window as isize <= rows
            })
            .count();
        if ks.len() < AGREEING.min(t.anchors.len()) || 4 * ks.len() < inside {
            continue;
        }
        found.windows += ks.len();
        let start = first.clamp(0, rows);
        let end = (last + t.end_row as isize).clamp(0, rows);
        if start < end {
            found.rows.push(start as usize..end as usize);
        }
        let after = (last + (t.end_row + t.held_out_rows) as isize).clamp(0, rows);
        if end < after {
            found.held_out.push(end as usize..after as usize);
        }
    }
    found.rows = merged(found.rows);
    // Less what is another file's training rows (left out, not scored).
    found.held_out = merged(found.held_out)
        .into_iter()
        .flat_map(|h| without(h, &found.rows))
        .collect();
    found
}

/// `range` less the sorted, disjoint `cut`.
fn without(range: Range<usize>, cut: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut left = Vec::new();
    let mut from = range.start;
    for c in cut
        .iter()
        .filter(|c| c.end > range.start && c.start < range.end)
    {
        if c.start > from {
            left.push(from..c.start);
        }
        from = from.max(c.end);
    }
    if from < range.end {
        left.push(from..range.end);
    }
    left
}

/// `ranges` sorted, overlapping ones made one.
fn merged(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| r.start);
    ranges.into_iter().fold(Vec::new(), |mut merged, r| {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
        merged
    })
}

/// How many of the rows `rec` read (not skipped) lie in `ranges` (sorted,
/// disjoint data rows).
pub fn rows_read(rec: &Recording, ranges: &[Range<usize>]) -> usize {
    rec.segments
        .iter()
        .map(|s| {
            let seg = s.start..s.start + s.len();
            ranges
                .iter()
                .map(|t| seg.end.min(t.end).saturating_sub(seg.start.max(t.start)))
                .sum::<usize>()
        })
        .sum()
}

/// How many of `rec`'s windows clear of `seen` have a row in `ranges`.
pub fn windows_in(
    rec: &Recording,
    seen: &[Range<usize>],
    ranges: &[Range<usize>],
    window: usize,
) -> usize {
    let apart = |a: &Range<usize>, b: &Range<usize>| a.end <= b.start || b.end <= a.start;
    windows_at(&rec.segments, window)
        .filter(|(row, ..)| {
            let rows = *row..row + window;
            seen.iter().all(|s| apart(s, &rows)) && ranges.iter().any(|r| !apart(r, &rows))
        })
        .count()
}

/// The windows of `rec` none of whose rows is in `seen` (sorted ranges of
/// data rows).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::CsvOptions;

    /// A recording of `rows`; a NaN input is a bad cell, skipped.
    fn rec(rows: impl Iterator<Item = (f32, f32)>) -> Recording {
        let mut text = String::from("x,y\n");
        for (x, y) in rows {
            match x.is_nan() {
                true => text += &format!(",{y}\n"),
                false => text += &format!("{x},{y}\n"),
            }
        }
        let opts = CsvOptions {
            skip_bad_rows: true,
            ..Default::default()
        };
        Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap()
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
        let (train, valid) = training.split(0.2);
        let stored = [TrainingRows::of(&train, &valid, w)];
        assert_eq!((stored[0].end_row, stored[0].held_out_rows), (800, 200));
        // Nothing held out (or too little for a window): nothing chose.
        let (all, none) = training.split(0.0);
        assert_eq!(TrainingRows::of(&all, &none, w).held_out_rows, 0);
        assert_eq!(without(0..10, &[2..4, 6..8]), vec![0..2, 4..6, 8..10]);
        let everything = [Range { start: 0, end: 10 }];
        assert_eq!(without(3..5, &everything), Vec::<Range<usize>>::new());
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
        // Its next 200 rows were the held-out part that chose the weights:
        // the windows clear of the training rows with a row in them.
        assert_eq!(
            found.held_out,
            vec![Range {
                start: 800,
                end: 1000
            }]
        );
        assert_eq!(windows_in(&grown, &found.rows, &found.held_out, w), 200);
        assert_eq!(rows_read(&grown, &found.rows), 800);

        // An export from row 600 on: its first 200 rows are training rows.
        let later = rec((600..1400).map(signal));
        let found = find(&later, &stored, w);
        assert_eq!(found.rows, vec![Range { start: 0, end: 200 }]);
        assert_eq!(
            found.held_out,
            vec![Range {
                start: 200,
                end: 400
            }]
        );
        assert_eq!(unseen_windows(&later, &found.rows, w).len(), 600 - w + 1);

        // Other rows: nothing found, every window scored.
        let other = rec((5000..6000).map(signal));
        assert_eq!(find(&other, &stored, w), Found::default());
        assert_eq!(unseen_windows(&other, &[], w).len(), 1000 - w + 1);

        // A row skipped in this export, not in training's: the rows after
        // it are not shifted (rows are data rows, skipped ones counted).
        let holed = rec((0..1500).map(|i| match i {
            100 => (f32::NAN, 0.0),
            i => signal(i),
        }));
        let found_holed = find(&holed, &stored, w);
        assert_eq!(found_holed.rows, vec![Range { start: 0, end: 800 }]);
        assert_eq!(rows_read(&holed, &found_holed.rows), 799);
        // Ten rows deleted from the training part (a cleaned export): the
        // stored windows spread over ten offsets, still one placement.
        // Its 789 training rows are left out, and the 10 after them too
        // (the placement runs from the first offset to the last's end).
        let cleaned = rec((0..1500).filter(|i| i % 75 != 10).map(signal));
        let found = find(&cleaned, &stored, w);
        assert_eq!(found.rows, vec![Range { start: 0, end: 799 }]);
        // An edited row inside: the training rows are still all taken.
        let edited = rec((0..1500).map(|i| match i {
            400 => (9.0, 9.0),
            i => signal(i),
        }));
        assert_eq!(
            find(&edited, &stored, w).rows,
            vec![Range { start: 0, end: 800 }]
        );

        // A signal that repeats: no window of it is stored (each recurs),
        // so rows of it elsewhere are never taken for training rows.
        let periodic = rec((0..1000).map(|i| signal(i % 50)));
        let (train, valid) = periodic.split(0.2);
        let repeats = [TrainingRows::of(&train, &valid, w)];
        assert!(repeats[0].anchors.is_empty());
        let elsewhere = rec((0..200)
            .map(|i| signal(i % 50))
            .chain((5000..6000).map(signal)));
        assert_eq!(find(&elsewhere, &repeats, w), Found::default());
        // A stretch of training values inside other rows: a few stored
        // windows, not a quarter of those that would lie there, so no.
        let stretch = rec((5000..5500)
            .map(signal)
            .chain((0..60).map(signal))
            .chain((6000..7000).map(signal)));
        assert_eq!(find(&stretch, &stored, w), Found::default());

        // Read back from a model's metrics.
        let metrics = serde_json::json!({ "training_rows": stored });
        assert_eq!(TrainingRows::recorded(Some(&metrics)).unwrap(), stored);
    }

    /// Rows in the time training covered are said, but not where both
    /// are seconds since a start (every cycler test begins at 0).
    #[test]
    fn a_period_alike_is_said_only_of_instants() {
        let mut r = rec((0..100).map(signal));
        let (train, valid) = r.split(0.2);
        let mut stored = TrainingRows::of(&train, &valid, 8);
        let at = |t0: f64| (0..100).map(|i| Some(t0 + i as f64)).collect::<Vec<_>>();
        for (t0, said) in [(1.764e9, true), (1.0, false)] {
            stored = stored.spanning(&at(t0 - 50.0));
            r.row_times = at(t0);
            let s = same_period(&r, std::slice::from_ref(&stored));
            assert_eq!(s.is_some(), said, "{t0}: {s:?}");
        }
    }
}
