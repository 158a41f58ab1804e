//! `[route.deviation]`: each stream's truth watched against its live
//! translation, so that an operator hears of the one stream whose
//! measurement leaves what the model expects (an inverter under-producing,
//! a meter drifting) instead of reading it off a route's running mean.

use serde::{Deserialize, Serialize};

use super::defaults;
use crate::error::{Error, Result};

/// How far, and which way, a stream's truth may leave its translation
/// before a `deviation` event says so.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeviationConfig {
    /// The mean of truth − translation, in the output's units, beyond which
    /// a stream deviates. Absent: 3 × the live model's held-out RMSE (what
    /// `retrain` measured on windows it never trained on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The mean is over a stream's last this many windows that share no
    /// sample (W samples each): a short dip does not raise an event.
    #[serde(default = "defaults::deviation_windows")]
    pub windows: usize,
    /// Which way counts: `both`, `below` (the truth under the translation:
    /// a plant producing less than expected) or `above`.
    #[serde(default)]
    pub side: Side,
    /// Events go to `<subject>.<stream key>`.
    #[serde(default = "defaults::deviation_subject")]
    pub subject: String,
}

impl Default for DeviationConfig {
    fn default() -> Self {
        Self {
            threshold: None,
            windows: defaults::deviation_windows(),
            side: Side::default(),
            subject: defaults::deviation_subject(),
        }
    }
}

/// Which sign of truth − translation counts as a deviation.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    #[default]
    Both,
    Below,
    Above,
}

/// The most windows a mean may be over.
pub const MAX_WINDOWS: usize = 1_000;

/// The default threshold, in held-out RMSEs: a window's mean error varies
/// less than a sample's, so a stream like the held-out data hardly reaches
/// it, while a meter reading 10% low on a model good to 2% does.
pub const RMSE_MULTIPLE: f64 = 3.0;

/// The held-out RMSE `retrain` measured for `model`, in its output's units:
/// on a recording's held-out windows, or a synthetic pair's random ones.
pub fn held_out_rmse(model: &crate::LoadedModel) -> Option<f64> {
    let m = model.meta.metrics.as_ref()?;
    // Only windows the model never trained on (not `--validate 0`'s own
    // rows, which flatter it and would set the threshold too low).
    let held_out = |v: &serde_json::Value| {
        ["held_out", "never_seen"]
            .iter()
            .any(|k| v.get(k).and_then(|b| b.as_bool()) == Some(true))
    };
    let mse = (m.get("validation"))
        .filter(|v| held_out(v))
        .and_then(|v| v.get("model")?.get("mse")?.as_f64())
        .or_else(|| m.get("ar_mse_random")?.as_f64())?;
    (mse.is_finite() && mse > 0.0).then(|| mse.sqrt())
}

impl DeviationConfig {
    /// The threshold for `model`'s windows, and whence it comes; `Err`:
    /// why there is none (none set, and the model records no held-out
    /// error).
    pub fn threshold_for(
        &self,
        model: &crate::LoadedModel,
    ) -> std::result::Result<(f64, String), String> {
        match (self.threshold, held_out_rmse(model)) {
            (Some(t), _) => Ok((t, "its threshold".into())),
            (None, Some(rmse)) => Ok((
                RMSE_MULTIPLE * rmse,
                format!(
                    "{RMSE_MULTIPLE} × the model's held-out RMSE {}",
                    crate::eval::significant(rmse)
                ),
            )),
            (None, None) => Err(format!(
                "model {} records no held-out error to set a threshold by: streams are not \
                 watched for deviation until one is set ([route.deviation] threshold, serve \
                 --deviation THRESHOLD, in the output's units)",
                model.id
            )),
        }
    }

    /// What the watch does with `model` serving, for `config check` and
    /// the service's start.
    pub fn describe(&self, model: &crate::LoadedModel) -> String {
        let side = match self.side {
            Side::Both => "either way",
            Side::Below => "below (the truth under the translation)",
            Side::Above => "above (the truth over the translation)",
        };
        match self.threshold_for(model) {
            Ok((t, whence)) => format!(
                "a stream whose truth − translation, averaged over its last {} windows sharing \
                 no sample, lies beyond {}{} {side} ({whence}) deviates: events on {}.<stream>",
                self.windows,
                crate::eval::significant(t),
                model
                    .output_unit
                    .as_deref()
                    .map_or(String::new(), |u| format!(" {u}")),
                self.subject
            ),
            Err(why) => format!("WARNING: {why}"),
        }
    }

    /// The route's own checks (`n`: its place in the file, from 1).
    pub(super) fn validate(&self, n: usize, truth: Option<&str>) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("route {n}: deviation: {m}")));
        if truth.is_none() {
            return bad(
                "needs the route's truth (truth = \"truth.>\"): a stream's translation is \
                 watched against it"
                    .into(),
            );
        }
        if let Some(t) = self.threshold
            && !(t.is_finite() && t > 0.0)
        {
            return bad(format!(
                "threshold {t} must be a number above 0, in the output's units"
            ));
        }
        // Each stream keeps this many means: bounded, as streams are.
        if !(1..=MAX_WINDOWS).contains(&self.windows) {
            return bad(format!(
                "windows {} must be from 1 to {MAX_WINDOWS} (the mean is over a stream's last \
                 windows; more would never say a fault in time)",
                self.windows
            ));
        }
        crate::window::validate_key(&self.subject)
            .map_err(|e| Error::Config(format!("route {n}: deviation subject: {e}")))
    }
}
