//! Numbers as spreadsheets and loggers write them: `12.5` or `12,5`, with
//! or without thousands separators (`1,013.5`, `1.013,5`, `1.013`).
//!
//! One cell alone is often ambiguous: `1.013` is a little over one in an
//! English export and a thousand and thirteen in a German one. So the
//! convention is decided for the whole file from the cells that are not
//! ambiguous ([`Evidence`]): a separator followed by other than three
//! digits, or the last of two different ones, is the decimal separator.
//! Under that convention the other separator may only group thousands
//! (`1.013.250,5`); anything else is refused rather than read as some
//! other number. A file whose cells show both conventions is refused.
//! A file with no such cell is read as before: `.` decimal, and a lone
//! `,` decimal when it cannot be the delimiter.
//!
//! Spaces and apostrophes are never a decimal separator: between
//! thousands (`1 209,8` in French and Austrian exports, often a no-break
//! space; `1'209.8` in Swiss ones) they are dropped before anything else.

use std::borrow::Cow;

use serde::Serialize;

/// A file's decimal separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decimal {
    Point,
    Comma,
}

impl Decimal {
    /// The `--decimal` value that chooses it.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Point => "point",
            Self::Comma => "comma",
        }
    }

    /// Parses `--decimal`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "point" | "." => Ok(Self::Point),
            "comma" | "," => Ok(Self::Comma),
            _ => Err(format!("expected point or comma, got {s:?}")),
        }
    }

    fn sep(self) -> char {
        match self {
            Self::Point => '.',
            Self::Comma => ',',
        }
    }

    fn grouping(self) -> char {
        match self {
            Self::Point => ',',
            Self::Comma => '.',
        }
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Point => "decimal point",
            Self::Comma => "decimal comma",
        })
    }
}

/// Marks that group thousands under either convention: a space (plain,
/// no-break, narrow no-break, thin) or an apostrophe.
const SPACE_GROUPS: [char; 6] = [' ', '\u{a0}', '\u{202f}', '\u{2009}', '\'', '\u{2019}'];

/// `text` without the mark of [`SPACE_GROUPS`] that groups its integer
/// part in threes (`1 234 567,5` → `1234567,5`); any other text as it is
/// (`12 34` stays, and is then not a number).
fn ungroup(text: &str) -> Cow<'_, str> {
    let Some(mark) = text.chars().find(|c| SPACE_GROUPS.contains(c)) else {
        return Cow::Borrowed(text);
    };
    let body = text.trim_start_matches(['+', '-']);
    let end = body.find(['.', ',', 'e', 'E']).unwrap_or(body.len());
    let (integer, rest) = body.split_at(end);
    let mut groups = integer.split(mark);
    let grouped = !rest.contains(mark)
        && groups.next().is_some_and(groups_thousands)
        && groups.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()));
    if grouped {
        Cow::Owned(text.chars().filter(|&c| c != mark).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// The first unambiguous cell of each convention, with its line.
#[derive(Debug, Default)]
pub(super) struct Evidence {
    point: Option<(u64, String)>,
    comma: Option<(u64, String)>,
}

/// The file's convention, and the cell that shows it (for errors).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Convention {
    pub decimal: Decimal,
    pub shown_by: String,
}

impl Evidence {
    /// Notes what `cell`, on `line`, shows.
    pub fn look(&mut self, line: impl FnOnce() -> u64, cell: &[u8]) {
        let Ok(text) = std::str::from_utf8(cell) else {
            return;
        };
        let text = ungroup(text.trim());
        let text = &*text;
        let Some(shown) = shown_decimal(text) else {
            return;
        };
        let slot = match shown {
            Decimal::Point => &mut self.point,
            Decimal::Comma => &mut self.comma,
        };
        // The first cell of each convention is all that is kept: the rest
        // of a file's cells (every cell of every column) cost no parse.
        if slot.is_some() {
            return;
        }
        // Only a number under the convention it shows is evidence: a
        // version or an address (`1.2.3`, `10.0.0.1`) in another column
        // must not decide how the channels read.
        let as_shown = Convention {
            decimal: shown,
            shown_by: String::new(),
        };
        if with_convention(text, &as_shown).is_ok() {
            *slot = Some((line(), text.to_string()));
        }
    }

    /// The convention the cells show: `Ok(None)` when none is shown, an
    /// error naming one cell of each when both are.
    pub fn decide(self) -> Result<Option<Convention>, String> {
        let shown = |(line, text): (u64, String)| format!("line {line}: {text:?}");
        match (self.point, self.comma) {
            (Some(p), Some(c)) => Err(format!(
                "its numbers mix decimal points ({}) and decimal commas ({}); export them one way",
                shown(p),
                shown(c)
            )),
            (Some(p), None) => Ok(Some(Convention {
                decimal: Decimal::Point,
                shown_by: shown(p),
            })),
            (None, Some(c)) => Ok(Some(Convention {
                decimal: Decimal::Comma,
                shown_by: shown(c),
            })),
            (None, None) => Ok(None),
        }
    }
}

/// The decimal separator a number's text shows unambiguously, if any.
fn shown_decimal(text: &str) -> Option<Decimal> {
    let mantissa = text
        .trim_start_matches(['+', '-'])
        .split(['e', 'E'])
        .next()?;
    if mantissa.is_empty()
        || !mantissa
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return None;
    }
    let last = mantissa.rfind(['.', ','])?;
    let sep = if mantissa.as_bytes()[last] == b'.' {
        Decimal::Point
    } else {
        Decimal::Comma
    };
    let other = sep.grouping();
    if mantissa.contains(other) {
        // `1,013.5` or `1.013,5`: the last one is the decimal separator.
        Some(sep)
    } else if mantissa.matches(sep.sep()).count() > 1 {
        // `1.013.250`: a repeated separator groups thousands.
        Some(match sep {
            Decimal::Point => Decimal::Comma,
            Decimal::Comma => Decimal::Point,
        })
    } else if mantissa.len() - last - 1 != 3 || !groups_thousands(&mantissa[..last]) {
        // `12.5`, or `0.125` and `1013.250`: digits before the separator
        // that could not start a thousands group.
        Some(sep)
    } else {
        None
    }
}

/// Whether `digits` could be the first group of a number grouped in
/// thousands: one to three digits, not starting with a zero.
fn groups_thousands(digits: &str) -> bool {
    (1..=3).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A finite number under the file's convention (`None`: not shown by any
/// cell, see the module's comment).
pub(super) fn parse_cell(
    cell: &[u8],
    delimiter: u8,
    convention: Option<&Convention>,
) -> Result<f32, CellError> {
    let text = std::str::from_utf8(cell)
        .map_err(|_| CellError::Bad("not UTF-8 text".to_string()))?
        .trim();
    let plain = ungroup(text);
    // An error quotes the cell as the file has it, not as ungrouped.
    parse_text(&plain, delimiter, convention).map_err(|e| match plain {
        std::borrow::Cow::Borrowed(_) => e,
        std::borrow::Cow::Owned(ref p) => {
            let (from, to) = (format!("{p:?}"), format!("{text:?}"));
            match e {
                CellError::Bad(why) => CellError::Bad(why.replace(&from, &to)),
                CellError::Undecided(why) => CellError::Undecided(why.replace(&from, &to)),
            }
        }
    })
}

/// A channel's cell: [`parse_cell`], and a number the user named as a
/// missing-value code (`--missing -9999`) is a bad cell, as an empty one.
pub(super) fn channel_cell(
    cell: &[u8],
    delimiter: u8,
    convention: Option<&Convention>,
    missing: &[f32],
) -> Result<f32, CellError> {
    let v = parse_cell(cell, delimiter, convention)?;
    if missing.contains(&v) {
        return Err(CellError::Bad(format!(
            "{v} is a missing-value code (--missing)"
        )));
    }
    Ok(v)
}

/// [`parse_cell`] of its trimmed text, grouping spaces dropped.
fn parse_text(
    text: &str,
    delimiter: u8,
    convention: Option<&Convention>,
) -> Result<f32, CellError> {
    let bad = CellError::Bad;
    if text.is_empty() {
        return Err(bad("empty cell".into()));
    }
    // A `,`-separated file writes decimal points: there only a quoted
    // `"1,000"` is ambiguous. In a `;`- or tab-separated one (Excel's
    // exports where decimal commas are the custom) `1.013` is as likely
    // a thousand and thirteen as a little over one.
    let undecided = || {
        CellError::Undecided(format!(
            "{text:?} is not a number as it stands: no cell of the file shows whether ',' or \
             '.' is its decimal separator; say which with --decimal point (or comma)"
        ))
    };
    let v = match convention {
        Some(c) => with_convention(text, c).map_err(bad)?,
        None if delimiter != b',' && ambiguous(text) => return Err(undecided()),
        None => match text.parse::<f32>() {
            Ok(v) => v,
            Err(_)
                if delimiter != b',' && text.matches(',').count() == 1 && !text.contains('.') =>
            {
                text.replace(',', ".")
                    .parse::<f32>()
                    .map_err(|_| bad(format!("{text:?} is not a number")))?
            }
            Err(_) if ambiguous(text) => return Err(undecided()),
            Err(_) => return Err(bad(format!("{text:?} is not a number"))),
        },
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(bad(format!("{text:?} is not a finite number")))
    }
}

/// Why a cell is not read as a number.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum CellError {
    /// Not a number: this row's fault, which `skip_bad_rows` may skip.
    Bad(String),
    /// A number either way, but which one depends on the file's decimal
    /// separator, which no cell shows: the file's fault, not the row's.
    /// Skipping would drop every value grouped in thousands (all ≥ 1000)
    /// without a word, so this always stops the read.
    Undecided(String),
}

impl CellError {
    /// What reading a row makes of it: a bad cell is the row's fault (a
    /// bad row), an undecided one the file's.
    pub(super) fn refusal(self, label: &str) -> super::Refusal {
        match self {
            CellError::Bad(why) => super::Refusal::Row(format!("{label}: {why}")),
            CellError::Undecided(why) => super::Refusal::File(format!("{label}: {why}")),
        }
    }

    /// Whether the cell is a number under some convention (a header cell
    /// never is).
    pub fn is_numeric(&self) -> bool {
        matches!(self, Self::Undecided(_))
    }
}

impl std::fmt::Display for CellError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bad(why) | Self::Undecided(why) => f.write_str(why),
        }
    }
}

/// Whether `text` is a number as some export writes it: either decimal
/// separator, its thousands grouped (`1.764.806.400`, `1 209,8`), unlike a
/// dotted date (`25.10.2026`).
pub(super) fn is_number(text: &str) -> bool {
    let plain = ungroup(text);
    plain.replace(',', ".").parse::<f64>().is_ok() || plain.split(',').next().is_some_and(ambiguous)
}

/// Digits grouped in threes by one separator (`1,000`, `-12.345.678`):
/// thousands under one convention, a decimal under the other.
fn ambiguous(text: &str) -> bool {
    let digits = text.trim_start_matches(['+', '-']);
    [',', '.'].iter().any(|&sep| {
        let mut groups = digits.split(sep);
        groups.next().is_some_and(groups_thousands)
            && digits.contains(sep)
            && groups.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// `text` with `c`'s decimal separator, the other one only grouping the
/// integer part's digits in threes.
fn with_convention(text: &str, c: &Convention) -> Result<f32, String> {
    let plain = plain_number(text, c)?;
    plain
        .parse::<f32>()
        .map_err(|_| format!("{text:?} is not a number"))
}

/// A number of the file's convention, in double precision (epoch seconds
/// need more digits than `f32` has).
pub(super) fn number_f64(text: &str, c: &Convention) -> Result<f64, String> {
    let plain = plain_number(&ungroup(text), c)?;
    plain
        .parse::<f64>()
        .map_err(|_| format!("{text:?} is not a number"))
}

/// `text` in Rust's own notation (point, no grouping), read by the
/// convention: thousands groups checked and dropped, the decimal
/// separator made a point.
fn plain_number(text: &str, c: &Convention) -> Result<String, String> {
    let (sep, group) = (c.decimal.sep(), c.decimal.grouping());
    let not_a_number = || format!("{text:?} is not a number");
    let (integer, rest) = match text.find(sep) {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => match text.find(['e', 'E']) {
            Some(i) => (&text[..i], &text[i..]),
            None => (text, ""),
        },
    };
    if rest.contains([sep, group]) {
        return Err(not_a_number());
    }
    let mut plain = String::with_capacity(text.len());
    if integer.contains(group) {
        let digits = integer.trim_start_matches(['+', '-']);
        let mut groups = digits.split(group);
        let grouped = groups
            .next()
            .is_some_and(|g| (1..=3).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()))
            && groups.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()));
        if !grouped {
            return Err(format!(
                "{text:?} is not a number with this file's {} ({}): {group:?} may only group \
                 thousands",
                c.decimal, c.shown_by
            ));
        }
        plain.extend(integer.chars().filter(|&ch| ch != group));
    } else {
        plain.push_str(integer);
    }
    if text.contains(sep) {
        plain.push('.');
    }
    plain.push_str(rest);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convention(text: &str) -> Option<Decimal> {
        shown_decimal(text)
    }

    #[test]
    fn unambiguous_cells_show_their_decimal_separator() {
        assert_eq!(convention("12,5"), Some(Decimal::Comma));
        assert_eq!(convention("-54,90"), Some(Decimal::Comma));
        assert_eq!(convention("1.010,9"), Some(Decimal::Comma));
        assert_eq!(convention("1.013.250"), Some(Decimal::Comma));
        assert_eq!(convention("1,5E-3"), Some(Decimal::Comma));
        assert_eq!(convention("12.5"), Some(Decimal::Point));
        assert_eq!(convention("1,013.5"), Some(Decimal::Point));
        assert_eq!(convention("1,013,250"), Some(Decimal::Point));
        // Three digits after one separator: either could be meant...
        assert_eq!(convention("1.013"), None);
        assert_eq!(convention("1,013"), None);
        assert_eq!(convention("-999.125"), None);
        // ...unless what comes before could not start a thousands group.
        assert_eq!(convention("0.125"), Some(Decimal::Point));
        assert_eq!(convention("-0,125"), Some(Decimal::Comma));
        assert_eq!(convention("1013.250"), Some(Decimal::Point));
        assert_eq!(convention(".125"), Some(Decimal::Point));
        assert_eq!(convention("998"), None);
        assert_eq!(convention("n/a"), None);
        assert_eq!(convention("06:00:00,5"), None);
    }

    fn read(text: &str, decimal: Decimal) -> Result<f32, String> {
        let c = Convention {
            decimal,
            shown_by: "line 2: \"x\"".into(),
        };
        parse_cell(text.as_bytes(), b';', Some(&c)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_other_separator_only_groups_thousands() {
        assert_eq!(read("1.013", Decimal::Comma), Ok(1013.0));
        assert_eq!(read("1.010,9", Decimal::Comma), Ok(1010.9));
        assert_eq!(read("-1.013.250,5", Decimal::Comma), Ok(-1_013_250.5));
        assert_eq!(read("12,5", Decimal::Comma), Ok(12.5));
        assert_eq!(read("1,5e3", Decimal::Comma), Ok(1500.0));
        assert_eq!(read("998", Decimal::Comma), Ok(998.0));
        assert_eq!(read("1,013", Decimal::Point), Ok(1013.0));
        assert_eq!(read("1,013.5", Decimal::Point), Ok(1013.5));
        assert_eq!(read("1.013", Decimal::Point), Ok(1.013));
        for bad in ["1.5", "12.34,5", "1,2,3", "1.0134", ".013"] {
            let e = read(bad, Decimal::Comma).unwrap_err();
            assert!(e.contains("is not a number"), "{bad}: {e}");
        }
        let e = read("1.5", Decimal::Comma).unwrap_err();
        assert!(e.contains("decimal comma (line 2"), "{e}");
    }

    /// French, Austrian and Swiss exports group thousands with a space
    /// (often a no-break one) or an apostrophe: read, not skipped as bad
    /// cells (which dropped every value ≥ 1000 under --skip-bad-rows).
    #[test]
    fn spaces_and_apostrophes_group_thousands() {
        let comma = Convention {
            decimal: Decimal::Comma,
            shown_by: String::new(),
        };
        for (text, want) in [
            ("1 209,8", 1209.8),
            ("1\u{a0}209,8", 1209.8),
            ("-1\u{202f}234\u{202f}567", -1_234_567.0),
            ("12 345", 12_345.0),
        ] {
            assert_eq!(
                parse_cell(text.as_bytes(), b';', Some(&comma)),
                Ok(want),
                "{text}"
            );
            assert_eq!(parse_cell(text.as_bytes(), b';', None), Ok(want), "{text}");
        }
        assert_eq!(parse_cell("1'209.8".as_bytes(), b',', None), Ok(1209.8));
        assert_eq!(
            parse_cell("1\u{2019}209.8".as_bytes(), b',', None),
            Ok(1209.8)
        );
        assert_eq!(number_f64("1 209,5", &comma), Ok(1209.5));
        // Not thousands: refused as before.
        for text in ["12 34", "1 2345", "1,5 0", "0 123", "1 209,8 5"] {
            let e = parse_cell(text.as_bytes(), b';', Some(&comma));
            assert!(matches!(e, Err(CellError::Bad(_))), "{text}: {e:?}");
        }
        // An error quotes the cell as written.
        let point = Convention {
            decimal: Decimal::Point,
            shown_by: String::new(),
        };
        let e = parse_cell("1 000,5".as_bytes(), b';', Some(&point)).unwrap_err();
        assert!(
            e.to_string().starts_with("\"1 000,5\" is not a number"),
            "{e}"
        );
        // And such a cell shows the file's decimal separator.
        let mut e = Evidence::default();
        e.look(|| 2, "1\u{a0}209,8".as_bytes());
        assert_eq!(
            e.decide().map(|c| c.map(|c| c.decimal)),
            Ok(Some(Decimal::Comma))
        );
    }

    #[test]
    fn an_undecided_separator_is_not_a_bad_cell() {
        for text in ["1.013", "1,013", "-12.345.678"] {
            let e = parse_cell(text.as_bytes(), b';', None).unwrap_err();
            assert!(matches!(e, CellError::Undecided(_)), "{text}: {e:?}");
            assert!(e.is_numeric());
        }
        let e = parse_cell(b"n/a", b';', None).unwrap_err();
        assert!(matches!(e, CellError::Bad(_)) && !e.is_numeric(), "{e:?}");
    }

    #[test]
    fn both_conventions_in_one_file_are_refused() {
        let mut e = Evidence::default();
        e.look(|| 3, b"1.013");
        assert_eq!(e.decide(), Ok(None));
        // Not numbers: no evidence (a version, an address).
        let mut e = Evidence::default();
        e.look(|| 3, b"1.2.3");
        e.look(|| 4, b"10.0.0.1");
        assert_eq!(e.decide(), Ok(None));
        let mut e = Evidence::default();
        e.look(|| 3, b"12,5");
        e.look(|| 4, b"13,5");
        e.look(|| 9, b"12.5");
        let why = e.decide().unwrap_err();
        assert!(
            why.contains("line 9: \"12.5\"") && why.contains("line 3: \"12,5\""),
            "{why}"
        );
    }
}
