//! A Campbell Scientific logger's TOA5 file (`"TOA5","Station",…`): a
//! line about the logger, the columns' names, their units, how each was
//! processed (`Avg`, `Smp`), then the rows.
//!
//! When the logger's program changes (a column added, one removed),
//! LoggerNet appends to the same file: a new block of those four lines,
//! then rows of the new table. Read as one table, every row after such a
//! block was a bad row ("the row has 13 fields, the header 12: a ','
//! inside a cell…", or, skipped, a month gone with only a `"NAN"` line for
//! an example). Each later block's rows are read by the columns' names,
//! into the first block's columns, and the change is said.

use std::borrow::Cow;
use std::collections::HashMap;

/// What a TOA5 file's header blocks told.
pub(super) struct Toa5 {
    /// The first block's units, one per column (empty where none).
    pub units: Vec<String>,
    /// Each later block: where it is and how its table differs.
    pub changes: Vec<String>,
}

/// Reads a TOA5 file's header blocks, if `text` is one: their lines
/// become comment lines (so line numbers stay the file's), and rows after
/// a later block of other columns are rewritten in the first block's
/// columns, by name (a column the later table lacks: an empty cell).
pub(super) fn read(text: &mut Cow<'_, [u8]>) -> Option<Toa5> {
    if !block_at(text, 0) {
        return None;
    }
    let lines = lines(text);
    let cells_of = |i: usize| cells(&text[lines.get(i)?.clone()]);
    let (names, units) = (cells_of(1)?, cells_of(2)?);
    let later: Vec<usize> = (4..lines.len())
        .filter(|&i| block_at(text, lines[i].start))
        .collect();
    let mut changes = Vec::new();
    if later.is_empty() {
        for i in [0, 2, 3] {
            if let Some(line) = lines.get(i) {
                comment(text.to_mut(), line.start);
            }
        }
        return Some(Toa5 { units, changes });
    }
    let mut out = Vec::with_capacity(text.len() + text.len() / 8);
    // How a row's cells map into the first block's columns (`None`: as
    // they are).
    let mut map: Option<Vec<Option<usize>>> = None;
    let mut header_lines = 0..4;
    for (i, span) in lines.iter().enumerate() {
        let line = &text[span.clone()];
        if later.contains(&i) {
            header_lines = i..i + 4;
            let (new_names, new_units) = (cells_of(i + 1), cells_of(i + 2));
            let rows = later
                .iter()
                .find(|&&l| l > i)
                .unwrap_or(&lines.len())
                .saturating_sub(i + 4);
            let new_names = new_names.unwrap_or_default();
            changes.push(change(
                i + 1,
                rows,
                (&names, &units),
                (&new_names, &new_units.unwrap_or_default()),
            ));
            map = (new_names != names).then(|| {
                let at: HashMap<&str, usize> = (new_names.iter().enumerate())
                    .map(|(k, n)| (n.as_str(), k))
                    .collect();
                names.iter().map(|n| at.get(n.as_str()).copied()).collect()
            });
        }
        let (body, end) = split_end(line);
        let first = body.first().copied();
        if header_lines.contains(&i) && i != 1 {
            // The header's names (line 2) stay: they are the header.
            out.push(b'#');
            out.extend_from_slice(body.get(1..).unwrap_or_default());
        } else if let (Some(map), false) = (&map, matches!(first, None | Some(b'#'))) {
            let row = cells(body).unwrap_or_default();
            let picked = map.iter().map(|k| k.and_then(|k| row.get(k)));
            let row: Vec<String> = picked.map(|c| quoted(c.map_or("", |c| c))).collect();
            out.extend_from_slice(row.join(",").as_bytes());
        } else {
            out.extend_from_slice(body);
        }
        out.extend_from_slice(end);
    }
    *text = Cow::Owned(out);
    Some(Toa5 { units, changes })
}

/// A row refused after a later block: the block's change said with it
/// (a column the new table lacks reads empty, and the line's own cells
/// do not show why).
pub(super) fn noted(e: crate::error::Error, changes: &[String]) -> crate::error::Error {
    match e {
        crate::error::Error::Data(why) if !changes.is_empty() => crate::error::Error::Data(
            format!("{why} (the file's tables changed: {})", changes.join("; ")),
        ),
        e => e,
    }
}

/// Whether a TOA5 block's first line starts at byte `at`: `TOA5` and the
/// logger's seven fields (station, model, serial, OS, program, its
/// signature, the table), not a data row whose first cell reads `TOA5`.
fn block_at(text: &[u8], at: usize) -> bool {
    let rest = &text[at.min(text.len())..];
    let line = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())];
    (rest.starts_with(b"\"TOA5\"") || rest.starts_with(b"TOA5,"))
        && cells(line).is_some_and(|c| c.len() >= FIELDS)
}

/// Fields of a TOA5 file's first line.
const FIELDS: usize = 8;

/// Every line's bytes, its line end included.
fn lines(text: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' {
            spans.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < text.len() {
        spans.push(start..text.len());
    }
    spans
}

/// A line without its end (`\n`, `\r\n`), and the end.
fn split_end(line: &[u8]) -> (&[u8], &[u8]) {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    line.split_at(body.len())
}

/// One line's cells, trimmed.
fn cells(line: &[u8]) -> Option<Vec<String>> {
    let record = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line)
        .into_byte_records()
        .next()?
        .ok()?;
    Some(
        record
            .iter()
            .map(|c| String::from_utf8_lossy(c).trim().to_string())
            .collect(),
    )
}

/// A cell as a CSV field: quoted where it holds a comma or a quote.
fn quoted(cell: &str) -> String {
    match cell.contains([',', '"']) {
        true => format!("\"{}\"", cell.replace('"', "\"\"")),
        false => cell.to_string(),
    }
}

/// Makes the line at `at` a comment line (unless it is empty).
fn comment(text: &mut [u8], at: usize) {
    if !matches!(text.get(at), None | Some(b'\r' | b'\n')) {
        text[at] = b'#';
    }
}

/// What a later block at `line` (1-based), `rows` rows long, changes
/// from the first block's columns `(names, units)`.
fn change(line: usize, rows: usize, (names, units): Pair, (now, now_units): Pair) -> String {
    let unit_of = |names: &[String], units: &[String], n: &str| {
        let k = names.iter().position(|x| x == n)?;
        units.get(k).filter(|u| !u.is_empty()).cloned()
    };
    let quoted_list = |v: Vec<&String>| {
        v.iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let added: Vec<&String> = now.iter().filter(|n| !names.contains(n)).collect();
    let gone: Vec<&String> = names.iter().filter(|n| !now.contains(n)).collect();
    let units_changed: Vec<String> = (names.iter())
        .filter_map(|n| {
            let (was, is) = (unit_of(names, units, n)?, unit_of(now, now_units, n)?);
            (was != is).then(|| format!("{n:?} from {was} to {is}"))
        })
        .collect();
    let mut what = Vec::new();
    if !added.is_empty() {
        what.push(format!("adds {} (not read)", quoted_list(added)));
    }
    if !gone.is_empty() {
        what.push(format!(
            "lacks {} (empty cells in its rows)",
            quoted_list(gone)
        ));
    }
    if what.is_empty() && now != names {
        what.push("has the same columns in another order".into());
    }
    if !units_changed.is_empty() {
        what.push(format!("changes units: {}", units_changed.join(", ")));
    }
    let rows_said = match rows {
        0 => "no rows follow it".to_string(),
        1 => "the 1 row after it".to_string(),
        n => format!("the {n} rows after it"),
    };
    if what.is_empty() {
        return format!(
            "line {line}: the logger's header again, of the same table ({rows_said}): two \
             downloads joined? Overlapping times are said as the time going back"
        );
    }
    format!(
        "line {line}: a new TOA5 header (the logger's program changed): its table {}; {}",
        what.join("; "),
        match rows {
            0 => rows_said,
            _ => format!("{rows_said} are read by the columns' names"),
        }
    )
}

/// A block's names and units.
type Pair<'a> = (&'a [String], &'a [String]);

#[cfg(test)]
mod tests {
    use crate::recording::{Column, CsvOptions, Recording};

    const HEAD: &str =
        "\"TOA5\",\"Bridge7\",\"CR1000X\",\"1\",\"OS\",\"CPU:a.CR1X\",\"7\",\"T10\"\r\n";

    /// A Campbell Scientific logger's TOA5 file is read as it comes: the
    /// names from its second line, the units from its third, the rows from
    /// its fifth, line numbers those of the file.
    #[test]
    fn a_toa5_logger_file_is_read_as_it_comes() {
        let text = format!(
            "{HEAD}\"TIMESTAMP\",\"RECORD\",\"AirTC_Avg\",\"SoilT_10cm\"\r\n\
             \"TS\",\"RN\",\"Deg C\",\"Deg C\"\r\n\
             \"\",\"\",\"Avg\",\"Smp\"\r\n\
             \"2026-03-01 00:10:00\",0,1.5,4.25\r\n\
             \"2026-03-01 00:20:00\",1,\"NAN\",4.5\r\n\
             \"2026-03-01 00:30:00\",2,2.5,4.75\r\n"
        );
        let mut opts = CsvOptions {
            input: Column::Name("AirTC_Avg".into()),
            output: Column::Name("SoilT_10cm".into()),
            time: vec![Column::Name("TIMESTAMP".into())],
            ..Default::default()
        };
        let path = std::path::Path::new("CR1000_T10.dat");
        let e = Recording::from_bytes(text.as_bytes(), path, &opts).unwrap_err();
        assert!(
            e.to_string().contains("line 6: column \"AirTC_Avg\""),
            "{e}"
        );
        opts.skip_bad_rows = true;
        let r = Recording::from_bytes(text.as_bytes(), path, &opts).unwrap();
        assert_eq!((r.rows, r.skipped), (2, 1));
        assert_eq!(r.input().collect::<Vec<_>>(), [1.5, 2.5]);
        assert_eq!(r.output_unit(), Some("Deg C"));
        assert_eq!(r.input_unit.as_deref(), Some("Deg C"));
        assert!(r.read_as().contains("TOA5"), "{}", r.read_as());
        assert!(r.read_notes.is_empty(), "{:?}", r.read_notes);
        // Cut short after its units (a download stopped): read, no rows.
        let short: String = text.split_inclusive('\n').take(3).collect();
        let e = Recording::from_bytes(short.as_bytes(), path, &opts).unwrap_err();
        assert!(e.to_string().contains("no data rows"), "{e}");
        // Without the logger's line it is an ordinary file (its units row
        // is not a number).
        let plain = text.split_once('\n').unwrap().1;
        let e = Recording::from_bytes(plain.as_bytes(), path, &opts).map(|r| r.skipped);
        assert_eq!(e.ok(), Some(3));
    }

    /// The logger's program changed mid-file: LoggerNet appended a new
    /// header block and rows of one more column. They are read by name,
    /// into the first table's columns, and the change is said with its
    /// line; a column the new table lacks reads empty (a bad row, by
    /// line). The same header again (downloads joined) is said too.
    #[test]
    fn a_new_table_appended_by_the_logger_is_read_by_name() {
        let first = "\"TIMESTAMP\",\"RECORD\",\"BattV\",\"DeckT\",\"Strain_3\"\r\n\
                     \"TS\",\"RN\",\"Volts\",\"Deg C\",\"ustrain\"\r\n\
                     \"\",\"\",\"Min\",\"Avg\",\"Smp\"\r\n";
        let second = "\"TIMESTAMP\",\"RECORD\",\"BattV\",\"PanelT\",\"DeckT\",\"Strain_3\"\r\n\
                      \"TS\",\"RN\",\"Volts\",\"Deg C\",\"Deg F\",\"ustrain\"\r\n\
                      \"\",\"\",\"Min\",\"Avg\",\"Avg\",\"Smp\"\r\n";
        let text = format!(
            "{HEAD}{first}\
             \"2026-05-04 11:40:00\",10,12.5,20.5,-100.25\r\n\
             \"2026-05-04 11:50:00\",11,12.5,21.5,-110.25\r\n\
             {HEAD}{second}\
             \"2026-05-04 12:00:00\",0,12.5,25.0,70.5,-120.25\r\n\
             \"2026-05-04 12:10:00\",1,12.5,\"NAN\",71.5,\"oops\"\r\n"
        );
        let opts = CsvOptions {
            input: Column::Name("DeckT".into()),
            output: Column::Name("Strain_3".into()),
            time: vec![Column::Name("TIMESTAMP".into())],
            skip_bad_rows: true,
            ..Default::default()
        };
        let path = std::path::Path::new("bridge.dat");
        let r = Recording::from_bytes(text.as_bytes(), path, &opts).unwrap();
        // The last row's strain, "oops", is no number: skipped by line.
        assert_eq!((r.rows, r.skipped), (3, 1));
        assert!(r.skipped_examples[0].contains("line 12"), "{r:?}");
        assert_eq!(r.input().collect::<Vec<_>>(), [20.5, 21.5, 70.5]);
        assert_eq!(r.output().collect::<Vec<_>>(), [-100.25, -110.25, -120.25]);
        assert_eq!(r.read_notes.len(), 1, "{:?}", r.read_notes);
        let note = &r.read_notes[0];
        for said in [
            "line 7: a new TOA5 header (the logger's program changed)",
            "adds \"PanelT\" (not read)",
            "changes units: \"DeckT\" from Deg C to Deg F",
            "the 2 rows after it are read by the columns' names",
        ] {
            assert!(note.contains(said), "{said}: {note}");
        }
        // The new table lacks the strain: its rows' strain cells are empty.
        let lacking = second.replace("\"Strain_3\"", "\"Strain_9\"");
        let text2 = text.replace(second, &lacking);
        let r = Recording::from_bytes(text2.as_bytes(), path, &opts).unwrap();
        assert_eq!((r.rows, r.skipped), (2, 2), "{r:?}");
        let strict = CsvOptions {
            skip_bad_rows: false,
            ..opts.clone()
        };
        let e = Recording::from_bytes(text2.as_bytes(), path, &strict).unwrap_err();
        assert!(
            e.to_string().contains("line 11: column \"Strain_3\"")
                && e.to_string()
                    .contains("(the file's tables changed: line 7: a new TOA5 header"),
            "{e}"
        );
        assert!(
            r.read_notes[0].contains("lacks \"Strain_3\" (empty cells in its rows)"),
            "{:?}",
            r.read_notes
        );
        // The same table's header again: the rows as they are, said.
        let joined = format!(
            "{HEAD}{first}\"2026-05-04 11:40:00\",10,12.5,20.5,-100.25\r\n\
             {HEAD}{first}\"2026-05-04 11:50:00\",11,12.5,21.5,-110.25\r\n"
        );
        let r = Recording::from_bytes(joined.as_bytes(), path, &opts).unwrap();
        assert_eq!((r.rows, r.skipped), (2, 0));
        assert!(
            r.read_notes[0].contains("line 6: the logger's header again, of the same table"),
            "{:?}",
            r.read_notes
        );
    }
}
