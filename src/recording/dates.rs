//! Dates and clocks as exports write them: ISO 8601 (`2026-03-01T00:10:00`,
//! an offset or `Z`), German spreadsheets' `01.03.2026 00:10`, and the
//! slashed dates of US and British spreadsheets (`3/1/2026 12:10 AM`,
//! `01/03/2026 00:10`), whose order of day and month the file decides,
//! plant historians' `04-Dec-2024 13:05:17.123`, ISO 8601's basic form
//! (`20260301T001000Z`), `24:00` for the end of a day, and a zone written
//! `+01` or ` UTC`.

/// The order of day and month in a slashed date (`3/1/2026`): US
/// spreadsheets write the month first, British and most others the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    DayFirst,
    MonthFirst,
}

impl DateOrder {
    /// `dmy` or `mdy`, as `--date-order` takes it.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dmy" | "day-first" | "dd/mm/yyyy" => Ok(Self::DayFirst),
            "mdy" | "month-first" | "mm/dd/yyyy" => Ok(Self::MonthFirst),
            other => Err(format!(
                "{other:?}: `dmy` (31/12/2026, day first) or `mdy` (12/31/2026, month first)"
            )),
        }
    }

    pub fn flag(self) -> &'static str {
        match self {
            Self::DayFirst => "dmy",
            Self::MonthFirst => "mdy",
        }
    }
}

/// The parts of a slashed date `a/b/c`, when the cell starts with one
/// whose year is last (a year first, `2026/03/01`, has one order only).
fn slashed(cell: &str) -> Option<(u32, u32)> {
    let date = match cell.trim().strip_prefix('[') {
        // PhysioNet's `[12:03:04.120 05/03/2026]`: the date after the clock.
        Some(inner) => inner
            .trim_end_matches(']')
            .split(' ')
            .find(|t| t.contains('/'))?,
        None => cell.split([' ', 'T']).next()?,
    };
    let mut p = date.split('/');
    let (a, b, c) = (p.next()?, p.next()?, p.next()?);
    if p.next().is_some() || a.len() > 2 || b.len() > 2 {
        return None;
    }
    c.parse::<u32>().ok()?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The order of day and month the slashed dates of a column show: a first
/// number past 12 is a day (`13/03/2026`), a second past 12 too
/// (`3/13/2026`). Cells are looked at one by one, then [`Self::decide`].
#[derive(Default)]
pub(super) struct OrderEvidence {
    /// The first cell (line, text) showing each order, and the first
    /// slashed date.
    day_first: Option<(u64, String)>,
    month_first: Option<(u64, String)>,
    any: Option<(u64, String)>,
}

impl OrderEvidence {
    /// `line` is called only for a cell kept as an example.
    pub fn look(&mut self, line: impl Fn() -> u64, cell: &[u8]) {
        let Some(cell) = std::str::from_utf8(cell).ok().map(str::trim) else {
            return;
        };
        let Some((a, b)) = slashed(cell) else {
            return;
        };
        let example = || Some((line(), cell.to_string()));
        if self.any.is_none() {
            self.any = example();
        }
        if a > 12 && self.day_first.is_none() {
            self.day_first = example();
        }
        if b > 12 && self.month_first.is_none() {
            self.month_first = example();
        }
    }

    /// Why the dates contradict `given` (a day past the 12th where it
    /// reads a month), if they do.
    pub fn contradicts(&self, given: DateOrder) -> Option<String> {
        let (shown, read) = match given {
            DateOrder::DayFirst => (self.month_first.as_ref()?, "month first"),
            DateOrder::MonthFirst => (self.day_first.as_ref()?, "day first"),
        };
        Some(format!(
            "the dates are written {read} (line {}: {:?}), but read {} (--date-order {}: given, \
             recorded with the model, or shown by another file)",
            shown.0,
            shown.1,
            match given {
                DateOrder::DayFirst => "day first",
                DateOrder::MonthFirst => "month first",
            },
            given.flag()
        ))
    }

    /// `Ok(None)`: no slashed dates; an error when they show both orders
    /// or neither (a recording within the first twelve days of its months).
    pub fn decide(self) -> Result<Option<DateOrder>, String> {
        match (self.day_first, self.month_first, self.any) {
            (Some((dl, d)), Some((ml, m)), _) => Err(format!(
                "the dates are written day first (line {dl}: {d:?}) and month first (line \
                 {ml}: {m:?}): is it one time column?"
            )),
            (Some(_), None, _) => Ok(Some(DateOrder::DayFirst)),
            (None, Some(_), _) => Ok(Some(DateOrder::MonthFirst)),
            (None, None, Some((line, cell))) => Err(format!(
                "the dates (line {line}: {cell:?}) may be day/month or month/day: no day past \
                 the 12th tells which; say it with --date-order dmy (day first) or --date-order \
                 mdy (month first)"
            )),
            (None, None, None) => Ok(None),
        }
    }
}

/// Seconds since 1970-01-01 of a date and time (`None`: not one). A date
/// alone is its midnight; an offset from UTC is applied (none: the
/// recording's own zone). `order` reads slashed dates (`None`: refused).
pub(super) fn date_time(text: &str, order: Option<DateOrder>) -> Option<f64> {
    let (local, offset) = zoned(text, order)?;
    Some(local - offset.unwrap_or(0.0))
}

/// Why a time in text is no instant (see [`instant_ns`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoInstant {
    /// No date and time that the reader knows.
    NotADate,
    /// A date and time without `Z` or an offset: a local time of some zone.
    NoZone,
    /// Before 1971 (a device whose clock was never set: read as ns, its
    /// size would be taken for seconds or ms) or past what ns in an i64
    /// hold (2262).
    OutOfRange,
}

/// Nanoseconds since the epoch of an instant in text, as a sample's `ts`
/// may carry it (JavaScript's `toISOString()`, Home Assistant's
/// `last_changed`): any date and time [`date_time`] reads but a slashed
/// one, with its zone written (`Z`, `+01:00`, ` UTC`); to the µs (an f64
/// of seconds holds no more of today).
pub(crate) fn instant_ns(text: &str) -> Result<i64, NoInstant> {
    let (local, offset) = zoned(text.trim(), None).ok_or(NoInstant::NotADate)?;
    let offset = offset.ok_or(NoInstant::NoZone)?;
    let us = ((local - offset) * 1e6).round();
    // 1971-01-01 to the last µs that ns in an i64 hold.
    if !(31_536_000e6..=(i64::MAX / 1_000) as f64).contains(&us) {
        return Err(NoInstant::OutOfRange);
    }
    Ok(us as i64 * 1_000)
}

/// Seconds since 1970-01-01 of a date and time read as if in UTC, and the
/// offset from UTC it was written with (`None`: none written).
fn zoned(text: &str, order: Option<DateOrder>) -> Option<(f64, Option<f64>)> {
    // PhysioNet's absolute times: the clock before the date, in brackets
    // (`[12:03:04.120 05/03/2026]`).
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
        && let Some((clock, date)) = inner.trim().split_once(' ')
        && clock.contains(':')
        && !date.contains(':')
    {
        return zoned(&format!("{} {clock}", date.trim()), order);
    }
    // The date ends at a space or at a `T` after a digit (not `OCT`'s).
    let b = text.as_bytes();
    let end = (1..b.len()).find(|&i| b[i] == b' ' || (b[i] == b'T' && b[i - 1].is_ascii_digit()));
    let (date, rest) = match end {
        Some(i) => (&text[..i], text[i + 1..].trim_start()),
        None => (text, "00:00"),
    };
    let part = |s: &str| s.parse::<i64>().ok();
    let basic = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    let (y, m, d) = if basic {
        (part(&date[..4])?, part(&date[4..6])?, part(&date[6..])?)
    } else if date.contains('-') {
        let mut p = date.split('-');
        let ymd = (p.next()?, p.next()?, p.next()?);
        match month(ymd.1) {
            // `04-Dec-2024`, `04-Dec-24`.
            Some(m) => (year(ymd.2)?, m, part(ymd.0)?),
            None => (part(ymd.0)?, part(ymd.1)?, part(ymd.2)?),
        }
    } else if date.contains('/') {
        let mut p = date.split('/');
        let (a, b, c) = (p.next()?, p.next()?, p.next()?);
        if a.len() == 4 {
            (part(a)?, part(b)?, part(c)?)
        } else {
            let year = year(c)?;
            match order? {
                DateOrder::DayFirst => (year, part(b)?, part(a)?),
                DateOrder::MonthFirst => (year, part(a)?, part(b)?),
            }
        }
    } else {
        let mut p = date.split('.');
        let dmy = (p.next()?, p.next()?, p.next()?);
        (
            part(dmy.2)?,
            month(dmy.1).or_else(|| part(dmy.1))?,
            part(dmy.0)?,
        )
    };
    // A date that is none (`2026-02-30`, `31-Feb-2024`) is no time: it
    // was read as the days after the month's end.
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&d)
    {
        return None;
    }
    // The clock, then an offset from UTC (`Z`, `+01:00`, `+0100`, `+01`,
    // or the zone's name for UTC).
    let named_utc = ["UTC", "GMT"].iter().find_map(|z| rest.strip_suffix(z));
    let rest = named_utc.map_or(rest, |r| r.trim_end());
    let split = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (time_of_day, zone) = rest.split_at(split);
    // The basic form's clock: `001000`, `0010`.
    let colons;
    // A fraction of a second follows a `.` or, as ISO 8601 prefers, a `,`.
    let (whole, fraction) = time_of_day
        .find(['.', ','])
        .map_or((time_of_day, ""), |i| time_of_day.split_at(i));
    let time_of_day = match whole.len() {
        4 | 6 if basic && whole.bytes().all(|b| b.is_ascii_digit()) => {
            let seconds = whole.get(4..).filter(|s| !s.is_empty()).unwrap_or("00");
            colons = format!(
                "{}:{}:{seconds}.{}",
                &whole[..2],
                &whole[2..4],
                fraction.get(1..).filter(|f| !f.is_empty()).unwrap_or("0")
            );
            if whole.len() == 4 && !fraction.is_empty() {
                return None; // a fraction of a minute: not a clock's
            }
            colons.as_str()
        }
        _ => time_of_day,
    };
    let since_midnight = clock(time_of_day)?;
    let offset = match zone {
        "" if named_utc.is_none() => None,
        "" | "Z" => Some(0.0),
        z => {
            let sign = if z.starts_with('-') { -1.0 } else { 1.0 };
            let hm = z[1..].replace(':', "");
            if !matches!(hm.len(), 2 | 4) || !hm.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let (h, m): (f64, f64) = (
                hm[..2].parse().ok()?,
                hm.get(2..)
                    .filter(|m| !m.is_empty())
                    .unwrap_or("0")
                    .parse()
                    .ok()?,
            );
            // UTC's offsets run from −12:00 to +14:00 (read up to ±14:59).
            if h > 14.0 || m >= 60.0 {
                return None;
            }
            Some(sign * (h * 3600.0 + m * 60.0))
        }
    };
    let days = days_from_civil(y, m, d) as f64;
    Some((days * 86_400.0 + since_midnight, offset))
}

/// A year of four digits, or two as strptime's `%y` reads them.
fn year(text: &str) -> Option<i64> {
    match (text.len(), text.parse::<i64>().ok()?) {
        (4, y) => Some(y),
        (2, y) if y < 69 => Some(2000 + y),
        (2, y) => Some(1900 + y),
        _ => None,
    }
}

/// A month's number from its name as exports abbreviate or write it out
/// (`Dec`, `DEC`, `December`, a trailing `.`), in English and as German,
/// French, Spanish, Italian and Dutch exports write the months that differ
/// (`Dez`, `Mrz`, `Jän`, `févr.`, `juil.`, `ene`, `ago`, `gen`, `mrt`):
/// its first three letters name it, four for French `juin`/`juil`.
fn month(name: &str) -> Option<i64> {
    let lower = name.strip_suffix('.').unwrap_or(name).to_lowercase();
    if lower.is_empty() || !lower.chars().all(char::is_alphabetic) {
        return None;
    }
    match lower.chars().take(4).collect::<String>().as_str() {
        "juin" => return Some(6),
        "juil" => return Some(7),
        _ => {}
    }
    let three: String = lower.chars().take(3).collect();
    const MONTHS: [&[&str]; 12] = [
        &["jan", "jän", "ene", "gen"],
        &["feb", "fév", "fev"],
        &["mar", "mär", "mrz", "mrt"],
        &["apr", "avr", "abr"],
        &["may", "mai", "mag", "mei"],
        &["jun", "giu"],
        &["jul", "lug"],
        &["aug", "aoû", "aou", "ago"],
        &["sep", "set"],
        &["oct", "okt", "ott"],
        &["nov"],
        &["dec", "dez", "déc", "dic"],
    ];
    MONTHS
        .iter()
        .position(|names| names.contains(&three.as_str()))
        .map(|i| i as i64 + 1)
}

/// Seconds since midnight of `hh:mm[:ss[.fff]]` (`24:00` the end of the
/// day), or of a 12-hour clock (`12:10 AM`, `1:05:30 pm`, `3:00 p.m.`).
pub(super) fn clock(text: &str) -> Option<f64> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let meridiem = [("am", false), ("a.m.", false), ("pm", true), ("p.m.", true)]
        .into_iter()
        .find(|(suffix, _)| lower.ends_with(suffix));
    let (text, afternoon) = match meridiem {
        Some((suffix, pm)) => (text[..text.len() - suffix.len()].trim_end(), Some(pm)),
        None => (text, None),
    };
    let mut c = text.split(':');
    let hours: f64 = c.next()?.parse().ok()?;
    let minutes: f64 = c.next()?.parse().ok()?;
    // Seconds with a decimal comma, as ISO 8601 prefers and German
    // exports write them (`13:05:17,123`).
    let secs: f64 = c
        .next()
        .map_or(Some(0.0), |s| s.replacen(',', ".", 1).parse().ok())?;
    let end_of_day = hours == 24.0 && minutes == 0.0 && secs == 0.0 && afternoon.is_none();
    if c.next().is_some()
        || (hours >= 24.0 && !end_of_day)
        || minutes >= 60.0
        || !(0.0..61.0).contains(&secs)
    {
        return None;
    }
    let hours = match afternoon {
        None => hours,
        // 12 AM is midnight, 12 PM noon.
        Some(_) if !(1.0..=12.0).contains(&hours) || hours.fract() != 0.0 => return None,
        Some(pm) => hours % 12.0 + if pm { 12.0 } else { 0.0 },
    };
    Some(hours * 3600.0 + minutes * 60.0 + secs)
}

/// An elapsed time since a recording's start, as bedside monitors, test
/// rigs and waveform tools write it: `m:ss.fff` (`0:00.008`, seconds with a
/// fraction: no time of day is written so), or `h:mm:ss[.fff]` with hours
/// past a day allowed (`25:00:00.000`), either in brackets as some write it
/// (`[00:00:00.008]`). Seconds since its start; `None` for anything else
/// (`12:10`, `1:05 PM`: times of day, which need their date).
pub(super) fn elapsed(text: &str) -> Option<f64> {
    let text = text.trim();
    let text = match text.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?.trim(),
        None => text,
    };
    let whole = |s: &str| -> Option<f64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let seconds = |s: &str| -> Option<f64> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let ok = int.len() == 2 && frac.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| s.parse::<f64>().ok())
            .flatten()
            .filter(|v| *v < 60.0)
    };
    let parts: Vec<&str> = text.split(':').collect();
    match parts[..] {
        [m, s] if s.contains('.') => Some(whole(m)? * 60.0 + seconds(s)?),
        [h, m, s] if m.len() == 2 => {
            let m = whole(m).filter(|m| *m < 60.0)?;
            Some(whole(h)? * 3600.0 + m * 60.0 + seconds(s)?)
        }
        _ => None,
    }
}

/// The days of month `m` of year `y` (Gregorian).
fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
