//! The `translate` filter: windows as text lines in, translations out, one
//! line per window, batched through the model and streamed (memory stays at
//! one batch however long the input).
//!
//! A line is what a spreadsheet or a script pastes: numbers separated by
//! `,` (`1.5,2.25`), or by `;` or a tab with decimal points or commas
//! (`1,5;2,25`, as German Excel copies a row), or by spaces (numpy's
//! `savetxt`). Each translation is written as its window was, so it pastes
//! back where the window came from.

use std::fmt::Write as _;
use std::io::{BufRead, Write};

use crate::error::{Error, Result};
use crate::fast::{FastModel, Scratch};
use crate::model::MAX_BATCH;

/// How a line writes its numbers: the separator between them and the
/// decimal separator inside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineFormat {
    pub delimiter: char,
    pub decimal_comma: bool,
}

impl Default for LineFormat {
    /// `1.5,2.25`.
    fn default() -> Self {
        Self {
            delimiter: ',',
            decimal_comma: false,
        }
    }
}

impl LineFormat {
    /// The format `line` shows: `;` or a tab if it has one (a comma is then
    /// a decimal comma), else a comma, else spaces. A `;` or tab line of
    /// whole numbers shows no decimal separator: it takes `before`'s (the
    /// line before, when written alike), else a comma after `;` (why else
    /// `;`?) and a point after a tab.
    fn of(line: &str, before: Option<LineFormat>) -> Self {
        let delimiter = [';', '\t', ',']
            .into_iter()
            .find(|d| line.contains(*d))
            .unwrap_or(' ');
        let decimal_comma = match delimiter {
            ',' | ' ' => false,
            _ if line.contains(',') => true,
            _ if line.contains('.') => false,
            d => before
                .filter(|b| b.delimiter == d)
                .map_or(d == ';', |b| b.decimal_comma),
        };
        Self {
            delimiter,
            decimal_comma,
        }
    }
}

/// One field of a line in `format`: quotes (a spreadsheet's) set aside; with
/// decimal commas, `.` groups thousands (`1.205,5`), and a field with `.`
/// alone grouped in threes (`3.833`: three thousand, or three?) is refused
/// rather than guessed.
fn number(field: &str, format: LineFormat) -> std::result::Result<f32, String> {
    let field = field.trim().trim_matches('"').trim();
    let bad = || format!("{field:?} is not a number");
    if !format.decimal_comma {
        return field.parse().map_err(|_| bad());
    }
    if field.contains(',') {
        return field
            .replace('.', "")
            .replace(',', ".")
            .parse()
            .map_err(|_| bad());
    }
    let digits = field.trim_start_matches(['-', '+']);
    let grouped = digits.split('.').count() > 1
        && digits
            .split('.')
            .skip(1)
            .all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()));
    if grouped {
        return Err(format!(
            "{field:?} is ambiguous in a row of decimal commas: a thousands group or a decimal \
             point? (write {} or {})",
            digits.replace('.', ""),
            field.replacen('.', ",", 1)
        ));
    }
    field.parse().map_err(|_| bad())
}

/// Parses one line of `window` finite numbers into `out` (appended) and
/// returns how the line writes them. `line_no` is 1-based, for the error
/// message.
pub fn parse_line(
    line: &str,
    window: usize,
    line_no: u64,
    out: &mut Vec<f32>,
) -> Result<LineFormat> {
    parse_line_after(line, window, line_no, out, None)
}

/// [`parse_line`], the line before having been written in `before`.
fn parse_line_after(
    line: &str,
    window: usize,
    line_no: u64,
    out: &mut Vec<f32>,
    before: Option<LineFormat>,
) -> Result<LineFormat> {
    let start = out.len();
    parse_fields(line, window, out, before).map_err(|reason| {
        // A rejected line leaves nothing behind in the batch.
        out.truncate(start);
        Error::BadLine {
            line: line_no,
            reason,
        }
    })
}

fn parse_fields(
    line: &str,
    window: usize,
    out: &mut Vec<f32>,
    before: Option<LineFormat>,
) -> std::result::Result<LineFormat, String> {
    let start = out.len();
    let line = line.trim();
    let format = LineFormat::of(line, before);
    // A row copied with the cell after it (`1;2;3;`) ends in a delimiter.
    let line = match format.delimiter {
        ' ' => line,
        d => line.strip_suffix(d).unwrap_or(line),
    };
    if !line.is_empty() {
        let fields: Box<dyn Iterator<Item = &str>> = match format.delimiter {
            ' ' => Box::new(line.split_whitespace()),
            d => Box::new(line.split(d)),
        };
        for (i, field) in fields.enumerate() {
            let v = number(field, format).map_err(|why| format!("value {}: {why}", i + 1))?;
            if !v.is_finite() {
                return Err(format!("value {} ({}) is not finite", i + 1, field.trim()));
            }
            out.push(v);
        }
    }
    match out.len() - start {
        n if n == window => Ok(format),
        n => Err(format!("expected {window} numbers, found {n}")),
    }
}

/// Formats one row in `format` with numbers that parse back to the same
/// f32 (Rust's float `Display` prints the shortest round-tripping form).
pub fn format_row(row: &[f32], format: LineFormat, buf: &mut String) {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            buf.push(format.delimiter);
        }
        let at = buf.len();
        // Writing to a String cannot fail.
        let _ = write!(buf, "{v}");
        if format.decimal_comma
            && let Some(point) = buf[at..].find('.')
        {
            buf.replace_range(at + point..=at + point, ",");
        }
    }
    buf.push('\n');
}

/// Reads windows from `input` until EOF and writes their translations to
/// `output`, one line for each line read: blank lines and `#` comments are
/// written back as they came, so the answers line up with the rows pasted.
/// On a bad line, every window before it is still translated and written,
/// then the error (naming the line) is returned. Returns the number of
/// windows translated.
pub fn run(model: &FastModel, input: impl BufRead, mut output: impl Write) -> Result<u64> {
    let w = model.window();
    let mut pending: Vec<f32> = Vec::with_capacity(MAX_BATCH * w);
    let mut text = String::with_capacity(MAX_BATCH * w * 12);
    let mut done = 0u64;
    let mut scratch = Scratch::default();
    let mut translated = Vec::with_capacity(MAX_BATCH * w);
    // Each pending window's line format, to answer in it.
    let mut formats: Vec<LineFormat> = Vec::with_capacity(MAX_BATCH);
    let mut flush = |pending: &mut Vec<f32>,
                     formats: &mut Vec<LineFormat>,
                     text: &mut String,
                     out: &mut dyn Write|
     -> Result<u64> {
        if pending.is_empty() {
            return Ok(0);
        }
        translated.resize(pending.len(), 0.0);
        model.translate_into(pending, &mut translated, &mut scratch)?;
        text.clear();
        for (row, format) in translated.chunks_exact(w).zip(formats.iter()) {
            format_row(row, *format, text);
        }
        out.write_all(text.as_bytes())?;
        let n = (pending.len() / w) as u64;
        pending.clear();
        formats.clear();
        Ok(n)
    };
    let mut line = String::new();
    let mut input = input;
    let mut line_no = 0u64;
    // The last window line's format, for a next one that shows none.
    let mut last: Option<LineFormat> = None;
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        line_no += 1;
        // A blank line (a file's last) or a `#` comment is no window: it is
        // written back in its place.
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            done += flush(&mut pending, &mut formats, &mut text, &mut output)?;
            output.write_all(trimmed.as_bytes())?;
            output.write_all(b"\n")?;
            continue;
        }
        match parse_line_after(&line, w, line_no, &mut pending, last) {
            Ok(format) => {
                last = Some(format);
                formats.push(format);
            }
            Err(e) => {
                flush(&mut pending, &mut formats, &mut text, &mut output)?;
                output.flush()?;
                return Err(e);
            }
        }
        if pending.len() == MAX_BATCH * w {
            done += flush(&mut pending, &mut formats, &mut text, &mut output)?;
        }
    }
    done += flush(&mut pending, &mut formats, &mut text, &mut output)?;
    output.flush()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_whitespace_and_rejects_bad_lines() {
        let mut v = Vec::new();
        parse_line(" 1, 2.5 ,-3e-2\r\n", 3, 1, &mut v).unwrap();
        assert_eq!(v, vec![1.0, 2.5, -0.03]);
        for (line, needle) in [
            ("1,2", "expected 3 numbers, found 2"),
            ("1,2,3,4", "found 4"),
            ("", "found 0"),
            ("1,x,3", "value 2"),
            ("1,NaN,3", "not finite"),
            ("1,2,inf", "not finite"),
            ("1,,3", "value 2"),
        ] {
            let e = parse_line(line, 3, 7, &mut v).unwrap_err().to_string();
            assert!(
                e.starts_with("line 7: ") && e.contains(needle),
                "{line:?}: {e}"
            );
        }
        assert_eq!(v.len(), 3, "failed lines leave nothing behind");
    }

    #[test]
    fn formatted_values_round_trip() {
        let row = [0.1f32, -1.0e-7, 123456.79, f32::MIN_POSITIVE, 1.0 / 3.0];
        for delimiter in [',', ';', '\t', ' '] {
            for decimal_comma in [false, delimiter == ';' || delimiter == '\t'] {
                let format = LineFormat {
                    delimiter,
                    decimal_comma,
                };
                let mut s = String::new();
                format_row(&row, format, &mut s);
                let mut back = Vec::new();
                let read = parse_line(&s, row.len(), 1, &mut back).unwrap();
                assert_eq!((back.as_slice(), read), (&row[..], format), "{s:?}");
            }
        }
    }

    /// A row copied from German Excel (`;` or tab, decimal commas), one from
    /// numpy (spaces), and the answer written the same way.
    #[test]
    fn spreadsheet_rows_are_read_and_answered_in_their_form() {
        let mut v = Vec::new();
        let semi = parse_line("8,39; 8,5 ;-1,25\r\n", 3, 1, &mut v).unwrap();
        let tab = parse_line("8,39\t8\t-1,25", 3, 2, &mut v).unwrap();
        let spaces = parse_line("  8.39  8 -1.25e0 ", 3, 3, &mut v).unwrap();
        let points = parse_line("8.39;8;-1.25", 3, 4, &mut v).unwrap();
        assert_eq!(
            v,
            [
                8.39, 8.5, -1.25, 8.39, 8.0, -1.25, 8.39, 8.0, -1.25, 8.39, 8.0, -1.25
            ]
        );
        let mut s = String::new();
        for format in [semi, tab, spaces, points] {
            format_row(&[1.5, -2.0], format, &mut s);
        }
        assert_eq!(s, "1,5;-2\n1,5\t-2\n1.5 -2\n1.5;-2\n");
        // A comma in a `,` line is a separator, not a decimal comma.
        let e = parse_line("8,39,1", 2, 5, &mut v).unwrap_err().to_string();
        assert!(e.contains("expected 2 numbers, found 3"), "{e}");
    }

    /// What else a spreadsheet pastes: a delimiter after the last cell,
    /// quoted cells, thousands groups; whole numbers after `;` (a German
    /// row) answered with commas; a grouped `3.833` refused, not guessed.
    #[test]
    fn pasted_rows_are_read_as_a_spreadsheet_means_them() {
        let mut v = Vec::new();
        let f = parse_line("1;\"2,5\";1.205,5;", 3, 1, &mut v).unwrap();
        assert_eq!(
            (v.as_slice(), f.decimal_comma),
            (&[1.0, 2.5, 1205.5][..], true)
        );
        v.clear();
        assert!(parse_line("0;1;-1", 3, 1, &mut v).unwrap().decimal_comma);
        assert!(!parse_line("0\t1\t-1", 3, 1, &mut v).unwrap().decimal_comma);
        // After a tab row of decimal commas, a tab row of whole numbers too.
        let comma = parse_line("0,5\t1\t2", 3, 1, &mut v).unwrap();
        assert!(
            parse_line_after("0\t1\t2", 3, 2, &mut v, Some(comma))
                .unwrap()
                .decimal_comma
        );
        assert_eq!(parse_line("1,2,3,", 3, 1, &mut v).unwrap().delimiter, ',');
        let e = parse_line("3.833;1,5;2", 3, 9, &mut v)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 9: value 1: \"3.833\" is ambiguous") && e.contains("3833 or 3,833"),
            "{e}"
        );
    }
}
