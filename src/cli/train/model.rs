//! Which model a command uses: a pair's shipped one or a file, loaded with
//! the window it records.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use pipeline::{format, pairs};

/// Where the model comes from: a pair's shipped model, or a file.
#[derive(Args)]
pub(crate) struct ModelArgs {
    /// Pair whose model to use (`<models-dir>/<pair>.safetensors`).
    #[arg(long)]
    pub(crate) pair: Option<String>,
    /// Model file (overrides the pair's default model).
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    /// Window length, for model files that do not record it (default 24).
    #[arg(long)]
    pub(crate) window: Option<usize>,
}

pub(crate) fn load_model(models_dir: &Path, a: &ModelArgs) -> Result<pipeline::LoadedModel> {
    let path = match (&a.model, &a.pair) {
        (Some(p), _) => p.clone(),
        (None, Some(pair)) => {
            pairs::find(pair)?;
            models_dir.join(format!("{pair}.safetensors"))
        }
        (None, None) => bail!("say which model: --pair NAME or --model FILE"),
    };
    // A window the file records is the one it was trained on: another
    // would score or serve a model it is not (and under another id).
    let mut loaded = format::load(&path, None)?;
    match (a.window, loaded.meta.window) {
        (Some(w), Some(trained)) if w != trained => {
            return Err(super::super::Usage(format!(
                "{} was trained on windows of {trained} samples, which it records: --window is \
                 for model files that record none (train another model for windows of {w})",
                path.display()
            ))
            .into());
        }
        (Some(w), None) => loaded = format::load(&path, Some(w))?,
        _ => {}
    }
    if let (Some(want), Some(have)) = (&a.pair, &loaded.meta.pair)
        && want != have
    {
        tracing::warn!(model = %path.display(), "model was trained on pair `{have}`, not `{want}`");
    }
    Ok(loaded)
}
