//! A cumulative counter (an energy meter's kWh, a flow totaliser's m³)
//! chosen as a channel: it only rises, but for a reset or a wrap. Its level
//! is the time since the counter started, not anything the other channel
//! follows; what translates is its rate, the difference from row to row.
//! (A user asked for power picks `energy` readily.)

use crate::recording::Recording;

/// Share of a channel's row-to-row steps that rise or hold, at least, for
/// it to be read as a counter.
const RISING: f64 = 0.995;
/// Steps a channel needs to be judged.
const STEPS: usize = 100;

/// Each channel that only rises (but for a few drops: resets, wraps), said.
pub(super) fn counters(rec: &Recording) -> Vec<String> {
    let mut said = Vec::new();
    for (name, values) in super::named_channels(rec) {
        let (mut up, mut held, mut down, mut first_drop) = (0usize, 0usize, 0usize, None);
        // Steps of exactly one: a record number counts the rows.
        let mut ones = 0usize;
        for s in &rec.segments {
            for (k, w) in values(s).windows(2).enumerate() {
                match w[1].partial_cmp(&w[0]) {
                    Some(std::cmp::Ordering::Greater) => {
                        up += 1;
                        ones += usize::from(w[1] - w[0] == 1.0);
                    }
                    Some(std::cmp::Ordering::Equal) => held += 1,
                    Some(std::cmp::Ordering::Less) => {
                        down += 1;
                        first_drop.get_or_insert(s.start + k + 1);
                    }
                    None => {}
                }
            }
        }
        let steps = up + held + down;
        // Rising on most steps (not a channel that mostly holds: a setpoint
        // raised now and then), falling on next to none.
        let rising = (up + held) as f64;
        if steps < STEPS || rising < RISING * steps as f64 || 2 * up < steps {
            continue;
        }
        let drops = match (down, first_drop) {
            (0, _) | (_, None) => "never falls".to_string(),
            (n, Some(row)) => {
                format!("falls only {n} time(s), the first at data row {row} (a reset, or a wrap)")
            }
        };
        // A logger's `RECORD` (TOA5's unit `RN`): one more on every row.
        let unit = match name == &rec.input_name {
            true => rec.input_unit(),
            false => rec.output_unit(),
        };
        if unit == Some("RN") || ones as f64 >= RISING * steps as f64 {
            said.push(format!(
                "column {name:?} counts the rows (one more on {:.1}% of its rows, and {drops}): \
                 the logger's record number, not a measurement; choose a measured column",
                100.0 * ones as f64 / steps as f64
            ));
            continue;
        }
        said.push(format!(
            "column {name:?} rises or holds on {:.1}% of its rows and {drops}: a cumulative \
             counter (an energy or volume total)? Its level is the time since the counter \
             started, which the other channel does not follow; what translates is its rate, \
             the difference from one row to the next (export the power or flow instead, or \
             difference the column)",
            100.0 * (up + held) as f64 / steps as f64
        ));
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{Column, CsvOptions};

    fn read(text: &str, input: &str, output: &str) -> Recording {
        let opts = CsvOptions {
            input: Column::Name(input.into()),
            output: Column::Name(output.into()),
            ..Default::default()
        };
        Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap()
    }

    /// An energy total with a reset is said; the power beside it and a
    /// setpoint raised now and then are not.
    #[test]
    fn a_cumulative_counter_is_said() {
        let mut text = String::from("x,y,s\n");
        let mut total = 0.0;
        for i in 0..1000 {
            let power = 5.0 + (i as f64 / 7.0).sin();
            total += power / 120.0;
            if i == 600 {
                total = 0.0; // a firmware upgrade reset it
            }
            let setpoint = 20.0 + (i / 200) as f64;
            text += &format!("{total:.4},{power:.4},{setpoint}\n");
        }
        let said = counters(&read(&text, "x", "y"));
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with(
                "column \"x\" rises or holds on 99.9% of its rows and falls only 1 time(s), the \
                 first at data row 600 (a reset, or a wrap): a cumulative counter"
            ),
            "{said:?}"
        );
        assert!(counters(&read(&text, "s", "y")).is_empty());
        // A logger's record number, restarted once: the rows' count.
        let mut text = String::from("RECORD,y\n");
        for i in 0..500 {
            text += &format!("{},{}\n", if i < 300 { i + 40 } else { i - 300 }, i % 7);
        }
        let said = counters(&read(&text, "RECORD", "y"));
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with(
                "column \"RECORD\" counts the rows (one more on 99.8% of its rows, and falls only \
                 1 time(s)"
            ) && said[0].contains("the logger's record number"),
            "{said:?}"
        );
    }
}
