//! A recording's time column, read only to find where the samples are not
//! next to each other in time (a logger stopped for hours, a clock set
//! back): windows are not made across such a gap, as across a skipped row.

use super::dates::{self, DateOrder, clock, date_time};
use super::numbers::{Convention, is_number, number_f64};
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
/// second may follow a comma (`12:00:00,5`). `unit`: seconds per unit of a
/// number, where the column's name says it ([`named_unit`]); its size is
/// then not guessed at.
pub(super) fn seconds(
    cell: &[u8],
    delimiter: u8,
    convention: Option<&Convention>,
    order: Option<DateOrder>,
    unit: Option<f64>,
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
        if let Some(unit) = unit {
            return Some(v * unit)
                .filter(|s| s.is_finite())
                .ok_or_else(|| format!("{text:?} is not a time"));
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
    // A time of day alone (`13:05:17`) reads as the seconds since its
    // midnight, which a recording of one day keeps in order; one that goes
    // on past midnight is refused there (see `split_at_gaps`).
    let reading = date_time(&dotted, order).or_else(|| dates::elapsed(&dotted));
    reading.ok_or_else(|| {
        if clock(&dotted).is_some() {
            return format!(
                "{text:?} is a time of day without a date: name the date's column first \
                 (--time-column DATE --time-column TIME)"
            );
        }
        format!(
            "{text:?} is not a time (seconds, ISO 8601 such as 2026-01-01T12:00:00, \
             DD.MM.YYYY hh:mm:ss, 01-Jan-2026 12:00:00, or 3/1/2026 12:10 AM)"
        )
    })
}

/// Seconds per unit of a time column whose name says its unit: `t_ms`,
/// `Time [ms]`, `time (s)`, `elapsed_us`, `Zeit [min]`. Its numbers are
/// read in that unit: milliseconds counted from 0 look like seconds by
/// their size, and would make a 1 kHz recording one sample per second.
/// `None` for a date and a time of day in two columns.
pub(super) fn named_unit(columns: &[(usize, String)]) -> Option<f64> {
    let [(_, name)] = columns else { return None };
    let unit = crate::eval::unit_of(name)
        .or_else(|| name.trim_end().rsplit_once(['_', ' ']).map(|(_, u)| u))?;
    Some(match unit.to_lowercase().as_str() {
        "s" | "sec" | "secs" => 1.0,
        "ms" | "msec" => 1e-3,
        "us" | "µs" | "μs" | "usec" => 1e-6,
        "ns" => 1e-9,
        "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    })
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
/// each stamp is within half of it, so a step within one), as finely as
/// the stamps go (seconds from 0: `0.001 + 0.002` is not `0.003` in f64;
/// an oscilloscope's 0.4 ns steps stay 0.4 ns).
pub(super) fn step(a: f64, b: f64) -> f64 {
    let d = b - a;
    // At least the unit in the last place (up to twice it).
    let ulp = f64::EPSILON * a.abs().max(b.abs());
    if !(d.is_finite() && ulp > 0.0 && ulp.is_finite()) {
        return d;
    }
    // A whole number (1e6 for µs) so that the division rounds once, to
    // the same `f64` as a duration such as "3ms" parses to (capped: 1e300
    // is as fine as f64 goes).
    let digits = (-ulp.log10().ceil()).min(300.0);
    let per = 10f64.powi(digits as i32);
    (d * per).round() / per
}

/// Spreadsheet serial dates from 1970 to 2100 (days since 30 December
/// 1899), which a time column may hold as plain numbers.
const SERIAL_DATES: std::ops::RangeInclusive<f64> = 25_569.0..=73_051.0;

/// Numbers that look like spreadsheet serial dates (`46083,010417`): read
/// as seconds, a 15-minute step is 0.9 s and `--max-gap 30m` covers a
/// two-day outage. Said, not guessed at: seconds since a start are numbers
/// like these too.
fn serial_dates(times: &[f64], step: Option<f64>) -> Option<String> {
    let m = step.filter(|&m| m < 1.0)?;
    let (lo, hi) = times
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &t| {
            (lo.min(t), hi.max(t))
        });
    let fractions = times.iter().any(|t| t.fract() != 0.0);
    (SERIAL_DATES.contains(&lo) && SERIAL_DATES.contains(&hi) && fractions).then(|| {
        format!(
            "its numbers run from {lo:.4} to {hi:.4} in steps of {m:.6}: spreadsheet serial dates \
             (days since 30 December 1899)? They are read as seconds (a row every {}, and \
             --max-gap in seconds): export the column formatted as dates and times",
            span(m)
        )
    })
}

/// Said of a gap that is a clock change.
const DST_HINT: &str = " — an hour skipped or repeated in the small hours of a Sunday: a change to or from \
     daylight saving time? Local stamps without an offset from UTC skip an hour in spring and \
     repeat one in autumn; name their zone (--time-zone Europe/Berlin), or export them in UTC \
     or with their offset from UTC, to keep the windows across it";

/// Whether a row's time cells (a date, and a time of day in a second
/// column) are a date in local time: not a number (seconds, epoch: UTC or
/// a count, its thousands grouped too), and no `Z` or offset from UTC
/// (`+01:00`) in either.
pub(super) fn local_text(date: &[u8], clock: Option<&[u8]>) -> bool {
    let text = String::from_utf8_lossy(date);
    let text = text.trim().trim_matches('"');
    // After the date (`2026-10-25`, whose dashes are no offset).
    let after = text.get(10..).unwrap_or("");
    let zoned = text.ends_with(['Z', 'z'])
        || after.contains(['+', '-'])
        || clock.is_some_and(|c| c.iter().any(|b| b"+-Zz".contains(b)));
    !is_number(text) && !zoned
}

/// Whether a time cell is a time without a date (see [`dates::elapsed`]).
pub(super) fn dateless(cell: &[u8]) -> bool {
    let text = String::from_utf8_lossy(cell);
    let text = text.trim().trim_matches('"').replace(',', ".");
    date_time(&text, None).is_none() && dates::elapsed(&text).is_some()
}

/// Whether a time cell is a number (seconds, or the unit its column's
/// name gives), as [`local_text`] tells one from a date.
pub(super) fn numeric(cell: &[u8]) -> bool {
    is_number(String::from_utf8_lossy(cell).trim().trim_matches('"'))
}

/// Times of day without their date go back where a day ends (at midnight,
/// or overnight where a log stops in the evening): the first row where they
/// go back by more than two hours (a clock changed for daylight saving
/// time goes back by one), and the two times.
fn past_midnight(rec: &Recording, times: &[f64]) -> Option<String> {
    const HOUR: f64 = 3600.0;
    if !rec.time_clock {
        return None;
    }
    let at = times.windows(2).position(|w| w[0] - w[1] > 2.0 * HOUR)?;
    let clock = |t: f64| {
        let s = t.round() as u64;
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    // The data row (skipped rows counted) of the time after midnight.
    let row = (rec.row_times.iter().enumerate())
        .filter_map(|(i, t)| t.map(|_| i))
        .nth(at + 1)?;
    Some(format!(
        "holds times of day without their date: they go from {} back to {} at data row {row} \
         (a new day); name the date's column first (--time-column DATE --time-column TIME)",
        clock(times[at]),
        clock(times[at + 1]),
    ))
}

/// Whether a step of `step` from a row stamped `from` is one sampling
/// interval `m` plus or minus an hour, in the small hours of a Sunday (when
/// clocks change in Europe and North America). Stamps with an offset are
/// read as UTC, and then rarely meet that.
fn clock_change(from: f64, step: f64, m: f64) -> bool {
    let day = (from / 86_400.0).floor();
    // Day 0, 1970-01-01, was a Thursday: Sundays are the days ≡ 3 (mod 7).
    let sunday = (day as i64).rem_euclid(7) == 3;
    let hour = (from - day * 86_400.0) / 3600.0;
    let shifted = [3600.0, -3600.0]
        .iter()
        .any(|shift| (step - shift - m).abs() < 0.25 * m);
    shifted && sunday && hour < 4.0
}

/// A step this many sampling intervals long is a late or missing sample
/// (said, not split at, unless `--max-gap` says so).
const LATE: f64 = 1.5;

/// A step between two rows is a gap when it is longer than `threshold`, or
/// goes back (a clock set back). The same time again is no gap: a row
/// written twice, kept as a sample as `serve` keeps a repeated `ts`.
pub(super) fn is_gap(step: f64, threshold: f64) -> bool {
    step < 0.0 || step > threshold
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
    let mut row_times = vec![None; rec.data_rows()];
    let mut at = 0;
    for s in &rec.segments {
        let t = &times[at..at + s.len()];
        steps.extend(t.windows(2).map(|w| step(w[0], w[1])));
        for (slot, &t) in row_times[s.start..].iter_mut().zip(t) {
            *slot = Some(t);
        }
        at += s.len();
    }
    rec.row_times = row_times;
    let why = past_midnight(rec, times)
        .or_else(|| newest_first(&steps))
        .or_else(|| unsorted(&steps))
        .or_else(|| repeating(&steps, columns));
    if let Some(why) = why {
        let time = rec.time_name.as_deref().unwrap_or("time");
        // Several devices' rows in turn repeat each time stamp, once each:
        // the likelier cause, said first.
        let why = match (&rec.stream_hint, &rec.stream, &rec.stream_column) {
            (Some(devices), ..) => format!("{devices} (read as one, {time:?} {why})"),
            // Within one stream's rows: the column named does not name
            // the devices (a status, a site).
            (None, Some(stream), Some(column)) => format!(
                "{time:?} {why}; in the rows of stream {stream:?} alone: is {column:?} the \
                 column naming each row's device?"
            ),
            _ => format!("{time:?} {why}"),
        };
        return Err(Error::Data(format!("{}: {why}", rec.path.display())));
    }
    rec.time_step = median_step(&steps);
    // (After what reading its stamps in a zone found: a local standard
    // time read in a zone that moves its clocks.)
    if let Some(serial) = serial_dates(times, rec.time_step) {
        rec.time_doubt = Some(match rec.time_doubt.take() {
            Some(zone) => format!("{serial}; it {zone}"),
            None => serial,
        });
    }
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
    // The previous segment's end (a data row) and last time.
    let mut before: Option<(usize, f64)> = None;
    for s in std::mem::take(&mut rec.segments) {
        let t = &times[at..at + s.len()];
        at += s.len();
        // Across skipped rows (the segments are split there already): a
        // gap when the time moves on by more than the rows between
        // explain, so that a logger's outage is said even where the row
        // before it was skipped (its last reading a fill value, say).
        if let (Some((end, last)), Some(&first)) = (before, t.first()) {
            let between = s.start.saturating_sub(end) as f64;
            let step = step(last, first);
            if is_gap(step, limit + between * rec.time_step.unwrap_or(limit)) {
                let rows = if between == 1.0 { "row" } else { "rows" };
                let after = format!("data row {}, {between} skipped {rows} between", end - 1);
                note_gap(rec, s.start, last, step, Some((&after, between)));
            }
        }
        before = t.last().map(|&last| (s.start + s.len(), last));
        let mut from = 0;
        for k in 1..s.len() {
            let step = step(t[k - 1], t[k]);
            // A historian's row written twice, most often: kept as a
            // sample, as `serve` takes a message whose ts repeats (training
            // split here once, and publish promised the service would
            // restart there: it never did). Hourly local stamps repeat an
            // hour when the clocks go back: a real row, not a copy.
            let clocks_back = rec.time_local
                && rec
                    .time_step
                    .is_some_and(|m| clock_change(t[k - 1], step, m));
            if step == 0.0 && !clocks_back {
                rec.repeated_times += 1;
                rec.first_repeat.get_or_insert(s.start + k);
            }
            if !is_gap(step, limit) {
                continue;
            }
            note_gap(rec, s.start + k, t[k - 1], step, None);
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

/// Counts a gap in time at data `row`, `step` after the time `from` of
/// the row before, or of the row `across` names with the number of skipped
/// rows between, and says the first few. A gap across skipped rows is not
/// among `time_gap_rows`: the rows are split there by the skip, and the
/// service restarts there at the gap in `seq` (a `gap` event).
fn note_gap(rec: &mut Recording, row: usize, from: f64, step: f64, across: Option<(&str, f64)>) {
    rec.time_gaps += 1;
    if across.is_none() {
        rec.time_gap_rows.push(row);
    }
    // A step back of days is kept among the examples past the first few
    // (a clock reset after five short outages went unsaid).
    let reset = step < -iso::RESET;
    if rec.time_gap_examples.len() >= SKIPPED_EXAMPLES * if reset { 2 } else { 1 } {
        return;
    }
    let (after, between) = across.unzip();
    // The step past the skipped rows' own (a clock change beside them).
    let shifted = rec.time_local
        && rec
            .time_step
            .is_some_and(|m| clock_change(from, step - between.unwrap_or(0.0) * m, m));
    let mut said = if step > 0.0 {
        format!(
            "data row {row}: {} after {}",
            span(step),
            after.unwrap_or("the row before")
        )
    } else {
        format!("data row {row}: the time goes back {}", span(-step))
    };
    if let (Some(after), false) = (after, step > 0.0) {
        said.push_str(&format!(" from {after}"));
    }
    said.push_str(&iso::gap_stamps(rec, from, step, reset));
    if shifted {
        said.push_str(DST_HINT);
    }
    rec.time_gap_examples.push(said);
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
/// them repeat the row before (a window would then span stamps that say
/// nothing of its time). Most often dates whose time of day is in another
/// column.
fn repeating(steps: &[f64], columns: usize) -> Option<String> {
    let same = steps.iter().filter(|&&s| s == 0.0).count();
    (2 * same > steps.len()).then(|| {
        let clock = if columns == 1 {
            "a date without its time of day (name the time-of-day column, or an hour's \
             number, as a second --time-column: --time-column DATE --time-column TIME), or "
        } else {
            ""
        };
        format!(
            "repeats on {same} of {} rows: {clock}stamps coarser than the rows (leave out \
             --time-column), or steps finer than the column is read to (about a microsecond \
             for a date)",
            steps.len()
        )
    })
}

/// `5.0 h`, `12 min`, `90 s`: a gap's length for people.
pub(crate) fn span(seconds: f64) -> String {
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

/// A time in seconds since the epoch as a UTC date and time
/// (`2025-03-03 14:05 UTC`); a time before
/// 1973 is none (elapsed seconds, as a logger counts them): as seconds.
pub(crate) fn utc_text(seconds: f64) -> String {
    if !(1e8..1e11).contains(&seconds) {
        return format!("{seconds} s");
    }
    let minutes = (seconds / 60.0).floor() as i64;
    let (days, minute) = (minutes.div_euclid(1440), minutes.rem_euclid(1440));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y}-{m:02}-{d:02} {:02}:{:02} UTC",
        minute / 60,
        minute % 60
    )
}

/// The proleptic Gregorian date (year, month, day) of a count of days since
/// 1970-01-01 (H. Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

mod clock;
mod guess;
mod sparse;
pub(in crate::recording) use guess::{time_columns, time_flags};
pub(crate) mod iso;
pub(super) use clock::{hour_number, hours_column, stamp_refusal};
pub use iso::iso;

#[cfg(test)]
mod tests;
