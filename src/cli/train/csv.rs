//! Reading users' recordings on the command line: the flags, and the
//! lines `retrain` and `eval` print about what they read.

use std::path::PathBuf;

use clap::Args;
use pipeline::recording::{Column, CsvOptions, Recording};

use super::args::missing_code;

/// Files from this size on are said as they are read (~1 s of reading).
const LARGE_FILE: u64 = 32 << 20;

/// Reading users' recordings (`retrain`, `eval`, `publish`, `tail` with `--data`).
#[derive(Args, Clone)]
pub(crate) struct CsvArgs {
    /// The column the model reads: a header name or a 0-based index [default: 0].
    #[arg(long, value_name = "COL")]
    pub(crate) input: Option<pipeline::recording::Column>,
    /// The column the model writes: a header name or a 0-based index [default: 1].
    #[arg(long, value_name = "COL")]
    pub(crate) output: Option<pipeline::recording::Column>,
    /// Field delimiter: one character, or `tab` [default: sniffed: tab, `;` or `,`].
    #[arg(long, value_parser = pipeline::recording::parse_delimiter)]
    pub(crate) delimiter: Option<u8>,
    /// Skip (and count) rows whose chosen cells are not numbers, instead of
    /// stopping at the first; windows never span a skipped row.
    #[arg(long)]
    pub(crate) skip_bad_rows: bool,
    /// A number that stands for a missing value in the chosen columns, as
    /// data portals and loggers write one (-9999, -999.9): a cell holding it
    /// is a bad cell, as an empty one (see --skip-bad-rows). Repeat for
    /// several.
    #[arg(long, value_name = "NUMBER", allow_hyphen_values = true, value_parser = missing_code)]
    pub(crate) missing: Vec<f32>,
    /// The decimal separator, `point` or `comma`, for a file none of whose
    /// cells shows it (`"1,000"` only) [default: from the cells].
    #[arg(long, value_parser = pipeline::recording::Decimal::parse)]
    pub(crate) decimal: Option<pipeline::recording::Decimal>,
    /// A stretch of time to leave out, FROM..TO, both stamps written as the
    /// time column writes them (`--exclude '2026-10-27 08:00..2026-10-27
    /// 14:00'`: a planned shutdown, a calibration, a commissioning week),
    /// bounds included: its rows are left out as bad rows are, and no window
    /// spans it. Of every --data file; FILE@FROM..TO of one. Repeatable.
    #[arg(long, value_name = "FROM..TO", value_parser = pipeline::recording::Exclude::parse)]
    pub(crate) exclude: Vec<pipeline::recording::Exclude>,
    /// The time stamp column (a header name or a 0-based index): windows are not made across a gap in time (a
    /// logger stopped) or a clock set back. Seconds, or epoch milliseconds,
    /// microseconds or nanoseconds told by their size (numbers in the unit
    /// the column's name gives: t_ms, Time [ms], elapsed_us); ISO 8601 such as
    /// 2026-01-01T12:00:00, with or without an offset (Z, +01:00);
    /// DD.MM.YYYY hh:mm:ss; 04-Dec-2024 13:05:17 (plant historians; month names in English, German, French, Spanish, Italian or Dutch);
    /// a time since the start, 0:00.008 or [00:00:00.008]; or slashed dates, 3/1/2026 12:10 AM or
    /// 01/03/2026 00:10 (see --date-order). Give it twice when the date and the time of day
    /// are separate columns (`--time-column Datum --time-column Uhrzeit`).
    #[arg(long, value_name = "COL")]
    pub(crate) time_column: Vec<pipeline::recording::Column>,
    /// With --time-column, the longest step between rows that is not a gap
    /// (e.g. 5m) [default: three times the median step].
    // Not `requires = "time_column"`: `eval` takes the time column from
    // training; the reader refuses a gap without a time column.
    #[arg(long, value_parser = pipeline::config::parse_duration_with_unit)]
    pub(crate) max_gap: Option<std::time::Duration>,
    /// In slashed dates, `dmy` (31/12/2026) or `mdy` (12/31/2026) [default:
    /// what the dates show: a day past the 12th]
    #[arg(long, value_parser = pipeline::recording::DateOrder::parse)]
    pub(crate) date_order: Option<pipeline::recording::DateOrder>,
    /// The zone of a time column's stamps written without an offset from
    /// UTC, an IANA name (Europe/Berlin) or a fixed offset (UTC-08:00): the
    /// instants they were, across daylight-saving changes [default: UTC,
    /// and said; eval: what training was given]
    #[arg(long, value_name = "ZONE", allow_hyphen_values = true, value_parser = pipeline::recording::Zone::parse)]
    pub(crate) time_zone: Option<pipeline::recording::Zone>,
    /// Lines at the top of the file that are no part of the table, such as
    /// a logger's preamble above the header (`Test name: cell_07`) [default:
    /// 0, or for `eval` what training was given; lines starting with `#` are
    /// skipped anyway].
    #[arg(long, value_name = "N")]
    pub(crate) skip_lines: Option<usize>,
    /// The column naming each row's device, for an export of several in one
    /// file (`time,turbine,wind,power`: a row per turbine and time): each
    /// stream's rows are read as a recording of their own, as a file's are
    /// (`publish` sends each under its own key); `none`: the rows are one
    /// device's [eval: what training was given].
    #[arg(long, value_name = "COL", value_parser = stream_column)]
    pub(crate) stream_column: Option<StreamColumn>,
    /// For rows of several topics at different rates in one file (a ROS bag
    /// merged by PlotJuggler, a CAN log: a column is empty on the rows of
    /// the others' messages): read only the rows where COL has a value (its
    /// topic's clock), each other chosen column taking its latest value, as
    /// a subscriber to both topics sees them [eval: what training was given].
    #[arg(long, value_name = "COL")]
    pub(crate) rows_of: Option<Column>,
    /// For a recording of changes (Home Assistant, a historian or logger
    /// that writes a row only where a value changed): read it on one clock,
    /// a row every DUR (e.g. 1m), each channel's latest value held until its
    /// next change; a value that is no number (`unavailable`) ends the hold.
    /// Needs --time-column [eval: what training was given].
    #[arg(long, value_name = "DUR", requires = "time_column", value_parser = pipeline::config::parse_duration_with_unit)]
    pub(crate) resample: Option<std::time::Duration>,
    /// For one row per channel and change (`entity_id,state,last_changed`: a
    /// Home Assistant history export; long format): the column naming each
    /// row's channel; --input and --output then name channels
    /// (`sensor.air_temperature`), --value-column the column of their
    /// values. Needs --resample [eval: what training was given].
    #[arg(long, value_name = "COL", requires_all = ["value_column", "resample"])]
    pub(crate) name_column: Option<Column>,
    /// With --name-column: the column holding each row's value (`state`).
    #[arg(long, value_name = "COL", requires = "name_column")]
    pub(crate) value_column: Option<Column>,
    /// Hold each value until its next change whatever the rows' rate (a
    /// model trained before a regular logger's rows were held three steps
    /// at most, as `eval` reads for it).
    #[arg(skip)]
    pub(crate) unbounded_holds: bool,
}

/// `--stream-column`: a column, or `none`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamColumn {
    /// The rows are one device's (a model trained on several, scored on
    /// one device's export; or a column taken for one that is not).
    None,
    Column(Column),
}

fn stream_column(s: &str) -> Result<StreamColumn, String> {
    match s.trim() {
        none if none.eq_ignore_ascii_case("none") => Ok(StreamColumn::None),
        c => c.parse().map(StreamColumn::Column),
    }
}

impl StreamColumn {
    pub(crate) fn column(&self) -> Option<&Column> {
        match self {
            Self::None => None,
            Self::Column(c) => Some(c),
        }
    }
}

/// Training or scoring on recordings (`retrain`, `eval`).
#[derive(Args)]
pub(crate) struct RecordingArgs {
    /// A recording (CSV, one sample per row); repeat for several. Windows
    /// never span two files.
    #[arg(long, value_name = "FILE")]
    pub(crate) data: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) csv: CsvArgs,
    /// Fraction of each file held out (its last rows): early stopping and
    /// the comparison with the baselines use it; the rest fits the scaling
    /// and the baselines. [default: 0.2; eval: the fraction the model was
    /// trained with]
    #[arg(long, value_parser = fraction)]
    pub(crate) validate: Option<f64>,
}

impl RecordingArgs {
    /// What clap cannot check: a file named twice, and the reading flags
    /// ([`CsvArgs::check`]).
    pub(crate) fn check(&self) -> Result<(), super::Usage> {
        self.check_files()?;
        self.csv.check()
    }

    /// A file named twice would have its windows counted twice.
    pub(crate) fn check_files(&self) -> Result<(), super::Usage> {
        for (i, d) in self.data.iter().enumerate() {
            let same = |e: &PathBuf| {
                e == d || matches!((e.canonicalize(), d.canonicalize()), (Ok(x), Ok(y)) if x == y)
            };
            if self.data[..i].iter().any(same) {
                return Err(super::Usage(format!(
                    "--data names {} twice: its windows would count twice",
                    d.display()
                )));
            }
        }
        // A copy under another name, byte for byte, is the same file twice.
        let ids: Vec<Option<String>> = self.data.iter().map(|d| file_id(d)).collect();
        for (i, id) in ids.iter().enumerate() {
            let Some(id) = id else { continue };
            if let Some(j) = ids[..i].iter().position(|e| e.as_ref() == Some(id)) {
                return Err(super::Usage(format!(
                    "{} and {} hold the same bytes: their windows would count twice (give one)",
                    self.data[j].display(),
                    self.data[i].display()
                )));
            }
        }
        Ok(())
    }

    /// Says a large file is being read: a few hundred megabytes take
    /// seconds before the first line of output (reading, checking each
    /// cell, windowing), which looked like a hang.
    pub(crate) fn say_large_files(&self) {
        for d in &self.data {
            let bytes = std::fs::metadata(d).map_or(0, |m| m.len());
            if bytes >= LARGE_FILE {
                eprintln!("reading {} ({:.0} MB) …", d.display(), bytes as f64 / 1e6);
            }
        }
    }
}

impl CsvArgs {
    /// `--max-gap` measures gaps in a time column: without one it means
    /// nothing (`eval` checks after taking the column from training).
    pub(crate) fn check(&self) -> Result<(), super::Usage> {
        if self.max_gap.is_some() && self.time_column.is_empty() {
            return Err(super::Usage(
                "--max-gap needs --time-column: the column whose gaps it measures".into(),
            ));
        }
        if self.date_order.is_some() && self.time_column.is_empty() {
            return Err(super::Usage(
                "--date-order needs --time-column: the column whose dates it reads".into(),
            ));
        }
        if self.time_zone.is_some() && self.time_column.is_empty() {
            return Err(super::Usage(
                "--time-zone needs --time-column: the column whose stamps it reads".into(),
            ));
        }
        if let [date, clock] = &self.time_column[..]
            && date == clock
        {
            return Err(super::Usage(format!(
                "--time-column names {date} twice: give it once, or a date's column then its \
                 time of day's"
            )));
        }
        Ok(())
    }

    pub(crate) fn options(&self) -> pipeline::recording::CsvOptions {
        let d = pipeline::recording::CsvOptions::default();
        pipeline::recording::CsvOptions {
            input: self.input.clone().unwrap_or(d.input),
            output: self.output.clone().unwrap_or(d.output),
            delimiter: self.delimiter,
            skip_bad_rows: self.skip_bad_rows,
            missing: self.missing.clone(),
            decimal: self.decimal,
            time: self.time_column.clone(),
            max_gap: self.max_gap.map(|d| d.as_secs_f64()),
            date_order: self.date_order,
            time_zone: self.time_zone.clone(),
            skip_lines: self.skip_lines.unwrap_or(0),
            stream: self
                .stream_column
                .as_ref()
                .and_then(StreamColumn::column)
                .cloned(),
            only_stream: None,
            one_stream: self.stream_column == Some(StreamColumn::None),
            rows_of: self.rows_of.clone(),
            every: self.resample.map(|d| d.as_secs_f64()),
            names: self.name_column.clone().zip(self.value_column.clone()),
            used_rows: None,
            logger_hold: !self.unbounded_holds,
            exclude: self.exclude.clone(),
        }
    }

    /// What `publish` reads: the input column as both channels, so that
    /// `--skip-bad-rows` skips only rows whose input cell is bad (it sends
    /// nothing else), whatever `--output` says.
    pub(crate) fn input_only(&self) -> CsvArgs {
        let input = self
            .input
            .clone()
            .unwrap_or(pipeline::recording::CsvOptions::default().input);
        CsvArgs {
            input: Some(input.clone()),
            output: Some(input),
            ..self.clone()
        }
    }
}

/// A warning when a file's channels are named otherwise than the first
/// file's (columns chosen by index in files whose columns are in another
/// order: one model input would mix a pedal in % and a speed in km/h).
pub(crate) fn unlike_first(
    first: &pipeline::recording::Recording,
    r: &pipeline::recording::Recording,
) -> Option<String> {
    let differ = |a: &str, b: &str| !pipeline::eval::same_channel(a, b);
    let sides = [
        ("input", &r.input_name, &first.input_name),
        ("output", &r.output_name, &first.output_name),
    ];
    let (side, here, there) = sides
        .into_iter()
        .find(|(_, a, b)| r.header && first.header && differ(a, b))?;
    Some(format!(
        "its {side} column is {here:?}, the first file's {there:?}: one channel of the model \
         would hold both; choose the columns by name (--{side} NAME) where the files' columns \
         are in another order"
    ))
}

/// A warning when the two channels are one column: the model would learn
/// to copy its input, which says nothing about the recording.
pub(crate) fn identity_warning(r: &pipeline::recording::Recording) -> Option<String> {
    (r.input_index == r.output_index).then(|| {
        format!(
            "--input and --output are the same column ({:?}, index {}): the model would learn \
             the identity",
            r.input_name, r.input_index
        )
    })
}

/// Which rows of a file a command scores, for its data line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scored {
    /// `retrain`: its training rows and the held-out rest.
    Training,
    /// `eval`: the held-out rows.
    HeldOut,
    /// `eval` on a recording the model never saw: every row.
    Whole,
}

/// A file's `data` line: its rows (with `Training`, the training part's
/// too), the held-out part and the row it starts at (data rows, skipped ones
/// counted: `publish --start-seq N` replays it from row N), rows skipped,
/// the time column's gaps and cadence, and the two columns.
/// `before`: the line above's recording. A stream of the same file read
/// the same way (an export of twelve devices) is not said twice how.
/// Gaps in time the data line says, the first of them.
const GAPS_SAID: usize = 3;

pub(crate) fn data_line(
    f: &pipeline::fit::FileSummary,
    part: Scored,
    before: Option<&pipeline::fit::FileSummary>,
) -> String {
    let r = &f.recording;
    let from = f
        .validation_from_row
        .map_or_else(String::new, |row| format!(" from row {row}"));
    // (A resampled file's skipped rows are its ticks without both values,
    // which its note counts.)
    let skipped = match r.skipped - r.excluded_skipped.min(r.skipped) {
        _ if r.resampled.is_some() => String::new(),
        0 => String::new(),
        n => format!(", {n} bad rows skipped"),
    };
    let cadence = r.cadence().map_or(String::new(), |c| format!(", {c}"));
    let gaps = match (&r.time_name, r.time_gaps) {
        (None, _) => String::new(),
        // Read on a clock: the ticks without both values split it (its
        // note counts them), not gaps between rows.
        (Some(_), 0) if r.resampled.is_some() && r.skipped > 0 => format!(
            ", split where a tick has no value of both ({} ticks){cadence}",
            r.skipped
        ),
        (Some(t), 0) => format!(", no gap in {t:?}{cadence}"),
        // The first few, each with its stamps: a logger offline for
        // three days was in the report only, behind a clock reset.
        (Some(t), n) => {
            let said = &r.time_gap_examples[..r.time_gap_examples.len().min(GAPS_SAID)];
            let more = match n.saturating_sub(said.len()) {
                0 => String::new(),
                m => format!("; {m} more"),
            };
            let sparse = r.sparse_note().unwrap_or_default();
            format!(
                ", split at {n} gap(s) in {t:?} ({}{more}{sparse}){cadence}",
                said.join("; ")
            )
        }
    };
    let skipped = match (r.excluded + r.excluded_skipped, r.excluded_skipped) {
        (0, _) => skipped,
        (n, 0) => format!("{skipped}, {n} rows left out (--exclude)"),
        (n, bad) => format!(
            "{skipped}, {n} rows left out (--exclude; {bad} of them with bad cells, not among \
             the rows counted)"
        ),
    };
    let held = format!("{} held out{from}{skipped}{gaps}", f.validation_rows);
    // `--rows-of`: one topic's rows among several topics'.
    let of = r.rows_of.as_ref().map_or(String::new(), |(name, all)| {
        format!(" of {name:?} (among the file's {all}; the other columns at their latest values)")
    });
    // `--resample`: ticks of one clock, read from changes.
    let of = r.resampled.as_ref().map_or(of, |note| format!(" ({note})"));
    let rows = match part {
        Scored::Training => format!("{} rows{of} ({} train, {held})", r.rows, f.train_rows),
        Scored::HeldOut => format!("{} rows{of}, {held}", r.rows),
        Scored::Whole => match f.training_rows_found {
            None => {
                let all = if r.excluded > 0 { "the rest" } else { "all" };
                format!(
                    "{} rows{of}, {all} scored (never trained on){skipped}{gaps}",
                    r.rows
                )
            }
            Some(_) => format!(
                "{} rows{of}, {} of them the model's training rows (found by their values: not \
                 scored), the windows clear of them scored{skipped}{gaps}",
                r.rows, f.train_rows
            ),
        },
    };
    // Rows, but not a window's worth in a row (a device that reported
    // for a few minutes): nothing of it is trained on or scored.
    let none = match (f.windows, f.training_rows_found) {
        ([0, 0], None) => {
            ", too few rows in a row for one window: none of them trained on or scored"
        }
        _ => "",
    };
    let how = format!("{:?} → {:?} ({})", r.input_name, r.output_name, r.read_as());
    let said = before.is_some_and(|b| {
        let b = &b.recording;
        b.path == r.path
            && format!("{:?} → {:?} ({})", b.input_name, b.output_name, b.read_as()) == how
    });
    match said {
        true => format!("data       {}: {rows}{none}", r.source()),
        false => format!("data       {}: {rows}{none}, {how}", r.source()),
    }
}

/// A fraction in [0, 1).
pub(super) fn fraction(s: &str) -> std::result::Result<f64, String> {
    // `0,1` as a decimal comma writes it: a fraction has no thousands.
    match s.replacen(',', ".", 1).parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("must be in [0, 1), got {v}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The output channel's unit, when its column name says it (the first
/// file's: files of one logger name it alike).
pub(crate) fn unit(prepared: &pipeline::fit::Prepared) -> Option<&str> {
    let first = prepared.recordings.first()?;
    first.recording.output_unit()
}

/// Where most of a model's error changes more slowly than its window (an
/// offset through each window, a bias): what it misses, in the output's
/// unit and the recording's time.
pub(crate) fn slow_error(
    c: &pipeline::eval::Comparison,
    window: usize,
    prepared: &pipeline::fit::Prepared,
) -> Option<String> {
    let step = prepared
        .recordings
        .iter()
        .find_map(|f| f.recording.time_step);
    // An undertrained model's bias is its own, not the data's level.
    if c.still_improving && !c.error_parts.follows() {
        return None;
    }
    (c.error_parts).warning(c.model.nmse, window, step, unit(prepared))
}

/// A recording's content id ([`pipeline::format::content_id`]); `None`
/// when it cannot be read (reading it for training says why).
pub(crate) fn file_id(path: &std::path::Path) -> Option<String> {
    pipeline::recording::file_bytes(path)
        .ok()
        .map(|b| pipeline::format::content_id(&b))
}

/// What `retrain` says of a file read without a time column when one
/// looks like time stamps: read with it, whether its stamps show a gap
/// that the windows now span (or that they show none).
pub(crate) fn time_hint(files: &[pipeline::fit::FileSummary], opts: &CsvOptions) -> Option<String> {
    let hinted: Vec<&Recording> = (files.iter())
        .map(|f| &f.recording)
        .filter(|r| r.time_hint.is_some())
        .collect();
    let flags = hinted.first()?.time_hint.clone().unwrap_or_default();
    let generic = format!(
        "rows are read as if one followed another without a break: {flags} would split them \
         where the time stamps jump (a logger stopped, a clock change)"
    );
    // The flags name the columns as `--time-column NAME` (quoted if need be).
    let columns: Option<Vec<Column>> = (flags.split("--time-column "))
        .map(|c| c.trim().trim_matches('"'))
        .filter(|c| !c.is_empty())
        .map(|c| c.parse().ok())
        .collect();
    let with_time = CsvOptions {
        time: columns.unwrap_or_default(),
        max_gap: None,
        ..opts.clone()
    };
    // Every file the hint applies to, read with the column: the gaps of all.
    let probes: Option<Vec<Recording>> = (hinted.iter())
        .filter(|r| r.time_hint.as_deref() == Some(flags.as_str()))
        .map(|r| {
            let only = CsvOptions {
                only_stream: r.stream.clone(),
                ..with_time.clone()
            };
            Recording::read(&r.path, &only).ok()
        })
        .collect();
    let Some(probes) = probes else {
        return Some(generic);
    };
    // Those the windows span: not a gap right after a skipped row.
    let spanned = |p: &Recording| p.time_gap_rows.len();
    let gaps: usize = probes.iter().map(spanned).sum();
    let first = probes.iter().find(|p| spanned(p) > 0);
    Some(match first {
        Some(p) => {
            let example = p.time_gap_examples.first().map_or("", String::as_str);
            // With several files, which of them, and the first one's name.
            let (files, example) = match probes.len() {
                1 => (String::new(), example.to_string()),
                n => (
                    format!(
                        " in {} of the {n} files",
                        probes.iter().filter(|p| spanned(p) > 0).count()
                    ),
                    format!("the first: {}: {example}", p.path.display()),
                ),
            };
            format!(
                "the time stamps in {:?} show {gaps} gap(s) in time{files} ({example}), which the \
                 windows span: rows are read as if one followed another; {flags} splits them there",
                p.time_name.as_deref().unwrap_or("the time column"),
            )
        }
        None => format!(
            "{flags} looks like time stamps and shows no gap in time here: naming it checks \
             {} and later ones (eval) for gaps",
            if probes.len() == 1 {
                "this file"
            } else {
                "these files"
            }
        ),
    })
}

/// A file whose rows are several devices' one block after another (the
/// time goes back where a column of names changes), read as one recording
/// (no `--stream-column`): refused, naming the flag, and `none` for rows
/// that are one device's after all. Its held-out part would be the last
/// devices' rows. (Devices in turn, a time's rows one per device, are
/// refused for their repeated stamps; without a time column, nothing tells
/// a device's column from an hour's, and they are warned of.)
pub(crate) fn devices_in_turn(
    csv: &CsvArgs,
    files: &[pipeline::fit::FileSummary],
) -> Result<(), super::Usage> {
    let hinted = files.iter().find_map(|f| {
        let hint = (f.recording.stream_hint.as_ref()).filter(|_| f.recording.stream_blocks)?;
        Some(format!("{}: {hint}", f.recording.source()))
    });
    match (&csv.stream_column, hinted) {
        (None, Some(why)) => Err(super::Usage(format!(
            "{why} (or, if the rows are one device's, --stream-column none)"
        ))),
        _ => Ok(()),
    }
}

/// A recording whose default input column (0, no `--input` given) looks
/// like its time stamps: refused, naming the flag, instead of publishing or
/// training on the clock (an export's first column is often its time).
pub(crate) fn input_not_time(
    csv: &CsvArgs,
    r: &pipeline::recording::Recording,
) -> Result<(), super::Usage> {
    if csv.input.is_some() || !r.input_looks_like_time {
        return Ok(());
    }
    Err(super::Usage(format!(
        "{}: the default input, column 0 ({:?}), looks like time stamps, not a signal: name the \
         column to read with --input (and the time with --time-column {:?})",
        r.path.display(),
        r.input_name,
        r.input_name
    )))
}
