//! The `translate` filter: windows as comma-separated text lines in,
//! translations out, one line per window, batched through the model and
//! streamed (memory stays at one batch however long the input).

use std::fmt::Write as _;
use std::io::{BufRead, Write};

use crate::error::{Error, Result};
use crate::fast::{FastModel, Scratch};
use crate::model::MAX_BATCH;

/// Parses one line of `window` comma-separated finite numbers into `out`
/// (appended). `line_no` is 1-based, for the error message.
pub fn parse_line(line: &str, window: usize, line_no: u64, out: &mut Vec<f32>) -> Result<()> {
    let start = out.len();
    parse_fields(line, window, out).map_err(|reason| {
        // A rejected line leaves nothing behind in the batch.
        out.truncate(start);
        Error::BadLine {
            line: line_no,
            reason,
        }
    })
}

fn parse_fields(line: &str, window: usize, out: &mut Vec<f32>) -> std::result::Result<(), String> {
    let start = out.len();
    let line = line.trim();
    if !line.is_empty() {
        for (i, field) in line.split(',').enumerate() {
            let field = field.trim();
            let v: f32 = field
                .parse()
                .map_err(|_| format!("value {} ({field:?}) is not a number", i + 1))?;
            if !v.is_finite() {
                return Err(format!("value {} ({field}) is not finite", i + 1));
            }
            out.push(v);
        }
    }
    match out.len() - start {
        n if n == window => Ok(()),
        n => Err(format!("expected {window} numbers, found {n}")),
    }
}

/// Formats one row as comma-separated numbers that parse back to the same
/// f32 (Rust's float `Display` prints the shortest round-tripping form).
pub fn format_row(row: &[f32], buf: &mut String) {
    for (i, v) in row.iter().enumerate() {
        if i > 0 {
            buf.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(buf, "{v}");
    }
    buf.push('\n');
}

/// Reads windows from `input` until EOF and writes their translations to
/// `output`. On a bad line, every window before it is still translated and
/// written, then the error (naming the line) is returned. Returns the number
/// of windows translated.
pub fn run(model: &FastModel, input: impl BufRead, mut output: impl Write) -> Result<u64> {
    let w = model.window();
    let mut pending: Vec<f32> = Vec::with_capacity(MAX_BATCH * w);
    let mut text = String::with_capacity(MAX_BATCH * w * 12);
    let mut done = 0u64;
    let mut scratch = Scratch::default();
    let mut translated = Vec::with_capacity(MAX_BATCH * w);
    let mut flush =
        |pending: &mut Vec<f32>, text: &mut String, out: &mut dyn Write| -> Result<u64> {
            if pending.is_empty() {
                return Ok(0);
            }
            translated.resize(pending.len(), 0.0);
            model.translate_into(pending, &mut translated, &mut scratch)?;
            text.clear();
            for row in translated.chunks_exact(w) {
                format_row(row, text);
            }
            out.write_all(text.as_bytes())?;
            let n = (pending.len() / w) as u64;
            pending.clear();
            Ok(n)
        };
    let mut line = String::new();
    let mut input = input;
    let mut line_no = 0u64;
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        line_no += 1;
        if let Err(e) = parse_line(&line, w, line_no, &mut pending) {
            flush(&mut pending, &mut text, &mut output)?;
            output.flush()?;
            return Err(e);
        }
        if pending.len() == MAX_BATCH * w {
            done += flush(&mut pending, &mut text, &mut output)?;
        }
    }
    done += flush(&mut pending, &mut text, &mut output)?;
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
        let mut s = String::new();
        format_row(&row, &mut s);
        let mut back = Vec::new();
        parse_line(&s, row.len(), 1, &mut back).unwrap();
        assert_eq!(back, row);
    }
}
