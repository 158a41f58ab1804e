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
use crate::scaling::Scaling;
use crate::skip::Skip;

mod init;
mod keeper;
use keeper::BestKeeper;
pub mod memory;
mod recipe;

pub use init::init_params;
pub use recipe::{RECORDING_BATCH, RECORDING_STEPS, Recipe, Schedule};

/// The largest hidden size trained: 4096 units are 268 MB of weights per
/// LSTM, already far past what a CPU trains in a day.
pub const MAX_HIDDEN: usize = 4096;

/// Stack for every thread that runs a backward pass: candle walks the graph
/// recursively, a frame per operation, and a long window's graph is deep
/// (`--window 7000`: ~37,000 frames, far past a thread's default 2 MiB or the
/// main thread's 8 MiB: "stack overflow, aborting"). 512 MiB is address
/// space, not memory: only the pages a deep walk touches are.
pub const TRAINING_STACK: usize = 512 << 20;

/// The stack of a shard thread for windows of `window` steps: ~1 KB a step
/// was measured (a release build overflowed 8 MiB at 7,000), so 16 KiB a
/// step, at least 8 MiB and at most [`TRAINING_STACK`]. Sized, not always
/// the most: each step spawns these threads, and under `ulimit -v` their
/// address space counts.
fn shard_stack(window: usize) -> usize {
    window
        .saturating_mul(16 << 10)
        .clamp(8 << 20, TRAINING_STACK)
}

/// Where the training windows come from.
#[derive(Debug, Clone)]
pub struct TrainData<'a> {
    /// Windows used every epoch (grid or CSV).
    pub fixed: Windows,
    /// The pair to draw random-phase windows from, if any.
    pub pair: Option<&'a Pair>,
    /// From the windows' units (and the validation windows') to the
    /// network's, applied to each batch as it is drawn.
    pub scaling: Scaling,
    /// A residual model's linear skip (network units): each batch's targets,
    /// and the validation windows', are what it leaves of them, and the
    /// model trained carries it.
    pub skip: Option<Skip>,
}

/// Figures of one point of the run (an epoch, or a validation measurement
/// in a budgeted run), for progress display and the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch (the one in progress, in a budgeted run).
    pub epoch: usize,
    /// Epochs of the run (0 in a budgeted run).
    pub epochs: usize,
    /// Optimiser steps so far.
    #[serde(default)]
    pub step: usize,
    /// The step budget (0: none).
    #[serde(default)]
    pub steps: usize,
    /// Mean teacher-forced MSE over the mini-batches since the last point.
    pub loss: f64,
    /// Learning rate now.
    pub lr: f64,
    pub elapsed_s: f64,
    /// Autoregressive MSE on the validation windows (network units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_ar_mse: Option<f64>,
    /// Fraction of the budget used, in [0, 1].
    #[serde(default)]
    pub progress: f64,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// All epochs done.
    Epochs,
    /// The step budget is spent.
    Steps,
    /// The time budget is spent.
    Time,
    /// `patience` measurements in a row without a better validation MSE.
    EarlyStop,
    /// Asked to stop ([`STOP`], set by `retrain` on Ctrl-C).
    Interrupted,
}

/// Set (by a signal handler: `retrain` on Ctrl-C) to end a training run
/// early as a spent budget does: measured once more, the best weights
/// kept, and the model written, rather than the work lost.
pub static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn stop_requested() -> bool {
    STOP.load(std::sync::atomic::Ordering::Relaxed)
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Epochs => "all epochs done",
            Self::Steps => "step budget spent",
            Self::Time => "time budget spent",
            Self::EarlyStop => "early stop (no better validation MSE for `patience` measurements)",
            Self::Interrupted => "interrupted (Ctrl-C)",
        })
    }
}

/// A trained model and how it got there.
pub struct Trained {
    /// With its skip, for a residual model.
    pub model: Seq2Seq,
    /// The parameters by file name, for saving (a skip's among them).
    pub tensors: HashMap<String, Tensor>,
    pub history: Vec<EpochStats>,
    /// Optimiser steps taken.
    pub steps: usize,
    pub stop: Stop,
    /// With validation: the step whose weights were kept, and their
    /// validation AR MSE (network units).
    pub best: Option<(usize, f64)>,
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

/// Teacher-forced MSE of `model` on `w` (network units; no gradients
/// kept). A residual model's network is fed and scored on what its skip
/// leaves of the targets: the same error as the whole model's.
pub fn teacher_forced_mse(model: &Seq2Seq, w: &Windows) -> Result<f64> {
    if w.is_empty() {
        return Ok(f64::NAN);
    }
    let residual;
    let w = match model.skip() {
        Some(skip) => {
            let mut r = w.clone();
            skip.residual(&mut r);
            residual = r;
            &residual
        }
        None => w,
    };
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
    progress: impl FnMut(&EpochStats),
) -> Result<Trained> {
    train_validated(recipe, data, None, 1, progress)
}

/// Validation windows used per measurement during training: a strided
/// subset bounds its cost on long recordings (the final report uses all).
pub const MAX_VALIDATION_WINDOWS: usize = 4096;

/// Trains with optional early stopping on `valid` (windows in the units of
/// `data.fixed`, scaled by `data.scaling` as they are), computing each mini-batch's gradient on `threads` threads (the
/// batch split in contiguous shards; the shard gradients are averaged in a
/// fixed order, so the same seed and thread count give the same weights,
/// bit for bit). `progress` is called after each epoch, or in a budgeted
/// run after each validation measurement (every `eval_every` steps).
pub fn train_validated(
    recipe: &Recipe,
    data: &TrainData,
    valid: Option<&Windows>,
    threads: usize,
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
    if recipe.fixed_windows && recipe.random_windows_per_epoch == 0 && data.fixed.is_empty() {
        return Err(Error::Data("no training windows".into()));
    }
    let valid = match valid {
        Some(v) if v.window != recipe.window => {
            return Err(Error::Data(format!(
                "validation windows have length {}, recipe says {}",
                v.window, recipe.window
            )));
        }
        Some(v) if !v.is_empty() => {
            let mut v = strided_subset(v, MAX_VALIDATION_WINDOWS);
            data.scaling.to_network(&mut v);
            // Measured in residual space: the network's error there is the
            // whole model's.
            if let Some(skip) = &data.skip {
                skip.residual(&mut v);
            }
            Some(v)
        }
        _ => None,
    };

    let (h, w) = (recipe.hidden, recipe.window);
    let mut init = init_params(h, recipe.seed);
    // A residual model starts as its map exactly: the network's head at
    // zero adds nothing until training finds what the map leaves.
    if data.skip.is_some() {
        init.insert("dense.weight".into(), vec![0.0; h]);
        init.insert("dense.bias".into(), vec![0.0]);
    }
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
    let budgeted = recipe.budgeted();
    let mut opt = AdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: if budgeted {
                recipe.lr_at_fraction(0.0)
            } else {
                recipe.lr_at(0, 0.0)
            },
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;

    // Data sampling has its own stream so that changing the init (or the
    // model size) does not change which windows are drawn.
    let mut rng = Rng::new(recipe.seed ^ 0xDA7A_5EED);
    let started = Instant::now();
    let time_budget = recipe.time_budget_s;
    let fraction = |step: usize| -> f64 {
        let by_steps = recipe.steps.map_or(0.0, |n| step as f64 / n as f64);
        let by_time = time_budget.map_or(0.0, |t| started.elapsed().as_secs_f64() / t);
        by_steps.max(by_time).min(1.0)
    };
    let mut history = Vec::new();
    let (mut step, mut stop) = (0usize, Stop::Epochs);
    let mut keeper = BestKeeper::default();
    // The map alone is measured first: weights no better than it are not
    // kept (`retrain --residual` is then the map).
    if data.skip.is_some() {
        keeper.measure(valid.as_ref(), &tensors, &vars, 0)?;
    }
    let (mut loss_sum, mut seen) = (0f64, 0usize);
    let epochs = if budgeted { usize::MAX } else { recipe.epochs };
    'run: for epoch in 0..epochs {
        // Fixed windows alone (a recording) are used as they are; only an
        // epoch with fresh random-phase windows needs a set of its own.
        let mut windows = std::borrow::Cow::Borrowed(&data.fixed);
        if !recipe.fixed_windows {
            windows = std::borrow::Cow::Owned(Windows::empty(w));
        }
        if let Some(pair) = data.pair
            && recipe.random_windows_per_epoch > 0
        {
            windows
                .to_mut()
                .extend_random_phase(pair, recipe.random_windows_per_epoch, &mut rng);
        }
        let mut order: Vec<usize> = (0..windows.len()).collect();
        rng.shuffle(&mut order);

        let batches = order.len().div_ceil(recipe.batch);
        for (b, idx) in order.chunks(recipe.batch).enumerate() {
            opt.set_learning_rate(if budgeted {
                recipe.lr_at_fraction(fraction(step))
            } else {
                recipe.lr_at(epoch, b as f64 / batches as f64)
            });
            let mut batch = windows.gather(idx);
            data.scaling.to_network(&mut batch);
            if let Some(skip) = &data.skip {
                skip.residual(&mut batch);
            }
            let (l, mut grads) = gradients(&model, &vars, &batch, threads)?;
            if let Some(max) = recipe.clip_norm {
                scale_grads(&mut grads, &vars, max)?;
            }
            opt.step(&grads)?;
            step += 1;
            if !l.is_finite() {
                return Err(Error::Data(format!(
                    "training diverged at epoch {} (loss {l}); try a lower --lr",
                    epoch + 1
                )));
            }
            loss_sum += l * idx.len() as f64;
            seen += idx.len();
            if !budgeted {
                continue;
            }
            let spent = recipe.steps.is_some_and(|n| step >= n)
                || time_budget.is_some_and(|t| started.elapsed().as_secs_f64() >= t)
                || stop_requested();
            if step.is_multiple_of(recipe.eval_every) || spent {
                let val = keeper.measure(valid.as_ref(), &tensors, &vars, step)?;
                let stats = EpochStats {
                    epoch: epoch + 1,
                    epochs: 0,
                    step,
                    steps: recipe.steps.unwrap_or(0),
                    loss: loss_sum / seen.max(1) as f64,
                    lr: opt.learning_rate(),
                    elapsed_s: started.elapsed().as_secs_f64(),
                    val_ar_mse: val,
                    progress: fraction(step),
                };
                (loss_sum, seen) = (0.0, 0);
                progress(&stats);
                history.push(stats);
                if spent {
                    stop = if recipe.steps.is_some_and(|n| step >= n) {
                        Stop::Steps
                    } else if stop_requested() {
                        Stop::Interrupted
                    } else {
                        Stop::Time
                    };
                    break 'run;
                }
                if recipe.patience.is_some_and(|p| keeper.since_best >= p) {
                    stop = Stop::EarlyStop;
                    break 'run;
                }
            }
        }
        if !budgeted {
            let val = keeper.measure(valid.as_ref(), &tensors, &vars, step)?;
            let stats = EpochStats {
                epoch: epoch + 1,
                epochs: recipe.epochs,
                step,
                steps: 0,
                loss: loss_sum / seen.max(1) as f64,
                lr: opt.learning_rate(),
                elapsed_s: started.elapsed().as_secs_f64(),
                val_ar_mse: val,
                progress: (epoch + 1) as f64 / recipe.epochs as f64,
            };
            (loss_sum, seen) = (0.0, 0);
            progress(&stats);
            history.push(stats);
            if recipe.patience.is_some_and(|p| keeper.since_best >= p) {
                stop = Stop::EarlyStop;
                break 'run;
            }
            if stop_requested() {
                stop = Stop::Interrupted;
                break 'run;
            }
        }
    }
    // Keep the best weights seen, not the last.
    let best = match keeper.best {
        Some((at, mse, weights)) => {
            for (var, t) in vars.iter().zip(&weights) {
                var.set(t)?;
            }
            Some((at, mse))
        }
        None => None,
    };
    // The model trained is the network and its skip: saved and scored so.
    let model = model.with_skip(data.skip.clone())?;
    let mut tensors = tensors;
    if let Some(skip) = &data.skip {
        tensors.extend(skip.tensors()?);
    }
    Ok(Trained {
        model,
        tensors,
        history,
        steps: step,
        stop,
        best,
    })
}

/// The teacher-forced MSE of one mini-batch and its gradients, computed on
/// `threads` threads over contiguous shards and averaged by shard size in
/// shard order (deterministic for a given thread count).
fn gradients(
    model: &Seq2Seq,
    vars: &[Var],
    batch: &Windows,
    threads: usize,
) -> Result<(f64, candle_core::backprop::GradStore)> {
    let one = |w: &Windows| -> Result<(f64, candle_core::backprop::GradStore)> {
        let (x, dx, y) = windows_tensors(w)?;
        let pred = model.forward_teacher(&x, &dx)?;
        let loss = candle_nn::loss::mse(&pred, &y)?;
        let grads = loss.backward()?;
        Ok((loss.to_scalar::<f32>()? as f64, grads))
    };
    let n = batch.len();
    // Shards below 8 windows cost more in overhead than they save.
    let threads = threads.clamp(1, (n / 8).max(1));
    if threads == 1 {
        return one(batch);
    }
    let per = n.div_ceil(threads);
    let shards: Vec<Windows> = (0..n)
        .step_by(per)
        .map(|s| batch.gather(&(s..(s + per).min(n)).collect::<Vec<_>>()))
        .collect();
    let results: Vec<Result<(f64, candle_core::backprop::GradStore)>> = std::thread::scope(|sc| {
        let handles: Vec<_> = shards
            .iter()
            .map(|sh| {
                std::thread::Builder::new()
                    .name("train-shard".into())
                    .stack_size(shard_stack(batch.window))
                    .spawn_scoped(sc, move || one(sh))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err(Error::Data("a training thread panicked".into()))),
                Err(e) => Err(e.into()),
            })
            .collect()
    });
    let mut loss = 0f64;
    let mut total: Option<candle_core::backprop::GradStore> = None;
    for (r, sh) in results.into_iter().zip(&shards) {
        let (l, g) = r?;
        let weight = sh.len() as f64 / n as f64;
        loss += l * weight;
        match &mut total {
            None => {
                let mut g = g;
                for v in vars {
                    if let Some(t) = g.get(v.as_tensor()) {
                        let scaled = t.affine(weight, 0.0)?;
                        g.insert(v.as_tensor(), scaled);
                    }
                }
                total = Some(g);
            }
            Some(acc) => {
                for v in vars {
                    if let (Some(a), Some(t)) = (acc.get(v.as_tensor()), g.get(v.as_tensor())) {
                        let sum = (a + t.affine(weight, 0.0)?)?;
                        acc.insert(v.as_tensor(), sum);
                    }
                }
            }
        }
    }
    let total = total.ok_or_else(|| Error::Data("empty mini-batch".into()))?;
    Ok((loss, total))
}

/// The parameters as flat vectors by name (what [`crate::fast::FastModel`] takes).
pub fn params(tensors: &HashMap<String, Tensor>) -> Result<HashMap<String, Vec<f32>>> {
    let mut params = HashMap::with_capacity(tensors.len());
    for (name, t) in tensors {
        params.insert(name.clone(), t.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(params)
}

/// At most `max` rows of `w`, evenly spaced (all of them if it has fewer).
fn strided_subset(w: &Windows, max: usize) -> Windows {
    if w.len() <= max {
        return w.clone();
    }
    let idx: Vec<usize> = (0..max).map(|i| i * w.len() / max).collect();
    w.gather(&idx)
}

/// Autoregressive MSE of the current weights on `valid`, on the fast path
/// (what `serve` runs; ~10× the reference's speed).
fn validation_mse(
    tensors: &HashMap<String, Tensor>,
    hidden: usize,
    valid: &Windows,
) -> Result<f64> {
    let fast = crate::fast::FastModel::new(&params(tensors)?, hidden, valid.window)?;
    let pred = fast.translate_rows(&valid.input)?;
    Ok(crate::data::mse(&pred, &valid.target))
}

#[cfg(test)]
mod tests;
