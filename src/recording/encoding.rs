//! A recording's text as UTF-8, whichever of the encodings spreadsheets
//! export it was saved in: UTF-8 (with or without a byte-order mark),
//! UTF-16 with its byte-order mark (Excel's "Unicode Text") or without, or, when the
//! bytes are not UTF-8, Windows-1252 (Excel's plain "CSV" on a Western
//! European Windows, where `°C` and `ü` are single bytes).

use std::borrow::Cow;

/// What the file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    Windows1252,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Utf16Le => "UTF-16LE",
            Self::Utf16Be => "UTF-16BE",
            Self::Windows1252 => "Windows-1252",
        }
    }
}

/// `bytes` as UTF-8 text (without a byte-order mark), and how they were read.
pub(super) fn to_utf8(bytes: &[u8]) -> (Cow<'_, [u8]>, Encoding) {
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return (utf16(rest, u16::from_le_bytes), Encoding::Utf16Le);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return (utf16(rest, u16::from_be_bytes), Encoding::Utf16Be);
    }
    // UTF-16 without its mark (some loggers and scripts write it): text of
    // ASCII digits and separators has a zero byte in every other place,
    // which no UTF-8 or Windows-1252 text has.
    let head = &bytes[..bytes.len().min(4096) & !1];
    let zeros = |odd: usize| {
        head.iter()
            .skip(odd)
            .step_by(2)
            .filter(|&&b| b == 0)
            .count()
    };
    let half = head.len() / 2;
    if half >= 2 {
        match (zeros(0), zeros(1)) {
            (0, z) if 2 * z > half => return (utf16(bytes, u16::from_le_bytes), Encoding::Utf16Le),
            (z, 0) if 2 * z > half => return (utf16(bytes, u16::from_be_bytes), Encoding::Utf16Be),
            _ => {}
        }
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if std::str::from_utf8(bytes).is_ok() {
        return (Cow::Borrowed(bytes), Encoding::Utf8);
    }
    let text: String = bytes.iter().map(|&b| windows_1252(b)).collect();
    (Cow::Owned(text.into_bytes()), Encoding::Windows1252)
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Cow<'static, [u8]> {
    let units = bytes.chunks_exact(2).map(|p| unit([p[0], p[1]]));
    let text: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    Cow::Owned(text.into_bytes())
}

/// Windows-1252: Latin-1 except 0x80–0x9F (`€`, typographic quotes, …).
pub(super) fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// `text` as each encoding an export may come in (for tests: `text` holds
/// only ASCII, `ü` and `°`).
#[cfg(test)]
pub(super) fn exports(text: &str) -> Vec<(Vec<u8>, Encoding)> {
    let utf8 = text.as_bytes();
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(utf8);
    let mut le = vec![0xFF, 0xFE];
    let mut be = vec![0xFE, 0xFF];
    for u in text.encode_utf16() {
        le.extend_from_slice(&u.to_le_bytes());
        be.extend_from_slice(&u.to_be_bytes());
    }
    let cp1252: Vec<u8> = text
        .chars()
        .map(|c| match c {
            'ü' => 0xFC,
            '°' => 0xB0,
            c => c as u8,
        })
        .collect();
    vec![
        (utf8.to_vec(), Encoding::Utf8),
        (bom, Encoding::Utf8),
        (le, Encoding::Utf16Le),
        (be, Encoding::Utf16Be),
        (cp1252, Encoding::Windows1252),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_export_encoding_reads_as_the_same_text() {
        let text = "Zeit\tRücklauf °C\n1\t2,5\n";
        for (bytes, encoding) in exports(text) {
            let (read, as_) = to_utf8(&bytes);
            assert_eq!(as_, encoding);
            assert_eq!(std::str::from_utf8(&read), Ok(text), "{}", encoding.name());
            // UTF-16 without its byte-order mark: told by its zero bytes.
            if matches!(encoding, Encoding::Utf16Le | Encoding::Utf16Be) {
                let (read, as_) = to_utf8(&bytes[2..]);
                assert_eq!(as_, encoding);
                assert_eq!(std::str::from_utf8(&read), Ok(text), "{}", encoding.name());
            }
        }
        // A lone NUL in UTF-8 text is not UTF-16.
        assert_eq!(to_utf8(b"a,b\n1,\x002\n").1, Encoding::Utf8);
        assert_eq!(windows_1252(0x80), '€');
        assert_eq!(windows_1252(0x96), '–');
    }
}
