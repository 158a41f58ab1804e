//! `eval --against B`: a second model scored on the very windows the first
//! one is, and whether its error is lower beyond chance (the
//! Diebold–Mariano test the baselines get, on the two models' per-window
//! errors): the question before a reload or a promote, asked of a
//! recording instead of live traffic.

use std::path::{Path, PathBuf};

use anyhow::Result;
use pipeline::LoadedModel;
use pipeline::eval::{Difference, Score, per_window};
use pipeline::fit::{self, seen};

use super::{Usage, trained_validate};

/// The challenger's scores beside the model's.
#[derive(Debug)]
pub(super) struct Against {
    pub model: String,
    pub model_id: String,
    /// Its error on the windows the model was scored on.
    pub score: Score,
    /// Its per-window error against the model's (`t` < 0: the challenger's
    /// is lower).
    pub vs_model: Difference,
    /// Its error is lower than the model's beyond chance.
    pub better: bool,
    /// Its error is higher than the model's beyond chance.
    pub worse: bool,
    /// What makes its score lean optimistic or not comparable (trained on
    /// the rows scored, or on other channels).
    pub warnings: Vec<String>,
}

/// Loads the challenger: a model of the same window as `model`'s, whose
/// windows are the ones scored.
pub(super) fn load(path: &Path, model: &LoadedModel) -> Result<LoadedModel> {
    let w = model.model.window();
    let challenger = pipeline::format::load(path, None)?;
    let cw = challenger.model.window();
    if cw != w {
        return Err(Usage(format!(
            "--against {}: its window is {cw} samples, the model's {w}: models are compared on \
             the same windows, so of the same length",
            path.display()
        ))
        .into());
    }
    Ok(challenger)
}

/// Scores `challenger` on the windows `scored` was scored on (`p`'s), and
/// tests its per-window errors against the model's. `whole`: every row
/// was scored; else the last `validate` of each file.
pub(super) fn score(
    model: &LoadedModel,
    challenger: &LoadedModel,
    p: &fit::Prepared,
    scored: &fit::Scored,
    data: &[PathBuf],
    (whole, validate): (bool, f64),
) -> Result<Against> {
    let on = p.scored();
    let w = on.window;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pred = challenger
        .fast
        .translate_windows(&on.input, threads, &|_| {})?;
    let mean = scored.baselines.mean.predict(&on.input);
    let theirs = pipeline::eval::Comparison::new(on, &pred, &mean, &scored.linear)?.model;
    let vs_model = Difference::of(
        &per_window(&pred, &on.target, w),
        &per_window(&scored.model, &on.target, w),
        w,
    );
    let ours = scored.comparison.model.mse;
    // (Surely lower, however little: the 1% a model needs to beat a
    // baseline is no test of which of two models errs less.)
    let sure = vs_model.sure();
    let better = theirs.mse < ours && vs_model.t.is_none_or(|t| t <= -sure);
    let worse = ours < theirs.mse && vs_model.t.is_none_or(|t| t >= sure);
    let mut warnings = Vec::new();
    // Its own training rows among those scored: its score leans optimistic.
    // A file it was trained on, by its bytes; else its rows found among
    // another file's (a longer export holding them), as for the model.
    let own = trained_validate(&challenger.meta).filter(|(_, files)| {
        (data.iter()).any(|d| files.includes(d, super::super::train::csv_file_id(d).as_deref()))
    });
    if let Some((v, _)) = own {
        if whole || v < validate {
            warnings.push(format!(
                "{} was trained on some of the rows scored (it held out the last {v} of a file \
                 scored here): its score is partly in-sample",
                challenger.path.display()
            ));
        }
    } else if let Some(stored) = seen::TrainingRows::recorded(challenger.meta.metrics.as_ref()) {
        for f in &p.recordings {
            let found = seen::find(&f.recording, &stored, w);
            if !found.rows.is_empty() {
                warnings.push(format!(
                    "{}: data rows {} are, or may be, rows {} was trained on: where they are \
                     scored, its score is in-sample",
                    f.recording.source(),
                    super::seen::spans(&found.rows),
                    challenger.path.display()
                ));
            }
        }
    }
    // Another sampling rate than the recording's: its windows span
    // another length of time than it learnt from. (Where the model's is
    // the same, the recording's rate is what differs, said of both.)
    let step_of =
        |m: &LoadedModel| (m.meta.metrics.as_ref()).and_then(|m| m["time_step_s"].as_f64());
    let step = step_of(challenger).filter(|&c| step_of(model) != Some(c));
    for f in &p.recordings {
        if let Some(why) = step.and_then(|t| f.recording.other_rate(t, w, None)) {
            warnings.push(format!(
                "{} was trained on another rate: {}: {why}",
                challenger.path.display(),
                f.recording.source()
            ));
        }
    }
    // Another channel than the recording's: its scaling expects other units.
    for f in &p.recordings {
        for (what, trained, theirs) in super::other_columns(&challenger.meta, &f.recording) {
            warnings.push(format!(
                "{} was trained on {what} {trained:?}, scored here on {theirs:?}",
                challenger.path.display()
            ));
        }
    }
    warnings.dedup();
    Ok(Against {
        model: challenger.path.display().to_string(),
        model_id: challenger.id.clone(),
        score: theirs,
        vs_model,
        better,
        worse,
        warnings,
    })
}

impl Against {
    /// As `--json` gives it.
    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "model": self.model,
            "model_id": self.model_id,
            "validation": self.score,
            "vs_model": self.vs_model,
            "better": self.better,
            "worse": self.worse,
            "warnings": self.warnings,
        })
    }

    /// One line: its NMSE against the model's, and whether the difference
    /// is more than chance.
    pub(super) fn line(&self, model: &Score) -> String {
        let change = 100.0 * (self.score.mse - model.mse) / model.mse.max(f64::MIN_POSITIVE);
        let how = if self.score.mse == model.mse {
            "the same".to_string()
        } else if change < 0.0 {
            format!("{:.1}% lower", -change)
        } else {
            format!("{change:.1}% higher")
        };
        let test = match self.vs_model.t {
            Some(t) => format!(
                "t = {} over {} independent stretches of windows",
                pipeline::eval::t_figure(t),
                self.vs_model.stretches
            ),
            None => format!(
                "{} stretches of windows, too few to test",
                self.vs_model.stretches
            ),
        };
        // Beyond chance only where tested (too few stretches: the lower
        // error decides, as for the baselines, and says so).
        let sure = if self.vs_model.t.is_some() {
            ", beyond chance"
        } else {
            " (untested)"
        };
        let judged = if self.better {
            format!("better than the model on these windows{sure}")
        } else if self.worse {
            format!("worse than the model on these windows{sure}")
        } else {
            "no different from the model on these windows but by chance".to_string()
        };
        format!(
            "{} (id {}): NMSE {:.4} against the model's {:.4}, its MSE {how} ({test}): {judged}",
            self.model, self.model_id, self.score.nmse, model.nmse
        )
    }
}
