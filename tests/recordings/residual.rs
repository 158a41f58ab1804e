//! `retrain --residual`: on a recording whose output is nearly a linear
//! function of a fast, non-smooth input (irradiance → power), a short run
//! of the network alone loses to the linear map, while the residual model
//! (the map plus the network's correction) scores as well as the map; the
//! model file carries the map, and every command that scores it adds it.

use std::path::Path;

use super::{eval, ok, read_json};
use crate::common::pipeline;

/// 1,200 rows: input uniform noise over 0–1,000 (W/m²-like, no two samples
/// alike), output 0.3·x[t] + 0.05·x[t−1] + noise of σ 5.
fn write_linear_recording(path: &Path) {
    let mut rng = pipeline::rng::Rng::new(5);
    let x: Vec<f64> = (0..1200).map(|_| rng.uniform(0.0, 1000.0)).collect();
    let mut text = String::from("irr,power\n");
    for t in 0..x.len() {
        let y = 0.3 * x[t] + 0.05 * x[t.saturating_sub(1)] + 5.0 * rng.normal();
        text.push_str(&format!("{:.2},{y:.3}\n", x[t]));
    }
    std::fs::write(path, text).unwrap();
}

fn retrain(csv: &Path, model: &Path, extra: &[&str]) {
    let out = pipeline()
        .args(["retrain", "--data", csv.to_str().unwrap()])
        .args(["--input", "irr", "--output", "power", "--hidden", "8"])
        .args(["--steps", "150", "--threads", "2"])
        .args(["--out", model.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    ok(&out);
}

/// The held-out NMSE of the model and of the linear map, from the report.
fn nmse(report: &serde_json::Value) -> (f64, f64) {
    let v = &report["validation"];
    let nmse = |k: &str| v[k]["nmse"].as_f64().unwrap();
    (nmse("model"), nmse("linear_baseline"))
}

#[test]
fn a_residual_model_is_at_least_the_linear_map() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("pv.csv");
    write_linear_recording(&csv);
    let (plain, residual) = (
        dir.path().join("plain.safetensors"),
        dir.path().join("residual.safetensors"),
    );
    retrain(&csv, &plain, &[]);
    retrain(&csv, &residual, &["--residual"]);
    let (plain_model, linear) = nmse(&read_json(&dir.path().join("plain.report.json")));
    let report = read_json(&dir.path().join("residual.report.json"));
    let (residual_model, same_linear) = nmse(&report);
    assert_eq!(linear, same_linear, "the same baseline on the same windows");
    assert!(
        residual_model <= linear * 1.05,
        "residual NMSE {residual_model} against the linear map's {linear}"
    );
    assert!(
        plain_model > 10.0 * residual_model,
        "without --residual: NMSE {plain_model}, with it {residual_model}"
    );
    // The file says what it is, and `info` tells it.
    let loaded = pipeline::format::load(&residual, None).unwrap();
    assert!(loaded.model.skip().is_some());
    assert_eq!(loaded.meta.metrics.as_ref().unwrap()["residual"], "linear");
    let plain_loaded = pipeline::format::load(&plain, None).unwrap();
    assert!(plain_loaded.model.skip().is_none());
    assert!(
        plain_loaded
            .meta
            .metrics
            .as_ref()
            .unwrap()
            .get("residual")
            .is_none()
    );
    let info = |model: &Path| -> serde_json::Value {
        let out = pipeline()
            .args(["info", "--model", model.to_str().unwrap()])
            .output()
            .unwrap();
        ok(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(info(&residual)["residual"], "linear");
    assert_eq!(info(&plain)["residual"], serde_json::Value::Null);
    // `eval` of the training file scores the same held-out windows through
    // the model file: the skip included, the same error.
    let (e, _) = eval(&residual, &csv, &[]);
    let got = e["validation"]["model"]["mse"].as_f64().unwrap();
    let want = report["validation"]["model"]["mse"].as_f64().unwrap();
    assert!(
        (got - want).abs() <= 1e-9 * want,
        "eval {got}, retrain {want}"
    );
}

/// On a built-in pair too: the model file carries the map of its grid
/// windows, and `eval` (the reference path) scores it as training did.
#[test]
fn a_pair_s_residual_model_carries_its_map() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let out = pipeline()
        .args([
            "retrain", "--pair", "damped", "--epochs", "2", "--hidden", "6",
        ])
        .args(["--random-windows", "32", "--residual"])
        .args(["--out", model.to_str().unwrap()])
        .output()
        .unwrap();
    ok(&out);
    let loaded = pipeline::format::load(&model, None).unwrap();
    assert!(loaded.model.skip().is_some());
    let stored = loaded.meta.metrics.as_ref().unwrap();
    assert_eq!(stored["residual"], "linear");
    let plot = dir.path().join("eval.png");
    let out = pipeline()
        .args(["eval", "--model", model.to_str().unwrap(), "--json"])
        .args(["--plot", plot.to_str().unwrap()])
        .output()
        .unwrap();
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["metrics"]["ar_mse_grid"], stored["ar_mse_grid"]);
    assert_eq!(v["metrics"]["tf_mse_grid"], stored["tf_mse_grid"]);
    // The map alone is near exact on the pair's grid: so is the model.
    assert!(v["metrics"]["ar_mse_grid"].as_f64().unwrap() < 1e-2, "{v}");
}
