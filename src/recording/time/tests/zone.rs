//! A time column's local stamps read in their zone (`--time-zone`).

use super::*;

/// A German spreadsheet's quarter-hours across both clock changes of
/// 2026: with their zone named (`--time-zone Europe/Berlin`) every step is
/// 15 minutes, the hour that comes twice in October two hours, and the data
/// line names the zone; without it, each change is a gap.
#[test]
fn local_stamps_in_their_zone_have_no_clock_changes() {
    let mut autumn = String::from("Datum;Uhrzeit;x;y\n");
    let mut spring = autumn.clone();
    let mut i = 0;
    for h in 0..4 {
        for m in (0..60).step_by(15) {
            for pass in 0..(1 + usize::from(h == 2)) {
                autumn += &format!("25.10.2026;{h:02}:{m:02}:00;{i};{pass}\n");
                i += 1;
            }
            if h != 2 {
                spring += &format!("29.03.2026;{h:02}:{m:02}:00;{i};0\n");
            }
        }
    }
    // Rows in time order: the first pass of 02:xx, then the second.
    let autumn: String = {
        let mut lines: Vec<&str> = autumn.lines().collect();
        let (head, rest) = lines.split_at_mut(1);
        rest.sort_by_key(|l| (&l[11..16] >= "03:00", l.ends_with(";1"), &l[11..16]));
        [head, rest].concat().join("\n")
    };
    let zone = |text: &str| {
        use crate::recording::{Column, CsvOptions, Zone};
        let opts = CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            time: vec![Column::Name("Datum".into()), Column::Name("Uhrzeit".into())],
            time_zone: Some(Zone::parse("Europe/Berlin").unwrap()),
            ..Default::default()
        };
        Recording::from_bytes(text.as_bytes(), std::path::Path::new("rec.csv"), &opts).unwrap()
    };
    // An hourly export: 02:00 twice.
    let hourly: String = ["Datum;Uhrzeit;x;y"]
        .into_iter()
        .map(str::to_string)
        .chain(
            [0, 1, 2, 2, 3, 4]
                .iter()
                .enumerate()
                .map(|(i, h)| format!("25.10.2026;{h:02}:00:00;{i};0")),
        )
        .collect::<Vec<_>>()
        .join("\n");
    let r = zone(&hourly);
    assert_eq!((r.segments.len(), r.rows, r.repeated_times), (1, 6, 0));
    assert_eq!((r.time_step, r.time_gaps), (Some(3600.0), 0));
    // A zone named for stamps with offsets is said to be unused.
    let offsets = hourly.replace(":00:00;", ":00:00+01:00;");
    let r = zone(&offsets);
    assert!(
        r.read_as().contains("--time-zone Europe/Berlin unused"),
        "{}",
        r.read_as()
    );
    for (text, rows) in [(&autumn, 20), (&spring, 12)] {
        let r = zone(text);
        assert_eq!(
            (r.segments.len(), r.rows),
            (1, rows),
            "{:?}",
            r.time_gap_examples
        );
        assert_eq!(
            (r.time_step, r.time_gaps, r.repeated_times),
            (Some(900.0), 0, 0)
        );
        assert!(
            r.read_as().contains("times in Europe/Berlin"),
            "{}",
            r.read_as()
        );
        assert!(!r.read_as().contains("read as UTC"), "{}", r.read_as());
        let plain = read(text, &["Datum", "Uhrzeit"]).unwrap();
        assert_eq!(plain.time_gaps, 1, "{:?}", plain.time_gap_examples);
        assert!(plain.time_gap_examples[0].contains("--time-zone Europe/Berlin"));
    }
}
