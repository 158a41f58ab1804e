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
        let held = runs.into_iter().take(8).find_map(|(seg, from, run)| {
            held_reading(rec, this, other, (seg, from, run), (same, pairs))
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
        warnings.push(format!(
            "column {name:?}: holds {} for {run} rows in a row (from data row {}{how_long}) where \
             it changes at {:.0}% of its rows elsewhere, while {other_name:?} goes on moving \
             (by {} a row there, {} in all): a stuck sensor (or a value held on purpose, a \
             setpoint)? The model is trained and scored on those rows as they are; if the sensor \
             was stuck, cut the stretch out of the export",
            value,
            seg.start + from,
            100.0 * moving,
            significant(during),
            significant(all),
        ));
    }
    warnings
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
    (same, pairs): (usize, usize),
) -> Option<Held<'a>> {
    let (same_elsewhere, pairs_elsewhere) = (same, pairs);
    if pairs_elsewhere == 0 || 10 * same_elsewhere > pairs_elsewhere {
        return None; // a channel that often holds its value: states, steps
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
            ) && w[0].contains("a stuck sensor (or a value held on purpose, a setpoint)?"),
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
}
