//! What a user should know about a channel before trusting a model
//! trained on it: values f32 holds too coarsely, and a few far values that
//! set the default scaling. Warned in the report, on stderr and in `eval`.

use crate::eval::significant;
use crate::recording::{Recording, Segment};
use crate::scaling::{Affine, Fill, Sentinel, Spikes};

/// What the verdict points at before the model (see [`warnings`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Doubts {
    /// A channel holds a missing-value code or a logger's fill.
    pub filled: bool,
    /// The output's scored rows hold spikes, which weigh in every score
    /// (whether or not the training rows, which the warnings are of, do).
    pub output_spikes: bool,
}

/// Every warning about `rec`'s two channels (`train`: its training part,
/// which the scaling is fitted on), and the doubts the verdict points at
/// first (`scored`: the rows the scores are of).
pub(super) fn warnings(
    rec: &Recording,
    train: &[Segment],
    scored: &[Segment],
) -> (Vec<String>, Doubts) {
    let time = rec.time_doubt.iter().map(|why| {
        format!(
            "column {:?}: {why}",
            rec.time_name.as_deref().unwrap_or("time")
        )
    });
    let (spiky, mut doubts) = spiky_channels(rec, train);
    let output: Vec<f32> = (scored.iter())
        .flat_map(|s| s.output.iter().copied())
        .collect();
    doubts.output_spikes = Spikes::find(&output).is_some();
    let all = [
        coarse_channels(rec),
        spiky,
        stuck_channels(rec),
        time.collect(),
        many_skipped(rec).into_iter().collect(),
    ]
    .concat();
    (all, doubts)
}

/// Rows skipped (`--skip-bad-rows`) beyond 1% of a file: rows skipped for
/// one cause take a part of the signal with them (every value over 1,000
/// written with an unquoted thousands separator: the high-load hours), so
/// the cause is said where the count alone was.
fn many_skipped(rec: &Recording) -> Option<String> {
    let total = rec.rows + rec.skipped;
    if rec.skipped < 10 || (rec.skipped as f64) < 0.01 * total as f64 {
        return None;
    }
    // Rows the user asked to skip (`--missing`) are no news: the first
    // example of another cause, if the examples show one.
    let example = (rec.skipped_examples.iter())
        .find(|e| !e.ends_with("is a missing-value code (--missing)"))?;
    Some(format!(
        "{} of its {total} rows ({:.1}%) were skipped as bad rows, such as {example}. Rows \
         skipped for one cause may be one part of the signal (its highest values, one state): \
         the model and the scaling never see it; fix the cause where you can",
        rec.skipped,
        100.0 * rec.skipped as f64 / total as f64
    ))
}

/// Channels that f32 (how samples are read, published and served) holds
/// too coarsely: a large offset with a small variation (a meter at 2.5e7 Pa
/// varying by a few Pa) leaves the signal a few f32 steps, which no model
/// can undo. Warned when the step at the channel's largest value exceeds 1%
/// of its standard deviation.
fn coarse_channels(rec: &Recording) -> Vec<String> {
    let mut warnings = Vec::new();
    for (name, values) in [
        (&rec.input_name, rec.input().collect::<Vec<_>>()),
        (&rec.output_name, rec.output().collect::<Vec<_>>()),
    ] {
        let std = Affine::standard(values.iter().copied()).scale;
        let big = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        // The spacing of f32 values just below `big` (above f32's largest
        // value there is only infinity).
        let step = (big - big.next_down()) as f64;
        if std > 0.0 && step > 0.01 * std {
            warnings.push(format!(
                "column {name:?}: values near {big:.6e} vary by {std:.3e} (standard deviation), \
                 and f32, which samples are read and served in, holds them only to steps of \
                 {step:.3e}: the signal is coarsened; subtract a constant offset when exporting"
            ));
        }
    }
    warnings
}

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
fn stuck_channels(rec: &Recording) -> Vec<String> {
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
    let value = this(seg)[from];
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

/// Channels with a missing-value code among their values ([`Sentinel`]),
/// or whose standard deviation a few far values set ([`Spikes`]): the
/// default scaling squeezes every other value, and nothing else would point
/// at them. Beside them, whether one is of a code or a fill.
fn spiky_channels(rec: &Recording, train: &[Segment]) -> (Vec<String>, Doubts) {
    let mut warnings = Vec::new();
    let mut doubts = Doubts::default();
    for (name, channel, output) in [
        (
            &rec.input_name,
            (|s| &s.input) as fn(&Segment) -> &Vec<f32>,
            false,
        ),
        (&rec.output_name, |s| &s.output, true),
    ] {
        let values: Vec<f32> = train
            .iter()
            .flat_map(|s| channel(s).iter().copied())
            .collect();
        // The data row of the value at `i`: its index among the segments' samples.
        let row = |i: usize| {
            let mut before = 0;
            train.iter().find_map(|seg| {
                let at = (i - before < seg.len()).then(|| seg.start + i - before);
                before += seg.len();
                at
            })
        };
        if let Some(s) = Sentinel::find(&values) {
            doubts.filled = true;
            warnings.push(format!(
                "column {name:?}: {} value(s) are {} (the first at data row {}), far outside its \
                 other values ({} to {}): a missing-value code? They are trained on as data, and \
                 set its scaling. --missing {} with --skip-bad-rows skips the rows that hold it",
                s.count,
                s.value,
                row(s.first).map_or("?".into(), |r| r.to_string()),
                s.lo,
                s.hi,
                s.value,
            ));
            continue;
        }
        if let Some(f) = Fill::find(&values) {
            doubts.filled = true;
            warnings.push(format!(
                "column {name:?}: {} rows in a row hold {} (from data row {}; {} rows in all), \
                 well outside its other values (their central 98%: {} to {}): a logger's fill \
                 while it was out, or a state of the channel (off, shut)? As a fill they are \
                 trained on as data, and set its scaling: --missing {} with --skip-bad-rows \
                 skips the rows that hold it (in every chosen column)",
                f.run,
                f.value,
                row(f.first).map_or("?".into(), |r| r.to_string()),
                f.count,
                significant(f64::from(f.lo)),
                significant(f64::from(f.hi)),
                f.value,
            ));
            continue;
        }
        let Some(s) = Spikes::find(&values) else {
            continue;
        };
        let row = row(s.first);
        warnings.push(format!(
            "column {name:?}: {} value(s) lie beyond 8 robust spreads of its median {} (the \
             first at data row {}: {}), and make its standard deviation {} {:.1}× its robust \
             spread {}: a standard scaling fitted on these rows (the default, --scale standard) \
             takes its spread from them and squeezes every other value. Spikes, a glitch? {}",
            s.count,
            significant(s.median),
            row.map_or("?".into(), |r| r.to_string()),
            values[s.first],
            significant(s.std),
            s.std / s.robust,
            significant(s.robust),
            if output {
                // No scaling helps here: every predictor misses a spike.
                "In the output they also weigh in every score, the model's and the baselines' \
                 alike (a few can take every NMSE to about 1): remove them, or name their value \
                 with --missing and --skip-bad-rows, before judging the model; --scale robust \
                 keeps them out of the scaling, not out of the scores"
            } else {
                "Remove them, or train with --scale robust"
            },
        ));
    }
    (warnings, doubts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{Column, CsvOptions};

    /// The warnings, the whole file taken as training rows.
    fn all(rec: &Recording) -> Vec<String> {
        warnings(rec, &rec.segments, &rec.segments).0
    }

    fn rec(text: &str) -> Recording {
        let opts = CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            ..Default::default()
        };
        Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap()
    }

    /// The high-load rows of a `,`-separated export with unquoted thousands
    /// (`1,020.5`) are all skipped: the count and the cause are said, and
    /// not the preamble hint (most rows have the header's width).
    #[test]
    fn many_rows_skipped_say_their_cause() {
        let text = |every: usize| {
            let mut t = String::from("x,y\n");
            for i in 0..500 {
                let y = 900.0 + (i % 20) as f64 * 10.0;
                if i % every == 0 && y >= 1000.0 {
                    t += &format!("{i},{},{:05.1}\n", (y / 1000.0) as u32, y % 1000.0);
                } else {
                    t += &format!("{i},{y}\n");
                }
            }
            t
        };
        let opts = CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            skip_bad_rows: true,
            ..Default::default()
        };
        let read = |t: String| {
            Recording::from_bytes(t.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap()
        };
        let w = many_skipped(&read(text(1))).unwrap_or_default();
        assert!(
            w.starts_with("250 of its 500 rows (50.0%) were skipped as bad rows, such as line ")
                && w.contains("the row has 3 fields, the header 2")
                && !w.contains("start each with '#'"),
            "{w}"
        );
        // Five rows in 500 (under ten) are not worth a warning.
        assert_eq!(many_skipped(&read(text(50))), None);
    }

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
        assert!(
            all(&read(rows(true, false, false)))
                .iter()
                .any(|w| w.contains("stuck sensor"))
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
    }

    /// A meter at 2.5e7 varying by about 2 is a few f32 steps: warned; the
    /// same variation near 0, or a pressure at 1e5 varying by 100, is not.
    #[test]
    fn channels_f32_holds_coarsely_are_warned_about() {
        let rows = |f: &dyn Fn(f64) -> f64| {
            let mut t = String::from("x,y\n");
            for i in 0..200 {
                let s = (i as f64 / 7.0).sin();
                t += &format!("{},{}\n", f(s), s);
            }
            t
        };
        let w = coarse_channels(&rec(&rows(&|s| 25_000_000.0 + 3.0 * s)));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("column \"x\": values near 2.5"), "{w:?}");
        assert!(w[0].contains("steps of 2.000e0"), "{w:?}");
        assert!(coarse_channels(&rec(&rows(&|s| s))).is_empty());
        assert!(coarse_channels(&rec(&rows(&|s| 101_325.0 + 100.0 * s))).is_empty());
    }

    /// Ten spikes among 2,000 samples are named with the first one's data
    /// row (skipped rows counted) and the way out; the same channel without
    /// them is not warned about. (Ten of one value would be a code: see
    /// `a_missing_value_code_is_warned_about`.)
    #[test]
    fn a_few_far_values_that_set_the_scale_are_warned_about() {
        let rows = |spikes: bool| {
            let mut t = String::from("x,y\n");
            for i in 0..2000 {
                let s = (i as f64 / 7.0).sin() * 0.5 + (i as f64 * 0.37).cos() * 0.2;
                let y = if spikes && (1500..1510).contains(&i) {
                    40.0 + f64::from(i - 1500)
                } else {
                    s
                };
                let x = if i == 3 {
                    "bad".to_string()
                } else {
                    s.to_string()
                };
                t += &format!("{x},{y}\n");
            }
            t
        };
        let read = |text: &str| {
            let opts = CsvOptions {
                input: Column::Name("x".into()),
                output: Column::Name("y".into()),
                skip_bad_rows: true,
                ..Default::default()
            };
            Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap()
        };
        let w = all(&read(&rows(true)));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("column \"y\": 10 value(s) lie beyond 8 robust spreads")
                && w[0].contains("the first at data row 1500: 40)")
                && w[0].contains("weigh in every score")
                && w[0].contains("not out of the scores"),
            "{w:?}"
        );
        assert!(all(&read(&rows(false))).is_empty());
        // Said to the verdict too (spikes in the output weigh in every
        // score), and not as a fill; none in the input is.
        let doubts = |text: &str| {
            let r = read(text);
            warnings(&r, &r.segments, &r.segments).1
        };
        let spiky = Doubts {
            filled: false,
            output_spikes: true,
        };
        assert_eq!(doubts(&rows(true)), spiky);
        assert_eq!(doubts(&rows(false)), Doubts::default());
        let swapped = |text: String| {
            let lines = text.lines().map(|l| {
                let (x, y) = l.split_once(',').unwrap_or((l, ""));
                format!("{y},{x}\n")
            });
            lines.collect::<String>().replacen("y,x", "x,y", 1)
        };
        let input_spikes = read(&swapped(rows(true)));
        let all = &input_spikes.segments;
        let (w, d) = warnings(&input_spikes, all, all);
        assert!(w[0].starts_with("column \"x\": 10 value(s)"), "{w:?}");
        assert_eq!(d, Doubts::default());
        // Spikes in the held-out part only: the scaling never sees them.
        let r = read(&rows(true));
        let (train, scored) = r.split(0.3);
        let (w, _) = warnings(&r, &train, &scored);
        assert!(w.is_empty(), "{w:?}");
        // But they weigh in the scores (of 1,800 rows, where they are
        // rare enough to be spikes): the verdict is told.
        let (train, scored) = r.split(0.9);
        let (w, d) = warnings(&r, &train, &scored);
        assert!(w.is_empty() && d.output_spikes, "{w:?}");
        // Spikes in the training rows only: warned, and the scores (the
        // last 400 rows) hold none.
        let (train, scored) = r.split(0.2);
        let (w, d) = warnings(&r, &train, &scored);
        assert!(!w.is_empty() && !d.output_spikes, "{w:?}");
    }

    /// A gauge offline for 150 of 3,000 hours, written -9999 each hour, is
    /// named as a likely missing-value code (more than Spikes' 1%), with
    /// the way out; so is one -9999 among rain values that are mostly 0
    /// (no quartile spread to measure spikes by). `--missing -9999` with
    /// `--skip-bad-rows` then reads the file without them: no warning, and
    /// the rows counted as skipped.
    #[test]
    fn a_missing_value_code_is_warned_about() {
        let rows = |level_code: usize, rain_code: bool| {
            let mut t = String::from("x,y\n");
            for i in 0..3000 {
                let rain = if i % 40 < 3 {
                    (i % 7) as f64 * 0.8
                } else {
                    0.0
                };
                let x = if rain_code && i == 700 { -9999.0 } else { rain };
                let level = 134.0 + 14.0 * (i as f64 / 50.0).sin();
                let y = if (1000..1000 + level_code).contains(&i) {
                    -9999.0
                } else {
                    level
                };
                t += &format!("{x},{y}\n");
            }
            t
        };
        let w = all(&rec(&rows(150, false)));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("column \"y\": 150 value(s) are -9999 (the first at data row 1000)")
                && w[0].contains("missing-value code")
                && w[0].contains("--missing -9999"),
            "{w:?}"
        );
        let w = all(&rec(&rows(0, true)));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("column \"x\": 1 value(s) are -9999 (the first at data row 700)"));
        assert!(all(&rec(&rows(0, false))).is_empty());
        // Said to the verdict too (a model that loses is pointed at it).
        let filled = |text: &str| {
            let r = rec(text);
            warnings(&r, &r.segments, &r.segments).1.filled
        };
        assert!(filled(&rows(150, false)) && filled(&rows(0, true)));
        assert!(!filled(&rows(0, false)));

        let opts = CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            skip_bad_rows: true,
            missing: vec![-9999.0],
            ..Default::default()
        };
        let text = rows(150, true);
        let r =
            Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap();
        assert_eq!((r.rows, r.skipped), (2849, 151));
        assert!(all(&r).is_empty(), "{:?}", all(&r));
        // Without --skip-bad-rows, the first such row is refused, saying why.
        let strict = CsvOptions {
            skip_bad_rows: false,
            ..opts
        };
        let e = Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &strict)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("-9999 is a missing-value code (--missing)"),
            "{e}"
        );
    }
}
