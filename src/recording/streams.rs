//! Several devices in one file: an export with a column naming each row's
//! stream (`time,turbine,wind_speed,power`, a row per turbine and time, as
//! historians, SCADA systems and time-series databases write them). Each
//! stream's rows are read as a recording of their own, as a file's are: its
//! windows never take another's rows, its time gaps are its own, its last
//! part is held out, and `publish` sends it under its own key.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::{CsvOptions, Recording, file::bytes_of};
use crate::error::{Error, Result};

/// More streams than this in one file are refused: so many are more
/// likely a column of values (a time, a counter) than of devices.
pub const MAX_STREAMS: usize = 256;

/// Picks one stream's rows while a file is read, and notes every stream.
pub(super) struct Picker {
    column: usize,
    name: String,
    /// The one stream read (`None`: every stream).
    wanted: Option<Vec<u8>>,
    /// Each stream's place among those read, by its name's bytes.
    index: HashMap<Vec<u8>, usize>,
    /// The streams named, in the order of their first rows.
    order: Vec<String>,
    /// Rows naming no stream are skipped (`--skip-bad-rows`), not refused.
    skip_unnamed: bool,
    /// Rows skipped so, and the first one's byte.
    pub unnamed: (usize, Option<u64>),
}

impl Picker {
    pub fn new(column: usize, name: &str, opts: &CsvOptions) -> Self {
        Self {
            column,
            name: name.to_string(),
            wanted: (opts.only_stream.as_ref()).map(|w| w.as_bytes().to_vec()),
            index: HashMap::new(),
            order: Vec::new(),
            skip_unnamed: opts.skip_bad_rows,
            unnamed: (0, None),
        }
    }

    /// The place of row `r`'s stream among the streams read (in the order
    /// of their first rows), or `None` where it is not read. A row at
    /// `byte` that names none is refused (it belongs to no device's
    /// recording), or skipped and counted with `--skip-bad-rows`.
    pub fn take(
        &mut self,
        byte: u64,
        r: &csv::ByteRecord,
    ) -> std::result::Result<Option<usize>, String> {
        let cell = cell(r, self.column);
        if cell.is_empty() && self.skip_unnamed {
            self.unnamed.0 += 1;
            self.unnamed.1.get_or_insert(byte);
            return Ok(None);
        }
        if cell.is_empty() {
            return Err(format!(
                "the stream column {:?} is empty: every row names the device it is of \
                 (--skip-bad-rows skips such rows and counts them)",
                self.name
            ));
        }
        if let Some(&i) = self.index.get(cell) {
            return Ok(Some(i).filter(|_| self.wanted.as_deref().is_none_or(|w| w == cell)));
        }
        if self.index.len() == MAX_STREAMS {
            return Err(format!(
                "the stream column {:?} names more than {MAX_STREAMS} streams: is it the column \
                 naming each row's device (not a time or a value)? Split a larger fleet's export \
                 into files",
                self.name
            ));
        }
        // Places count the streams read only (one, with `wanted`).
        let read = self.wanted.as_deref().is_none_or(|w| w == cell);
        let place = if read {
            self.index.values().filter(|&&i| i != usize::MAX).count()
        } else {
            usize::MAX
        };
        self.index.insert(cell.to_vec(), place);
        self.order.push(String::from_utf8_lossy(cell).into_owned());
        Ok(Some(place).filter(|_| read))
    }

    /// The column's name and every stream named (by name: the same rows
    /// make the same recordings, and so the same model, in whatever order
    /// an export writes a time's rows); a stream asked for that the file
    /// does not name is refused.
    pub fn found(&self, path: &Path) -> Result<(String, Vec<String>)> {
        let mut order = self.order.clone();
        order.sort();
        if let Some(w) = &self.wanted
            && !self.index.contains_key(w)
        {
            return Err(Error::Data(format!(
                "{}: the stream column {:?} never names {:?} (it names {})",
                path.display(),
                self.name,
                String::from_utf8_lossy(w),
                listed(&order)
            )));
        }
        Ok((self.name.clone(), order))
    }

    /// The names of the streams read, by their places.
    pub fn read(&self) -> Vec<String> {
        let mut names =
            vec![String::new(); self.index.values().filter(|&&i| i != usize::MAX).count()];
        for (name, &i) in &self.index {
            if let Some(slot) = names.get_mut(i) {
                *slot = String::from_utf8_lossy(name).into_owned();
            }
        }
        names
    }
}

/// Row `r`'s cell in column `c`, trimmed (empty where it has none).
pub(super) fn cell(r: &csv::ByteRecord, c: usize) -> &[u8] {
    r.get(c).map(<[u8]>::trim_ascii).unwrap_or_default()
}

/// A sensor's reading (`60.6`, `60,6`), or a date (`2024-03-01`): no
/// device's name or number.
fn reading(v: &[u8]) -> bool {
    let Ok(t) = std::str::from_utf8(v) else {
        return false;
    };
    let decimal = t.contains(['.', ',']) && t.replacen(',', ".", 1).parse::<f64>().is_ok();
    let date = [super::DateOrder::DayFirst, super::DateOrder::MonthFirst]
        .iter()
        .any(|o| super::dates::date_time(t, Some(*o)).is_some());
    decimal || date
}

/// A column of the calendar (an hour, a weekday, a month: `Hour`,
/// `Wochentag`, values `Mon`, `Tue`), which comes round in turn as devices
/// do in a fleet's export, but is none.
fn calendar(name: &str, values: &[&[u8]]) -> bool {
    const UNITS: [&str; 24] = [
        "hour",
        "hours",
        "hr",
        "minute",
        "minutes",
        "min",
        "second",
        "seconds",
        "sec",
        "weekday",
        "dow",
        "day",
        "days",
        "week",
        "month",
        "quarter",
        "year",
        "stunde",
        "sekunde",
        "wochentag",
        "tag",
        "woche",
        "monat",
        "jahr",
    ];
    let lower = name.to_lowercase();
    let word = lower
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty());
    let named = word.is_some_and(|w| UNITS.contains(&w));
    // Weekdays' and months' names, as their first three letters.
    const NAMES: [&str; 19] = [
        "mon", "tue", "wed", "thu", "fri", "sat", "sun", "jan", "feb", "mar", "apr", "may", "jun",
        "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let dated = !values.is_empty()
        && values.iter().all(|v| {
            let v = String::from_utf8_lossy(v).to_lowercase();
            v.get(..3).is_some_and(|p| NAMES.contains(&p)) && v.chars().all(char::is_alphabetic)
        });
    named || dated
}

/// Rows looked at for a column that names devices in turn.
const LOOKED_AT: usize = 2_000;

/// Without a stream column: a column (not a channel or the time, the
/// `chosen` ones) whose value changes on most rows while it holds only a
/// few values (`T01`, `T02`, `T03`, `T01`, …): an export of several
/// devices, a row per device and time, which read as one recording would
/// make windows of the devices' rows in turn. The flag naming it, and what
/// it shows, for a warning.
pub(super) fn interleaved(
    rows: impl Iterator<Item = csv::ByteRecord>,
    names: &[String],
    chosen: &[usize],
) -> Option<String> {
    let rows: Vec<csv::ByteRecord> = rows.take(LOOKED_AT).collect();
    let width = rows.first()?.len();
    (0..width).filter(|c| !chosen.contains(c)).find_map(|c| {
        let (mut order, mut seen): (Vec<&[u8]>, HashSet<&[u8]>) = Default::default();
        for r in &rows {
            let v = cell(r, c);
            if seen.insert(v) {
                if order.len() == MAX_STREAMS {
                    return None;
                }
                order.push(v);
            }
        }
        let changes = rows
            .windows(2)
            .filter(|w| cell(&w[0], c) != cell(&w[1], c))
            .count();
        // A few values, in turn: most rows another than the row before,
        // each value on several rows, and most the one of the row a round
        // of them before (A, B, C, A, B, C); names or whole numbers, not a
        // sensor's readings to a few steps (`60.6`, `61.0`).
        let k = order.len();
        let few = k >= 2 && 4 * k <= rows.len();
        let empty = order.iter().any(|v| v.is_empty());
        let header = names.get(c).map_or("", String::as_str);
        let named = !order.iter().any(|v| reading(v)) && !calendar(header, &order);
        // (A round may be a row short: a device sampled at half the rate
        // of the others misses every other one.)
        let rounds = || {
            let again = (k..rows.len()).filter(|&t| {
                let v = cell(&rows[t], c);
                v == cell(&rows[t - k], c) || v == cell(&rows[t + 1 - k], c)
            });
            2 * again.count() > rows.len() - k
        };
        (few && !empty && named && 2 * changes > rows.len() && rounds()).then(|| {
            let name = names
                .get(c)
                .map_or_else(|| c.to_string(), |n| format!("{n:?}"));
            let values: Vec<String> = (order.iter())
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect();
            let rows = match rows.len() {
                LOOKED_AT => format!("the first {LOOKED_AT}"),
                n => n.to_string(),
            };
            format!(
                "column {name} changes on {changes} of {rows} rows among {} values ({}): \
                 rows of several devices in turn? Read as one recording, windows take their rows \
                 one after another; --stream-column {name} reads each device's rows as a \
                 recording of its own",
                values.len(),
                listed(&values)
            )
        })
    })
}

/// The data rows whose time goes back from the row before's (rows with
/// no time, skipped, passed over), but for an hour less a step (`step`, the
/// sampling interval): local times as daylight saving time ends (a column
/// of the zone's name, `MESZ` then `MEZ`, changes there too).
pub(super) fn back_rows(times: &[Option<f64>], step: Option<f64>) -> Vec<usize> {
    let step = step.filter(|s| s.is_finite() && *s > 0.0).unwrap_or(0.0);
    let clocks_back = |d: f64| (d - (3600.0 - step)).abs() <= 0.5 * step + 60.0;
    let mut last = None;
    let mut back = Vec::new();
    for (row, t) in times.iter().enumerate() {
        let Some(t) = *t else { continue };
        if let Some(l) = last
            && t < l
            && !clocks_back(l - t)
        {
            back.push(row);
        }
        last = Some(t);
    }
    back
}

/// Without a stream column: a column (names or whole numbers) that changes
/// only at data rows where the time goes back (`back`), each of its values
/// in one block: an export of several devices, one after another.
pub(super) fn blocks(
    mut rows: impl Iterator<Item = csv::ByteRecord>,
    names: &[String],
    chosen: &[usize],
    back: &[usize],
) -> Option<String> {
    /// One column's blocks so far (`None` once it is none).
    struct Blocks {
        last: Vec<u8>,
        order: Vec<Vec<u8>>,
        changes: Vec<usize>,
    }
    let back: HashSet<usize> = back.iter().copied().collect();
    let first = rows.next()?;
    let calendar_column = |c: usize| names.get(c).is_some_and(|n| calendar(n, &[]));
    let mut columns: Vec<(usize, Option<Blocks>)> = (0..first.len())
        .filter(|&c| !chosen.contains(&c) && !calendar_column(c))
        .map(|c| {
            let v = cell(&first, c).to_vec();
            let ok = !v.is_empty() && !reading(&v);
            let b = Blocks {
                last: v.clone(),
                order: vec![v],
                changes: Vec::new(),
            };
            (c, ok.then_some(b))
        })
        .collect();
    // One pass, every candidate column at once: a long export is not held.
    for (i, r) in rows.enumerate().map(|(i, r)| (i + 1, r)) {
        for (c, state) in &mut columns {
            let Some(b) = state else { continue };
            let v = cell(&r, *c);
            if v == b.last.as_slice() {
                continue;
            }
            // A change where the time does not go back, to a value left
            // before, or to one that is no device's: no blocks.
            let left_before = b.order.iter().any(|o| o.as_slice() == v);
            if !back.contains(&i)
                || left_before
                || v.is_empty()
                || reading(v)
                || b.order.len() == MAX_STREAMS
            {
                *state = None;
                continue;
            }
            b.changes.push(i);
            b.order.push(v.to_vec());
            b.last = v.to_vec();
        }
    }
    let (c, b) = columns
        .into_iter()
        .find_map(|(c, b)| b.filter(|b| !b.changes.is_empty()).map(|b| (c, b)))?;
    let name = names
        .get(c)
        .map_or_else(|| c.to_string(), |n| format!("{n:?}"));
    let order: Vec<String> = (b.order.iter())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    Some(format!(
        "column {name} changes only where the time goes back ({} times, the first at data row \
         {}), each of its {} values ({}) in one block: one device's rows after another's? Read \
         as one recording, the held-out part is the last devices' rows and publish sends them \
         as one stream; --stream-column {name} reads each device's rows as a recording of its \
         own",
        b.changes.len(),
        b.changes[0],
        order.len(),
        listed(&order)
    ))
}

/// `"T01", "T02" and 3 more`.
pub fn listed(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let quoted: Vec<String> = names.iter().take(SHOWN).map(|n| format!("{n:?}")).collect();
    match names.len() {
        0 => "none".into(),
        n if n <= SHOWN => quoted.join(", "),
        n => format!("{} and {} more", quoted.join(", "), n - SHOWN),
    }
}

impl Recording {
    /// Reads `path` with `opts`: one recording, or with a stream column
    /// one per stream it names, in the order of their names.
    pub fn read_streams(path: &Path, opts: &CsvOptions) -> Result<Vec<Self>> {
        Self::from_bytes_all(&bytes_of(path)?, path, opts)
    }

    /// Where the rows come from, for people: the file, and the stream
    /// within it (`fleet.csv, stream "T02"`).
    pub fn source(&self) -> String {
        match &self.stream {
            Some(s) => format!("{}, stream {s:?}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
