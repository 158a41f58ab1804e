//! What `tail` prints of each translation it receives, and of which.

use std::collections::HashMap;

use crate::wire::Translation;

/// Formats one translation for people.
pub fn describe(t: &Translation, truth: Option<&[f32]>, latency_ms: Option<f64>) -> String {
    let vals: Vec<String> = t.values.iter().take(4).map(|&v| value(v)).collect();
    let mut line = format!(
        "{} seq {} [{} … {}] ({} values, {})",
        t.stream,
        t.seq,
        vals.join(" "),
        value(t.values.last().copied().unwrap_or(f32::NAN)),
        t.values.len(),
        t.pair
    );
    if let Some(truth) = truth {
        // Signed: which way the measured signal is off what the model
        // expects (a PV plant's power short of it under snow).
        let short = (truth.iter().zip(&t.values))
            .map(|(y, x)| f64::from(*y) - f64::from(*x))
            .sum::<f64>()
            / truth.len().max(1) as f64;
        line.push_str(&format!(
            "  mse {:.2e}  truth − translation {} mean",
            crate::eval::mse(&t.values, truth),
            value(short as f32)
        ));
    }
    if let Some(l) = latency_ms {
        line.push_str(&format!("  latency {l:.2} ms"));
    }
    line
}

/// Four decimals where they read at a glance (0.01 to 10,000: `+0.5000`
/// for a normalised signal), else five significant digits in scientific
/// form (`+1.0412e-3` for a valve, `+2.4614e4` for watts).
fn value(v: f32) -> String {
    if v == 0.0 || (0.01..1e4).contains(&v.abs()) {
        format!("{v:+.4}")
    } else {
        format!("{v:+.4e}")
    }
}

/// Every N-th translation of each stream (a stream that sends faster
/// than another does not crowd it out of what is printed); none at 0.
pub(super) struct Every {
    n: u64,
    seen: HashMap<String, u64>,
}

impl Every {
    pub(super) fn new(n: u64) -> Self {
        Self {
            n,
            seen: HashMap::new(),
        }
    }

    /// Whether to print this translation of `stream`.
    pub(super) fn take(&mut self, stream: &str) -> bool {
        if self.n == 0 {
            return false;
        }
        let count = match self.seen.get_mut(stream) {
            Some(c) => c,
            None => self.seen.entry(stream.to_string()).or_insert(0),
        };
        *count += 1;
        (*count - 1) % self.n == 0
    }
}
