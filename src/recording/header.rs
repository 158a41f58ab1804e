//! A recording's first row: the columns' names (or, without a header, its
//! first data row), and the columns the options choose found in it.

use super::numbers::parse_cell;
use super::text::{delimiter_hint, did_you_mean, preamble_hint};
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
    /// The most fields a row near the top has (a preamble's hint).
    widest: usize,
}

impl<'a> Header<'a> {
    pub fn new(
        first: &'a csv::ByteRecord,
        opts: &CsvOptions,
        delimiter: u8,
        sniffed: bool,
        widest: usize,
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

    /// The 0-based column `c` chooses and its name (`column N` without a
    /// header), or why there is none (the caller names the line).
    pub fn resolve(&self, c: &Column) -> Result<(usize, String), String> {
        let (first, names) = (self.first, &self.names);
        match c {
            Column::Index(i) => {
                if *i >= first.len() {
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
                        "no column named {n:?}{}; the header has {}{}{}",
                        did_you_mean(n, names)
                            .map_or(String::new(), |h| format!(" (did you mean {h:?}?)")),
                        names
                            .iter()
                            .map(|h| format!("{h:?}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        delimiter_hint(self.delimiter, self.sniffed),
                        preamble_hint(first.len(), self.widest)
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
