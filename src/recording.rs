//! A user's recording: a CSV export (historian, data logger, spreadsheet)
//! with many columns, of which two are the channels to translate.
//!
//! What real exports look like, and what we accept: a header row or none;
//! `,` `;` or tab as the delimiter (sniffed from the first lines, named by
//! Excel's `sep=;` line, or given);
//! quoted fields; a UTF-8 byte-order mark; `#` comment lines; decimal commas
//! when the delimiter is not a comma (`1,5;2,25`). Other columns (a time
//! stamp, a label, more sensors) are ignored.
//!
//! A cell that is not a finite number is an error naming the file, the line
//! and the column, or, with `skip_bad_rows`, a counted gap: the rows on
//! either side become separate [`Segment`]s, so no training window joins
//! samples that were not next to each other in time.

use std::path::Path;

use crate::error::{Error, Result};
pub use dates::DateOrder;
pub(crate) use dates::{NoInstant, instant_ns};
pub use encoding::Encoding;
pub use exclude::{Exclude, across_files};
pub use file::file_bytes;
use header::Header;
pub use numbers::Decimal;
use numbers::{Evidence, channel_cell};
pub use options::{Column, CsvOptions};
pub use record::Recording;
use record::Refusal;
pub use resample::word as shell_word;
pub use segment::{Segment, windows};
pub use streams::{MAX_STREAMS, listed};
pub use text::parse_delimiter;
use text::{declared_delimiter, delimiter_name, filled, preamble_hint, records, sniff_delimiter};
pub use zone::Zone;

/// How many skipped rows are quoted in the report.
const SKIPPED_EXAMPLES: usize = 5;
/// Lines looked at to sniff the delimiter.
const SNIFF_LINES: usize = 50;

impl Recording {
    /// [`Recording::read_streams`] from bytes in memory: every stream of a
    /// file of several read in one pass, in the order of their names.
    pub fn from_bytes_all(bytes: &[u8], path: &Path, opts: &CsvOptions) -> Result<Vec<Self>> {
        let (mut text, encoding) = encoding::to_utf8(bytes);
        // Excel's `sep=;` first line names the delimiter; read as a
        // comment line, so line numbers stay those of the file.
        let declared = declared_delimiter(&text);
        if declared.is_some() {
            text.to_mut()[0] = b'#';
        }
        let (toa5, read_notes) =
            toa5::read(&mut text).map_or((None, Vec::new()), |t| (Some(t.units), t.changes));
        // A logger's preamble the user names (`--skip-lines N`): read as
        // comment lines, so line numbers stay those of the file (after the
        // `sep=` line and a TOA5 file's own lines are recognised).
        if opts.skip_lines > 0 {
            text::skip_lines(text.to_mut(), opts.skip_lines);
        }
        let mut delimiter = (opts.delimiter.or(declared)).unwrap_or_else(|| sniff_delimiter(&text));
        if quotes::single_quoted(&text, delimiter) {
            quotes::as_double_quotes(text.to_mut(), delimiter);
        }
        let (units, mut units_from) = match toa5 {
            Some(units) => (Some(units), Some("TOA5, units from line 3")),
            None => match text::units_row(&mut text, delimiter) {
                Some(units) => (Some(units), Some("units from the row under the header")),
                None => (None, None),
            },
        };
        // Changes read on one clock (`--resample`): a regular recording, in
        // its own layout.
        let sniffed = opts.delimiter.is_none() && declared.is_none();
        let (regular, units) = match resample::read(&text, delimiter, opts, path, sniffed)? {
            Some(r) => {
                if r.row_units.is_some() {
                    units_from = Some("units from the rows' unit column");
                }
                let (own, units) = r.reading(opts, units);
                // (Said as the file is: its own separators, not the text's.)
                let file = (delimiter as char, opts.decimal);
                (text, delimiter) = (r.text.into(), b',');
                (Some((own, r.notes, file, (r.held, r.per_tick))), units)
            }
            None => (None, units),
        };
        let opts = regular.as_ref().map_or(opts, |(own, ..)| own);
        let bytes: &[u8] = &text;
        // Lines counted from the bytes: the CSV reader's own count is one
        // short after a CRLF line end (every Excel export has them). A
        // record's position may be the line end before it (CRLF, blank
        // lines): its line is that of its first other byte.
        // The reader's position of a record after `#` comment lines (a
        // `sep=;` line, a logger's preamble) can be the comment's: a record
        // never starts with `#`, so those lines are passed over too.
        let line_of = |byte: u64| {
            let mut at = usize::try_from(byte).map_or(bytes.len(), |b| b.min(bytes.len()));
            loop {
                at = bytes[at..]
                    .iter()
                    .position(|&b| b != b'\r' && b != b'\n')
                    .map_or(bytes.len(), |i| at + i);
                if bytes.get(at) != Some(&b'#') {
                    break;
                }
                at = bytes[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |i| at + i);
            }
            1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64
        };
        let at = |byte: u64, what: String| {
            Error::Data(format!(
                "{}: line {}: {what}",
                path.display(),
                line_of(byte)
            ))
        };
        let unreadable =
            |(byte, e): (u64, csv::Error)| at(byte, format!("not readable as CSV: {e}"));
        let mut all = records(bytes, delimiter);
        let mut next = || all.next().transpose().map_err(unreadable);
        let Some((first_at, first)) = next()? else {
            let skipped = match opts.skip_lines {
                0 => String::new(),
                n => format!(" after the {n} line(s) --skip-lines skips"),
            };
            return Err(Error::Data(format!("{}: no rows{skipped}", path.display())));
        };
        // A logger's preamble above the header (`Device;Logger 7`), for the
        // hints: the most fields a row near the top has, and the header's
        // line below a preamble.
        let (widest, header_at) = text::preamble(bytes, delimiter, first.len());
        let widest_at = header_at.map(line_of);
        let preamble = widest_at.is_some();
        let head = Header::new(&first, opts, delimiter, sniffed, (widest, widest_at));
        let (header, names) = (head.is_header, &head.names);
        let resolve = |c: &Column| {
            let long = |why: &str| resample::long_hint(bytes, delimiter, names, c, why);
            (head.resolve(c)).map_err(|why| at(first_at, why.clone() + &long(&why)))
        };
        if let Some(why) = head.one_row_per_field() {
            return Err(at(first_at, why));
        }
        let (ci, input_name) = resolve(&opts.input)?;
        let (co, output_name) = resolve(&opts.output)?;
        if opts.max_gap.is_some() && opts.time.is_empty() {
            return Err(Error::Data(
                "--max-gap needs a time column to measure gaps in (--time-column)".into(),
            ));
        }
        if opts.time.len() > 2 {
            return Err(Error::Data(format!(
                "{}: {} time columns given; a time stamp is one column, or two: a date column \
                 then a time-of-day column",
                path.display(),
                opts.time.len()
            )));
        }
        let time = opts.time.iter().map(resolve).collect::<Result<Vec<_>>>()?;
        let zone = (opts.time_zone.is_none()).then(|| time.first()).flatten();
        let named = zone
            .and_then(|(_, n)| Zone::in_name(n))
            .map(|z| opts.zoned(z));
        let opts = named.as_ref().unwrap_or(opts);
        // A channel that is the time column (`publish --time-column t`
        // without `--input` read column 0, the stamps, and sent them).
        let stamps: Vec<usize> = time.iter().map(|(t, _)| *t).collect();
        head.neither_is_time([ci, co], &stamps)
            .map_err(|why| Error::Data(format!("{}: {why}", path.display())))?;
        // Each row's stream (`--stream-column turbine`): a column of its
        // own, neither a channel nor the time.
        let stream = opts.stream.as_ref().map(resolve).transpose()?;
        let mut picker = match &stream {
            Some((s, name)) if *s == ci || *s == co || stamps.contains(s) => {
                return Err(Error::Data(format!(
                    "{}: the stream column {name:?} is also {}: it names each row's device, a \
                     column of its own",
                    path.display(),
                    if stamps.contains(s) {
                        "the time column"
                    } else {
                        "a channel (--input or --output)"
                    }
                )));
            }
            Some((s, name)) => Some(streams::Picker::new(*s, name, opts)),
            None => None,
        };
        // Several topics' rows (`--rows-of`): that column's rows, with
        // the chosen columns' latest values.
        let of = opts.rows_of.as_ref().map(resolve).transpose()?;
        let chosen = [[ci, co].as_slice(), &stamps].concat();
        let mut rows_of = topics::RowsOf::of(of, stream.is_some(), &chosen)?;
        // `Date,Hour`: a second time column of hours' numbers.
        let hours = time.get(1).is_some_and(|&(c, _)| {
            let data = records(bytes, delimiter).skip(usize::from(header));
            time::hours_column(data.filter_map(|r| r.ok()).map(|(_, r)| r), c)
        });
        // Slashed dates (`3/1/2026`): day or month first, as given or as
        // the date column shows it (a first pass, as for the decimals).
        // A given order (or one a model recorded) the dates contradict is
        // refused: every day would be read as a month.
        let date_order = match time.first() {
            Some(&(t, ref label)) => {
                let mut evidence = dates::OrderEvidence::default();
                for r in records(bytes, delimiter).skip(usize::from(header)) {
                    let (byte, r) = r.map_err(unreadable)?;
                    evidence.look(|| line_of(byte), r.get(t).unwrap_or_default());
                }
                let refuse =
                    |why: String| Error::Data(format!("{}: {label}: {why}", path.display()));
                match opts.date_order {
                    Some(given) => match evidence.contradicts(given) {
                        Some(why) => return Err(refuse(why)),
                        None => Some(given),
                    },
                    None => evidence.decide().map_err(refuse)?,
                }
            }
            None => opts.date_order,
        };
        // The decimal convention: as given, or from every data cell of the
        // chosen channels (a first pass: a cell early in the file may be
        // ambiguous). When those show nothing, the file's other columns
        // decide, so that `publish --input p` (one column of whole
        // thousands, `1.013`) reads the file as `retrain --input p
        // --output t` (where `t` shows `54,90`) does; but only when they
        // agree: columns that mix both (a label, an id) tell nothing. The
        // time column is a time, not a number of this convention.
        let convention = match opts.decimal {
            Some(decimal) => Some(numbers::Convention {
                decimal,
                shown_by: format!("--decimal {}", decimal.flag()),
            }),
            None => {
                // The other columns are read only when the chosen ones
                // show nothing: a wide export's 30 columns were most of the
                // time a run took before its first line.
                let evidence = |pick: &dyn Fn(usize) -> bool| -> Result<Evidence> {
                    let mut seen = Evidence::default();
                    for r in records(bytes, delimiter).skip(usize::from(header)) {
                        let (byte, r) = r.map_err(unreadable)?;
                        for (i, cell) in r.iter().enumerate() {
                            if pick(i) {
                                seen.look(|| line_of(byte), cell);
                            }
                        }
                    }
                    Ok(seen)
                };
                match evidence(&|i| i == ci || i == co)?
                    .decide()
                    .map_err(|why| Error::Data(format!("{}: {why}", path.display())))?
                {
                    Some(c) => Some(c),
                    None => {
                        let other =
                            |i: usize| i != ci && i != co && !time.iter().any(|(t, _)| *t == i);
                        let others = evidence(&other)?;
                        others.decide().ok().flatten().map(|c| numbers::Convention {
                            shown_by: format!("{}, in another column", c.shown_by),
                            ..c
                        })
                    }
                }
            }
        };

        let unit_of = |i: usize| {
            let unit = units.as_ref()?.get(i)?;
            (!unit.is_empty()).then(|| unit.clone())
        };
        let mut rec = Recording {
            path: path.to_path_buf(),
            input_name,
            output_name,
            input_unit: unit_of(ci),
            output_unit: unit_of(co),
            units_from,
            delimiter: delimiter as char,
            header,
            encoding: encoding.name(),
            decimal: convention.as_ref().map(|c| c.decimal),
            input_index: ci,
            output_index: co,
            time_name: time
                .iter()
                .map(|(_, name)| name.clone())
                .reduce(|date, clock| format!("{date} + {clock}")),
            date_order,
            segments: vec![Segment::default()],
            read_notes: read_notes.clone(),
            ..Default::default()
        };
        let label = |i: usize, name: &str| {
            if header {
                format!("column {name:?} (index {i})")
            } else {
                format!("column {i}")
            }
        };
        let (label_in, label_out) = (label(ci, &rec.input_name), label(co, &rec.output_name));
        // The first row's width: a data row with more (non-empty) fields
        // has a delimiter inside a cell (an unquoted `1,234.5` in a
        // `,`-separated file), and every cell after it is shifted.
        // (A header of empty names only, `,,`, is as wide as its fields.)
        let width = Some(filled(&first))
            .filter(|&n| n > 0)
            .unwrap_or(first.len());
        let label_time = time
            .iter()
            .map(|(i, name)| label(*i, name))
            .reduce(|date, clock| format!("{date} + {clock}"));
        // Each row's time stamp, with a time column (rows read only).
        let time_unit = time::named_unit(&time);
        let left_out = exclude::ranges(opts, path, |t| {
            time::seconds(t, delimiter, convention.as_ref(), date_order, time_unit)
        })?;
        let row = |byte: u64,
                   r: &csv::ByteRecord,
                   rec: &mut Recording,
                   times: &mut Vec<f64>,
                   time_skips: &mut usize|
         -> Result<()> {
            let shifted = || -> std::result::Result<(), Refusal> {
                let n = filled(r);
                if n > width {
                    return Err(Refusal::Row(format!(
                        "the row has {n} fields, the {} {width}: a {} inside a cell \
                         shifts the cells after it (quote such cells){}",
                        if header { "header" } else { "first row" },
                        delimiter_name(delimiter),
                        preamble_hint(first.len(), if preamble { widest } else { 0 }, widest_at)
                    )));
                }
                Ok(())
            };
            let cell = |i: usize, label: &str| -> std::result::Result<f32, Refusal> {
                let cell = r.get(i).ok_or_else(|| {
                    Refusal::Row(format!(
                        "{label} is missing: the row has {} field(s)",
                        r.len()
                    ))
                })?;
                channel_cell(cell, delimiter, convention.as_ref(), &opts.missing)
                    .map_err(|e| e.refusal(label))
            };
            // This row's place among the data rows, skipped ones counted:
            // `publish --data` sends row N as sample N, so streams published
            // from different columns of one file line up by `seq`.
            let at_row = rec.rows + rec.skipped;
            let stamp = || -> std::result::Result<Option<f64>, Refusal> {
                let Some(label) = &label_time else {
                    return Ok(None);
                };
                // A date and a time of day in two columns are one stamp,
                // as if written in one cell with a space between.
                let mut cells = time.iter().map(|(i, _)| {
                    r.get(*i)
                        .map(<[u8]>::trim_ascii)
                        .ok_or_else(|| Refusal::Time(format!("{label} is missing")))
                });
                let date = cells.next().transpose()?.unwrap_or_default();
                let clock = cells.next().transpose()?;
                let join = |a: &[u8], b: &[u8]| [a, b" ", b].concat();
                let (order, unit) = (date_order, time_unit);
                let seconds =
                    |t: &[u8]| time::seconds(t, delimiter, convention.as_ref(), order, unit);
                // A wall clock's stamps in the zone named: the instants.
                let wall = (opts.time_zone.as_ref())
                    .filter(|_| time::local_text(date, clock) && !time::dateless(date));
                let zoned = |s: f64| wall.map_or(s, |z| z.to_utc(s, times.last().copied()));
                let read = match (clock, clock.filter(|_| hours).and_then(time::hour_number)) {
                    (None, _) => seconds(date).map(zoned),
                    // `Date,Hour` (hourly exports): the date's midnight and
                    // the hours since (25 on the day the clocks go back).
                    (Some(_), Some(hours)) => seconds(date).map(|s| zoned(s) + 3600.0 * hours),
                    (Some(clock), None) => seconds(&join(date, clock)).map(zoned),
                };
                read.map(Some).map_err(|why| {
                    let reversed = clock.is_some_and(|c| seconds(&join(c, date)).is_ok());
                    Refusal::Time(time::stamp_refusal(label, why, clock, reversed))
                })
            };
            let cells = shifted()
                .and_then(|()| Ok((cell(ci, &label_in)?, cell(co, &label_out)?, stamp()?)));
            match cells {
                Ok((x, y, t)) => {
                    if times.is_empty() && t.is_some() {
                        // Local dates, or numbers or stamps with an offset?
                        let cell = |k: usize| time.get(k).and_then(|(i, _)| r.get(*i));
                        rec.time_local = cell(0).is_some_and(|d| time::local_text(d, cell(1)));
                        // Or a time of day or since the start, no date.
                        rec.time_clock = cell(1).is_none() && cell(0).is_some_and(time::dateless);
                        rec.time_local &= !rec.time_clock;
                        // Or numbers, in the unit the name gives.
                        rec.time_numbers = (cell(1).is_none()
                            && cell(0).is_some_and(time::numeric))
                        .then_some(time_unit.unwrap_or(1.0));
                        rec.read_in(opts.time_zone.as_ref());
                    }
                    times.extend(t);
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
                Err(Refusal::File(why)) => {
                    // Not skipped even with skip_bad_rows: every cell of
                    // thousands (`1.013`) would be, silently.
                    Err(at(
                        byte,
                        format!(
                            "{why} (--skip-bad-rows does not skip such rows: all values grouped \
                             in thousands would go)"
                        ),
                    ))
                }
                Err(refusal) => {
                    let in_time = matches!(refusal, Refusal::Time(_));
                    let (Refusal::Row(why) | Refusal::Time(why) | Refusal::File(why)) = refusal;
                    let used = opts.used_rows.as_ref().is_none_or(|r| r.contains(&at_row));
                    // With --rows-of, rows before every chosen column has had
                    // a value have none to take yet: skipped (counted rows).
                    let leading = opts.rows_of.is_some() && rec.rows == 0;
                    // A bad row in a stretch --exclude leaves out: left out.
                    let stamp = (!in_time).then(|| stamp().ok().flatten()).flatten();
                    let excluded = stamp.is_some_and(|t| exclude::within(&left_out, t));
                    rec.excluded_skipped += usize::from(excluded);
                    if !opts.skip_bad_rows && used && !leading && !excluded {
                        // Several topics' rows merged: said instead.
                        let rows = || records(bytes, delimiter).skip(usize::from(header));
                        let topics = (opts.rows_of.is_none() && !in_time)
                            .then(|| {
                                topics::merged_in(
                                    rows().filter_map(|r| r.ok()).map(|(_, r)| r),
                                    rec,
                                )
                            })
                            .flatten();
                        let hint = topics.unwrap_or_else(|| header::bad_row_hint(at_row, in_time));
                        return Err(at(byte, format!("{why} ({hint})")));
                    }
                    *time_skips += usize::from(in_time);
                    rec.skipped += 1;
                    if rec.skipped_examples.len() < SKIPPED_EXAMPLES && !excluded {
                        rec.skipped_examples
                            .push(format!("line {}: {why}", line_of(byte)));
                    }
                    if rec.segments.last().is_some_and(|s| !s.is_empty()) {
                        rec.segments.push(Segment::default());
                    }
                    Ok(())
                }
            }
        };
        // The data rows again, and the columns' names, for the hints of a
        // time column and of several devices' rows.
        let data_rows = || {
            let data = records(bytes, delimiter).skip(usize::from(header));
            data.filter_map(|r| r.ok()).map(|(_, r)| r)
        };
        let header_names: &[String] = if header { names } else { &[] };
        if let (true, Some(r)) = (time.is_empty(), data_rows().next()) {
            rec.time_guess = time::time_columns(&r, header_names, &[ci, co]);
            rec.time_hint = time::time_flags(&rec.time_guess);
            let others: Vec<usize> = (0..r.len()).filter(|&i| i != ci).collect();
            rec.input_looks_like_time = !time::time_columns(&r, header_names, &others).is_empty();
        }
        if picker.is_none() && !opts.one_stream {
            rec.stream_hint = streams::interleaved(data_rows(), header_names, &chosen);
        }
        // Each stream's rows go to a recording of its own, as another
        // file's would (their rows and `seq`s count from its own first);
        // a stream not read passes its rows over as comment lines.
        let template = rec;
        let mut parts: Vec<(Recording, Vec<f64>, usize)> = Vec::new();
        let mut to = |byte: u64, r: &csv::ByteRecord| -> Result<()> {
            let mut kept = None;
            let r = match rows_of.as_mut().map(|(o, _)| o.take(r)) {
                Some(Some(row)) => &*kept.insert(row),
                Some(None) => return Ok(()),
                None => r,
            };
            let place = match picker.as_mut() {
                None => Some(0),
                Some(p) => p.take(byte, r).map_err(|why| at(byte, why))?,
            };
            let Some(place) = place else { return Ok(()) };
            while parts.len() <= place {
                parts.push((template.clone(), Vec::new(), 0));
            }
            let (rec, times, skips) = &mut parts[place];
            row(byte, r, rec, times, skips)
        };
        if !header {
            to(first_at, &first).map_err(|e| toa5::noted(e, &read_notes))?;
        }
        while let Some((byte, r)) = next()? {
            to(byte, &r).map_err(|e| toa5::noted(e, &read_notes))?;
        }
        if parts.is_empty() {
            parts.push((template, Vec::new(), 0));
        }
        // Rows of several topics: what `--rows-of` read, or where it would do.
        if let Some((rec, ..)) = parts.first_mut() {
            rec.topics_note = topics::note(rows_of.as_ref(), rec, data_rows(), header_names);
        }
        for (rec, ..) in &mut parts {
            rec.rows_of = rows_of.as_ref().map(|(o, name)| (name.clone(), o.rows.0));
        }
        let named = match (&picker, &stream) {
            (Some(p), Some((s, _))) => {
                let (column, all) = p.found(path)?;
                let read = p.read();
                // Without a time column to refuse repeated stamps: devices
                // in turn within the first stream's rows say the column
                // names something else (a state, a site), said of it.
                if let (Some(first), true) = (read.first(), time.is_empty() && !opts.one_stream) {
                    let rows = data_rows().filter(|r| streams::cell(r, *s) == first.as_bytes());
                    let within = streams::interleaved(rows, header_names, &[ci, co, *s]);
                    if let (Some(h), Some((rec, ..))) = (within, parts.first_mut()) {
                        rec.stream_hint = Some(format!(
                            "in the rows of stream {first:?} alone, {h} (is {column:?} the \
                             column naming each row's device?)"
                        ));
                    }
                }
                if let Some((rec, ..)) = parts.first_mut() {
                    (rec.unnamed_rows, rec.first_unnamed_line) =
                        (p.unnamed.0, p.unnamed.1.map(line_of));
                }
                for ((rec, ..), name) in parts.iter_mut().zip(read) {
                    (rec.stream_column, rec.stream) = (Some(column.clone()), Some(name));
                    rec.streams.clone_from(&all);
                }
                true
            }
            _ => false,
        };
        let mut done = Vec::with_capacity(parts.len());
        // (Rows skipped for their time cell: when they are all the skipped
        // rows, the time column is the one to check.)
        for (mut rec, times, time_skips) in parts {
            rec.segments.retain(|s| !s.is_empty());
            if !time.is_empty() {
                time::split_at_gaps(&mut rec, &times, opts.max_gap, time.len())?;
                // Its stamps do not repeat round by round (they would have been
                // refused, naming the column): a column that comes round in
                // turn is an hour's or a weekday's, no device's.
                rec.stream_hint = None;
                // Several devices' rows one block after another: the time goes
                // back where the device changes.
                let back = streams::back_rows(&rec.row_times, rec.time_step);
                if !named && !opts.one_stream && !back.is_empty() {
                    rec.stream_hint = streams::blocks(data_rows(), header_names, &chosen, &back);
                    rec.stream_blocks = rec.stream_hint.is_some();
                }
            }
            exclude::apply(&mut rec, &left_out)?;
            if rec.rows == 0 {
                return Err(rec.no_rows(time_skips, label_time.as_deref()));
            }
            if let Some((_, notes, (delimiter, decimal), (held, per_tick))) = &regular {
                // Its skipped rows are the ticks without both values (kept
                // as data rows: row k is tick k), no bad rows.
                let note = (notes.iter()).find(|(name, _)| *name == rec.stream);
                rec.resampled = note.or(notes.first()).map(|(_, n)| n.clone());
                (rec.held_s, rec.changes_per_tick) = (*held, Some(*per_tick));
                rec.skipped_examples.clear();
                (rec.delimiter, rec.decimal) = (*delimiter, *decimal);
            }
            done.push(rec);
        }
        if named {
            done.sort_by(|a, b| a.stream.cmp(&b.stream));
        }
        Ok(done)
    }
}

mod dates;
mod describe;
mod encoding;
mod exclude;
mod file;
mod header;
pub mod join;
mod numbers;
mod options;
mod quotes;
mod record;
mod resample;
mod segment;
mod streams;
#[cfg(test)]
mod tests;
mod text;
pub(crate) mod time;
mod toa5;
mod topics;
mod zone;
