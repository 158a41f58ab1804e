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

mod devices;
mod hints;
mod layout;
mod regular;
mod source;
mod stream;
use source::Source;

pub(super) use hints::flag_span;
pub(in crate::recording) use hints::long_hint;
use hints::longest_hold;
pub use hints::word;
use stream::{Stream, value_of};

/// Most ticks a recording is read at: `--every 1ms` over a month would be
/// 2.6 billion rows.
const MAX_TICKS: f64 = 20e6;

/// The regular recording, as CSV text (`,`-separated, `.` decimals), and
/// what it was made of, for the data line.
pub(super) struct Resampled {
    pub text: Vec<u8>,
    /// What each stream was made of (its name where a column names them).
    pub notes: Vec<(Option<String>, String)>,
    /// The original columns of the time, the stream and the channels (a
    /// wide file: a units row is theirs), in the order the text has them.
    pub columns: Option<Vec<usize>>,
    /// One channel read as both: one value column.
    pub one: bool,
    /// A stream column follows the time (several devices, each read on
    /// the clock alone).
    pub streams: bool,
    /// The hold chosen for a regular logger's rows where no `--max-gap`
    /// was given (seconds): the model records it as its `--max-gap`.
    pub held: Option<f64>,
    /// The input's changes per tick: `serve` tells a stream's from it.
    pub per_tick: f64,
    /// The channels' units, where their rows say them (a `unit` column).
    pub row_units: Option<[String; 2]>,
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
    if opts.rows_of.is_some() {
        return Err(fail(
            "--resample with --rows-of is not supported: split the file first".into(),
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
    // Several devices' rows in one file: each read on the clock alone.
    let stream_column = opts.stream.as_ref().map(&resolve).transpose()?;
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
    // The columns a device's row has of its own: not its name's.
    let chosen: Vec<usize> = match &source {
        Source::Columns(cols) => vec![tc, cols[0], cols[1]],
        Source::Rows { name, value, .. } => vec![tc, *name, *value],
    };
    // Rows of channels may say their unit (`unit`: an air-quality
    // portal's `µg/m³`), each channel's its own.
    let unit_column = match &source {
        Source::Rows { .. } => (head.names.iter()).position(|n| {
            let n = n.trim();
            n.eq_ignore_ascii_case("unit") || n.eq_ignore_ascii_case("units")
        }),
        Source::Columns(_) => None,
    };
    let mut units = [stream::UnitSeen::default(), stream::UnitSeen::default()];

    // Seconds per unit of a time column whose name says it (`t_ms`).
    let unit = time::named_unit(&[(tc, time_name.clone())]);
    // Each stream's changes of the two channels (one stream where no
    // column names them).
    let mut streams: Vec<Stream> = Vec::new();
    let mut stream_of: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut named: HashMap<String, usize> = HashMap::new();
    let mut twice = devices::Twice::default();
    let (mut counts, mut words, mut skipped) = ([0usize; 2], [0usize; 2], 0usize);
    let comma = opts.decimal.map(|d| d == super::Decimal::Comma);
    // Each channel's steps back in file order (within a stream): how many,
    // and the first (its line, how far, whether its stamp is local time).
    type Back = (usize, f64, bool);
    let mut backs: [(usize, Option<Back>); 2] = [(0, None), (0, None)];
    // Rows that repeat earlier rows exactly: how many, and the first line.
    let mut copies: (usize, Option<usize>) = (0, None);
    // Each stream's and channel's last time read, in file order (see
    // `Zone::to_utc`).
    let mut last_read: HashMap<(usize, Vec<u8>), f64> = HashMap::new();
    for (index, row) in rows.enumerate() {
        let (byte, r) = row.map_err(unreadable)?;
        // An InfluxDB export repeats the header above each table.
        if r == first {
            continue;
        }
        let at = |what: String| fail(format!("line {}: {what}", line(byte)));
        let s = match &stream_column {
            None => 0,
            Some((c, column)) => {
                let c = *c;
                let name = cell(&r, c);
                if name.is_empty() {
                    if opts.skip_bad_rows {
                        skipped += 1;
                        continue;
                    }
                    return Err(at(format!(
                        "no stream in column {column:?} (--skip-bad-rows skips such rows)"
                    )));
                }
                let n = stream_of.len();
                let s = *stream_of.entry(name.to_vec()).or_insert(n);
                if s >= super::streams::MAX_STREAMS {
                    return Err(at(format!(
                        "more than {} streams in column {column:?}: a column of values, not of \
                         devices?",
                        super::streams::MAX_STREAMS
                    )));
                }
                s
            }
        };
        if s == streams.len() {
            let name =
                (stream_column.as_ref()).map(|(c, _)| String::from_utf8_lossy(cell(&r, *c)).into());
            streams.push(Stream::new(name));
        }
        let stamp = cell(&r, tc);
        // A time of day without its date cannot be put in order across
        // midnight (the reader refuses it going back; sorted, it would be).
        if time::dateless(stamp) {
            return Err(at(format!(
                "time column {time_name:?} holds times of day without their date: changes \
                 cannot be put in order across midnight; export the date with them"
            )));
        }
        // The row before of the same stream and channel (a long export's
        // rows of two channels share their times), in file order.
        let key = (s, source.channel_of(&r));
        let t = match time::seconds(stamp, delimiter, None, opts.date_order, unit) {
            // A wall clock's stamps in the zone named: the instants (the
            // hour that comes twice told by the row before).
            Ok(t) => {
                let zone = opts
                    .time_zone
                    .as_ref()
                    .filter(|_| time::local_text(stamp, None));
                let t = zone.map_or(t, |z| z.to_utc(t, last_read.get(&key).copied()));
                last_read.insert(key, t);
                t
            }
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
        let stream = &mut streams[s];
        // The whole stream's first and last time: every reading of it
        // (publish's of its input, tail's of its truth) ticks on the same
        // clock.
        (stream.first, stream.last) = (stream.first.min(t), stream.last.max(t));
        let mut row_changes: Vec<(usize, usize)> = Vec::new();
        match &source {
            Source::Columns(cols) => {
                for (ch, &c) in cols.iter().enumerate() {
                    if !cell(&r, c).trim_ascii().is_empty() {
                        row_changes.push((ch, c));
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
                if let Some(uc) = unit_column {
                    let unit = String::from_utf8_lossy(cell(&r, uc));
                    let unit = unit.trim().trim_matches('"');
                    for &ch in &theirs {
                        units[ch].see(unit);
                    }
                }
                row_changes.extend(theirs.into_iter().map(|ch| (ch, *value)));
            }
        }
        // A value, a word (`unavailable`: none), or a typo (`12..5`): a bad
        // cell, refused as the reader refuses one.
        let mut parsed = Vec::with_capacity(row_changes.len());
        for (ch, c) in row_changes {
            match value_of(cell(&r, c), comma, delimiter, &opts.missing) {
                Ok(v) => parsed.push((ch, c, v)),
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
        // A row written again (an export repeated after a restart): each
        // value an earlier row's at its time. Left out, said.
        if !parsed.is_empty() && parsed.iter().all(|&(ch, _, v)| stream.again(t, ch, v)) {
            copies.0 += 1;
            copies.1.get_or_insert(line(byte));
            continue;
        }
        for (ch, c, v) in parsed {
            counts[ch] += 1;
            words[ch] += usize::from(v.is_none());
            stream.changes.push((t, ch, v));
            if !opts.one_stream {
                twice.row((s, ch), t, cell(&r, c), index);
            }
            if let Some(before) = stream.last_in_file[ch].replace(t).filter(|&b| t < b) {
                backs[ch].0 += 1;
                let local = time::local_text(stamp, None);
                backs[ch].1.get_or_insert((line(byte), before - t, local));
            }
        }
    }
    // A channel with two rows of one time, other values: several devices'
    // rows read as one (or, within a stream, a column that names no
    // device). Before the steps back, which rows of devices one after
    // another make too.
    if !opts.one_stream {
        // (Found once, by reading the rows of the pairs again.)
        let mut columns: Option<Vec<String>> = None;
        for (ch, name) in names.iter().enumerate() {
            for stream in &streams {
                let own: Vec<(f64, Option<f64>)> = (stream.changes.iter())
                    .filter(|c| c.1 == ch)
                    .map(|c| (c.0, c.2))
                    .collect();
                // (Only where a column tells such rows apart: a logger
                // whose stamps are cut to whole seconds has two rows of a
                // second, and no device's.)
                let Some(n) = devices::repeated(&own) else {
                    continue;
                };
                let columns = columns.get_or_insert_with(|| {
                    let data = records(bytes, delimiter).skip(1).filter_map(|r| r.ok());
                    twice.columns(data.map(|(_, r)| r), &head.names, &chosen)
                });
                if !columns.is_empty() {
                    let within = stream.name.as_deref().zip(stream_column.as_ref());
                    let within = within.map(|(s, (_, c))| (s, c.as_str()));
                    return Err(fail(devices::why(name, n, own.len(), columns, within)));
                }
            }
        }
    }
    // A channel's rows in order but for a step or two back: naive local
    // time across a daylight-saving change (an hour comes twice), which
    // sorting would merge. Rows in no order (shuffled) are sorted.
    for ch in 0..2 {
        if let (n, Some((at, back, local))) = &backs[ch]
            && (*n <= 3 || 100 * n < counts[ch])
        {
            let why = hints::step_back(*back, *local && opts.time_zone.is_none());
            return Err(fail(format!(
                "line {at}: time goes back {} in {:?}'s rows, which are otherwise in order: {why}",
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
    for stream in &mut streams {
        stream.changes.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    // A regular logger's rows (an hourly export): readings, not changes,
    // held across no outage where no --max-gap says otherwise.
    let regular = match opts.max_gap {
        Some(_) => None,
        None if !opts.logger_hold => None,
        None => {
            let rows = |ch: usize| -> Vec<regular::Rows> {
                (streams.iter())
                    .map(|s| (s.changes.iter().filter(|c| c.1 == ch)).map(|c| (c.0, c.2)))
                    .map(Iterator::collect)
                    .collect()
            };
            regular::logger([rows(0), rows(1)])
        }
    };
    let max_gap = opts
        .max_gap
        .or(regular.map(|(a, b)| regular::hold([a, b], every)));
    let ticks: f64 = streams.iter().map(|s| s.ticks(every).1).sum();
    if ticks > MAX_TICKS {
        let (first_t, last_t) = (streams.iter())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |a, s| {
                (a.0.min(s.first), a.1.max(s.last))
            });
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
    let one = names[0].eq_ignore_ascii_case(&names[1]);
    let mut header = vec![time_name.as_str()];
    header.extend(stream_column.as_ref().map(|(_, n)| n.as_str()));
    header.extend(
        [names[0].as_str(), names[1].as_str()]
            .iter()
            .take(2 - usize::from(one)),
    );
    out.write_record(&header).map_err(written)?;
    // Ticks in the column's own unit, which the reader applies again.
    let per_unit = unit.unwrap_or(1.0);
    let decimals = if (every / per_unit).fract() == 0.0 {
        0
    } else {
        6
    };
    // Each stream's ticks with both values: one with none (a station
    // without the output's analyser) is left out, said, unless all are.
    let kept: Vec<usize> = (streams.iter())
        .map(|s| {
            let mut kept = 0;
            s.each_tick(every, max_gap, |_, a, b| {
                kept += usize::from(a.is_some() && b.is_some());
            });
            kept
        })
        .collect();
    let read = |i: usize| kept[i] > 0 || kept.iter().all(|&k| k == 0);
    for (_, stream) in streams.iter().enumerate().filter(|(i, _)| read(*i)) {
        let mut result = Ok(());
        stream.each_tick(every, max_gap, |tick, a, b| {
            // Every tick is a row, so that row k is tick k whichever
            // channels are read; one without both values has an empty
            // cell, which the second reading skips (and does not count as
            // bad: `unheld`).
            let mut row = vec![format!("{:.decimals$}", tick / per_unit)];
            row.extend(stream.name.clone());
            row.push(a.map(|v| v.to_string()).unwrap_or_default());
            if !one {
                row.push(b.map(|v| v.to_string()).unwrap_or_default());
            }
            if result.is_ok() {
                result = out.write_record(&row);
            }
        });
        result.map_err(written)?;
    }
    let left_out: Vec<String> = (streams.iter().enumerate())
        .filter(|(i, _)| !read(*i))
        .map(|(_, s)| {
            let lacks = (0..2).find(|&ch| !s.changes.iter().any(|c| c.1 == ch && c.2.is_some()));
            let why = lacks.map_or("no tick with both values".into(), |ch| {
                format!("no value of {:?}", names[ch])
            });
            format!("{:?} ({why})", s.name.as_deref().unwrap_or_default())
        })
        .collect();
    let left_out = match left_out.len() {
        0 => String::new(),
        _ => format!(
            "; left out, as no tick of theirs has both: stream(s) {}",
            left_out.join(", ")
        ),
    };
    let text = out
        .into_inner()
        .map_err(|e| fail(format!("resampling: {e}")))?;
    let skipped = hints::left_out(skipped, copies);
    let held = max_gap.map_or(String::new(), |g| {
        format!(" (for at most {})", time::span(g))
    });
    let mixed = units[0].said(&names[0]) + &units[1].said(&names[1]);
    let logger = match (regular, max_gap) {
        (Some((a, b)), Some(g)) => {
            let rate = match a == b {
                true => format!("the rows of both come every {}", time::span(a)),
                false => format!(
                    "the rows come every {} and {}",
                    time::span(a),
                    time::span(b)
                ),
            };
            format!(
                "; {rate} (a logger's readings, not changes): a value is held {} at most \
                 (--max-gap {} says another), so an outage is a gap, not its last value carried on",
                time::span(g),
                flag_span(g)
            )
        }
        _ => String::new(),
    };
    let column = stream_column.as_ref().map(|(_, n)| n.as_str());
    let notes = (streams.iter().zip(&kept))
        .map(|(stream, kept)| {
            let of = |ch: usize| stream.changes.iter().filter(|c| c.1 == ch).count();
            let words = stream.changes.iter().filter(|c| c.2.is_none()).count();
            let ended = match words {
                0 => String::new(),
                n => format!(
                    "; {n} value(s) that are no number (unavailable, unknown, a --missing code) \
                     end a hold"
                ),
            };
            let whose = match (&stream.name, column, streams.len()) {
                (Some(name), Some(column), 1) => format!(" of stream {name:?} (column {column:?})"),
                (Some(name), Some(column), n) => format!(
                    " of stream {name:?} (one of {n} in column {column:?}, each read alone)"
                ),
                _ => String::new(),
            };
            // A value held far longer than its changes come apart: this
            // stream's own.
            let stale = match max_gap {
                None => longest_hold(&[stream.changes.as_slice()], every, &names),
                Some(_) => String::new(),
            };
            let note = format!(
                "read every {} from {} changes of {:?} and {} of {:?}{read_as}{whose}, each value \
                 held until its next{held}: {kept} of {:.0} ticks with both{ended}{skipped}\
                 {logger}{stale}{left_out}{mixed}",
                time::span(every),
                of(0),
                names[0],
                of(1),
                names[1],
                stream.ticks(every).1,
            );
            (stream.name.clone(), note)
        })
        .collect();
    let columns = match &source {
        Source::Columns(cols) => {
            let mut c = vec![tc];
            c.extend(stream_column.as_ref().map(|(s, _)| *s));
            c.extend(cols.iter().take(2 - usize::from(one)));
            Some(c)
        }
        Source::Rows { .. } => None,
    };
    Ok(Some(Resampled {
        text,
        notes,
        columns,
        one,
        streams: stream_column.is_some(),
        held: regular.and(max_gap),
        per_tick: counts[0] as f64 / ticks.max(1.0),
        row_units: match [units[0].unit(), units[1].unit()] {
            [None, None] => None,
            [a, b] => Some([a.unwrap_or_default(), b.unwrap_or_default()]),
        },
    }))
}

#[cfg(test)]
mod tests;
