//! Training: seeded initialisation, the recipes (the seed's, and our default),
//! and the teacher-forced training loop with Adam, a learning-rate schedule
//! and gradient clipping.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::data::Windows;
use crate::error::{Error, Result};
use crate::format::tensor_specs;
use crate::model::Seq2Seq;
use crate::pairs::Pair;
use crate::rng::Rng;

/// How the learning rate moves over the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// `lr` throughout (the seed's Keras default).
    Constant,
    /// Linear warm-up over `warmup_epochs`, then cosine decay from `lr` to `lr_final`.
    Cosine,
}

/// Everything that determines a training run; stored in the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// `default` or `seed`.
    pub name: String,
    pub epochs: usize,
    /// Peak learning rate (Adam, no weight decay).
    pub lr: f64,
    /// Learning rate at the end of a cosine schedule.
    pub lr_final: f64,
    pub schedule: Schedule,
    pub warmup_epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    pub hidden: usize,
    pub window: usize,
    /// Seeds initialisation, data sampling and shuffling.
    pub seed: u64,
    /// Clip the global gradient norm to this (none in the seed).
    pub clip_norm: Option<f64>,
    /// Use the fixed windows (the pair's 76 grid windows, or the CSV's) each epoch.
    pub fixed_windows: bool,
    /// Fresh random-phase windows drawn each epoch (pairs only; 0 for none).
    pub random_windows_per_epoch: usize,
}

impl Recipe {
    /// The seed tutorial exactly: 76 grid windows, Adam 1e-3, batch 10, 35 epochs.
    pub fn seed() -> Self {
        Self {
            name: "seed".into(),
            epochs: 35,
            lr: 1e-3,
            lr_final: 1e-3,
            schedule: Schedule::Constant,
            warmup_epochs: 0,
            batch: 10,
            hidden: crate::format::DEFAULT_HIDDEN,
            window: crate::format::DEFAULT_WINDOW,
            seed: 0,
            clip_norm: None,
            fixed_windows: true,
            random_windows_per_epoch: 0,
        }
    }

    /// Our default: random-phase windows (a live stream is sampled at any
    /// phase), warm-up plus cosine decay, clipped gradients.
    pub fn default_recipe() -> Self {
        Self {
            name: "default".into(),
            epochs: 600,
            lr: 3e-3,
            lr_final: 1e-5,
            schedule: Schedule::Cosine,
            warmup_epochs: 5,
            batch: 32,
            hidden: crate::format::DEFAULT_HIDDEN,
            window: crate::format::DEFAULT_WINDOW,
            seed: 0,
            clip_norm: Some(1.0),
            fixed_windows: true,
            random_windows_per_epoch: 224,
        }
    }

    /// Learning rate for `epoch` (0-based) of the run, at fraction `frac` ∈ [0, 1)
    /// through that epoch.
    pub fn lr_at(&self, epoch: usize, frac: f64) -> f64 {
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Cosine => {
                let t = epoch as f64 + frac;
                let warm = self.warmup_epochs as f64;
                if t < warm {
                    return self.lr * (t + 1.0) / (warm + 1.0);
                }
                let span = (self.epochs as f64 - warm).max(1.0);
                let p = ((t - warm) / span).clamp(0.0, 1.0);
                self.lr_final
                    + 0.5 * (self.lr - self.lr_final) * (1.0 + (std::f64::consts::PI * p).cos())
            }
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Data(format!("invalid recipe: {m}")));
        if self.epochs == 0 {
            return bad("epochs must be positive");
        }
        if self.batch == 0 {
            return bad("batch must be positive");
        }
        if self.hidden == 0 || self.window < 2 {
            return bad("hidden must be positive and window at least 2");
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !(positive(self.lr) && positive(self.lr_final)) {
            return bad("learning rates must be positive");
        }
        if !self.fixed_windows && self.random_windows_per_epoch == 0 {
            return bad("no training windows (fixed windows off and no random windows)");
        }
        Ok(())
    }
}

/// Where the training windows come from.
#[derive(Debug, Clone)]
pub struct TrainData<'a> {
    /// Windows used every epoch (grid or CSV).
    pub fixed: Windows,
    /// The pair to draw random-phase windows from, if any.
    pub pair: Option<&'a Pair>,
}

/// One epoch's figures, for progress display and the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// Mean teacher-forced MSE over the epoch's mini-batches.
    pub loss: f64,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    pub elapsed_s: f64,
}

/// A trained model and how it got there.
pub struct Trained {
    pub model: Seq2Seq,
    /// The parameters by file name, for saving.
    pub tensors: HashMap<String, Tensor>,
    pub history: Vec<EpochStats>,
}

/// Keras's initialisation, from our own seeded RNG (candle's cannot be
/// seeded, and its default init trained worse here): Glorot-uniform
/// kernels, orthogonal recurrent weights, zero biases with the forget gate's
/// set to 1.
pub fn init_params(hidden: usize, seed: u64) -> HashMap<String, Vec<f32>> {
    let mut rng = Rng::new(seed);
    let h = hidden;
    let glorot = |rng: &mut Rng, n: usize, fan_in: usize, fan_out: usize| -> Vec<f32> {
        let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
        (0..n).map(|_| rng.uniform(-limit, limit) as f32).collect()
    };
    let mut params = HashMap::new();
    for lstm in ["encoder", "decoder"] {
        params.insert(
            format!("{lstm}.weight_ih_l0"),
            glorot(&mut rng, 4 * h, 1, 4 * h),
        );
        params.insert(
            format!("{lstm}.weight_hh_l0"),
            orthogonal(&mut rng, 4 * h, h),
        );
        let mut b = vec![0f32; 4 * h];
        b[h..2 * h].fill(1.0); // forget gate
        params.insert(format!("{lstm}.bias_ih_l0"), b);
        params.insert(format!("{lstm}.bias_hh_l0"), vec![0f32; 4 * h]);
    }
    params.insert("dense.weight".into(), glorot(&mut rng, h, h, 1));
    params.insert("dense.bias".into(), vec![0f32]);
    params
}

/// A `rows × cols` (rows ≥ cols) matrix with orthonormal columns, row-major:
/// modified Gram-Schmidt on a Gaussian matrix (Keras's `Orthogonal` on the
/// transposed `[H, 4H]` recurrent kernel).
fn orthogonal(rng: &mut Rng, rows: usize, cols: usize) -> Vec<f32> {
    let mut cols_v: Vec<Vec<f64>> = (0..cols)
        .map(|_| (0..rows).map(|_| rng.normal()).collect())
        .collect();
    for j in 0..cols {
        for k in 0..j {
            let (done, rest) = cols_v.split_at_mut(j);
            let dot: f64 = done[k].iter().zip(&rest[0]).map(|(a, b)| a * b).sum();
            for (x, q) in rest[0].iter_mut().zip(&done[k]) {
                *x -= dot * q;
            }
        }
        let norm = cols_v[j]
            .iter()
            .map(|x| x * x)
            .sum::<f64>()
            .sqrt()
            .max(1e-12);
        cols_v[j].iter_mut().for_each(|x| *x /= norm);
    }
    let mut out = vec![0f32; rows * cols];
    for (j, col) in cols_v.iter().enumerate() {
        for (i, &v) in col.iter().enumerate() {
            out[i * cols + j] = v as f32;
        }
    }
    out
}

fn scale_grads(
    grads: &mut candle_core::backprop::GradStore,
    vars: &[Var],
    max_norm: f64,
) -> Result<()> {
    let mut sq = 0f64;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
    }
    let norm = sq.sqrt();
    if norm > max_norm {
        let factor = max_norm / norm;
        for v in vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let scaled = g.affine(factor, 0.0)?;
                grads.insert(v.as_tensor(), scaled);
            }
        }
    }
    Ok(())
}

fn windows_tensors(w: &Windows) -> Result<(Tensor, Tensor, Tensor)> {
    let n = w.len();
    let dev = &Device::Cpu;
    Ok((
        Tensor::from_slice(&w.input, (n, w.window), dev)?,
        Tensor::from_vec(w.decoder_input(), (n, w.window), dev)?,
        Tensor::from_slice(&w.target, (n, w.window), dev)?,
    ))
}

/// Teacher-forced MSE of `model` on `w` (no gradients kept).
pub fn teacher_forced_mse(model: &Seq2Seq, w: &Windows) -> Result<f64> {
    if w.is_empty() {
        return Ok(f64::NAN);
    }
    let mut sum = 0f64;
    for start in (0..w.len()).step_by(crate::model::MAX_BATCH) {
        let idx: Vec<usize> = (start..(start + crate::model::MAX_BATCH).min(w.len())).collect();
        let (x, dx, y) = windows_tensors(&w.gather(&idx))?;
        let pred = model.forward_teacher(&x, &dx)?;
        sum += (pred - y)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
    }
    Ok(sum / w.input.len() as f64)
}

/// Trains a model on `data` with `recipe`; `progress` is called after each epoch.
pub fn train(
    recipe: &Recipe,
    data: &TrainData,
    mut progress: impl FnMut(&EpochStats),
) -> Result<Trained> {
    recipe.validate()?;
    if recipe.fixed_windows && data.fixed.window != recipe.window {
        return Err(Error::Data(format!(
            "training windows have length {}, recipe says {}",
            data.fixed.window, recipe.window
        )));
    }
    if recipe.random_windows_per_epoch > 0 && data.pair.is_none() {
        return Err(Error::Data(
            "random-phase windows need a pair (CSV data has none)".into(),
        ));
    }

    let (h, w) = (recipe.hidden, recipe.window);
    let init = init_params(h, recipe.seed);
    let mut vars = Vec::new();
    let mut tensors = HashMap::new();
    for (name, shape) in tensor_specs(h) {
        let values = init.get(&name).cloned().unwrap_or_default();
        let var = Var::from_vec(values, shape, &Device::Cpu)?;
        tensors.insert(name, var.as_tensor().clone());
        vars.push(var);
    }
    let model = Seq2Seq::new(
        VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu),
        h,
        w,
    )?;
    let mut opt = AdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: recipe.lr_at(0, 0.0),
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;

    // Data sampling has its own stream so that changing the init (or the
    // model size) does not change which windows are drawn.
    let mut rng = Rng::new(recipe.seed ^ 0xDA7A_5EED);
    let started = Instant::now();
    let mut history = Vec::with_capacity(recipe.epochs);
    for epoch in 0..recipe.epochs {
        let mut windows = if recipe.fixed_windows {
            data.fixed.clone()
        } else {
            Windows::empty(w)
        };
        if let Some(pair) = data.pair {
            windows.extend_random_phase(pair, recipe.random_windows_per_epoch, &mut rng);
        }
        let mut order: Vec<usize> = (0..windows.len()).collect();
        rng.shuffle(&mut order);

        let batches = order.len().div_ceil(recipe.batch);
        let (mut loss_sum, mut seen) = (0f64, 0usize);
        for (b, idx) in order.chunks(recipe.batch).enumerate() {
            opt.set_learning_rate(recipe.lr_at(epoch, b as f64 / batches as f64));
            let (x, dx, y) = windows_tensors(&windows.gather(idx))?;
            let pred = model.forward_teacher(&x, &dx)?;
            let loss = candle_nn::loss::mse(&pred, &y)?;
            let mut grads = loss.backward()?;
            if let Some(max) = recipe.clip_norm {
                scale_grads(&mut grads, &vars, max)?;
            }
            opt.step(&grads)?;
            let l = loss.to_scalar::<f32>()? as f64;
            if !l.is_finite() {
                return Err(Error::Data(format!(
                    "training diverged at epoch {} (loss {l}); try a lower --lr",
                    epoch + 1
                )));
            }
            loss_sum += l * idx.len() as f64;
            seen += idx.len();
        }
        let stats = EpochStats {
            epoch: epoch + 1,
            epochs: recipe.epochs,
            loss: loss_sum / seen.max(1) as f64,
            lr: opt.learning_rate(),
            elapsed_s: started.elapsed().as_secs_f64(),
        };
        progress(&stats);
        history.push(stats);
    }
    Ok(Trained {
        model,
        tensors,
        history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_columns_are_orthonormal() {
        let mut rng = Rng::new(1);
        let (r, c) = (12, 3);
        let m = orthogonal(&mut rng, r, c);
        for a in 0..c {
            for b in 0..c {
                let dot: f64 = (0..r)
                    .map(|i| m[i * c + a] as f64 * m[i * c + b] as f64)
                    .sum();
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-5, "({a},{b}) {dot}");
            }
        }
    }

    #[test]
    fn cosine_schedule_warms_up_then_decays() {
        let r = Recipe::default_recipe();
        assert!(r.lr_at(0, 0.0) < r.lr_at(3, 0.0));
        assert!((r.lr_at(r.warmup_epochs, 0.0) - r.lr).abs() < 1e-12);
        assert!(r.lr_at(r.epochs / 2, 0.0) < r.lr);
        assert!((r.lr_at(r.epochs - 1, 0.999) - r.lr_final).abs() < 1e-4);
        let s = Recipe::seed();
        assert_eq!(s.lr_at(0, 0.0), s.lr_at(34, 0.5));
    }

    #[test]
    fn init_has_keras_forget_bias_and_right_sizes() {
        let p = init_params(5, 0);
        let b = &p["encoder.bias_ih_l0"];
        assert_eq!(b.len(), 20);
        assert!(b[5..10].iter().all(|&x| x == 1.0));
        assert!(b[..5].iter().chain(&b[10..]).all(|&x| x == 0.0));
        assert_eq!(p["decoder.weight_hh_l0"].len(), 100);
        assert_eq!(init_params(5, 0), p, "same seed, same init");
        assert_ne!(init_params(5, 1)["dense.weight"], p["dense.weight"]);
    }
}
