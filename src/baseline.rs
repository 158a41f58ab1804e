//! The baselines a trained model must beat to be worth serving, computed on
//! the same windows: the mean predictor (every output sample is the training
//! split's mean of the output channel) and the least-squares linear map from
//! a window's W inputs to its W outputs (an FIR filter bank, fitted on the
//! training windows).
//!
//! The linear fit is the normal equations on centred data, solved by
//! Cholesky in f64: W is small (24), so the W × W system is microseconds,
//! and a linear-algebra crate would cost more build time than it saves.

use crate::data::Windows;
use crate::error::{Error, Result};

/// Predicts the training mean everywhere.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MeanPredictor {
    pub mean: f64,
}

impl MeanPredictor {
    /// The mean of the output channel over `train`'s target rows.
    pub fn fit(train: &[f32]) -> Result<Self> {
        if train.is_empty() {
            return Err(Error::Data(
                "no training samples for the mean predictor".into(),
            ));
        }
        let mean = train.iter().map(|&v| v as f64).sum::<f64>() / train.len() as f64;
        Ok(Self { mean })
    }

    pub fn predict(&self, input: &[f32]) -> Vec<f32> {
        vec![self.mean as f32; input.len()]
    }
}

/// `y = Bᵀ (x − x̄) + ȳ`, fitted by least squares.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinearMap {
    window: usize,
    x_mean: Vec<f64>,
    y_mean: Vec<f64>,
    /// `[W_in, W_out]` row-major.
    b: Vec<f64>,
}

impl LinearMap {
    /// Least squares over `train`'s windows, with a ridge of 1e-9 of the
    /// mean input variance so that a rank-deficient input (a constant
    /// stretch, a duplicated channel) still has the minimum-norm-like answer
    /// instead of failing.
    pub fn fit(train: &Windows) -> Result<Self> {
        let (n, w) = (train.len(), train.window);
        if n == 0 || w == 0 {
            return Err(Error::Data("no training windows for the linear map".into()));
        }
        let col_means = |m: &[f32]| -> Vec<f64> {
            let mut s = vec![0f64; w];
            for row in m.chunks_exact(w) {
                for (a, &v) in s.iter_mut().zip(row) {
                    *a += v as f64;
                }
            }
            s.iter_mut().for_each(|a| *a /= n as f64);
            s
        };
        let (x_mean, y_mean) = (col_means(&train.input), col_means(&train.target));
        // A = XcᵀXc [W, W], C = XcᵀYc [W, W].
        let mut a = vec![0f64; w * w];
        let mut c = vec![0f64; w * w];
        let (mut xc, mut yc) = (vec![0f64; w], vec![0f64; w]);
        for r in 0..n {
            for k in 0..w {
                xc[k] = train.input[r * w + k] as f64 - x_mean[k];
                yc[k] = train.target[r * w + k] as f64 - y_mean[k];
            }
            for i in 0..w {
                for j in 0..w {
                    a[i * w + j] += xc[i] * xc[j];
                    c[i * w + j] += xc[i] * yc[j];
                }
            }
        }
        let trace: f64 = (0..w).map(|i| a[i * w + i]).sum();
        // An absolute floor too: an all-constant input has a zero trace.
        let ridge = 1e-9 * (trace / w as f64).max(1e-12);
        (0..w).for_each(|i| a[i * w + i] += ridge);
        let l = cholesky(&a, w)
            .ok_or_else(|| Error::Data("the linear baseline's system is singular".into()))?;
        // Solve A B = C column by column: L z = c, Lᵀ b = z.
        let mut b = vec![0f64; w * w];
        let mut col = vec![0f64; w];
        for j in 0..w {
            for i in 0..w {
                col[i] = c[i * w + j];
            }
            solve_cholesky(&l, w, &mut col);
            for i in 0..w {
                b[i * w + j] = col[i];
            }
        }
        Ok(Self {
            window: w,
            x_mean,
            y_mean,
            b,
        })
    }

    /// The window it maps.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Whether its parts fit its window and are finite (one read from a
    /// model file may not: `predict` indexes them by the window).
    pub fn is_sound(&self) -> bool {
        let w = self.window;
        self.x_mean.len() == w
            && self.y_mean.len() == w
            && self.b.len() == w * w
            && [&self.x_mean, &self.y_mean, &self.b]
                .iter()
                .all(|v| v.iter().all(|x| x.is_finite()))
    }

    /// Predictions for row-major windows `[n, W]`.
    pub fn predict(&self, input: &[f32]) -> Vec<f32> {
        let w = self.window;
        let mut out = Vec::with_capacity(input.len());
        let mut xc = vec![0f64; w];
        for row in input.chunks_exact(w) {
            for k in 0..w {
                xc[k] = row[k] as f64 - self.x_mean[k];
            }
            for j in 0..w {
                let y: f64 = (0..w).map(|i| xc[i] * self.b[i * w + j]).sum();
                out.push((y + self.y_mean[j]) as f32);
            }
        }
        out
    }
}

/// Lower-triangular `L` with `L Lᵀ = a` (`n × n`, row-major); `None` if `a`
/// is not positive definite.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                if d.is_nan() || d <= 0.0 {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = v` in place.
fn solve_cholesky(l: &[f64], n: usize, v: &mut [f64]) {
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * v[k]).sum();
        v[i] = (v[i] - s) / l[i * n + i];
    }
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * v[k]).sum();
        v[i] = (v[i] - s) / l[i * n + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn linear_map_recovers_a_known_filter() {
        // Output = a 3-tap FIR of the input plus an offset: exactly linear,
        // so least squares must find it (MSE ~ 0 on fresh windows).
        let mut rng = Rng::new(3);
        let x: Vec<f32> = (0..400).map(|_| rng.normal() as f32).collect();
        let y: Vec<f32> = (0..400)
            .map(|t| {
                let at = |d: usize| if t >= d { x[t - d] } else { 0.0 };
                5.0 + 0.5 * at(0) - 0.25 * at(1) + 0.125 * at(2)
            })
            .collect();
        let seg = crate::recording::Segment {
            start: 0,
            input: x.clone(),
            output: y.clone(),
        };
        // Windows from t = 2 on, where the filter sees only window samples
        // except at each window's first two outputs (which see earlier ones):
        // the map is then not exact there, so compare the tail columns.
        let w = crate::recording::windows(std::slice::from_ref(&seg), 8);
        let m = LinearMap::fit(&w).unwrap();
        let p = m.predict(&w.input);
        for (r, (pr, tr)) in p.chunks(8).zip(w.target.chunks(8)).enumerate().skip(2) {
            for k in 2..8 {
                assert!(
                    (pr[k] - tr[k]).abs() < 1e-4,
                    "row {r} col {k}: {} vs {}",
                    pr[k],
                    tr[k]
                );
            }
        }
    }

    #[test]
    fn constant_input_does_not_fail() {
        for v in [0.0f32, 1.0] {
            let w = Windows {
                window: 4,
                input: vec![v; 40],
                target: (0..40).map(|i| i as f32).collect(),
            };
            assert!(LinearMap::fit(&w).is_ok(), "input all {v}");
        }
        let w = Windows {
            window: 4,
            input: vec![1.0; 40],
            target: (0..40).map(|i| i as f32).collect(),
        };
        let m = LinearMap::fit(&w).unwrap();
        let p = m.predict(&w.input[..4]);
        // Nothing to regress on: the column means.
        let want: Vec<f32> = (0..4).map(|k| 18.0 + k as f32).collect();
        for (a, b) in p.iter().zip(&want) {
            assert!((a - b).abs() < 1e-3, "{p:?}");
        }
        assert_eq!(MeanPredictor::fit(&w.target).unwrap().mean, 19.5);
    }
}
