//! A stream whose channel sits orders of magnitude from the other streams'
//! of the same export: one device's rows with a decimal point read as a
//! thousands separator (`6.872` m³/h in a decimal-comma file is 6,872), or
//! in another unit. Trained on as they are, they set the channel's scaling
//! for every stream, and nothing else points at them.

use super::FileSummary;

/// How far (as a factor) a stream's typical magnitude lies from the other
/// streams' before it is said.
const FACTOR: f64 = 100.0;

/// Each stream (a recording's index) whose input or output channel is
/// typically `FACTOR` or more times the other streams' (or as many times
/// less), and what to say of it. Needs three streams or more, and the
/// stream said to be one of under half of them.
pub(super) fn outliers(recs: &[FileSummary]) -> Vec<(usize, String)> {
    if recs.len() < 3 || recs.iter().any(|f| f.recording.stream.is_none()) {
        return Vec::new();
    }
    let mut said = Vec::new();
    type Channel = fn(&FileSummary) -> Vec<f32>;
    let channels: [(&str, Channel); 2] = [
        ("input", |f| f.recording.input().collect()),
        ("output", |f| f.recording.output().collect()),
    ];
    for (which, values) in channels {
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
            let name = match which {
                "input" => &f.recording.input_name,
                _ => &f.recording.output_name,
            };
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
