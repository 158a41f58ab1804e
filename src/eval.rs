//! Accuracy: autoregressive MSE on the grid windows and on random-phase
//! windows (how a live stream is sampled), and teacher-forced MSE.

use serde::{Deserialize, Serialize};

use crate::data::Windows;
use crate::error::Result;
use crate::model::Seq2Seq;
use crate::pairs::Pair;
use crate::rng::Rng;

/// Random-phase windows per evaluation.
pub const RANDOM_WINDOWS: usize = 1000;
/// Default seed of the evaluation's random phases: fixed, so figures in
/// reports and model files compare across runs and models.
pub const EVAL_SEED: u64 = 1;

/// The accuracy figures of one model on one pair (or data set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Autoregressive MSE over the fixed windows (grid, or the CSV's).
    pub ar_mse_grid: f64,
    /// Autoregressive MSE over random-phase windows (pairs only).
    pub ar_mse_random: Option<f64>,
    /// Teacher-forced MSE over the fixed windows.
    pub tf_mse_grid: f64,
    pub grid_windows: usize,
    pub random_windows: usize,
    pub eval_seed: u64,
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

/// Autoregressive translations of `w` and their MSE against its targets.
pub fn ar_mse(model: &Seq2Seq, w: &Windows) -> Result<(f64, Vec<f32>)> {
    let pred = model.translate_rows(&w.input)?;
    Ok((mse(&pred, &w.target), pred))
}

/// Metrics over fixed windows and, when a pair is given, over
/// [`RANDOM_WINDOWS`] random-phase windows drawn with `seed`. Also returns
/// the translations of the fixed windows (for plotting).
pub fn evaluate(
    model: &Seq2Seq,
    fixed: &Windows,
    pair: Option<&Pair>,
    seed: u64,
) -> Result<(Metrics, Vec<f32>)> {
    let (ar_mse_grid, pred) = ar_mse(model, fixed)?;
    let tf_mse_grid = crate::train::teacher_forced_mse(model, fixed)?;
    let ar_mse_random = match pair {
        Some(p) => {
            let mut rng = Rng::new(seed);
            let w = Windows::random_phase(p, model.window(), RANDOM_WINDOWS, &mut rng);
            Some(ar_mse(model, &w)?.0)
        }
        None => None,
    };
    Ok((
        Metrics {
            ar_mse_grid,
            ar_mse_random,
            tf_mse_grid,
            grid_windows: fixed.len(),
            random_windows: if pair.is_some() { RANDOM_WINDOWS } else { 0 },
            eval_seed: seed,
        },
        pred,
    ))
}
