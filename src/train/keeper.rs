//! The best weights a run has seen on its validation windows.

use std::collections::HashMap;

use candle_core::{Tensor, Var};

use super::validation_mse;
use crate::data::Windows;
use crate::error::Result;

/// The best weights seen on the validation windows, and how long ago.
#[derive(Default)]
pub(super) struct BestKeeper {
    /// (step, validation AR MSE, a copy of every variable).
    pub(super) best: Option<(usize, f64, Vec<Tensor>)>,
    /// Measurements since the best.
    pub(super) since_best: usize,
}

impl BestKeeper {
    /// Measures the current weights on `valid` (if any) and keeps a copy
    /// when they are the best so far. Returns the measurement.
    pub(super) fn measure(
        &mut self,
        valid: Option<&Windows>,
        tensors: &HashMap<String, Tensor>,
        vars: &[Var],
        step: usize,
    ) -> Result<Option<f64>> {
        let Some(v) = valid else {
            return Ok(None);
        };
        let hidden = tensors
            .get("encoder.weight_hh_l0")
            .map_or(0, |t| t.dims().get(1).copied().unwrap_or(0));
        let m = validation_mse(tensors, hidden, v)?;
        if self.best.as_ref().is_none_or(|b| m < b.1) {
            let copy = vars
                .iter()
                .map(|v| v.as_tensor().copy())
                .collect::<candle_core::Result<Vec<_>>>()?;
            self.best = Some((step, m, copy));
            self.since_best = 0;
        } else {
            self.since_best += 1;
        }
        Ok(Some(m))
    }
}
