//! A sensor stuck at its last reading (a historian's flat line): a
//! channel that moves at nearly every row holding one ordinary value while
//! the other channel goes on moving.

use crate::eval::significant;
use crate::recording::{Recording, Segment};

/// Rows in a row that one value must hold, in a channel that moves at
/// nearly every row elsewhere, to be said as a stuck sensor.
const STUCK_ROWS: usize = 50;

/// Stretches where a channel that changes at nine rows in ten or more
/// elsewhere holds one value for [`STUCK_ROWS`] rows or more while the
/// other channel goes on moving as it does elsewhere: a sensor stuck at
/// its last reading, most likely (a historian's flat line). Nothing else
/// points at it: the value lies inside the channel's range, so neither
/// the spike nor the fill check sees it, yet the model is trained and
/// scored on rows whose input says nothing. (A pump switched off, whose
/// channels both go flat, is not said.)
pub(super) fn stuck_channels(rec: &Recording) -> Vec<String> {
    // Changes read on a clock hold one value for many ticks by their
    // nature (a long hold is said where it is read, against the channel's
    // changes' median step).
    if rec.resampled.is_some() {
        return Vec::new();
    }
    let input = (|s| &s.input) as fn(&Segment) -> &Vec<f32>;
    let output = (|s| &s.output) as fn(&Segment) -> &Vec<f32>;
    let mut warnings = Vec::new();
    for (name, this, other_name, other) in [
        (&rec.input_name, input, &rec.output_name, output),
        (&rec.output_name, output, &rec.input_name, input),
    ] {
        // Runs of one value (within a segment) long enough to tell, and
        // how often neighbouring rows hold the same value in all.
        let (mut same, mut pairs, mut runs) = (0usize, 0usize, Vec::new());
        // Every run's length: a channel that holds each value for a while
        // (an analyser's sample-and-hold) is judged by its usual hold.
        let mut lengths = Vec::new();
        for seg in &rec.segments {
            let v = this(seg);
            pairs += v.len().saturating_sub(1);
            let mut from = 0;
            for k in 1..=v.len() {
                if k < v.len() && v[k].to_bits() == v[k - 1].to_bits() {
                    continue;
                }
                let run = k - from;
                same += run - 1;
                lengths.push(run);
                if run >= STUCK_ROWS {
                    runs.push((seg, from, run));
                }
                from = k;
            }
        }
        // The longest that is a reading held (a pump off at 0 for longer
        // does not hide a shorter stuck stretch), the first few looked at.
        runs.sort_by_key(|&(_, _, run)| std::cmp::Reverse(run));
        // How the channel moves outside every long hold.
        let held_pairs: usize = runs.iter().map(|&(_, _, run)| run - 1).sum();
        let (same, pairs) = (same - held_pairs, pairs - held_pairs);
        let usual = usual_hold(&mut lengths);
        let held = runs.into_iter().take(8).find_map(|(seg, from, run)| {
            held_reading(rec, this, other, (seg, from, run), (same, pairs, usual))
        });
        let Some(Held {
            seg,
            from,
            run,
            value,
            moving,
            during,
            all,
        }) = held
        else {
            continue;
        };
        let how_long = rec.time_step.map_or(String::new(), |step| {
            format!(", {}", crate::recording::time::span(step * run as f64))
        });
        let elsewhere = match usual {
            Some(rows) if run >= HOLDS * rows => format!(
                "where it usually holds a value for {rows} rows (a sample-and-hold, as an \
                 analyser's): {} times that",
                run / rows
            ),
            _ => format!(
                "where it changes at {:.0}% of its rows elsewhere",
                100.0 * moving
            ),
        };
        warnings.push(format!(
            "column {name:?}: holds {} for {run} rows in a row (from data row {}{how_long}) \
             {elsewhere}, while {other_name:?} goes on moving (by {} a row there, {} in all): a \
             stuck sensor or an analyser out of service with its last value held (or a value \
             held on purpose, a setpoint)? The model is trained and scored on those rows as they \
             are; if the reading was stuck, leave the stretch out{}",
            value,
            seg.start + from,
            significant(during),
            significant(all),
            exclude(rec, seg.start + from, run),
        ));
    }
    warnings
}

/// The `--exclude` stretch of `run` data rows from `first`, where the
/// recording's rows have times (` '…..…'`).
fn exclude(rec: &Recording, first: usize, run: usize) -> String {
    let stamp = |row: usize| rec.row_times.get(row).copied().flatten();
    match (stamp(first), stamp(first + run - 1)) {
        (Some(a), Some(b)) => format!(
            " (--exclude '{}{}..{}'{})",
            super::stop::of_file(rec),
            super::stop::text(a, rec),
            super::stop::text(b, rec),
            super::stop::every_stream(rec)
        ),
        // (`--exclude` needs the time column.)
        _ => " of the export".into(),
    }
}

/// Times its usual hold a sample-and-hold channel must hold one value to
/// be said.
const HOLDS: usize = 8;

/// The usual length of a channel's runs of one value where it holds each
/// (the median, 2 rows or more, and regular: three quarters of the runs
/// within twice it); `None` for a channel that changes at most rows, or
/// whose holds have no usual length (states).
fn usual_hold(lengths: &mut [usize]) -> Option<usize> {
    if lengths.len() < 20 {
        return None;
    }
    let mid = lengths.len() / 2;
    let median = *lengths.select_nth_unstable(mid).1;
    let near = lengths
        .iter()
        .filter(|&&l| l <= 2 * median && 2 * l >= median)
        .count();
    (median >= 2 && 4 * near >= 3 * lengths.len()).then_some(median)
}

/// A run of one value that looks like a reading held: see
/// [`stuck_channels`].
struct Held<'a> {
    seg: &'a Segment,
    from: usize,
    run: usize,
    value: f32,
    /// The share of the channel's other rows that change.
    moving: f64,
    /// The other channel's change per row during the run, and in all.
    during: f64,
    all: f64,
}

/// Whether the run `(seg, from, run)` of channel `this` is a reading held
/// while `other` goes on moving; `(same, pairs)`: how many neighbouring
/// rows of `this` hold one value, of how many, outside its long runs.
fn held_reading<'a>(
    rec: &Recording,
    this: fn(&Segment) -> &Vec<f32>,
    other: fn(&Segment) -> &Vec<f32>,
    (seg, from, run): (&'a Segment, usize, usize),
    (same, pairs, usual): (usize, usize, Option<usize>),
) -> Option<Held<'a>> {
    let (same_elsewhere, pairs_elsewhere) = (same, pairs);
    // A channel that often holds its value (states, steps), unless it
    // holds each for a usual while and this run is many times that.
    let far_past_usual = usual.is_some_and(|rows| run >= HOLDS * rows);
    if pairs_elsewhere == 0 || (10 * same_elsewhere > pairs_elsewhere && !far_past_usual) {
        return None;
    }
    // A value outside the channel's ordinary ones is a code or a fill
    // (said by `spiky_channels`), not a reading held; strictly inside, as
    // a machine off holds the edge of its range (0).
    let run_rows = seg.start + from..seg.start + from + run;
    let (lo, hi) = (rec.segments.iter())
        .flat_map(|s| (s.start..).zip(this(s)))
        .filter(|(row, _)| !run_rows.contains(row))
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), (_, &v)| {
            (lo.min(v), hi.max(v))
        });
    let value = this(seg)[from] + 0.0; // -0 read from `-0.0000` said as 0
    if !(value > lo && value < hi) {
        return None;
    }
    // The other channel's pace, row to row: during the run, and in all.
    let pace = |v: &[f32]| {
        let steps = v.windows(2).map(|w| f64::from((w[1] - w[0]).abs()));
        steps.sum::<f64>() / v.len().saturating_sub(1).max(1) as f64
    };
    let during = pace(&other(seg)[from..from + run]);
    let steps = |s: &Segment| s.len().saturating_sub(1);
    let all = (rec.segments.iter())
        .map(|s| pace(other(s)) * steps(s) as f64)
        .sum::<f64>()
        / rec.segments.iter().map(steps).sum::<usize>().max(1) as f64;
    if during < 0.3 * all || all == 0.0 {
        return None; // both still: a machine off, say
    }
    Some(Held {
        seg,
        from,
        run,
        value,
        moving: 1.0 - same_elsewhere as f64 / pairs_elsewhere as f64,
        during,
        all,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{Column, CsvOptions};

    /// An input stuck at one of its ordinary values for an hour while the
    /// output goes on moving is said, with where; both channels flat (a
    /// machine off), or a channel that often holds its value, is not.
    #[test]
    fn a_stuck_sensor_is_said() {
        let rows_with = |stuck: bool, off: bool, steps: bool, edge_off: bool| {
            let mut t = String::from("t,x,y\n");
            for i in 0..1000 {
                let wave = (i as f64 / 9.0).sin() + 0.3 * (i as f64 / 2.3).cos();
                let mut x = 1000.0 + 100.0 * wave;
                let mut y = 20.0 + 0.02 * x + (i as f64 / 1.7).sin();
                if steps {
                    x = (x / 50.0).round() * 50.0; // a channel read in coarse steps
                }
                if (300..360).contains(&i) {
                    if stuck {
                        x = 1043.25;
                    }
                    if off {
                        (x, y) = (1043.25, 40.0); // both held: a machine paused
                    }
                }
                if edge_off && (600..800).contains(&i) {
                    (x, y) = (0.0, 0.0); // switched off, longer than the stuck stretch
                }
                t += &format!("{},{x},{y}\n", i * 10);
            }
            t
        };
        let rows = |stuck, off, steps| rows_with(stuck, off, steps, false);
        let opts = CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            time: vec![Column::Name("t".into())],
            ..Default::default()
        };
        let read = |t: String| {
            Recording::from_bytes(t.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap()
        };
        let w = stuck_channels(&read(rows(true, false, false)));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with(
                "column \"x\": holds 1043.25 for 60 rows in a row (from data row 300, 10.0 min)"
            ) && w[0].contains("where it changes at 100% of its rows elsewhere")
                && w[0].contains("a stuck sensor or an analyser out of service"),
            "{w:?}"
        );
        // Among every warning of the recording.
        let r = read(rows(true, false, false));
        let every = super::super::warnings(&r, &r.segments, &r.segments, 24).0;
        assert!(
            every.iter().any(|w| w.contains("stuck sensor")),
            "{every:?}"
        );
        assert!(stuck_channels(&read(rows(false, false, false))).is_empty());
        // A longer stretch switched off (both at 0) does not hide it.
        let w = stuck_channels(&read(rows_with(true, false, false, true)));
        assert!(
            w.len() == 1 && w[0].contains("holds 1043.25 for 60 rows"),
            "{w:?}"
        );
        assert!(
            stuck_channels(&read(rows(false, true, false))).is_empty(),
            "both held"
        );
        assert!(
            stuck_channels(&read(rows(true, false, true))).is_empty(),
            "coarse steps"
        );
        // Read on a clock (changes held: long holds are their nature).
        let on_clock = CsvOptions {
            every: Some(10.0),
            ..opts.clone()
        };
        let r = Recording::from_bytes(
            rows(true, false, false).as_bytes(),
            std::path::Path::new("r.csv"),
            &on_clock,
        )
        .unwrap();
        assert!(r.resampled.is_some());
        assert!(stuck_channels(&r).is_empty());
    }

    /// An analyser's sample-and-hold output (a new value every 15 rows)
    /// held for 240 rows while the input goes on moving (the analyser out
    /// of service) is said against its usual hold; the same output without
    /// the outage, and holds of no usual length (states), are not.
    #[test]
    fn a_sample_and_hold_held_far_past_its_usual_hold_is_said() {
        let rows = |outage: bool, irregular: bool| {
            let mut t = String::from("t,x,y\n");
            let mut held = 0.0;
            for i in 0..3000usize {
                let x = 120.0 + (i as f64 / 40.0).sin() + 0.2 * (i as f64 / 3.1).cos();
                // Irregular: held for 1, 2, 4 … 64 rows in turn.
                let new_value = match irregular {
                    true => (i as f64).log2().fract() < 0.05,
                    false => i % 15 == 0,
                };
                if new_value && !(outage && (1200..1440).contains(&i)) {
                    held = 90.0 + (i as f64 / 40.0 - 0.5).sin();
                }
                t += &format!("{},{x:.3},{held:.3}\n", i * 60);
            }
            let opts = CsvOptions {
                input: Column::Name("x".into()),
                output: Column::Name("y".into()),
                time: vec![Column::Name("t".into())],
                ..Default::default()
            };
            Recording::from_bytes(t.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap()
        };
        let w = stuck_channels(&rows(true, false));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("column \"y\": holds ")
                && w[0].contains("for 255 rows in a row")
                && w[0].contains("where it usually holds a value for 15 rows")
                && w[0].ends_with("(--exclude 'r.csv@71100..86340')"),
            "{w:?}"
        );
        assert!(stuck_channels(&rows(false, false)).is_empty());
        assert!(stuck_channels(&rows(true, true)).is_empty());
    }
}
