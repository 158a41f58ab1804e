//! A fleet's scores within each device. Pooled over devices whose levels
//! differ (racks in °C and racks in °F in one column, turbines of two
//! sizes), the truth's variance is mostly between devices, and a model that
//! only tells them apart, or splits the difference, can beat both pooled
//! baselines while it does worse, within every device, than that device's
//! own mean. Such a model follows no device's signal: not worth serving.

use serde::{Deserialize, Serialize};

/// Of the parts scored (a fleet's devices, or files) with windows enough to
/// judge, in how many the model's NMSE within the part is 1 or more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Within {
    /// Parts where the model does no better than the part's own mean.
    pub worse_than_mean: usize,
    /// Parts judged.
    pub of: usize,
    /// What a part is: `stream` or `file`.
    pub by: String,
}

impl Within {
    /// In most parts the model does no better than their own means.
    pub fn hollow(&self) -> bool {
        self.of >= 2 && 2 * self.worse_than_mean > self.of
    }

    /// The verdict where the pooled scores say the model wins, but
    /// [`Self::hollow`].
    pub fn verdict(&self, gain_over_linear: f64) -> String {
        let by = &self.by;
        format!(
            "WARNING: the model beats both baselines pooled over the {by}s (NMSE {:.1}% below the \
             linear map's), but within {} of {} {by}s its NMSE is 1 or more: there, the {by}'s own \
             mean does as well. It follows no {by}'s signal, only what sets the {by}s apart; do \
             not serve it as it is (other units in some {by}s' rows? the {by}s' levels in the \
             warnings and figures; or train a model per {by})",
            100.0 * gain_over_linear,
            self.worse_than_mean,
            self.of
        )
    }
}
