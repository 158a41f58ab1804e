//! Whether a model's lower error than a baseline's is more than chance: a
//! Diebold–Mariano test, the forecasting literature's test of equal
//! accuracy, on the scored windows' squared errors.
//!
//! A model that learned nothing of a noise channel scores NMSE 0.99998
//! against the mean's 1.00023, and a plain "lower" called it a winner: one
//! run in two, by the seed. The test asks whether the per-window difference
//! of the two errors has a mean its own spread cannot explain. Windows one
//! sample apart share all but one sample, so their differences are far
//! from independent: the test averages them over stretches of `W`
//! consecutive windows (windows `W` apart share no sample) and takes those
//! stretches' means as the independent draws.

use serde::{Deserialize, Serialize};

/// Fewer independent stretches than this leave a difference untested: the
/// plain comparison of the two errors decides.
pub const MIN_STRETCHES: usize = 4;

/// `|t|` from this on: a difference the stretches' spread does not explain
/// (two-sided, about 95% for many stretches).
pub const SURE_T: f64 = 2.0;

/// `|t|` a mean difference over `n` independent draws must reach to be
/// beyond chance: Student's t, two-sided 95%, `n − 1` degrees of freedom
/// (12.7 over two draws, where [`SURE_T`] called a shadow better over
/// two windows whose MSE was the higher over thirty); [`SURE_T`] from 30
/// draws on. Never under two.
pub fn sure_t(n: u64) -> f64 {
    const T95: [f64; 29] = [
        12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14, 2.13,
        2.12, 2.11, 2.10, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05,
    ];
    match n {
        0 | 1 => f64::INFINITY,
        n if n <= 30 => T95[n as usize - 2].max(SURE_T),
        _ => SURE_T,
    }
}

/// A model's error must be this much lower than a baseline's (1%) to beat
/// it, however sure the test: a residual model whose network learnt
/// nothing scores its map's error to 1e-8, and over thousands of windows
/// the test called that rounding a win "beyond chance" (t = -2.2), with
/// `worth_serving` true.
pub const MATERIAL: f64 = 0.01;

/// The model's error against one baseline's, on the same windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Difference {
    /// The mean of the model's per-window MSE less the baseline's, over
    /// its standard error (negative: the model's error is lower); `None`
    /// with fewer than [`MIN_STRETCHES`] stretches.
    pub t: Option<f64>,
    /// Independent stretches of `W` consecutive windows the test used.
    pub stretches: usize,
}

impl Difference {
    /// The test of `model` against `baseline`: per-window squared errors
    /// (the mean over each window's samples), in the windows' order, for
    /// windows of `window` samples.
    pub fn of(model: &[f64], baseline: &[f64], window: usize) -> Self {
        let per = window.max(1);
        let means: Vec<f64> = model
            .chunks_exact(per)
            .zip(baseline.chunks_exact(per))
            .map(|(m, b)| m.iter().zip(b).map(|(m, b)| m - b).sum::<f64>() / per as f64)
            .collect();
        let k = means.len();
        if k < MIN_STRETCHES {
            return Self {
                t: None,
                stretches: k,
            };
        }
        let mean = means.iter().sum::<f64>() / k as f64;
        let var = means.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
        let se = (var / k as f64).sqrt();
        let t = if se > 0.0 {
            mean / se
        } else if mean == 0.0 {
            0.0
        } else {
            // The same difference in every stretch: as sure as it gets.
            mean.signum() * f64::MAX
        };
        Self {
            // A finite, printable figure (JSON has no infinity).
            t: Some(t.clamp(-1e9, 1e9)),
            stretches: k,
        }
    }

    /// Whether the model's error is lower than the baseline's by
    /// [`MATERIAL`] or more, and surely so (or lower, where too few
    /// stretches allow no test).
    pub fn model_wins(&self, model_mse: f64, baseline_mse: f64) -> bool {
        material(model_mse, baseline_mse) && self.t.is_none_or(|t| t <= -self.sure())
    }

    /// `|t|` its stretches must reach to be beyond chance ([`sure_t`]:
    /// 3.18 over four, [`SURE_T`] from 30 on).
    pub fn sure(&self) -> f64 {
        sure_t(self.stretches as u64)
    }

    /// Lower, but by no more than chance, or by too little to matter.
    pub fn lower_by_chance(&self, model_mse: f64, baseline_mse: f64) -> bool {
        model_mse < baseline_mse && !self.model_wins(model_mse, baseline_mse)
    }
}

/// Whether `model_mse` is lower than `baseline_mse` by [`MATERIAL`] or more.
pub fn material(model_mse: f64, baseline_mse: f64) -> bool {
    model_mse < baseline_mse * (1.0 - MATERIAL)
}

/// Each window's MSE of `pred` against `target` (row-major, `window`
/// samples a row).
pub fn per_window(pred: &[f32], target: &[f32], window: usize) -> Vec<f64> {
    pred.chunks_exact(window.max(1))
        .zip(target.chunks_exact(window.max(1)))
        .map(|(p, t)| {
            p.iter()
                .zip(t)
                .map(|(&p, &t)| (p as f64 - t as f64).powi(2))
                .sum::<f64>()
                / window.max(1) as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Two predictors of the same quality differ by chance, and the test
    /// says so most of the time; one truly better is found so; too few
    /// stretches are not tested.
    #[test]
    fn chance_is_a_tie_and_a_real_difference_is_sure() {
        let w = 10;
        let mut rng = Rng::new(7);
        let mut noise =
            |n: usize, s: f64| -> Vec<f64> { (0..n).map(|_| (rng.normal() * s).powi(2)).collect() };
        let mut ties = 0;
        for _ in 0..40 {
            let (a, b) = (noise(600, 1.0), noise(600, 1.0));
            let d = Difference::of(&a, &b, w);
            assert_eq!(d.stretches, 60);
            if d.t.is_some_and(|t| t.abs() < SURE_T) {
                ties += 1;
            }
        }
        // About 95% of such pairs: a tie.
        assert!(ties >= 34, "{ties} of 40");
        let (good, base) = (noise(600, 0.8), noise(600, 1.0));
        let d = Difference::of(&good, &base, w);
        let (m, b) = (mean(&good), mean(&base));
        assert!(d.model_wins(m, b), "{d:?}");
        // The other way round it loses, surely.
        assert!(
            Difference::of(&base, &good, w)
                .t
                .is_some_and(|t| t >= SURE_T)
        );
        // 30 windows of 10: three stretches, no test; lower wins.
        let few = Difference::of(&good[..30], &base[..30], w);
        assert_eq!((few.t, few.stretches), (None, 3));
        assert!(few.model_wins(1.0, 2.0) && !few.model_wins(2.0, 1.0));
        // t = -2.5 is sure over 60 stretches, not over 5 (Student's t over
        // 4 degrees of freedom asks 2.78).
        let at = |stretches| Difference {
            t: Some(-2.5),
            stretches,
        };
        assert!(at(60).model_wins(1.0, 2.0) && !at(5).model_wins(1.0, 2.0));
        assert!(at(5).lower_by_chance(1.0, 2.0));
        // The same difference everywhere: sure, and finite.
        let d = Difference::of(&[1.0; 40], &[2.0; 40], w);
        assert_eq!(d.t, Some(-1e9));
        assert_eq!(Difference::of(&[1.0; 40], &[1.0; 40], w).t, Some(0.0));
        // Surely lower, by a rounding: no win.
        let d = Difference::of(&[1.0 - 1e-8; 40], &[1.0; 40], w);
        assert_eq!(d.t, Some(-1e9));
        assert!(!d.model_wins(1.0 - 1e-8, 1.0) && d.lower_by_chance(1.0 - 1e-8, 1.0));
        assert!(d.model_wins(0.98, 1.0));
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    #[test]
    fn each_window_has_its_own_error() {
        let e = per_window(&[1.0, 1.0, 0.0, 0.0], &[0.0, 0.0, 0.0, 2.0], 2);
        assert_eq!(e, vec![1.0, 2.0]);
    }
}
