//! Elapsed times and times of day without a date.

use super::*;

/// Elapsed times as bedside monitors and waveform tools export them
/// (PhysioNet: every cell in `'`, a units row, `m:ss.mmm` going on to
/// `h:mm:ss.mmm`; or `[hh:mm:ss.mmm]`): read as seconds since the start.
#[test]
fn elapsed_times_are_read_as_seconds_from_the_start() {
    use crate::recording::dates::elapsed;
    let cases = [
        ("0:00.008", Some(0.008)),
        ("12:59.992", Some(779.992)),
        ("1:00:00.000", Some(3600.0)),
        ("25:00:00.5", Some(90_000.5)),
        ("[00:01:00.250]", Some(60.25)),
        ("13:05:17", Some(47_117.0)),
        // Times of day without seconds, or with AM/PM: not elapsed.
        ("12:10", None),
        ("1:05 PM", None),
        ("1:60.0", None),
        ("0:5.0", None),
        ("1:00:60.0", None),
        ("[0:00.008", None),
        ("-0:01.000", None),
    ];
    for (text, want) in cases {
        let got = elapsed(text);
        match (got, want) {
            (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{text}: {g}"),
            _ => assert_eq!(got, want, "{text}"),
        }
    }
    let mut text = String::from("'Elapsed time','ABP','PLETH'\r\n'hh:mm:ss.mmm','mmHg','NU'\r\n");
    for i in 0..500 {
        let t = 59.0 * 60.0 + 59.0 + i as f64 * 0.008 - 2.0;
        let (h, m, s) = ((t / 3600.0) as u64, (t / 60.0) as u64 % 60, t % 60.0);
        let stamp = match h {
            0 => format!("{m}:{s:06.3}"),
            h => format!("{h}:{m:02}:{s:06.3}"),
        };
        text += &format!("'{stamp}',{},{}\r\n", 90 + i % 7, i % 5);
    }
    let opts = crate::recording::CsvOptions {
        input: crate::recording::Column::Name("PLETH".into()),
        output: crate::recording::Column::Name("ABP".into()),
        time: vec![crate::recording::Column::Name("Elapsed time".into())],
        ..Default::default()
    };
    let r = Recording::from_bytes(text.as_bytes(), std::path::Path::new("p.csv"), &opts).unwrap();
    assert_eq!((r.rows, r.time_gaps, r.time_step), (500, 0, Some(0.008)));
    assert_eq!(
        (r.output_name.as_str(), r.output_unit()),
        ("ABP", Some("mmHg"))
    );
    assert!(!r.time_local && r.time_clock);
    // Named nowhere, the column is pointed at.
    let unnamed = crate::recording::CsvOptions {
        time: Vec::new(),
        ..opts
    };
    let r =
        Recording::from_bytes(text.as_bytes(), std::path::Path::new("p.csv"), &unnamed).unwrap();
    assert_eq!(
        r.time_hint.as_deref(),
        Some("--time-column \"Elapsed time\"")
    );
}
