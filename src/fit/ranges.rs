//! The range of values a model was trained on, and what to say when the
//! data it is scored on goes beyond it (a model extrapolates there).

use serde::Serialize;

use super::Prepared;
use crate::data::Windows;

/// The values a model was trained on, per channel, as `[min, max]`
/// (recorded in its metrics as `"ranges"`, so that `eval` on a later
/// recording compares with what the model saw, not with that file's start).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Ranges {
    pub input: [f32; 2],
    pub output: [f32; 2],
}

/// Share of a held-out channel's values outside the training range above
/// which it is said (noise at the extremes of a covered range is not).
const BEYOND_SHARE: f64 = 0.01;
/// How far past the training range, as a share of its span, a value must
/// lie to count: a periodic or clipped signal's held-out part reaches the
/// same extremes a hair further, which is no extrapolation.
const BEYOND_MARGIN: f32 = 0.02;

/// More than [`BEYOND_MARGIN`] of the range's span past it.
fn clearly_outside([lo, hi]: [f32; 2], v: f32) -> bool {
    let m = BEYOND_MARGIN * (hi - lo);
    v < lo - m || v > hi + m
}

/// `1.8%`, `34%`: two significant digits below 10%.
fn percent(share: f64) -> String {
    match 100.0 * share {
        p if p < 10.0 => format!("{p:.1}%"),
        p => format!("{p:.0}%"),
    }
}

fn span(values: &[f32]) -> Option<[f32; 2]> {
    let first = *values.first()?;
    Some(
        values
            .iter()
            .fold([first, first], |[lo, hi], &v| [lo.min(v), hi.max(v)]),
    )
}

impl Ranges {
    /// The training part's ranges.
    pub fn of_training(p: &Prepared) -> Option<Self> {
        Some(Self {
            input: span(&p.train_input)?,
            output: span(&p.train_output)?,
        })
    }

    /// The ranges a model's metrics recorded (`None` for models from
    /// before they were).
    pub fn recorded(metrics: Option<&serde_json::Value>) -> Option<Self> {
        serde_json::from_value(metrics?.get("ranges")?.clone()).ok()
    }

    /// The summed squared errors of each of `predictions` (row-major, as
    /// `on.target`) on the scored windows that stay within these ranges
    /// (`None`: no such window), to tell a model that fails by
    /// extrapolating from one that fails everywhere.
    pub fn errors_within<const N: usize>(
        &self,
        on: &Windows,
        predictions: [&[f32]; N],
    ) -> Option<[f64; N]> {
        let inside = |range, v: &[f32]| !v.iter().any(|&v| clearly_outside(range, v));
        let w = on.window.max(1);
        let (mut errors, mut windows) = ([0.0; N], 0);
        for (k, (x, y)) in on.input.chunks(w).zip(on.target.chunks(w)).enumerate() {
            if !(inside(self.input, x) && inside(self.output, y)) {
                continue;
            }
            for (e, p) in errors.iter_mut().zip(predictions) {
                let p = p.get(k * w..(k + 1) * w).unwrap_or_default();
                *e += p
                    .iter()
                    .zip(y)
                    .map(|(p, t)| f64::from(p - t).powi(2))
                    .sum::<f64>();
            }
            windows += 1;
        }
        (windows > 0).then_some(errors)
    }

    /// What to tell the user where over 1% of the model's translations
    /// (`pred`, row-major as `on.target`) lie clearly outside the output's
    /// training range while the truth at those samples does not: the model
    /// passes a limit the output never passed in training (an inverter's
    /// rating, a valve fully open, zero), which it does not know.
    pub fn translations_beyond(
        &self,
        on: &Windows,
        pred: &[f32],
        unit: Option<&str>,
    ) -> Option<String> {
        let [lo, hi] = self.output;
        let past: Vec<f32> = (pred.iter().zip(&on.target))
            .filter(|(p, t)| {
                clearly_outside(self.output, **p) && !clearly_outside(self.output, **t)
            })
            .map(|(p, _)| *p)
            .collect();
        if (past.len() as f64) <= BEYOND_SHARE * pred.len() as f64 {
            return None;
        }
        let [min, max] = span(&past)?;
        let n = |v: f32| {
            let v = crate::eval::significant(f64::from(v));
            unit.map_or(v.clone(), |u| format!("{v} {u}"))
        };
        let reach = match (min < lo, max > hi) {
            (true, true) => format!("down to {} and up to {}", n(min), n(max)),
            (true, false) => format!("down to {}", n(min)),
            _ => format!("up to {}", n(max)),
        };
        Some(format!(
            "the model's translations pass the output's training range where the truth does \
             not: {} of their values ({}) lie more than {} past the {} to {} the output stayed \
             within in training, {reach}; a limit the output never passes (a rating, a valve fully \
             open, zero) is one the model does not know: clamp its translations to it where they \
             are used",
            past.len(),
            percent(past.len() as f64 / pred.len().max(1) as f64),
            n(BEYOND_MARGIN * (hi - lo)),
            n(lo),
            n(hi)
        ))
    }

    /// What to tell the user when over 1% of the scored windows' inputs or
    /// targets (`what`: "the held-out part", "the recording") lie outside
    /// these ranges: a model extrapolates there (none of retrain's knobs
    /// helps; data that covers the range does).
    ///
    /// `from` says where the ranges come from: "training saw", or, for a
    /// model that recorded none, the recording's own first part.
    pub fn beyond(&self, on: &Windows, what: &str, from: &str) -> Option<String> {
        let side = |name: &str, [lo, hi]: [f32; 2], values: &[f32]| {
            let outside = values
                .iter()
                .filter(|&&v| clearly_outside([lo, hi], v))
                .count();
            if (outside as f64) <= BEYOND_SHARE * values.len() as f64 {
                return None;
            }
            // Said as the share outside the range itself (what the message
            // names), a little more than the share that counted.
            let outside = values.iter().filter(|&&v| v < lo || v > hi).count();
            let [min, max] = span(values)?;
            let n = |v: f32| crate::eval::significant(f64::from(v));
            let reach = match (min < lo, max > hi) {
                (true, true) => format!("{} to {}", n(min), n(max)),
                (true, false) => format!("down to {}", n(min)),
                _ => format!("up to {}", n(max)),
            };
            Some(format!(
                "{name} {reach} ({} of its values outside the {} to {} {from})",
                percent(outside as f64 / values.len() as f64),
                n(lo),
                n(hi)
            ))
        };
        let parts: Vec<String> = [
            side("input", self.input, &on.input),
            side("output", self.output, &on.target),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| {
            format!(
                "{what} goes beyond the training range: {}; a model extrapolates \
                 there, seldom well: train on a recording that covers the range the service \
                 will see",
                parts.join("; ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Translations past the output's training range where the truth is
    /// within it (an inverter's 80 kW rating the model overshoots) are
    /// said, over 1% of the values; where the truth is past it too (a
    /// colder day), that is the data's range, said elsewhere.
    #[test]
    fn translations_past_the_outputs_range_are_said() {
        let ranges = Ranges {
            input: [0.0, 1000.0],
            output: [0.0, 80.0],
        };
        let on = Windows {
            window: 4,
            input: vec![500.0; 400],
            target: (0..400).map(|i| if i < 4 { 90.0 } else { 79.0 }).collect(),
        };
        let pred = |over: usize, to: f32| -> Vec<f32> {
            (0..400).map(|i| if i < over { to } else { 78.0 }).collect()
        };
        // 3 of 400 past it (the truth there past it too: not counted).
        assert_eq!(ranges.translations_beyond(&on, &pred(3, 96.0), None), None);
        assert_eq!(ranges.translations_beyond(&on, &pred(20, 81.0), None), None);
        let why = (ranges.translations_beyond(&on, &pred(20, 95.9), Some("kW"))).unwrap();
        assert!(
            why.contains(
                "16 of their values (4.0%) lie more than 1.600 kW past the 0 kW to 80.00 kW the \
                 output stayed within in training, up to 95.90 kW"
            ),
            "{why}"
        );
    }

    /// Held-out values beyond the training range are said (over 1% of
    /// them), with how far they go; a stray extreme value is not.
    #[test]
    fn a_held_out_part_beyond_the_training_range_is_said() {
        let ranges = Ranges {
            input: [0.0, 10.0],
            output: [20.0, 50.0],
        };
        let held = |input: Vec<f32>, target: Vec<f32>| Windows {
            window: 2,
            input,
            target,
        };
        let inside = held(vec![1.0, 9.0, 0.0, 10.0], vec![20.0, 50.0, 30.0, 40.0]);
        assert_eq!(
            ranges.beyond(&inside, "the held-out part", "training saw"),
            None
        );
        let colder = held(vec![-5.0, -4.0, 1.0, 2.0], vec![55.0, 62.5, 30.0, 40.0]);
        let why = ranges
            .beyond(&colder, "the held-out part", "training saw")
            .unwrap();
        assert!(
            why.contains("input down to -5.000 (50% of its values outside the 0 to 10.00")
                && why.contains("output up to 62.50 (50% of its values outside the 20.00 to 50.00"),
            "{why}"
        );
        // Which of the model and the linear map does better on the windows
        // within the range (the second: [1, 2] → [30, 40]) tells a model
        // that fails by extrapolating from one that fails everywhere.
        let (good_within, bad_within) = ([0.0, 0.0, 30.0, 40.0], [55.0, 62.5, 35.0, 45.0]);
        let linear = [55.0, 62.5, 31.0, 41.0];
        let within = ranges.errors_within(&colder, [&good_within, &bad_within, &linear]);
        assert_eq!(within, Some([0.0, 50.0, 2.0]));
        let all_out = held(vec![-5.0; 4], vec![60.0; 4]);
        assert_eq!(ranges.errors_within(&all_out, [&bad_within]), None);
        // The share said is that outside the range itself, as it reads.
        let few = held(
            (0..200).map(|i| if i < 3 { -1.0 } else { 5.0 }).collect(),
            vec![30.0; 200],
        );
        let why = ranges
            .beyond(&few, "the recording", "training saw")
            .unwrap();
        assert!(why.contains("(1.5% of its values outside"), "{why}");
        // Reaching the same extremes a hair further (a periodic signal's
        // held-out part): no extrapolation.
        let edge = held(vec![-0.1, 10.1, 5.0, 5.0], vec![19.5, 50.5, 30.0, 40.0]);
        assert_eq!(
            ranges.beyond(&edge, "the held-out part", "training saw"),
            None
        );
        // One value in 200 just outside: noise at the edge, not said.
        let mut input = vec![5.0; 200];
        input[7] = 10.5;
        assert_eq!(
            ranges.beyond(
                &held(input, vec![30.0; 200]),
                "the held-out part",
                "training saw"
            ),
            None
        );
        // Recorded in the model's metrics and read back.
        let metrics = serde_json::json!({ "ranges": ranges });
        assert_eq!(Ranges::recorded(Some(&metrics)), Some(ranges));
        assert_eq!(Ranges::recorded(Some(&serde_json::json!({}))), None);
    }
}
