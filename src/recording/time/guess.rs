//! Which column holds a file's time stamps, where none was named: the
//! `--time-column` hint, and `join`'s guess for a file it reads with its
//! own settings.

use super::named_unit;
use crate::recording::dates::{self, DateOrder, clock, date_time};

/// The `--time-column` flags naming `columns` (with their names, as
/// [`time_columns`] found them), or `None` where there are none.
pub(in crate::recording) fn time_flags(columns: &[(usize, String)]) -> Option<String> {
    let flag = |(_, name): &(usize, String)| match name.contains(char::is_whitespace) {
        true => format!("--time-column {name:?}"),
        false => format!("--time-column {name}"),
    };
    (!columns.is_empty()).then(|| columns.iter().map(flag).collect::<Vec<_>>().join(" "))
}

/// The columns a file whose time column was not named seems to want, from
/// its first data row, with their names (an index where it has none): the
/// first cell that is a date and time (not a bare number: every value
/// column is one), or a date followed by a time of day in the next cell
/// (`Datum;Uhrzeit`). `names` are the columns' names, `skip` the
/// channels' columns.
pub(in crate::recording) fn time_columns(
    row: &csv::ByteRecord,
    names: &[String],
    skip: &[usize],
) -> Vec<(usize, String)> {
    let named = |i: usize| match names.get(i).filter(|n| !n.is_empty()) {
        Some(n) => (i, n.clone()),
        None => (i, i.to_string()),
    };
    time_column_indices(row, names, skip).map_or(Vec::new(), |c| c.into_iter().map(named).collect())
}

fn time_column_indices(
    row: &csv::ByteRecord,
    names: &[String],
    skip: &[usize],
) -> Option<Vec<usize>> {
    let text = |i: usize| -> Option<String> {
        let cell = std::str::from_utf8(row.get(i)?)
            .ok()?
            .trim()
            .trim_matches('"');
        Some(cell.replace(',', "."))
    };
    for i in (0..row.len()).filter(|i| !skip.contains(i)) {
        let Some(cell) = text(i) else { continue };
        let either = [DateOrder::DayFirst, DateOrder::MonthFirst];
        if cell.parse::<f64>().is_ok() {
            continue;
        }
        if either.iter().all(|o| date_time(&cell, Some(*o)).is_none()) {
            // A time since the start (`0:00.008`, `[00:00:00.008]`).
            if dates::elapsed(&cell).is_some() {
                return Some(vec![i]);
            }
            continue;
        }
        // (A `T` ends a date only after a digit: not `04-OCT-2024`'s.)
        let b = cell.as_bytes();
        let date_only =
            !(1..b.len()).any(|i| b[i] == b' ' || (b[i] == b'T' && b[i - 1].is_ascii_digit()));
        let next_is_clock = text(i + 1).is_some_and(|c| clock(&c).is_some());
        return Some(if date_only && next_is_clock {
            vec![i, i + 1]
        } else {
            vec![i]
        });
    }
    // A number of seconds is a value like any other; its column's name
    // says it is time (`Time [s]`, `timestamp`, `Zeit`).
    (0..row.len())
        .filter(|i| !skip.contains(i))
        .find(|&i| {
            let name = names.get(i).map(|n| n.to_lowercase()).unwrap_or_default();
            // The first word (`__time`, `%time`: PlotJuggler's and rostopic's).
            let word = name
                .split(|c: char| !c.is_alphanumeric())
                .find(|w| !w.is_empty())
                .unwrap_or("");
            let timely = [
                "time",
                "timestamp",
                "timestamps",
                "datetime",
                "zeit",
                "zeitstempel",
                "epoch",
                "elapsed",
                "relative",
                "runtime",
            ];
            // Not `t` alone: a temperature as often as a time; `t_ms` is one
            // (`T_min`, `T_h`: a daily minimum, an hour's mean temperature).
            let t_with_unit =
                || word == "t" && named_unit(&[(i, name.clone())]).is_some_and(|u| u < 60.0);
            (timely.contains(&word) || t_with_unit())
                && text(i).is_some_and(|c| c.parse::<f64>().is_ok())
        })
        .map(|i| vec![i])
}
