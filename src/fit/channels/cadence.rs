//! Rows that come at irregular steps: a merge of several topics' messages
//! (PlotJuggler's "use previous value", a CAN log's signals filled
//! forward), or a logger that writes on change. The model reads a window
//! as rows, not as time: at steps from 0.3 ms to 1 ms, a window of 24 rows
//! spans 7 to 25 ms, and served, the stream's own clock is another.

use crate::recording::{Recording, time::span};

/// Said where a tenth of the steps are under half the median step or a
/// tenth over twice it (a live clock's jitter is far less), with how often
/// the input changes from row to row where it holds between updates.
pub(super) fn irregular(rec: &Recording) -> Option<String> {
    let mut steps: Vec<f64> = (rec.row_times.windows(2))
        .filter_map(|p| Some(p[1]? - p[0]?))
        .filter(|s| *s > 0.0)
        .collect();
    if steps.len() < 100 {
        return None;
    }
    steps.sort_by(f64::total_cmp);
    let at = |q: f64| steps[((steps.len() - 1) as f64 * q) as usize];
    let (p10, median, p90) = (at(0.1), at(0.5), at(0.9));
    if p10 >= 0.5 * median && p90 <= 2.0 * median {
        return None;
    }
    let input: Vec<f32> = rec.input().collect();
    let changes = input.windows(2).filter(|p| p[0] != p[1]).count();
    let share = changes as f64 / (input.len().max(2) - 1) as f64;
    let held = (share < 0.5).then(|| {
        format!(
            "; {:?} changes on {:.0}% of them (held between its updates)",
            rec.input_name,
            100.0 * share
        )
    });
    Some(format!(
        "the rows come at irregular steps: a tenth under {}, a tenth over {} (median {}){}: the \
         model reads a window as rows, not time, and a stream served at its own clock is another \
         signal to it. Rows of several topics merged, each held at its last value? Resample onto \
         one topic's clock (or export it with empty cells and read it with --rows-of)",
        span(p10),
        span(p90),
        span(median),
        held.unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamped(times: &[f64], input: impl Fn(usize) -> f32) -> Recording {
        Recording {
            input_name: "x".into(),
            row_times: times.iter().map(|&t| Some(t)).collect(),
            segments: vec![crate::recording::Segment {
                start: 0,
                input: (0..times.len()).map(input).collect(),
                output: vec![0.0; times.len()],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_union_of_topics_clocks_is_said_and_a_jittered_clock_is_not() {
        // 1 kHz rows and a 200 Hz topic's 0.3 ms after every fifth, the
        // input held between its updates.
        let mut times = Vec::new();
        for i in 0..400 {
            times.push(i as f64 * 1e-3);
            if i % 5 == 4 {
                times.push(i as f64 * 1e-3 + 3e-4);
            }
        }
        let merged = stamped(&times, |i| (i / 6) as f32);
        let said = irregular(&merged).unwrap();
        assert!(
            said.starts_with("the rows come at irregular steps: a tenth under 300 µs")
                && said.contains("\"x\" changes on 16% of them (held between its updates)"),
            "{said}"
        );
        // 10 ms ± 1 ms: regular.
        let jitter: Vec<f64> = (0..400)
            .map(|i| i as f64 * 0.01 + if i % 2 == 0 { 0.001 } else { 0.0 })
            .collect();
        assert_eq!(irregular(&stamped(&jitter, |i| i as f32)), None);
    }
}
