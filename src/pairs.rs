//! The pair table: which curve is translated into which, on what x grid.
//!
//! This is the one place the seed's three "translations" are defined; the
//! trainer, the evaluator and (later) the stream publisher all read it.

use std::f64::consts::PI;

use crate::error::{Error, Result};
use crate::rng::Rng;

/// Number of points on every pair's x grid, as in the seed (`np.linspace(.., 100)`).
pub const GRID_POINTS: usize = 100;

/// One input → output translation task.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    /// Identifier used on the command line and in model metadata.
    pub id: &'static str,
    /// Human description for `pipeline pairs`.
    pub description: &'static str,
    /// First x of the grid.
    pub x_start: f64,
    /// Last x of the grid (inclusive, like `linspace`).
    pub x_end: f64,
    /// The curve the model reads.
    pub input: fn(f64) -> f64,
    /// The curve the model writes.
    pub output: fn(f64) -> f64,
    /// Where a random-phase window may start: `Periodic(p)` draws x₀ in
    /// [0, p); `Bounded` keeps the whole window inside the grid's x range
    /// (the curve is not defined, or not trained, outside it).
    pub phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    Periodic(f64),
    Bounded,
}

fn damped_in(x: f64) -> f64 {
    (-x / 5.0).exp() * x.cos()
}
fn damped_out(x: f64) -> f64 {
    (-x / 5.0).exp() * x.sin()
}
fn square(x: f64) -> f64 {
    x * x
}

/// The seed's three pairs.
pub const PAIRS: [Pair; 3] = [
    Pair {
        id: "sin-cos",
        description: "sin x → cos x, x in [-2π, 2π]",
        x_start: -2.0 * PI,
        x_end: 2.0 * PI,
        input: f64::sin,
        output: f64::cos,
        phase: Phase::Periodic(2.0 * PI),
    },
    Pair {
        id: "damped",
        description: "e^(-x/5)·cos x → e^(-x/5)·sin x, x in [0, 5π]",
        x_start: 0.0,
        x_end: 5.0 * PI,
        input: damped_in,
        output: damped_out,
        phase: Phase::Bounded,
    },
    Pair {
        id: "square-sqrt",
        description: "x² → √x, x in [0, 1.5]",
        x_start: 0.0,
        x_end: 1.5,
        input: square,
        output: f64::sqrt,
        phase: Phase::Bounded,
    },
];

/// Looks a pair up by id.
pub fn find(id: &str) -> Result<&'static Pair> {
    PAIRS
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| Error::UnknownPair(id.to_string()))
}

impl Pair {
    /// Sampling step Δ of the grid.
    pub fn step(&self) -> f64 {
        (self.x_end - self.x_start) / (GRID_POINTS - 1) as f64
    }

    /// The grid's x values, exactly as `np.linspace(start, end, 100)`.
    pub fn grid(&self) -> Vec<f64> {
        let step = self.step();
        (0..GRID_POINTS)
            .map(|i| {
                if i == GRID_POINTS - 1 {
                    self.x_end
                } else {
                    self.x_start + i as f64 * step
                }
            })
            .collect()
    }

    /// Range [lo, hi) from which a random-phase window of `window` samples starts.
    pub fn phase_range(&self, window: usize) -> (f64, f64) {
        match self.phase {
            Phase::Periodic(period) => (0.0, period),
            Phase::Bounded => (
                self.x_start,
                self.x_end - (window.saturating_sub(1)) as f64 * self.step(),
            ),
        }
    }

    /// Draws a random start x₀ for a window of `window` samples.
    pub fn random_phase(&self, rng: &mut Rng, window: usize) -> f64 {
        let (lo, hi) = self.phase_range(window);
        rng.uniform(lo, hi)
    }

    /// The x of sample number `seq` of a live stream made by `pipeline
    /// publish`: periodic pairs continue their phase forever (x = seq·Δ);
    /// bounded pairs cycle through their 100 grid points, so a window that
    /// straddles the wrap-around holds a jump the model never saw.
    pub fn stream_x(&self, seq: u64) -> f64 {
        match self.phase {
            Phase::Periodic(_) => seq as f64 * self.step(),
            Phase::Bounded => self.x_start + (seq % GRID_POINTS as u64) as f64 * self.step(),
        }
    }

    /// The input and output samples at x₀ + kΔ, k = 0..len.
    pub fn sample(&self, x0: f64, len: usize) -> (Vec<f32>, Vec<f32>) {
        let step = self.step();
        (0..len)
            .map(|k| {
                let x = x0 + k as f64 * step;
                ((self.input)(x) as f32, (self.output)(x) as f32)
            })
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_matches_linspace() {
        let p = find("sin-cos").unwrap();
        let g = p.grid();
        assert_eq!(g.len(), 100);
        assert_eq!(g[0], -2.0 * PI);
        assert_eq!(g[99], 2.0 * PI);
        assert!((p.step() - 4.0 * PI / 99.0).abs() < 1e-15);
        assert!((g[50] - (-2.0 * PI + 50.0 * 4.0 * PI / 99.0)).abs() < 1e-12);
    }

    #[test]
    fn phase_ranges_follow_the_issue() {
        let d = find("damped").unwrap();
        let (lo, hi) = d.phase_range(24);
        assert_eq!(lo, 0.0);
        assert!((hi - (5.0 * PI - 23.0 * d.step())).abs() < 1e-12);
        let s = find("square-sqrt").unwrap();
        let (_, hi) = s.phase_range(24);
        // The last sample of the latest window is the grid's last x.
        assert!((hi + 23.0 * s.step() - 1.5).abs() < 1e-12);
        assert_eq!(find("sin-cos").unwrap().phase_range(24), (0.0, 2.0 * PI));
    }

    #[test]
    fn curves_are_the_seeds() {
        let p = find("damped").unwrap();
        let (i, o) = p.sample(1.0, 2);
        assert!((i[0] as f64 - (-0.2f64).exp() * 1f64.cos()).abs() < 1e-6);
        assert!((o[0] as f64 - (-0.2f64).exp() * 1f64.sin()).abs() < 1e-6);
        let s = find("square-sqrt").unwrap();
        let (i, o) = s.sample(0.25, 1);
        assert_eq!((i[0], o[0]), (0.0625, 0.5));
    }

    #[test]
    fn unknown_pair_is_an_error() {
        assert!(matches!(find("tan-cot"), Err(Error::UnknownPair(_))));
    }
}
