//! A recording's time column, read only to find where the samples are not
//! next to each other in time (a logger stopped for hours, a clock set
//! back): windows are not made across such a gap, as across a skipped row.

use super::dates::{DateOrder, clock, date_time};
use super::numbers::{Convention, number_f64};
use super::{Recording, SKIPPED_EXAMPLES, Segment};
use crate::error::{Error, Result};

/// Seconds from a time cell: a number (epoch seconds, or any seconds; a
/// number past 1e11 is epoch milliseconds, past 1e14 microseconds, past
/// 1e17 nanoseconds, since as seconds it would be thousands of years), an
/// ISO 8601 date-time (`2026-01-01T12:00:00`, a space for the `T`, seconds
/// and their fraction optional, `Z` or an offset such as `+01:00`), or
/// `DD.MM.YYYY hh:mm[:ss]` as German spreadsheets write it, or a slashed
/// date in `order` (`3/1/2026 12:10 AM`; see [`super::dates`]). A number is
/// read by the file's decimal convention (`60,5` and `1.234` in a file of
/// decimal commas; without one, a lone comma in a file not separated by
/// commas is a decimal comma, as in value cells), and a fraction of a
/// second may follow a comma (`12:00:00,5`).
pub(super) fn seconds(
    cell: &[u8],
    delimiter: u8,
    convention: Option<&Convention>,
    order: Option<DateOrder>,
) -> Result<f64, String> {
    let text = std::str::from_utf8(cell)
        .map_err(|_| "not UTF-8 text".to_string())?
        .trim()
        .trim_matches('"');
    let number = match convention {
        // A time written otherwise than the values (`60.5` beside `1,5`)
        // is read as it stands rather than refused.
        Some(c) => number_f64(text, c).ok().or_else(|| text.parse().ok()),
        None => text.parse::<f64>().ok().or_else(|| {
            let lone_comma = text.matches(',').count() == 1 && !text.contains('.');
            (delimiter != b',' && lone_comma)
                .then(|| text.replace(',', ".").parse().ok())
                .flatten()
        }),
    };
    if let Some(v) = number {
        if !v.is_finite() {
            return Err(format!("{text:?} is not a time"));
        }
        let per_second = match v.abs() {
            a if a >= 1e17 => 1e9,
            a if a >= 1e14 => 1e6,
            a if a >= 1e11 => 1e3,
            _ => 1.0,
        };
        return Ok(v / per_second);
    }
    let dotted = text.replace(',', ".");
    date_time(&dotted, order).ok_or_else(|| {
        if clock(&dotted).is_some() {
            return format!(
                "{text:?} is a time of day without a date: name the date's column first \
                 (--time-column DATE --time-column TIME)"
            );
        }
        format!(
            "{text:?} is not a time (seconds, ISO 8601 such as 2026-01-01T12:00:00, \
             DD.MM.YYYY hh:mm:ss, or 3/1/2026 12:10 AM)"
        )
    })
}

/// The time-stamp flags a file whose time column was not named seems to
/// want, from its first data row: the first cell that is a date and time
/// (not a bare number: every value column is one), or a date followed by
/// a time of day in the next cell (`Datum;Uhrzeit`). `names` are the
/// columns' names, `skip` the channels' columns.
pub(super) fn time_columns_hint(
    row: &csv::ByteRecord,
    names: &[String],
    skip: &[usize],
) -> Option<String> {
    let text = |i: usize| -> Option<String> {
        let cell = std::str::from_utf8(row.get(i)?)
            .ok()?
            .trim()
            .trim_matches('"');
        Some(cell.replace(',', "."))
    };
    let flag = |i: usize| {
        let name = names.get(i).cloned().unwrap_or_else(|| i.to_string());
        if name.is_empty() || name.contains(char::is_whitespace) {
            format!("--time-column {name:?}")
        } else {
            format!("--time-column {name}")
        }
    };
    for i in (0..row.len()).filter(|i| !skip.contains(i)) {
        let Some(cell) = text(i) else { continue };
        let either = [DateOrder::DayFirst, DateOrder::MonthFirst];
        if cell.parse::<f64>().is_ok()
            || either.iter().all(|o| date_time(&cell, Some(*o)).is_none())
        {
            continue;
        }
        let date_only = !cell.contains([' ', 'T']);
        let next_is_clock = text(i + 1).is_some_and(|c| clock(&c).is_some());
        return Some(if date_only && next_is_clock {
            format!("{} {}", flag(i), flag(i + 1))
        } else {
            flag(i)
        });
    }
    // A number of seconds is a value like any other; its column's name
    // says it is time (`Time [s]`, `timestamp`, `Zeit`).
    (0..row.len())
        .filter(|i| !skip.contains(i))
        .find(|&i| {
            let name = names.get(i).map(|n| n.to_lowercase()).unwrap_or_default();
            let word = name
                .split(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or("");
            let timely = [
                "time",
                "timestamp",
                "datetime",
                "zeit",
                "zeitstempel",
                "epoch",
            ];
            // Not `t` alone: a temperature as often as a time.
            timely.contains(&word) && text(i).is_some_and(|c| c.parse::<f64>().is_ok())
        })
        .map(flag)
}

/// The largest step between neighbouring time stamps that is not a gap:
/// `max_gap` when given, else three times the median step (a recording
/// sampled every minute, now and then a sample late or missing, is not
/// split; an hour's outage is). `None`: fewer than two steps to go by.
pub(super) fn threshold(steps: &[f64], max_gap: Option<f64>) -> Option<f64> {
    max_gap.or_else(|| median_step(steps).map(|m| 3.0 * m))
}

/// The median of the steps forward in time (the sampling interval);
/// `None` with fewer than two.
fn median_step(steps: &[f64]) -> Option<f64> {
    let mut forward: Vec<f64> = steps.iter().copied().filter(|&s| s > 0.0).collect();
    if forward.len() < 2 {
        return None;
    }
    let mid = forward.len() / 2;
    let (_, median, _) = forward.select_nth_unstable_by(mid, f64::total_cmp);
    Some(*median)
}

/// The step from `a` to `b`, seconds, to the precision the two stamps
/// carry: dates as seconds since 1970 resolve ~0.24 µs in `f64`, so a
/// millisecond step read 999.928 µs (and `--max-gap 1ms` split a 1 kHz
/// recording at every other row). Rounded to the power of ten at or just
/// above the larger stamp's unit in the last place (1 µs at today's dates:
/// each stamp is within half of it, so a step within one); small
/// (relative) times are as exact as `f64` is.
pub(super) fn step(a: f64, b: f64) -> f64 {
    let d = b - a;
    // At least the unit in the last place (up to twice it).
    let ulp = f64::EPSILON * a.abs().max(b.abs());
    if ulp.is_nan() || ulp <= 1e-12 || !d.is_finite() {
        return d;
    }
    // A whole number (1e6 for µs) so that the division rounds once, to
    // the same `f64` as a duration such as "3ms" parses to.
    let per = 10f64.powi(-ulp.log10().ceil() as i32);
    (d * per).round() / per
}

/// Said of a gap that is a clock change.
const DST_HINT: &str = " — an hour skipped or repeated: a change to or from daylight saving \
     time? Local stamps without an offset from UTC skip an hour in spring and repeat one in \
     autumn; export them in UTC, or with their offset (+01:00), to keep the windows across it";

/// Whether `step` is one sampling interval `m` plus or minus an hour (the
/// clocks going forward or back between two rows).
fn clock_change(step: f64, m: f64) -> bool {
    [3600.0, -3600.0]
        .iter()
        .any(|shift| (step - shift - m).abs() < 0.25 * m)
}

/// A step this many sampling intervals long is a late or missing sample
/// (said, not split at, unless `--max-gap` says so).
const LATE: f64 = 1.5;

/// A step between two rows is a gap when it is longer than `threshold`, or
/// does not go forward (a clock set back, a repeated time stamp).
pub(super) fn is_gap(step: f64, threshold: f64) -> bool {
    step <= 0.0 || step > threshold
}

/// Splits the segments where neighbouring rows' `times` (one per row
/// read, in order) are a gap apart (see `threshold`). A file whose time
/// goes back on most rows is refused: it is newest first, and every row
/// would be a gap (or, with too few forward steps for a median, none).
pub(super) fn split_at_gaps(
    rec: &mut Recording,
    times: &[f64],
    max_gap: Option<f64>,
    columns: usize,
) -> Result<()> {
    let mut steps = Vec::with_capacity(times.len());
    let mut at = 0;
    for s in &rec.segments {
        steps.extend(times[at..at + s.len()].windows(2).map(|w| step(w[0], w[1])));
        at += s.len();
    }
    let why = newest_first(&steps)
        .or_else(|| unsorted(&steps))
        .or_else(|| repeating(&steps, columns));
    if let Some(why) = why {
        return Err(Error::Data(format!(
            "{}: {:?} {why}",
            rec.path.display(),
            rec.time_name.as_deref().unwrap_or("time")
        )));
    }
    rec.time_step = median_step(&steps);
    let Some(limit) = threshold(&steps, max_gap) else {
        return Ok(());
    };
    if let Some(m) = rec.time_step {
        rec.late_steps = steps
            .iter()
            .filter(|&&s| s >= LATE * m && !is_gap(s, limit))
            .count();
    }
    let mut split = Vec::with_capacity(rec.segments.len());
    let mut at = 0;
    for s in std::mem::take(&mut rec.segments) {
        let t = &times[at..at + s.len()];
        at += s.len();
        let mut from = 0;
        for k in 1..s.len() {
            let step = step(t[k - 1], t[k]);
            if !is_gap(step, limit) {
                continue;
            }
            rec.time_gaps += 1;
            rec.time_gap_rows.push(s.start + k);
            if rec.time_gap_examples.len() < SKIPPED_EXAMPLES {
                let row = s.start + k;
                let shifted = rec.time_step.is_some_and(|m| clock_change(step, m));
                rec.time_gap_examples.push(if step > 0.0 {
                    format!("data row {row}: {} after the row before", span(step))
                } else {
                    format!(
                        "data row {row}: the time goes back {} (or repeats)",
                        span(-step)
                    )
                });
                if shifted && let Some(last) = rec.time_gap_examples.last_mut() {
                    last.push_str(DST_HINT);
                }
            }
            split.push(Segment {
                start: s.start + from,
                input: s.input[from..k].to_vec(),
                output: s.output[from..k].to_vec(),
            });
            from = k;
        }
        split.push(Segment {
            start: s.start + from,
            input: s.input[from..].to_vec(),
            output: s.output[from..].to_vec(),
        });
    }
    rec.segments = split;
    Ok(())
}

/// Why the steps look like a newest-first export: more than half of them
/// go back in time (a clock set back now and then is a gap, not this).
fn newest_first(steps: &[f64]) -> Option<String> {
    let back = steps.iter().filter(|&&s| s < 0.0).count();
    (2 * back > steps.len()).then(|| {
        format!(
            "goes back on {back} of {} rows: the file looks newest first; sort it oldest first",
            steps.len()
        )
    })
}

/// Share of steps back in time above which the rows are out of order (a
/// clock set back once or twice is a gap; this many is an unsorted file).
const UNSORTED: f64 = 0.05;

/// Why the steps look like rows out of time order (shuffled, or merged
/// from several exports unsorted).
fn unsorted(steps: &[f64]) -> Option<String> {
    let back = steps.iter().filter(|&&s| s < 0.0).count();
    (back >= 3 && back as f64 > UNSORTED * steps.len() as f64).then(|| {
        format!(
            "goes back {back} times in {} steps from one row to the next: the rows are not in \
             time order (a clock set back now and then is a gap, this many is not); sort the \
             file by time",
            steps.len()
        )
    })
}

/// Why the steps look like stamps coarser than the rows: more than half of
/// them repeat the row before (every such row would be a gap, and no window
/// left). Most often dates whose time of day is in another column.
fn repeating(steps: &[f64], columns: usize) -> Option<String> {
    let same = steps.iter().filter(|&&s| s == 0.0).count();
    (2 * same > steps.len()).then(|| {
        let clock = if columns == 1 {
            "a date without its time of day (name the time-of-day column as a second \
             --time-column: --time-column DATE --time-column TIME), or "
        } else {
            ""
        };
        format!(
            "repeats on {same} of {} rows: {clock}stamps coarser than the rows (leave out \
             --time-column)",
            steps.len()
        )
    })
}

/// `5.0 h`, `12 min`, `90 s`: a gap's length for people.
pub(super) fn span(seconds: f64) -> String {
    let a = seconds.abs();
    let sign = if seconds < 0.0 { "-" } else { "" };
    if a >= 86_400.0 {
        format!("{sign}{:.1} days", a / 86_400.0)
    } else if a >= 3600.0 {
        format!("{sign}{:.1} h", a / 3600.0)
    } else if a >= 60.0 {
        format!("{sign}{:.1} min", a / 60.0)
    } else if a >= 1.0 {
        format!("{sign}{} s", (a * 1e3).round() / 1e3)
    } else if a >= 1e-3 {
        format!("{sign}{} ms", (a * 1e6).round() / 1e3)
    } else {
        format!("{sign}{} µs", (a * 1e9).round() / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_cells_read_as_seconds() {
        let s = |t: &str| seconds(t.as_bytes(), b',', None, None);
        assert_eq!(s("1700000000").unwrap(), 1.7e9);
        assert_eq!(s("2.5").unwrap(), 2.5);
        // Epoch milliseconds, microseconds and nanoseconds read as seconds.
        assert_eq!(s("1700000000000").unwrap(), 1.7e9);
        assert_eq!(s("1700000000000000").unwrap(), 1.7e9);
        assert_eq!(s("1700000000000000000").unwrap(), 1.7e9);
        // 2026-01-01 is 20,454 days after 1970-01-01.
        let day = 20_454.0 * 86_400.0;
        assert_eq!(s("2026-01-01T00:00:00").unwrap(), day);
        assert_eq!(s("2026-01-01 12:30").unwrap(), day + 45_000.0);
        assert_eq!(s("2026-01-01T00:00:01.5Z").unwrap(), day + 1.5);
        assert_eq!(s("2026-01-01T01:00:00+01:00").unwrap(), day);
        assert_eq!(s("2025-12-31T23:00:00-01:00").unwrap(), day);
        assert_eq!(s("01.01.2026 00:01:00").unwrap(), day + 60.0);
        assert_eq!(s("2026-01-02").unwrap(), day + 86_400.0);
        // Leap years: 2024-02-29 exists and 2024-03-01 is the day after.
        assert_eq!(
            s("2024-03-01T00:00:00").unwrap() - s("2024-02-29T00:00:00").unwrap(),
            86_400.0
        );
        for bad in [
            "",
            "noon",
            "2026-13-01 00:00",
            "2026-01-01T25:00",
            "12/31/2025 10:00",
        ] {
            assert!(s(bad).is_err(), "{bad}");
        }
    }

    /// In a file of decimal commas a time in seconds is read as its values
    /// are (it was refused, or `1.234` read as a second and a bit).
    #[test]
    fn time_cells_follow_the_decimal_convention() {
        use super::super::Decimal;
        let comma = Convention {
            decimal: Decimal::Comma,
            shown_by: "line 2".into(),
        };
        let s = |t: &str| seconds(t.as_bytes(), b';', Some(&comma), None);
        assert_eq!(s("60,5").unwrap(), 60.5);
        assert_eq!(s("1.234").unwrap(), 1234.0);
        assert_eq!(s("1.764.806.400").unwrap(), 1_764_806_400.0);
        assert_eq!(
            s("01.01.2026 00:01:00,5").unwrap(),
            20_454.0 * 86_400.0 + 60.5
        );
        assert!(s("1.23,4,5").is_err());
        // Not of the convention, but a number as it stands.
        assert_eq!(s("60.5").unwrap(), 60.5);
        // No convention decided: a lone comma in a `;` file, as values.
        let undecided = |t: &str| seconds(t.as_bytes(), b';', None, None);
        assert_eq!(undecided("60,5").unwrap(), 60.5);
        assert!(seconds(b"60,5", b',', None, None).is_err());
        // The precision of epoch seconds survives the convention.
        let point = Convention {
            decimal: Decimal::Point,
            shown_by: "line 2".into(),
        };
        assert_eq!(
            seconds(b"1764806400.25", b',', Some(&point), None).unwrap(),
            1_764_806_400.25
        );
    }

    #[test]
    fn gaps_are_three_median_steps_or_what_is_given() {
        let steps = [60.0, 62.0, 58.0, 120.0, 18_000.0, 61.0];
        let t = threshold(&steps, None).unwrap();
        assert_eq!(t, 3.0 * 62.0); // the upper median of six
        let gaps: Vec<bool> = steps.iter().map(|&s| is_gap(s, t)).collect();
        assert_eq!(gaps, [false, false, false, false, true, false]);
        assert!(is_gap(-3600.0, t) && is_gap(0.0, t));
        assert_eq!(threshold(&steps, Some(100.0)), Some(100.0));
        assert_eq!(threshold(&[60.0], None), None);
        assert_eq!(span(18_000.0), "5.0 h");
        assert_eq!(span(0.018999814987182617), "19 ms");
        assert_eq!(span(2.5), "2.5 s");
        assert_eq!(span(0.0000125), "12.5 µs");
    }

    fn read(text: &str, time: &[&str]) -> Result<Recording> {
        use super::super::{Column, CsvOptions};
        let opts = CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            time: time.iter().map(|c| Column::Name(c.to_string())).collect(),
            ..Default::default()
        };
        Recording::from_bytes(text.as_bytes(), std::path::Path::new("rec.csv"), &opts)
    }

    /// A German spreadsheet's `Datum;Uhrzeit`: the date and the time of day
    /// in two columns are one stamp, so a day's outage is a gap and the
    /// hour repeated when the clocks go back is a gap, not a day of them.
    #[test]
    fn a_date_and_a_time_of_day_in_two_columns_are_one_stamp() {
        let mut text = String::from("Datum;Uhrzeit;x;y\r\n");
        let rows = [
            ("24.10.2026", "23:30:00"),
            ("24.10.2026", "23:45:00"),
            ("25.10.2026", "00:00:00"),
            ("25.10.2026", "00:15:00"),
            ("25.10.2026", "02:45:00"),
            ("25.10.2026", "02:00:00"), // the clocks go back an hour
            ("25.10.2026", "02:15:00"),
            ("27.10.2026", "02:30:00"), // a day and more of outage
            ("27.10.2026", "02:45:00"),
        ];
        for (i, (date, clock)) in rows.iter().enumerate() {
            text += &format!("{date};{clock};{i},5;1,{i}\r\n");
        }
        let r = read(&text, &["Datum", "Uhrzeit"]).unwrap();
        let segments: Vec<(usize, usize)> = r.segments.iter().map(|s| (s.start, s.len())).collect();
        assert_eq!(segments, [(0, 4), (4, 1), (5, 2), (7, 2)]);
        assert_eq!(r.time_gap_rows, [4, 5, 7]);
        assert_eq!(r.time_name.as_deref(), Some("Datum + Uhrzeit"));
        assert_eq!(r.segments[0].input, [0.5, 1.5, 2.5, 3.5]);
        assert_eq!(
            r.time_gap_examples[2],
            "data row 7: 2.0 days after the row before"
        );
        // The clocks going back is said to be one; the outages are not.
        assert_eq!(
            r.time_gap_examples[1],
            format!("data row 5: the time goes back 45.0 min (or repeats){DST_HINT}")
        );
        assert!(!r.time_gap_examples[0].contains("daylight"));
        assert!(clock_change(7200.0, 3600.0) && clock_change(0.0, 3600.0));
        assert!(clock_change(4500.0, 900.0) && !clock_change(3600.0, 900.0));
        // The date alone repeats on most rows: refused with the way out.
        let e = read(&text, &["Datum"]).unwrap_err().to_string();
        assert!(
            e.contains("\"Datum\" repeats on 6 of 8 rows: a date without its time of day")
                && e.contains("--time-column DATE --time-column TIME"),
            "{e}"
        );
        // The time of day alone says what is missing.
        let e = read(&text, &["Uhrzeit"]).unwrap_err().to_string();
        assert!(
            e.contains(
                "line 2: column \"Uhrzeit\" (index 1): \"23:30:00\" is a time of day without a date"
            ),
            "{e}"
        );
        // With --skip-bad-rows every row goes; a bad value on the first
        // one does not make the channels the suspects.
        let dashed = text.replacen(";0,5;", ";---;", 1);
        let opts = super::super::CsvOptions {
            input: super::super::Column::Name("x".into()),
            output: super::super::Column::Name("y".into()),
            time: vec![super::super::Column::Name("Uhrzeit".into())],
            skip_bad_rows: true,
            ..Default::default()
        };
        let e = Recording::from_bytes(dashed.as_bytes(), std::path::Path::new("r.csv"), &opts)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("such as line 3: column \"Uhrzeit\"")
                && e.contains("is --time-column the right column?"),
            "{e}"
        );
        // Named nowhere, the two columns are pointed at; a file of numbers
        // (epoch seconds would be a guess) and a named column are not.
        let unnamed = read(&text, &[]).unwrap();
        assert_eq!(
            unnamed.time_hint.as_deref(),
            Some("--time-column Datum --time-column Uhrzeit")
        );
        let iso = read("t,x,y\n2026-01-01T00:00:00Z,1,2\n", &[]).unwrap();
        assert_eq!(iso.time_hint.as_deref(), Some("--time-column t"));
        assert_eq!(
            read("t,x,y\n1700000000,1,2\n", &[]).unwrap().time_hint,
            None
        );
        assert_eq!(read(&text, &["Datum", "Uhrzeit"]).unwrap().time_hint, None);
        // Named the other way round: said so.
        let e = read(&text, &["Uhrzeit", "Datum"]).unwrap_err().to_string();
        assert!(
            e.contains("the time of day is named before the date"),
            "{e}"
        );
        // Three columns are not a stamp.
        let e = read(&text, &["Datum", "Uhrzeit", "x"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 time columns given"), "{e}");
        // A bad cell names both columns.
        let bad = text.replacen("00:15:00", "00:75:00", 1);
        let e = read(&bad, &["Datum", "Uhrzeit"]).unwrap_err().to_string();
        assert!(
            e.contains(
                "line 5: column \"Datum\" (index 0) + column \"Uhrzeit\" (index 1): \
                 \"25.10.2026 00:75:00\" is not a time"
            ),
            "{e}"
        );
    }

    /// Rows out of time order (shuffled) are refused with a fix, not split
    /// into thousands of gaps; a column of seconds is hinted at by its name.
    #[test]
    fn rows_out_of_time_order_are_refused_and_a_seconds_column_is_hinted() {
        let order = [
            0, 1, 2, 5, 3, 4, 6, 9, 7, 8, 10, 11, 14, 12, 13, 15, 16, 17, 18, 19,
        ];
        let mut text = String::from("Time [s],T_out,y\n");
        for t in order {
            text += &format!("{t},{t},{t}\n");
        }
        let opts = |time: &[&str]| super::super::CsvOptions {
            input: super::super::Column::Name("T_out".into()),
            output: super::super::Column::Name("y".into()),
            time: time
                .iter()
                .map(|c| super::super::Column::Name(c.to_string()))
                .collect(),
            ..Default::default()
        };
        let read = |time: &[&str]| {
            Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts(time))
        };
        let e = read(&["Time [s]"]).unwrap_err().to_string();
        assert!(e.contains("goes back 3 times in 19 steps"), "{e}");
        assert_eq!(
            read(&[]).unwrap().time_hint.as_deref(),
            Some("--time-column \"Time [s]\"")
        );
        // A temperature named `T_out` is not taken for time.
        let renamed = text.replacen("Time [s]", "count", 1);
        let r = Recording::from_bytes(
            renamed.as_bytes(),
            std::path::Path::new("r.csv"),
            &opts(&[]),
        );
        assert_eq!(r.unwrap().time_hint, None);
    }

    /// The data line gives the sampling interval, and the late or missing
    /// samples that are no gap (windows span them).
    #[test]
    fn the_sampling_interval_and_late_samples_are_said() {
        let mut text = String::from("t,x,y\n");
        for (i, t) in [0, 10, 20, 40, 50, 60, 1000, 1010].iter().enumerate() {
            text += &format!("{},{i},{i}\n", f64::from(*t) / 1000.0);
        }
        let r = read(&text, &["t"]).unwrap();
        assert_eq!((r.time_gaps, r.late_steps), (1, 1));
        let cadence = r.cadence().unwrap();
        assert!(
            cadence.starts_with("a row every 10 ms; 1 step(s)"),
            "{cadence}"
        );
        assert_eq!(read("t,x,y\n0,1,1\n", &["t"]).unwrap().cadence(), None);
    }

    /// Millisecond stamps at today's dates are 1 ms apart, not 999.9 µs
    /// (the `f64` of seconds since 1970 resolves ~0.24 µs): a 1 kHz
    /// recording is not split by `--max-gap 1ms`, and a 3 ms step is no gap
    /// under `--max-gap 3ms`.
    #[test]
    fn steps_between_dates_are_as_exact_as_the_stamps() {
        let mut text = String::from("time,x,y\n");
        for i in 0..2000u32 {
            let ms = i + if i >= 1000 { 2 } else { 0 };
            text += &format!(
                "2026-11-30 14:03:{:02}.{:03},{i},{i}\n",
                22 + ms / 1000,
                ms % 1000
            );
        }
        let gaps = |max_gap: Option<f64>| {
            let o = super::super::CsvOptions {
                input: super::super::Column::Name("x".into()),
                output: super::super::Column::Name("y".into()),
                time: vec![super::super::Column::Name("time".into())],
                max_gap,
                ..Default::default()
            };
            let r =
                Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &o).unwrap();
            (r.time_step, r.time_gaps)
        };
        assert_eq!(gaps(None), (Some(0.001), 0));
        assert_eq!(gaps(Some(0.001)), (Some(0.001), 1));
        assert_eq!(gaps(Some(0.003)), (Some(0.001), 0));
        assert_eq!(step(1_764_511_402.123, 1_764_511_402.124), 0.001);
        assert_eq!(step(0.1, 0.3), 0.3 - 0.1);
    }

    #[test]
    fn most_steps_back_in_time_is_newest_first() {
        let why = newest_first(&[-60.0, -60.0, -61.0, 3600.0]).unwrap();
        assert_eq!(
            why,
            "goes back on 3 of 4 rows: the file looks newest first; sort it oldest first"
        );
        assert_eq!(newest_first(&[60.0, -3600.0, 60.0]), None);
        assert_eq!(newest_first(&[60.0, -60.0]), None);
        assert_eq!(newest_first(&[]), None);
    }
}
