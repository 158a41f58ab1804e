//! `retrain`'s flags, and the recipe (and a residual model's skip) they make.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, ValueEnum};
use pipeline::format;
use pipeline::train::{self, Recipe};

use super::RecordingArgs;
use crate::cli::Usage;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RecipeName {
    /// Pairs: random-phase windows, warm-up + cosine decay, gradient clipping.
    Default,
    /// The seed tutorial exactly: 76 grid windows, Adam 1e-3, batch 10, 35 epochs.
    Seed,
    /// Recordings (the default with --data): a step budget, early stopping
    /// on the held-out part, the best weights kept.
    Recording,
}

#[derive(Args)]
pub(crate) struct RetrainArgs {
    /// Built-in pair to train on.
    #[arg(long, conflicts_with = "data", required_unless_present = "data")]
    pub(crate) pair: Option<String>,
    #[command(flatten)]
    pub(crate) rec: RecordingArgs,
    /// Scaling fitted on the training part and stored with the model.
    #[arg(long, default_value = "standard")]
    pub(crate) scale: pipeline::scaling::ScaleMethod,
    /// Output model file (default `<models-dir>/<pair>.safetensors`; required
    /// with --data).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// [default: `default` for pairs, `recording` with --data]
    #[arg(long, value_enum)]
    pub(crate) recipe: Option<RecipeName>,
    /// Train for this many epochs (instead of the recipe's budget).
    #[arg(long, value_parser = positive)]
    pub(crate) epochs: Option<usize>,
    /// Budget in optimiser steps.
    #[arg(long, value_parser = positive)]
    pub(crate) steps: Option<usize>,
    /// Budget in time (e.g. 2m): replaces the step budget unless --steps is
    /// also given. Not bit-reproducible; the report gives the steps taken.
    #[arg(long, value_parser = pipeline::config::parse_duration)]
    pub(crate) time_budget: Option<std::time::Duration>,
    /// Stop after this many validation measurements without improvement.
    #[arg(long)]
    pub(crate) patience: Option<usize>,
    /// Exit with status 2 when the model does not beat both baselines on
    /// the held-out data (the model and report are still written).
    #[arg(long)]
    pub(crate) strict: bool,
    /// Peak learning rate.
    #[arg(long)]
    pub(crate) lr: Option<f64>,
    /// Windows per optimiser step [default: the recipe's].
    #[arg(long, value_parser = positive)]
    pub(crate) batch: Option<usize>,
    /// LSTM units (the hidden state's size) [default: 75; at most 4096].
    #[arg(long, value_parser = hidden_size)]
    pub(crate) hidden: Option<usize>,
    /// Window length in samples: what the service collects per window and
    /// the translation's length [default: 24; at most 10000].
    #[arg(long, value_parser = window_len)]
    pub(crate) window: Option<usize>,
    /// Seeds the weights' initialisation and the order of the windows: the
    /// same seed, data and --threads give the same model, bit for bit, on
    /// the same CPU type [default: 0].
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Random-phase windows drawn per epoch (pairs only).
    #[arg(long)]
    pub(crate) random_windows: Option<usize>,
    /// Train a residual model: the least-squares linear map from a window's
    /// inputs to its outputs (the baseline) is fitted first and carried in
    /// the model file, and the network learns only what the map leaves; the
    /// model serves map + correction. For signals related almost at once
    /// (irradiance → power), where the verdict says the linear map wins.
    #[arg(long)]
    pub(crate) residual: bool,
}

/// The recipe named by --recipe (or `fallback`), with the flags applied.
/// Flags that make no recipe (`--window 1`, `--lr 0`) are usage errors.
pub(super) fn recipe_from_args(
    a: &RetrainArgs,
    fallback: RecipeName,
) -> std::result::Result<Recipe, Usage> {
    let mut recipe = match a.recipe.unwrap_or(fallback) {
        RecipeName::Default => Recipe::default_recipe(),
        RecipeName::Seed => Recipe::seed(),
        RecipeName::Recording => Recipe::recording(),
    };
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = a.$f { recipe.$f = v; } )* };
    }
    set!(lr, batch, hidden, window, seed);
    if let Some(lr) = a.lr
        && recipe.schedule == train::Schedule::Constant
    {
        recipe.lr_final = lr;
    }
    if let Some(n) = a.random_windows {
        recipe.random_windows_per_epoch = n;
    }
    // One budget: epochs, or steps and/or time.
    if let Some(e) = a.epochs {
        recipe.epochs = e;
        recipe.steps = None;
        recipe.time_budget_s = None;
    }
    if let Some(t) = a.time_budget {
        recipe.time_budget_s = Some(t.as_secs_f64());
        recipe.steps = None;
    }
    if let Some(n) = a.steps {
        recipe.steps = Some(n);
    }
    if let Some(p) = a.patience {
        recipe.patience = Some(p);
    }
    match recipe.validate() {
        Ok(()) => Ok(recipe),
        Err(pipeline::Error::Data(why)) => Err(Usage(why)),
        Err(e) => Err(Usage(e.to_string())),
    }
}

/// `--out` names a file: said before training, not when its minutes are
/// spent (a folder read "Not a directory" once the weights were to be
/// written).
pub(super) fn writable_model_path(out: &Path) -> Result<()> {
    if out.is_dir()
        || out
            .as_os_str()
            .to_string_lossy()
            .ends_with(std::path::MAIN_SEPARATOR)
    {
        return Err(Usage(format!(
            "--out {}: a folder; name the model file (e.g. {})",
            out.display(),
            out.join("model.safetensors").display()
        ))
        .into());
    }
    Ok(())
}

/// With `--residual`: the skip a residual model carries, the linear map
/// fitted on the training `windows` (physical units) in the network's units
/// of `scaling`; `None` without the flag.
pub(super) fn residual_skip(
    a: &RetrainArgs,
    windows: &pipeline::data::Windows,
    scaling: &pipeline::scaling::Scaling,
) -> pipeline::Result<Option<pipeline::skip::Skip>> {
    if !a.residual {
        return Ok(None);
    }
    let map = pipeline::baseline::LinearMap::fit(windows)?;
    pipeline::skip::Skip::of_map(&map, scaling).map(Some)
}

/// Records in `meta`'s metrics that `model` is residual over a linear map
/// (`"residual": "linear"`, which `info` shows); nothing for another.
pub(super) fn mark_residual(
    meta: &mut pipeline::format::Metadata,
    model: &pipeline::model::Seq2Seq,
) {
    if model.skip().is_some()
        && let Some(serde_json::Value::Object(m)) = meta.metrics.as_mut()
    {
        m.insert("residual".into(), "linear".into());
    }
}

/// A window length a model file may have (refused after training, else).
pub(super) fn window_len(s: &str) -> std::result::Result<usize, String> {
    match positive(s)? {
        // The recipe's own bound, said here before any file is read.
        1 => Err("must be at least 2".into()),
        w if w > format::MAX_WINDOW => Err(format!("at most {}", format::MAX_WINDOW)),
        w => Ok(w),
    }
}

/// A hidden size to train: a hundred thousand units took memory without
/// end (a weight matrix alone is 4 × 10¹⁰ values).
fn hidden_size(s: &str) -> std::result::Result<usize, String> {
    match positive(s)? {
        h if h > train::MAX_HIDDEN => Err(format!("at most {}", train::MAX_HIDDEN)),
        h => Ok(h),
    }
}

/// A count that must be at least 1 (a usage error, before any file is read).
fn positive(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// `--missing`: a finite number, as a channel's cells would hold it (f32).
pub(crate) fn missing_code(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("{s:?} is not a finite number (e.g. -9999)")),
        // A text (`#N/A`, `n/a`) in a number column is a bad cell already.
        Err(_) => Err(format!(
            "{s:?} is not a number (e.g. -9999): --missing names numbers that stand for a \
             missing value; a cell holding text such as {s:?} is a bad cell already, which \
             --skip-bad-rows skips"
        )),
    }
}
