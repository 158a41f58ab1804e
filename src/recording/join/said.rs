//! What `join` says of a join: a line per file, the join, what it left
//! out, and the `retrain` that trains on it.

use std::path::Path;

use super::{JoinClock, Joined};
use crate::recording::time::span as span_text;

impl Joined {
    /// The `retrain` that trains on the joined file at `out`.
    pub fn next(&self, out: &Path) -> String {
        let word = crate::recording::shell_word;
        let model = out.with_extension("safetensors");
        let skip = if self.blank > 0 {
            " --skip-bad-rows"
        } else {
            ""
        };
        format!(
            "pipeline retrain --data {} --time-column time --input {} --output {}{skip} --out {}",
            word(&out.display().to_string()),
            word(&self.input_name),
            word(&self.output_name),
            word(&model.display().to_string())
        )
    }

    /// The `pipeline serve` that serves the model [`Self::next`] trains,
    /// where the input came at another rate than the output, and how: on
    /// the output's clock (`--resample`), each tick the input's latest
    /// sample, as the join took it, which the model records (the file's
    /// first line, [`JoinClock`]). None where the rates are one (samples
    /// are read as they come, as the rows were).
    pub fn serve(&self, out: &Path) -> Option<(String, String)> {
        let mut flags = self.serve_flags()?;
        if let Some(p) = self.clock().and_then(|c| c.phase_s) {
            flags += &format!(
                ", its ticks {} into each step as the output's rows",
                span_text(p)
            );
        }
        let model = out.with_extension("safetensors");
        Some((
            format!(
                "pipeline serve --model {}",
                crate::recording::shell_word(&model.display().to_string())
            ),
            format!(
                "it reads its input on the output's clock, which the model records from the \
                 joined file's first line ({flags}; a route's own resample overrides it)"
            ),
        ))
    }

    /// `--resample <the output's step>`, and `--max-gap` the hold the join
    /// took the input's value for (at least a tick and a half, which a
    /// clock's hold needs to read every change), where the rates differ.
    fn serve_flags(&self) -> Option<String> {
        let c = self.clock()?;
        let flag = crate::config::duration_flag;
        let hold = c.max_gap_s.map(|h| format!(" --max-gap {}", flag(h)));
        Some(format!(
            "--resample {}{}",
            flag(c.resample_s),
            hold.unwrap_or_default()
        ))
    }

    /// The clock the input was held on, where the rates differ: the
    /// output's step, and the hold (at least a tick and a half).
    pub fn clock(&self) -> Option<JoinClock> {
        let o = self.other_rate()?;
        Some(JoinClock {
            resample_s: o,
            max_gap_s: (self.hold > 0.0).then(|| self.hold.max(1.5 * o)),
            phase_s: self.phase,
        })
    }

    /// The output's step, where the input's is another (by over a tenth).
    fn other_rate(&self) -> Option<f64> {
        let (Some(i), Some(o)) = self.steps else {
            return None;
        };
        ((i / o - 1.0).abs() > 0.1).then_some(o)
    }

    /// What joining read and did, a line each, and what the user should
    /// look at (warnings).
    pub fn said(&self) -> (Vec<String>, Vec<String>) {
        let (mut lines, mut warnings) = (Vec::new(), Vec::new());
        for f in &self.files {
            warnings.extend(
                f.doubt
                    .as_ref()
                    .map(|d| format!("{}: {d}", f.path.display())),
            );
            let of = match f.channels {
                [true, true] => format!("{:?} and {:?}", self.input_name, self.output_name),
                [true, false] => format!("{:?} (the input)", self.input_name),
                _ => format!("{:?} (the output)", self.output_name),
            };
            let span = f
                .span
                .as_ref()
                .map_or(String::new(), |(a, b)| format!(", {a} to {b}"));
            let step = f
                .step
                .map_or(String::new(), |s| format!(", a row every {}", span_text(s)));
            let mut skipped = match f.skipped {
                0 => String::new(),
                n => format!(" ({n} rows skipped as bad rows)"),
            };
            if let Some(own) = &f.own {
                skipped += &format!("; the flags given do not fit it: read with {own}");
            }
            lines.push(format!(
                "{}: {} rows of {of}{span}{step}{skipped}",
                f.path.display(),
                f.rows
            ));
        }
        let age = |a: f64| match a {
            0.0 => "the same instant".to_string(),
            a => format!("{} older", span_text(a)),
        };
        let most = match self.age.1 {
            0.0 => String::new(),
            a => format!(" (at most {})", age(a)),
        };
        lines.push(format!(
            "joined on the output's clock: {} rows, each with the input's latest value, {} as a \
             rule{most}; stamps in {}",
            self.rows,
            age(self.age.0),
            self.stamps
        ));
        let left = self.before_input + self.stale + self.after_input;
        if left > 0 {
            let mut why = Vec::new();
            if self.before_input > 0 {
                why.push(format!(
                    "{} before the input's first row",
                    self.before_input
                ));
            }
            if self.stale > 0 {
                let (n, said) = &self.input_gaps;
                let more = n.saturating_sub(said.len());
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                why.push(format!(
                    "{} in the input's {n} break(s) (a gap longer than {}, skipped rows, a \
                     stretch left out: {}{more}; --max-gap sets how long a step may be)",
                    self.stale,
                    span_text(self.hold),
                    said.join(", ")
                ));
            }
            if self.after_input > 0 {
                why.push(format!(
                    "{} more than {} after the input's last row",
                    self.after_input,
                    span_text(self.hold)
                ));
            }
            lines.push(format!(
                "left out: {left} output rows, {}: no window spans them",
                why.join("; ")
            ));
        }
        if self.blank > 0 {
            lines.push(format!(
                "{} rows written with an empty input cell: a step into a short break of the \
                 input (a bad row skipped), where retrain --skip-bad-rows splits its windows",
                self.blank
            ));
        }
        if let (n @ 1.., Some(first)) = &self.own_repeats {
            warnings.push(format!(
                "{n} row(s) repeat a stamp of their own file, such as {first} (the later kept): \
                 {}",
                self.own_cause
            ));
        }
        if self.seconds && self.files.len() > 1 {
            warnings.push(
                "the stamps are seconds since a start, and the files' starts are taken as one \
                 instant: right only where one clock started both loggers (one DAQ)"
                    .into(),
            );
        }
        if self.repeats > 0 {
            lines.push(format!(
                "{} rows two files of one channel both hold (downloads that overlap) kept once",
                self.repeats
            ));
        }
        if let (n @ 1.., Some(first)) = &self.conflicts {
            let stamps = if *n == 1 { "stamp has" } else { "stamps have" };
            warnings.push(format!(
                "{n} {stamps} other values in two files of one channel, such as {first}: the \
                 later file's kept (a download after a correction; give the files oldest \
                 first), or two loggers' files given as one channel's?"
            ));
        }
        if let (Some(o), Some(i), Some(flags)) =
            (self.other_rate(), self.steps.0, self.serve_flags())
        {
            lines.push(format!(
                "the input comes every {}, the output every {}: a model trained on the joined \
                 rows reads the input every {}, so it is served on that clock ({flags}: each tick \
                 the input's latest sample, held as long as here), as the joined file's first \
                 line says and the model trained on it records",
                span_text(i),
                span_text(o),
                span_text(o),
            ));
        }
        (lines, warnings)
    }
}
