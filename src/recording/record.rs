//! What reading a recording found: its two channels, by segment, and
//! what was seen on the way (how it was read, its time column, skipped
//! rows, its stream within a file of several).

use std::path::PathBuf;

use serde::Serialize;

use super::{DateOrder, Decimal, Segment};

/// One file's two channels, and what reading it found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Recording {
    pub path: PathBuf,
    /// Header names of the two channels (or `column N` without a header).
    pub input_name: String,
    pub output_name: String,
    /// Where the units came from (`read_as` says it).
    #[serde(skip)]
    pub units_from: Option<&'static str>,
    /// Their units, where the file gives them in a row of their own (a
    /// TOA5 logger file); see [`Recording::output_unit`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_unit: Option<String>,
    /// The channels' 0-based columns (the same one for `publish`).
    #[serde(skip)]
    pub input_index: usize,
    #[serde(skip)]
    pub output_index: usize,
    pub delimiter: char,
    pub header: bool,
    /// The text encoding the file was read as (`UTF-8`, `Windows-1252`, …).
    pub encoding: &'static str,
    /// The decimal separator its cells show (`None`: none shows one).
    pub decimal: Option<Decimal>,
    /// Rows read into the channels.
    pub rows: usize,
    /// Rows skipped for a bad cell (`skip_bad_rows`).
    pub skipped: usize,
    /// The first few skipped rows' reasons, for the report.
    pub skipped_examples: Vec<String>,
    /// The time column, when one was read (see [`CsvOptions::time`]).
    pub time_name: Option<String>,
    /// How slashed dates in it were read (given, or what they showed).
    #[serde(skip)]
    pub date_order: Option<DateOrder>,
    /// Read on a clock, a regular logger's rows: the hold chosen where no
    /// `--max-gap` was given (seconds), which the model records as its own.
    #[serde(skip)]
    pub held_s: Option<f64>,
    /// Read on a clock: the input's changes per tick (a live stream's
    /// far more come faster than the model learnt: a replay sped up).
    #[serde(skip)]
    pub changes_per_tick: Option<f64>,
    /// The time column's median step (the sampling interval), seconds.
    pub time_step: Option<f64>,
    /// Steps 1.5 intervals or longer that are not gaps: late or missing
    /// samples that windows span.
    pub late_steps: usize,
    /// Rows whose time is the row before's (kept as samples, not a gap:
    /// `serve` does not restart at a repeated ts), and the first of them.
    pub repeated_times: usize,
    pub first_repeat: Option<usize>,
    /// Rows left out by `--exclude` (the segments split there).
    #[serde(skip_serializing_if = "is_zero")]
    pub excluded: usize,
    /// Rows with a bad cell within an `--exclude` stretch: left out, not
    /// refused (counted among `skipped`, so that rows keep their numbers).
    #[serde(skip_serializing_if = "is_zero")]
    pub excluded_skipped: usize,
    /// Gaps in time the rows were split at, and the first few of them.
    pub time_gaps: usize,
    pub time_gap_examples: Vec<String>,
    /// The data row after each gap, but for those right after skipped
    /// rows (split there already: `time_gaps` counts them too).
    #[serde(skip)]
    pub time_gap_rows: Vec<usize>,
    /// Each data row's time in seconds as the time column reads (`None`
    /// for a skipped row; empty without a time column): `publish` stamps.
    #[serde(skip)]
    pub row_times: Vec<Option<f64>>,
    /// Without a time column named: the flags naming the column(s) of the
    /// first data row that look like time stamps (`--time-column Zeit`).
    #[serde(skip)]
    pub time_hint: Option<String>,
    /// Its columns (0-based) and their names, for `join`, which reads
    /// each file's own.
    #[serde(skip)]
    pub time_guess: Vec<(usize, String)>,
    /// Without a time column named: the input column itself looks like
    /// time stamps (by its cells, or a number under a time-like name): a
    /// default column 0 that is the export's time.
    #[serde(skip)]
    pub input_looks_like_time: bool,
    /// Why the time column's numbers may not be seconds (a warning).
    #[serde(skip)]
    pub time_doubt: Option<String>,
    /// Its stamps are dates in local time (no offset from UTC), which a
    /// clock change shifts by an hour.
    #[serde(skip)]
    pub time_local: bool,
    /// The zone its local stamps were read in (`--time-zone`).
    #[serde(skip)]
    pub time_zone: Option<String>,
    /// And the zone itself, where its stamps were local: times said on
    /// its wall clock, with the offset (see [`Recording::stamp`]).
    #[serde(skip)]
    pub zone: Option<super::Zone>,
    /// A zone was named, but its stamps carry offsets or are numbers.
    #[serde(skip)]
    pub time_zone_unused: bool,
    /// Its stamps are times without a date (`13:05:17`, `0:00.008`): of a
    /// day, or since the recording's start.
    #[serde(skip)]
    pub time_clock: bool,
    /// Its stamps are numbers: the seconds each counts (the unit its name
    /// gives, `t_ms`; else 1), so that a stretch is said as it is written.
    #[serde(skip)]
    pub time_numbers: Option<f64>,
    /// With a stream column (see [`CsvOptions::stream`]): its name, the
    /// stream these rows are of, and every stream the file names, in the
    /// order of their names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip)]
    pub streams: Vec<String>,
    /// Without one: a column that looks like one (see
    /// [`streams::interleaved`]), said in a warning.
    #[serde(skip)]
    pub stream_hint: Option<String>,
    /// The hint is of devices one block after another, where the time goes
    /// back (`retrain` and `eval` refuse such a file read as one); else of
    /// a column that comes round in turn, without a time column to tell a
    /// device from an hour (a warning).
    #[serde(skip)]
    pub stream_blocks: bool,
    /// Rows whose stream cell is empty, skipped (`--skip-bad-rows`): they
    /// are no device's; counted on the file's first stream, with the line
    /// of the first.
    #[serde(skip_serializing_if = "is_zero")]
    pub unnamed_rows: usize,
    #[serde(skip)]
    pub first_unnamed_line: Option<u64>,
    /// `--rows-of`: the column whose rows were read, and how many of the
    /// file's (the others' rows remembered for their latest values).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_of: Option<(String, usize)>,
    /// Where a chosen column is empty on rows another has values on (rows
    /// of several topics merged), or with `--rows-of` held a stale value
    /// long: said in a warning.
    #[serde(skip)]
    pub topics_note: Option<String>,
    /// What reading the file found that its rows alone do not show (a
    /// TOA5 logger's table changed mid-file): warned with the channels'.
    #[serde(skip)]
    pub read_notes: Vec<String>,
    /// Read on one clock from its changes (`--every`): how, for the data line.
    pub resampled: Option<String>,
    #[serde(skip)]
    pub segments: Vec<Segment>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Why a row is not read.
pub(super) enum Refusal {
    /// A bad channel cell, or a shifted row: `skip_bad_rows` skips it.
    Row(String),
    /// A bad time cell: skipped as well, but the hint names --time-column.
    Time(String),
    /// A cell no convention is decided for: the file's fault, never skipped.
    File(String),
}
