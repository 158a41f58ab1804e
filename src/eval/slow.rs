//! How a model's error splits over time: one bias over every window, an
//! offset that holds through each window and changes between them, and the
//! rest, within windows. A model whose error is mostly the first two
//! misses something slower than its window (a battery's state of charge, a
//! temperature, a setpoint, a drift): more training does not fix that.

use serde::{Deserialize, Serialize};

/// The parts of a model's mean squared error on the scored windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorParts {
    /// The mean error (translation − truth) over every value, in the
    /// output's units.
    pub bias: f64,
    /// The share of the MSE that is `bias²`.
    pub bias_share: f64,
    /// The share that is each window's own mean error, about the bias:
    /// an offset the window holds throughout.
    pub offset_share: f64,
    /// How much of the truth's variation within windows (about each
    /// window's own mean) the model follows: 1 all, 0 none. A model that
    /// follows none has an error as slow as the signal itself, which
    /// tells nothing.
    #[serde(default)]
    pub within_followed: f64,
}

/// A model's NMSE from which a slow error is worth a warning (below it,
/// the model is good whatever its error is made of).
const POOR: f64 = 0.25;
/// The share of its MSE the slow parts must make.
const MOSTLY: f64 = 0.6;
/// The share of the variation within windows the model must follow.
const FOLLOWS: f64 = 0.2;
/// The NMSE one bias alone must cost to be said below [`POOR`] (a meter
/// drifting 14% low under a model otherwise good: NMSE 0.2498, 64% of it
/// the bias, went unsaid).
const BIAS_COST: f64 = 0.05;

impl ErrorParts {
    /// Splits `pred − target` (row-major windows of `window` values).
    pub fn of(pred: &[f32], target: &[f32], window: usize) -> Self {
        let w = window.max(1);
        let len = pred.len().min(target.len()) / w * w;
        let (pred, target) = (&pred[..len], &target[..len]);
        let mean = |v: &mut dyn Iterator<Item = f64>| {
            let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
            sum / n.max(1) as f64
        };
        let e: Vec<f64> = (pred.iter().zip(target))
            .map(|(&p, &t)| p as f64 - t as f64)
            .collect();
        let mse = mean(&mut e.iter().map(|e| e * e));
        // Nothing to split (no window, an exact model, a NaN).
        if !(mse.is_finite() && mse > 0.0) {
            return Self::default();
        }
        let bias = mean(&mut e.iter().copied());
        let window_means = |v: &[f64]| -> Vec<f64> {
            v.chunks_exact(w)
                .map(|c| c.iter().sum::<f64>() / w as f64)
                .collect()
        };
        let about = |m: &[f64], c: f64| mean(&mut m.iter().map(|x| (x - c).powi(2)));
        // The windows' mean errors that follow their mean translations (a
        // gain an undertrained model has, e = −½·truth for half the signal:
        // as slow as the signal, yet what more training mends, or an offset
        // the model makes of its own input) are taken out by least squares
        // (e ≈ bias + b·(translation − its mean), window by window); the
        // offsets are those of what is left: what the translation does not
        // show at all.
        let (em, pm) = (
            window_means(&e),
            window_means(&pred.iter().map(|&p| p as f64).collect::<Vec<_>>()),
        );
        let pmean = mean(&mut pm.iter().copied());
        let vp = about(&pm, pmean);
        let b = match vp > 0.0 {
            true => mean(&mut pm.iter().zip(&em).map(|(p, e)| (p - pmean) * (e - bias))) / vp,
            false => 0.0,
        };
        let left: Vec<f64> = (em.iter().zip(&pm))
            .map(|(e, p)| e - bias - b * (p - pmean))
            .collect();
        let offsets = about(&left, 0.0);
        // The truth's variation within its windows, and the model's error
        // there (its MSE without the windows' mean errors).
        let t: Vec<f64> = target.iter().map(|&t| t as f64).collect();
        let within = mean(
            &mut t
                .chunks_exact(w)
                .map(|c| about(c, c.iter().sum::<f64>() / w as f64)),
        );
        let fast = (mse - bias * bias - about(&em, bias)).max(0.0);
        Self {
            bias,
            bias_share: bias * bias / mse,
            offset_share: offsets / mse,
            within_followed: if within > 0.0 {
                1.0 - fast / within
            } else {
                0.0
            },
        }
    }

    /// What to tell the user of a model with NMSE `nmse` whose error is
    /// mostly slow; `window` rows of `step_s` seconds each, the output in
    /// `unit`.
    pub fn warning(
        &self,
        nmse: f64,
        window: usize,
        step_s: Option<f64>,
        unit: Option<&str>,
    ) -> Option<String> {
        // (One bias is said whether or not the model follows the signal
        // within windows: a model trained across a re-zeroed gauge follows
        // none of it, and 80% of its error was one bias, unsaid.)
        let biased = self.bias_share >= MOSTLY && nmse * self.bias_share >= BIAS_COST;
        if !self.mostly_slow(nmse) && !biased {
            return None;
        }
        let slow = self.bias_share + self.offset_share;
        let pct = |x: f64| format!("{:.0}%", 100.0 * x);
        let unit = unit.map_or(String::new(), |u| format!(" {u}"));
        if self.bias_share >= self.offset_share {
            return Some(format!(
                "{} of the model's error is one bias: its translations lie {}{unit} {} the truth \
                 on average over these windows; the output's level moved away from the training \
                 rows' (another operating point or a state such as a battery's charge, which a \
                 file's last rows held out may be alone in; a drift; a sensor re-zeroed or \
                 recalibrated), which no window of the input shows: train on a recording that \
                 spans such levels, and hold out one that does too; after a re-zero, on the rows \
                 since (--exclude those before)",
                pct(self.bias_share),
                crate::eval::significant(self.bias.abs()),
                if self.bias > 0.0 { "above" } else { "below" }
            ));
        }
        let span = step_s.map_or(String::new(), |s| {
            format!(" = {}", crate::recording::time::span(s * window as f64))
        });
        Some(format!(
            "{} of the model's error is an offset that holds through each window and changes \
             between windows ({} one bias over all): the output follows something slower than \
             the {window} rows{span} a window sees, which the input does not show (a state such \
             as a battery's charge or a temperature, a schedule or setpoint, a drift); a longer --window may \
             catch part of it, more training on this input alone will not",
            pct(slow),
            pct(self.bias_share)
        ))
    }

    /// Whether the model follows a fifth of the truth's variation within
    /// windows (one that follows none, still training, has the signal's
    /// own level for its bias, which says nothing of the data).
    pub fn follows(&self) -> bool {
        self.within_followed >= FOLLOWS
    }

    /// Whether the verdict should point at [`Self::warning`].
    pub fn mostly_slow(&self, nmse: f64) -> bool {
        nmse >= POOR
            && (self.bias_share >= MOSTLY
                || (self.bias_share + self.offset_share >= MOSTLY
                    && self.within_followed >= FOLLOWS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Windows of a signal the model follows within each window, off by an
    /// offset that changes from window to window (a slow state it cannot
    /// see), against one off by noise within windows.
    #[test]
    fn an_error_that_holds_through_windows_is_said() {
        let w = 24;
        let fast: Vec<f32> = (0..100 * w).map(|i| (i as f32 * 0.3).sin()).collect();
        // The truth: what the input shows, and a state it does not.
        let target: Vec<f32> = (fast.iter().enumerate())
            .map(|(i, &f)| f + 0.8 * ((i / w) as f32 * 0.7).sin())
            .collect();
        let parts = ErrorParts::of(&fast, &target, w);
        assert!(parts.offset_share > 0.95, "{parts:?}");
        let said = parts.warning(1.1, w, Some(1.0), Some("V")).unwrap();
        assert!(
            said.contains("an offset that holds through each window")
                && said.contains("the 24 rows = 24 s a window sees"),
            "{said}"
        );
        // A good model's error, whatever it is made of, is not warned of.
        assert!(parts.warning(0.05, w, None, None).is_none());
        // One bias: said as such, with its size and sign.
        let high: Vec<f32> = target.iter().map(|t| t + 0.3).collect();
        let parts = ErrorParts::of(&high, &target, w);
        assert!(
            (parts.bias - 0.3).abs() < 1e-6 && parts.bias_share > 0.99,
            "{parts:?}"
        );
        let said = parts.warning(0.6, w, None, Some("V")).unwrap();
        assert!(
            said.contains("one bias: its translations lie 0.3000 V above"),
            "{said}"
        );
        // A state the held-out rows alone are in is said before a re-zero.
        let state = said.find("a state such as a battery's charge").unwrap();
        assert!(state < said.find("re-zeroed").unwrap(), "{said}");
        // Said of a model otherwise good where the bias alone costs 5% of
        // the truth's variance, not where it costs less.
        assert_eq!(parts.warning(0.2, w, None, Some("V")), Some(said));
        assert!(parts.warning(0.04, w, None, None).is_none());
        // A model that follows nothing within windows (a flat line) has
        // the signal's own slow part for its error: not said.
        let flat = vec![0f32; target.len()];
        let parts = ErrorParts::of(&flat, &target, w);
        assert!(parts.within_followed.abs() < 1e-6, "{parts:?}");
        assert!(parts.warning(1.0, w, None, None).is_none());
        // But one bias is, even of a model that follows nothing within
        // windows (one trained across a re-zeroed gauge).
        let off: Vec<f32> = target.iter().map(|t| t + 3.0).collect();
        let parts = ErrorParts::of(&flat, &off, w);
        assert!(
            parts.within_followed.abs() < 1e-6 && parts.bias_share > 0.8,
            "{parts:?}"
        );
        let said = parts.warning(10.0, w, None, None).unwrap();
        assert!(
            said.contains("one bias: its translations lie 3") && said.contains("below"),
            "{said}"
        );
        assert!(parts.mostly_slow(10.0));
        // Half the signal, of a signal slower than the window: a gain an
        // undertrained model has, not a state it misses.
        let slow_truth: Vec<f32> = (0..100 * w).map(|i| (i as f32 * 0.006).sin()).collect();
        let half: Vec<f32> = slow_truth.iter().map(|t| 0.5 * t).collect();
        let parts = ErrorParts::of(&half, &slow_truth, w);
        assert!(parts.offset_share < 0.01, "{parts:?}");
        assert!(parts.warning(0.26, w, None, None).is_none());
        // NaN translations: nothing to say.
        let nan = vec![f32::NAN; target.len()];
        assert_eq!(ErrorParts::of(&nan, &target, w), ErrorParts::default());
        // Noise within windows: not slow.
        let noisy: Vec<f32> = target
            .iter()
            .enumerate()
            .map(|(i, &t)| t + if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        let parts = ErrorParts::of(&noisy, &target, w);
        assert!(parts.bias_share + parts.offset_share < 0.01, "{parts:?}");
        assert!(parts.warning(1.0, w, None, None).is_none());
    }
}
