//! A recording's rows in runs with no skipped row or gap inside, and the
//! training windows over them.

use crate::data::Windows;
use crate::error::{Error, Result};

/// Contiguous rows: no skipped row inside.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Segment {
    /// The file's data row (0-based, skipped rows counted) of the first.
    pub start: usize,
    pub input: Vec<f32>,
    pub output: Vec<f32>,
}

impl Segment {
    pub fn len(&self) -> usize {
        self.input.len()
    }

    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
    }
}

/// Every window of `window` consecutive samples inside each segment
/// (stride 1); segments shorter than a window give none.
pub fn windows(segments: &[Segment], window: usize) -> Result<Windows> {
    let mut w = Windows::empty(window);
    if window == 0 {
        return Ok(w);
    }
    let count: usize = segments
        .iter()
        .map(|s| (s.len() + 1).saturating_sub(window))
        .sum();
    // Reserved at once: no doubling past what is needed, and a clear error
    // where the memory is not there (an allocation failure aborts).
    let values = count.saturating_mul(window);
    let too_large = |_| {
        Error::Data(format!(
            "{count} windows of {window} samples need {:.1} GB of memory, more than there is: \
             a smaller --window, or fewer rows (--data of a shorter export)",
            values as f64 * 8.0 / 1e9
        ))
    };
    w.input.try_reserve_exact(values).map_err(too_large)?;
    w.target.try_reserve_exact(values).map_err(too_large)?;
    for s in segments {
        if s.len() < window {
            continue;
        }
        for i in 0..=s.len() - window {
            w.input.extend_from_slice(&s.input[i..i + window]);
            w.target.extend_from_slice(&s.output[i..i + window]);
        }
    }
    Ok(w)
}

impl super::Recording {
    /// Chronological split: the last `fraction` of the rows is held out.
    /// Returns (training, validation) segments; a segment that crosses the
    /// cut is split there, so no window straddles it.
    pub fn split(&self, fraction: f64) -> (Vec<Segment>, Vec<Segment>) {
        let rows = self.kept_rows();
        let held = ((rows as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
        let cut = rows - held.min(rows);
        let (mut train, mut valid) = (Vec::new(), Vec::new());
        let mut start = 0;
        for s in &self.segments {
            let end = start + s.len();
            if end <= cut {
                train.push(s.clone());
            } else if start >= cut {
                valid.push(s.clone());
            } else {
                let k = cut - start;
                train.push(Segment {
                    start: s.start,
                    input: s.input[..k].to_vec(),
                    output: s.output[..k].to_vec(),
                });
                valid.push(Segment {
                    start: s.start + k,
                    input: s.input[k..].to_vec(),
                    output: s.output[k..].to_vec(),
                });
            }
            start = end;
        }
        (train, valid)
    }
}
