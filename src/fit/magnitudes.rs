//! A stream whose channel sits orders of magnitude from the other streams'
//! of the same export: one device's rows with a decimal point read as a
//! thousands separator (`6.872` m³/h in a decimal-comma file is 6,872), or
//! in another unit. Trained on as they are, they set the channel's scaling
//! for every stream, and nothing else points at them. Temperatures are
//! looked at too: a rack's sensor in °F among others in °C is only ~3×
//! theirs, but `(x − 32) / 1.8` puts it among them.

use super::FileSummary;

/// The two channels, by which they are, and their values in a recording.
type Channel = fn(&FileSummary) -> Vec<f32>;
const CHANNELS: [(&str, Channel); 2] = [
    ("input", |f| f.recording.input().collect()),
    ("output", |f| f.recording.output().collect()),
];

/// The channel's name in `f` (`which`: `input` or `output`).
fn name<'a>(f: &'a FileSummary, which: &str) -> &'a String {
    match which {
        "input" => &f.recording.input_name,
        _ => &f.recording.output_name,
    }
}

/// Three devices or more of one export: what the checks compare.
fn a_fleet(recs: &[FileSummary]) -> bool {
    recs.len() >= 3 && recs.iter().all(|f| f.recording.stream.is_some())
}

/// How far (as a factor) a stream's typical magnitude lies from the other
/// streams' before it is said.
const FACTOR: f64 = 100.0;

/// Each stream (a recording's index) whose input or output channel is
/// typically `FACTOR` or more times the other streams' (or as many times
/// less), and what to say of it. Needs three streams or more, and the
/// stream said to be one of under half of them.
pub(super) fn outliers(recs: &[FileSummary]) -> Vec<(usize, String)> {
    if !a_fleet(recs) {
        return Vec::new();
    }
    let mut said = Vec::new();
    for (which, values) in CHANNELS {
        let typical: Vec<Option<f64>> = recs.iter().map(|f| magnitude(&values(f))).collect();
        let mut known: Vec<f64> = typical.iter().flatten().copied().collect();
        if known.len() < 3 {
            continue;
        }
        known.sort_by(f64::total_cmp);
        let mid = known[known.len() / 2];
        let far = |m: f64| m >= FACTOR * mid || m * FACTOR <= mid;
        let odd = typical.iter().flatten().filter(|&&m| far(m)).count();
        if mid <= 0.0 || 2 * odd >= known.len() {
            continue;
        }
        for (i, (f, m)) in recs.iter().zip(&typical).enumerate() {
            let Some(m) = m.filter(|&m| far(m)) else {
                continue;
            };
            let name = name(f, which);
            // (Said of the stream: its warnings name it.)
            said.push((
                i,
                format!(
                    "column {name:?} is typically {} here where the other streams' is {} ({}× \
                     theirs): another unit in this stream's rows, or a decimal point read as a \
                     thousands separator (or the other way round)? Read as it is, it sets the \
                     scaling of every stream a model is trained on with it",
                    crate::eval::significant(m),
                    crate::eval::significant(mid),
                    crate::eval::significant(m / mid)
                ),
            ));
        }
    }
    said
}

/// Units of temperature some devices of a fleet may write where the others
/// write another: what such a device's rows read in, what the others' do,
/// and its level in the others' unit.
type Convert = fn(f64) -> f64;
const TEMPERATURES: [(&str, &str, Convert); 4] = [
    ("°F", "°C", |x| (x - 32.0) / 1.8),
    ("°C", "°F", |x| x * 1.8 + 32.0),
    ("K", "°C", |x| x - 273.15),
    ("°C", "K", |x| x + 273.15),
];

/// How far (in the fleet's spread of levels, or a stream's own spread,
/// whichever is larger) a stream's level must lie from the fleet's to be
/// said, and how near it must come in the other unit.
const FAR: f64 = 8.0;
const NEAR: f64 = 3.0;

/// The first of the streams (a recording's index) whose input or output
/// channel lies far from the other streams' level, where it would lie
/// among them read in another unit of temperature (°F where the others
/// write °C), and what to say of them all. Needs three streams or more,
/// and those said under half of them.
pub(super) fn temperatures(recs: &[FileSummary], said_already: &[usize]) -> Vec<(usize, String)> {
    if !a_fleet(recs) {
        return Vec::new();
    }
    let mut said = Vec::new();
    for (which, values) in CHANNELS {
        let name = name(&recs[0], which);
        // A channel whose name gives a unit that is no temperature's (kW,
        // m³/h): a device off reads 0, which is 32 read as °C in °F.
        if crate::eval::unit_of(name).is_some_and(|u| !is_temperature(u)) {
            continue;
        }
        // (Streams said to be orders of magnitude off are said once.)
        let levels: Vec<Option<(f64, f64)>> = (recs.iter().enumerate())
            .map(|(i, f)| level(&values(f)).filter(|_| !said_already.contains(&i)))
            .collect();
        let known: Vec<(f64, f64)> = levels.iter().flatten().copied().collect();
        if known.len() < 3 {
            continue;
        }
        let fleet = median(known.iter().map(|l| l.0).collect());
        let spread = median(known.iter().map(|l| (l.0 - fleet).abs()).collect())
            .max(median(known.iter().map(|l| l.1).collect()));
        if spread.is_nan() || spread <= 0.0 {
            continue;
        }
        for (reads, others, convert) in TEMPERATURES {
            let odd: Vec<usize> = (levels.iter().enumerate())
                .filter(|(_, l)| {
                    l.is_some_and(|(m, own)| {
                        let tolerance = spread.max(own);
                        (m - fleet).abs() > FAR * tolerance
                            && (convert(m) - fleet).abs() <= NEAR * tolerance
                    })
                })
                .map(|(i, _)| i)
                .collect();
            if odd.is_empty() || 2 * odd.len() >= known.len() {
                continue;
            }
            let of = |pick: &dyn Fn(usize) -> bool| -> Vec<f64> {
                (levels.iter().enumerate())
                    .filter(|(i, _)| pick(*i))
                    .filter_map(|(_, l)| l.map(|l| l.0))
                    .collect()
            };
            let (these, rest) = (of(&|i| odd.contains(&i)), of(&|i| !odd.contains(&i)));
            let names: Vec<String> = (odd.iter())
                .filter_map(|&i| recs[i].recording.stream.clone())
                .collect();
            let which = match names.len() {
                1 => "this stream's".to_string(),
                n => format!("{n} streams' ({})", crate::recording::listed(&names)),
            };
            said.push((
                odd[0],
                format!(
                    "column {name:?} reads {} in {which} rows where the other {} streams' read \
                     {}; read as {reads} in {others}, {} would be among theirs: {reads} in \
                     these rows where the others write {others}? Read as it is, a model trained \
                     on every stream learns neither unit's level (convert these streams' rows, \
                     or train them apart)",
                    range(&these),
                    rest.len(),
                    range(&rest),
                    range(&these.iter().map(|&m| convert(m)).collect::<Vec<_>>()),
                ),
            ));
        }
    }
    said
}

/// A unit of temperature, as column names write them.
fn is_temperature(unit: &str) -> bool {
    let u = unit
        .trim()
        .trim_start_matches(['°', 'º'])
        .to_ascii_lowercase();
    matches!(
        u.as_str(),
        "c" | "f" | "k" | "degc" | "degf" | "deg c" | "deg f" | "celsius" | "fahrenheit" | "kelvin"
    )
}

/// `a to b` of levels (one: itself), as people read them.
fn range(levels: &[f64]) -> String {
    let lo = levels.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = levels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo_s, hi_s) = (crate::eval::significant(lo), crate::eval::significant(hi));
    match lo_s == hi_s {
        true => lo_s,
        false => format!("{lo_s} to {hi_s}"),
    }
}

/// The median of `v` (non-empty).
fn median(mut v: Vec<f64>) -> f64 {
    crate::data::median_in_place(&mut v)
}

/// The median of the finite values and their spread (the half-width of
/// their middle half); `None` with none.
fn level(values: &[f32]) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = (values.iter())
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v))
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Some((at(0.5), (at(0.75) - at(0.25)) / 2.0))
}

/// The median of the values' magnitudes, zeros left out (a device off);
/// `None` with none left.
fn magnitude(values: &[f32]) -> Option<f64> {
    let mut m: Vec<f64> = (values.iter())
        .filter(|v| v.is_finite() && **v != 0.0)
        .map(|v| f64::from(v.abs()))
        .collect();
    if m.is_empty() {
        return None;
    }
    let mid = m.len() / 2;
    m.select_nth_unstable_by(mid, f64::total_cmp);
    Some(m[mid])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The median magnitude leaves zeros (a device off) out.
    #[test]
    fn a_magnitude_leaves_a_device_off_out() {
        assert_eq!(magnitude(&[0.0, 0.0, 0.0, 5.0, -7.0, 6.0]), Some(6.0));
        assert_eq!(magnitude(&[0.0, 0.0]), None);
    }
}
