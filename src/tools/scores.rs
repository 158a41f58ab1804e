//! `tail`'s scores: translations against their truth, and whether they
//! are further from it than a flat line.

use super::TailSummary;

/// Translations' squared errors against their truth, and the truth's own
/// spread, over every value scored.
#[derive(Debug, Default)]
pub(super) struct Scores {
    squared_errors: f64,
    n: usize,
    /// The truth's sums are taken about its first value: a signal with a
    /// large offset (a pressure near 1e5 varying by 1) keeps its variance's
    /// digits.
    origin: Option<f64>,
    truth_sum: f64,
    truth_squares: f64,
}

impl Scores {
    pub fn add(&mut self, values: &[f32], truth: &[f32]) {
        for (&v, &t) in values.iter().zip(truth) {
            let (v, t) = (f64::from(v), f64::from(t));
            self.squared_errors += (v - t) * (v - t);
            let d = t - *self.origin.get_or_insert(t);
            self.truth_sum += d;
            self.truth_squares += d * d;
            self.n += 1;
        }
    }

    pub fn mse(&self) -> Option<f64> {
        (self.n > 0).then(|| self.squared_errors / self.n as f64)
    }

    /// `None` where the truth is flat (no spread to measure against).
    pub fn nmse(&self) -> Option<f64> {
        let n = self.n as f64;
        let mean = self.truth_sum / n;
        let variance = self.truth_squares / n - mean * mean;
        // Below rounding of the sums (or none at all): a flat truth.
        let flat = variance <= 1e-12 * (self.truth_squares / n);
        (self.n > 1 && !flat && variance > 0.0).then(|| self.squared_errors / n / variance)
    }
}

/// One stream's windows scored and their scores (`tail` of a file of
/// several devices' truth: which device the model serves poorly).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StreamScore {
    pub stream: String,
    pub windows: u64,
    pub mse: Option<f64>,
    pub nmse: Option<f64>,
}

/// [`Scores`] by stream, for at most [`crate::recording::MAX_STREAMS`].
#[derive(Debug, Default)]
pub(super) struct ByStream(std::collections::BTreeMap<String, (u64, Scores)>);

impl ByStream {
    pub fn add(&mut self, stream: &str, values: &[f32], truth: &[f32]) {
        let full = self.0.len() >= crate::recording::MAX_STREAMS;
        let entry = match self.0.get_mut(stream) {
            Some(e) => e,
            None if full => return,
            None => self.0.entry(stream.to_string()).or_default(),
        };
        entry.0 += 1;
        entry.1.add(values, truth);
    }

    /// By name; none for one stream (the summary's figures are its).
    pub fn scores(&self) -> Vec<StreamScore> {
        if self.0.len() < 2 {
            return Vec::new();
        }
        (self.0.iter())
            .map(|(stream, (windows, s))| StreamScore {
                stream: stream.clone(),
                windows: *windows,
                mse: s.mse(),
                nmse: s.nmse(),
            })
            .collect()
    }
}

impl TailSummary {
    /// Translations further from the truth than its own mean (NMSE over 1)
    /// are compared with the wrong thing, or come from the wrong model: said,
    /// with where to look (`recording`: the truth is a `--data` column).
    pub fn further_than_the_mean(&self, recording: bool) -> Option<String> {
        let nmse = self.nmse.filter(|&n| n > 1.0)?;
        let check = if recording {
            "is --truth-column the route's output column, in the units the model translates into? \
             (`pipeline info` on the model names the columns it was trained on)"
        } else {
            "is the route serving the model of this pair?"
        };
        Some(format!(
            "the translations are further from the truth than its own mean is (NMSE {}): {check}",
            crate::eval::significant(nmse)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MSE and NMSE over every value scored: the NMSE is the MSE over the
    /// truth's variance (a flat line at its mean scores 1); a flat truth has
    /// none.
    #[test]
    fn scores_are_normalised_by_the_truths_own_spread() {
        let truth: Vec<f32> = (0..48)
            .map(|i| 100.0 + 3.0 * (i as f32 * 0.4).sin())
            .collect();
        let near: Vec<f32> = truth.iter().map(|t| t + 0.1).collect();
        let mean = truth.iter().map(|&t| f64::from(t)).sum::<f64>() / 48.0;
        let variance = truth
            .iter()
            .map(|&t| (f64::from(t) - mean).powi(2))
            .sum::<f64>()
            / 48.0;
        let mut s = Scores::default();
        s.add(&near[..24], &truth[..24]);
        s.add(&near[24..], &truth[24..]);
        let mse = s.mse().unwrap();
        assert!((mse - 0.01).abs() < 1e-6, "{mse}");
        let nmse = s.nmse().unwrap();
        assert!(
            (nmse - 0.01 / variance).abs() < 1e-6,
            "{nmse} against {}",
            0.01 / variance
        );
        // Its mean as the translation scores 1.
        let mut flat_line = Scores::default();
        flat_line.add(&[mean as f32; 48], &truth);
        assert!((flat_line.nmse().unwrap() - 1.0).abs() < 1e-4);
        // Another channel (in other units) scores far over 1.
        let mut other = Scores::default();
        other.add(&truth.iter().map(|t| t * 10.0).collect::<Vec<_>>(), &truth);
        assert!(other.nmse().unwrap() > 100.0);
        // A large offset keeps the variance's digits.
        let far: Vec<f32> = (0..48).map(|i| 1e5 + (i % 2) as f32).collect();
        let mut offset = Scores::default();
        offset.add(&far.iter().map(|t| t + 0.5).collect::<Vec<_>>(), &far);
        assert!(
            (offset.nmse().unwrap() - 1.0).abs() < 1e-9,
            "{:?}",
            offset.nmse()
        );
        // A flat truth: an MSE, no NMSE; nothing scored: neither.
        let mut flat = Scores::default();
        flat.add(&near[..4], &[5.0; 4]);
        assert!(flat.mse().is_some() && flat.nmse().is_none());
        assert_eq!(
            (Scores::default().mse(), Scores::default().nmse()),
            (None, None)
        );
        // Told where the translations are further than the mean, only there.
        let seen = |nmse| TailSummary {
            nmse,
            ..TailSummary::default()
        };
        assert_eq!(seen(s.nmse()).further_than_the_mean(true), None);
        assert_eq!(seen(None).further_than_the_mean(true), None);
        let why = seen(other.nmse()).further_than_the_mean(true).unwrap();
        assert!(why.contains("--truth-column"), "{why}");
        let why = seen(other.nmse()).further_than_the_mean(false).unwrap();
        assert!(why.contains("model of this pair"), "{why}");
    }
}
