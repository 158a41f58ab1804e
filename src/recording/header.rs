//! A recording's first row: the columns' names (or, without a header, its
//! first data row), and the columns the options choose found in it.

use super::numbers::parse_cell;
use super::text::{delimiter_hint, did_you_mean, other_delimiter, preamble_hint};
use super::{Column, CsvOptions};

pub(super) struct Header<'a> {
    first: &'a csv::ByteRecord,
    /// Each column's name, trimmed (the first row's cells, header or not).
    pub names: Vec<String>,
    /// The first row names the columns.
    pub is_header: bool,
    delimiter: u8,
    /// The delimiter was sniffed, not given (the hint says how to set it).
    sniffed: bool,
    /// The most fields a row near the top has (a preamble's hint), and the
    /// line of the first row that has them.
    widest: (usize, Option<u64>),
}

impl<'a> Header<'a> {
    pub fn new(
        first: &'a csv::ByteRecord,
        opts: &CsvOptions,
        delimiter: u8,
        sniffed: bool,
        widest: (usize, Option<u64>),
    ) -> Self {
        let names = first
            .iter()
            .map(|c| String::from_utf8_lossy(c).trim().to_string())
            .collect();
        let by_name =
            matches!(opts.input, Column::Name(_)) || matches!(opts.output, Column::Name(_));
        // Without names to look up, the first row is a header when its
        // chosen cells are not numbers.
        let is_header = by_name
            || [&opts.input, &opts.output].iter().any(|c| match c {
                Column::Index(i) => first
                    .get(*i)
                    // A cell that is a number under either decimal
                    // convention (`1.013`) is data, not a name.
                    .is_none_or(|cell| {
                        parse_cell(cell, delimiter, None).is_err_and(|e| !e.is_numeric())
                    }),
                Column::Name(_) => true,
            });
        Self {
            first,
            names,
            is_header,
            delimiter,
            sniffed,
            widest,
        }
    }

    /// Why a file of one row per field and time cannot be read as it is:
    /// an InfluxDB export (`_time`, `_value`, `_field`: wind speed and power
    /// in rows of their own), which the query can pivot into a column per
    /// field before it is exported.
    pub fn one_row_per_field(&self) -> Option<String> {
        let has = |n: &str| self.names.iter().any(|h| h == n);
        (self.is_header && has("_field") && has("_value")).then(|| {
            // Telegraf's layout names the channel in `_field`; Home
            // Assistant's in the `entity_id` tag, every field being `value`.
            let (name, or) = match has("entity_id") {
                true => (
                    "_field",
                    " (or entity_id, where every field is \"value\", as Home Assistant writes)",
                ),
                false => ("_field", ""),
            };
            format!(
                "one row per field and time, as InfluxDB exports a query's result (\"{name}\" \
                 names the channel, \"_value\" holds it): the two channels are rows here, not \
                 columns. Read each from its rows: --name-column {name}{or} --value-column _value \
                 --time-column _time --resample 1m (each channel's latest value held at every \
                 tick), --input and --output naming the channels; or pivot them into columns in \
                 the query before exporting, `|> pivot(rowKey: [\"_time\"], columnKey: \
                 [\"{name}\"], valueColumn: \"_value\")` (keep a device's tag, as `turbine`, \
                 for --stream-column)"
            )
        })
    }

    /// Why the channels chosen (input, output: 0-based) cannot be read when
    /// one is a time column (`stamps`).
    pub fn neither_is_time(&self, chosen: [usize; 2], stamps: &[usize]) -> Result<(), String> {
        let flags = [("--input", 0), ("--output", 1)];
        let Some((i, (flag, default))) =
            (chosen.into_iter().zip(flags)).find(|(i, _)| stamps.contains(i))
        else {
            return Ok(());
        };
        let (name, columns) = match self.is_header {
            true => (
                format!("{:?}", self.names[i]),
                (self.names.iter().map(|n| format!("{n:?}")))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            false => (
                format!("column {i}"),
                format!(
                    "0 to {}, by 0-based index",
                    self.first.len().saturating_sub(1)
                ),
            ),
        };
        Err(format!(
            "the channel {flag} reads (column {default} when not given; tail's --truth-column) \
             is {name}, the time column (--time-column): name the channel with {flag} (the \
             columns: {columns})"
        ))
    }

    /// The 0-based column `c` chooses and its name (`column N` without a
    /// header), or why there is none (the caller names the line).
    pub fn resolve(&self, c: &Column) -> Result<(usize, String), String> {
        let (first, names) = (self.first, &self.names);
        match c {
            Column::Index(i) => {
                if *i >= first.len() {
                    // A logger's preamble above the header is the likelier
                    // cause where a row below is wider.
                    let preamble = preamble_hint(first.len(), self.widest.0, self.widest.1);
                    if !preamble.is_empty() {
                        return Err(format!("no column {i} (0-based){preamble}"));
                    }
                    return Err(format!(
                        "no column {i} (0-based): the first row has {} column(s){}",
                        first.len(),
                        delimiter_hint(self.delimiter, self.sniffed)
                    ));
                }
                let name = if self.is_header {
                    names[*i].clone()
                } else {
                    format!("column {i}")
                };
                Ok((*i, name))
            }
            Column::Name(n) => {
                let matching = |same: &dyn Fn(&str) -> bool| -> Vec<usize> {
                    (0..names.len()).filter(|&i| same(&names[i])).collect()
                };
                let mut found = matching(&|h| h == n);
                if found.is_empty() {
                    found = matching(&|h| h.eq_ignore_ascii_case(n));
                }
                // The same channel exported with its unit or without
                // (`AccPedalPos` and `AccPedalPos [%]`): one such only.
                if found.is_empty() {
                    found = matching(&|h| crate::eval::same_channel(h, n));
                }
                match found[..] {
                    [i] => Ok((i, names[i].clone())),
                    // No header at all: the first row is data.
                    [] if first.iter().all(|cell| {
                        parse_cell(cell, self.delimiter, None)
                            .err()
                            .is_none_or(|e| e.is_numeric())
                    }) =>
                    {
                        Err(format!(
                            "no column named {n:?}: the file has no header row (its first row \
                             is numbers); choose columns by 0-based index, 0 to {}",
                            first.len().saturating_sub(1)
                        ))
                    }
                    [] => Err(format!(
                        "no column named {n:?}{}; the header has {}{}",
                        did_you_mean(n, names)
                            .map_or(String::new(), |h| format!(" (did you mean {h:?}?)")),
                        names
                            .iter()
                            .map(|h| format!("{h:?}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        other_delimiter(names, self.delimiter).unwrap_or_else(|| format!(
                            "{}{}",
                            delimiter_hint(self.delimiter, self.sniffed),
                            preamble_hint(first.len(), self.widest.0, self.widest.1)
                        ))
                    )),
                    // Reading either would be a guess, and a wrong one
                    // trains or scores a channel on another silently.
                    _ => Err(format!(
                        "{} columns are named {n:?} (0-based {}): choose one by its index (for \
                         example --input {})",
                        found.len(),
                        found
                            .iter()
                            .map(usize::to_string)
                            .collect::<Vec<_>>()
                            .join(", "),
                        found[0]
                    )),
                }
            }
        }
    }
}

/// What to say of a row refused for a bad cell: on the first data row,
/// more likely the wrong column (the default is columns 0 and 1, often a
/// time stamp) than a bad cell.
pub(super) fn bad_row_hint(at_row: usize, in_time: bool) -> String {
    match (at_row, in_time) {
        (0, false) => {
            "is it the right column? --input and --output (tail: --truth-column) choose the \
             channels by header name or 0-based index; --skip-bad-rows skips bad rows"
        }
        (0, true) => {
            "is it the right column? --time-column chooses the time stamps by header name or \
             0-based index; --skip-bad-rows skips bad rows"
        }
        _ => "--skip-bad-rows skips such rows and counts them",
    }
    .into()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::recording::{Column, CsvOptions, Recording};

    fn refused(text: &str, opts: &CsvOptions) -> String {
        match Recording::from_bytes(text.as_bytes(), Path::new("rec.csv"), opts) {
            Ok(_) => panic!("read: {text:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// A channel named without its unit finds the column that adds one
    /// (an export with units in the header), and the other way round; two
    /// such columns are refused, as a guess would be.
    #[test]
    fn a_name_finds_its_column_with_or_without_a_unit() {
        let named = |i: &str, o: &str| CsvOptions {
            input: Column::Name(i.into()),
            output: Column::Name(o.into()),
            ..Default::default()
        };
        let read = |text: &str, opts: &CsvOptions| {
            Recording::from_bytes(text.as_bytes(), Path::new("rec.csv"), opts).map(|r| {
                let unit = r.output_unit().map(String::from);
                (r.input_index, r.output_index, r.input_name, unit)
            })
        };
        let units = "t,AccPedalPos [%],EngTorq_Act [Nm]\n0,1,2\n1,2,3\n";
        let got = read(units, &named("AccPedalPos", "engtorq_act")).unwrap();
        assert_eq!(got, (1, 2, "AccPedalPos [%]".into(), Some("Nm".into())));
        let plain = "t,AccPedalPos,EngTorq_Act\n0,1,2\n1,2,3\n";
        let got = read(plain, &named("AccPedalPos [%]", "EngTorq_Act (Nm)")).unwrap();
        assert_eq!(got, (1, 2, "AccPedalPos".into(), None));
        let two = "t,Druck [bar],Druck [mbar],y\n0,1,2,3\n";
        let e = refused(two, &named("Druck", "y"));
        assert!(
            e.contains("2 columns are named \"Druck\" (0-based 1, 2)"),
            "{e}"
        );
    }

    /// A column by index past a logger's preamble's one field: the preamble
    /// is said, with --skip-lines.
    #[test]
    fn an_index_past_a_preamble_points_at_it() {
        let text = "Exported by a logger\nDate: today\n\nt;x;y\n0;1;2\n1;2;3\n";
        let opts = CsvOptions {
            input: Column::Index(1),
            output: Column::Index(2),
            ..Default::default()
        };
        let e = refused(text, &opts);
        assert!(
            e.contains("no column 1 (0-based); the first row has 1 field(s), later rows 3")
                && e.contains("--skip-lines 3"),
            "{e}"
        );
    }

    /// `publish --time-column "Time (ms)"` without `--input` read column 0,
    /// the stamps, and sent them as samples: refused, naming the columns.
    #[test]
    fn a_channel_that_is_the_time_column_is_refused() {
        let text = "Time (ms)\tCurrent (A)\tVoltage (V)\n\
                    1762070400000\t1.5\t3.71\n1762070401000\t2.5\t3.70\n1762070402000\t0\t3.72\n";
        let time = |input: usize, output: usize| CsvOptions {
            input: Column::Index(input),
            output: Column::Index(output),
            time: vec![Column::Name("Time (ms)".into())],
            ..Default::default()
        };
        let e = refused(text, &time(0, 1));
        assert!(
            e.contains("the channel --input reads (column 0 when not given; tail's --truth-column) is \"Time (ms)\"")
                && e.contains("\"Time (ms)\", \"Current (A)\", \"Voltage (V)\""),
            "{e}"
        );
        let e = refused(text, &time(1, 0));
        assert!(e.contains("the channel --output reads"), "{e}");
        // Without a header, by index.
        let bare = "1762070400000,1.5,3.71\n1762070401000,2.5,3.70\n1762070402000,0,3.72\n";
        let opts = CsvOptions {
            time: vec![Column::Index(0)],
            ..Default::default()
        };
        let e = refused(bare, &opts);
        assert!(
            e.contains("is column 0") && e.contains("0 to 2, by 0-based index"),
            "{e}"
        );
        // The channels beside the time column read.
        let ok = Recording::from_bytes(text.as_bytes(), Path::new("rec.csv"), &time(1, 2));
        assert!(ok.is_ok(), "{:?}", ok.err());
    }

    /// `--delimiter ,` on a tab-separated file: the header is one field; no
    /// "did you mean" the whole header line, but the delimiter it holds.
    #[test]
    fn a_header_read_with_another_delimiter_names_the_one_it_holds() {
        let text = "Time (ms)\tCurrent (A)\tVoltage (V)\n1\t1.5\t3.7\n2\t2.5\t3.6\n";
        let opts = CsvOptions {
            input: Column::Name("Current (A)".into()),
            output: Column::Name("Voltage (V)".into()),
            delimiter: Some(b','),
            ..Default::default()
        };
        let e = refused(text, &opts);
        assert!(
            !e.contains("did you mean")
                && e.contains(
                    "one field holding 2 tab(s): is the file tab-separated (--delimiter tab"
                ),
            "{e}"
        );
    }

    /// One wider data row (a trailing delimiter) is no preamble: no
    /// `--skip-lines N` that would skip the header; an Excel `sep=;` line
    /// above a preamble still names the delimiter when the lines are
    /// skipped.
    #[test]
    fn skip_lines_is_offered_for_a_preamble_only_and_keeps_sep() {
        let text = "Zeit;Vorlauf;Rücklauf\n0;1,5;2\n1;2,5;3\n2;3;4;\n3;3,5;5\n";
        let opts = |input: &str, skip: usize| CsvOptions {
            input: Column::Name(input.into()),
            output: Column::Name("Rücklauf".into()),
            skip_lines: skip,
            ..Default::default()
        };
        let e = refused(text, &opts("Vorlaf", 0));
        assert!(!e.contains("--skip-lines"), "{e}");
        let excel = format!("sep=;\nGerät;Logger 7\n{text}");
        let r = Recording::from_bytes(excel.as_bytes(), Path::new("rec.csv"), &opts("Vorlauf", 2));
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.segments[0].input, vec![1.5, 2.5, 3.0, 3.5]);
        let e = refused("# only\n", &opts("Vorlauf", 1));
        assert!(
            e.contains("no rows after the 1 line(s) --skip-lines skips"),
            "{e}"
        );
    }
}
