//! `pipeline info`: what a model file says about itself, and how `serve`
//! will take it, as one JSON object (for people and `jq`).

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use super::train::{ModelArgs, load_model};

pub(crate) fn info(models_dir: &Path, a: &ModelArgs) -> Result<()> {
    let m = load_model(models_dir, a)?;
    let meta = &m.meta;
    let gaps = pipeline::window::TimeGaps::of(None, meta.metrics.as_ref());
    let secs = |ns: i64| ns as f64 / 1e9;
    let v = json!({
        "model": m.path.display().to_string(),
        "id": m.id,
        "pair": meta.pair,
        "window": m.model.window(),
        "hidden": m.model.hidden(),
        "created": meta.created,
        "scaling": meta.scaling,
        "recipe": meta.recipe,
        "metrics": meta.metrics,
        "serve": {
            // What a route serving it restarts windows at (its `max_gap`
            // overrides): `null` when the model records no time column.
            "max_gap_s": gaps.map(|g| secs(g.max_gap_ns)),
            "time_step_s": gaps.map(|g| secs(g.step_ns)).filter(|s| *s > 0.0),
        },
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}
