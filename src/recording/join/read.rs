//! One file of a join read for its channels: with the flags given, or,
//! where they do not fit it, with its own settings. Two systems' exports
//! differ (a BMS trend's 3-line preamble, `;` and decimal commas and a
//! column `Datum/Uhrzeit`; a meter portal's `timestamp` and points), and
//! one set of flags for every file read the second through the first's
//! preamble: each file is read as it needs, and what differed is said.

use std::path::Path;

use super::super::Recording;
use super::super::options::{Column, CsvOptions};
use crate::error::{Error, Result};

/// The file's channels (the input's and the output's, where it has
/// them), the options that read it, and what in them is its own.
pub(super) struct Read {
    pub channels: [Option<Recording>; 2],
    pub own: Option<String>,
}

/// A channel read alone, or why the file has no such column (the reader's
/// own words, naming the header it read).
type Channel = std::result::Result<Recording, String>;

pub(super) fn read(path: &Path, given: &CsvOptions) -> Result<Read> {
    let first = both(path, given);
    if any(&first) {
        return Ok(found(first?, None));
    }
    let why = why_not(&first);
    let (mut own, mut said) = own_settings(given, &why);
    let mut second = both(path, &own);
    // Read with no lines skipped, the preamble it shows (another than
    // the file the flag was given for): skipped.
    if own.skip_lines == 0
        && !any(&second)
        && let Some(n) = hinted(&why_not(&second))
    {
        own.skip_lines = n;
        said.retain(|x| !x.starts_with("no lines skipped"));
        said.push(format!("{n} lines skipped (its preamble)"));
        second = both(path, &own);
    }
    // A time column named otherwise in this file: its own, by its stamps.
    if let Err(Error::Data(e)) = &second
        && let Some(Column::Name(t)) = given
            .time
            .iter()
            .find(|t| e.contains(&format!("no column named {t}")))
        && let Some(guess) = time_guess(path, &own)
    {
        let names: Vec<String> = guess.iter().map(|(_, n)| format!("{n:?}")).collect();
        said.push(format!(
            "its time column {} (not {t:?}, by its stamps)",
            names.join(" and ")
        ));
        own.time = guess.into_iter().map(|(i, _)| Column::Index(i)).collect();
        second = both(path, &own);
    }
    // The flags given found no column of it, its own settings did, and a
    // row stopped the read (an empty cell, the next flag to give): that is
    // what to say, not the column the flags given did not find. (Where the
    // flags found the columns, their read's error stands: below.)
    if let Err(Error::Data(e)) = &second
        && !said.is_empty()
        && why.contains("no column")
        && !e.contains("no column")
    {
        return Err(Error::Data(format!(
            "{e} (read with its own settings, as the flags given do not fit it: {})",
            said.join(", ")
        )));
    }
    match second {
        Ok(pair) if !said.is_empty() && pair.iter().any(|c| c.is_ok()) => {
            Ok(found(pair, Some(said.join(", "))))
        }
        second => {
            let (input, output) = (&given.input, &given.output);
            // The file read as it is says the header it has.
            let why = match second {
                Ok(_) => why_not(&second),
                Err(_) => why,
            };
            Err(match first {
                Err(e) => e,
                Ok(_) => Error::Data(format!(
                    "{} holds neither {input} nor {output}, read with the flags given (which \
                     every --data file is read with) or with its own settings (no lines \
                     skipped, its delimiter and decimal separator sniffed): {why}",
                    path.display()
                )),
            })
        }
    }
}

/// Some channel was found.
fn any(read: &Result<[Channel; 2]>) -> bool {
    matches!(read, Ok(pair) if pair.iter().any(|c| c.is_ok()))
}

/// Why a read found no channel: its error, or why the input's column is
/// not there (the reader's words, with the header it saw).
fn why_not(read: &Result<[Channel; 2]>) -> String {
    match read {
        Err(e) => e.to_string(),
        Ok([Err(why), _]) => why.clone(),
        Ok(_) => String::new(),
    }
}

fn found(channels: [Channel; 2], own: Option<String>) -> Read {
    let [a, b] = channels;
    Read {
        channels: [a.ok(), b.ok()],
        own,
    }
}

/// The file read for each channel.
fn both(path: &Path, opts: &CsvOptions) -> Result<[Channel; 2]> {
    Ok([
        one_channel(path, &opts.input, opts)?,
        one_channel(path, &opts.output, opts)?,
    ])
}

/// The flags a file the given ones do not fit is read with: no lines
/// skipped (or the preamble the reader found), the delimiter and the
/// decimal separator its own; and what differs, said.
fn own_settings(given: &CsvOptions, why: &str) -> (CsvOptions, Vec<String>) {
    let mut own = CsvOptions {
        delimiter: None,
        decimal: None,
        skip_lines: 0,
        ..given.clone()
    };
    let mut said = Vec::new();
    match (given.skip_lines, hinted(why)) {
        (0, Some(n)) => {
            own.skip_lines = n;
            said.push(format!("{n} lines skipped (its preamble)"));
        }
        (n @ 1.., _) => said.push(format!("no lines skipped (not {n})")),
        _ => {}
    }
    if given.delimiter.is_some() || given.decimal.is_some() {
        said.push("its delimiter and decimal separator sniffed".into());
    }
    // (A US export beside a European one writes its dates the other way.)
    if given.date_order.is_some() {
        own.date_order = None;
        said.push("the order of day and month its dates show".into());
    }
    (own, said)
}

/// The lines the reader's preamble hint says to skip (`skip them with
/// --skip-lines 3`).
fn hinted(why: &str) -> Option<usize> {
    let n: usize = (why.split("--skip-lines ").nth(1))?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    (n > 0).then_some(n)
}

/// The columns that look like time stamps in `path`, with their names.
fn time_guess(path: &Path, opts: &CsvOptions) -> Option<Vec<(usize, String)>> {
    // (Bad rows skipped, and no stretch left out, which needs the time
    // column this looks for: the stamps are what is asked of it here.)
    let untimed = CsvOptions {
        time: Vec::new(),
        exclude: Vec::new(),
        output: opts.input.clone(),
        skip_bad_rows: true,
        ..opts.clone()
    };
    let alone = |c: &Column| CsvOptions {
        input: c.clone(),
        output: c.clone(),
        ..untimed.clone()
    };
    let rec = (Recording::read_streams(path, &alone(&opts.input)).ok())
        .or_else(|| Recording::read_streams(path, &alone(&opts.output)).ok())?
        .into_iter()
        .next()?;
    (!rec.time_guess.is_empty()).then_some(rec.time_guess)
}

/// `path` read for column `c` alone (as both channels), or why it has no
/// column of that name.
pub(super) fn one_channel(path: &Path, c: &Column, opts: &CsvOptions) -> Result<Channel> {
    let alone = CsvOptions {
        input: c.clone(),
        output: c.clone(),
        ..opts.clone()
    };
    match Recording::read_streams(path, &alone) {
        Ok(mut recs) if recs.len() == 1 => Ok(Ok(recs.remove(0))),
        Ok(recs) => Err(Error::Data(format!(
            "{}: {} devices' rows (a stream column): join files of one device each \
             (--stream-column none reads the file as one)",
            path.display(),
            recs.len()
        ))),
        Err(Error::Data(why)) if why.contains(&format!("no column named {c}")) => Ok(Err(why)),
        Err(e) => Err(e),
    }
}
