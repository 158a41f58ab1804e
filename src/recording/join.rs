//! Two loggers' files joined on their time stamps (`pipeline join`): an
//! air logger's file holds the input, a soil logger's the output, each on
//! its own clock (launched minutes apart, stopped for a readout at other
//! times). A recording is both channels on one clock, so the files are
//! joined as a subscriber to both would see them: each of the output's
//! rows takes the input's latest value at or before its stamp (an as-of
//! join, as `--rows-of` does within one file), where that value is no
//! older than the input's own gap rule allows; an output row without one
//! (before the input's first row, in its logger's stop) is left out, so
//! that no window spans it. Several files per channel (downloads one after
//! another, overlapping) are one channel: a row two downloads both hold
//! is kept once.

use std::path::{Path, PathBuf};

use super::options::{Column, CsvOptions};
use super::time::{iso, span as span_text};
use super::{Recording, Zone};
use crate::error::{Error, Result};

/// Stamps before 1990 are seconds since a start (a test bench's `t`),
/// written back as numbers; later ones as dates.
const DATED: f64 = 631_152_000.0;
/// Input gaps named in the report.
const GAPS_SAID: usize = 3;

/// One file as the join read it.
#[derive(Debug, Clone)]
pub struct FileRead {
    pub path: PathBuf,
    /// The channels it gave: the input, the output (or both).
    pub channels: [bool; 2],
    pub rows: usize,
    /// Rows skipped for a bad cell (`--skip-bad-rows`: a logger's event
    /// rows, which have no value).
    pub skipped: usize,
    /// Where the flags given did not fit it: the settings it was read
    /// with instead (`no lines skipped (not 3)`).
    pub own: Option<String>,
    /// Its first and last stamps, as the joined file writes them.
    pub span: Option<(String, String)>,
    /// Its median step between rows, seconds.
    pub step: Option<f64>,
}

/// The joined recording and what joining found.
#[derive(Debug, Clone)]
pub struct Joined {
    /// CSV: `time,<input>,<output>`, one row per output row kept.
    pub text: Vec<u8>,
    pub input_name: String,
    pub output_name: String,
    pub files: Vec<FileRead>,
    pub rows: usize,
    /// Output rows left out: before the input's first row, and with the
    /// input's latest value older than `hold` (the input's gaps).
    pub before_input: usize,
    pub stale: usize,
    /// The oldest an input value may be on an output row (the input's own
    /// gap rule: `--max-gap`, or three of its median steps), seconds.
    pub hold: f64,
    /// The input's gaps longer than `hold`, the first few, as `FROM to TO`.
    pub input_gaps: (usize, Vec<String>),
    /// How old the input's value is on the rows kept: median and largest.
    pub age: (f64, f64),
    /// Rows two files of one channel both hold (downloads that overlap):
    /// kept once; and those whose values differ, with the first.
    pub repeats: usize,
    pub conflicts: (usize, Option<String>),
    /// The median steps of the input and the output, seconds.
    pub steps: (Option<f64>, Option<f64>),
    /// How the stamps are written (`ISO 8601 with offsets`, …).
    pub stamps: &'static str,
}

/// How the joined file writes its stamps: as the files' stamps were read.
#[derive(Debug, Clone, PartialEq)]
enum Stamps {
    /// Seconds since a start (no date): numbers.
    Seconds,
    /// Local dates read in no zone: ISO 8601 without an offset.
    Wall,
    /// Instants: ISO 8601 on the zone's wall clock with its offset, or UTC.
    Zoned(Option<Zone>),
}

impl Stamps {
    fn write(&self, t: f64) -> String {
        match self {
            Self::Seconds => format!("{t}"),
            Self::Wall => iso(t, false),
            Self::Zoned(Some(z)) => z.stamp(t),
            Self::Zoned(None) => iso(t, true),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Seconds => "seconds since a start",
            Self::Wall => "local times without an offset",
            Self::Zoned(_) => {
                "instants (stamps with an offset, in UTC, or local ones read in a zone)"
            }
        }
    }

    fn said(&self) -> &'static str {
        match self {
            Self::Seconds => "seconds, as the files' time columns read",
            Self::Wall => "ISO 8601 local times (no offset), as the files wrote them",
            Self::Zoned(Some(_)) => "ISO 8601 with the zone's offset",
            Self::Zoned(None) => "ISO 8601 in UTC (Z)",
        }
    }
}

/// A channel's samples from every file that holds it: (stamp, value).
type Samples = Vec<(f64, f32)>;

/// Joins `files` (each holding `opts.input`, `opts.output` or both, by
/// name) on their time stamps, on the output's clock.
pub fn join(files: &[PathBuf], opts: &CsvOptions) -> Result<Joined> {
    let refuse = |why: String| Err(Error::Data(why));
    let (Column::Name(input), Column::Name(output)) = (&opts.input, &opts.output) else {
        return refuse(
            "join finds each channel by its header name: give --input and --output as names".into(),
        );
    };
    if input == output {
        return refuse(format!(
            "--input and --output both name {input:?}: join tells the files' channels apart by \
             their names (rename the column in one file's header)"
        ));
    }
    if opts.time.is_empty() {
        return refuse(
            "join needs each file's time stamps: name the time column (--time-column)".into(),
        );
    }
    let mut opts = opts.clone();
    let mut channels: [Samples; 2] = [Vec::new(), Vec::new()];
    let mut names = [input.clone(), output.clone()];
    let mut stamps: Option<(Stamps, PathBuf)> = None;
    let mut read = Vec::with_capacity(files.len());
    for path in files {
        let mut file = FileRead {
            path: path.clone(),
            channels: [false; 2],
            rows: 0,
            skipped: 0,
            own: None,
            span: None,
            step: None,
        };
        let mut times: Vec<f64> = Vec::new();
        let got = read::read(path, &opts)?;
        file.own = got.own;
        let mut date_order = None;
        for (k, rec) in got.channels.into_iter().enumerate() {
            let Some(rec) = rec else { continue };
            date_order = date_order.or(rec.date_order);
            let style = style_of(&rec, path)?;
            match &stamps {
                Some((first, from)) if *first != style && !same_kind(first, &style) => {
                    return refuse(format!(
                        "{}'s time stamps are read as {}, {}'s as {}: joined, they would not \
                         be one clock (--time-zone reads local stamps as instants)",
                        path.display(),
                        style.kind(),
                        from.display(),
                        first.kind()
                    ));
                }
                Some(_) => {}
                None => stamps = Some((style, path.clone())),
            }
            names[k] = rec.input_name.clone();
            file.channels[k] = true;
            let samples = samples(&rec);
            file.rows = file.rows.max(samples.len());
            file.skipped = file.skipped.max(rec.skipped);
            times = samples.iter().map(|s| s.0).collect();
            channels[k].extend(samples);
        }
        // (The order of day and month one file's dates show reads the
        // next's, which may lie within the first twelve days of months.)
        opts.date_order = opts.date_order.or(date_order);
        file.step = median_step(&times);
        read.push((file, times));
    }
    for (k, name) in [input, output].into_iter().enumerate() {
        if channels[k].is_empty() {
            return refuse(format!(
                "no file given holds {name:?} (with a time stamp on its rows)"
            ));
        }
    }
    let stamps = stamps.map_or(Stamps::Zoned(None), |(s, _)| s);
    let files = (read.into_iter())
        .map(|(mut f, times)| {
            let first = times.iter().copied().reduce(f64::min);
            let last = times.iter().copied().reduce(f64::max);
            f.span = first
                .zip(last)
                .map(|(a, b)| (stamps.write(a), stamps.write(b)));
            f
        })
        .collect();
    let [mut input_s, mut output_s] = channels;
    let (r_in, c_in) = once_each(&mut input_s, &stamps);
    let (r_out, c_out) = once_each(&mut output_s, &stamps);
    let steps = (
        median_step(&input_s.iter().map(|s| s.0).collect::<Vec<_>>()),
        median_step(&output_s.iter().map(|s| s.0).collect::<Vec<_>>()),
    );
    let hold = opts
        .max_gap
        .or(steps.0.map(|s| 3.0 * s))
        .unwrap_or(f64::INFINITY);
    let mut j = Joined {
        text: Vec::new(),
        input_name: names[0].clone(),
        output_name: names[1].clone(),
        files,
        rows: 0,
        before_input: 0,
        stale: 0,
        hold,
        input_gaps: gaps(&input_s, hold, &stamps),
        age: (0.0, 0.0),
        repeats: r_in + r_out,
        conflicts: (c_in.0 + c_out.0, c_in.1.or(c_out.1)),
        steps,
        stamps: stamps.said(),
    };
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>, row: [&str; 3]| {
        out.write_record(row)
            .map_err(|e| Error::Data(format!("joining: {e}")))
    };
    write(&mut out, ["time", &j.input_name, &j.output_name])?;
    let mut ages = Vec::with_capacity(output_s.len());
    let mut at = 0usize;
    for &(t, y) in &output_s {
        while at + 1 < input_s.len() && input_s[at + 1].0 <= t {
            at += 1;
        }
        match input_s.get(at) {
            Some(&(ti, _)) if ti > t => j.before_input += 1,
            Some(&(ti, _)) if t - ti > hold => j.stale += 1,
            Some(&(ti, x)) => {
                ages.push(t - ti);
                write(
                    &mut out,
                    [&stamps.write(t), &format!("{x}"), &format!("{y}")],
                )?;
                j.rows += 1;
            }
            None => j.before_input += 1,
        }
    }
    if !ages.is_empty() {
        let largest = ages.iter().copied().fold(0.0, f64::max);
        let mid = ages.len() / 2;
        let (_, median, _) = ages.select_nth_unstable_by(mid, f64::total_cmp);
        j.age = (*median, largest);
    }
    if j.rows == 0 {
        let span = |k: usize| {
            let f = j
                .files
                .iter()
                .filter(|f| f.channels[k])
                .filter_map(|f| f.span.clone());
            let (a, b): (Vec<String>, Vec<String>) = f.unzip();
            format!("{} to {}", a.join(", "), b.join(", "))
        };
        return refuse(format!(
            "no output row has an input value within {} before it: the input's rows lie {}, \
             the output's {}",
            span_text(hold),
            span(0),
            span(1)
        ));
    }
    j.text = out
        .into_inner()
        .map_err(|e| Error::Data(format!("joining: {e}")))?;
    Ok(j)
}

impl Joined {
    /// The `retrain` that trains on the joined file at `out`.
    pub fn next(&self, out: &Path) -> String {
        let word = super::resample::word;
        let model = out.with_extension("safetensors");
        format!(
            "pipeline retrain --data {} --time-column time --input {} --output {} --out {}",
            word(&out.display().to_string()),
            word(&self.input_name),
            word(&self.output_name),
            word(&model.display().to_string())
        )
    }

    /// What joining read and did, a line each, and what the user should
    /// look at (warnings).
    pub fn said(&self) -> (Vec<String>, Vec<String>) {
        let (mut lines, mut warnings) = (Vec::new(), Vec::new());
        for f in &self.files {
            let of = match f.channels {
                [true, true] => format!("{:?} and {:?}", self.input_name, self.output_name),
                [true, false] => format!("{:?} (the input)", self.input_name),
                _ => format!("{:?} (the output)", self.output_name),
            };
            let span = f
                .span
                .as_ref()
                .map_or(String::new(), |(a, b)| format!(", {a} to {b}"));
            let step = f
                .step
                .map_or(String::new(), |s| format!(", a row every {}", span_text(s)));
            let mut skipped = match f.skipped {
                0 => String::new(),
                n => format!(" ({n} rows skipped as bad rows)"),
            };
            if let Some(own) = &f.own {
                skipped += &format!("; the flags given do not fit it: read with {own}");
            }
            lines.push(format!(
                "{}: {} rows of {of}{span}{step}{skipped}",
                f.path.display(),
                f.rows
            ));
        }
        let age = |a: f64| match a {
            0.0 => "the same instant".to_string(),
            a => format!("{} older", span_text(a)),
        };
        lines.push(format!(
            "joined on the output's clock: {} rows, each with the input's latest value, {} as a \
             rule (at most {}); stamps in {}",
            self.rows,
            age(self.age.0),
            age(self.age.1),
            self.stamps
        ));
        if self.before_input + self.stale > 0 {
            let mut why = Vec::new();
            if self.before_input > 0 {
                why.push(format!(
                    "{} before the input's first row",
                    self.before_input
                ));
            }
            if self.stale > 0 {
                let (n, said) = &self.input_gaps;
                let more = n.saturating_sub(said.len());
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                why.push(format!(
                    "{} with no input value within {} before them (the input's gaps: {}{more}; \
                     --max-gap sets how old a value may be)",
                    self.stale,
                    span_text(self.hold),
                    said.join(", ")
                ));
            }
            lines.push(format!(
                "left out: {} output rows, {}: no window spans them",
                self.before_input + self.stale,
                why.join("; ")
            ));
        }
        if self.repeats > 0 {
            lines.push(format!(
                "{} rows two files of one channel both hold (downloads that overlap) kept once",
                self.repeats
            ));
        }
        if let (n @ 1.., Some(first)) = &self.conflicts {
            let stamps = if *n == 1 { "stamp has" } else { "stamps have" };
            warnings.push(format!(
                "{n} {stamps} other values in two files of one channel, such as {first}: the \
                 later file's kept (a download after a correction; give the files oldest \
                 first), or two loggers' files given as one channel's?"
            ));
        }
        if let (Some(i), Some(o)) = self.steps
            && (i / o - 1.0).abs() > 0.1
        {
            warnings.push(format!(
                "the input comes every {}, the output every {}: a model trained on the joined \
                 rows reads the input every {}, so it must be served the input at that rate",
                span_text(i),
                span_text(o),
                span_text(o)
            ));
        }
        (lines, warnings)
    }
}

/// How a file's stamps were read, as the joined file writes them; a file
/// whose stamps are times of day without a date is refused.
fn style_of(rec: &Recording, path: &Path) -> Result<Stamps> {
    if rec.time_clock {
        return Err(Error::Data(format!(
            "{}: its time stamps are times without a date: another logger's rows cannot be \
             placed beside them",
            path.display()
        )));
    }
    let last = rec
        .row_times
        .iter()
        .flatten()
        .copied()
        .fold(f64::MIN, f64::max);
    Ok(if last < DATED {
        Stamps::Seconds
    } else if rec.time_local {
        Stamps::Wall
    } else {
        // Local stamps read in a zone (given, or the column's name's): on
        // its wall clock again; instants from the file: in UTC.
        Stamps::Zoned(rec.zone.clone())
    })
}

/// Instants are one clock whether a file's were written in a zone or in
/// UTC: the first file's way of writing them is kept.
fn same_kind(a: &Stamps, b: &Stamps) -> bool {
    matches!((a, b), (Stamps::Zoned(_), Stamps::Zoned(_)))
}

/// A recording's rows (kept, not left out) with their stamps.
fn samples(rec: &Recording) -> Samples {
    let mut out = Vec::with_capacity(rec.rows);
    for s in &rec.segments {
        for (k, &v) in s.input.iter().enumerate() {
            if let Some(Some(t)) = rec.row_times.get(s.start + k) {
                out.push((*t, v));
            }
        }
    }
    out
}

/// Sorts a channel's samples by time and keeps one of each stamp (the
/// later file's: a download after a correction): how many were repeats,
/// and how many of those differed (with the first such stamp).
fn once_each(s: &mut Samples, stamps: &Stamps) -> (usize, (usize, Option<String>)) {
    s.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut repeats, mut differ, mut first) = (0, 0, None);
    let mut kept: Samples = Vec::with_capacity(s.len());
    for &(t, v) in s.iter() {
        match kept.last_mut() {
            Some((tk, vk)) if *tk == t => {
                repeats += 1;
                if vk.to_bits() != v.to_bits() {
                    differ += 1;
                    first.get_or_insert_with(|| format!("{}: {vk}, then {v}", stamps.write(t)));
                }
                *vk = v;
            }
            _ => kept.push((t, v)),
        }
    }
    *s = kept;
    (repeats, (differ, first))
}

/// The median step forward between stamps in time order.
fn median_step(times: &[f64]) -> Option<f64> {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut steps: Vec<f64> = sorted
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&d| d > 0.0)
        .collect();
    if steps.is_empty() {
        return None;
    }
    let mid = steps.len() / 2;
    let (_, m, _) = steps.select_nth_unstable_by(mid, f64::total_cmp);
    Some(*m)
}

/// The input's steps longer than `hold`: how many, and the first few.
fn gaps(input: &Samples, hold: f64, stamps: &Stamps) -> (usize, Vec<String>) {
    let long: Vec<(f64, f64)> = (input.windows(2))
        .filter(|w| w[1].0 - w[0].0 > hold)
        .map(|w| (w[0].0, w[1].0))
        .collect();
    let said = (long.iter().take(GAPS_SAID))
        .map(|&(a, b)| format!("{} to {}", stamps.write(a), stamps.write(b)))
        .collect();
    (long.len(), said)
}

mod read;
#[cfg(test)]
mod tests;
