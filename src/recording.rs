//! A user's recording: a CSV export (historian, data logger, spreadsheet)
//! with many columns, of which two are the channels to translate.
//!
//! What real exports look like, and what we accept: a header row or none;
//! `,` `;` or tab as the delimiter (sniffed from the first lines, or given);
//! quoted fields; a UTF-8 byte-order mark; `#` comment lines; decimal commas
//! when the delimiter is not a comma (`1,5;2,25`). Other columns (a time
//! stamp, a label, more sensors) are ignored.
//!
//! A cell that is not a finite number is an error naming the file, the line
//! and the column, or, with `skip_bad_rows`, a counted gap: the rows on
//! either side become separate [`Segment`]s, so no training window joins
//! samples that were not next to each other in time.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::data::Windows;
use crate::error::{Error, Result};

/// A column chosen by header name or by 0-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Index(usize),
    Name(String),
}

impl std::str::FromStr for Column {
    type Err = String;
    /// All digits: a position; anything else: a header name.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty column name".into());
        }
        Ok(match s.parse::<usize>() {
            Ok(i) => Self::Index(i),
            Err(_) => Self::Name(s.to_string()),
        })
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Index(i) => write!(f, "{i}"),
            Self::Name(n) => write!(f, "{n:?}"),
        }
    }
}

/// How to read a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    /// The channel the model reads.
    pub input: Column,
    /// The channel the model writes.
    pub output: Column,
    /// `None`: sniffed from the first lines (tab, then `;`, then `,`).
    pub delimiter: Option<u8>,
    /// Count and skip rows with a bad cell instead of stopping at the first.
    pub skip_bad_rows: bool,
}

impl Default for CsvOptions {
    /// The two-column file of earlier versions: input in column 0, output in 1.
    fn default() -> Self {
        Self {
            input: Column::Index(0),
            output: Column::Index(1),
            delimiter: None,
            skip_bad_rows: false,
        }
    }
}

/// Contiguous rows: no skipped row inside.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Segment {
    /// The file's data row (0-based, skipped rows counted) of the first.
    pub start: usize,
    pub input: Vec<f32>,
    pub output: Vec<f32>,
}

impl Segment {
    pub fn len(&self) -> usize {
        self.input.len()
    }

    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }
}

/// One file's two channels, and what reading it found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recording {
    pub path: PathBuf,
    /// Header names of the two channels (or `column N` without a header).
    pub input_name: String,
    pub output_name: String,
    pub delimiter: char,
    pub header: bool,
    /// Rows read into the channels.
    pub rows: usize,
    /// Rows skipped for a bad cell (`skip_bad_rows`).
    pub skipped: usize,
    /// The first few skipped rows' reasons, for the report.
    pub skipped_examples: Vec<String>,
    #[serde(skip)]
    pub segments: Vec<Segment>,
}

/// How many skipped rows are quoted in the report.
const SKIPPED_EXAMPLES: usize = 5;
/// Lines looked at to sniff the delimiter.
const SNIFF_LINES: usize = 50;

impl Recording {
    /// Reads `path` with `opts`.
    pub fn read(path: &Path, opts: &CsvOptions) -> Result<Self> {
        // An I/O error (exit status 1: a retry may find the file), not bad data.
        let bytes = std::fs::read(path).map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("cannot open {}: {e}", path.display()),
            ))
        })?;
        Self::from_bytes(&bytes, path, opts)
    }

    /// [`Recording::read`] from bytes in memory; `path` names them in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path, opts: &CsvOptions) -> Result<Self> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let at = |line: u64, what: String| {
            Error::Data(format!("{}: line {line}: {what}", path.display()))
        };
        let delimiter = opts.delimiter.unwrap_or_else(|| sniff_delimiter(bytes));
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .from_reader(bytes);
        let mut records = reader.byte_records();
        let mut next = || -> Result<Option<(u64, csv::ByteRecord)>> {
            match records.next() {
                None => Ok(None),
                Some(Ok(r)) => Ok(Some((r.position().map_or(0, |p| p.line()), r))),
                Some(Err(e)) => {
                    let line = e.position().map_or(0, |p| p.line());
                    Err(at(line, format!("not readable as CSV: {e}")))
                }
            }
        };
        let Some((first_line, first)) = next()? else {
            return Err(Error::Data(format!("{}: no rows", path.display())));
        };
        let names: Vec<String> = first
            .iter()
            .map(|c| String::from_utf8_lossy(c).trim().to_string())
            .collect();
        let by_name =
            matches!(opts.input, Column::Name(_)) || matches!(opts.output, Column::Name(_));
        // Without names to look up, the first row is a header when its
        // chosen cells are not numbers.
        let header = by_name
            || [&opts.input, &opts.output].iter().any(|c| match c {
                Column::Index(i) => first
                    .get(*i)
                    .is_none_or(|cell| parse_cell(cell, delimiter).is_err()),
                Column::Name(_) => true,
            });
        let resolve = |c: &Column| -> Result<(usize, String)> {
            match c {
                Column::Index(i) => {
                    if *i >= first.len() {
                        return Err(at(
                            first_line,
                            format!(
                                "no column {i} (0-based): the first row has {} column(s){}",
                                first.len(),
                                delimiter_hint(delimiter, opts.delimiter.is_none())
                            ),
                        ));
                    }
                    let name = if header {
                        names[*i].clone()
                    } else {
                        format!("column {i}")
                    };
                    Ok((*i, name))
                }
                Column::Name(n) => names
                    .iter()
                    .position(|h| h == n)
                    .or_else(|| names.iter().position(|h| h.eq_ignore_ascii_case(n)))
                    .map(|i| (i, names[i].clone()))
                    .ok_or_else(|| {
                        at(
                            first_line,
                            format!(
                                "no column named {n:?}; the header has {}{}",
                                names
                                    .iter()
                                    .map(|h| format!("{h:?}"))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                delimiter_hint(delimiter, opts.delimiter.is_none())
                            ),
                        )
                    }),
            }
        };
        let (ci, input_name) = resolve(&opts.input)?;
        let (co, output_name) = resolve(&opts.output)?;

        let mut rec = Recording {
            path: path.to_path_buf(),
            input_name,
            output_name,
            delimiter: delimiter as char,
            header,
            rows: 0,
            skipped: 0,
            skipped_examples: Vec::new(),
            segments: vec![Segment::default()],
        };
        let label = |i: usize, name: &str| {
            if header {
                format!("column {name:?} (index {i})")
            } else {
                format!("column {i}")
            }
        };
        let (label_in, label_out) = (label(ci, &rec.input_name), label(co, &rec.output_name));
        let row = |line: u64, r: &csv::ByteRecord, rec: &mut Recording| -> Result<()> {
            let cell = |i: usize, label: &str| -> std::result::Result<f32, String> {
                let cell = r.get(i).ok_or_else(|| {
                    format!("{label} is missing: the row has {} field(s)", r.len())
                })?;
                parse_cell(cell, delimiter).map_err(|why| format!("{label}: {why}"))
            };
            // This row's place among the data rows, skipped ones counted:
            // `publish --data` sends row N as sample N, so streams published
            // from different columns of one file line up by `seq`.
            let at_row = rec.rows + rec.skipped;
            match (cell(ci, &label_in), cell(co, &label_out)) {
                (Ok(x), Ok(y)) => {
                    // The last segment always exists (a new one is pushed on a gap).
                    if let Some(seg) = rec.segments.last_mut() {
                        if seg.is_empty() {
                            seg.start = at_row;
                        }
                        seg.input.push(x);
                        seg.output.push(y);
                    }
                    rec.rows += 1;
                    Ok(())
                }
                (Err(why), _) | (_, Err(why)) => {
                    if !opts.skip_bad_rows {
                        return Err(at(
                            line,
                            format!("{why} (--skip-bad-rows skips such rows and counts them)"),
                        ));
                    }
                    rec.skipped += 1;
                    if rec.skipped_examples.len() < SKIPPED_EXAMPLES {
                        rec.skipped_examples.push(format!("line {line}: {why}"));
                    }
                    if rec.segments.last().is_some_and(|s| !s.is_empty()) {
                        rec.segments.push(Segment::default());
                    }
                    Ok(())
                }
            }
        };
        if !header {
            row(first_line, &first, &mut rec)?;
        }
        while let Some((line, r)) = next()? {
            row(line, &r, &mut rec)?;
        }
        rec.segments.retain(|s| !s.is_empty());
        if rec.rows == 0 {
            return Err(Error::Data(format!(
                "{}: no data rows{}",
                path.display(),
                if rec.skipped > 0 {
                    format!(" ({} skipped for bad cells)", rec.skipped)
                } else {
                    String::new()
                }
            )));
        }
        Ok(rec)
    }

    /// Every sample of the input channel (all segments, in order).
    pub fn input(&self) -> impl Iterator<Item = f32> + '_ {
        self.segments.iter().flat_map(|s| s.input.iter().copied())
    }

    /// Every sample of the output channel.
    pub fn output(&self) -> impl Iterator<Item = f32> + '_ {
        self.segments.iter().flat_map(|s| s.output.iter().copied())
    }

    /// The data rows read, skipped ones counted.
    pub fn data_rows(&self) -> usize {
        self.rows + self.skipped
    }

    /// One channel by data row: `None` where the row was skipped.
    pub fn by_row(&self, channel: fn(&Segment) -> &[f32]) -> Vec<Option<f32>> {
        let mut rows = vec![None; self.data_rows()];
        for s in &self.segments {
            for (slot, v) in rows[s.start..].iter_mut().zip(channel(s)) {
                *slot = Some(*v);
            }
        }
        rows
    }

    /// Chronological split: the last `fraction` of the rows is held out.
    /// Returns (training, validation) segments; a segment that crosses the
    /// cut is split there, so no window straddles it.
    pub fn split(&self, fraction: f64) -> (Vec<Segment>, Vec<Segment>) {
        let held = ((self.rows as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
        let cut = self.rows - held.min(self.rows);
        let (mut train, mut valid) = (Vec::new(), Vec::new());
        let mut start = 0;
        for s in &self.segments {
            let end = start + s.len();
            if end <= cut {
                train.push(s.clone());
            } else if start >= cut {
                valid.push(s.clone());
            } else {
                let k = cut - start;
                train.push(Segment {
                    start: s.start,
                    input: s.input[..k].to_vec(),
                    output: s.output[..k].to_vec(),
                });
                valid.push(Segment {
                    start: s.start + k,
                    input: s.input[k..].to_vec(),
                    output: s.output[k..].to_vec(),
                });
            }
            start = end;
        }
        (train, valid)
    }
}

/// Every window of `window` consecutive samples inside each segment
/// (stride 1); segments shorter than a window give none.
pub fn windows(segments: &[Segment], window: usize) -> Windows {
    let mut w = Windows::empty(window);
    for s in segments {
        if window == 0 || s.len() < window {
            continue;
        }
        for i in 0..=s.len() - window {
            w.input.extend_from_slice(&s.input[i..i + window]);
            w.target.extend_from_slice(&s.output[i..i + window]);
        }
    }
    w
}

/// A finite number; a decimal comma is accepted when it cannot be the delimiter.
fn parse_cell(cell: &[u8], delimiter: u8) -> std::result::Result<f32, String> {
    let text = std::str::from_utf8(cell).map_err(|_| "not UTF-8 text".to_string())?;
    let text = text.trim();
    if text.is_empty() {
        return Err("empty cell".into());
    }
    let v = match text.parse::<f32>() {
        Ok(v) => v,
        Err(_) if delimiter != b',' && text.matches(',').count() == 1 && !text.contains('.') => {
            text.replace(',', ".")
                .parse::<f32>()
                .map_err(|_| format!("{text:?} is not a number"))?
        }
        Err(_) => return Err(format!("{text:?} is not a number")),
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{text:?} is not a finite number"))
    }
}

/// The delimiter that splits the first lines into the same number (> 1) of
/// fields, preferring tab, then `;` (whose files often use decimal commas),
/// then `,`. A file that none splits evenly is read with `,`.
fn sniff_delimiter(bytes: &[u8]) -> u8 {
    // Only whole lines: the last one may be cut.
    let mut end = 0;
    let mut lines = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            end = i + 1;
            lines += 1;
            if lines == SNIFF_LINES {
                break;
            }
        }
    }
    let sample = if end == 0 { bytes } else { &bytes[..end] };
    for d in [b'\t', b';', b','] {
        let counts: Vec<usize> = csv::ReaderBuilder::new()
            .delimiter(d)
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .from_reader(sample)
            .byte_records()
            .map_while(|r| r.ok().map(|r| r.len()))
            .collect();
        if let Some(&n) = counts.first()
            && n > 1
            && counts.iter().all(|&c| c == n)
        {
            return d;
        }
    }
    b','
}

fn delimiter_hint(delimiter: u8, sniffed: bool) -> String {
    let name = match delimiter {
        b'\t' => "tab".to_string(),
        d => format!("{:?}", d as char),
    };
    if sniffed {
        format!(" (delimiter {name}, sniffed; set it with --delimiter)")
    } else {
        format!(" (delimiter {name})")
    }
}

/// Parses `--delimiter`: one ASCII character, or `tab` / `\t`.
pub fn parse_delimiter(s: &str) -> std::result::Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        "comma" => Ok(b','),
        "semicolon" => Ok(b';'),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "delimiter must be one ASCII character or tab, got {s:?}"
        )),
    }
}

#[cfg(test)]
mod tests;
