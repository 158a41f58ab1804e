//! `pipeline info`: what a model file says about itself, and how `serve`
//! will take it, as one JSON object (for people and `jq`).

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use super::train::{ModelArgs, load_model};

#[derive(clap::Args)]
pub(crate) struct InfoArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Print the linear baseline's coefficients too (W × W + W numbers,
    /// which `eval` scores with; left out by default, their count said).
    #[arg(long)]
    pub(crate) full: bool,
}

pub(crate) fn info(models_dir: &Path, a: &InfoArgs) -> Result<()> {
    let m = load_model(models_dir, &a.model)?;
    let meta = &m.meta;
    let mut metrics = meta.metrics.clone();
    if !a.full {
        elide_coefficients(&mut metrics);
    }
    let gaps = pipeline::window::TimeGaps::of(None, meta.metrics.as_ref());
    let secs = |ns: i64| ns as f64 / 1e9;
    let v = json!({
        "model": m.path.display().to_string(),
        "id": m.id,
        "pair": meta.pair,
        // What it translates, where its training named it ("in → out").
        "channels": m.channels(),
        "window": m.model.window(),
        "hidden": m.model.hidden(),
        "created": meta.created,
        "scaling": meta.scaling,
        // A residual model (`retrain --residual`) serves a linear map of
        // the window (its `skip` tensors, in the network's units) plus the
        // network's correction.
        "residual": m.model.skip().map(|_| "linear"),
        "recipe": meta.recipe,
        "metrics": metrics,
        "serve": {
            // What a route serving it restarts windows at (its `max_gap`
            // overrides): `null` when the model records no time column.
            "max_gap_s": gaps.map(|g| secs(g.max_gap_ns)),
            "time_step_s": gaps.map(|g| secs(g.step_ns)).filter(|s| *s > 0.0),
            // The clock a sensor's changes are read on (`retrain --resample`,
            // or the one `pipeline join` held the training input on).
            "resample_s": pipeline::window::hold::Resample::of(None, None, meta.metrics.as_ref())
                .map(|r| r.step_s),
        },
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// The linear baseline's coefficient arrays, each replaced by what it
/// holds (`"576 numbers (--full prints them)"`), and the training files'
/// stored windows: thousands of numbers and hashes buried the channels and
/// scores a reader looks for.
fn elide_coefficients(metrics: &mut Option<serde_json::Value>) {
    let linear = metrics
        .as_mut()
        .and_then(|m| m.pointer_mut("/baselines/linear"))
        .and_then(|l| l.as_object_mut());
    for v in linear.into_iter().flat_map(|l| l.values_mut()) {
        let n = count_numbers(v);
        if n > 8 {
            *v = json!(format!("{n} numbers (--full prints them)"));
        }
    }
    // And each training file's stored windows (where `eval` finds its rows
    // in another file): 64 hashes a file, a screen of them each.
    let files = metrics
        .as_mut()
        .and_then(|m| m.get_mut("training_rows"))
        .and_then(|t| t.as_array_mut());
    for anchors in files
        .into_iter()
        .flatten()
        .filter_map(|f| f.get_mut("anchors"))
    {
        if let Some(n) = anchors.as_array().map(Vec::len) {
            *anchors = json!(format!("{n} stored windows (--full prints them)"));
        }
    }
}

fn count_numbers(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => a.iter().map(count_numbers).sum(),
        serde_json::Value::Number(_) => 1,
        _ => 0,
    }
}
