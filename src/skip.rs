//! A residual model's linear skip: `y = weight · x + bias` over a window, in
//! the network's (normalised) units, added to the network's translation
//! before the output's scaling is undone. `retrain --residual` sets it to
//! the least-squares linear map (the baseline a model must beat) and trains
//! the network on what the map leaves, so that the model served is "the map
//! plus the network's correction": about as good as the map where the
//! network finds nothing, better where it does.
//!
//! Stored in the model file as the tensors of an `nn.Linear(W, W)` child
//! `skip` ([`WEIGHT`] `[W, W]`, [`BIAS`] `[W]`; `y_j = Σ_i weight[j][i]·x_i
//! + bias[j]`), which only format version 3 has.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{Device, Tensor};

use crate::baseline::LinearMap;
use crate::data::Windows;
use crate::error::{Error, Result};
use crate::scaling::Scaling;

/// The skip's weight tensor, `[W, W]` (output step × input step).
pub const WEIGHT: &str = "skip.weight";
/// The skip's bias tensor, `[W]`.
pub const BIAS: &str = "skip.bias";

/// The linear skip of windows of [`Skip::window`] samples. Cheap to clone
/// (a W × W matrix is 400 MB at the longest window).
#[derive(Debug, Clone, PartialEq)]
pub struct Skip {
    window: usize,
    /// `[W_out, W_in]` row-major.
    weight: Arc<[f32]>,
    bias: Arc<[f32]>,
}

impl Skip {
    /// From `nn.Linear`-layout values: `weight` `[W, W]` row-major, `bias`
    /// `[W]`; refused unless both fit the window and are finite (the values
    /// may come from a file).
    pub fn new(window: usize, weight: Vec<f32>, bias: Vec<f32>) -> Result<Self> {
        if window == 0 || weight.len() != window * window || bias.len() != window {
            return Err(Error::Shape(format!(
                "a skip of windows of {window} needs {} weights and {window} biases, got {} and {}",
                window * window,
                weight.len(),
                bias.len()
            )));
        }
        for (name, v) in [(WEIGHT, &weight), (BIAS, &bias)] {
            if let Some(at) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::Data(format!(
                    "tensor `{name}` holds {} at index {at}: a skip's values must be finite",
                    v[at]
                )));
            }
        }
        Ok(Self {
            window,
            weight: weight.into(),
            bias: bias.into(),
        })
    }

    /// The tensors a model file holds for a skip of windows of `window`,
    /// with their shapes.
    pub fn specs(window: usize) -> [(String, Vec<usize>); 2] {
        [
            (WEIGHT.into(), vec![window, window]),
            (BIAS.into(), vec![window]),
        ]
    }

    /// `map` (fitted in physical units) in the network's units of
    /// `scaling`: with x = sx·x̂ + cx and ŷ = (y − cy) / sy, `y = A x + c`
    /// is `ŷ = (sx / sy)·A x̂ + (A·cx + c − cy) / sy`. The least-squares fit
    /// commutes with that affine change of units (its ridge is relative to
    /// the input's variance), so this is the map fitted on normalised
    /// windows, without a normalised copy of a long recording's windows.
    pub fn of_map(map: &LinearMap, scaling: &Scaling) -> Result<Self> {
        let (a, c) = map.affine();
        let (x, y) = (scaling.input, scaling.output);
        let gain = x.scale / y.scale;
        let weight = a.iter().map(|v| (v * gain) as f32).collect();
        let w = map.window();
        let bias = (a.chunks_exact(w.max(1)).zip(&c))
            .map(|(row, c)| ((row.iter().sum::<f64>() * x.center + c - y.center) / y.scale) as f32)
            .collect();
        Self::new(w, weight, bias)
    }

    /// The windows this skip reads and writes.
    pub fn window(&self) -> usize {
        self.window
    }

    /// `[W_out, W_in]` row-major.
    pub fn weight(&self) -> &[f32] {
        &self.weight
    }

    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// `out[j] += sign · (Σ_i weight[j][i]·x[i] + bias[j])` for each window
    /// of `input` and `out` (`[n, W]` row-major, network units), in f32.
    /// No allocation: the service calls it on every batch.
    fn apply(&self, input: &[f32], out: &mut [f32], sign: f32) {
        let w = self.window;
        for (x, y) in input.chunks_exact(w).zip(out.chunks_exact_mut(w)) {
            for ((y, row), b) in y
                .iter_mut()
                .zip(self.weight.chunks_exact(w))
                .zip(&*self.bias)
            {
                *y += sign * (dot(row, x) + b);
            }
        }
    }

    /// Adds the skip to the network's translations `out` of `input` (both
    /// `[n, W]`, network units).
    pub fn add(&self, input: &[f32], out: &mut [f32]) {
        self.apply(input, out, 1.0);
    }

    /// Replaces `w`'s targets (network units) by what the skip leaves of
    /// them: what a residual model's network is trained on.
    pub fn residual(&self, w: &mut Windows) {
        self.apply(&w.input, &mut w.target, -1.0);
    }

    /// The skip as named tensors, for the model file.
    pub fn tensors(&self) -> Result<HashMap<String, Tensor>> {
        let [(wn, ws), (bn, bs)] = Self::specs(self.window);
        Ok(HashMap::from([
            (wn, Tensor::from_slice(&self.weight, ws, &Device::Cpu)?),
            (bn, Tensor::from_slice(&self.bias, bs, &Device::Cpu)?),
        ]))
    }
}

/// `a · b` in eight running sums: a sum in one chain is one addition at a
/// time (f32 additions cannot be reordered for it), eight the compiler
/// makes one SIMD register's.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = (a8.remainder().iter().zip(b8.remainder()))
        .map(|(a, b)| a * b)
        .sum();
    let mut sums = [0f32; 8];
    for (a, b) in a8.zip(b8) {
        for k in 0..8 {
            sums[k] += a[k] * b[k];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// A model of windows of `window` takes `skip` (absent, or of its window).
pub(crate) fn check_window(skip: Option<&Skip>, window: usize) -> Result<()> {
    match skip {
        Some(s) if s.window != window => Err(Error::Shape(format!(
            "a skip of windows of {} on a model of windows of {window}",
            s.window
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
