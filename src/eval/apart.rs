//! A comparison on some of its windows: `eval` scores a recording apart
//! from the windows its deviation watch flags. On a later month with a
//! fault in it (what a watch is for), the fault's windows are ones no model
//! of the healthy plant predicts, and a few of them decide the verdict of
//! all (a walk's inverter trip: 2% of the windows, the model "no better
//! than the linear map"; without them, 47% better). Scored apart too, a
//! user tells a model that fails from a recording that holds a fault.

use super::Comparison;
use crate::data::Windows;
use crate::error::Result;

impl Comparison {
    /// This comparison on the windows `keep` marks (one flag per window
    /// of `valid`, in order), of the same predictions (`model`, `mean`,
    /// `linear`), with the same context (held out or not, never seen, the
    /// warnings that point a verdict elsewhere). Whether they go beyond
    /// the training range is the whole's to say, not repeated here.
    pub fn restricted(
        &self,
        valid: &Windows,
        [model, mean, linear]: [&[f32]; 3],
        keep: &[bool],
    ) -> Result<Self> {
        let w = valid.window.max(1);
        let pick = |v: &[f32]| -> Vec<f32> {
            (v.chunks(w).zip(keep))
                .filter(|(_, k)| **k)
                .flat_map(|(c, _)| c.iter().copied())
                .collect()
        };
        let on = Windows {
            window: valid.window,
            input: pick(&valid.input),
            target: pick(&valid.target),
        };
        let mut c = Self::new(&on, &pick(model), &pick(mean), &pick(linear))?;
        c.held_out = self.held_out;
        c.never_seen = self.never_seen;
        c.fill_suspected = self.fill_suspected;
        // Spikes said of the whole may lie in the windows left out (an
        // arterial line's flush, the deviations' own): judged again on the
        // windows kept, each by its last value.
        let last: Vec<f32> = (on.target.chunks_exact(w)).map(|c| c[w - 1]).collect();
        c.output_spikes = self.output_spikes && crate::scaling::Spikes::find(&last).is_some();
        c.input_unlike_training = self.input_unlike_training;
        c.residual = self.residual;
        // A fleet's streams judged on their own means: the whole's say.
        if let Some(within) = self.within.clone() {
            c.set_within(within);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use crate::data::Windows;
    use crate::eval::Comparison;

    /// Spikes in the windows left out (a flush) are not blamed for the
    /// rest; spikes among the windows kept still are.
    #[test]
    fn spikes_left_out_are_not_said_of_the_rest() {
        let w = 2;
        let mut valid = Windows::empty(w);
        let mut rng = crate::rng::Rng::new(9);
        for k in 0..400 {
            let y = if (100..103).contains(&k) {
                300.0
            } else {
                70.0 + rng.normal() as f32
            };
            valid.input.extend([0.0, 0.0]);
            valid.target.extend([y, y]);
        }
        let same = valid.target.clone();
        let mut c = Comparison::new(&valid, &same, &same, &same).unwrap();
        c.output_spikes = true;
        let preds = [&same[..], &same[..], &same[..]];
        let keep: Vec<bool> = (0..400).map(|k| !(100..103).contains(&k)).collect();
        assert!(!c.restricted(&valid, preds, &keep).unwrap().output_spikes);
        let all = vec![true; 400];
        assert!(c.restricted(&valid, preds, &all).unwrap().output_spikes);
    }
}
