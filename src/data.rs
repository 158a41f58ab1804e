//! Training and evaluation windows: the seed's sliding-window construction
//! over a pair's grid, and random-phase windows (users' recordings are read
//! by [`crate::recording`]).
//!
//! Layout is row-major `[n, W]` in plain `Vec<f32>`s; tensors are made only
//! where the model needs them.

use crate::error::{Error, Result};
use crate::pairs::Pair;
use crate::rng::Rng;

/// `n` windows of `window` samples: what the encoder reads and what the
/// decoder should write.
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    pub window: usize,
    /// Encoder inputs, `[n, window]` row-major.
    pub input: Vec<f32>,
    /// Decoder targets, `[n, window]` row-major.
    pub target: Vec<f32>,
}

impl Windows {
    pub fn empty(window: usize) -> Self {
        Self {
            window,
            input: Vec::new(),
            target: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.input.len() / self.window.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }

    /// The seed's construction over two aligned series of length L:
    /// windows i = 0 .. L − W (exclusive), `input[i..i+W]` → `output[i..i+W]`.
    /// (The seed stops one short of the last possible window; we keep its
    /// count so figures compare: 100 grid points give 76 windows.)
    pub fn sliding(input: &[f32], output: &[f32], window: usize) -> Result<Self> {
        if input.len() != output.len() {
            return Err(Error::Data(format!(
                "input has {} samples but output has {}",
                input.len(),
                output.len()
            )));
        }
        if window == 0 || input.len() <= window {
            return Err(Error::Data(format!(
                "need more than {window} samples for windows of {window}, got {}",
                input.len()
            )));
        }
        let n = input.len() - window;
        let mut w = Self::empty(window);
        for i in 0..n {
            w.input.extend_from_slice(&input[i..i + window]);
            w.target.extend_from_slice(&output[i..i + window]);
        }
        Ok(w)
    }

    /// The seed's 76 windows over a pair's 100-point grid (for W = 24).
    pub fn grid(pair: &Pair, window: usize) -> Result<Self> {
        let most = crate::pairs::GRID_POINTS - 1;
        if window > most {
            return Err(Error::Data(format!(
                "a built-in pair is trained on its grid of {} samples: a window of {window} \
                 does not fit (at most {most}; a recording's windows may be longer)",
                crate::pairs::GRID_POINTS
            )));
        }
        let (input, output) = pair.sample(pair.x_start, crate::pairs::GRID_POINTS);
        Self::sliding(&input, &output, window)
    }

    /// `count` windows starting at random phases (see [`Pair::phase_range`]),
    /// with the grid's sampling step.
    pub fn random_phase(pair: &Pair, window: usize, count: usize, rng: &mut Rng) -> Self {
        let mut w = Self::empty(window);
        w.extend_random_phase(pair, count, rng);
        w
    }

    /// Appends `count` random-phase windows.
    pub fn extend_random_phase(&mut self, pair: &Pair, count: usize, rng: &mut Rng) {
        for _ in 0..count {
            let x0 = pair.random_phase(rng, self.window);
            let (i, o) = pair.sample(x0, self.window);
            self.input.extend_from_slice(&i);
            self.target.extend_from_slice(&o);
        }
    }

    /// Appends every window of `other` (same window length).
    pub fn extend(&mut self, other: &Windows) {
        debug_assert_eq!(self.window, other.window);
        self.input.extend_from_slice(&other.input);
        self.target.extend_from_slice(&other.target);
    }

    /// [`extend`](Self::extend) with windows no longer needed apart: taken
    /// as they are when there are none yet.
    pub fn append(&mut self, other: Windows) {
        debug_assert_eq!(self.window, other.window);
        if self.is_empty() {
            (self.input, self.target) = (other.input, other.target);
        } else {
            self.extend(&other);
        }
    }

    pub fn input_row(&self, i: usize) -> &[f32] {
        &self.input[i * self.window..(i + 1) * self.window]
    }

    pub fn target_row(&self, i: usize) -> &[f32] {
        &self.target[i * self.window..(i + 1) * self.window]
    }

    /// Gathers the rows `idx` into a new set (a training mini-batch).
    pub fn gather(&self, idx: &[usize]) -> Self {
        let mut w = Self::empty(self.window);
        for &i in idx {
            w.input.extend_from_slice(self.input_row(i));
            w.target.extend_from_slice(self.target_row(i));
        }
        w
    }

    /// Teacher-forcing decoder inputs: each target row shifted right by one
    /// with 0 as the start value (`dx` in the seed).
    pub fn decoder_input(&self) -> Vec<f32> {
        let mut dx = Vec::with_capacity(self.target.len());
        for row in self.target.chunks_exact(self.window) {
            dx.push(0.0);
            dx.extend_from_slice(&row[..self.window - 1]);
        }
        dx
    }
}

/// What a model is trained or evaluated on: a pair's grid windows, with the
/// full series for figures.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Pair id, or `csv:<file name>`.
    pub name: String,
    /// The pair (none for CSV data: no curve to draw random phases from).
    pub pair: Option<&'static Pair>,
    /// The seed's sliding windows over the series.
    pub fixed: Windows,
    /// x of every sample of the series (the pair's grid, or the row index).
    pub x: Vec<f64>,
    /// The output series.
    pub truth: Vec<f32>,
}

impl Dataset {
    /// A built-in pair's 100-point grid.
    pub fn pair(id: &str, window: usize) -> Result<Self> {
        let pair = crate::pairs::find(id)?;
        let (_, truth) = pair.sample(pair.x_start, crate::pairs::GRID_POINTS);
        Ok(Self {
            name: pair.id.to_string(),
            pair: Some(pair),
            fixed: Windows::grid(pair, window)?,
            x: pair.grid(),
            truth,
        })
    }
}

/// The median of `v`, reordered in place (NaN where it is empty).
pub fn median_in_place(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

/// Mean squared error between two equally long slices.
pub fn mse(a: &[f32], b: &[f32]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    if a.is_empty() {
        return f64::NAN;
    }
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pairs::find;

    #[test]
    fn grid_windows_follow_the_seed() {
        let p = find("sin-cos").unwrap();
        let w = Windows::grid(p, 24).unwrap();
        assert_eq!(w.len(), 76);
        let x = p.grid();
        // Window 3, sample 5 is sin/cos of grid point 8.
        assert!((w.input_row(3)[5] - x[8].sin() as f32).abs() < 1e-7);
        assert!((w.target_row(3)[5] - x[8].cos() as f32).abs() < 1e-7);
        let dx = w.decoder_input();
        assert_eq!(dx[0], 0.0);
        assert_eq!(&dx[1..24], &w.target_row(0)[..23]);
        assert_eq!(dx[24], 0.0);
    }

    #[test]
    fn random_phase_windows_stay_in_range() {
        let p = find("square-sqrt").unwrap();
        let mut rng = Rng::new(5);
        let w = Windows::random_phase(p, 24, 500, &mut rng);
        assert_eq!(w.len(), 500);
        // x² on [0, 1.5] stays in [0, 2.25]; √x is defined (no NaN).
        assert!(w.input.iter().all(|&v| (0.0..=2.25 + 1e-6).contains(&v)));
        assert!(w.target.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn sliding_rejects_short_or_mismatched_series() {
        assert!(Windows::sliding(&[0.0; 24], &[0.0; 24], 24).is_err());
        assert!(Windows::sliding(&[0.0; 30], &[0.0; 29], 24).is_err());
        assert_eq!(
            Windows::sliding(&[0.0; 25], &[0.0; 25], 24).unwrap().len(),
            1
        );
    }

    /// A pair's grid holds 100 samples: a window of 100 was refused as
    /// "need more than 100 samples … got 100", with no data given.
    #[test]
    fn a_pair_s_grid_bounds_its_window() {
        let p = find("sin-cos").unwrap();
        assert_eq!(Windows::grid(p, 99).unwrap().len(), 1);
        let e = Windows::grid(p, 100).unwrap_err().to_string();
        assert!(
            e.contains("grid of 100 samples") && e.contains("at most 99"),
            "{e}"
        );
    }

    #[test]
    fn gather_picks_rows() {
        let p = find("damped").unwrap();
        let w = Windows::grid(p, 24).unwrap();
        let g = w.gather(&[5, 2]);
        assert_eq!(g.input_row(0), w.input_row(5));
        assert_eq!(g.target_row(1), w.target_row(2));
    }
}
