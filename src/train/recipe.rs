//! Training recipes: the seed's, the default, the recording budget, and
//! the learning-rate schedules; stored in every model file.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the learning rate moves over the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// `lr` throughout (the seed's Keras default).
    Constant,
    /// Linear warm-up over `warmup_epochs`, then cosine decay from `lr` to `lr_final`.
    Cosine,
}

/// `usize::MAX`, "no limit", as JSON's `null`: as a number it does not
/// survive readers that hold numbers as doubles (JavaScript's, jq's). Reads
/// either.
mod unlimited {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &usize, s: S) -> Result<S::Ok, S::Error> {
        match *v {
            usize::MAX => s.serialize_none(),
            n => s.serialize_some(&n),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        Ok(Option::<usize>::deserialize(d)?.unwrap_or(usize::MAX))
    }
}

/// Everything that determines a training run; stored in the model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// `default` or `seed`.
    pub name: String,
    /// Passes over the windows; `usize::MAX` (`null` in JSON) when a step or
    /// time budget ends the run instead.
    #[serde(with = "unlimited")]
    pub epochs: usize,
    /// Peak learning rate (Adam, no weight decay).
    pub lr: f64,
    /// Learning rate at the end of a cosine schedule.
    pub lr_final: f64,
    pub schedule: Schedule,
    pub warmup_epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    pub hidden: usize,
    pub window: usize,
    /// Seeds initialisation, data sampling and shuffling.
    pub seed: u64,
    /// Clip the global gradient norm to this (none in the seed).
    pub clip_norm: Option<f64>,
    /// Use the fixed windows (the pair's 76 grid windows, or the CSV's) each epoch.
    pub fixed_windows: bool,
    /// Fresh random-phase windows drawn each epoch (pairs only; 0 for none).
    pub random_windows_per_epoch: usize,
    /// A budget in optimiser steps instead of `epochs` (the schedule runs
    /// over the steps; epochs are passes over the windows until then).
    #[serde(default)]
    pub steps: Option<usize>,
    /// A budget in wall-clock seconds (the schedule runs over the time).
    /// Not bit-reproducible: the report gives the steps it took, and
    /// `steps` set to that number repeats the run exactly.
    #[serde(default)]
    pub time_budget_s: Option<f64>,
    /// With validation windows: measure their autoregressive MSE every this
    /// many steps, keep the best weights.
    #[serde(default = "default_eval_every")]
    pub eval_every: usize,
    /// Stop after this many measurements without a new best (none: never).
    #[serde(default)]
    pub patience: Option<usize>,
    /// Warm-up as a fraction of a step or time budget.
    #[serde(default)]
    pub warmup_fraction: f64,
}

fn default_eval_every() -> usize {
    100
}

impl Recipe {
    /// The seed tutorial exactly: 76 grid windows, Adam 1e-3, batch 10, 35 epochs.
    pub fn seed() -> Self {
        Self {
            name: "seed".into(),
            epochs: 35,
            lr: 1e-3,
            lr_final: 1e-3,
            schedule: Schedule::Constant,
            warmup_epochs: 0,
            batch: 10,
            hidden: crate::format::DEFAULT_HIDDEN,
            window: crate::format::DEFAULT_WINDOW,
            seed: 0,
            clip_norm: None,
            fixed_windows: true,
            random_windows_per_epoch: 0,
            steps: None,
            time_budget_s: None,
            eval_every: default_eval_every(),
            patience: None,
            warmup_fraction: 0.0,
        }
    }

    /// Our default: random-phase windows (a live stream is sampled at any
    /// phase), warm-up plus cosine decay, clipped gradients.
    pub fn default_recipe() -> Self {
        Self {
            name: "default".into(),
            epochs: 600,
            lr: 3e-3,
            lr_final: 1e-5,
            schedule: Schedule::Cosine,
            warmup_epochs: 5,
            batch: 32,
            hidden: crate::format::DEFAULT_HIDDEN,
            window: crate::format::DEFAULT_WINDOW,
            seed: 0,
            clip_norm: Some(1.0),
            fixed_windows: true,
            random_windows_per_epoch: 224,
            steps: None,
            time_budget_s: None,
            eval_every: default_eval_every(),
            patience: None,
            warmup_fraction: 0.0,
        }
    }

    /// The default for a user's recording: a budget of optimiser steps
    /// (whatever the file's size: about two minutes on a 2-core machine),
    /// validation every 100 steps, the best weights kept, and a stop once
    /// 10 measurements in a row bring nothing new.
    pub fn recording() -> Self {
        Self {
            name: "recording".into(),
            epochs: usize::MAX,
            lr: 3e-3,
            lr_final: 3e-5,
            schedule: Schedule::Cosine,
            warmup_epochs: 0,
            batch: RECORDING_BATCH,
            hidden: crate::format::DEFAULT_HIDDEN,
            window: crate::format::DEFAULT_WINDOW,
            seed: 0,
            clip_norm: Some(1.0),
            fixed_windows: true,
            random_windows_per_epoch: 0,
            steps: Some(RECORDING_STEPS),
            time_budget_s: None,
            eval_every: default_eval_every(),
            patience: Some(10),
            warmup_fraction: 0.03,
        }
    }

    /// Learning rate at fraction `p` ∈ [0, 1] of a step or time budget.
    pub fn lr_at_fraction(&self, p: f64) -> f64 {
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Cosine => {
                let warm = self.warmup_fraction.clamp(0.0, 1.0);
                if p < warm {
                    return self.lr * (p / warm).max(0.01);
                }
                let q = ((p - warm) / (1.0 - warm).max(1e-12)).clamp(0.0, 1.0);
                self.lr_final
                    + 0.5 * (self.lr - self.lr_final) * (1.0 + (std::f64::consts::PI * q).cos())
            }
        }
    }

    /// Whether the run is measured in steps or time rather than epochs.
    pub fn budgeted(&self) -> bool {
        self.steps.is_some() || self.time_budget_s.is_some()
    }

    /// Learning rate for `epoch` (0-based) of the run, at fraction `frac` ∈ [0, 1)
    /// through that epoch.
    pub fn lr_at(&self, epoch: usize, frac: f64) -> f64 {
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Cosine => {
                let t = epoch as f64 + frac;
                let warm = self.warmup_epochs as f64;
                if t < warm {
                    return self.lr * (t + 1.0) / (warm + 1.0);
                }
                let span = (self.epochs as f64 - warm).max(1.0);
                let p = ((t - warm) / span).clamp(0.0, 1.0);
                self.lr_final
                    + 0.5 * (self.lr - self.lr_final) * (1.0 + (std::f64::consts::PI * p).cos())
            }
        }
    }

    /// Whether the recipe can train (training checks it too).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Data(format!("invalid recipe: {m}")));
        if self.epochs == 0 || self.steps == Some(0) {
            return bad("epochs and steps must be positive");
        }
        if let Some(t) = self.time_budget_s
            && !(t.is_finite() && t > 0.0)
        {
            return bad("the time budget must be positive");
        }
        if self.eval_every == 0 {
            return bad("eval_every must be positive");
        }
        if self.batch == 0 {
            return bad("batch must be positive");
        }
        if self.hidden == 0 || self.window < 2 {
            return bad("hidden must be positive and window at least 2");
        }
        if self.hidden > super::MAX_HIDDEN {
            return bad(&format!("hidden must be at most {}", super::MAX_HIDDEN));
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !(positive(self.lr) && positive(self.lr_final)) {
            return bad("learning rates must be positive and finite");
        }
        if !self.fixed_windows && self.random_windows_per_epoch == 0 {
            return bad("no training windows (fixed windows off and no random windows)");
        }
        Ok(())
    }
}

/// Mini-batch of the recording recipe.
pub const RECORDING_BATCH: usize = 64;
/// Step budget of the recording recipe (about two minutes here).
pub const RECORDING_STEPS: usize = 2000;

#[cfg(test)]
mod tests {
    use super::*;

    /// A budgeted recipe's "no epoch limit" is `null` in JSON (it was
    /// 18446744073709551615), and both forms read back.
    #[test]
    fn an_unlimited_epoch_count_is_null_in_json() {
        let r = Recipe::recording();
        let v = serde_json::to_value(&r).unwrap();
        assert!(v["epochs"].is_null(), "{v}");
        assert_eq!(serde_json::from_value::<Recipe>(v.clone()).unwrap(), r);
        let mut old = v;
        old["epochs"] = serde_json::json!(usize::MAX);
        assert_eq!(serde_json::from_value::<Recipe>(old).unwrap(), r);
        let d = Recipe::default_recipe();
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["epochs"], 600);
        assert_eq!(serde_json::from_value::<Recipe>(v).unwrap(), d);
    }
}
