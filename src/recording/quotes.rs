//! Cells quoted with `'` instead of `"`, as PhysioNet's and some bedside
//! monitors' exports write every one (`'Elapsed time','ABP','PLETH'`, then
//! `'0:00.008',96.25,0.468`). Read as they are, the names keep their quotes
//! (`--input PLETH` finds no column) and a units row or a time column is
//! no longer recognised.

/// Whether the file's header (its first line that is neither empty nor a
/// comment) quotes every one of its two or more cells with `'`.
pub(super) fn single_quoted(text: &[u8], delimiter: u8) -> bool {
    let Some(header) = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| !l.trim_ascii().is_empty() && !l.starts_with(b"#"))
    else {
        return false;
    };
    let mut cells = header.split(|&b| b == delimiter);
    let quoted = |c: &[u8]| c.len() >= 2 && c.starts_with(b"'") && c.ends_with(b"'");
    header.contains(&delimiter) && cells.all(quoted)
}

/// Rewrites the `'` that open or close a cell (at the start or end of a
/// line, or beside a delimiter) as `"`, in place: the same length, so byte
/// positions and line numbers stay the file's. An apostrophe inside a cell
/// (`'O'Brien'`) is left as it is.
pub(super) fn as_double_quotes(text: &mut [u8], delimiter: u8) {
    let edge = |b: Option<&u8>| b.is_none_or(|&b| b == delimiter || b == b'\n' || b == b'\r');
    for i in 0..text.len() {
        if text[i] != b'\'' {
            continue;
        }
        let before = i.checked_sub(1).and_then(|j| text.get(j));
        if edge(before) || edge(text.get(i + 1)) {
            text[i] = b'"';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_in_single_quotes_are_read_as_quoted() {
        let physionet = "'Elapsed time','ABP','PLETH'\r\n'hh:mm:ss.mmm','mmHg','NU'\r\n\
                         '0:00.008',96.25,0.468\r\n";
        assert!(single_quoted(physionet.as_bytes(), b','));
        let mut text = physionet.as_bytes().to_vec();
        as_double_quotes(&mut text, b',');
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "\"Elapsed time\",\"ABP\",\"PLETH\"\r\n\"hh:mm:ss.mmm\",\"mmHg\",\"NU\"\r\n\
             \"0:00.008\",96.25,0.468\r\n"
        );
        // An apostrophe within a cell stays.
        let mut text = b"'O'Brien';'x'\n".to_vec();
        as_double_quotes(&mut text, b';');
        assert_eq!(text, b"\"O'Brien\";\"x\"\n");
        // A header with one cell unquoted, or one cell only, or an
        // apostrophe in a name: not such a file.
        for other in ["'a',b\n", "'a'\n1\n", "time,it's\n", "# 'a','b'\n"] {
            assert!(!single_quoted(other.as_bytes(), b','), "{other}");
        }
        assert!(single_quoted(b"# a logger\n\n'a';'b'\r\n", b';'));
        // With spaces beside the delimiters, as a quote in `"` would not
        // be read either: left as it is.
        assert!(!single_quoted(b"'a', 'b'\n", b','));
    }
}
