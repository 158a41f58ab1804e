//! The baselines a trained model must beat to be worth serving, computed on
//! the same windows: the mean predictor (every output sample is the training
//! split's mean of the output channel) and the least-squares linear map from
//! a window's W inputs to its W outputs (an FIR filter bank, fitted on the
//! training windows).
//!
//! The linear fit is the normal equations on centred data, solved by
//! Cholesky in f64. W is 24 by default, where all of it takes microseconds;
//! windows run to thousands of samples, and there the W × W sums and the
//! solves are blocked, their products on the `gemm` crate's kernels
//! (`pipeline_kernel::dense`): at W = 2000 plain loops took ~45 s.

use pipeline_kernel::dense::{Mat, product};

use crate::data::Windows;
use crate::error::{Error, Result};

/// Windows per product when summing the normal equations or predicting.
const ROWS: usize = 256;
/// Rows and columns per block of the factorisation and the solves.
const BLOCK: usize = 64;

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
    /// About the most memory [`LinearMap::fit`] holds for windows of
    /// `window` samples: three `W × W` matrices of f64 (the normal
    /// equations' two sides and the factor), 2.4 GB at W = 10,000.
    pub fn fit_bytes(window: usize) -> u64 {
        24u64.saturating_mul((window as u64).saturating_mul(window as u64))
    }

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
        // A = XcᵀXc [W, W], C = XcᵀYc [W, W], a block of windows at a time.
        let mut a = vec![0f64; w * w];
        let mut c = vec![0f64; w * w];
        let (mut xc, mut yc) = (vec![0f64; ROWS.min(n) * w], vec![0f64; ROWS.min(n) * w]);
        for start in (0..n).step_by(ROWS) {
            let m = ROWS.min(n - start);
            let rows = start * w..(start + m) * w;
            centre(&train.input[rows.clone()], &x_mean, &mut xc);
            centre(&train.target[rows], &y_mean, &mut yc);
            let x = Mat::rows(&xc, m, w, w);
            product(&mut a, w, x.t(), x, 1.0, 1.0);
            product(&mut c, w, x.t(), Mat::rows(&yc, m, w, w), 1.0, 1.0);
        }
        let trace: f64 = (0..w).map(|i| a[i * w + i]).sum();
        // An absolute floor too: an all-constant input has a zero trace.
        let ridge = 1e-9 * (trace / w as f64).max(1e-12);
        (0..w).for_each(|i| a[i * w + i] += ridge);
        let l = cholesky(&a, w)
            .ok_or_else(|| Error::Data("the linear baseline's system is singular".into()))?;
        // A B = C: L Z = C, then Lᵀ B = Z, in place.
        let mut b = c;
        solve_cholesky(&l, w, &mut b);
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

    /// The map as `y = A x + c`: `A` `[W_out, W_in]` row-major (what
    /// `nn.Linear` stores as its weight) and `c` `[W_out]`, in f64.
    pub fn affine(&self) -> (Vec<f64>, Vec<f64>) {
        let w = self.window;
        let mut a = vec![0f64; w * w];
        for (i, row) in self.b.chunks_exact(w).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                a[j * w + i] = v;
            }
        }
        let c = (a.chunks_exact(w).zip(&self.y_mean))
            .map(|(row, ym)| ym - dot(row, &self.x_mean))
            .collect();
        (a, c)
    }

    /// Predictions for row-major windows `[n, W]`.
    pub fn predict(&self, input: &[f32]) -> Vec<f32> {
        let w = self.window;
        if w == 0 {
            return Vec::new();
        }
        let n = input.len() / w;
        let mut out = Vec::with_capacity(n * w);
        let (mut xc, mut y) = (vec![0f64; ROWS.min(n) * w], vec![0f64; ROWS.min(n) * w]);
        for start in (0..n).step_by(ROWS) {
            let m = ROWS.min(n - start);
            centre(&input[start * w..(start + m) * w], &self.x_mean, &mut xc);
            let b = Mat::rows(&self.b, w, w, w);
            product(&mut y, w, Mat::rows(&xc, m, w, w), b, 0.0, 1.0);
            for row in y[..m * w].chunks_exact(w) {
                out.extend(row.iter().zip(&self.y_mean).map(|(v, m)| (v + m) as f32));
            }
        }
        out
    }
}

/// `out`'s first rows ← `rows` (row-major, W = `mean.len()` per row) less
/// `mean`, in f64.
fn centre(rows: &[f32], mean: &[f64], out: &mut [f64]) {
    for (o, r) in out
        .chunks_exact_mut(mean.len())
        .zip(rows.chunks_exact(mean.len()))
    {
        for ((o, &v), m) in o.iter_mut().zip(r).zip(mean) {
            *o = v as f64 - m;
        }
    }
}

/// Lower-triangular `L` with `L Lᵀ = a` (`n × n`, row-major; only the
/// lower triangle of `a` is read); `None` if `a` is not positive definite.
/// Left-looking by blocks of columns: a panel's update by the columns
/// before it is one product.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0f64; n * n];
    let mut p = Vec::new();
    for j0 in (0..n).step_by(BLOCK) {
        let (nb, h) = (BLOCK.min(n - j0), n - j0);
        // The panel: rows j0.., columns j0..j0 + nb, less what the columns
        // before it contribute.
        p.clear();
        for i in j0..n {
            p.extend_from_slice(&a[i * n + j0..i * n + j0 + nb]);
        }
        if j0 > 0 {
            let left = Mat::rows(&l[j0 * n..], h, j0, n);
            let top = Mat::rows(&l[j0 * n..], nb, j0, n);
            product(&mut p, nb, left, top.t(), 1.0, -1.0);
        }
        for j in 0..nb {
            let d = p[j * nb + j] - dot(&p[j * nb..j * nb + j], &p[j * nb..j * nb + j]);
            if d.is_nan() || d <= 0.0 {
                return None;
            }
            let d = d.sqrt();
            p[j * nb + j] = d;
            for i in j + 1..h {
                let s = dot(&p[i * nb..i * nb + j], &p[j * nb..j * nb + j]);
                p[i * nb + j] = (p[i * nb + j] - s) / d;
            }
        }
        for i in 0..h {
            let row = (j0 + i) * n + j0;
            let cols = nb.min(i + 1);
            l[row..row + cols].copy_from_slice(&p[i * nb..i * nb + cols]);
        }
    }
    Some(l)
}

/// Solves `L Lᵀ X = V` in place for `V`'s `n` columns (`n × n`,
/// row-major), by blocks of rows: a block's update by the rows solved
/// before it is one product.
fn solve_cholesky(l: &[f64], n: usize, v: &mut [f64]) {
    // L Z = V, top down.
    for i0 in (0..n).step_by(BLOCK) {
        let nb = BLOCK.min(n - i0);
        let (done, rest) = v.split_at_mut(i0 * n);
        let block = &mut rest[..nb * n];
        if i0 > 0 {
            let left = Mat::rows(&l[i0 * n..], nb, i0, n);
            product(block, n, left, Mat::rows(done, i0, n, n), 1.0, -1.0);
        }
        for i in 0..nb {
            let (above, row) = block.split_at_mut(i * n);
            let row = &mut row[..n];
            for (k, prev) in above.chunks_exact(n).enumerate() {
                axpy(-l[(i0 + i) * n + i0 + k], prev, row);
            }
            let d = l[(i0 + i) * n + i0 + i];
            row.iter_mut().for_each(|x| *x /= d);
        }
    }
    // Lᵀ X = Z, bottom up.
    for i0 in (0..n).step_by(BLOCK).rev() {
        let (nb, i1) = (BLOCK.min(n - i0), (i0 + BLOCK).min(n));
        let (head, solved) = v.split_at_mut(i1 * n);
        let block = &mut head[i0 * n..];
        if i1 < n {
            let below = Mat::rows(&l[i1 * n + i0..], n - i1, nb, n);
            product(
                block,
                n,
                below.t(),
                Mat::rows(solved, n - i1, n, n),
                1.0,
                -1.0,
            );
        }
        for i in (0..nb).rev() {
            let (row, after) = block.split_at_mut((i + 1) * n);
            let row = &mut row[i * n..];
            for (k, next) in after.chunks_exact(n).enumerate() {
                axpy(-l[(i0 + i + 1 + k) * n + i0 + i], next, row);
            }
            let d = l[(i0 + i) * n + i0 + i];
            row.iter_mut().for_each(|x| *x /= d);
        }
    }
}

/// `Σ a[k] b[k]` in four partial sums (one serial chain of adds is the
/// factorisation's bottleneck at long windows).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = [0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            s[k] += x[k] * y[k];
        }
    }
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

/// `y += alpha · x`.
fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
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
        let w = crate::recording::windows(std::slice::from_ref(&seg), 8).unwrap();
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

    /// Windows longer than a block, more windows than a product takes:
    /// every blocked path (three blocks of columns, the last short; three
    /// products of windows) must still find an exactly linear map.
    #[test]
    fn a_long_window_map_is_found_across_blocks() {
        let (w, n) = (150, 600);
        let mut rng = Rng::new(7);
        let truth: Vec<f64> = (0..w * w).map(|_| rng.normal() / w as f64).collect();
        let windows = |rng: &mut Rng| {
            let input: Vec<f32> = (0..n * w).map(|_| rng.normal() as f32).collect();
            let target = input
                .chunks_exact(w)
                .flat_map(|x| {
                    (0..w).map(|j| {
                        let y: f64 = (0..w).map(|i| x[i] as f64 * truth[i * w + j]).sum();
                        (y + 3.0) as f32
                    })
                })
                .collect();
            Windows {
                window: w,
                input,
                target,
            }
        };
        let m = LinearMap::fit(&windows(&mut rng)).unwrap();
        let fresh = windows(&mut rng);
        let p = m.predict(&fresh.input);
        assert_eq!(p.len(), fresh.target.len());
        let worst = p
            .iter()
            .zip(&fresh.target)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "largest error {worst}");
    }

    #[test]
    fn the_blocked_factor_multiplies_back() {
        let n = 130;
        let mut rng = Rng::new(11);
        let g: Vec<f64> = (0..n * n).map(|_| rng.normal()).collect();
        // A = G Gᵀ + n I: positive definite.
        let mut a = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| g[i * n + k] * g[j * n + k]).sum::<f64>()
                    + if i == j { n as f64 } else { 0.0 };
            }
        }
        let l = cholesky(&a, n).unwrap();
        for i in 0..n {
            for j in 0..n {
                let llt: f64 = (0..n).map(|k| l[i * n + k] * l[j * n + k]).sum();
                assert!(
                    (llt - a[i * n + j]).abs() < 1e-8 * a[i * n + i],
                    "({i}, {j})"
                );
                if j > i {
                    assert_eq!(l[i * n + j], 0.0, "above the diagonal at ({i}, {j})");
                }
            }
        }
        a[5 * n + 5] = -1.0;
        assert!(cholesky(&a, n).is_none(), "not positive definite");
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
