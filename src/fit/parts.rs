//! Each recording's share of the score: every device of a fleet export
//! (`--stream-column`), every file. The table scores all windows at once;
//! a performance engineer needs to know which turbine it is that the model
//! serves poorly.

use serde::Serialize;

use super::{Prepared, Scored};

/// One recording's windows among those scored, and how the model and the
/// linear map did on them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartScore {
    pub windows: usize,
    pub model_mse: f64,
    pub model_nmse: f64,
    pub linear_nmse: f64,
}

/// Sets each recording's [`PartScore`] from the scored windows, which
/// hold each recording's windows in turn (none where the counts do not add
/// up to them: nothing rather than a wrong share).
pub fn by_recording(p: &mut Prepared, scored: &mut Scored) {
    let on = p.scored();
    let w = on.window;
    let held_out = !p.valid.is_empty();
    let counts: Vec<usize> = (p.recordings.iter())
        .map(|f| f.windows[usize::from(held_out)])
        .collect();
    let fits = counts.iter().sum::<usize>() == on.len()
        && scored.model.len() == on.target.len()
        && scored.linear.len() == on.target.len();
    let mut parts = Vec::with_capacity(counts.len());
    let mut at = 0;
    for &n in &counts {
        let rows = at * w..(at + n) * w;
        at += n;
        if !fits || n == 0 {
            parts.push(None);
            continue;
        }
        let truth = &on.target[rows.clone()];
        let mean = truth.iter().map(|&v| f64::from(v)).sum::<f64>() / truth.len() as f64;
        let variance = truth
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / truth.len() as f64;
        let model_mse = crate::data::mse(&scored.model[rows.clone()], truth);
        let linear_mse = crate::data::mse(&scored.linear[rows], truth);
        let nmse = |mse: f64| {
            if variance > 0.0 {
                mse / variance
            } else {
                f64::NAN
            }
        };
        parts.push(Some(PartScore {
            windows: n,
            model_mse,
            model_nmse: nmse(model_mse),
            linear_nmse: nmse(linear_mse),
        }));
    }
    let judged: Vec<&PartScore> = (parts.iter().flatten())
        .filter(|s| s.windows >= MARKED && s.model_nmse.is_finite())
        .collect();
    // (A fleet's devices: files of one machine, each with a quiet
    // held-out tail, are not judged so.)
    if judged.len() >= 2 && part(p) == "stream" {
        scored.comparison.set_within(crate::eval::Within {
            worse_than_mean: judged.iter().filter(|s| over_mean(s)).count(),
            of: judged.len(),
        });
    }
    for (f, part) in p.recordings.iter_mut().zip(parts) {
        f.scored = part;
    }
}

/// Each recording's name (its stream, else its file) and its windows
/// among those scored, in the order they were scored.
pub fn counts(p: &Prepared) -> Vec<(String, usize)> {
    let held_out = !p.valid.is_empty();
    (p.recordings.iter())
        .map(|f| {
            let name = match &f.recording.stream {
                Some(s) => s.clone(),
                None => f.recording.path.display().to_string(),
            };
            (name, f.windows[usize::from(held_out)])
        })
        .collect()
}

/// Where window `k` of recording `f` (in [`counts`]' order) ends: its
/// data row and, with a time column, its time; `None` where the part's
/// scored rows do not give exactly the windows scored (some left out as
/// training's).
pub fn window_end(p: &Prepared, f: usize, k: u64) -> Option<String> {
    let held_out = !p.valid.is_empty();
    let file = p.recordings.get(f)?;
    let rec = &file.recording;
    let (train, valid) = rec.split(p.validate);
    let scored = if valid.is_empty() { train } else { valid };
    let w = p.scored().window;
    let ends: Vec<usize> = (scored.iter())
        .filter(|s| s.len() >= w)
        .flat_map(|s| (0..=s.len() - w).map(move |i| s.start + i + w - 1))
        .collect();
    if ends.len() != file.windows[usize::from(held_out)] {
        return None;
    }
    let row = *ends.get(usize::try_from(k).ok()?)?;
    let time = rec
        .row_times
        .get(row)
        .copied()
        .flatten()
        .map_or(String::new(), |t| format!(", {}", rec.time_text(t)));
    Some(format!("data row {row}{time}"))
}

/// A part (with windows enough to judge) where the model does no better
/// than the truth's own mean there.
fn over_mean(s: &PartScore) -> bool {
    s.windows >= MARKED && s.model_nmse >= 1.0
}

/// Windows a part needs for its NMSE to be marked against the baselines.
const MARKED: usize = 30;

/// The lines `retrain` and `eval` print under the table where more than
/// one recording was scored: each one's windows and NMSE, the model's
/// against the linear map's.
pub fn lines(p: &Prepared) -> Vec<String> {
    let parts: Vec<(String, &PartScore)> = (p.recordings.iter())
        .filter_map(|f| {
            let name = match &f.recording.stream {
                Some(s) => format!("{s:?}"),
                None => f.recording.path.display().to_string(),
            };
            Some((name, f.scored.as_ref()?))
        })
        .collect();
    if parts.len() < 2 {
        return Vec::new();
    }
    table(&parts, part(p))
}

/// What one of `p`'s recordings is: a device of a fleet export, or a file.
fn part(p: &Prepared) -> &'static str {
    match p.recordings.iter().any(|f| f.recording.stream.is_some()) {
        true => "stream",
        false => "file",
    }
}

/// The table of [`lines`]: each part's name and score, by `by`.
fn table(parts: &[(String, &PartScore)], by: &str) -> Vec<String> {
    let width = parts
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let mut out = vec![format!(
        "  by {by:<width$}   windows  model NMSE  linear map's",
        width = width - 3
    )];
    // No NMSE where the truth does not vary (a turbine stopped all along).
    let nmse = |v: f64| match v.is_finite() {
        true => format!("{v:.4}"),
        false => "- (flat)".to_string(),
    };
    // Where the model does worse than the linear map, or than the truth's
    // own mean there: a pooled NMSE can hide both (files whose levels
    // differ, a highway drive and a city one, make a pooled variance the
    // model "explains" by telling the files apart).
    // (Not on a few windows, nor on a difference of a few percent.)
    let over = over_mean;
    let behind = |s: &PartScore| {
        s.windows >= MARKED && s.model_nmse < 1.0 && s.model_nmse > 1.02 * s.linear_nmse + 1e-4
    };
    let flag = |s: &PartScore| {
        if over(s) {
            "  worse than its mean"
        } else if behind(s) {
            "  linear map better"
        } else {
            ""
        }
    };
    out.extend(parts.iter().map(|(name, s)| {
        format!(
            "  {name:<width$} {:>9} {:>11} {:>13}{}",
            s.windows,
            nmse(s.model_nmse),
            nmse(s.linear_nmse),
            flag(s)
        )
    }));
    let (over, behind) = (
        parts.iter().filter(|(_, s)| over(s)).count(),
        parts.iter().filter(|(_, s)| behind(s)).count(),
    );
    if over > 0 {
        out.push(format!(
            "  on {over} of {} {by}s the model's NMSE is 1 or more: within each, its truth's own \
             mean does as well (a pooled NMSE well below 1 beside it says the {by}s' levels \
             differ, which the model tells apart, not that it follows the signal within one)",
            parts.len()
        ));
    }
    if behind > 0 {
        out.push(format!(
            "  on {behind} of {} {by}s the linear map does better than the model",
            parts.len()
        ));
    }
    out
}

/// The devices of the files of several read (`--stream-column`), in the
/// order of their names: what `retrain` records of a model's training.
pub fn streams(p: &Prepared) -> Vec<String> {
    let mut all: Vec<String> = (p.recordings.iter())
        .filter_map(|f| f.recording.stream.clone())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// What `eval` says of the devices it scores (`scored`) against those the
/// model was trained on: which of those the files have no rows of, and
/// which it scores on that training never saw (a model of a fleet on a
/// turbine new to it). Nothing where either side names none.
pub fn unlike_trained(trained: &[String], scored: &[String]) -> Vec<String> {
    use crate::recording::listed;
    if trained.is_empty() || scored.is_empty() {
        return Vec::new();
    }
    let not_in = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|s| !b.contains(s)).cloned().collect()
    };
    let (missing, new) = (not_in(trained, scored), not_in(scored, trained));
    let mut out = Vec::new();
    if !missing.is_empty() {
        out.push(format!(
            "the model was trained on {} device(s) ({}); the file(s) scored here have no rows \
             of {}",
            trained.len(),
            listed(trained),
            listed(&missing)
        ));
    }
    if !new.is_empty() {
        let (one, some) = (new.len() == 1, listed(&new));
        out.push(format!(
            "{}, scored here, {} none the model was trained on ({}): {} (by stream, under the \
             table) {} how it carries to {} it never saw",
            if one {
                format!("device {some}")
            } else {
                format!("devices {some}")
            },
            if one { "is" } else { "are" },
            listed(trained),
            if one { "its score" } else { "their scores" },
            if one { "says" } else { "say" },
            if one { "a device" } else { "devices" },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{PartScore, table, unlike_trained};

    #[test]
    fn parts_the_model_does_worse_on_are_marked() {
        let score = |model_nmse: f64, linear_nmse: f64| PartScore {
            windows: 100,
            model_mse: 1.0,
            model_nmse,
            linear_nmse,
        };
        let (a, b, c) = (score(0.1, 0.2), score(0.3, 0.2), score(2.5, 0.9));
        let parts = [
            ("a.csv".to_string(), &a),
            ("b.csv".into(), &b),
            ("c.csv".into(), &c),
        ];
        let lines = table(&parts, "file");
        assert_eq!(lines.len(), 6, "{lines:#?}");
        assert!(lines[1].ends_with("0.2000"), "{lines:#?}");
        assert!(
            lines[2].ends_with("0.2000  linear map better"),
            "{lines:#?}"
        );
        assert!(
            lines[3].ends_with("0.9000  worse than its mean"),
            "{lines:#?}"
        );
        assert!(lines[4].starts_with("  on 1 of 3 files the model's NMSE is 1 or more"));
        assert_eq!(
            lines[5],
            "  on 1 of 3 files the linear map does better than the model"
        );
    }

    #[test]
    fn devices_missing_or_new_to_the_model_are_said() {
        let names = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let trained = names(&["A", "B", "C"]);
        assert!(unlike_trained(&trained, &trained).is_empty());
        // Files of one device, or a model of none: nothing to compare.
        assert!(unlike_trained(&trained, &[]).is_empty());
        assert!(unlike_trained(&[], &trained).is_empty());
        let said = unlike_trained(&trained, &names(&["A", "B", "D"]));
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(said[0].ends_with("have no rows of \"C\""), "{said:?}");
        assert!(
            said[1].starts_with("device \"D\", scored here, is none"),
            "{said:?}"
        );
        let said = unlike_trained(&trained, &names(&["A", "B", "C", "D", "E"]));
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with("devices \"D\", \"E\", scored here, are"),
            "{said:?}"
        );
    }
}
