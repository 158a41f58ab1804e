//! The CSV text of a recording: its records with their byte offsets, the
//! sniffed delimiter, and the hints errors give about them.

use super::SNIFF_LINES;

/// The file's records, each with the byte offset it starts at.
pub(super) fn records(
    bytes: &[u8],
    delimiter: u8,
) -> impl Iterator<Item = std::result::Result<(u64, csv::ByteRecord), (u64, csv::Error)>> + '_ {
    let reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(bytes);
    let byte = |p: Option<&csv::Position>| p.map_or(0, csv::Position::byte);
    reader.into_byte_records().map(move |r| match r {
        Ok(r) => Ok((byte(r.position()), r)),
        Err(e) => Err((byte(e.position()), e)),
    })
}

/// A row of units under the header, as historians and spreadsheets export
/// them (`timestamp;pump_speed;motor_power` then `;rpm;kW`): the row right
/// after a header of names holds no number and a short label in at least
/// one cell, and the row after it holds numbers. It becomes a comment line
/// (line numbers stay the file's; data rows are counted without it), and
/// the units are returned, one per column (empty where none). Before,
/// the reader stopped at its first cell with "\"rpm\" is not a number",
/// and `--skip-bad-rows` skipped it as a bad row, its units lost.
pub(super) fn units_row(
    text: &mut std::borrow::Cow<'_, [u8]>,
    delimiter: u8,
) -> Option<Vec<String>> {
    let cells = |r: &csv::ByteRecord| -> Vec<String> {
        r.iter()
            .map(|c| String::from_utf8_lossy(c).trim().to_string())
            .collect()
    };
    let (names, (at, units), data) = {
        let mut rows = records(text, delimiter).take(3);
        let mut next = || rows.next()?.ok();
        let (names, units, data) = (next()?, next()?, next()?);
        (cells(&names.1), (units.0, cells(&units.1)), cells(&data.1))
    };
    // A unit is a short label: a letter or `%°/`, two digits at most
    // (`m3/h`, `mm2`; a time of day or a date has more), one word, and no
    // error code (`#NV`, `#N/A`) or missing-value word. `-`, `[-]` and
    // `1` (dimensionless) may stand beside units.
    let is_unit = |u: &str| {
        u.chars().count() <= 12
            && u.chars().any(|c| c.is_alphabetic() || "%°/".contains(c))
            && u.chars().filter(char::is_ascii_digit).count() <= 2
            && !u.contains(char::is_whitespace)
            && !u.starts_with('#')
            && !MISSING_WORDS.contains(&u.to_lowercase().as_str())
    };
    let dimensionless = |u: &str| ["-", "[-]", "1", "[1]"].contains(&u);
    // A time column's format where its unit would be: PhysioNet's
    // `hh:mm:ss.mmm dd/mm/yyyy`, `yyyy-mm-dd hh:mm:ss`.
    let format = |u: &str| u.contains(':') && (u.chars()).all(|c| "hmsydHMSYD:./-[] ".contains(c));
    let header = names.iter().all(|n| !numeric(n)) && names.iter().any(|n| !n.is_empty());
    // Two labels or more, and not all one: a row of one error text or one
    // stamp (sensors blank at the start of an export) is a data row.
    let mut labels: Vec<&String> = units.iter().filter(|u| is_unit(u)).collect();
    labels.sort();
    labels.dedup();
    let labelled = labels.len() >= 2
        && units
            .iter()
            .all(|u| u.is_empty() || is_unit(u) || dimensionless(u) || format(u));
    let then_data = data.iter().any(|d| numeric(d));
    if !(header && labelled && then_data && units.len() <= names.len()) {
        return None;
    }
    // The record's position may be the line end before it: its first
    // other byte starts the line.
    let mut start = usize::try_from(at).ok()?;
    while matches!(text.get(start), Some(b'\r' | b'\n')) {
        start += 1;
    }
    if start >= text.len() {
        return None;
    }
    text.to_mut()[start] = b'#';
    Some(units)
}

/// Cells that say a value is missing or a reading failed, never a unit.
const MISSING_WORDS: [&str; 19] = [
    "na", "n/a", "nan", "null", "none", "-", "--", "?", "nv", "k.a.", "n.a.", "bad", "error",
    "err", "off", "on", "invalid", "timeout", "nodata",
];

/// Whether a cell reads as a number in either convention (`1.059,0`,
/// `-3.5e2`, `12,5`): digits, signs, separators and an exponent only.
fn numeric(cell: &str) -> bool {
    let core: String = cell
        .chars()
        .filter(|c| !matches!(c, '.' | ',' | ' ' | '\''))
        .collect();
    // A name such as `E1` is no number: one starts with a digit, a sign or
    // a separator.
    let starts = cell
        .trim_start()
        .starts_with(|c: char| c.is_ascii_digit() || "+-.,".contains(c));
    starts
        && !core.is_empty()
        && core.chars().any(|c| c.is_ascii_digit())
        && core
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | 'e' | 'E'))
}

/// The delimiter a first line `sep=X` names (Excel writes it, and reads a
/// file by it, when asked to export with a given separator).
pub(super) fn declared_delimiter(bytes: &[u8]) -> Option<u8> {
    let line = bytes.split(|&b| b == b'\n').next()?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line.strip_prefix(b"sep=") {
        Some(&[d]) if d.is_ascii() && d != b'"' => Some(d),
        _ => None,
    }
}

/// The delimiter that splits the first lines into the same number (> 1) of
/// fields (but for fewer in lines above the header), preferring tab, then
/// `;` (whose files often use decimal commas), then `,`. A file that none
/// splits evenly is read with `,`.
pub(super) fn sniff_delimiter(bytes: &[u8]) -> u8 {
    // Only whole lines: the last one may be cut.
    let mut end = 0;
    let mut lines = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            end = i + 1;
            lines += 1;
            if lines == SNIFF_LINES {
                break;
            }
        }
    }
    let sample = if end == 0 { bytes } else { &bytes[..end] };
    for d in [b'\t', b';', b','] {
        let counts: Vec<usize> = csv::ReaderBuilder::new()
            .delimiter(d)
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .from_reader(sample)
            .byte_records()
            .map_while(|r| r.ok().map(|r| r.len()))
            .collect();
        // Lines above the header (a logger's `Device;Logger 7`) have fewer
        // fields: the rest must agree.
        let Some(&n) = counts.last() else { continue };
        let block = counts.iter().rev().take_while(|&&c| c == n).count();
        if n > 1 && block > counts.len() / 2 && counts.iter().all(|&c| c <= n) {
            return d;
        }
    }
    b','
}

/// The most fields one of the first [`SNIFF_LINES`] rows has, and where the first
/// such row starts (its byte) when most of them are wider than the first
/// row (`first` fields): a preamble above the header, not one wider data
/// row.
pub(super) fn preamble(bytes: &[u8], delimiter: u8, first: usize) -> (usize, Option<u64>) {
    let widths: Vec<(u64, usize)> = records(bytes, delimiter)
        .take(SNIFF_LINES)
        .map_while(|r| r.ok())
        .map(|(byte, r)| (byte, r.len()))
        .collect();
    let widest = widths.iter().map(|w| w.1).max().unwrap_or(0);
    let wider = widths.iter().filter(|w| w.1 > first).count();
    let header = (2 * wider > widths.len())
        .then(|| widths.iter().find(|w| w.1 == widest).map(|w| w.0))
        .flatten();
    (widest, header)
}

/// `widest_at`: the line of the first row with `widest` fields (the
/// header, below a preamble).
pub(super) fn preamble_hint(first: usize, widest: usize, widest_at: Option<u64>) -> String {
    match widest_at {
        _ if first >= widest => String::new(),
        Some(line) if line > 1 => format!(
            "; the first row has {first} field(s), later rows {widest}, from line {line}: if \
             the {} line(s) above it are not data (a logger's preamble), skip them with \
             --skip-lines {} (or start each with '#': comment lines are skipped)",
            line - 1,
            line - 1
        ),
        _ => format!(
            "; the first row has {first} field(s), later rows {widest}: if lines above the \
             header are not data, skip them with --skip-lines N, or start each with '#' \
             (comment lines are skipped)"
        ),
    }
}

/// `text` with its first `n` lines made comment lines (`#` for their first
/// byte; blank ones stay blank), so that line numbers stay the file's.
pub(super) fn skip_lines(text: &mut [u8], n: usize) {
    let mut at = 0;
    for _ in 0..n {
        if at >= text.len() {
            return;
        }
        if text[at] != b'\n' && text[at] != b'\r' {
            text[at] = b'#';
        }
        at = text[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |i| at + i + 1);
    }
}

/// A record's fields up to its last non-empty one (a trailing delimiter,
/// or a writer padding short rows, adds empty fields that shift nothing).
pub(super) fn filled(r: &csv::ByteRecord) -> usize {
    r.iter()
        .rposition(|f| !f.iter().all(u8::is_ascii_whitespace))
        .map_or(0, |i| i + 1)
}

pub(super) fn delimiter_name(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "tab".to_string(),
        d => format!("{:?}", d as char),
    }
}

pub(super) fn delimiter_hint(delimiter: u8, sniffed: bool) -> String {
    let name = delimiter_name(delimiter);
    if sniffed {
        format!(" (delimiter {name}, sniffed; set it with --delimiter)")
    } else {
        format!(" (delimiter {name})")
    }
}

/// Where the first row is one field holding another delimiter (`--delimiter
/// ,` on a tab-separated file): the one it likely is.
pub(super) fn other_delimiter(first: &[String], delimiter: u8) -> Option<String> {
    let [only] = first else { return None };
    let (d, n) = [b'\t', b';', b',']
        .into_iter()
        .filter(|&d| d != delimiter)
        .map(|d| (d, only.bytes().filter(|&b| b == d).count()))
        .max_by_key(|&(_, n)| n)?;
    (n > 0).then(|| {
        let name = delimiter_name(d);
        let flag = if d == b'\t' {
            "tab".to_string()
        } else {
            format!("'{}'", d as char)
        };
        format!(
            "; the first row is one field holding {n} {name}(s): is the file {name}-separated \
             (--delimiter {flag}, or no --delimiter: it is sniffed)?"
        )
    })
}

/// Parses `--delimiter`: one ASCII character, or `tab` / `\t`.
pub fn parse_delimiter(s: &str) -> std::result::Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        "comma" => Ok(b','),
        "semicolon" => Ok(b';'),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "delimiter must be one ASCII character or tab, got {s:?}"
        )),
    }
}

/// The one header name `given` most likely meant: equal once case, spaces,
/// punctuation, a unit in brackets and the spelling of umlauts are set
/// aside (`vorlauftemperatur` for `Vorlauftemperatur [°C]`, `flow_m3h` for
/// `Flow (m3/h)`, `Aussentemperatur` for `Außentemperatur [°C]`, a name
/// typed with a combining diaeresis, or a header UTF-8 decoded twice,
/// `AuÃŸentemperatur`), or the only name that begins with it.
pub(super) fn did_you_mean<'a>(given: &str, names: &'a [String]) -> Option<&'a str> {
    let bare = |s: &str| -> String {
        let s = s.trim();
        let s = match s.rfind(['[', '(']) {
            Some(i) if i > 0 && s.ends_with([']', ')']) => &s[..i],
            _ => s,
        };
        fold(s)
    };
    let one = |found: Vec<&'a String>| match found[..] {
        [only] => Some(only.as_str()),
        _ => None,
    };
    let want = bare(given);
    if want.is_empty() {
        return None;
    }
    // A "name" holding a tab is a whole row read with another delimiter.
    let names: Vec<&'a String> = names.iter().filter(|h| !h.contains('\t')).collect();
    let full = |s: &str| -> String { fold(s) };
    one(names
        .iter()
        .copied()
        .filter(|h| bare(h) == want || full(h) == full(given))
        .collect())
    .or_else(|| {
        one(names
            .iter()
            .copied()
            .filter(|h| full(h).starts_with(&full(given)))
            .collect())
    })
    .or_else(|| {
        // The name without a plant's or a tag's prefix (`Drehzahl` for
        // `P1_Drehzahl`), three letters at least.
        (want.len() >= 3)
            .then(|| {
                one(names
                    .iter()
                    .copied()
                    .filter(|h| bare(h).contains(&want))
                    .collect())
            })
            .flatten()
    })
}

/// `s` lowercase, letters and digits only, with umlauts and `ß` spelled
/// out as German writes them without (`ä` and `a` + U+0308 as `ae`, `ß` as
/// `ss`), other accents dropped, and first undone if it is UTF-8 that was
/// decoded as Windows-1252 (`Ã¼` for `ü`).
fn fold(s: &str) -> String {
    let undone = undo_double_encoding(s);
    let s = undone.as_deref().unwrap_or(s);
    let mut out = String::with_capacity(s.len());
    let mut after_umlaut_vowel = false;
    for c in s.chars().flat_map(char::to_lowercase) {
        // A combining diaeresis spells an umlaut out after a, o or u only.
        let diaeresis_e = after_umlaut_vowel;
        after_umlaut_vowel = matches!(c, 'a' | 'o' | 'u');
        match c {
            'ä' | 'ö' | 'ü' => out.extend([
                match c {
                    'ä' => 'a',
                    'ö' => 'o',
                    _ => 'u',
                },
                'e',
            ]),
            'ß' => out.push_str("ss"),
            '\u{308}' if diaeresis_e => out.push('e'),
            'à' | 'á' | 'â' | 'ã' | 'å' => out.push('a'),
            'è' | 'é' | 'ê' | 'ë' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ø' => out.push('o'),
            'ù' | 'ú' | 'û' => out.push('u'),
            'ç' => out.push('c'),
            'ñ' => out.push('n'),
            c if c.is_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out
}

/// `s` as it was, if it is UTF-8 text that was decoded as Windows-1252
/// (every char one byte of it, and those bytes UTF-8 with a char above
/// ASCII); `None` otherwise.
fn undo_double_encoding(s: &str) -> Option<String> {
    if s.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> = s
        .chars()
        .map(|c| (0..=255u8).find(|&b| super::encoding::windows_1252(b) == c))
        .collect();
    String::from_utf8(bytes?).ok().filter(|t| !t.is_ascii())
}

#[cfg(test)]
mod tests {
    use super::{did_you_mean, units_row};

    #[test]
    fn a_near_miss_of_a_column_name_is_suggested() {
        let names: Vec<String> = [
            "Zeit",
            "Vorlauftemperatur [°C]",
            "Rücklauftemperatur [°C]",
            "Flow (m3/h)",
            "Pressure A",
            "Pressure B",
        ]
        .map(String::from)
        .to_vec();
        let guess = |g: &str| did_you_mean(g, &names);
        assert_eq!(guess("Vorlauftemperatur"), Some("Vorlauftemperatur [°C]"));
        assert_eq!(guess("vorlauf_temperatur"), Some("Vorlauftemperatur [°C]"));
        assert_eq!(guess("flow_m3h"), Some("Flow (m3/h)"));
        assert_eq!(guess("Rück"), Some("Rücklauftemperatur [°C]"));
        // Umlauts spelled out, typed decomposed, or a header decoded twice.
        let german: Vec<String> = ["Außentemperatur [°C]", "Rücklauftemperatur [°C]"]
            .map(String::from)
            .to_vec();
        let guess_de = |g: &str| did_you_mean(g, &german);
        assert_eq!(guess_de("Aussentemperatur"), Some("Außentemperatur [°C]"));
        assert_eq!(
            guess_de("Ru\u{308}cklauftemperatur [°C]"),
            Some("Rücklauftemperatur [°C]")
        );
        assert_eq!(
            guess_de("Ruecklauftemperatur"),
            Some("Rücklauftemperatur [°C]")
        );
        // After another letter a combining diaeresis is only an accent.
        let accented = vec!["Citroën".to_string()];
        assert_eq!(did_you_mean("citroe\u{308}n", &accented), Some("Citroën"));
        let twice = vec!["AuÃŸentemperatur [Â°C]".to_string()];
        assert_eq!(
            did_you_mean("Außentemperatur [°C]", &twice),
            Some(twice[0].as_str())
        );
        // A name with a prefix before it (a plant's, a tag's), if one only.
        let tags: Vec<String> = ["Zeitstempel", "P1_Drehzahl", "P1_Leistung", "P2_Leistung"]
            .map(String::from)
            .to_vec();
        assert_eq!(did_you_mean("Drehzahl", &tags), Some("P1_Drehzahl"));
        assert_eq!(did_you_mean("Leistung", &tags), None, "two hold it");
        assert_eq!(did_you_mean("ei", &tags), None, "too short to tell");
        // Two names begin with it, or none is near: no guess.
        assert_eq!(guess("Pressure"), None);
        assert_eq!(guess("Außentemperatur"), None);
        assert_eq!(guess("[]"), None);
    }

    /// A historian's units row under the header is read as the columns'
    /// units, not as a bad data row: rows counted from the one after it,
    /// line numbers the file's. A row of missing-value words, or a header
    /// of numbers (no header), is no units row.
    #[test]
    fn a_units_row_under_the_header_gives_the_units() {
        use crate::recording::{Column, CsvOptions, Recording};
        let text = "timestamp,pump_speed,motor_power,status\r\n\
                    ,rpm,kW,\r\n\
                    2026-03-28T12:00:00+01:00,1089.4,6.62,AUTO\r\n\
                    2026-03-28T12:00:10+01:00,,6.70,AUTO\r\n\
                    2026-03-28T12:00:20+01:00,1091.0,6.75,AUTO\r\n";
        let mut opts = CsvOptions {
            input: Column::Name("pump_speed".into()),
            output: Column::Name("motor_power".into()),
            ..Default::default()
        };
        let path = std::path::Path::new("export.csv");
        let e = Recording::from_bytes(text.as_bytes(), path, &opts).unwrap_err();
        assert!(
            e.to_string().contains("line 4: column \"pump_speed\""),
            "{e}"
        );
        opts.skip_bad_rows = true;
        let r = Recording::from_bytes(text.as_bytes(), path, &opts).unwrap();
        assert_eq!((r.rows, r.skipped), (2, 1));
        assert_eq!(r.input().collect::<Vec<_>>(), [1089.4, 1091.0]);
        assert_eq!(
            (r.input_unit.as_deref(), r.output_unit()),
            (Some("rpm"), Some("kW"))
        );
        assert!(
            r.read_as().contains("units from the row under the header"),
            "{}",
            r.read_as()
        );
        assert_eq!(
            r.segments.iter().map(|s| s.start).collect::<Vec<_>>(),
            [0, 2]
        );
        // Missing-value words under the header are a bad row, as before.
        let words = text.replacen(",rpm,kW,", ",n/a,#N/A,", 1);
        let r = Recording::from_bytes(words.as_bytes(), path, &opts).unwrap();
        assert_eq!((r.rows, r.skipped, r.output_unit()), (2, 2, None));
        // A first data row of error codes, or of a stamp with its sensors
        // blank, is no units row: a bad row, counted, as before.
        for first in [
            "2026-03-28T11:59:50+01:00,#NV,#NV,AUTO",
            "2026-03-28T12:00,,,",
            "2026-03-28T11:59:50+01:00,Bad,Bad,AUTO",
        ] {
            let data = text.replacen(",rpm,kW,", first, 1);
            let r = Recording::from_bytes(data.as_bytes(), path, &opts).unwrap();
            assert_eq!(
                (r.rows, r.skipped, r.output_unit()),
                (2, 2, None),
                "{first}"
            );
        }
        // Dimensionless columns beside units, and a name such as `E1`.
        let mut dimensionless = units_cells("t,E1,x,y\r\n,-,rpm,kW\r\n0,1,2,3\r\n");
        let units = units_row(&mut dimensionless, b',');
        assert_eq!(
            units,
            Some(vec!["".into(), "-".into(), "rpm".into(), "kW".into()])
        );
        // PhysioNet's absolute export: its time column's format where a
        // unit would be (the row was a bad data row, every row after it
        // one off).
        let mut physionet = units_cells(
            "Time and date,PLETH,ABP\r\nhh:mm:ss.mmm dd/mm/yyyy,NU,mmHg\r\n[12:03:04.120 05/03/2026],0.4,67\r\n",
        );
        let units = units_row(&mut physionet, b',');
        assert_eq!(
            units,
            Some(vec![
                "hh:mm:ss.mmm dd/mm/yyyy".into(),
                "NU".into(),
                "mmHg".into()
            ])
        );
        // Without a header of names there is no units row to look for.
        let mut no_header = units_cells("1,2\r\nrpm,kW\r\n3,4\r\n");
        assert_eq!(units_row(&mut no_header, b','), None);
        let mut named = units_cells("a,b\r\nrpm,kW\r\n3,4\r\n");
        assert_eq!(
            units_row(&mut named, b','),
            Some(vec!["rpm".into(), "kW".into()])
        );
        assert!(named.starts_with(b"a,b\r\n#pm,kW"));
    }

    fn units_cells(text: &str) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(text.as_bytes())
    }
}
