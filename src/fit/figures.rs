//! The figures `retrain --data` and `eval --data` draw: held-out windows
//! close up, and the whole held-out part at a glance.

use std::path::Path;

use super::{Prepared, Scored};
use crate::error::Result;
use crate::plot::{self, Chart, Line};
use crate::recording::Recording;

/// [`FIGURE_WINDOWS`] held-out windows spread evenly over the held-out
/// part, laid end to end: the input above; truth, model and linear map below.
pub fn validation_figure(path: &Path, p: &Prepared, scored: &Scored) -> Result<()> {
    let on = p.scored();
    let w = on.window;
    let names = p
        .recordings
        .first()
        .map(|r| {
            let r = &r.recording;
            (
                Recording::label(&r.input_name, r.input_unit.as_ref()),
                Recording::label(&r.output_name, r.output_unit.as_ref()),
            )
        })
        .unwrap_or_default();
    let (mut input, mut truth, mut model, mut linear) = (vec![], vec![], vec![], vec![]);
    // Spread over the held-out part: its first windows may all be one calm spell.
    let count = FIGURE_WINDOWS.min(on.len());
    let picks = (0..count).map(|k| k * (on.len() - 1) / (count - 1).max(1));
    for (k, i) in picks.enumerate() {
        for j in 0..w {
            let x = (k * w + j) as f64;
            input.push((x, on.input_row(i)[j] as f64));
            truth.push((x, on.target_row(i)[j] as f64));
            model.push((x, scored.model[i * w + j] as f64));
            linear.push((x, scored.linear[i * w + j] as f64));
        }
    }
    // One line per window, so the plot does not join a window's last
    // prediction to the next one's first.
    let split = |pts: &[(f64, f64)], label: &str, color, dashed: bool| -> Vec<Line> {
        pts.chunks(w)
            .enumerate()
            .map(|(k, c)| {
                let l = Line::new((k == 0).then(|| label.to_string()), c.to_vec(), color);
                if dashed { l.dashed() } else { l }
            })
            .collect()
    };
    let c = &scored.comparison;
    let title = format!(
        "held-out windows: model NMSE {:.3}, linear map {:.3}, mean {:.3}",
        c.model.nmse, c.linear_baseline.nmse, c.mean_baseline.nmse
    );
    let top_label = format!("input: {}", names.0);
    let bottom_label = format!("output: {}", names.1);
    let mut bottom = split(&truth, "truth", plot::GREY, false);
    bottom.extend(split(&linear, "linear map", plot::GREEN, true));
    bottom.extend(split(&model, "model", plot::RED, false));
    plot::stacked_charts(
        path,
        &title,
        (
            &Chart {
                title: &top_label,
                x_label: "",
                y_label: "input",
                log_y: false,
            },
            &split(&input, "input", plot::BLUE, false),
        ),
        (
            &Chart {
                title: &bottom_label,
                x_label: "sample (held-out windows spread over the held-out part, each translated on its own)",
                y_label: "output",
                log_y: false,
            },
            &bottom,
        ),
    )
}

/// Held-out windows drawn in the validation figure.
pub const FIGURE_WINDOWS: usize = 8;

/// Points drawn at most in the overview: one per window up to this, every
/// k-th beyond (a 60,000-row held-out part draws in a second, and reads).
const OVERVIEW_POINTS: usize = 4000;

/// The whole held-out part at a glance: for every held-out window, its last
/// step (the newest sample, the one a live consumer sees translated first)
/// as the truth, the model and the linear map give it, in file order.
pub fn overview_figure(path: &Path, p: &Prepared, scored: &Scored) -> Result<()> {
    let on = p.scored();
    let (w, n) = (on.window, on.len());
    if n == 0 || w == 0 {
        return Ok(());
    }
    let every = n.div_ceil(OVERVIEW_POINTS).max(1);
    let last = |values: &[f32]| -> Vec<(f64, f64)> {
        (0..n)
            .step_by(every)
            .map(|i| (i as f64, f64::from(values[i * w + w - 1])))
            .collect()
    };
    let output = p.recordings.first().map_or_else(String::new, |r| {
        Recording::label(&r.recording.output_name, r.recording.output_unit.as_ref())
    });
    let c = &scored.comparison;
    let title = format!(
        "{} {} windows' last steps; NMSE (all steps): model {:.3}, linear map {:.3}",
        n,
        if c.never_seen { "unseen" } else { "held-out" },
        c.model.nmse,
        c.linear_baseline.nmse
    );
    let x_label = if every > 1 {
        format!("held-out window, in file order (one in {every} drawn)")
    } else {
        "held-out window, in file order".to_string()
    };
    plot::line_chart(
        path,
        &Chart {
            title: &title,
            x_label: &x_label,
            y_label: &output,
            log_y: false,
        },
        &[
            Line::new("truth".to_string(), last(&on.target), plot::GREY),
            Line::new("linear map".to_string(), last(&scored.linear), plot::GREEN).dashed(),
            Line::new("model".to_string(), last(&scored.model), plot::RED),
        ],
    )
}
