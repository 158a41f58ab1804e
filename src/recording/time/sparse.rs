//! Gaps that come row after row: a logger that writes less often while
//! nothing changes (a cycler's rests logged every minute between pulses
//! logged every second). Each such row is a gap windows are split at, so
//! the rests are never trained on; read on one clock, each value held
//! until its next, they are.

use crate::config::duration_flag;
use crate::recording::Recording;

/// Rows that are gaps one after another, in stretches of at least this
/// many.
const STRETCH: usize = 3;

/// Such rows in stretches, and the step between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sparse {
    pub rows: usize,
    pub stretches: usize,
    pub step: f64,
    /// The longest of the alike steps (what `--max-gap` must hold).
    pub longest: f64,
}

impl Recording {
    /// Where most of its gaps are rows in stretches, a step apart alike
    /// (a second, slower rate, not outages): how many, and the step.
    pub(crate) fn sparse(&self) -> Option<Sparse> {
        let step_at = |r: usize| {
            let (a, b) = (
                self.row_times.get(r.checked_sub(1)?)?,
                self.row_times.get(r)?,
            );
            Some(b.as_ref()? - a.as_ref()?)
        };
        let rows = &self.time_gap_rows;
        let mut steps = Vec::new();
        let mut stretches = 0;
        let mut i = 0;
        while i < rows.len() {
            let mut j = i + 1;
            while j < rows.len() && rows[j] == rows[j - 1] + 1 {
                j += 1;
            }
            if j - i >= STRETCH {
                stretches += 1;
                steps.extend(rows[i..j].iter().filter_map(|&r| step_at(r)));
            }
            i = j;
        }
        if stretches < 2 || steps.len() < 10 || 2 * steps.len() < rows.len() {
            return None;
        }
        steps.sort_by(f64::total_cmp);
        let step = steps[steps.len() / 2];
        let alike: Vec<f64> = (steps.iter().copied())
            .filter(|s| (s - step).abs() <= 0.1 * step)
            .collect();
        (step > 0.0 && alike.len() * 10 >= steps.len() * 9).then(|| Sparse {
            rows: steps.len(),
            stretches,
            step,
            longest: alike.iter().copied().fold(step, f64::max),
        })
    }

    /// What the data line adds after its gaps where they are such rows:
    /// the flags that read them on one clock.
    pub fn sparse_note(&self) -> Option<String> {
        let s = self.sparse()?;
        let tick = self.time_step?;
        let hold = if s.longest >= 1.0 {
            s.longest.ceil()
        } else {
            s.longest
        };
        Some(format!(
            "; {} of them rows {} apart in {} stretches: a logger that writes less often while \
             nothing changes (a cycler's rests)? --resample {} --max-gap {} reads it on one \
             clock, each value held until its next, so windows span them",
            s.rows,
            super::span(s.step),
            s.stretches,
            duration_flag(tick),
            duration_flag(hold),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::recording::{Column, CsvOptions, Recording};

    /// A file of `t,x,y` rows at the times given.
    fn read(times: &[f64]) -> Recording {
        let mut text = String::from("t,x,y\n");
        for (i, t) in times.iter().enumerate() {
            text += &format!("{t},{},{}\n", (i % 7) as f64, (i % 5) as f64);
        }
        let opts = CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            time: vec![Column::Name("t".into())],
            ..Default::default()
        };
        Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap()
    }

    #[test]
    fn rests_logged_less_often_are_read_on_one_clock() {
        // Pulses a row a second, rests a row a minute (one 61 s late).
        let mut times = vec![];
        let mut t = 0.0;
        for rest in 0..4 {
            for _ in 0..100 {
                t += 1.0;
                times.push(t);
            }
            for k in 0..6 {
                t += if rest == 2 && k == 3 { 61.0 } else { 60.0 };
                times.push(t);
            }
        }
        let r = read(&times);
        assert_eq!(r.time_gaps, 24);
        let note = r.sparse_note().unwrap();
        assert!(
            note.contains("24 of them rows 1.0 min apart in 4 stretches")
                && note.contains("--resample 1s --max-gap 61s"),
            "{note}"
        );
    }

    #[test]
    fn outages_are_no_second_rate() {
        // Gaps of their own, an hour or two: one row each.
        let mut times: Vec<f64> = (0..400).map(f64::from).collect();
        for (i, t) in times.iter_mut().enumerate() {
            *t += 3600.0 * (i / 50) as f64 + (i / 100) as f64 * 1800.0;
        }
        let r = read(&times);
        assert_eq!(r.time_gaps, 7);
        assert_eq!(r.sparse(), None);
        // A logger offline, its rows an hour apart in one stretch only.
        let mut times: Vec<f64> = (0..300).map(f64::from).collect();
        times.extend((1..=20).map(|h| 299.0 + 3600.0 * f64::from(h)));
        times.extend((0..300).map(|s| 299.0 + 3600.0 * 21.0 + f64::from(s)));
        assert_eq!(read(&times).sparse(), None);
    }
}
