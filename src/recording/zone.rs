//! A recording's time zone (`--time-zone Europe/Berlin`): stamps written
//! without an offset, on a wall clock that daylight saving time moves,
//! read as the instants they were (the IANA database, bundled: jiff).

use jiff::tz::{AmbiguousOffset, Offset, TimeZone};

/// A named time zone.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// A fixed offset from UTC as people write it: `UTC-8`, `UTC-08:00`,
/// `GMT+5:30`, `-08:00`, `+0530`.
fn fixed_offset(text: &str) -> Option<Offset> {
    let upper = text.trim().to_ascii_uppercase().replace('−', "-");
    let rest = (upper.strip_prefix("UTC"))
        .or_else(|| upper.strip_prefix("GMT"))
        .unwrap_or(&upper)
        .trim();
    let (sign, digits) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    let (h, m) = match digits.split_once(':') {
        Some(hm) => hm,
        None if digits.len() == 4 => digits.split_at(2),
        None => (digits, "0"),
    };
    let number = |s: &str| -> Option<i32> {
        (!s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (h, m) = (number(h)?, number(m)?);
    if h > 14 || m > 59 {
        return None;
    }
    Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()
}

impl Zone {
    /// The zone an IANA name names (`Europe/Berlin`, `America/New_York`,
    /// `UTC`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let name = s.trim();
        if let Ok(tz) = TimeZone::get(name) {
            return Ok(Zone {
                name: name.to_string(),
                tz,
            });
        }
        // A fixed offset (`UTC-8`, `UTC-08:00`, `-08:00`, `GMT+0530`): a
        // reference monitor's local standard time, which no clock change
        // moves (IANA's `Etc/GMT+8` says it with the sign turned round).
        let fixed = fixed_offset(name).ok_or_else(|| {
            format!(
                "{name:?} is no time zone: an IANA name such as Europe/Berlin, America/New_York \
                 or UTC, or a fixed offset from UTC such as UTC-08:00 (local standard time, no \
                 daylight saving)"
            )
        })?;
        let o = fixed.seconds();
        let sign = if o < 0 { '-' } else { '+' };
        Ok(Zone {
            name: format!("UTC{sign}{:02}:{:02}", o.abs() / 3600, o.abs() % 3600 / 60),
            tz: TimeZone::fixed(fixed),
        })
    }

    /// Where the zone changes its clocks for summer: its standard offset
    /// as a zone (`UTC-08:00` for America/Los_Angeles); `None` for one
    /// that does not (UTC, a fixed offset, Asia/Tokyo).
    pub fn standard(&self) -> Option<Zone> {
        let at = |month: i8| {
            let day = jiff::civil::date(2026, month, 1).at(12, 0, 0, 0);
            self.tz
                .to_offset(self.tz.to_timestamp(day).ok()?)
                .seconds()
                .into()
        };
        let (january, july): (Option<i32>, Option<i32>) = (at(1), at(7));
        let (january, july) = (january?, july?);
        if january == july {
            return None;
        }
        let o = january.min(july);
        let sign = if o < 0 { '-' } else { '+' };
        Zone::parse(&format!(
            "UTC{sign}{:02}:{:02}",
            o.abs() / 3600,
            o.abs() % 3600 / 60
        ))
        .ok()
    }

    /// The fixed offset a time column's name gives, as an Onset HOBO
    /// export's `Date Time, GMT-05:00` does (its stamps carry none).
    pub fn in_name(column: &str) -> Option<Self> {
        let at = column.find("GMT").or_else(|| column.find("UTC"))? + 3;
        let rest = column[at..].trim_start();
        let sign = match rest.chars().next()? {
            '+' => 1,
            '-' | '−' => -1,
            _ => return None,
        };
        let digits: String = rest
            .chars()
            .skip(1)
            .take_while(|c| c.is_ascii_digit() || *c == ':')
            .collect();
        let (h, m) = digits.split_once(':').unwrap_or((&digits, "0"));
        let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
        if h > 14 || m > 59 {
            return None;
        }
        let offset = Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()?;
        Some(Zone {
            name: format!(
                "UTC{}{h:02}:{m:02} (from {column:?})",
                if sign < 0 { '-' } else { '+' }
            ),
            tz: TimeZone::fixed(offset),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instant `seconds` (since 1970, UTC) as an ISO 8601 stamp on this
    /// zone's wall clock, with its offset then (`2026-04-15T12:00:00-05:00`),
    /// to the millisecond where it has a fraction: a stamp any reader reads
    /// as the instant, that still shows the local time.
    pub fn stamp(&self, seconds: f64) -> String {
        let ms = (seconds * 1000.0).round() as i64;
        let Ok(at) = jiff::Timestamp::from_second(ms.div_euclid(1000)) else {
            return format!("{seconds}");
        };
        let offset = self.tz.to_offset(at);
        let o = offset.seconds();
        let sign = if o < 0 { '-' } else { '+' };
        let suffix = format!("{sign}{:02}:{:02}", o.abs() / 3600, o.abs() % 3600 / 60);
        super::time::iso::written(offset.to_datetime(at), ms, &suffix)
    }

    /// Seconds since the epoch of `local`: a date and time on this zone's
    /// wall clock, in seconds since 1970 as if it were UTC. In the hour
    /// that comes twice when the clocks go back, its first pass, unless
    /// the row before (`after`, in a file in time order) lies half that
    /// hour or more past the first pass, or at it exactly (an hourly
    /// file's `02:00` twice): a row a little late in the first pass stays
    /// there. A time the clocks skip (in spring) is read with the offset
    /// before the change, as a clock not moved would show it.
    pub fn to_utc(&self, local: f64, after: Option<f64>) -> f64 {
        let Ok(at) = jiff::Timestamp::from_second(local.floor() as i64) else {
            return local;
        };
        let wall = TimeZone::UTC.to_datetime(at);
        let secs = |o: Offset| f64::from(o.seconds());
        let offset = match self.tz.to_ambiguous_timestamp(wall).offset() {
            AmbiguousOffset::Unambiguous { offset } => secs(offset),
            AmbiguousOffset::Gap { before, .. } => secs(before),
            AmbiguousOffset::Fold {
                before,
                after: second,
            } => {
                let (first, fold) = (local - secs(before), secs(before) - secs(second));
                match after {
                    Some(prev) if prev - first >= fold / 2.0 || prev == first => secs(second),
                    _ => secs(before),
                }
            }
        };
        local - offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed offset as people write it is a zone (an air-quality
    /// reference's local standard time); a zone that moves its clocks has
    /// a standard offset, one that does not none. A column that says it is
    /// in local standard time, read in a zone that moves its clocks, is
    /// warned of with that offset.
    #[test]
    fn a_fixed_offset_is_a_zone_and_local_standard_time_is_one() {
        for (text, name) in [
            ("UTC-8", "UTC-08:00"),
            ("UTC-08:00", "UTC-08:00"),
            ("-08:00", "UTC-08:00"),
            ("GMT+5:30", "UTC+05:30"),
            ("+0530", "UTC+05:30"),
            ("utc−3", "UTC-03:00"),
        ] {
            let z = Zone::parse(text).unwrap();
            assert_eq!(z.name(), name, "{text}");
            // Read back from the name a model records.
            assert_eq!(Zone::parse(z.name()).unwrap().name(), name);
        }
        for bad in ["UTC-15", "+08:61", "8", "Mars/Olympus"] {
            assert!(Zone::parse(bad).is_err(), "{bad}");
        }
        let pacific = Zone::parse("America/Los_Angeles").unwrap();
        assert_eq!(
            pacific.standard().map(|z| z.name().to_string()).as_deref(),
            Some("UTC-08:00")
        );
        let sydney = Zone::parse("Australia/Sydney").unwrap().standard();
        assert_eq!(
            sydney.map(|z| z.name().to_string()).as_deref(),
            Some("UTC+10:00")
        );
        assert!(Zone::parse("Asia/Tokyo").unwrap().standard().is_none());
        assert!(Zone::parse("UTC-8").unwrap().standard().is_none());
        use crate::recording::{Column, CsvOptions, Recording};
        let mut text = String::from("Date (LST),Time (LST),x,y\n");
        for h in 0..48 {
            text += &format!("2026-07-{:02},{:02}:00,{h},{h}\n", 1 + h / 24, h % 24);
        }
        let read = |zone: &str| {
            let opts = CsvOptions {
                input: Column::Name("x".into()),
                output: Column::Name("y".into()),
                time: vec![
                    Column::Name("Date (LST)".into()),
                    Column::Name("Time (LST)".into()),
                ],
                time_zone: Some(Zone::parse(zone).unwrap()),
                ..Default::default()
            };
            Recording::from_bytes(text.as_bytes(), std::path::Path::new("aqs.csv"), &opts).unwrap()
        };
        let doubt = read("America/Los_Angeles").time_doubt.unwrap();
        assert!(doubt.contains("--time-zone UTC-08:00"), "{doubt}");
        assert_eq!(read("UTC-8").time_doubt, None);
        // Read in the standard offset, July's midnight is 08:00 UTC.
        let first = read("UTC-8").row_times[0].unwrap();
        assert_eq!(first % 86_400.0, 8.0 * 3600.0);
    }

    /// Berlin's wall clock across both changes of 2025, as seconds as if
    /// UTC: winter +1 h, summer +2 h; the skipped hour read with winter's
    /// offset; the repeated hour's first pass, then its second once a row
    /// of the first came before.
    /// An Onset HOBO export's time column, `Date Time, GMT-05:00`: its
    /// stamps are read in that offset (as `--time-zone` would), unless a
    /// zone is given; a name without an offset reads as UTC, as before.
    #[test]
    fn an_offset_in_the_time_columns_name_is_the_stamps() {
        use crate::recording::{Column, CsvOptions, Recording};
        let z = Zone::in_name("Date Time, GMT-05:00").unwrap();
        assert!(z.name().starts_with("UTC-05:00"), "{}", z.name());
        assert!(Zone::in_name("Time, GMT+05:30").is_some());
        assert!(Zone::in_name("Date Time").is_none() && Zone::in_name("GMT").is_none());
        let mut text = String::from("\"#\",\"Date Time, GMT-05:00\",x,y\n");
        for k in 0..30 {
            text += &format!("{},04/15/26 {:02}:00:00 AM,{k},{k}\n", k + 1, 1 + k % 11);
        }
        let read = |zone: Option<&str>| {
            let opts = CsvOptions {
                input: Column::Name("x".into()),
                output: Column::Name("y".into()),
                time: vec![Column::Name("Date Time, GMT-05:00".into())],
                time_zone: zone.map(|z| Zone::parse(z).unwrap()),
                ..Default::default()
            };
            Recording::from_bytes(text.as_bytes(), std::path::Path::new("hobo.csv"), &opts).unwrap()
        };
        // 2026-04-15 01:00 at UTC-5 is 06:00 UTC.
        let day = 20_558.0 * 86_400.0;
        let r = read(None);
        assert_eq!(r.row_times[0], Some(day + 6.0 * 3600.0), "{r:?}");
        assert!(r.read_as().contains("UTC-05:00"), "{}", r.read_as());
        // Said on that wall clock, with its offset, as the file shows it.
        assert_eq!(r.stamp(day + 6.0 * 3600.0), "2026-04-15T01:00:00-05:00");
        let given = read(Some("UTC"));
        assert_eq!(given.row_times[0], Some(day + 3600.0));
        assert_eq!(given.stamp(day + 3600.0), "2026-04-15T01:00:00+00:00");
    }

    #[test]
    fn berlins_wall_clock_is_read_as_its_instants() {
        let z = Zone::parse(" Europe/Berlin ").unwrap();
        assert_eq!(z.name(), "Europe/Berlin");
        // 2025-01-15 12:00 local = 11:00 UTC.
        let jan = 1_736_942_400.0;
        assert_eq!(z.to_utc(jan, None), jan - 3600.0);
        // 2025-07-15 12:00 local = 10:00 UTC.
        let jul = 1_752_580_800.0;
        assert_eq!(z.to_utc(jul, None), jul - 7200.0);
        // 2025-03-30 02:30 does not exist: read as 01:30 UTC (winter's).
        let gap = 1_743_301_800.0;
        assert_eq!(z.to_utc(gap, None), gap - 3600.0);
        // 2025-10-26 02:30 comes twice: 00:30 UTC first, 01:30 UTC second.
        let fold = 1_761_445_800.0;
        assert_eq!(z.to_utc(fold, None), fold - 7200.0);
        let first_pass_end = fold + 25.0 * 60.0 - 7200.0; // 02:55 first pass
        let (two, half_past) = (fold - 1800.0, fold);
        assert_eq!(z.to_utc(two, Some(first_pass_end)), two - 3600.0);
        // 02:30 after 02:55 is less than half the hour back: a late row.
        assert_eq!(
            z.to_utc(half_past, Some(first_pass_end)),
            half_past - 7200.0
        );
        // An hourly file's 02:00 twice: the second is the second pass.
        assert_eq!(z.to_utc(two, Some(two - 7200.0)), two - 3600.0);
        // A row 2 s late in the first pass stays there; within the second
        // pass, a row a little late stays in the second.
        assert_eq!(z.to_utc(fold, Some(fold + 2.0 - 7200.0)), fold - 7200.0);
        let second_pass = fold + 300.0 - 3600.0; // 02:35, second pass
        assert_eq!(
            z.to_utc(fold + 180.0, Some(second_pass)),
            fold + 180.0 - 3600.0
        );
        // A fraction of a second is kept.
        assert_eq!(z.to_utc(jan + 0.25, None), jan - 3600.0 + 0.25);
        assert!(
            Zone::parse("Mars/Olympus")
                .unwrap_err()
                .contains("no time zone")
        );
        assert_eq!(Zone::parse("UTC").unwrap().to_utc(jan, None), jan);
    }
}
