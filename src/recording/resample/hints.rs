//! What a reading on a clock says beyond its rows: a value held far
//! longer than its channel's changes come apart, and the flags that read
//! a long-format file a user gave as a wide one.

use super::super::options::Column;
use super::super::streams::cell;
use super::super::text::records;
use super::{regular, time};

/// What a reading left out: `skipped` rows for a bad cell, and rows that
/// repeat an earlier row exactly (`copies`: how many, the first line).
pub(super) fn left_out(skipped: usize, copies: (usize, Option<usize>)) -> String {
    let skipped = match skipped {
        0 => String::new(),
        n => format!("; {n} rows skipped for a bad cell"),
    };
    let copies = match copies {
        (n, Some(first)) => format!(
            "; {n} row(s) left out that repeat an earlier row exactly, its time and values (the \
             first at line {first}: written twice, as an export repeated after a restart?)"
        ),
        _ => String::new(),
    };
    skipped + &copies
}

/// Why a channel's rows, otherwise in order, go `back` seconds at one
/// row, read as they are (`local`: local stamps, with no zone named).
pub(super) fn step_back(back: f64, local: bool) -> &'static str {
    // A clock change sets local clocks back by an hour at most; stamps
    // with a zone or offset (`Z`) do not go back at one.
    match local && back <= 3660.0 {
        true => {
            "local time across a daylight-saving change (an hour that comes twice)? Name the \
             stamps' zone (--time-zone Europe/Berlin), or export with a UTC offset or in UTC; \
             sorted, the two hours would be merged"
        }
        false => {
            "not an hour's clock change, and not rows repeated with their values (those are \
             left out): a clock set back, or two exports of one period joined? Sorted, the rows \
             of the times that come twice would be merged: leave one of them out"
        }
    }
}

/// A value held far longer than its channel's changes usually come apart
/// (a sensor offline, its last value carried on by an export's fill): said,
/// with the flag that ends a hold.
pub(super) fn longest_hold(
    streams: &[&[(f64, usize, Option<f64>)]],
    every: f64,
    names: &[String; 2],
) -> String {
    let mut said = String::new();
    for (ch, name) in names.iter().enumerate() {
        let own: Vec<Vec<&(f64, usize, Option<f64>)>> = (streams.iter())
            .map(|changes| changes.iter().filter(|c| c.1 == ch).collect())
            .collect();
        let mut steps: Vec<f64> = (own.iter())
            .flat_map(|o| o.windows(2).map(|w| w[1].0 - w[0].0))
            .collect();
        if steps.len() < 10 {
            continue;
        }
        // A hold is a value's, to the next change: a word's stretch
        // (`unavailable`) holds nothing and is no tick already.
        let longest = (own.iter())
            .flat_map(|o| o.windows(2))
            .filter(|w| w[0].2.is_some())
            .map(|w| w[1].0 - w[0].0)
            .fold(0.0, f64::max);
        steps.sort_by(f64::total_cmp);
        let median = steps[steps.len() / 2].max(every);
        // Rows at one step (a logger's, whose values never repeat exactly)
        // have no long holds of their own: ten steps is an outage, ended
        // at three; changes at no rate hold a value long, a hundred not.
        let times: Vec<Vec<f64>> = (own.iter())
            .map(|o| o.iter().map(|c| c.0).collect())
            .collect();
        let (over, ends) = match super::regular::step(&times) {
            Some(_) => (10.0, 3.0),
            None => (100.0, 10.0),
        };
        if longest > over * median && longest > 10.0 * every {
            said.push_str(&format!(
                "; {name:?} held one value {} (its changes come {} apart at the median): a \
                 sensor offline? --max-gap {} ends a hold there",
                time::span(longest),
                time::span(median),
                flag_span(ends * median)
            ));
        }
    }
    said
}

/// A duration as a flag takes it: `90s`, `15m`.
pub(in crate::recording) fn flag_span(seconds: f64) -> String {
    match seconds.ceil() {
        s if s >= 3600.0 && s % 3600.0 == 0.0 => format!("{}h", s / 3600.0),
        s if s >= 120.0 => format!("{}m", (s / 60.0).ceil()),
        s => format!("{s}s"),
    }
}

/// Where `wanted` (a channel `--input` or `--output` names) is no column
/// but the value of one in the first rows: one row per channel and change
/// (long format), which `--name-column` reads. The flags to say so, with
/// the column likeliest to hold the values (`state`, `_value`, `value`).
/// None where the reason the column was not found (`why`) is a preamble
/// read as the header: the real header's names are values of its columns.
pub(in crate::recording) fn long_hint(
    bytes: &[u8],
    delimiter: u8,
    names: &[String],
    wanted: &Column,
    why: &str,
) -> String {
    let Column::Name(wanted) = wanted else {
        return String::new();
    };
    if why.contains("--skip-lines") {
        return String::new();
    }
    let Some(column) = records(bytes, delimiter)
        .skip(1)
        .take(20_000)
        .filter_map(|r| r.ok())
        .find_map(|(_, r)| {
            (0..r.len()).find(|&c| {
                String::from_utf8_lossy(cell(&r, c))
                    .trim()
                    .trim_matches('"')
                    .eq_ignore_ascii_case(wanted)
            })
        })
    else {
        return String::new();
    };
    let name = names.get(column).map_or("?", String::as_str);
    let values = ["state", "_value", "value", "Value", "val"]
        .into_iter()
        .find(|v| names.iter().any(|n| n == v))
        .unwrap_or("COL");
    let time_column = [
        "last_changed",
        "_time",
        "time",
        "timestamp",
        "Time",
        "datetimeUtc",
    ]
    .into_iter()
    .find_map(|v| names.iter().position(|n| n == v));
    let time = time_column.map_or(String::new(), |t| {
        format!(" --time-column {}", word(&names[t]))
    });
    // The clock: the step its rows come at (an hourly export's hour), a
    // minute where it cannot be told (changes at no rate read so).
    let step = time_column.and_then(|t| {
        let mut times: Vec<f64> = records(bytes, delimiter)
            .skip(1)
            .take(20_000)
            .filter_map(|r| r.ok())
            .filter(|(_, r)| {
                String::from_utf8_lossy(cell(r, column))
                    .trim()
                    .trim_matches('"')
                    .eq_ignore_ascii_case(wanted)
            })
            .filter_map(|(_, r)| time::seconds(cell(&r, t), delimiter, None, None, None).ok())
            .collect();
        times.sort_by(f64::total_cmp);
        times.dedup();
        regular::step(&[times])
    });
    let clock = match step {
        Some(s) => format!(
            "--resample {} (its rows come every {}: each channel's latest value read at every \
             tick)",
            flag_span(s),
            time::span(s)
        ),
        None => "--resample 1m (each channel's latest value held at every minute's tick)".into(),
    };
    format!(
        ". {wanted:?} is a value of column {name:?}: one row per channel and change (long \
         format, as a Home Assistant history export has it). Read each channel from its rows: \
         --name-column {} --value-column {}{time} {clock}",
        word(name),
        word(values)
    )
}

/// A flag's value as a POSIX shell takes it: in single quotes where it
/// holds more than letters, digits and `_.-` (`'Wechselrichter: WR-01'`,
/// `'Kosten $EUR'`: nothing in them is expanded), a `'` written `'\''`.
pub fn word(value: &str) -> String {
    let plain = |c: char| c.is_alphanumeric() || "_.-/".contains(c);
    match !value.is_empty() && value.chars().all(plain) {
        true => value.to_string(),
        false => format!("'{}'", value.replace('\'', r"'\''")),
    }
}

#[cfg(test)]
#[test]
fn a_flags_value_is_quoted_for_the_shell() {
    assert_eq!(word("entity_id"), "entity_id");
    assert_eq!(word("Wechselrichter: WR-01"), "'Wechselrichter: WR-01'");
    assert_eq!(word("Kosten $EUR"), "'Kosten $EUR'");
    assert_eq!(word("it's"), r"'it'\''s'");
    assert_eq!(word(""), "''");
    assert_eq!(word("/tmp/x.csv"), "/tmp/x.csv");
}
