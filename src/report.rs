//! What a human reads after training or evaluation: the training report
//! (JSON), the loss curve, and the translated-vs-true figure (PNGs).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::data::Dataset;
use crate::error::Result;
use crate::eval::Metrics;
use crate::plot::{self, Chart, Line};
use crate::train::{EpochStats, Recipe};

/// Paths of a model's companion files: `X.safetensors` → `X.report.json`,
/// `X.loss.png`.
pub fn companion(model_path: &Path, suffix: &str) -> PathBuf {
    let stem = model_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    model_path.with_file_name(format!("{stem}.{suffix}"))
}

/// The training report written beside a model.
#[derive(Debug, Serialize)]
pub struct TrainingReport<'a> {
    pub model: String,
    pub model_id: &'a str,
    pub data: &'a str,
    pub recipe: &'a Recipe,
    pub metrics: &'a Metrics,
    pub train_seconds: f64,
    pub created: &'a str,
    pub history: &'a [EpochStats],
}

/// Writes `report` as pretty JSON to the model's `report.json` companion
/// (atomically: a reader sees the old report or the new one); returns its path.
pub fn write_json(model_path: &Path, report: &impl Serialize) -> Result<PathBuf> {
    let path = companion(model_path, "report.json");
    let json = serde_json::to_vec_pretty(report)
        .map_err(|e| crate::error::Error::Data(format!("cannot encode report: {e}")))?;
    crate::format::write_atomic(&path, &json)?;
    Ok(path)
}

/// Writes the report JSON and the loss curve PNG; returns their paths.
pub fn write_training_report(
    model_path: &Path,
    report: &TrainingReport,
) -> Result<(PathBuf, PathBuf)> {
    let json_path = write_json(model_path, report)?;
    let png_path = companion(model_path, "loss.png");
    let loss: Vec<(f64, f64)> = report
        .history
        .iter()
        .map(|s| (s.epoch as f64, s.loss))
        .collect();
    let title = format!(
        "{}: training loss (teacher-forced MSE), final AR MSE {:.2e}",
        report.data, report.metrics.ar_mse_grid
    );
    plot::line_chart(
        &png_path,
        &Chart {
            title: &title,
            x_label: "epoch",
            y_label: "MSE (log scale)",
            log_y: true,
        },
        &[Line::new("training loss".to_string(), loss, plot::BLUE)],
    )?;
    Ok((json_path, png_path))
}

/// The seed's figure: the whole true output curve (dashed), and for a few
/// windows the input window and its autoregressive translation
/// (`translated`, row-major over `data.fixed`).
pub fn translation_figure(
    path: &Path,
    data: &Dataset,
    ar_mse: f64,
    translated: &[f32],
) -> Result<()> {
    let (x, truth, windows) = (&data.x, &data.truth, &data.fixed);
    let title = format!(
        "{}: autoregressive translation (AR MSE {ar_mse:.2e})",
        data.name
    );
    let title = title.as_str();
    let w = windows.window;
    let n = windows.len();
    let mut lines = vec![
        Line::new(
            "truth".to_string(),
            x.iter().zip(truth).map(|(&x, &y)| (x, y as f64)).collect(),
            plot::GREY,
        )
        .dashed(),
    ];
    // The seed's windows 0, 24, 49, 74, spread over whatever n we have.
    let picks: Vec<usize> = if n >= 75 {
        vec![0, 24, 49, 74]
    } else {
        (0..4).map(|k| k * (n.saturating_sub(1)) / 3).collect()
    };
    for (k, &i) in picks.iter().enumerate() {
        if i >= n || i + w > x.len() {
            continue;
        }
        let xs = &x[i..i + w];
        let first = k == 0;
        lines.push(Line::new(
            first.then(|| "input window".to_string()),
            xs.iter()
                .zip(windows.input_row(i))
                .map(|(&x, &y)| (x, y as f64))
                .collect(),
            plot::BLUE,
        ));
        lines.push(Line::new(
            first.then(|| "translation".to_string()),
            xs.iter()
                .zip(&translated[i * w..(i + 1) * w])
                .map(|(&x, &y)| (x, y as f64))
                .collect(),
            plot::RED,
        ));
    }
    plot::line_chart(
        path,
        &Chart {
            title,
            x_label: "x",
            y_label: "value",
            log_y: false,
        },
        &lines,
    )
}
