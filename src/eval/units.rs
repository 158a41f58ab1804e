//! Units as channel names and samples write them: read from a column's
//! name, squared for an MSE, and compared however they are spelt.

/// A unit squared, as an MSE's: `kW²`, `°C²`, `(m/s)²`.
pub fn squared(unit: &str) -> String {
    if unit.chars().all(char::is_alphanumeric) || unit == "°C" || unit == "°F" {
        format!("{unit}²")
    } else {
        format!("({unit})²")
    }
}

/// Whether two units are written alike: `°F`, `ºF`, `degF` and `deg F`
/// are one, as are `%`, `percent` and `pct`, `rpm`, `1/min` and `U/min`
/// (German DBC files), `km/h` and `kph`, and an angle's `°`, `deg` and
/// `degrees`, and a bare `C` or `F` (a battery cycler's `Aux_Temperature_1(C)`)
/// is `°C` or `°F`; otherwise exactly (`mW` is not `MW`).
pub fn same_unit(a: &str, b: &str) -> bool {
    let norm = |u0: &str| -> String {
        let u: String = u0.split_whitespace().collect();
        let u = u.replace('º', "°");
        // (A coulomb or a farad is no reading a logger's column holds.)
        if u == "C" || u == "F" {
            return format!("°{u}");
        }
        let alias = match u.to_lowercase().as_str() {
            "percent" | "pct" => Some("%"),
            "1/min" | "u/min" | "r/min" | "min-1" | "min⁻¹" | "rpm" => Some("rpm"),
            "kph" | "kmh" | "km/h" => Some("km/h"),
            // An angle: PMU exports write `[deg]` or `[°]`.
            "°" | "deg" | "degree" | "degrees" => Some("°"),
            _ => None,
        };
        match (alias, u.strip_prefix("deg")) {
            (Some(a), _) => a.to_string(),
            (None, Some(rest)) if !rest.is_empty() => format!("°{rest}"),
            // Each word on its own: `g kg-1` is g per kg.
            _ => (u0.split_whitespace().enumerate())
                .map(|(k, word)| powers(&word.replace('º', "°"), k > 0))
                .collect(),
        }
    };
    norm(a) == norm(b)
}

/// A unit's powers and micro written one way, as gateways and loggers
/// write them in ASCII: `W/m²`, `W/m^2`, `W/m2` and `Wm-2` (`W m⁻²`) as
/// `W/m2`, `m s-1` as `m/s`, and `µ` for Greek `μ` or an ASCII `u` before
/// `g` or `mol` (`ug/m3`). `u` is one word of the unit; `after` one that
/// follows another (`kg-1` in `g kg-1`), whose letters are all the unit
/// its power is of, where a word alone (`Wm-2`) has the last letter's.
fn powers(u: &str, after: bool) -> String {
    let u: String = (u.chars())
        .filter(|&c| c != '^')
        .map(|c| match c {
            '²' => '2',
            '³' => '3',
            '¹' => '1',
            '⁻' => '-',
            'μ' => 'µ',
            c => c,
        })
        .collect();
    let micro = u
        .strip_prefix('u')
        .filter(|r| r.starts_with('g') || r.starts_with("mol"));
    let u = micro.map_or(u.clone(), |r| format!("µ{r}"));
    if let Some((unit, power)) = u.split_once('-').filter(|(unit, power)| {
        after
            && !unit.is_empty()
            && unit.chars().all(char::is_alphabetic)
            && !power.is_empty()
            && power.chars().all(|c| c.is_ascii_digit())
    }) {
        return match power {
            "1" => format!("/{unit}"),
            p => format!("/{unit}{p}"),
        };
    }
    // A negative power of the letter before it: a division by it.
    let c: Vec<char> = u.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < c.len() {
        let digits = c[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        if c[i] == '-' && digits > 0 && i > 0 && c[i - 1].is_alphabetic() {
            let letter = out.pop().unwrap_or_default();
            out.push('/');
            out.push(letter);
            let power: String = c[i + 1..i + 1 + digits].iter().collect();
            if power != "1" {
                out.push_str(&power);
            }
            i += 1 + digits;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Unit symbols read as a column name's last word without brackets.
const BARE_UNITS: [&str; 38] = [
    "kW", "MW", "kWh", "MWh", "mV", "kV", "mA", "kA", "VA", "kVA", "kvar", "Hz", "kHz", "Pa",
    "kPa", "hPa", "MPa", "bar", "mbar", "psi", "rpm", "m/s", "km/h", "m3/h", "m³/h", "l/s",
    "l/min", "l/h", "kg/h", "t/h", "Nm", "kN", "Ah", "ppm", "lux", "dB", "degC", "degF",
];

/// A column's name without the unit in brackets it ends with (`EngSpeed
/// [rpm]` → `EngSpeed`): the same channel, exported with units and without.
/// Only a unit goes: `Temp (Sensor 2)` and `Power [kW] (max)` stay whole.
pub fn base_name(name: &str) -> &str {
    let name = name.trim_end();
    let Some(unit) = unit_of(name) else {
        return name;
    };
    let stripped = [('[', ']'), ('(', ')')]
        .into_iter()
        .find_map(|(open, close)| {
            let inner = name.strip_suffix(close)?.rsplit_once(open)?;
            (inner.1.trim() == unit).then(|| inner.0.trim_end())
        });
    stripped.filter(|b| !b.is_empty()).unwrap_or(name)
}

/// Whether two columns' names are one channel's: alike but for case, or
/// for a unit in brackets one of them adds (units both give must agree:
/// `Druck [bar]` is not `Druck [Pa]`).
pub fn same_channel(a: &str, b: &str) -> bool {
    if a.trim().eq_ignore_ascii_case(b.trim()) {
        return true;
    }
    let units = match (unit_of(a), unit_of(b)) {
        (Some(x), Some(y)) => same_unit(x, y),
        _ => true,
    };
    units && base_name(a).eq_ignore_ascii_case(base_name(b))
}

/// The unit a column's name ends with, in brackets or parentheses as
/// exports write it: `Vorlauftemperatur [°C]`, `power (kW)`.
pub fn unit_of(name: &str) -> Option<&str> {
    let name = name.trim_end();
    // An Onset HOBO export's `Temp, °F (LGR S/N: 20412345, SEN S/N: …)`:
    // the logger's serials in brackets, the unit after the comma.
    if let Some(start) = name.rfind(" (")
        && name.ends_with(')')
        && name[start..].contains("S/N")
    {
        return unit_of(&name[..start]);
    }
    if let Some((_, unit)) = name.rsplit_once(", ")
        && (BARE_UNITS.contains(&unit) || unit.starts_with(['°', 'º']) || unit == "%")
    {
        return Some(unit);
    }
    // `Valve %`, `Load%`.
    if name.ends_with('%') && name.len() > 1 {
        return Some("%");
    }
    // `Vorlauf °C`: a degree sign names its unit unbracketed (a suffix
    // such as `_ms` may not: wind speed in m/s, not milliseconds).
    if let Some((_, last)) = name.rsplit_once([' ', '_'])
        && last.starts_with(['°', 'º'])
        && (2..=4).contains(&last.chars().count())
    {
        return Some(last);
    }
    // `Chiller 1 kW`, `Druck bar`: a unit symbol of two characters or more
    // as the last word (one letter may be a name: `Pump A`).
    if let Some((_, last)) = name.rsplit_once(' ')
        && BARE_UNITS.contains(&last)
    {
        return Some(last);
    }
    let close = name.chars().last()?;
    let open = match close {
        ']' => '[',
        ')' => '(',
        _ => return None,
    };
    let start = name.rfind(open)?;
    let unit = name[start + 1..name.len() - 1].trim();
    // `Temp °C (avg)`, `power [kW] (mean)`: a statistic after the unit;
    // `Dauer [min]` alone is minutes.
    let word = unit.to_lowercase();
    if STATISTICS.contains(&word.as_str()) {
        return unit_of(&name[..start]).or_else(|| (word == "min").then_some(unit));
    }
    // `Temperatur (Sensor 2)` names a sensor, not a unit.
    (!unit.is_empty() && unit.len() <= 16 && !unit.contains(char::is_whitespace)).then_some(unit)
}

/// Words that loggers put in brackets after a channel's unit to say which
/// statistic of an interval a value is (not a unit).
const STATISTICS: [&str; 12] = [
    "avg", "average", "mean", "min", "max", "median", "rms", "std", "sum", "total", "last",
    "mittel",
];
