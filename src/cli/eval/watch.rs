//! `eval`'s watch line: what `serve --deviation` would say of the windows
//! scored, with the model's own threshold or the one given, so that false
//! alarms and margin show before serving.

use pipeline::config::DeviationConfig;
use pipeline::deviation::Replay;
use pipeline::fit::{self, Prepared, Scored};

use super::EvalArgs;
use crate::cli::serve::DeviationSide;

/// The replay and whence its threshold comes; `Err`: why there is none.
pub(super) type Watch = Result<(Replay, String), String>;

pub(super) fn replay(
    loaded: &pipeline::LoadedModel,
    prepared: &Prepared,
    scored: &Scored,
    a: &EvalArgs,
) -> Watch {
    let cfg = DeviationConfig {
        threshold: a.deviation,
        side: DeviationSide::side(a.deviation_side),
        windows: a
            .deviation_windows
            .unwrap_or(DeviationConfig::default().windows),
        ..Default::default()
    };
    let (t, whence) = cfg.threshold_for(loaded)?;
    let on = prepared.scored();
    let parts = fit::parts::counts(prepared);
    let mut r = pipeline::deviation::replay(&cfg, t, &parts, on.window, &scored.model, &on.target);
    r.locate(&|part, k| fit::parts::window_end(prepared, part, k));
    r.step_s = (prepared.recordings.iter()).find_map(|f| f.recording.time_step);
    Ok((r, whence))
}

/// The line people read (after `watch      `).
pub(super) fn line(watch: &Watch, held_out: bool, prepared: &Prepared) -> String {
    match watch {
        Ok((r, whence)) => {
            let line = r.line(whence, crate::cli::train::unit(prepared));
            // Windows the model was trained on lean its way.
            let seen = if held_out {
                ""
            } else {
                " (partly on windows it was trained on)"
            };
            format!("{line}{seen}")
        }
        Err(why) => format!("- ({why})"),
    }
}

/// The scores apart from the watch's deviations (see
/// `pipeline::eval::Comparison::restricted`).
pub(super) struct Apart {
    /// Windows left out: each deviation's, from the first window of the
    /// mean that began it to the window that ended it, and every window
    /// that shares a row with those.
    pub left_out: usize,
    pub deviations: usize,
    pub comparison: pipeline::eval::Comparison,
}

/// The scored windows outside the watch's deviations, scored (`None`
/// where it found none, or where too few windows are left: fewer than two
/// windows' rows).
pub(super) fn apart(watch: &Watch, prepared: &Prepared, scored: &Scored) -> Option<Apart> {
    let (r, _) = watch.as_ref().ok()?;
    if r.spans.is_empty() {
        return None;
    }
    let on = prepared.scored();
    let (n, w) = (on.len(), on.window.max(1));
    let parts = fit::parts::counts(prepared);
    let starts: Vec<usize> = (parts.iter())
        .scan(0, |at, (_, k)| {
            *at += k;
            Some(*at - k)
        })
        .collect();
    let mut keep = vec![true; n];
    // A deviation begins on the window that completes a mean of
    // `r.windows` windows W apart: its fault may start at the first.
    let back = r.windows.saturating_sub(1) * w + (w - 1);
    for s in &r.spans {
        let (from, len) = match s.index.and_then(|i| Some((*starts.get(i)?, parts[i].1))) {
            Some(part) => part,
            None => (0, n),
        };
        let lo = (s.begin as usize).saturating_sub(back).min(len);
        let hi = s.end.map_or(len, |e| (e as usize + w).min(len)).max(lo);
        for k in keep.iter_mut().skip(from + lo).take(hi - lo) {
            *k = false;
        }
    }
    let left_out = keep.iter().filter(|k| !**k).count();
    if n - left_out < 2 * w {
        return None;
    }
    let mean = scored.baselines.mean.predict(&on.input);
    let preds = [&scored.model[..], &mean, &scored.linear];
    let comparison = (scored.comparison.restricted(on, preds, &keep)).ok()?;
    Some(Apart {
        left_out,
        deviations: r.spans.len(),
        comparison,
    })
}

impl Apart {
    /// The line people read (after `apart      `).
    pub(super) fn line(&self, of: usize, unit: Option<&str>) -> String {
        let c = &self.comparison;
        let rmse = |mse: f64| {
            let r = pipeline::eval::significant(mse.sqrt());
            unit.map_or(r.clone(), |u| format!("{r} {u}"))
        };
        let share = self.left_out as f64 / of.max(1) as f64;
        // Faults are rare: a quarter of a healthy patient's windows were
        // called the faults a watch is for.
        let what = match share < 0.1 {
            true => "the faults a watch is for, which no model of the healthy signal predicts",
            false => {
                "a tenth of the windows or more: if no fault is known there, more likely the \
                 model not carrying over to this recording (another patient, unit or period) \
                 than faults, which are rare"
            }
        };
        format!(
            "without the {} of {of} windows ({:.1}%) of the watch's {} deviation(s), {what} \
             (RMSE model {}, linear map {}, mean {}): {}",
            self.left_out,
            100.0 * share,
            self.deviations,
            rmse(c.model.mse),
            rmse(c.linear_baseline.mse),
            rmse(c.mean_baseline.mse),
            c.verdict()
        )
    }

    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "windows_left_out": self.left_out,
            "deviations": self.deviations,
            "validation": self.comparison,
            "verdict": self.comparison.verdict(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Apart;

    /// A few windows apart are faults a watch is for; a quarter of them
    /// (a model of three patients on a fourth) are more likely a model
    /// that does not carry over.
    #[test]
    fn a_quarter_of_the_windows_apart_are_not_called_faults() {
        let mut valid = pipeline::data::Windows::empty(2);
        valid.input.extend([0.0f32; 16]);
        valid.target.extend((0..16).map(|i| i as f32));
        let same = valid.target.clone();
        let comparison = pipeline::eval::Comparison::new(&valid, &same, &same, &same).unwrap();
        let apart = |left_out| Apart {
            left_out,
            deviations: 3,
            comparison: comparison.clone(),
        };
        let few = apart(2).line(100, None);
        assert!(
            few.contains("(2.0%) of the watch's 3 deviation(s), the faults a watch is for"),
            "{few}"
        );
        let many = apart(25).line(100, None);
        assert!(
            many.contains("(25.0%)")
                && many.contains("more likely the model not carrying over")
                && !many.contains("the faults a watch is for"),
            "{many}"
        );
    }
}
