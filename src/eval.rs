//! Accuracy: autoregressive MSE on the grid windows and on random-phase
//! windows (how a live stream is sampled), and teacher-forced MSE.

use serde::{Deserialize, Serialize};

use crate::data::Windows;
use crate::error::Result;
use crate::model::Seq2Seq;
use crate::pairs::Pair;
use crate::rng::Rng;

/// Random-phase windows per evaluation.
pub const RANDOM_WINDOWS: usize = 1000;
/// Default seed of the evaluation's random phases: fixed, so figures in
/// reports and model files compare across runs and models.
pub const EVAL_SEED: u64 = 1;

/// The accuracy figures of one model on one pair (or data set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Autoregressive MSE over the fixed windows (grid, or the CSV's).
    pub ar_mse_grid: f64,
    /// Autoregressive MSE over random-phase windows (pairs only).
    pub ar_mse_random: Option<f64>,
    /// Teacher-forced MSE over the fixed windows.
    pub tf_mse_grid: f64,
    pub grid_windows: usize,
    pub random_windows: usize,
    pub eval_seed: u64,
}

pub use crate::data::mse;

mod apart;
mod difference;
mod slow;
pub use difference::{Difference, MATERIAL, SURE_T, per_window, sure_t};
pub use slow::ErrorParts;
mod shown;
pub use shown::{around, newest_line, newest_rmse, significant, t_figure};
mod units;
mod within;
pub use units::{base_name, same_channel, same_unit, squared, unit_of};
pub use within::Within;

/// Autoregressive translations of `w` and their MSE against its targets.
pub fn ar_mse(model: &Seq2Seq, w: &Windows) -> Result<(f64, Vec<f32>)> {
    let pred = model.translate_rows(&w.input)?;
    Ok((mse(&pred, &w.target), pred))
}

/// Metrics over fixed windows and, when a pair is given, over
/// [`RANDOM_WINDOWS`] random-phase windows drawn with `seed`. Also returns
/// the translations of the fixed windows (for plotting).
pub fn evaluate(
    model: &Seq2Seq,
    fixed: &Windows,
    pair: Option<&Pair>,
    seed: u64,
) -> Result<(Metrics, Vec<f32>)> {
    let (ar_mse_grid, pred) = ar_mse(model, fixed)?;
    let tf_mse_grid = crate::train::teacher_forced_mse(model, fixed)?;
    let ar_mse_random = match pair {
        Some(p) => {
            let mut rng = Rng::new(seed);
            let w = Windows::random_phase(p, model.window(), RANDOM_WINDOWS, &mut rng);
            Some(ar_mse(model, &w)?.0)
        }
        None => None,
    };
    Ok((
        Metrics {
            ar_mse_grid,
            ar_mse_random,
            tf_mse_grid,
            grid_windows: fixed.len(),
            random_windows: if pair.is_some() { RANDOM_WINDOWS } else { 0 },
            eval_seed: seed,
        },
        pred,
    ))
}

/// One predictor's error on the validation windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Mean squared error, in the output channel's physical units squared.
    pub mse: f64,
    /// `mse` / variance of the target: 1 is what predicting the target's
    /// own mean would score, 0 is perfect.
    pub nmse: f64,
}

/// The advice for a run that was still improving when its budget ran out.
const STILL_IMPROVING: &str = "it was still improving when its budget ran out: train longer \
     (--steps, --time-budget)";

/// The advice for a model that loses on data holding a missing-value code
/// or a fill: values that are no measurement set the scaling and the error.
const FILL_FIRST: &str = "the data holds what looks like a missing-value code or a logger's fill \
     (see the warning above): name it with --missing and --skip-bad-rows, to train and to score";

/// The advice where the output holds spikes: they, not the model, may set
/// every score (22 spikes in 6,000 rows took every NMSE to about 1, as if
/// nothing were learnt).
const SPIKES_FIRST: &str = "the output column holds spikes in the rows scored (values beyond 8 \
     robust spreads of its median), which weigh in every score, the baselines' too, and can make a good \
     model score as the mean does: remove them, or name their value with --missing and \
     --skip-bad-rows, and judge it again";

/// A model NMSE from which, not beating the mean, it has learnt next to
/// nothing of the output from the input.
const EXPLAINS_NOTHING: f64 = 0.9;

/// The advice then: the channels, before the training.
const NOTHING_LEARNT: &str = "it explains next to none of the output's variance, so the output may \
     not depend on the input window at all: a noise channel, another process, or the wrong column; \
     check the columns before training longer";

/// The advice for a model scored on input unlike its training input.
const UNLIKE_FIRST: &str = "the input scored is unlike what it was trained on (another channel, other \
     units or another period: see the warning above), which more training on the same recording \
     does not mend: the same channel in another range needs a recording that covers it";

/// What `--residual` does, where the linear map wins.
const RESIDUAL: &str = "retrain --residual: the model is then the linear map and a network trained \
     on what the map leaves, at least about as good as the map on rows like those it was trained \
     on (a recording unlike them, another patient or unit, may still favour the map)";
/// The advice for a model whose error is mostly slow (the warning says
/// what it is made of).
const SLOW_FIRST: &str = "most of its error changes more slowly than a window: see the warning";

/// A model's NMSE from which a win over the baselines is said to explain
/// little of the signal (half its variance left).
const LITTLE: f64 = 0.5;

/// A linear map's NMSE below which it is close to exact (the verdict says
/// a linear relationship, not a weak model, is why the model loses).
const NEAR_EXACT: f64 = 0.01;

/// A model against the two baselines on the same held-out windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Validation windows scored.
    pub windows: usize,
    /// Variance of the target samples of those windows (physical units²).
    pub target_variance: f64,
    pub model: Score,
    /// Predicting the training split's mean of the output channel.
    pub mean_baseline: Score,
    /// The least-squares linear map from the W inputs to the W outputs,
    /// fitted on the training windows.
    pub linear_baseline: Score,
    /// `1 − model NMSE / linear NMSE`: how much of the linear map's error the
    /// model removes (0.15 = 15% lower NMSE; negative = worse).
    pub gain_over_linear: f64,
    /// The model's error is below both baselines', by 1% or more
    /// ([`MATERIAL`]) and by more than chance where the
    /// windows allow the test ([`Difference`]).
    pub beats_baselines: bool,
    /// It beats both baselines and its NMSE is below 1 (`--strict`'s test,
    /// and what a script deciding whether to deploy it reads).
    #[serde(default)]
    pub worth_serving: bool,
    /// The model's error against the linear map's: how sure the difference.
    #[serde(default)]
    pub vs_linear: Difference,
    /// And against the mean's.
    #[serde(default)]
    pub vs_mean: Difference,
    /// Scored on held-out windows (false with `--validate 0`: in-sample,
    /// which flatters every predictor).
    pub held_out: bool,
    /// Every window of recordings the model was never trained on (`eval`
    /// on a new recording), not a held-out part.
    #[serde(default)]
    pub never_seen: bool,
    /// The scored windows go beyond the range the model was trained on
    /// (see `fit::Ranges::beyond`): the verdict says so instead of advising
    /// more training.
    #[serde(default)]
    pub beyond_training: bool,
    /// With `beyond_training`: whether, on the windows within the training
    /// range, the model beats the baselines it loses to overall (`None`:
    /// no window is within), which tells extrapolation from a model that
    /// fails everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wins_within_range: Option<bool>,
    /// The run ended on its budget with its last measurement its best
    /// (`retrain`): more training would likely help. A fact of training,
    /// said in the verdict, not part of the scores (`eval` reproduces
    /// those).
    #[serde(skip)]
    pub still_improving: bool,
    /// The data holds what looks like a missing-value code or a logger's
    /// fill (warned): a model that loses is pointed at it first, where
    /// more training would not help.
    #[serde(skip)]
    pub fill_suspected: bool,
    /// The output holds spikes (warned): a model that loses is pointed at
    /// them before the channels or more training.
    #[serde(skip)]
    pub output_spikes: bool,
    /// How the model's error splits over time (a bias, offsets that hold
    /// through windows, the rest).
    #[serde(default)]
    pub error_parts: ErrorParts,
    /// The input scored is unlike the model's training input (another
    /// channel, other units, another period: `eval` warned): a model that
    /// loses is pointed at that first.
    #[serde(skip)]
    pub input_unlike_training: bool,
    /// The model is residual over the linear map (`retrain --residual`): a
    /// model that loses to the map is not pointed at `--residual` again.
    #[serde(skip)]
    pub residual: bool,
    /// Where a fleet's streams were scored: in how many the model
    /// does no better than their own means ([`Within::hollow`]: not worth
    /// serving, whatever the pooled scores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Within>,
}

impl Comparison {
    /// Sets [`Self::within`], and with it whether the model is worth
    /// serving.
    pub fn set_within(&mut self, within: Within) {
        self.worth_serving &= !within.hollow();
        self.within = Some(within);
    }

    /// Scores `model`, `mean` and `linear` predictions (row-major, like
    /// `valid.target`) against `valid`'s targets.
    pub fn new(valid: &Windows, model: &[f32], mean: &[f32], linear: &[f32]) -> Result<Self> {
        let model_pred = model;
        if valid.is_empty() {
            return Err(crate::error::Error::Data(
                "no validation windows to score".into(),
            ));
        }
        let n = valid.target.len() as f64;
        let mu = valid.target.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = valid
            .target
            .iter()
            .map(|&v| (v as f64 - mu).powi(2))
            .sum::<f64>()
            / n;
        let w = valid.window;
        // Each window's MSE, once: the test reads them, and their mean is
        // the whole MSE (every window holds W samples).
        let errors = |p: &[f32]| difference::per_window(p, &valid.target, w);
        let (em, emean, elin) = (errors(model), errors(mean), errors(linear));
        let score = |e: &[f64]| {
            let m = e.iter().sum::<f64>() / e.len() as f64;
            Score {
                mse: m,
                nmse: if var > 0.0 { m / var } else { f64::NAN },
            }
        };
        let (vs_linear, vs_mean) = (
            Difference::of(&em, &elin, w),
            Difference::of(&em, &emean, w),
        );
        let (model, mean_baseline, linear_baseline) = (score(&em), score(&emean), score(&elin));
        let beats_baselines = vs_linear.model_wins(model.mse, linear_baseline.mse)
            && vs_mean.model_wins(model.mse, mean_baseline.mse);
        Ok(Self {
            windows: valid.len(),
            target_variance: var,
            gain_over_linear: 1.0 - model.mse / linear_baseline.mse,
            beats_baselines,
            worth_serving: beats_baselines && model.nmse < 1.0,
            vs_linear,
            vs_mean,
            held_out: true,
            never_seen: false,
            beyond_training: false,
            wins_within_range: None,
            still_improving: false,
            fill_suspected: false,
            output_spikes: false,
            error_parts: ErrorParts::of(model_pred, &valid.target, w),
            input_unlike_training: false,
            residual: false,
            within: None,
            model,
            mean_baseline,
            linear_baseline,
        })
    }

    /// What to look at first where the model explains little: what the
    /// data's warnings found, before more training.
    fn first_cause(&self) -> Option<&'static str> {
        if self.input_unlike_training {
            Some(UNLIKE_FIRST)
        } else if self.fill_suspected {
            Some(FILL_FIRST)
        } else if self.output_spikes {
            Some(SPIKES_FIRST)
        } else if self.still_improving {
            Some(STILL_IMPROVING)
        } else if self.error_parts.mostly_slow(self.model.nmse) {
            Some(SLOW_FIRST)
        } else {
            None
        }
    }

    /// One line saying whether the model is worth serving.
    pub fn verdict(&self) -> String {
        if let Some(w) = (self.within.as_ref())
            .filter(|w| self.beats_baselines && self.model.nmse < 1.0 && w.hollow())
        {
            w.verdict(self.gain_over_linear)
        } else if self.beats_baselines && self.model.nmse >= 1.0 {
            // Both baselines fitted on too little (or unrepresentative)
            // training data: beating them says nothing.
            format!(
                "WARNING: the model beats both baselines, but its error is larger than the \
                 held-out signal's own variance (NMSE {:.2} on {} window(s)): the baselines are \
                 poor here, not the model good; do not serve it as it is ({})",
                self.model.nmse,
                self.windows,
                self.first_cause().unwrap_or("more data may help")
            )
        } else if self.beats_baselines {
            let sure = self.vs_linear.t.map_or(String::new(), |t| {
                format!(
                    ", beyond chance (t = {}, {} independent stretches of windows)",
                    t_figure(t),
                    self.vs_linear.stretches
                )
            });
            // A win that leaves most of the signal unexplained (the pooled
            // baselines poor on a recording with a stop in it, say): said.
            let little = match self.model.nmse >= LITTLE {
                true => format!(
                    "; but it leaves {:.0}% of the held-out signal's variance (NMSE {:.3}): it \
                     explains little of the signal, so judge the gain by the RMSE in the \
                     channel's units{}",
                    100.0 * self.model.nmse,
                    self.model.nmse,
                    self.first_cause()
                        .map_or(String::new(), |c| format!(" ({c})"))
                ),
                false => String::new(),
            };
            format!(
                "the model beats both baselines: NMSE {:.1}% below the linear map's{sure}{little}",
                100.0 * self.gain_over_linear
            )
        } else if self.residual
            && self.model.nmse < 1.0
            && self
                .vs_mean
                .model_wins(self.model.mse, self.mean_baseline.mse)
            && self.vs_linear.t.is_none_or(|t| t < self.vs_linear.sure())
        {
            // A residual model is its map and a correction: one whose
            // correction adds nothing is the map, worth what the map is.
            // (Surely lower, but by less than 1%: little, not nothing.)
            let adds = match self
                .vs_linear
                .t
                .is_some_and(|t| t <= -self.vs_linear.sure())
            {
                true => "adds less than 1% to what the map explains",
                false => "adds nothing the map leaves beyond chance",
            };
            format!(
                "the model serves the linear map: its network {adds} (NMSE {:.4} against the \
                 map's {:.4}{}), and it beats the mean (NMSE {:.4}); serve it as the map, or give \
                 the network more to learn from (more data, another --window), unless what the map \
                 leaves lies in no window of this input (a schedule, a setpoint, another process: \
                 the model reads this one channel)",
                self.model.nmse,
                self.linear_baseline.nmse,
                (self.vs_linear.t).map_or(String::new(), |t| format!(", t = {}", t_figure(t))),
                self.mean_baseline.nmse
            )
        } else {
            let baselines = [
                ("the linear map", &self.linear_baseline, &self.vs_linear),
                ("the mean", &self.mean_baseline, &self.vs_mean),
            ];
            let worse: Vec<&str> = baselines
                .iter()
                .filter(|(_, b, d)| !d.model_wins(self.model.mse, b.mse))
                .map(|(n, _, _)| *n)
                .collect();
            // Lower than a baseline, but by no more than chance, or by too
            // little to matter: said, with the figures, so that a lower
            // NMSE is not read as a win.
            let (slight, chance): (Vec<_>, Vec<_>) = baselines
                .iter()
                .filter(|(_, b, d)| d.lower_by_chance(self.model.mse, b.mse))
                .partition(|(_, b, _)| !difference::material(self.model.mse, b.mse));
            let named = |v: Vec<&(&str, &Score, &Difference)>| -> Vec<(String, Difference)> {
                (v.into_iter())
                    .map(|(n, b, d)| (format!("{n}'s {:.5}", b.nmse), **d))
                    .collect()
            };
            let (slight, chance) = (named(slight), named(chance));
            let names = |v: &[(String, Difference)]| {
                v.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            };
            let mut lower = Vec::new();
            if !chance.is_empty() {
                lower.push(format!(
                    "below {} by no more than chance (t = {} over {} independent stretches of \
                     windows)",
                    names(&chance),
                    chance
                        .iter()
                        .map(|(_, d)| d.t.map_or("?".into(), t_figure))
                        .collect::<Vec<_>>()
                        .join(" and "),
                    chance[0].1.stretches
                ));
            }
            if !slight.is_empty() {
                let t: Vec<String> = (slight.iter())
                    .filter_map(|(_, d)| d.t.map(t_figure))
                    .collect();
                let sure = match t.is_empty() {
                    true => String::new(),
                    false => format!(" however sure (t = {})", t.join(" and ")),
                };
                lower.push(format!(
                    "below {} by less than {:.0}%, too little to count as better{sure}",
                    names(&slight),
                    100.0 * difference::MATERIAL,
                ));
            }
            let chance = match lower.is_empty() {
                true => String::new(),
                false => format!(
                    ": its NMSE {:.5} is {}",
                    self.model.nmse,
                    lower.join(", and ")
                ),
            };
            // As good as the mean, or nearly, and so is the linear map:
            // nothing of the output is learnt from the input; more training
            // is not the cure. (Where the linear map explains more, the
            // input does tell of the output: the model has not learnt it.)
            let nothing = self.model.nmse >= EXPLAINS_NOTHING
                && self.linear_baseline.nmse >= EXPLAINS_NOTHING
                && !self
                    .vs_mean
                    .model_wins(self.model.mse, self.mean_baseline.mse);
            let more = if self.input_unlike_training {
                UNLIKE_FIRST
            } else if self.fill_suspected {
                FILL_FIRST
            } else if self.output_spikes {
                SPIKES_FIRST
            } else if nothing {
                NOTHING_LEARNT
            } else if self.still_improving {
                STILL_IMPROVING
            } else if self.error_parts.mostly_slow(self.model.nmse) {
                SLOW_FIRST
            } else {
                "more data, longer training, another --window or --hidden may help"
            };
            let advice = match (self.beyond_training, self.wins_within_range) {
                // A relationship the linear map all but captures (a shift,
                // a gain, a linear filter): a model gains little over it.
                (false, _)
                    if self.linear_baseline.nmse < NEAR_EXACT
                        && !self.fill_suspected
                        && !self.output_spikes =>
                {
                    format!(
                        "the linear map is close to exact here (NMSE {:.4}): the output is nearly a \
                     linear function of the input window, which a linear filter computes as well; \
                     {}",
                        self.linear_baseline.nmse,
                        match self.residual {
                            true => "longer training may still match it",
                            false => RESIDUAL,
                        }
                    )
                }
                (true, Some(true))
                    if !self.still_improving && !self.fill_suspected && !self.output_spikes =>
                {
                    format!(
                        "it beats {} on the windows within the range it was trained on, not \
                         beyond it: see the warning",
                        worse.join(" and ")
                    )
                }
                (true, _) => format!(
                    "{more}; the data scored also goes beyond the range it was trained on: see \
                     the warning"
                ),
                // The map wins, and the input does tell of the output: a
                // model trained on what the map leaves serves the map at
                // least (the reading's faults come first).
                (false, _)
                    if worse.contains(&"the linear map")
                        && !self.residual
                        && !nothing
                        && !self.input_unlike_training
                        && !self.fill_suspected
                        && !self.output_spikes =>
                {
                    format!("{more}; or {RESIDUAL}")
                }
                (false, _) => more.to_string(),
            };
            // Lower by much, but not beyond chance (a wildfire week in 2 of
            // 8 stretches): not shown better, which is not "no better".
            let unsure: Vec<&str> = (baselines.iter())
                .filter(|(_, b, d)| {
                    d.lower_by_chance(self.model.mse, b.mse)
                        && difference::material(self.model.mse, b.mse)
                })
                .map(|(n, _, _)| *n)
                .collect();
            let sure: Vec<&str> = (worse.iter().copied())
                .filter(|n| !unsure.contains(n))
                .collect();
            let than = match (sure.is_empty(), unsure.is_empty()) {
                (false, true) | (true, true) => format!("no better than {}", worse.join(" or ")),
                (true, false) => format!("not shown better than {}", unsure.join(" or ")),
                (false, false) => format!(
                    "no better than {}, nor shown better than {}",
                    sure.join(" or "),
                    unsure.join(" or ")
                ),
            };
            let advice = match unsure.is_empty() {
                true => advice,
                false => format!(
                    "{advice}; a lower error is told from chance over more independent \
                     stretches: score it on a longer unseen recording (eval --data)"
                ),
            };
            format!(
                "WARNING: the model is {than} on {} data{chance}; do not serve it as it is \
                 ({advice})",
                match (self.held_out, self.never_seen) {
                    (true, false) => "held-out",
                    (true, true) => "unseen",
                    (false, _) => "training",
                }
            )
        }
    }
}

#[cfg(test)]
mod tests;
