//! Per-channel affine scaling: what turns a recording in physical units
//! (hundreds of milli-g, thousands of pascals) into the unit-scale numbers an
//! LSTM's gates work well with, and back.
//!
//! The scale is fitted on the training split only (so nothing about the
//! validation data leaks into the model), stored in the model file's
//! metadata, and applied wherever the model runs: inputs are normalised
//! before the encoder, outputs mapped back after the dense head. Users send
//! and receive physical units; the network never sees them.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::error::{Error, Result};

/// `normalised = (physical − center) / scale`; `physical = normalised · scale + center`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Affine {
    pub center: f64,
    pub scale: f64,
}

impl Affine {
    pub const IDENTITY: Affine = Affine {
        center: 0.0,
        scale: 1.0,
    };

    pub fn is_identity(&self) -> bool {
        *self == Self::IDENTITY
    }

    /// Mean and standard deviation of `values` (f64 sums: a large offset
    /// costs no precision). Empty: 0 ± 0.
    pub fn standard(values: impl Iterator<Item = f32>) -> Self {
        let v: Vec<f64> = values.map(f64::from).collect();
        let n = v.len().max(1) as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        Affine {
            center: mean,
            scale: var.sqrt(),
        }
    }

    /// Physical → normalised, in place. f64 arithmetic so that a large
    /// offset (values near 1e5) costs no precision before rounding to f32.
    pub fn normalise(&self, v: &mut [f32]) {
        if self.is_identity() {
            return;
        }
        let inv = 1.0 / self.scale;
        for x in v {
            *x = ((*x as f64 - self.center) * inv) as f32;
        }
    }

    /// Normalised → physical, in place.
    pub fn denormalise(&self, v: &mut [f32]) {
        if self.is_identity() {
            return;
        }
        for x in v {
            *x = (*x as f64 * self.scale + self.center) as f32;
        }
    }

    fn check(&self, what: &str) -> Result<()> {
        if !(self.center.is_finite() && self.scale.is_finite() && self.scale > 0.0) {
            return Err(Error::Data(format!(
                "{what} scaling needs a finite center and a positive finite scale, got center {} \
                 and scale {}",
                self.center, self.scale
            )));
        }
        Ok(())
    }
}

impl Default for Affine {
    fn default() -> Self {
        Self::IDENTITY
    }
}

/// How the scale is fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMethod {
    /// No scaling: the model sees raw values (right for data already near ±1).
    None,
    /// Mean and standard deviation.
    #[default]
    Standard,
    /// Median and interquartile range / 1.349 (equals the standard deviation
    /// for Gaussian data; spikes and dropouts barely move it); where over
    /// half the samples are equal, the central 98% range, scaled the same
    /// way.
    Robust,
}

impl std::str::FromStr for ScaleMethod {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "standard" => Ok(Self::Standard),
            "robust" => Ok(Self::Robust),
            other => Err(format!(
                "unknown scale method {other:?} (none, standard, robust)"
            )),
        }
    }
}

/// The scaling of both channels, as stored in a model file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    /// How it was fitted (informational).
    #[serde(default)]
    pub method: ScaleMethod,
    pub input: Affine,
    pub output: Affine,
}

impl Scaling {
    pub const IDENTITY: Scaling = Scaling {
        method: ScaleMethod::None,
        input: Affine::IDENTITY,
        output: Affine::IDENTITY,
    };

    pub fn is_identity(&self) -> bool {
        self.input.is_identity() && self.output.is_identity()
    }

    /// `w`'s inputs and targets in the network's units, in place.
    pub fn to_network(&self, w: &mut crate::data::Windows) {
        self.input.normalise(&mut w.input);
        self.output.normalise(&mut w.target);
    }

    /// Fits both channels on the given samples (the training split).
    pub fn fit(method: ScaleMethod, input: &[f32], output: &[f32]) -> Result<Self> {
        Ok(Self {
            method,
            input: fit_channel(method, input, "input")?,
            output: fit_channel(method, output, "output")?,
        })
    }

    /// Checks values read from a file.
    pub fn check(&self) -> Result<()> {
        self.input.check("input")?;
        self.output.check("output")
    }
}

fn fit_channel(method: ScaleMethod, v: &[f32], what: &str) -> Result<Affine> {
    if v.is_empty() {
        return Err(Error::Data(format!("no {what} samples to fit a scale on")));
    }
    let (center, spread) = match method {
        ScaleMethod::None => return Ok(Affine::IDENTITY),
        ScaleMethod::Standard => {
            let a = Affine::standard(v.iter().copied());
            (a.center, a.scale)
        }
        ScaleMethod::Robust => {
            let s = sorted(v.iter().copied());
            let q = |p: f64| quantile_sorted(&s, p);
            // Where over half the samples are one value (rain: 0 most
            // hours), the quartiles leave no spread: the central 98%,
            // scaled to a normal distribution's standard deviation (the
            // central 90% of rain that falls one hour in twelve would make
            // a downpour ~90 spreads).
            let spread = [(0.25, 1.349), (0.01, 4.653)]
                .iter()
                .map(|&(p, normal)| (q(1.0 - p) - q(p)) / normal)
                .find(|&d| d > 0.0)
                .unwrap_or(0.0);
            (q(0.5), spread)
        }
    };
    // A constant channel carries no information; dividing by ~0 would blow
    // every later sample up. Refuse rather than train on garbage.
    let floor = 1e-12 * center.abs().max(1.0);
    if spread.is_finite() && spread > floor {
        Ok(Affine {
            center,
            scale: spread,
        })
    } else {
        let hint = match method {
            ScaleMethod::Robust => {
                " (with --scale robust, almost all samples may be equal: try --scale standard)"
            }
            _ => " (is it the right column?)",
        };
        Err(Error::Data(format!(
            "the {what} channel is (nearly) constant on the training split (spread {spread:e}); \
             nothing to learn from it{hint}"
        )))
    }
}

/// A standard scaling's spread this many times the robust one...
const SPIKE_RATIO: f64 = 1.5;
/// ...set by values this many robust spreads from the median...
const SPIKE_SPREADS: f64 = 8.0;
/// ...that are this rare (more are the channel's nature, not spikes).
const SPIKE_SHARE: f64 = 0.01;

/// Rare values far from the rest of a channel (spikes, a glitch, a rare
/// state) that set the spread of a standard scaling: every other value
/// then lies in a sliver of the range the model works in, and training
/// on them goes badly without a word (10 samples of ±40 mm among 6,000
/// of ±0.5 mm took a model from NMSE 0.13 to worse than the mean).
#[derive(Debug, Clone, PartialEq)]
pub struct Spikes {
    pub count: usize,
    /// Index of the first, in `values`.
    pub first: usize,
    pub median: f64,
    pub std: f64,
    /// Interquartile range / 1.349 (the standard deviation, for a normal
    /// distribution).
    pub robust: f64,
}

impl Spikes {
    /// `None` when `values` have none such (or are too few to tell).
    pub fn find(values: &[f32]) -> Option<Self> {
        if values.len() < 100 {
            return None;
        }
        let std = Affine::standard(values.iter().copied()).scale;
        let s = sorted(values.iter().copied());
        let median = quantile_sorted(&s, 0.5);
        let robust = (quantile_sorted(&s, 0.75) - quantile_sorted(&s, 0.25)) / 1.349;
        if robust.is_nan() || robust <= 0.0 || std < SPIKE_RATIO * robust {
            return None;
        }
        let reach = SPIKE_SPREADS * robust;
        let far = |x: f32| (f64::from(x) - median).abs() > reach;
        // A spike leaves the signal and comes back at once: a run of far
        // values that jumps that far from the values on both sides of it.
        // A signal that only reaches far now and then by its own course (a
        // PV plant's midday, whose nights are most of its rows and set the
        // median and spread) climbs there and back.
        let (mut count, mut first, mut i) = (0, None, 0);
        while i < values.len() {
            if !far(values[i]) {
                i += 1;
                continue;
            }
            let end = i + values[i..].iter().take_while(|&&x| far(x)).count();
            let jump = |j: Option<usize>, k: usize| {
                j.and_then(|j| values.get(j))
                    .is_none_or(|&n| f64::from(values[k] - n).abs() > reach)
            };
            if jump(i.checked_sub(1), i) && jump(Some(end), end - 1) {
                count += end - i;
                first.get_or_insert(i);
            } else {
                // Within a climb there, a lone value that leaps from both
                // its neighbours (a 9999 at a bright midday).
                for k in i..end {
                    if jump(k.checked_sub(1), k) && jump(Some(k + 1), k) {
                        count += 1;
                        first.get_or_insert(k);
                    }
                }
            }
            i = end;
        }
        if count == 0 || count as f64 > SPIKE_SHARE * values.len() as f64 {
            return None;
        }
        Some(Spikes {
            count,
            first: first?,
            median,
            std,
            robust,
        })
    }
}

/// A missing-value code trained on as data: a channel's least or greatest
/// value, far outside the rest of it, that repeats (`-9999` for each hour a
/// gauge was offline) or is written as one (`-9999`, `-999.9`, `32767`).
/// Found whatever its share of the rows, unlike [`Spikes`] (a gauge
/// offline for days), and where most values are one (rain: 0 most hours,
/// whose quartiles leave no spread to measure spikes by).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sentinel {
    pub value: f32,
    pub count: usize,
    /// Index of the first, in `values`.
    pub first: usize,
    /// The other values' range.
    pub lo: f32,
    pub hi: f32,
}

impl Sentinel {
    /// `None` when `values` have none such (or are too few to tell).
    pub fn find(values: &[f32]) -> Option<Self> {
        if values.len() < 100 {
            return None;
        }
        let (min, max) = (values.iter()).fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
        [min, max].into_iter().find_map(|value| {
            let rest = sorted(values.iter().copied().filter(|&v| v != value));
            let count = values.len() - rest.len();
            if rest.is_empty() {
                return None;
            }
            // The rest's spread, robust to a few spikes of its own.
            let spread = quantile_sorted(&rest, 0.99) - quantile_sorted(&rest, 0.01);
            let (lo, hi) = (rest[0], rest[rest.len() - 1]);
            let v = f64::from(value);
            let away = if v < lo { lo - v } else { v - hi };
            let far = away > SENTINEL_SPREADS * spread;
            let code = looks_like_code(value);
            // Where the rest has no spread, only a code's form tells a code
            // from a second state (a valve shut but twice open); nor is a
            // common value one (a pump off for hours: 0 rpm), or 0.
            let rare = count >= 2 && (count as f64) < SENTINEL_SHARE * values.len() as f64;
            // A code's form repeated beyond the rest, even near it (-999 kW
            // below a shaft power of 0 to 8,000 kW), unless at its edge (a
            // display that tops out at 999).
            // Rare, and of three digits or more: a two-digit `99` is as
            // often a humidity's or a charge's top as a code.
            let coded = code && rare && v.abs() >= 999.0 && away > CODE_SPREADS * spread;
            let sentinel = coded || far && (code || (rare && spread > 0.0 && value != 0.0));
            sentinel.then(|| Sentinel {
                value,
                count,
                first: values.iter().position(|&x| x == value).unwrap_or(0),
                lo: lo as f32,
                hi: hi as f32,
            })
        })
    }
}

/// A run of one value standing in for data while a logger was out (a
/// building controller writes `0,0` for the hours its meter was offline):
/// at least [`FILL_RUN`] rows in a row of a value well outside the central
/// 98% of the channel's other values, and rarer than one of its states
/// (rain's 0, a pump's off). Not far enough out for a [`Sentinel`], nor
/// written as a code, but as wrong to train on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    pub value: f32,
    /// The longest run's length, and its first index in `values`.
    pub run: usize,
    pub first: usize,
    /// Rows holding the value, in runs or not.
    pub count: usize,
    /// The other values' central 98%.
    pub lo: f32,
    pub hi: f32,
}

impl Fill {
    pub fn find(values: &[f32]) -> Option<Self> {
        if values.len() < 100 {
            return None;
        }
        // Each value's longest run, longest first: a channel's states (a
        // stop at 0 kW for hours) run longer than a logger's fill may.
        let mut longest: HashMap<u32, (usize, usize)> = HashMap::new(); // (run, first)
        let mut at = 0;
        for i in 1..=values.len() {
            if i == values.len() || values[i] != values[at] {
                if i - at >= FILL_RUN {
                    let r = longest.entry(bits(values[at])).or_insert((0, at));
                    if i - at > r.0 {
                        *r = (i - at, at);
                    }
                }
                at = i;
            }
        }
        let mut runs: Vec<(usize, usize)> = longest.into_values().collect();
        runs.sort_by_key(|&(run, first)| (std::cmp::Reverse(run), first));
        runs.truncate(FILL_CANDIDATES);
        if runs.is_empty() {
            return None;
        }
        let all = sorted(values.iter().copied());
        runs.into_iter()
            .find_map(|(run, first)| Self::of(values, &all, run, first))
    }

    /// The run of `values[first]` (its longest, `run` rows) as a fill,
    /// where it is one (`all`: `values` sorted).
    fn of(values: &[f32], all: &[f64], run: usize, first: usize) -> Option<Self> {
        let value = values[first];
        let v = f64::from(value);
        // The value's place in `all`, and the rest's quantiles around it.
        let from = all.partition_point(|&x| x < v);
        let to = all.partition_point(|&x| x <= v);
        let count = to - from;
        let rest = all.len() - count;
        if rest == 0 || count as f64 >= SENTINEL_SHARE * values.len() as f64 {
            return None;
        }
        let at = |i: usize| all[if i < from { i } else { i + count }];
        let quantile = |p: f64| {
            let pos = p * (rest - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            at(lo) + (at(hi) - at(lo)) * (pos - lo as f64)
        };
        let (lo, hi) = (quantile(0.01), quantile(0.99));
        // Well outside, not at the edge: a channel that saturates (a
        // turbine at its rated power) runs at its greatest value.
        let away = if v < lo { lo - v } else { v - hi };
        (hi > lo && away > 0.5 * (hi - lo)).then_some(Fill {
            value,
            run,
            first,
            count,
            lo: lo as f32,
            hi: hi as f32,
        })
    }
}

/// A value's bits, one key for 0 and -0.
fn bits(v: f32) -> u32 {
    if v == 0.0 { 0 } else { v.to_bits() }
}

/// Rows in a row of one value outside the rest before it is taken for a
/// logger's fill.
const FILL_RUN: usize = 12;
/// Values of such runs looked at, longest run first.
const FILL_CANDIDATES: usize = 8;
/// How far beyond the rest of a channel (in its central 98%'s widths) a
/// value written as a code lies before its repeats are taken for one.
pub(crate) const CODE_SPREADS: f64 = 0.05;

/// How far outside the rest of a channel a value lies (in its central
/// 98%'s widths) before a repeat of it is taken for a code, not data...
const SENTINEL_SPREADS: f64 = 10.0;
/// ...and the share of the rows under which a value not written as a code
/// is (more: a state of the channel, such as off).
const SENTINEL_SHARE: f64 = 0.05;

/// Written as missing-value codes are: nines (`-9999`, `999999`,
/// `-999.9`) or a 16-bit integer's limit (`32767`, `-32768`, `65535`).
pub(crate) fn looks_like_code(v: f32) -> bool {
    let a = f64::from(v.abs());
    let nines = (2..=9).any(|d| {
        let n = 10f64.powi(d) - 1.0;
        a == n || (a * 10.0).round() == n && (a * 10.0 - n).abs() < 1e-3
    });
    nines || [32767.0, 32768.0, 65535.0].contains(&a)
}

/// `values` in f64, sorted, for [`quantile_sorted`].
fn sorted(values: impl Iterator<Item = f32>) -> Vec<f64> {
    let mut s: Vec<f64> = values.map(f64::from).collect();
    s.sort_by(f64::total_cmp);
    s
}

/// Linear-interpolated quantile of sorted data (numpy's default method).
fn quantile_sorted(s: &[f64], p: f64) -> f64 {
    let pos = p * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests;
