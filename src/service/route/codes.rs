//! Values a sample may hold that are no reading: the codes the live
//! model's training recording wrote for a missing sample (`retrain
//! --missing -999`), and a device's error code by its form (`-999`,
//! `9999`, `32767`) far outside the input the model was trained on, which
//! an air-quality sensor sends and a model trained without `--missing`
//! would translate as a reading (PM2.5 of -440 µg/m³ on every window it
//! fell in). Refused as a NaN is.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

use crate::fit::Ranges;
use crate::format::LoadedModel;

/// What the live model takes for no reading, kept without a lock (read
/// for every message).
pub(super) struct Codes {
    /// Whether it records codes of its own.
    recorded: AtomicBool,
    /// Its training input's and output's ranges, as f32 bits (NaN: none
    /// recorded): `[lo, hi]` of the input, then of the output (its truth).
    ranges: [AtomicU32; 4],
}

/// A value refused: its index among the message's, the value, and
/// whether the model's training recording wrote it for a missing sample
/// (else: a code by its form, outside the training input's range).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Code {
    pub index: usize,
    pub value: f32,
    pub recorded: bool,
}

impl Codes {
    pub fn of(model: &LoadedModel) -> Self {
        let codes = Self {
            recorded: AtomicBool::new(false),
            ranges: Default::default(),
        };
        codes.set(model);
        codes
    }

    pub fn set(&self, model: &LoadedModel) {
        self.recorded.store(!model.missing.is_empty(), Relaxed);
        let ranges = Ranges::recorded(model.meta.metrics.as_ref());
        let [a, b] = ranges.map_or([f32::NAN; 2], |r| r.input);
        let [c, d] = ranges.map_or([f32::NAN; 2], |r| r.output);
        for (slot, v) in self.ranges.iter().zip([a, b, c, d]) {
            slot.store(v.to_bits(), Relaxed);
        }
    }

    /// The first of `values` that is no reading, of the input or of the
    /// `output` (a truth); `recorded` finds the first of the live model's
    /// recorded codes among them (asked only where it has some).
    pub fn find(
        &self,
        values: &[f32],
        output: bool,
        recorded: impl FnOnce(&[f32]) -> Option<usize>,
    ) -> Option<Code> {
        let found = self
            .recorded
            .load(Relaxed)
            .then(|| recorded(values))
            .flatten();
        if let Some((index, &value)) = found.and_then(|i| Some((i, values.get(i)?))) {
            return Some(Code {
                index,
                value,
                recorded: true,
            });
        }
        let at = |i: usize| f32::from_bits(self.ranges[i + 2 * usize::from(output)].load(Relaxed));
        let (lo, hi) = (at(0), at(1));
        // As retrain tells a code from a reading: beyond the range by a
        // twentieth of its span, of three digits or more.
        let margin = crate::scaling::CODE_SPREADS as f32 * (hi - lo);
        let far = |v: f32| v < lo - margin || v > hi + margin;
        let code = |v: f32| v.abs() >= 999.0 && crate::scaling::looks_like_code(v);
        let index = (values.iter()).position(|&v| far(v) && code(v))?;
        Some(Code {
            index,
            value: values[index],
            recorded: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input's range given, the output's [0, 1].
    fn codes(range: Option<[f32; 2]>) -> Codes {
        let bits = |i: usize| range.map_or(f32::NAN, |r| r[i]).to_bits();
        Codes {
            recorded: AtomicBool::new(false),
            ranges: [bits(0), bits(1), 0f32.to_bits(), 1f32.to_bits()].map(AtomicU32::new),
        }
    }

    #[test]
    fn a_code_by_its_form_is_refused_only_far_outside_the_training_input() {
        let pm = codes(Some([2.25, 504.5]));
        let none = |_: &[f32]| None;
        let found = pm.find(&[12.0, -999.0], false, none);
        assert_eq!(
            found,
            Some(Code {
                index: 1,
                value: -999.0,
                recorded: false
            })
        );
        for reading in [[-999.0f32], [9999.0], [32767.0]] {
            assert!(pm.find(&reading, false, none).is_some(), "{reading:?}");
        }
        // Readings, however far; codes within the range (a display that
        // tops out at 999), and a model that recorded no range.
        for reading in [[600.0f32], [-50.0], [1234.0], [-99.0]] {
            assert_eq!(pm.find(&reading, false, none), None, "{reading:?}");
        }
        assert_eq!(codes(Some([0.0, 1000.0])).find(&[999.0], false, none), None);
        assert_eq!(codes(None).find(&[-999.0], false, none), None);
        // A truth is judged by the output's range: 9999 is far from [0, 1].
        assert!(pm.find(&[9999.0], true, none).is_some());
        assert_eq!(
            codes(Some([0.0, 1e5]))
                .find(&[9999.0], true, none)
                .map(|c| c.index),
            Some(0)
        );
        assert_eq!(codes(Some([0.0, 1e5])).find(&[9999.0], false, none), None);
        // A recorded code first, wherever it lies.
        let recorded = codes(Some([2.25, 504.5]));
        recorded.recorded.store(true, Relaxed);
        let found = recorded.find(&[3.0, -999.0, 0.0], false, |v| {
            v.iter().position(|x| *x == 0.0)
        });
        assert_eq!(found.map(|c| (c.index, c.recorded)), Some((2, true)));
    }
}
