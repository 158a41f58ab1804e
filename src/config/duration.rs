//! Durations in the config and on the command line: `"2ms"`, `"10m"`, or
//! a number in the key's own unit.

use std::time::Duration;

/// Duration keys: a number in the key's own unit (`max_wait_ms = 2`, as
/// before), or a string with a unit under either name (`max_wait = "2ms"`,
/// `idle_timeout = "10m"`).
pub(crate) mod duration_key {
    use serde::{Deserialize, Deserializer, de::Error as _};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText {
        Num(f64),
        Text(String),
    }

    fn parse<'de, D: Deserializer<'de>>(d: D, unit_secs: f64) -> Result<f64, D::Error> {
        let v = match NumOrText::deserialize(d)? {
            NumOrText::Num(n) => n,
            // A number in quotes is still in the key's own unit
            // (`max_wait_ms = "5"` is 5 ms, not 5 s).
            NumOrText::Text(t) if !t.contains(char::is_alphabetic) => {
                t.trim().parse().map_err(|_| {
                    D::Error::custom(format!("invalid duration {t:?} (try 10m, 2ms, 30s, 1h30m)"))
                })?
            }
            NumOrText::Text(t) => {
                super::parse_duration(&t)
                    .map_err(D::Error::custom)?
                    .as_secs_f64()
                    / unit_secs
            }
        };
        if !v.is_finite() || v < 0.0 {
            return Err(D::Error::custom(format!(
                "duration {v} must be finite and ≥ 0"
            )));
        }
        Ok(v)
    }

    /// Milliseconds.
    pub fn ms<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        parse(d, 1e-3)
    }

    /// Whole milliseconds.
    pub fn ms_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        parse(d, 1e-3).map(|v| v.round() as u64)
    }

    /// Seconds.
    pub fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        parse(d, 1.0)
    }

    /// Seconds, for a key that may be absent (`#[serde(default)]`) and is
    /// written with its unit (`"30m"`; a bare number only as 0, as serve's
    /// flags).
    pub fn opt_secs_with_unit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Num(0.0) => Ok(Some(0.0)),
            NumOrText::Num(n) => Err(D::Error::custom(format!(
                "{n} has no unit: write \"{n}s\" (or ms, m, h)"
            ))),
            NumOrText::Text(t) => super::parse_duration_with_unit(&t)
                .map(|d| Some(d.as_secs_f64()))
                .map_err(D::Error::custom),
        }
    }

    /// Writes what [`opt_secs_with_unit`] reads: seconds with their unit.
    pub fn secs_text<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(secs) => s.serialize_str(&format!("{secs}s")),
            None => s.serialize_none(),
        }
    }
}

/// A duration that must say its unit, but 0 (`serve`'s flags, as the
/// config's short names: `--max-wait 1` was 1 s where the config's
/// `max_wait_ms = 1` is 1 ms).
pub fn parse_duration_with_unit(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    if !t.contains(char::is_alphabetic) && t.parse::<f64>().is_ok_and(|v| v > 0.0) {
        return Err(format!("{t:?} has no unit: write {t}ms or {t}s (or m, h)"));
    }
    parse_duration(t)
}

/// Parses a duration such as `10m`, `2ms`, `1.5s`, `1h`, plain seconds, or
/// terms one after another as Go, Prometheus and the `nats` CLI write them
/// (`1h30m`, `1m30s`, `1h 30m`).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let invalid = || format!("invalid duration {s:?} (try 10m, 2ms, 30s, 1h30m)");
    let number = |t: &str| -> std::result::Result<f64, String> {
        let v: f64 = t.trim().parse().map_err(|_| invalid())?;
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(invalid())
        }
    };
    let mut secs = 0.0;
    if !s.contains(char::is_alphabetic) {
        secs = number(s)?;
    }
    // `µs`: µ is alphabetic, not ASCII.
    let mut rest = s;
    while let Some(i) = rest.find(char::is_alphabetic) {
        let (num, tail) = rest.split_at(i);
        let j = tail
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(j);
        let per = match unit {
            "ms" => 1e-3,
            // The micro sign, or the Greek mu a keyboard gives.
            "us" | "µs" | "μs" => 1e-6,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => {
                return Err(format!(
                    "unknown unit {unit:?} in {s:?} (us, ms, s, m, h, d)"
                ));
            }
        };
        secs += number(num)? * per;
        rest = next.trim_start();
        // A number after the last unit (`1m30`) says nothing of its unit.
        if !rest.is_empty() && !rest.contains(char::is_alphabetic) {
            return Err(format!(
                "invalid duration {s:?}: {rest:?} at its end has no unit (as in 1m30s)"
            ));
        }
    }
    if !secs.is_finite() {
        return Err(invalid());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("duration {s:?} is too long"))
}

/// A duration of `seconds` as a flag takes it, exactly where it can be (to
/// the µs): `15m`, `1h`, `90s`, `250ms`; [`parse_duration`] reads it back.
pub fn duration_flag(seconds: f64) -> String {
    let us = (seconds * 1e6).round();
    match us {
        u if u >= 3.6e9 && u % 3.6e9 == 0.0 => format!("{}h", u / 3.6e9),
        u if u >= 6e7 && u % 6e7 == 0.0 => format!("{}m", u / 6e7),
        u if u >= 1e6 && u % 1e6 == 0.0 => format!("{}s", u / 1e6),
        u => format!("{}ms", u / 1e3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each step as the flag that gives it back.
    #[test]
    fn a_duration_is_written_as_its_flag() {
        for (s, flag) in [
            (900.0, "15m"),
            (3600.0, "1h"),
            (5400.0, "90m"),
            (90.0, "90s"),
            (1.0, "1s"),
            (0.25, "250ms"),
            (1.5, "1500ms"),
            (0.000_125, "0.125ms"),
        ] {
            assert_eq!(duration_flag(s), flag);
            assert_eq!(parse_duration(flag).unwrap().as_secs_f64(), s);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2ms").unwrap(), Duration::from_millis(2));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_duration("5µs").unwrap(), Duration::from_micros(5));
        assert_eq!(parse_duration("5μs").unwrap(), Duration::from_micros(5));
        assert!(parse_duration("100000000000000000000s").is_err());
        // Terms one after another, as Go, Prometheus and the nats CLI write them.
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("1s500ms").unwrap(),
            Duration::from_millis(1500)
        );
        for bad in ["1m30", "1h-30m", "h", "1hh", "30m1x", "", "1..5s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        // serve's flags: a unit, but for 0.
        assert_eq!(
            parse_duration_with_unit("2ms").unwrap(),
            Duration::from_millis(2)
        );
        assert_eq!(parse_duration_with_unit("0").unwrap(), Duration::ZERO);
        let e = parse_duration_with_unit("1").unwrap_err();
        assert!(e.contains("\"1\" has no unit: write 1ms or 1s"), "{e}");
    }
}
