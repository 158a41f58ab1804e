//! A recording of changes, read on one clock (`--every 1m`). Home
//! Assistant, a historian or a logger that writes on change has a row only
//! where a value changed: no rate, and steps from a second to hours that
//! windows would take for gaps. Each chosen channel's latest value is held
//! until its next change (as a subscriber holds it), and read at every tick
//! of the clock: a regular recording, which the rest of the reader then
//! reads as any file. A value that is no number (`unavailable`, `unknown`)
//! ends its channel's hold, so the ticks up to its next value are a gap.
//!
//! The channels may be columns (a wide file whose cells are empty where
//! nothing changed) or, with `--name-column`, rows: one row per channel and
//! change (`entity_id,state,last_changed`: a Home Assistant history
//! export), the channel named in one column and its value in another.

use std::collections::HashMap;
use std::path::Path;

use super::header::Header;
use super::options::{Column, CsvOptions};
use super::streams::cell;
use super::text::records;
use super::time;
use crate::error::{Error, Result};

/// Most ticks a recording is read at: `--every 1ms` over a month would be
/// 2.6 billion rows.
const MAX_TICKS: f64 = 20e6;

/// The regular recording, as CSV text (`,`-separated, `.` decimals), and
/// what it was made of, for the data line.
pub(super) struct Resampled {
    pub text: Vec<u8>,
    pub note: String,
    /// The original columns of the time and the two channels (a wide file:
    /// a units row is theirs), in the order the text has them.
    pub columns: Option<[usize; 3]>,
    /// One channel read as both: one value column.
    pub one: bool,
}

impl Resampled {
    /// How the regular text is read: in its own layout (time, then the
    /// channels, by position; `,` and `.`; its empty cells skipped), the
    /// rest as given; and the cells of its columns in a units row.
    pub fn reading(
        &self,
        opts: &CsvOptions,
        units: Option<Vec<String>>,
    ) -> (CsvOptions, Option<Vec<String>>) {
        let own = CsvOptions {
            input: Column::Index(1),
            output: Column::Index(if self.one { 1 } else { 2 }),
            delimiter: Some(b','),
            decimal: Some(super::Decimal::Point),
            time: vec![Column::Index(0)],
            skip_lines: 0,
            skip_bad_rows: true,
            missing: Vec::new(),
            every: None,
            names: None,
            ..opts.clone()
        };
        let units = units.zip(self.columns).map(|(u, cols)| {
            cols.iter()
                .map(|&c| u.get(c).cloned().unwrap_or_default())
                .collect()
        });
        (own, units)
    }
}

/// A value cell: its number, `None` for a word a sensor says instead of one
/// (`unavailable`, `unknown`, `ON`) or a `--missing` code, or why it is
/// neither (a typo: `12..5`). `comma`: the decimal separator given
/// (`--decimal`); else a lone comma in a file not separated by commas is
/// one, and of a point and a comma the last.
fn value_of(
    cell: &[u8],
    comma: Option<bool>,
    delimiter: u8,
    missing: &[f32],
) -> std::result::Result<Option<f64>, String> {
    let text = String::from_utf8_lossy(cell);
    let text = text.trim().trim_matches('"').trim();
    let comma = comma.unwrap_or_else(|| match (text.rfind(','), text.rfind('.')) {
        (Some(c), Some(p)) => c > p,
        (Some(_), None) => delimiter != b',' && text.matches(',').count() == 1,
        _ => false,
    });
    // Read as the reader reads a cell of that convention (its grouping too).
    let decimal = if comma {
        super::Decimal::Comma
    } else {
        super::Decimal::Point
    };
    let convention = super::numbers::Convention {
        decimal,
        shown_by: String::new(),
    };
    match super::numbers::number_f64(text, &convention) {
        Ok(v) if v.is_finite() && !missing.contains(&(v as f32)) => Ok(Some(v)),
        Ok(_) => Ok(None),
        Err(_) if text.bytes().any(|b| b.is_ascii_digit()) => {
            Err(format!("{text:?} is not a number"))
        }
        Err(_) => Ok(None),
    }
}

/// Where each channel's changes are.
enum Source {
    /// Two columns, a value where it changed.
    Columns([usize; 2]),
    /// Rows naming their channel in `name`, the value in `value`.
    Rows {
        name: usize,
        value: usize,
        channels: [String; 2],
    },
}

/// The recording in `bytes` read on `opts.every`'s clock, or `None` where
/// no clock is asked for.
pub(super) fn read(
    bytes: &[u8],
    delimiter: u8,
    opts: &CsvOptions,
    path: &Path,
    sniffed: bool,
) -> Result<Option<Resampled>> {
    let fail = |why: String| Error::Data(format!("{}: {why}", path.display()));
    let every = match (opts.every, &opts.names) {
        (None, None) => return Ok(None),
        (Some(e), _) if e.is_finite() && e > 0.0 => e,
        (Some(_), _) => return Err(fail("--resample must be a positive duration".into())),
        (None, Some(_)) => {
            return Err(fail(
                "--name-column reads one row per channel and change, which come at no rate: \
                 say the clock to read them on, --resample 1m (each channel's latest value held \
                 at every tick)"
                    .into(),
            ));
        }
    };
    if let Some(g) = opts.max_gap.filter(|&g| g < 1.5 * every) {
        return Err(fail(format!(
            "--max-gap {} is under one and a half ticks of --resample {}: every tick would be \
             a gap of its own; a hold ends after --max-gap, so give it several ticks",
            time::span(g),
            time::span(every)
        )));
    }
    if opts.stream.is_some() || opts.rows_of.is_some() {
        return Err(fail(
            "--resample with --stream-column or --rows-of is not supported: split the file first"
                .into(),
        ));
    }
    let [time_column] = opts.time.as_slice() else {
        return Err(fail(
            "--resample reads the rows on a clock: name their time column, --time-column COL (one \
             column)"
                .into(),
        ));
    };
    let line = |byte: u64| {
        let at = usize::try_from(byte).map_or(bytes.len(), |b| b.min(bytes.len()));
        1 + bytes[..at].iter().filter(|&&b| b == b'\n').count()
    };
    let mut rows = records(bytes, delimiter);
    let unreadable = |(byte, e): (u64, csv::Error)| fail(format!("line {}: {e}", line(byte)));
    let Some((_, first)) = rows.next().transpose().map_err(unreadable)? else {
        return Err(fail("no rows".into()));
    };
    let head = Header::new(&first, opts, delimiter, sniffed, (first.len(), None));
    if !head.is_header {
        return Err(fail("--resample needs a header naming the columns".into()));
    }
    let resolve = |c: &Column| {
        head.resolve(c)
            .map_err(|why| fail(format!("line 1: {why}")))
    };
    let (tc, time_name) = resolve(time_column)?;
    let (source, names, read_as) = match &opts.names {
        Some((name, value)) => {
            let ((nc, name), (vc, value)) = (resolve(name)?, resolve(value)?);
            let channel = |c: &Column, flag: &str| match c {
                Column::Name(n) => Ok(n.clone()),
                Column::Index(_) => Err(fail(format!(
                    "with --name-column, {flag} names a channel as column {name:?} does (\"{flag} \
                     sensor.air_temperature\"), not a column"
                ))),
            };
            let channels = [
                channel(&opts.input, "--input")?,
                channel(&opts.output, "--output")?,
            ];
            let note = format!(" (rows of {name:?} naming them, values in {value:?})");
            let source = Source::Rows {
                name: nc,
                value: vc,
                channels: channels.clone(),
            };
            (source, channels, note)
        }
        None => {
            let ((ci, input), (co, output)) = (resolve(&opts.input)?, resolve(&opts.output)?);
            (Source::Columns([ci, co]), [input, output], String::new())
        }
    };

    // Seconds per unit of a time column whose name says it (`t_ms`).
    let unit = time::named_unit(&[(tc, time_name.clone())]);
    // Every change of the two channels: (time, channel, value or none).
    let mut changes: Vec<(f64, usize, Option<f64>)> = Vec::new();
    let mut named: HashMap<String, usize> = HashMap::new();
    let (mut counts, mut words, mut skipped) = ([0usize; 2], [0usize; 2], 0usize);
    // The whole file's first and last time: every reading of it (publish's
    // of its input, tail's of its truth) ticks on the same clock.
    let (mut first_t, mut last_t) = (f64::INFINITY, f64::NEG_INFINITY);
    let comma = opts.decimal.map(|d| d == super::Decimal::Comma);
    // Each channel's last time in file order, and its steps back: how
    // many, and the first (its line, how far).
    let mut last_in_file: [Option<f64>; 2] = [None; 2];
    let mut backs: [(usize, Option<(usize, f64)>); 2] = [(0, None), (0, None)];
    for row in rows {
        let (byte, r) = row.map_err(unreadable)?;
        // An InfluxDB export repeats the header above each table.
        if r == first {
            continue;
        }
        let at = |what: String| fail(format!("line {}: {what}", line(byte)));
        let stamp = cell(&r, tc);
        // A time of day without its date cannot be put in order across
        // midnight (the reader refuses it going back; sorted, it would be).
        if time::dateless(stamp) {
            return Err(at(format!(
                "time column {time_name:?} holds times of day without their date: changes \
                 cannot be put in order across midnight; export the date with them"
            )));
        }
        let t = match time::seconds(stamp, delimiter, None, opts.date_order, unit) {
            Ok(t) => t,
            Err(_) if opts.skip_bad_rows => {
                skipped += 1;
                continue;
            }
            Err(why) => {
                return Err(at(format!(
                    "time column {time_name:?}: {why} (--skip-bad-rows skips such rows)"
                )));
            }
        };
        (first_t, last_t) = (first_t.min(t), last_t.max(t));
        let mut row_changes: Vec<(usize, &[u8])> = Vec::new();
        match &source {
            Source::Columns(cols) => {
                for (ch, &c) in cols.iter().enumerate() {
                    if !cell(&r, c).trim_ascii().is_empty() {
                        row_changes.push((ch, cell(&r, c)));
                    }
                }
            }
            Source::Rows {
                name,
                value,
                channels,
            } => {
                let who = String::from_utf8_lossy(cell(&r, *name));
                let who = who.trim().trim_matches('"');
                // (Both channels, where they are one: `publish` reads its
                // input as both.)
                let theirs: Vec<usize> = (0..2)
                    .filter(|&ch| channels[ch].eq_ignore_ascii_case(who))
                    .collect();
                if theirs.is_empty() && named.len() < 1000 {
                    *named.entry(who.to_string()).or_default() += 1;
                }
                row_changes.extend(theirs.into_iter().map(|ch| (ch, cell(&r, *value))));
            }
        }
        // A value, a word (`unavailable`: none), or a typo (`12..5`): a bad
        // cell, refused as the reader refuses one.
        let mut parsed = Vec::with_capacity(row_changes.len());
        for (ch, c) in row_changes {
            match value_of(c, comma, delimiter, &opts.missing) {
                Ok(v) => parsed.push((ch, v)),
                Err(_) if opts.skip_bad_rows => {
                    parsed.clear();
                    skipped += 1;
                    break;
                }
                Err(why) => {
                    return Err(at(format!(
                        "{:?}: {why} (--skip-bad-rows skips such rows)",
                        names[ch]
                    )));
                }
            }
        }
        for (ch, v) in parsed {
            counts[ch] += 1;
            words[ch] += usize::from(v.is_none());
            changes.push((t, ch, v));
            if let Some(before) = last_in_file[ch].replace(t).filter(|&b| t < b) {
                backs[ch].0 += 1;
                backs[ch].1.get_or_insert((line(byte), before - t));
            }
        }
    }
    // A channel's rows in order but for a step or two back: naive local
    // time across a daylight-saving change (an hour comes twice), which
    // sorting would merge. Rows in no order (shuffled) are sorted.
    for ch in 0..2 {
        if let (n, Some((at, back))) = &backs[ch]
            && (*n <= 3 || 100 * n < counts[ch])
        {
            return Err(fail(format!(
                "line {at}: time goes back {} in {:?}'s rows, which are otherwise in order: local \
                 time across a daylight-saving change (an hour that comes twice)? Export with a \
                 UTC offset, or in UTC; sorted, the two hours would be merged",
                time::span(*back),
                names[ch]
            )));
        }
    }
    if let Some(ch) = (0..2).find(|&ch| counts[ch] == words[ch]) {
        let what = match (&source, counts[ch]) {
            (Source::Rows { .. }, 0) => {
                let mut seen: Vec<(&String, &usize)> = named.iter().collect();
                seen.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let seen: Vec<String> = (seen.iter().take(8))
                    .map(|(n, k)| format!("{n:?} ({k} rows)"))
                    .collect();
                format!(
                    "no row names {:?}; the rows name {}",
                    names[ch],
                    seen.join(", ")
                )
            }
            _ => format!("{:?} has no value that is a number", names[ch]),
        };
        return Err(fail(what));
    }
    changes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let start = (first_t / every).ceil() * every;
    let ticks = ((last_t - start) / every).floor() + 1.0;
    if ticks > MAX_TICKS {
        return Err(fail(format!(
            "--resample {} over {} is {ticks:.0} rows (at most {MAX_TICKS:.0}): read it on a \
             coarser clock",
            time::span(every),
            time::span(last_t - first_t)
        )));
    }

    let mut out = csv::Writer::from_writer(Vec::new());
    let written = |e: csv::Error| fail(format!("resampling: {e}"));
    // One channel read as both (`publish` reads its input so): one column,
    // which both names then choose.
    let columns_written = if names[0].eq_ignore_ascii_case(&names[1]) {
        2
    } else {
        3
    };
    let header = [time_name.as_str(), &names[0], &names[1]];
    out.write_record(&header[..columns_written])
        .map_err(written)?;
    // Ticks in the column's own unit, which the reader applies again.
    let per_unit = unit.unwrap_or(1.0);
    let decimals = if (every / per_unit).fract() == 0.0 {
        0
    } else {
        6
    };
    // Each channel's latest change: its time, and its value (none: a word).
    let mut latest: [Option<(f64, Option<f64>)>; 2] = [None; 2];
    let (mut next, mut kept) = (0, 0);
    for i in 0..ticks.max(0.0) as u64 {
        let tick = start + i as f64 * every;
        while let Some(&(t, ch, v)) = changes.get(next).filter(|c| c.0 <= tick) {
            latest[ch] = Some((t, v));
            next += 1;
        }
        let held = |l: Option<(f64, Option<f64>)>| match l {
            Some((t, Some(v))) if opts.max_gap.is_none_or(|g| tick - t <= g) => Some(v.to_string()),
            _ => None,
        };
        // Every tick is a row, so that row k is tick k whichever channels
        // are read; one without both values has an empty cell, which the
        // second reading skips (and does not count as bad: `unheld`).
        let (a, b) = (held(latest[0]), held(latest[1]));
        kept += usize::from(a.is_some() && b.is_some());
        let row = [
            format!("{:.decimals$}", tick / per_unit),
            a.unwrap_or_default(),
            b.unwrap_or_default(),
        ];
        out.write_record(&row[..columns_written]).map_err(written)?;
    }
    let text = out
        .into_inner()
        .map_err(|e| fail(format!("resampling: {e}")))?;
    let ended = match words[0] + words[1] {
        0 => String::new(),
        n => format!(
            "; {n} value(s) that are no number (unavailable, unknown, a --missing code) end a hold"
        ),
    };
    let skipped = match skipped {
        0 => String::new(),
        n => format!("; {n} rows skipped for a bad cell"),
    };
    let held = opts.max_gap.map_or(String::new(), |g| {
        format!(" (for at most {})", time::span(g))
    });
    let stale = match opts.max_gap {
        None => longest_hold(&changes, every, &names),
        Some(_) => String::new(),
    };
    let note = format!(
        "read every {} from {} changes of {:?} and {} of {:?}{read_as}, each value held until \
         its next{held}: {kept} of {ticks:.0} ticks with both{ended}{skipped}{stale}",
        time::span(every),
        counts[0],
        names[0],
        counts[1],
        names[1],
    );
    let columns = match &source {
        Source::Columns(cols) => Some([tc, cols[0], cols[1]]),
        Source::Rows { .. } => None,
    };
    Ok(Some(Resampled {
        text,
        note,
        columns,
        one: columns_written == 2,
    }))
}

/// A value held far longer than its channel's changes usually come apart
/// (a sensor offline, its last value carried on by an export's fill): said,
/// with the flag that ends a hold.
fn longest_hold(changes: &[(f64, usize, Option<f64>)], every: f64, names: &[String; 2]) -> String {
    let mut said = String::new();
    for (ch, name) in names.iter().enumerate() {
        let own: Vec<&(f64, usize, Option<f64>)> = changes.iter().filter(|c| c.1 == ch).collect();
        let mut steps: Vec<f64> = own.windows(2).map(|w| w[1].0 - w[0].0).collect();
        if steps.len() < 10 {
            continue;
        }
        // A hold is a value's, to the next change: a word's stretch
        // (`unavailable`) holds nothing and is no tick already.
        let longest = (own.windows(2))
            .filter(|w| w[0].2.is_some())
            .map(|w| w[1].0 - w[0].0)
            .fold(0.0, f64::max);
        steps.sort_by(f64::total_cmp);
        let median = steps[steps.len() / 2].max(every);
        if longest > 100.0 * median && longest > 10.0 * every {
            said.push_str(&format!(
                "; {name:?} held one value {} (its changes come {} apart at the median): a \
                 sensor offline? --max-gap {} ends a hold there",
                time::span(longest),
                time::span(median),
                flag_span(10.0 * median)
            ));
        }
    }
    said
}

/// A duration as a flag takes it: `90s`, `15m`.
fn flag_span(seconds: f64) -> String {
    match seconds.ceil() {
        s if s >= 120.0 => format!("{}m", (s / 60.0).ceil()),
        s => format!("{s}s"),
    }
}

/// Where `wanted` (a channel `--input` or `--output` names) is no column
/// but the value of one in the first rows: one row per channel and change
/// (long format), which `--name-column` reads. The flags to say so, with
/// the column likeliest to hold the values (`state`, `_value`, `value`).
pub(super) fn long_hint(bytes: &[u8], delimiter: u8, names: &[String], wanted: &Column) -> String {
    let Column::Name(wanted) = wanted else {
        return String::new();
    };
    let Some(column) = records(bytes, delimiter)
        .skip(1)
        .take(20_000)
        .filter_map(|r| r.ok())
        .find_map(|(_, r)| {
            (0..r.len()).find(|&c| {
                String::from_utf8_lossy(cell(&r, c))
                    .trim()
                    .trim_matches('"')
                    .eq_ignore_ascii_case(wanted)
            })
        })
    else {
        return String::new();
    };
    let name = names.get(column).map_or("?", String::as_str);
    let values = ["state", "_value", "value", "Value", "val"]
        .into_iter()
        .find(|v| names.iter().any(|n| n == v))
        .unwrap_or("COL");
    let time = ["last_changed", "_time", "time", "timestamp", "Time"]
        .into_iter()
        .find(|v| names.iter().any(|n| n == v))
        .map_or(String::new(), |t| format!(" --time-column {t}"));
    format!(
        ". {wanted:?} is a value of column {name:?}: one row per channel and change (long \
         format, as a Home Assistant history export has it). Read each channel from its rows: \
         --name-column {name} --value-column {values}{time} --resample 1m (each channel's latest \
         value held at every minute's tick)"
    )
}

#[cfg(test)]
mod tests;
