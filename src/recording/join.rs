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
    /// What its time column's stamps leave in doubt (a local standard
    /// time read in a zone that moves its clocks), for a warning.
    pub doubt: Option<String>,
}

/// The joined recording and what joining found.
#[derive(Debug, Clone)]
pub struct Joined {
    /// CSV: `time,<input>,<output>`, one row per output row kept; first,
    /// where the input came at another rate, a comment line with the clock
    /// it was held on ([`JoinClock`]).
    pub text: Vec<u8>,
    pub input_name: String,
    pub output_name: String,
    pub files: Vec<FileRead>,
    pub rows: usize,
    /// Output rows left out: before the input's first row, and with the
    /// input's latest value older than `hold` (the input's gaps).
    pub before_input: usize,
    pub stale: usize,
    /// Output rows after the input's last row by more than `hold`.
    pub after_input: usize,
    /// Rows written with an empty input cell: in a short break of the input
    /// (a bad row skipped), among `rows`.
    pub blank: usize,
    /// The oldest an input value may be on an output row (the input's own
    /// gap rule: `--max-gap`, or three of its median steps), seconds.
    pub hold: f64,
    /// The input's breaks (gaps longer than `hold`, skipped rows, stretches
    /// left out), the first few, as `FROM to TO`.
    pub input_gaps: (usize, Vec<String>),
    /// Rows that repeat a stamp of their own file (a clock set back an
    /// hour, local stamps read in no zone?): how many, the first.
    pub own_repeats: (usize, Option<String>),
    /// What they most likely are: rows sent again with their values, a
    /// clock change of local stamps, or another value at one instant.
    pub own_cause: &'static str,
    /// The stamps are seconds since a start, the files' starts taken as
    /// one (said: right only where one clock started both).
    pub seconds: bool,
    /// How old the input's value is on the rows kept: median and largest.
    pub age: (f64, f64),
    /// Rows two files of one channel both hold (downloads that overlap):
    /// kept once; and those whose values differ, with the first.
    pub repeats: usize,
    pub conflicts: (usize, Option<String>),
    /// The steps of the input and the output, seconds (`median_step`).
    pub steps: (Option<f64>, Option<f64>),
    /// How the stamps are written (`ISO 8601 with offsets`, …).
    pub stamps: &'static str,
    /// Where the output's rows lie in each of its steps from the epoch
    /// (seconds; `None`: on the epoch's grid, or stamps with no date).
    pub phase: Option<f64>,
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

/// One row of a channel: its stamp, its value, the file it came from (its
/// place among those given), and whether the channel breaks after it (a
/// gap in time, skipped rows, a stretch left out: no window spans it).
#[derive(Debug, Clone, Copy)]
struct Sample {
    t: f64,
    v: f32,
    file: usize,
    brk: bool,
}

/// A channel's samples from every file that holds it.
type Samples = Vec<Sample>;

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
    let mut channels: [Samples; 2] = [Vec::new(), Vec::new()];
    let mut names = [input.clone(), output.clone()];
    let mut stamps: Option<(Stamps, PathBuf)> = None;
    let mut read = Vec::with_capacity(files.len());
    for (index, path) in files.iter().enumerate() {
        let mut file = FileRead {
            path: path.clone(),
            channels: [false; 2],
            rows: 0,
            skipped: 0,
            own: None,
            span: None,
            step: None,
            doubt: None,
        };
        let mut times: Vec<f64> = Vec::new();
        let got = read::read(path, opts)?;
        file.own = got.own;
        for (k, rec) in got.channels.into_iter().enumerate() {
            let Some(rec) = rec else { continue };
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
            let column = rec.time_name.as_deref().unwrap_or("time");
            let doubt = (rec.time_doubt.as_ref()).map(|d| format!("column {column:?}: {d}"));
            file.doubt = file.doubt.take().or(doubt);
            let samples = samples(&rec, index);
            file.rows = file.rows.max(samples.len());
            file.skipped = file.skipped.max(rec.skipped);
            times = samples.iter().map(|s| s.t).collect();
            channels[k].extend(samples);
        }
        // (Not the order of day and month one file's dates show for the
        // next, as `retrain` carries it: another logger's, a US export
        // beside a European one, may write them the other way round.)
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
    let (r_in, c_in, o_in) = once_each(&mut input_s, &stamps);
    let (r_out, c_out, o_out) = once_each(&mut output_s, &stamps);
    let steps = (
        median_step(&input_s.iter().map(|s| s.t).collect::<Vec<_>>()),
        median_step(&output_s.iter().map(|s| s.t).collect::<Vec<_>>()),
    );
    // (One input row: no step to go by; paired only at its own instant.)
    let hold = (opts.max_gap).or(steps.0.map(|s| 3.0 * s)).unwrap_or(0.0);
    // A step longer than the hold breaks the input too (between two
    // downloads, say): no output row in it takes the value before.
    for k in 1..input_s.len() {
        if input_s[k].t - input_s[k - 1].t > hold {
            input_s[k - 1].brk = true;
        }
    }
    let seconds = stamps == Stamps::Seconds;
    let step_in = steps.0.unwrap_or(hold);
    let mut j = Joined {
        text: Vec::new(),
        input_name: names[0].clone(),
        output_name: names[1].clone(),
        files,
        rows: 0,
        before_input: 0,
        stale: 0,
        after_input: 0,
        blank: 0,
        hold,
        input_gaps: gaps(&input_s, &stamps),
        age: (0.0, 0.0),
        repeats: r_in + r_out,
        conflicts: (c_in.0 + c_out.0, c_in.1.or(c_out.1)),
        own_repeats: (o_in.0 + o_out.0, o_in.1.or(o_out.1)),
        // (Local stamps first: a night's hour repeated by the clocks going
        // back holds a PV plant's zeros twice, alike.)
        own_cause: match (&stamps, o_in.2 + o_out.2 == o_in.0 + o_out.0) {
            (Stamps::Wall, _) => {
                "local stamps a clock change set back an hour, read in no zone? (--time-zone \
                 reads them as the instants they were)"
            }
            (_, true) => {
                "each with the values of the row before: rows sent again (a gateway or logger \
                 that wrote its last rows again after a reconnect)"
            }
            (_, false) => "one instant with two values",
        },
        seconds,
        steps,
        stamps: stamps.said(),
        phase: (steps.1)
            .filter(|_| !seconds)
            .and_then(|o| phase(&output_s.iter().map(|s| s.t).collect::<Vec<_>>(), o)),
    };
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>, row: [&str; 3]| {
        out.write_record(row)
            .map_err(|e| Error::Data(format!("joining: {e}")))
    };
    write(&mut out, ["time", &j.input_name, &j.output_name])?;
    let mut ages = Vec::with_capacity(output_s.len());
    let mut at = 0usize;
    // Served on the output's clock with its rows' phase, the input at a
    // row is the latest at the row's tick (the nearest: at or after nearly
    // every row, by a logger's jitter): taken there, training reads what
    // serving will.
    let ticks = j.clock().and_then(|c| c.phase_s.map(|p| (c.resample_s, p)));
    let tick_of = |t: f64| ticks.map_or(t, |(o, p)| ((t - p) / o).round() * o + p);
    for &Sample { t: row, v: y, .. } in &output_s {
        let t = tick_of(row);
        while at + 1 < input_s.len() && input_s[at + 1].t <= t {
            at += 1;
        }
        let last = at + 1 == input_s.len();
        match input_s.get(at) {
            None => j.before_input += 1,
            Some(s) if s.t > t => j.before_input += 1,
            // In a break, a step or more after the input's last value:
            // a value of its own would have come by then (before, its last
            // is the latest a subscriber holds).
            Some(s) if s.brk && !last && t - s.t >= step_in => {
                // A long break (an outage, a stretch left out) is a gap in
                // the join's time too; a short one (a bad row skipped) is
                // a row with an empty input cell, which `--skip-bad-rows`
                // skips, so that no window spans it as none did before.
                if input_s[at + 1].t - s.t > hold {
                    j.stale += 1;
                } else {
                    write(&mut out, [&stamps.write(row), "", &format!("{y}")])?;
                    (j.rows, j.blank) = (j.rows + 1, j.blank + 1);
                }
            }
            Some(s) if t - s.t > hold => j.after_input += 1,
            Some(&Sample { t: ti, v: x, .. }) => {
                ages.push(t - ti);
                write(
                    &mut out,
                    [&stamps.write(row), &format!("{x}"), &format!("{y}")],
                )?;
                j.rows += 1;
            }
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
    let rows = out
        .into_inner()
        .map_err(|e| Error::Data(format!("joining: {e}")))?;
    // Where the input came at another rate, the clock its model is served
    // on, in a comment line before the header (see [`JoinClock`]).
    if let (Some(c), Some(i)) = (j.clock(), j.steps.0) {
        j.text = c.line(i).into_bytes();
    }
    j.text.extend(rows);
    Ok(j)
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

/// A recording's rows (kept, not left out) with their stamps, the last of
/// each segment but the file's last breaking the channel.
fn samples(rec: &Recording, file: usize) -> Samples {
    let mut out = Vec::with_capacity(rec.rows);
    for (n, s) in rec.segments.iter().enumerate() {
        let ends = n + 1 < rec.segments.len();
        for (k, &v) in s.input.iter().enumerate() {
            if let Some(Some(t)) = rec.row_times.get(s.start + k) {
                let brk = ends && k + 1 == s.input.len();
                out.push(Sample {
                    t: *t,
                    v,
                    file,
                    brk,
                });
            }
        }
    }
    out
}

/// What [`once_each`] found: rows two files both hold, those whose values
/// differ (with the first), and rows that repeat a stamp of their own file
/// (with the first).
type Repeats = (
    usize,
    (usize, Option<String>),
    (usize, Option<String>, usize),
);

/// Sorts a channel's samples by time and keeps one of each stamp (the
/// later file's: a download after a correction; within a file, the later
/// row).
fn once_each(s: &mut Samples, stamps: &Stamps) -> Repeats {
    s.sort_by(|a, b| a.t.total_cmp(&b.t));
    let (mut repeats, mut differ, mut first) = (0, 0, None);
    let (mut own, mut own_first, mut own_alike) = (0, None, 0);
    let mut kept: Samples = Vec::with_capacity(s.len());
    for &n in s.iter() {
        match kept.last_mut() {
            Some(k) if k.t == n.t && k.file == n.file => {
                own += 1;
                own_alike += usize::from(k.v.to_bits() == n.v.to_bits());
                own_first.get_or_insert_with(|| stamps.write(n.t));
                *k = n;
            }
            Some(k) if k.t == n.t => {
                repeats += 1;
                if k.v.to_bits() != n.v.to_bits() {
                    differ += 1;
                    first.get_or_insert_with(|| {
                        format!("{}: {}, then {}", stamps.write(n.t), k.v, n.v)
                    });
                }
                // Broken only where neither file goes on.
                *k = Sample {
                    brk: k.brk && n.brk,
                    ..n
                };
            }
            _ => kept.push(n),
        }
    }
    *s = kept;
    (repeats, (differ, first), (own, own_first, own_alike))
}

/// Where rows at `times` lie in each step of `step` from the epoch
/// (seconds): at or after 99 in 100 of them, taken around their median, so
/// that each is read at its own tick of a clock with that phase (one
/// stamped a little late, a logger's jitter, at the tick after it would be
/// read a tick late). `None`: on the epoch's grid (within a microsecond).
fn phase(times: &[f64], step: f64) -> Option<f64> {
    if times.is_empty() || !(step.is_finite() && step > 0.0) {
        return None;
    }
    // An offset from `from`, in (-step/2, step/2].
    let around = |x: f64, from: f64| (x - from + step / 2.0).rem_euclid(step) - step / 2.0;
    let r0 = times[0].rem_euclid(step);
    let mut d: Vec<f64> = times
        .iter()
        .map(|t| around(t.rem_euclid(step), r0))
        .collect();
    d.sort_by(f64::total_cmp);
    let mid = d[d.len() / 2];
    let mut e: Vec<f64> = d.iter().map(|&x| around(x, mid)).collect();
    e.sort_by(f64::total_cmp);
    let late = e[(e.len() - 1) * 99 / 100];
    let p = ((r0 + mid + late).rem_euclid(step) * 1e6).round() / 1e6;
    (p >= 1e-6 && p <= step - 1e-6).then_some(p)
}

/// The rows' step forward in time order (seconds), or `None` with fewer
/// than two: the mean of the steps within 5% of the median one (see
/// below), a round step where it is within a thousandth of one.
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
    let m = *m;
    // The mean of the steps near it: stamps a bridge took, late by a few
    // ms each, make a median step of 3.037 s of a logger's 3 s (a clock's
    // step that drifts off its rows), their mean the step (the lateness of
    // one row shortens the next step as much as it lengthens its own).
    let near: Vec<f64> = (steps.iter().copied())
        .filter(|d| (d / m - 1.0).abs() <= 0.05)
        .collect();
    let mean = near.iter().sum::<f64>() / near.len().max(1) as f64;
    // What is left of their lateness (the first's and the last's, over
    // the rows): within a thousandth of a round step, that step.
    let round = [60.0, 1.0, 0.1, 0.01, 0.001]
        .into_iter()
        .filter(|u| mean >= 2.0 * u)
        .map(|u| (mean / u).round() * u)
        .find(|r| (r - mean).abs() <= 0.001 * mean);
    Some(round.unwrap_or((mean * 1e6).round() / 1e6))
}

/// The input's breaks: how many, and the first few.
fn gaps(input: &Samples, stamps: &Stamps) -> (usize, Vec<String>) {
    let breaks: Vec<(f64, f64)> = (input.windows(2))
        .filter(|w| w[0].brk)
        .map(|w| (w[0].t, w[1].t))
        .collect();
    let said = (breaks.iter().take(GAPS_SAID))
        .map(|&(a, b)| format!("{} to {}", stamps.write(a), stamps.write(b)))
        .collect();
    (breaks.len(), said)
}

mod clock;
mod read;
mod said;

pub use clock::JoinClock;
#[cfg(test)]
mod tests;
