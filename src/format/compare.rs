//! What to tell an operator about a model put where another serves: other
//! channels, units, pair or route, or a model no better than a baseline.

use super::LoadedModel;
use crate::scaling::{Affine, Scaling};

/// Whether two channels (centre ± scale) are in units far apart: centres
/// more than the wider scale apart, or scales 4× apart.
pub fn other_units(a: Affine, b: Affine) -> bool {
    let (wide, narrow) = (
        a.scale.abs().max(b.scale.abs()),
        a.scale.abs().min(b.scale.abs()),
    );
    let ratio = wide / narrow;
    (a.center - b.center).abs() > wide || ratio.is_nan() || ratio > 4.0
}

impl LoadedModel {
    /// What to tell an operator about to put this model where `serving` is,
    /// when the two were trained on channels of different names, in or out,
    /// or in units far apart (their centres more than a scale apart, or
    /// scales 4× apart); `None` when they agree or either does not say. The
    /// output counts as much as the input: a model that writes kW where one
    /// wrote °C hands every subscriber numbers in the wrong unit.
    pub fn other_channel_than(&self, serving: &LoadedModel) -> Option<String> {
        type Pick = fn(&Scaling) -> Affine;
        let sides: [(&str, Pick); 2] = [("input", |s| s.input), ("output", |s| s.output)];
        for (side, pick) in sides {
            let name = |m: &LoadedModel| {
                m.meta
                    .metrics
                    .as_ref()
                    .and_then(|v| v.get(side)?.as_str().map(str::to_string))
            };
            if let (Some(a), Some(b)) = (name(serving), name(self))
                && !crate::eval::same_channel(&a, &b)
            {
                return Some(format!(
                    "this model was trained on {side} {b:?}, the one serving on {a:?}"
                ));
            }
            // A model without scaling takes and gives normalised values:
            // centre 0, scale 1 (so a model in physical units put where one
            // in normalised units serves is told apart, as two scaled models
            // in different units are).
            let scaling = |m: &LoadedModel| m.meta.scaling.map_or(Affine::IDENTITY, |s| pick(&s));
            let (a, b) = (scaling(serving), scaling(self));
            if other_units(a, b) {
                let verb = if side == "input" {
                    "expects input"
                } else {
                    "writes output"
                };
                return Some(format!(
                    "this model {verb} around {}, the one serving {}: other units or another \
                     channel?",
                    crate::eval::around(b.center, b.scale),
                    crate::eval::around(a.center, a.scale)
                ));
            }
        }
        None
    }

    /// What to tell an operator about to put this model where `serving`
    /// is when neither records its channels (built-in pairs' models) and
    /// they translate different pairs; `None` otherwise.
    pub fn other_pair_than(&self, serving: &LoadedModel) -> Option<String> {
        let channels = |m: &LoadedModel| {
            m.meta
                .metrics
                .as_ref()
                .is_some_and(|v| v.get("input").is_some())
        };
        match (&self.meta.pair, &serving.meta.pair) {
            (Some(new), Some(old)) if new != old && !channels(self) && !channels(serving) => Some(
                format!("this model translates the pair {new:?}, the one serving {old:?}"),
            ),
            _ => None,
        }
    }

    /// The channels a model trained on a recording translates, as its
    /// training named them (`P1_Drehzahl → P1_Leistung`); `None` for a
    /// built-in pair's or an imported model.
    pub fn channels(&self) -> Option<String> {
        let m = self.meta.metrics.as_ref()?;
        let channel = |k: &str| m.get(k).and_then(|v| v.as_str());
        Some(format!("{} → {}", channel("input")?, channel("output")?))
    }

    /// The model was trained as the pair of another of `pairs` (the routes
    /// of one configuration) and not as `route`'s: a model file named on
    /// the wrong route, most likely (its output reaches subscribers in
    /// another channel's units). Says what it translates.
    pub fn other_route_than(&self, route: &str, pairs: &[&str]) -> Option<String> {
        let trained = self.meta.pair.as_deref()?;
        if trained == route || !pairs.contains(&trained) {
            return None;
        }
        let channels = self.channels().map_or(String::new(), |c| format!(" ({c})"));
        Some(format!(
            "route {route:?} serves {}, a model trained as pair {trained:?}{channels}, which is \
             another route's name here: is it this route's model?",
            self.path.display()
        ))
    }

    /// What to tell an operator about to serve a model that `retrain --data`
    /// found no better than a baseline (the mean, or the least-squares
    /// linear map) on its held-out windows; `None` when it was better or
    /// was not scored that way.
    pub fn baseline_warning(&self) -> Option<String> {
        let v = self.meta.metrics.as_ref()?.get("validation")?;
        let nmse_of = |k: &str| v.get(k)?.get("nmse")?.as_f64();
        // NMSE ≥ 1: worse than the held-out signal's own variance, whatever
        // the baselines (fitted on too little data) scored.
        if v.get("beats_baselines")?.as_bool()? && nmse_of("model").is_some_and(|n| n < 1.0) {
            return None;
        }
        let nmse = |k: &str| nmse_of(k).map_or("?".into(), |n| format!("{n:.4}"));
        // A residual model whose network adds nothing is its map, which
        // beats the mean: served as that, said as that.
        let residual = self
            .meta
            .metrics
            .as_ref()?
            .get("residual")
            .and_then(|r| r.as_str());
        if let (Some("linear"), Some(m), Some(l), Some(mean)) = (
            residual,
            nmse_of("model"),
            nmse_of("linear_baseline"),
            nmse_of("mean_baseline"),
        ) && m < 1.0
            && m <= 1.01 * l
            && m < mean
        {
            return Some(format!(
                "retrain found this residual model's network adding nothing to its linear map on \
                 its held-out windows (NMSE {m:.4}; the map {l:.4}, the mean {mean:.4}): it serves \
                 the map"
            ));
        }
        Some(format!(
            "retrain found this model no better than a baseline (or than the signal's own \
             variance) on its held-out windows (NMSE {}; the linear map {}, the mean {})",
            nmse("model"),
            nmse("linear_baseline"),
            nmse("mean_baseline")
        ))
    }
}
