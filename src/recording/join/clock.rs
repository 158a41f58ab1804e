//! The clock a joined file's model is served on, carried by the file.
//!
//! Where the input came at another rate than the output, `join` held it on
//! the output's clock (each output row with the input's latest value), so
//! a model trained on the file must read its input so when served: on
//! that clock, each tick the latest sample, held as long as the join held
//! it. Printed as flags (`serve --resample 15m --max-gap 1350s`), that was
//! one more thing to get right by hand, and served without them the model
//! translated windows of 24 raw samples (2 hours of a 5-min input where it
//! learnt 6 hours of 15-min rows) with nothing worse than a warning. So the
//! joined file begins with a comment line that says the clock, `retrain`
//! records it in the model (`joined` in its metrics), and `serve` reads the
//! input on it unless the route sets a clock of its own.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// How the comment line begins.
const MARK: &str = "# pipeline join:";

/// The clock the input of a joined file was read on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JoinClock {
    /// The output's step, the clock's (seconds).
    pub resample_s: f64,
    /// The longest the join held an input value, at least a tick and a
    /// half (seconds); `None`: an input of one row, no step to go by.
    pub max_gap_s: Option<f64>,
    /// Where the output's rows lie in each step from the epoch (seconds,
    /// at or after nearly all of them: a row is read at its own tick), so
    /// that the ticks are its rows' (a logger launched at 12:07); `None`:
    /// on the epoch's grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_s: Option<f64>,
}

impl JoinClock {
    /// The comment line (with its newline) that says the clock, given the
    /// input's own step (seconds), for the reader and for `retrain`.
    pub fn line(&self, input_step_s: f64) -> String {
        let flag = crate::config::duration_flag;
        let span = crate::recording::time::span;
        let (mut hold, hold_flag) = match self.max_gap_s {
            Some(h) => (format!(" max_gap_s={h}"), format!(" --max-gap {}", flag(h))),
            None => Default::default(),
        };
        let mut ticks = String::new();
        if let Some(p) = self.phase_s {
            hold += &format!(" phase_s={p}");
            ticks = format!(" its ticks {} into each step as the output's rows", span(p));
        }
        // (No comma nor semicolon: a spreadsheet that saves the file again
        // keeps the line one cell.)
        format!(
            "{MARK} the input came every {} and the output every {}: each row holds the \
             input's latest value as a model trained on this file reads its input when served \
             (serve --resample {}{hold_flag} taken from the model{ticks}): resample_s={}{hold}\n",
            span(input_step_s),
            span(self.resample_s),
            flag(self.resample_s),
            self.resample_s
        )
    }

    /// The clock a file's first line says (after a byte-order mark), if it
    /// is a joined file's comment line.
    pub fn of_text(text: &[u8]) -> Option<Self> {
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        let line = text.split(|&b| b == b'\n').next()?;
        let line = std::str::from_utf8(line).ok()?.trim_end();
        let rest = line.strip_prefix(MARK)?;
        let value = |key: &str| -> Option<f64> {
            let at = rest.rfind(&format!(" {key}="))? + key.len() + 2;
            // The number alone (a spreadsheet may have added separators).
            let n = rest[at..]
                .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
                .map_or(&rest[at..], |end| &rest[at..at + end]);
            let v = n.parse::<f64>().ok()?;
            (v.is_finite() && v > 0.0).then_some(v)
        };
        Some(Self {
            resample_s: value("resample_s")?,
            max_gap_s: value("max_gap_s"),
            phase_s: value("phase_s"),
        })
    }

    /// The clock `path` was joined on, where it is a joined file that says
    /// one (its first few kB read).
    pub fn of_file(path: &Path) -> std::io::Result<Option<Self>> {
        let mut head = Vec::with_capacity(4096);
        std::fs::File::open(path)?
            .take(4096)
            .read_to_end(&mut head)?;
        Ok(Self::of_text(&head))
    }

    /// The clock a model's metrics record (`joined`), where it does.
    pub fn recorded(metrics: Option<&serde_json::Value>) -> Option<Self> {
        let j = metrics?.get("joined")?;
        let c: Self = serde_json::from_value(j.clone()).ok()?;
        let ok = |s: f64| s.is_finite() && s > 0.0;
        let phase_ok = c.phase_s.is_none_or(|p| ok(p) && p < c.resample_s);
        (ok(c.resample_s) && c.max_gap_s.is_none_or(ok) && phase_ok).then_some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_joined_files_clock_is_read_back_from_its_line() {
        let c = JoinClock {
            resample_s: 900.0,
            max_gap_s: Some(1350.0),
            phase_s: None,
        };
        let line = c.line(300.0);
        assert!(
            line.starts_with(
                "# pipeline join: the input came every 5.0 min and the output every 15.0 min"
            ),
            "{line}"
        );
        assert!(
            line.contains("(serve --resample 15m --max-gap 1350s taken from the model)"),
            "{line}"
        );
        assert!(!line.contains(',') && !line.contains(';'), "{line}");
        let file = format!("{line}time,oat,heat\n2026-01-01T00:00:00Z,1,2\n");
        assert_eq!(JoinClock::of_text(file.as_bytes()), Some(c));
        // Saved again by a spreadsheet, with the row's other cells empty.
        let saved = format!("{},,\r\ntime,oat,heat\r\n", line.trim_end());
        assert_eq!(JoinClock::of_text(saved.as_bytes()), Some(c));
        // Through a byte-order mark, and without a hold.
        let one = JoinClock {
            resample_s: 0.25,
            max_gap_s: None,
            phase_s: None,
        };
        let file = format!("\u{feff}{}time,a,b\n", one.line(0.1));
        assert_eq!(JoinClock::of_text(file.as_bytes()), Some(one));
        // Any other first line, or a line without a clock, says none.
        assert_eq!(
            JoinClock::of_text(b"time,a,b\n# pipeline join: resample_s=3\n"),
            None
        );
        assert_eq!(JoinClock::of_text(b"# pipeline join: resample_s=0\n"), None);
        assert_eq!(JoinClock::of_text(b"# pipeline join: resample_s=x\n"), None);
        assert_eq!(JoinClock::of_text(b""), None);
        // Recorded in a model's metrics, and read back from them.
        let m = serde_json::json!({ "joined": c });
        assert_eq!(JoinClock::recorded(Some(&m)), Some(c));
        let bad = serde_json::json!({ "joined": { "resample_s": -1.0 } });
        assert_eq!(JoinClock::recorded(Some(&bad)), None);
        assert_eq!(JoinClock::recorded(Some(&serde_json::json!({}))), None);
    }
}
