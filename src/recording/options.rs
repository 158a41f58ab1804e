//! How to read a recording: which columns, which delimiter and decimal
//! separator, what to do with bad rows and gaps in time.

use super::{DateOrder, Decimal};

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
    /// Numbers that stand for a missing value (`-9999`): a channel cell
    /// holding one is a bad cell, as an empty one.
    pub missing: Vec<f32>,
    /// `None`: decided from the cells that show it (see `numbers`); given,
    /// for a file whose cells are all ambiguous (`"1,000"`).
    pub decimal: Option<Decimal>,
    /// The time column: rows further apart in time than `max_gap`
    /// (seconds; default three times the median step) or not after the row
    /// before start a new segment. Two columns are a date and a time of day
    /// (`Datum;Uhrzeit`), read as one stamp; none: no time column.
    pub time: Vec<Column>,
    pub max_gap: Option<f64>,
    /// The order of day and month in slashed dates (`3/1/2026`); `None`:
    /// what the dates show (a day past the 12th), else refused.
    pub date_order: Option<DateOrder>,
    /// The zone of a time column's stamps written without an offset
    /// (`None`: read as UTC, and said so).
    pub time_zone: Option<super::Zone>,
    /// Lines at the top that are no part of the table (a logger's preamble
    /// above the header), read as comment lines.
    pub skip_lines: usize,
    /// The column naming each row's stream (a device, a turbine, a
    /// patient): an export of several in one file, one row per device and
    /// time (`time,turbine,wind,power`). Each stream's rows are a recording
    /// of their own, as a file is (see [`super::Recording::read_streams`]).
    pub stream: Option<Column>,
    /// Which stream's rows to read (`None`: the first the file names).
    pub only_stream: Option<String>,
    /// The rows are one device's, whatever a column looks like (no column
    /// naming devices in turn is looked for).
    pub one_stream: bool,
    /// Several topics' rows merged (a ROS bag, a CAN log): only the rows
    /// where this column has a value are read, the other chosen columns'
    /// empty cells taking their latest value (see `topics`).
    pub rows_of: Option<Column>,
    /// Read the rows on one clock, a tick every this many seconds, each
    /// channel's latest value held (a recording of changes: see `resample`).
    pub every: Option<f64>,
    /// One row per channel and change: the column naming the channel
    /// (`--input`/`--output` name channels then) and the one holding its
    /// value (`entity_id`, `state`).
    pub names: Option<(Column, Column)>,
    /// The data rows that will be used (`publish --start-seq --count`): a
    /// bad cell outside them is skipped, not refused (`None`: every row).
    pub used_rows: Option<std::ops::Range<usize>>,
    /// Read on a clock without `max_gap`: a regular logger's rows hold a
    /// value three of their steps at most (`false`: until the next change,
    /// as a model trained before that reads them).
    pub logger_hold: bool,
    /// Stretches of time left out (`--exclude FROM..TO`).
    pub exclude: Vec<super::Exclude>,
}

impl Default for CsvOptions {
    /// The two-column file of earlier versions: input in column 0, output in 1.
    fn default() -> Self {
        Self {
            input: Column::Index(0),
            output: Column::Index(1),
            delimiter: None,
            skip_bad_rows: false,
            missing: Vec::new(),
            decimal: None,
            time: Vec::new(),
            max_gap: None,
            date_order: None,
            time_zone: None,
            skip_lines: 0,
            stream: None,
            only_stream: None,
            one_stream: false,
            rows_of: None,
            every: None,
            names: None,
            used_rows: None,
            logger_hold: true,
            exclude: Vec::new(),
        }
    }
}

impl CsvOptions {
    /// The same options, reading local stamps in `zone`.
    pub fn zoned(&self, zone: super::Zone) -> Self {
        Self {
            time_zone: Some(zone),
            ..self.clone()
        }
    }
}
