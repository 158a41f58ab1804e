//! A recording read for `publish --data` and `tail --data`: its streams,
//! each under the key `publish` sends it by, and what reading it says.

use std::path::Path;

use anyhow::Result;

use super::CsvArgs;

/// A recording's two columns as a signal, for `publish --data` and `tail
/// --data`: one, or with `--stream-column` one per stream, by its key.
/// Each stream's key (none for a file of one) and its signal.
type Keyed = Vec<(Option<String>, pipeline::tools::Signal)>;

/// And whether its rows look like several devices' read as one (warned).
pub(crate) fn recorded_signals(path: &Path, csv: &CsvArgs) -> Result<(Keyed, bool)> {
    let all = read_streams(path, &csv.options())?;
    // Several devices' rows read as one: every stream would be scored
    // against their rows taken in turn.
    let devices = all.iter().find_map(|r| r.stream_hint.as_ref());
    if let Some(devices) = devices {
        tracing::warn!("{}: {devices}", path.display());
    }
    let signals = (all.iter())
        .map(|r| Ok((stream_key(r)?, pipeline::tools::Signal::recorded(r))))
        .collect::<Result<_>>()?;
    Ok((signals, devices.is_some()))
}

/// A file's recordings, one per stream, saying of rows that name no
/// stream (skipped with `--skip-bad-rows`).
pub(super) fn read_streams(
    path: &Path,
    opts: &pipeline::recording::CsvOptions,
) -> Result<Vec<pipeline::recording::Recording>> {
    let all = pipeline::recording::Recording::read_streams(path, opts)?;
    if let Some(note) = all.iter().find_map(|r| r.unnamed_note()) {
        tracing::warn!("{}: {note}", path.display());
    }
    // Several topics' rows: every skipped row is a gap in `seq`, where the
    // service starts the stream's window again (none may be made).
    if let Some(r) = all.iter().find(|r| r.topics_note.is_some()) {
        let gaps = match r.rows_of {
            None => {
                " (each row skipped is a gap in seq, where the service starts the stream's \
                     window again)"
            }
            Some(_) => "",
        };
        let note = r.topics_note.as_deref().unwrap_or_default();
        tracing::warn!("{}: {note}{gaps}", path.display());
    }
    Ok(all)
}

/// The key a stream of a file of several is published under: its name in
/// the file, with what a NATS subject token cannot hold (spaces, `.`, `*`,
/// `>`) written `_` (`Turbine 1` → `Turbine_1`), as `publish` and `tail`
/// both write it.
pub(super) fn stream_key(r: &pipeline::recording::Recording) -> Result<Option<String>> {
    let Some(name) = &r.stream else {
        return Ok(None);
    };
    let key = key_of(name);
    pipeline::window::validate_key(&key).map_err(|why| {
        pipeline::Error::Data(format!("{}: {why}: cannot be a stream key", r.source()))
    })?;
    Ok(Some(key))
}

/// A device's name as a stream key (see [`stream_key`]).
fn key_of(name: &str) -> String {
    (name.chars())
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c,
        })
        .collect()
}
