//! Whether the output goes with input a window does not hold: where the
//! output follows the input by more rows than half a window (a pressure
//! wave reaching a finger 25 samples later, a tank's outlet a minute after
//! its inlet) or leads it, a window of the two holds the input of few of
//! its outputs, or none. The cross-correlation of the two
//! channels over the training rows says by how much; the user can choose a
//! longer `--window`.

use crate::recording::Segment;

/// Rows looked at, at most (the first of the training part).
const ROWS: usize = 50_000;
/// A correlation weaker than this says too little to go by.
const STRONG: f64 = 0.3;
/// By how much it must be stronger at the shift found than at none.
const STRONGER: f64 = 0.1;
/// Shifts within this share of the strongest count as strong as it (the
/// smallest of them is said: a periodic signal peaks every period).
const TIE: f64 = 0.98;

/// The correlation of output and input shifted by `lag` rows (positive:
/// the output follows the input), for each lag in `-most..=most`, over the
/// segments (no pair across two).
fn correlations(train: &[Segment], most: usize) -> Option<Vec<f64>> {
    let mut rows = 0;
    let mut parts: Vec<(&[f32], &[f32])> = Vec::new();
    for s in train {
        let n = s.len().min(ROWS - rows);
        if n > 2 * most {
            parts.push((&s.input[..n], &s.output[..n]));
            rows += n;
        }
        if rows == ROWS {
            break;
        }
    }
    let n = rows as f64;
    if rows < 8 * most.max(1) {
        return None;
    }
    // Means and spreads of both channels over the rows looked at.
    let (mut sum, mut squares) = ([0.0f64; 2], [0.0f64; 2]);
    for (x, y) in &parts {
        for (c, v) in [(0, x), (1, y)] {
            sum[c] += v.iter().map(|&v| f64::from(v)).sum::<f64>();
            squares[c] += v.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
        }
    }
    let (mx, my) = (sum[0] / n, sum[1] / n);
    let spread = |c: usize, m: f64| (squares[c] / n - m * m).max(0.0).sqrt();
    let (sx, sy) = (spread(0, mx), spread(1, my));
    // A constant channel (to f32's steps) correlates with nothing.
    if !(sx > 1e-6 * mx.abs().max(1.0) && sy > 1e-6 * my.abs().max(1.0)) {
        return None;
    }
    let mut sums = vec![(0.0f64, 0usize); 2 * most + 1];
    for (x, y) in &parts {
        let x: Vec<f64> = x.iter().map(|&v| (f64::from(v) - mx) / sx).collect();
        let y: Vec<f64> = y.iter().map(|&v| (f64::from(v) - my) / sy).collect();
        for (k, (sum, count)) in sums.iter_mut().enumerate() {
            // y[t] against x[t − lag].
            let lag = k as isize - most as isize;
            let (xs, ys) = if lag >= 0 {
                (&x[..x.len() - lag as usize], &y[lag as usize..])
            } else {
                (&x[(-lag) as usize..], &y[..y.len() - (-lag) as usize])
            };
            *sum += xs.iter().zip(ys).map(|(a, b)| a * b).sum::<f64>();
            *count += xs.len();
        }
    }
    Some(sums.iter().map(|&(s, c)| s / c as f64).collect())
}

/// The warning, where the output goes with input more than half a window
/// away (`step`: the time between rows, to say the shift in time too).
pub(super) fn warning(train: &[Segment], window: usize, step: Option<f64>) -> Option<String> {
    let most = (4 * window).clamp(8, 512);
    let r = correlations(train, most)?;
    let strongest = r.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    // The peak nearest no shift among those about as strong as the
    // strongest (a periodic signal peaks once a period).
    let peak = |k: usize| {
        let a = |i: usize| r.get(i).map_or(0.0, |v: &f64| v.abs());
        a(k) >= a(k.wrapping_sub(1)) && a(k) >= a(k + 1)
    };
    let (k, &best) = (r.iter().enumerate())
        .filter(|&(k, v)| v.abs() >= TIE * strongest && peak(k))
        .min_by_key(|(k, _)| k.abs_diff(most))?;
    let lag = k as isize - most as isize;
    let at_none = r[most];
    let far = 2 * lag.unsigned_abs() > window;
    if !(far && best.abs() >= STRONG && best.abs() - at_none.abs() >= STRONGER) {
        return None;
    }
    let rows = lag.unsigned_abs();
    let time = step.map_or(String::new(), |s| {
        format!(" ({})", crate::recording::time::span(s * rows as f64))
    });
    let how = if lag > 0 { "follows" } else { "leads" };
    let suggest = (4 * rows)
        .next_multiple_of(8)
        .min(crate::format::MAX_WINDOW);
    // The outputs whose input lies within their window.
    let held = match window.saturating_sub(rows) {
        0 => "none".to_string(),
        n => format!("only {n}"),
    };
    Some(format!(
        "the output {how} the input by about {rows} rows{time}: their correlation is {best:.2} \
         at that shift against {at_none:.2} at none, so a window of {window} rows holds the input \
         of {held} of its {window} outputs; a model trained with a longer window sees it \
         (retrain with --window {suggest} --residual: over a window that long, the linear map \
         is a better start for the network than nothing)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(input: Vec<f32>, output: Vec<f32>) -> Segment {
        Segment {
            start: 0,
            input,
            output,
        }
    }

    /// A noisy pulse train and the same delayed by `lag` rows (negative:
    /// ahead), as a pressure wave reaches a finger.
    fn delayed(lag: isize, rows: usize) -> Segment {
        let mut rng = crate::rng::Rng::new(7);
        let beat = |t: isize| {
            let phase = (t.rem_euclid(90)) as f32 / 90.0;
            (-((phase - 0.3) * 12.0).powi(2)).exp()
        };
        let input: Vec<f32> = (0..rows as isize)
            .map(|t| beat(t) + 0.05 * rng.normal() as f32)
            .collect();
        let output: Vec<f32> = (0..rows as isize)
            .map(|t| 80.0 + 40.0 * beat(t - lag) + 2.0 * rng.normal() as f32)
            .collect();
        segment(input, output)
    }

    #[test]
    fn an_output_far_behind_or_ahead_of_its_input_is_said() {
        let w = warning(&[delayed(25, 20_000)], 24, Some(0.008)).unwrap_or_default();
        assert!(
            w.contains("follows the input by about 25 rows (200 ms)")
                && w.contains("holds the input of none of its 24 outputs")
                && w.contains("retrain with --window 104"),
            "{w}"
        );
        let w = warning(&[delayed(-20, 20_000)], 24, None).unwrap_or_default();
        assert!(
            w.contains("leads the input by about 20 rows:") && w.contains("of only 4 of its 24"),
            "{w}"
        );
        // Within half a window, or a window long enough: nothing to say.
        assert_eq!(warning(&[delayed(5, 20_000)], 24, None), None);
        assert_eq!(warning(&[delayed(25, 20_000)], 96, None), None);
        // An output unrelated to the input; a constant channel; too few rows.
        let mut rng = crate::rng::Rng::new(1);
        let noise: Vec<f32> = (0..5000).map(|_| rng.normal() as f32).collect();
        let other: Vec<f32> = (0..5000).map(|_| rng.normal() as f32).collect();
        assert_eq!(warning(&[segment(noise.clone(), other)], 24, None), None);
        assert_eq!(warning(&[segment(noise, vec![1.0; 5000])], 24, None), None);
        assert_eq!(warning(&[delayed(25, 300)], 24, None), None);
        // No pair across two segments: each alone is too short.
        let parts: Vec<Segment> = (0..40).map(|_| delayed(25, 150)).collect();
        assert_eq!(warning(&parts, 24, None), None);
    }
}
