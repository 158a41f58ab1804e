//! A time as the stamp `--exclude` reads back, for the warnings that
//! name a stretch and the gaps the data line names.

use crate::recording::Recording;

/// A time as a stamp `--exclude` reads back: ISO 8601, to the
/// millisecond where it has a fraction, `Z` where the file's local stamps
/// were read in a zone (`zoned`), as written otherwise.
pub fn iso(seconds: f64, zoned: bool) -> String {
    // To the millisecond, so that a row of a sub-second recording is not
    // cut off its stretch.
    let ms = (seconds * 1000.0).round() as i64;
    let Ok(at) = jiff::Timestamp::from_second(ms.div_euclid(1000)) else {
        return format!("{seconds}");
    };
    let wall = jiff::tz::TimeZone::UTC.to_datetime(at);
    written(wall, ms, if zoned { "Z" } else { "" })
}

/// A wall-clock time as ISO 8601, with the milliseconds of `ms` where
/// they are not 0, and `suffix` (an offset, `Z`).
pub(crate) fn written(wall: jiff::civil::DateTime, ms: i64, suffix: &str) -> String {
    let fraction = match ms.rem_euclid(1000) {
        0 => String::new(),
        f => format!(".{f:03}"),
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{suffix}",
        wall.year(),
        wall.month(),
        wall.day(),
        wall.hour(),
        wall.minute(),
        wall.second(),
    )
}

/// A step back longer than this (two days) is no clock change or late row.
pub(super) const RESET: f64 = 2.0 * 86_400.0;

/// A gap's stamps, `from` and `step` after it, where they are dates (not
/// seconds since a start): `, FROM to TO`, and for a step back of days
/// (`reset`), what it likely is.
pub(super) fn gap_stamps(rec: &Recording, from: f64, step: f64, reset: bool) -> String {
    const DATED: f64 = 631_152_000.0; // 1990-01-01
    let to = from + step;
    if rec.time_clock || from.max(to) < DATED {
        return String::new();
    }
    let mut said = format!(", {} to {}", rec.stamp(from), rec.stamp(to));
    // Back before the file's first stamp: a clock reset; within its span:
    // rows that overlap earlier ones (two exports joined).
    let first = rec.row_times.iter().flatten().next().copied();
    match first {
        _ if !reset => {}
        Some(first) if to < first => said.push_str(
            " (a logger's clock reset, a battery change? Rows stamped by a clock set back lie \
             among their neighbours by those stamps, and --exclude finds them by them)",
        ),
        _ => said.push_str(
            " (into the file's own span: rows that overlap earlier ones, two exports joined?)",
        ),
    }
    said
}
