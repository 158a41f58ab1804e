//! The figures `retrain --data` and `eval --data` draw: held-out windows
//! close up, and the whole held-out part at a glance.

use std::path::{Path, PathBuf};

use super::{FitReport, Prepared, Scored};
use crate::error::Result;
use crate::plot::{self, Chart, Line};
use crate::recording::Recording;
use crate::train::EpochStats;

/// [`FIGURE_WINDOWS`] held-out windows spread over the held-out part (one
/// from each equal part, where the signal moves), laid end to end: the
/// input above; truth, model and linear map below.
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
    let picks = figure_picks(on, FIGURE_WINDOWS);
    for (k, i) in picks.into_iter().enumerate() {
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
    let kind = scored_kind(c);
    let title = format!(
        "{kind} windows: model NMSE {:.3}, linear map {:.3}, mean {:.3}",
        c.model.nmse, c.linear_baseline.nmse, c.mean_baseline.nmse
    );
    let x_label = format!(
        "sample ({kind} windows spread over the {} recording, where its truth moves, each translated on its own)",
        if c.held_out && !c.never_seen {
            "held-out part of the"
        } else {
            "scored part of the"
        }
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
                x_label: &x_label,
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
    // Beyond OVERVIEW_POINTS, each run of `every` windows is drawn by its
    // lowest and highest last step, in their order: one in `every` drawn
    // hid most spikes.
    let every = (2 * n).div_ceil(OVERVIEW_POINTS).max(1);
    let last = |values: &[f32]| -> Vec<(f64, f64)> {
        let at = |i: usize| (i as f64, f64::from(values[i * w + w - 1]));
        if every == 1 {
            return (0..n).map(at).collect();
        }
        (0..n)
            .step_by(every)
            .flat_map(|start| {
                let run = start..(start + every).min(n);
                let by = |a: &usize, b: &usize| at(*a).1.total_cmp(&at(*b).1);
                let (lo, hi) = (run.clone().min_by(by), run.max_by(by));
                match (lo, hi) {
                    (Some(lo), Some(hi)) if lo != hi => vec![at(lo.min(hi)), at(lo.max(hi))],
                    (Some(i), _) => vec![at(i)],
                    _ => vec![],
                }
            })
            .collect()
    };
    let output = p.recordings.first().map_or_else(String::new, |r| {
        Recording::label(&r.recording.output_name, r.recording.output_unit.as_ref())
    });
    let c = &scored.comparison;
    let kind = scored_kind(c);
    let title = format!(
        "{n} {kind} windows' last steps; NMSE: model {:.3}, linear {:.3}, mean {:.3}",
        c.model.nmse, c.linear_baseline.nmse, c.mean_baseline.nmse
    );
    let x_label = if every > 1 {
        format!("{kind} window, in file order (of each {every}, the lowest and highest drawn)")
    } else {
        format!("{kind} window, in file order")
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

/// What the scored windows are to the model: held out of its training,
/// never seen by it, or (`--validate 0`, a larger `--validate` on a
/// training file) training windows.
fn scored_kind(c: &crate::eval::Comparison) -> &'static str {
    match (c.held_out, c.never_seen) {
        (true, false) => "held-out",
        (true, true) => "unseen",
        (false, _) => "training",
    }
}

/// Writes the report JSON, the learning curves and the validation figure
/// beside `model_path`; returns their paths.
pub fn write_report(
    model_path: &Path,
    report: &FitReport,
    p: &Prepared,
    scored: &Scored,
) -> Result<Vec<PathBuf>> {
    let json_path = crate::report::write_json(model_path, report)?;

    let curves = crate::report::companion(model_path, "loss.png");
    let xy = |f: fn(&EpochStats) -> Option<f64>| -> Vec<(f64, f64)> {
        report
            .history
            .iter()
            .filter_map(|s| f(s).map(|y| (s.step as f64, y)))
            .collect()
    };
    let mut lines = vec![Line::new(
        "training loss: each step from the true one before (teacher-forced)".to_string(),
        xy(|s| Some(s.loss)),
        plot::BLUE,
    )];
    let val = xy(|s| s.val_ar_mse);
    if !val.is_empty() {
        lines.push(Line::new(
            "held-out MSE: whole windows from the model's own steps, as served".to_string(),
            val,
            plot::RED,
        ));
    }
    let title = format!(
        "training on {} rows: kept step {}",
        report.data.iter().map(|f| f.train_rows).sum::<usize>(),
        report
            .best_step
            .map_or_else(|| "last".to_string(), |s| s.to_string())
    );
    plot::line_chart(
        &curves,
        &Chart {
            title: &title,
            x_label: "optimiser step",
            y_label: "MSE in scaled units (log scale)",
            log_y: true,
        },
        &lines,
    )?;

    let fig = crate::report::companion(model_path, "validation.png");
    validation_figure(&fig, p, scored)?;
    let overview = crate::report::companion(model_path, "heldout.png");
    overview_figure(&overview, p, scored)?;
    Ok(vec![json_path, curves, fig, overview])
}

/// The windows a figure draws, `count` at most: one from each of `count`
/// equal parts of `on` (its first windows may all be one calm spell), the
/// part's window at the 90th percentile of its truth's range: one that
/// shows the signal moving (evenly spaced picks of a PV plant's windows all
/// fell at night), but not its one glitch.
fn figure_picks(on: &crate::data::Windows, count: usize) -> Vec<usize> {
    let (n, count) = (on.len(), count.min(on.len()));
    let range = |i: usize| {
        let row = on.target_row(i);
        let (lo, hi) = (row.iter()).fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
        hi - lo
    };
    (0..count)
        .map(|k| {
            let part = k * n / count..((k + 1) * n / count).max(k * n / count + 1);
            let mut by_range: Vec<(f32, usize)> = part.map(|i| (range(i), i)).collect();
            by_range.sort_by(|a, b| a.0.total_cmp(&b.0));
            by_range[by_range.len() - 1 - by_range.len() / 10].1
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A day-and-night signal whose evenly spaced windows all fall at
    /// night: each part's pick is a day's window, in order.
    #[test]
    fn the_windows_drawn_show_the_signal_moving() {
        let (w, day) = (4, 288);
        let rows = 30 * day;
        let output: Vec<f32> = (0..rows)
            .map(|i| match (i % day) as f32 / day as f32 {
                f if (0.4..0.6).contains(&f) => (f * 200.0).sin() * 100.0,
                _ => -0.1,
            })
            .collect();
        let on = crate::data::Windows::sliding(&output, &output, w).unwrap();
        let picks = figure_picks(&on, 8);
        assert_eq!(picks.len(), 8);
        assert!(picks.windows(2).all(|p| p[0] < p[1]), "{picks:?}");
        for i in picks {
            let row = on.target_row(i);
            assert!(row.iter().any(|&v| v != -0.1), "window {i} is all night");
        }
        assert_eq!(figure_picks(&on, 0), Vec::<usize>::new());
        // Parts of two windows: the one that moves more of each.
        let target = [0.0, 0.0, 5.0, 5.0, 0.0, 3.0, 3.0, 0.0];
        let few = crate::data::Windows::sliding(&[0.0; 8], &target, 2).unwrap();
        assert_eq!(figure_picks(&few, 3), vec![1, 3, 4]);
    }
}
