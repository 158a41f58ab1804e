//! Several topics at different rates in one file: a ROS bag or CAN log
//! merged by PlotJuggler, asammdf without resampling, a historian's export
//! of tags that each log on change. Rows come at the union of the topics'
//! message times, and a column has a value only on its own topic's rows
//! (an empty cell elsewhere). A model needs both channels on every row at
//! one rate: `--rows-of COL` keeps the rows where COL has a value (its
//! topic's clock), each other chosen column taking its latest value, as a
//! subscriber to both topics would see them (an as-of join).

use super::Recording;
use super::streams::cell;
use crate::error::{Error, Result};

/// Keeps the rows of one column's topic and fills the other chosen
/// columns' empty cells with their latest value.
pub(super) struct RowsOf {
    /// The column whose rows are kept.
    column: usize,
    /// The columns filled: the channels and the time.
    filled: Vec<usize>,
    /// Each filled column's latest value.
    last: Vec<Option<Vec<u8>>>,
    /// Each filled column's kept rows without a value of its own: now, the
    /// longest run, and how many had one.
    held: Vec<Held>,
    /// Rows read and kept.
    pub rows: (usize, usize),
}

#[derive(Default, Clone, Copy)]
struct Held {
    now: usize,
    longest: usize,
    own: usize,
}

impl RowsOf {
    /// The rows of `column` (resolved, with its name), the chosen columns
    /// `filled`; refused beside a stream column, where each device's latest
    /// values would be another's.
    pub fn of(
        column: Option<(usize, String)>,
        streams: bool,
        filled: &[usize],
    ) -> Result<Option<(Self, String)>> {
        match column {
            Some(_) if streams => Err(Error::Data(
                "--rows-of and --stream-column together are not supported: split the file by \
                 device first"
                    .into(),
            )),
            Some((c, name)) => Ok(Some((Self::new(c, filled), name))),
            None => Ok(None),
        }
    }

    pub fn new(column: usize, filled: &[usize]) -> Self {
        let filled: Vec<usize> = filled.iter().copied().filter(|&c| c != column).collect();
        Self {
            column,
            last: vec![None; filled.len()],
            held: vec![Held::default(); filled.len()],
            filled,
            rows: (0, 0),
        }
    }

    /// Row `r` as kept (its filled columns' empty cells with their latest
    /// values), or `None` where `column` has no value on it: another
    /// topic's row, whose values are remembered.
    pub fn take(&mut self, r: &csv::ByteRecord) -> Option<csv::ByteRecord> {
        self.rows.0 += 1;
        let own: Vec<bool> = self
            .filled
            .iter()
            .map(|&c| !cell(r, c).is_empty())
            .collect();
        for (k, &c) in self.filled.iter().enumerate() {
            if own[k] {
                self.last[k] = Some(cell(r, c).to_vec());
            }
        }
        if cell(r, self.column).is_empty() {
            return None;
        }
        self.rows.1 += 1;
        for (h, &own) in self.held.iter_mut().zip(&own) {
            if own {
                (h.now, h.own) = (0, h.own + 1);
            } else {
                h.now += 1;
                h.longest = h.longest.max(h.now);
            }
        }
        let width = r.len().max(self.filled.iter().max().map_or(0, |&c| c + 1));
        let mut out = csv::ByteRecord::with_capacity(r.as_slice().len() + 16, width);
        for i in 0..width {
            let field = r.get(i).unwrap_or_default();
            let fill = self.filled.iter().position(|&c| c == i);
            match fill.and_then(|k| self.last[k].as_deref()) {
                Some(latest) if field.trim_ascii().is_empty() => out.push_field(latest),
                _ => out.push_field(field),
            }
        }
        Some(out)
    }

    /// A column that went without a value of its own far longer than its
    /// rate makes usual (a topic that stopped, a sensor unplugged): those
    /// rows hold its last value, which the model learns as the signal.
    pub fn held_note(&self, names: &[String]) -> Option<String> {
        let kept = self.rows.1;
        let (k, h) = (self.held.iter().enumerate())
            .filter(|(_, h)| h.own > 0)
            .max_by_key(|(_, h)| h.longest * h.own)?;
        // Rows kept per own value outside the longest hold: 1 for a topic as
        // fast, 2 for one at half the rate.
        let usual = kept.saturating_sub(h.longest).div_ceil(h.own).max(1);
        let name = names.get(self.filled[k]).map_or("?", String::as_str);
        (h.longest > 20 * usual && h.longest >= 50).then(|| {
            format!(
                "column {name:?} has no value of its own for {} kept rows in a row (one in {usual} \
                 as a rule): those rows hold its last value (a topic that stopped, or a tag \
                 logged on change that did not change?); if it stopped, the model learns the \
                 held value as the signal: cut that stretch out of the export",
                h.longest
            )
        })
    }
}

/// What is said of a file's topics: with `--rows-of`, a column that held a
/// stale value long; without, where skipped rows are another topic's.
pub(super) fn note(
    rows_of: Option<&(RowsOf, String)>,
    rec: &Recording,
    rows: impl Iterator<Item = csv::ByteRecord>,
    names: &[String],
) -> Option<String> {
    match rows_of {
        Some((o, _)) => o.held_note(names),
        None if rec.skipped > 0 => merged_in(rows, rec),
        None => None,
    }
}

/// [`merged`] of a recording's two channels over the file's data rows.
pub(super) fn merged_in(
    rows: impl Iterator<Item = csv::ByteRecord>,
    rec: &Recording,
) -> Option<String> {
    let (ci, co) = (rec.input_index, rec.output_index);
    let channels = [(ci, &*rec.input_name), (co, &*rec.output_name)];
    merged(rows, &channels[..if ci == co { 1 } else { 2 }])
}

/// The most rows with a value in a row, on average, of the sparsest
/// column of merged topics (its topic's rows between the others').
const MERGED_RUN: usize = 4;

/// Why rows were skipped for empty cells, where the chosen columns have
/// values on different rows (several topics' rows merged): the share of
/// rows each has a value on, and `--rows-of`. `channels` are the chosen
/// columns with their names.
pub(super) fn merged(
    rows: impl Iterator<Item = csv::ByteRecord>,
    channels: &[(usize, &str)],
) -> Option<String> {
    const LOOKED_AT: usize = 50_000;
    let mut filled = vec![0usize; channels.len()];
    // Runs of rows with a value, per column, and whether the last row had one.
    let (mut runs, mut had) = (vec![0usize; channels.len()], vec![false; channels.len()]);
    let (mut all, mut seen) = (0usize, 0usize);
    for r in rows.take(LOOKED_AT) {
        seen += 1;
        let mut every = true;
        for (k, &(c, _)) in channels.iter().enumerate() {
            let has = !cell(&r, c).is_empty();
            filled[k] += usize::from(has);
            runs[k] += usize::from(has && !had[k]);
            had[k] = has;
            every &= has;
        }
        all += usize::from(every);
    }
    // Each column has values, on under 60% of the rows for one of them,
    // and the columns together on under half.
    let sparse = filled.iter().any(|&n| 10 * n < 6 * seen);
    if seen < 20 || filled.contains(&0) || !sparse || 2 * all >= seen {
        return None;
    }
    // A slower topic's values come a row or a few at a time between the
    // others'; a column blank for long stretches (a PV plant's power at
    // night, an outage) is no other topic.
    let k = (0..channels.len()).min_by_key(|&k| filled[k])?;
    if filled[k] > MERGED_RUN * runs[k] {
        return None;
    }
    let share = |n: usize| match 100.0 * n as f64 / seen as f64 {
        p if p >= 10.0 => format!("{p:.0}%"),
        p => format!("{p:.1}%"),
    };
    let each: Vec<String> = (channels.iter().zip(&filled).enumerate())
        .map(|(k, (&(_, name), &n))| match k {
            0 => format!("{name:?} has a value on {} of the rows", share(n)),
            _ => format!("{name:?} on {}", share(n)),
        })
        .collect();
    // The sparsest column's topic: its rows are the ones a window needs.
    let (_, sparsest) = channels[k];
    let together = match channels.len() {
        1 => String::new(),
        _ if all == 0 => ", never together".into(),
        _ => format!(", together on {}", share(all)),
    };
    Some(format!(
        "{}{together}: rows of several topics at different rates, merged (a ROS bag through \
         PlotJuggler, a CAN log)? --rows-of {sparsest:?} keeps the rows where {sparsest:?} has a \
         value, each other chosen column taking its latest value; values logged where they \
         changed (a historian, Home Assistant) are read on one clock with --resample 1m (each \
         column's latest value held at every tick)",
        each.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cells: &[&str]) -> csv::ByteRecord {
        csv::ByteRecord::from(cells.to_vec())
    }

    #[test]
    fn the_rows_of_one_topic_are_kept_and_the_others_latest_values_filled() {
        // time, x (every other row), y (every row but x's), z (not chosen).
        let mut rows = RowsOf::new(1, &[0, 1, 2]);
        let rows_in = [
            ["0.0", "", "5", "a"],
            ["0.1", "1", "", "b"],
            ["0.2", "", "6", ""],
            ["0.3", "2", "", ""],
            ["0.4", "3", "7", ""],
        ];
        let kept: Vec<Vec<String>> = (rows_in.iter())
            .filter_map(|r| rows.take(&record(r)))
            .map(|r| {
                r.iter()
                    .map(|f| String::from_utf8_lossy(f).into())
                    .collect()
            })
            .collect();
        assert_eq!(
            kept,
            [
                ["0.1", "1", "5", "b"],
                ["0.3", "2", "6", ""],
                ["0.4", "3", "7", ""]
            ]
        );
        assert_eq!(rows.rows, (5, 3));
        // Before a column's first value there is none to take: left empty
        // (a bad cell, as read).
        let mut rows = RowsOf::new(1, &[1, 2]);
        let first = rows.take(&record(&["0.0", "1"])).unwrap();
        assert_eq!(first.len(), 3);
        assert_eq!(first.get(2), Some(&b""[..]));
    }

    /// Read: the first row of `x` has no `y` yet (skipped, counted, so
    /// rows keep their numbers), the others take `y`'s latest; beside a
    /// stream column, refused.
    #[test]
    fn a_merged_file_is_read_by_its_topics_rows() {
        use crate::recording::{Column, CsvOptions};
        let text = "t,x,y,dev\n0,1,,a\n1,,5,a\n2,2,,a\n3,,6,a\n4,3,,a\n";
        let opts = CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            rows_of: Some(Column::Name("x".into())),
            ..Default::default()
        };
        let read = |o: &CsvOptions| Recording::from_bytes(text.as_bytes(), "m.csv".as_ref(), o);
        let r = read(&opts).unwrap();
        assert_eq!(
            (r.rows, r.skipped, r.rows_of.clone()),
            (2, 1, Some(("x".into(), 5)))
        );
        assert_eq!(r.output().collect::<Vec<_>>(), [5.0, 6.0]);
        let fleet = CsvOptions {
            stream: Some(Column::Name("dev".into())),
            ..opts
        };
        let e = read(&fleet).unwrap_err().to_string();
        assert!(e.contains("--rows-of and --stream-column together"), "{e}");
    }

    #[test]
    fn a_topic_that_stops_is_said() {
        let names: Vec<String> = ["t", "x", "y"].map(String::from).to_vec();
        let mut rows = RowsOf::new(1, &[1, 2]);
        // y on every other kept row, then none for 300 rows.
        for i in 0..1000 {
            let y = if i % 2 == 0 && !(400..700).contains(&i) {
                "1"
            } else {
                ""
            };
            rows.take(&record(&["0", "1", y]));
        }
        let note = rows.held_note(&names).unwrap();
        assert!(
            note.starts_with(
                "column \"y\" has no value of its own for 301 kept rows in a row \
                 (one in 2 as a rule)"
            ),
            "{note}"
        );
        // Every other row all along: nothing to say.
        let mut rows = RowsOf::new(1, &[1, 2]);
        for i in 0..1000 {
            rows.take(&record(&["0", "1", if i % 2 == 0 { "1" } else { "" }]));
        }
        assert_eq!(rows.held_note(&names), None);
    }

    #[test]
    fn columns_with_values_on_other_rows_point_at_rows_of() {
        // x on 1 row in 5, y on the others: never together.
        let rows = (0..1000).map(|i| {
            if i % 5 == 0 {
                record(&["0", "1", ""])
            } else {
                record(&["0", "", "2"])
            }
        });
        let hint = merged(rows, &[(1, "x"), (2, "y")]).unwrap();
        assert!(
            hint.starts_with(
                "\"x\" has a value on 20% of the rows, \"y\" on 80%, never together: rows \
                 of several topics"
            ) && hint.contains("--rows-of \"x\" keeps the rows where \"x\" has a value"),
            "{hint}"
        );
        // A few empty cells in full columns: no such file.
        let rows = (0..1000).map(|i| {
            let y = if i % 50 == 0 { "" } else { "2" };
            record(&["0", "1", y])
        });
        assert_eq!(merged(rows, &[(1, "x"), (2, "y")]), None);
        // A PV plant's power blank at night (over half the rows, in
        // stretches of 150), irradiance on every row: no other topic.
        let rows = (0..2880).map(|i| {
            let power = if i % 288 < 150 { "" } else { "5" };
            record(&["0", "1", power])
        });
        assert_eq!(merged(rows, &[(1, "x"), (2, "y")]), None);
    }
}
