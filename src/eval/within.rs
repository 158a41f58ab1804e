//! A fleet's scores within each device. Pooled over devices whose levels
//! differ (racks in °C and racks in °F in one column, turbines of two
//! sizes), the truth's variance is mostly between devices, and a model that
//! only tells them apart, or splits the difference, can beat both pooled
//! baselines while it does worse, within every device, than that device's
//! own mean. Such a model follows no device's signal: not worth serving.

use serde::{Deserialize, Serialize};

/// Of a fleet's streams scored with windows enough to judge, in how many
/// the model's NMSE within the stream is 1 or more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Within {
    /// Streams where the model does no better than the stream's own mean.
    pub worse_than_mean: usize,
    /// Streams judged.
    pub of: usize,
}

impl Within {
    /// In most streams the model does no better than their own means.
    pub fn hollow(&self) -> bool {
        self.of >= 2 && 2 * self.worse_than_mean > self.of
    }

    /// The verdict where the pooled scores say the model wins, but
    /// [`Self::hollow`].
    pub fn verdict(&self, gain_over_linear: f64) -> String {
        format!(
            "WARNING: the model beats both baselines pooled over the streams (NMSE {:.1}% below \
             the linear map's), but within {} of {} streams its NMSE is 1 or more: there, the \
             stream's own mean does as well. It follows no stream's signal, only what sets the \
             streams apart; do not serve it as it is (other units in some streams' rows? the \
             streams' levels in the warnings and figures; or train a model per stream)",
            100.0 * gain_over_linear,
            self.worse_than_mean,
            self.of
        )
    }
}
