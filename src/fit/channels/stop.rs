//! A stretch where a channel leaves its usual level for hours and comes
//! back (a planned shutdown: flows at 0, a column cooling from 120 °C to
//! 70 °C; a start-up): not a spike (it lasts), not a fill (it moves), not
//! units (the rest of the file is as usual). Trained on as it is, it sets
//! the channel's scaling and the linear map, weighs in every score, and
//! hides how the channels relate in ordinary running; the user knows when
//! it was, and `--exclude` leaves it out.

use crate::eval::significant;
use crate::recording::Recording;

/// Typical spreads (the middle half's, as a standard deviation) from the
/// channel's median beyond which a row is out of the usual.
const BEYOND: f64 = 6.0;
/// The same above the median, in the upper half's spread: a skewed
/// channel's peaks reach further than its troughs.
const ABOVE: f64 = 10.0;
/// Rows out of the usual, at most, in all (a state the recording visits
/// often is one of its states, not a stop).
const RARE: f64 = 0.1;
/// Stretches said, the longest first.
const SAID: usize = 3;

/// Each channel's longest stretches (of `window` rows or more, in a row)
/// far from its usual level, said with the `--exclude` that leaves them out.
pub(super) fn stretches(rec: &Recording, window: usize) -> Vec<String> {
    if rec.time_name.is_none() || rec.resampled.is_some() {
        return Vec::new();
    }
    let mut said = Vec::new();
    for (name, values) in super::named_channels(rec) {
        let all: Vec<f32> = rec
            .segments
            .iter()
            .flat_map(|s| values(s).iter().copied())
            .collect();
        let Some((median, below, above)) = usual(&all) else {
            continue;
        };
        // Each side by its own spread (a flow's or a load's long upper
        // tail is its own, not a stop), and further above.
        let out = |v: f32| {
            let d = f64::from(v) - median;
            d < -BEYOND * below || d > ABOVE * above
        };
        // Runs of rows out of the usual, within segments: (first data
        // row, rows, lowest, highest).
        let mut runs: Vec<(usize, usize, f32, f32)> = Vec::new();
        let mut total = 0;
        for s in &rec.segments {
            let v = values(s);
            let mut k = 0;
            while k < v.len() {
                if !out(v[k]) {
                    k += 1;
                    continue;
                }
                let from = k;
                while k < v.len() && out(v[k]) {
                    k += 1;
                }
                total += k - from;
                let part = &v[from..k];
                let lo = part.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = part.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                runs.push((s.start + from, k - from, lo, hi));
            }
        }
        if total as f64 > RARE * all.len() as f64 {
            continue;
        }
        runs.retain(|r| r.1 >= window.max(2));
        runs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let stamp = |row: usize| rec.row_times.get(row).copied().flatten();
        for &(first, rows, lo, hi) in runs.iter().take(SAID) {
            let (Some(a), Some(b)) = (stamp(first), stamp(first + rows - 1)) else {
                continue;
            };
            let (from, to) = (text(a, rec), text(b, rec));
            said.push(format!(
                "column {name:?} lies far from its usual level for {rows} rows in a row (data rows \
                 {first} to {}, {from} to {to}): {} to {}, where its rows usually lie at {} \
                 (-{}/+{}, the spread of each side of the middle half): a shutdown, a start-up, \
                 or a state the recording rarely visits? Trained on, such a stretch sets the \
                 scaling and the linear map and weighs in every score; to leave it out, \
                 --exclude '{file}{from}..{to}'{every}",
                first + rows - 1,
                significant(f64::from(lo)),
                significant(f64::from(hi)),
                significant(median),
                significant(below),
                significant(above),
                every = every_stream(rec),
                file = of_file(rec),
            ));
        }
    }
    said
}

/// The file an `--exclude` stretch names where its times count from the
/// file's start (`p2.csv@`): read in every `--data` file otherwise, each
/// timed from its own start, one patient's flush would cut every patient.
pub(super) fn of_file(rec: &Recording) -> String {
    match (rec.timed_from_start(), rec.path.file_name()) {
        (true, Some(name)) => format!("{}@", name.to_string_lossy()),
        _ => String::new(),
    }
}

/// Where the stretch is one device's of a fleet export: `--exclude` leaves
/// it out of every device's rows.
pub(super) fn every_stream(rec: &Recording) -> &'static str {
    match rec.stream {
        Some(_) => " (of every stream's rows: the file's other devices lose that stretch too)",
        None => "",
    }
}

/// The median of the finite values, and the spread of each side of their
/// middle half as a standard deviation's (the quartile's distance / 0.6745);
/// `None` where either is 0 (a channel that mostly holds one value: a stop
/// would be its usual).
fn usual(values: &[f32]) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = (values.iter())
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v))
        .collect();
    if v.len() < 100 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let (below, above) = ((at(0.5) - at(0.25)) / 0.6745, (at(0.75) - at(0.5)) / 0.6745);
    (below > 0.0 && above > 0.0).then_some((at(0.5), below, above))
}

/// A row's time as a stamp `--exclude` reads back (see
/// [`crate::recording::time::iso`]).
pub(super) fn text(seconds: f64, rec: &Recording) -> String {
    rec.stamp(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{Column, CsvOptions};

    /// A column's six-hour stop (its level far below, moving) is said with
    /// the --exclude that leaves it out; the same recording without it,
    /// and a channel whose stops are a fifth of its rows, are not.
    #[test]
    fn a_stop_of_hours_is_said_with_its_exclude() {
        let write = |stop: std::ops::Range<usize>| {
            let mut text = String::from("t,x,y\n");
            for m in 0..4000usize {
                let wave = (m as f64 * 0.05).sin();
                let x = match stop.contains(&m) {
                    true => 70.0 + (m - stop.start) as f64 * 0.05,
                    false => 120.0 + wave,
                };
                let (h, mm) = (m / 60, m % 60);
                text += &format!(
                    "2026-10-{:02} {:02}:{mm:02}:00,{x:.3},{:.3}\n",
                    1 + h / 24,
                    h % 24,
                    wave
                );
            }
            let opts = CsvOptions {
                input: Column::Name("x".into()),
                output: Column::Name("y".into()),
                time: vec![Column::Name("t".into())],
                ..Default::default()
            };
            Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap()
        };
        let said = stretches(&write(600..960), 24);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with("column \"x\" lies far from its usual level for 360 rows in a row (data rows 600 to 959, 2026-10-01T10:00:00 to 2026-10-01T15:59:00): 70.00 to 87.95")
                && said[0].ends_with("--exclude '2026-10-01T10:00:00..2026-10-01T15:59:00'"),
            "{said:?}"
        );
        assert!(stretches(&write(0..0), 24).is_empty());
        assert!(
            stretches(&write(600..1100), 24).is_empty(),
            "a fifth of the rows is a state"
        );
    }
}
