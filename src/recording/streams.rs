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
}

impl Picker {
    pub fn new(column: usize, name: &str, wanted: Option<&str>) -> Self {
        Self {
            column,
            name: name.to_string(),
            wanted: wanted.map(|w| w.as_bytes().to_vec()),
            index: HashMap::new(),
            order: Vec::new(),
        }
    }

    /// The place of row `r`'s stream among the streams read (in the order
    /// of their first rows), or `None` where it is not read. A row that
    /// names none is refused: it belongs to no device's recording.
    pub fn take(&mut self, r: &csv::ByteRecord) -> std::result::Result<Option<usize>, String> {
        let cell = cell(r, self.column);
        if cell.is_empty() {
            return Err(format!(
                "the stream column {:?} is empty: every row names the device it is of",
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
        let rounds = || {
            let again = (k..rows.len()).filter(|&t| cell(&rows[t], c) == cell(&rows[t - k], c));
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
mod tests {
    use super::super::Column;
    use super::*;

    fn opts(stream: Option<&str>) -> CsvOptions {
        CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            time: vec![Column::Name("t".into())],
            stream: stream.map(|s| Column::Name(s.into())),
            skip_bad_rows: true,
            ..Default::default()
        }
    }

    /// Reads `text` as a file, as `retrain` does.
    fn read(text: &str, opts: &CsvOptions) -> Result<Vec<Recording>> {
        let dir = tempfile::tempdir().map_err(Error::Io)?;
        let path = dir.path().join("fleet.csv");
        std::fs::write(&path, text).map_err(Error::Io)?;
        Recording::read_streams(&path, opts)
    }

    /// Three devices' rows in turn, `rows` times (C's first, then A's and
    /// B's); device B's row 5 has a bad input and its time jumps after row
    /// 7 (a gap of its own).
    fn fleet(rows: usize) -> String {
        let mut text = String::from("t,dev,x,y\n");
        for i in 0..rows {
            for (k, d) in [(2, "C"), (0, "A"), (1, "B")] {
                let t = if d == "B" && i > 7 { i + 100 } else { i };
                let x = if d == "B" && i == 5 {
                    "n/a".to_string()
                } else {
                    format!("{}", 10 * k + i)
                };
                text.push_str(&format!("{t},{d},{x},{}\n", 100 * k + i));
            }
        }
        text
    }

    #[test]
    fn each_device_is_a_recording_of_its_own() {
        let all = read(&fleet(20), &opts(Some("dev"))).unwrap();
        let names: Vec<_> = all.iter().map(|r| r.stream.as_deref().unwrap()).collect();
        assert_eq!(names, ["A", "B", "C"]);
        for (k, r) in all.iter().enumerate() {
            assert_eq!(r.streams, ["A", "B", "C"]);
            assert_eq!(r.stream_column.as_deref(), Some("dev"));
            // Its own rows only, counted from its first (`publish`'s seq).
            let ys: Vec<f32> = r.output().collect();
            let own = |i: usize| (100 * k + i) as f32;
            assert_eq!(r.data_rows(), 20, "{:?}", r.stream);
            assert_eq!(r.time_step, Some(1.0));
            if k == 1 {
                // The bad cell and the gap are B's alone.
                assert_eq!(
                    (r.skipped, r.time_gaps, r.time_gap_rows.clone()),
                    (1, 1, vec![8])
                );
                let starts: Vec<usize> = r.segments.iter().map(|s| s.start).collect();
                assert_eq!(starts, [0, 6, 8]);
                assert!(ys.iter().all(|&y| (100.0..120.0).contains(&y)));
            } else {
                assert_eq!((r.skipped, r.time_gaps, r.segments.len()), (0, 0, 1));
                assert_eq!(ys, (0..20).map(own).collect::<Vec<_>>());
            }
            assert_eq!(
                r.source(),
                format!("{}, stream {:?}", r.path.display(), names[k])
            );
            assert_eq!(r.stream_hint, None);
        }
        // One stream asked for; one the file never names.
        let b = CsvOptions {
            only_stream: Some("B".into()),
            ..opts(Some("dev"))
        };
        assert_eq!(read(&fleet(20), &b).unwrap().len(), 1);
        let z = CsvOptions {
            only_stream: Some("Z".into()),
            ..opts(Some("dev"))
        };
        let e = read(&fleet(20), &z).unwrap_err().to_string();
        assert!(
            e.contains(r#"never names "Z" (it names "A", "B", "C")"#),
            "{e}"
        );
    }

    #[test]
    fn a_stream_column_that_cannot_be_one_is_refused() {
        // A row naming no device: its line.
        let text = fleet(3).replace("2,C,", "2,,");
        let e = read(&text, &opts(Some("dev"))).unwrap_err().to_string();
        assert!(
            e.contains("line 8: the stream column \"dev\" is empty"),
            "{e}"
        );
        // The time column, or a channel.
        let e = read(&fleet(3), &opts(Some("t"))).unwrap_err().to_string();
        assert!(e.contains("is also the time column"), "{e}");
        let e = read(&fleet(3), &opts(Some("x"))).unwrap_err().to_string();
        assert!(e.contains("is also a channel"), "{e}");
        // A column of values, not of devices.
        let mut text = String::from("t,x,y\n");
        for i in 0..300 {
            text.push_str(&format!("{i},{i},{}\n", 2 * i));
        }
        let o = CsvOptions {
            stream: Some(Column::Name("y".into())),
            output: Column::Name("x".into()),
            ..opts(None)
        };
        let e = read(&text, &o).unwrap_err().to_string();
        assert!(
            e.contains(&format!("more than {MAX_STREAMS} streams")),
            "{e}"
        );
        // A column that names no device (a state): the time repeats within
        // one of its streams, which the error says.
        let text = fleet(20)
            .replace(",A,", ",A,RUN,")
            .replace(",B,", ",B,RUN,");
        let text = text
            .replace(",C,", ",C,RUN,")
            .replace("t,dev,", "t,dev,state,");
        let e = read(&text, &opts(Some("state"))).unwrap_err().to_string();
        assert!(
            e.contains(r#"in the rows of stream "RUN" alone: is "state" the column naming"#),
            "{e}"
        );
        // Without the time column, read, and the devices within it said.
        let untimed = CsvOptions {
            time: Vec::new(),
            ..opts(Some("state"))
        };
        let all = read(&text, &untimed).unwrap();
        let hint = all[0].stream_hint.as_deref().unwrap_or_default();
        assert!(
            hint.starts_with(r#"in the rows of stream "RUN" alone, column "dev" changes"#)
                && hint.ends_with(r#"(is "state" the column naming each row's device?)"#),
            "{hint}"
        );
        // Devices read by their own column: nothing to say.
        let by_dev = CsvOptions {
            time: Vec::new(),
            ..opts(Some("dev"))
        };
        assert!(
            read(&text, &by_dev)
                .unwrap()
                .iter()
                .all(|r| r.stream_hint.is_none())
        );
    }

    /// InfluxDB's export of a query, one row per field and time: the
    /// channels are rows, which the query can pivot into columns.
    #[test]
    fn one_row_per_field_asks_for_a_pivot() {
        let text = "#group,false,false,true,true,false,false,true,true,true\n\
                    #datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,\
                    dateTime:RFC3339,double,string,string,string\n\
                    #default,_result,,,,,,,,\n\
                    ,result,table,_start,_stop,_time,_value,_field,_measurement,turbine\n\
                    ,,0,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,2024-03-01T00:00:00Z,\
                    1070.2,Power_kW,scada,WTG 03\n";
        let o = CsvOptions {
            input: Column::Name("WindSpeed_ms".into()),
            output: Column::Name("Power_kW".into()),
            ..Default::default()
        };
        let e = read(text, &o).unwrap_err().to_string();
        let pivot = r#"|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")"#;
        assert!(
            e.contains("line 4: one row per field and time") && e.contains(pivot),
            "{e}"
        );
    }

    /// Without a stream column, one that alternates is found and named; a
    /// label that changes now and then, or a sensor's values, are not.
    #[test]
    fn devices_in_turn_are_noticed() {
        let plain = CsvOptions {
            time: Vec::new(),
            ..opts(None)
        };
        let r = &read(&fleet(20), &plain).unwrap()[0];
        let hint = r.stream_hint.as_deref().unwrap_or_default();
        assert!(
            hint.contains(
                r#"column "dev" changes on 59 of 60 rows among 3 values ("C", "A", "B")"#
            ) && hint.contains(r#"--stream-column "dev""#),
            "{hint}"
        );
        // With the time column, whose stamps repeat (or here, B's being
        // later, go back) from row to row, the error names it first.
        let e = read(&fleet(20), &opts(None)).unwrap_err().to_string();
        let first = e.find(r#"--stream-column "dev""#);
        assert!(
            first.is_some() && first < e.find("(read as one, \"t\" goes back"),
            "{e}"
        );
        // A state now and then, a sensor's noise, its readings to a few
        // steps (cycling, even), a count of a few values.
        let mut text = String::from("t,state,noise,reading,count,x,y\n");
        for i in 0..400 {
            let state = if i % 50 < 45 { "OK" } else { "WARN" };
            let reading = 60.0 + (i % 9) as f64 * 0.4;
            let count = (i * 7919) % 13 % 5;
            text.push_str(&format!(
                "{i},{state},{},{reading:.1},{count},{i},{i}\n",
                (i * 7919) % 1000
            ));
        }
        let r = &read(&text, &opts(None)).unwrap()[0];
        assert_eq!(r.stream_hint, None);
        // One device's rows after another's: the time goes back where the
        // device changes. A zone's name changing as the clocks go back an
        // hour is no device.
        let mut text = String::from("t,zone,dev,x,y\n");
        for (k, d) in ["B", "A", "C"].iter().enumerate() {
            for i in 0..100 {
                let zone = if k == 2 && i >= 50 { "MEZ" } else { "MESZ" };
                let t = if k == 2 && i >= 50 {
                    i * 60
                } else {
                    i * 60 + 3600
                };
                text.push_str(&format!("{t},{zone},{d},{i},{}\n", i + 100 * k));
            }
        }
        let r = &read(&text, &opts(None)).unwrap()[0];
        let hint = r.stream_hint.as_deref().unwrap_or_default();
        assert!(
            hint.starts_with(r#"column "dev" changes only where the time goes back (2 times, the first at data row 100), each of its 3 values ("B", "A", "C")"#)
                && hint.contains(r#"--stream-column "dev""#),
            "{hint}"
        );
        let one = CsvOptions {
            one_stream: true,
            ..opts(None)
        };
        assert_eq!(read(&text, &one).unwrap()[0].stream_hint, None);
        // Read by device, nothing to say.
        let all = read(&text, &opts(Some("dev"))).unwrap();
        assert!(all.iter().all(|r| r.stream_hint.is_none()));
        assert!(r.stream_blocks);
        // An hour's column comes round in turn as devices do: with time
        // stamps that do not repeat, it is none (without them, a warning).
        let mut text = String::from("t,hour,x,y\n");
        for i in 0..500 {
            text.push_str(&format!("{},{},{i},{i}\n", i * 3600, i % 24));
        }
        assert_eq!(read(&text, &opts(None)).unwrap()[0].stream_hint, None);
        let plain = CsvOptions {
            time: Vec::new(),
            ..opts(None)
        };
        assert_eq!(read(&text, &plain).unwrap()[0].stream_hint, None);
        // Without its name, only the stamps could tell (a warning).
        let text = text.replace("t,hour,", "t,h24,");
        let r = &read(&text, &plain).unwrap()[0];
        assert!(r.stream_hint.is_some() && !r.stream_blocks);
        // Weekdays by name, under any header.
        let mut text = String::from("d,wt,x,y\n");
        for i in 0..200 {
            let day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][i % 7];
            text.push_str(&format!("{i},{day},{i},{i}\n"));
        }
        assert_eq!(read(&text, &plain).unwrap()[0].stream_hint, None);
        // Every 10 minutes in local time, the zone's name changing as the
        // clocks go back (50 min back, not 60): no device.
        let mut text = String::from("t,zone,x,y\n");
        for i in 0..100 {
            let (zone, t) = if i < 50 {
                ("MESZ", i * 600 + 3600)
            } else {
                ("MEZ", i * 600)
            };
            text.push_str(&format!("{t},{zone},{i},{i}\n"));
        }
        let r = &read(&text, &opts(None)).unwrap()[0];
        assert_eq!((r.stream_hint.as_deref(), r.time_gaps), (None, 1));
    }
}
