//! What a user should know about a channel before trusting a model
//! trained on it: values f32 holds too coarsely, and a few far values that
//! set the default scaling. Warned in the report, on stderr and in `eval`.

use crate::eval::significant;
use crate::recording::{Recording, Segment};
use crate::scaling::{Affine, Fill, Sentinel, Spikes};

mod cadence;
mod counter;
mod lag;
mod step;
mod stop;
mod stuck;

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
    window: usize,
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
        stuck::stuck_channels(rec),
        time.collect(),
        many_skipped(rec).into_iter().collect(),
        rec.unnamed_note().into_iter().collect(),
        rec.topics_note.iter().cloned().collect(),
        rec.read_notes.clone(),
        cadence::irregular(rec).into_iter().collect(),
        rec.stream_hint.iter().cloned().collect(),
        stop::stretches(rec, window),
        step::steps(rec, window),
        counter::counters(rec),
        lag::warning(train, window, rec.time_step)
            .into_iter()
            .collect(),
    ]
    .concat();
    (all, doubts)
}

/// One channel of a recording's segments.
type Channel = fn(&crate::recording::Segment) -> &Vec<f32>;

/// The recording's two channels: each one's name, and its values by
/// segment.
fn named_channels(rec: &Recording) -> [(&String, Channel); 2] {
    [
        (&rec.input_name, |s| &s.input),
        (&rec.output_name, |s| &s.output),
    ]
}

/// Rows skipped (`--skip-bad-rows`) beyond 1% of a file: rows skipped for
/// one cause take a part of the signal with them (every value over 1,000
/// written with an unquoted thousands separator: the high-load hours), so
/// the cause is said where the count alone was.
fn many_skipped(rec: &Recording) -> Option<String> {
    let total = rec.rows + rec.skipped;
    // (Rows an --exclude stretch holds are left out as asked.)
    let bad = rec.skipped - rec.excluded_skipped.min(rec.skipped);
    if bad < 10 || (bad as f64) < 0.01 * total as f64 {
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
        bad,
        100.0 * bad as f64 / total as f64
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
            // Counted in every row read, not the training part's alone
            // (the held-out part's are scored as data too).
            let all = (rec.segments.iter())
                .flat_map(|seg| channel(seg).iter())
                .filter(|&&v| v == s.value)
                .count();
            let count = match all > s.count {
                true => format!("{all} value(s) ({} of them in the training part)", s.count),
                false => format!("{} value(s)", s.count),
            };
            warnings.push(format!(
                "column {name:?}: {count} are {} (the first at data row {}), far outside its \
                 other values ({} to {}): a missing-value code? They are trained on as data, and \
                 set its scaling. --missing {} with --skip-bad-rows skips the rows that hold it",
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
        warnings(rec, &rec.segments, &rec.segments, 24).0
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
            warnings(&r, &r.segments, &r.segments, 24).1
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
        let (w, d) = warnings(&input_spikes, all, all, 24);
        assert!(w[0].starts_with("column \"x\": 10 value(s)"), "{w:?}");
        assert_eq!(d, Doubts::default());
        // Spikes in the held-out part only: the scaling never sees them.
        let r = read(&rows(true));
        let (train, scored) = r.split(0.3);
        let (w, _) = warnings(&r, &train, &scored, 24);
        assert!(w.is_empty(), "{w:?}");
        // But they weigh in the scores (of 1,800 rows, where they are
        // rare enough to be spikes): the verdict is told.
        let (train, scored) = r.split(0.9);
        let (w, d) = warnings(&r, &train, &scored, 24);
        assert!(w.is_empty() && d.output_spikes, "{w:?}");
        // Spikes in the training rows only: warned, and the scores (the
        // last 400 rows) hold none.
        let (train, scored) = r.split(0.2);
        let (w, d) = warnings(&r, &train, &scored, 24);
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
        // Counted in every row, where the training part holds fewer.
        let r = rec(&rows(150, false));
        let (train, _) = r.split(0.63);
        let codes = (train.iter().flat_map(|s| &s.output))
            .filter(|&&v| v == -9999.0)
            .count();
        assert!((1..150).contains(&codes), "{codes}");
        let w = warnings(&r, &train, &r.segments, 24).0;
        let said = format!("column \"y\": 150 value(s) ({codes} of them in the training part) are");
        assert!(w[0].starts_with(&said), "{w:?}");
        // Said to the verdict too (a model that loses is pointed at it).
        let filled = |text: &str| {
            let r = rec(text);
            warnings(&r, &r.segments, &r.segments, 24).1.filled
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
