//! A stamp's second column, beside the date: a time of day, or an hour's
//! number (`Date,Hour`); and why a stamp of two columns is none.

/// Why a stamp (`label`) is none: `why`, or the two columns named the
/// other way round (`reversed`: read so, they are one), or a second column
/// of whole numbers that are not all hours (a half-hour's period, 1 to 48).
pub(in crate::recording) fn stamp_refusal(
    label: &str,
    why: String,
    clock: Option<&[u8]>,
    reversed: bool,
) -> String {
    let whole = clock
        .map(<[u8]>::trim_ascii)
        .is_some_and(|c| !c.is_empty() && c.iter().all(u8::is_ascii_digit));
    if reversed {
        format!(
            "{label}: the time of day is named before the date: name the date's column first \
             (--time-column DATE --time-column TIME)"
        )
    } else if whole {
        format!(
            "{label}: {why} (the second column holds whole numbers, but not all from 0 to 24 as \
             hours' numbers are: a half-hour's period, 1 to 48? write it as a time of day)"
        )
    } else {
        format!("{label}: {why}")
    }
}

/// Whether column `c` holds hours' numbers in every row that fills it
/// (a half-hour's settlement period, 1 to 48, or `HHMM` is not such).
pub(in crate::recording) fn hours_column(
    mut rows: impl Iterator<Item = csv::ByteRecord>,
    c: usize,
) -> bool {
    rows.all(|r| {
        let cell = r.get(c).unwrap_or_default();
        cell.trim_ascii().is_empty() || hour_number(cell).is_some()
    })
}

/// A time of day given as an hour's number alone (`7`, `13`, `24`), as
/// hourly exports write it beside the date (`Date,Hour`; an "hour ending"
/// column counts 1 to 24, and 25 on the day the clocks go back).
pub(in crate::recording) fn hour_number(cell: &[u8]) -> Option<f64> {
    let c = cell.trim_ascii();
    let digits = (1..=2).contains(&c.len()) && c.iter().all(u8::is_ascii_digit);
    let hour = std::str::from_utf8(c)
        .ok()
        .filter(|_| digits)?
        .parse::<u8>()
        .ok()?;
    (hour <= 25).then_some(f64::from(hour))
}
