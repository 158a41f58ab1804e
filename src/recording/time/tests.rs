//! The time column's tests: stamps, gaps, cadence, order.

use super::*;

#[test]
fn time_cells_read_as_seconds() {
    let s = |t: &str| seconds(t.as_bytes(), b',', None, None, None);
    assert_eq!(s("1700000000").unwrap(), 1.7e9);
    assert_eq!(s("2.5").unwrap(), 2.5);
    // Epoch milliseconds, microseconds and nanoseconds read as seconds.
    assert_eq!(s("1700000000000").unwrap(), 1.7e9);
    assert_eq!(s("1700000000000000").unwrap(), 1.7e9);
    assert_eq!(s("1700000000000000000").unwrap(), 1.7e9);
    // 2026-01-01 is 20,454 days after 1970-01-01.
    let day = 20_454.0 * 86_400.0;
    assert_eq!(s("2026-01-01T00:00:00").unwrap(), day);
    assert_eq!(s("2026-01-01 12:30").unwrap(), day + 45_000.0);
    assert_eq!(s("2026-01-01T00:00:01.5Z").unwrap(), day + 1.5);
    assert_eq!(s("2026-01-01T01:00:00+01:00").unwrap(), day);
    assert_eq!(s("2025-12-31T23:00:00-01:00").unwrap(), day);
    assert_eq!(s("01.01.2026 00:01:00").unwrap(), day + 60.0);
    assert_eq!(s("2026-01-02").unwrap(), day + 86_400.0);
    // Leap years: 2024-02-29 exists and 2024-03-01 is the day after.
    assert_eq!(
        s("2024-03-01T00:00:00").unwrap() - s("2024-02-29T00:00:00").unwrap(),
        86_400.0
    );
    for bad in [
        "",
        "noon",
        "2026-13-01 00:00",
        "2026-01-01T25:00",
        "12/31/2025 10:00",
    ] {
        assert!(s(bad).is_err(), "{bad}");
    }
}

/// In a file of decimal commas a time in seconds is read as its values
/// are (it was refused, or `1.234` read as a second and a bit).
#[test]
fn time_cells_follow_the_decimal_convention() {
    use super::super::Decimal;
    let comma = Convention {
        decimal: Decimal::Comma,
        shown_by: "line 2".into(),
    };
    let s = |t: &str| seconds(t.as_bytes(), b';', Some(&comma), None, None);
    assert_eq!(s("60,5").unwrap(), 60.5);
    assert_eq!(s("1.234").unwrap(), 1234.0);
    assert_eq!(s("1.764.806.400").unwrap(), 1_764_806_400.0);
    assert_eq!(
        s("01.01.2026 00:01:00,5").unwrap(),
        20_454.0 * 86_400.0 + 60.5
    );
    assert!(s("1.23,4,5").is_err());
    // Not of the convention, but a number as it stands.
    assert_eq!(s("60.5").unwrap(), 60.5);
    // No convention decided: a lone comma in a `;` file, as values.
    let undecided = |t: &str| seconds(t.as_bytes(), b';', None, None, None);
    assert_eq!(undecided("60,5").unwrap(), 60.5);
    assert!(seconds(b"60,5", b',', None, None, None).is_err());
    // The precision of epoch seconds survives the convention.
    let point = Convention {
        decimal: Decimal::Point,
        shown_by: "line 2".into(),
    };
    assert_eq!(
        seconds(b"1764806400.25", b',', Some(&point), None, None).unwrap(),
        1_764_806_400.25
    );
}

#[test]
fn gaps_are_three_median_steps_or_what_is_given() {
    let steps = [60.0, 62.0, 58.0, 120.0, 18_000.0, 61.0];
    let t = threshold(&steps, None).unwrap();
    assert_eq!(t, 3.0 * 62.0); // the upper median of six
    let gaps: Vec<bool> = steps.iter().map(|&s| is_gap(s, t)).collect();
    assert_eq!(gaps, [false, false, false, false, true, false]);
    // Back in time is a gap; the same time again is not (`serve` does
    // not restart at a repeated ts).
    assert!(is_gap(-3600.0, t) && !is_gap(0.0, t));
    assert_eq!(threshold(&steps, Some(100.0)), Some(100.0));
    assert_eq!(threshold(&[60.0], None), None);
    assert_eq!(span(18_000.0), "5.0 h");
    assert_eq!(span(0.018999814987182617), "19 ms");
    assert_eq!(span(2.5), "2.5 s");
    assert_eq!(span(0.0000125), "12.5 µs");
}

fn read(text: &str, time: &[&str]) -> Result<Recording> {
    use super::super::{Column, CsvOptions};
    let opts = CsvOptions {
        input: Column::Name("x".into()),
        output: Column::Name("y".into()),
        time: time.iter().map(|c| Column::Name(c.to_string())).collect(),
        ..Default::default()
    };
    Recording::from_bytes(text.as_bytes(), std::path::Path::new("rec.csv"), &opts)
}

/// A German spreadsheet's `Datum;Uhrzeit`: the date and the time of day
/// in two columns are one stamp, so a day's outage is a gap and the
/// hour repeated when the clocks go back is a gap, not a day of them.
#[test]
fn a_date_and_a_time_of_day_in_two_columns_are_one_stamp() {
    let mut text = String::from("Datum;Uhrzeit;x;y\r\n");
    let rows = [
        ("24.10.2026", "23:30:00"),
        ("24.10.2026", "23:45:00"),
        ("25.10.2026", "00:00:00"),
        ("25.10.2026", "00:15:00"),
        ("25.10.2026", "02:45:00"),
        ("25.10.2026", "02:00:00"), // the clocks go back an hour
        ("25.10.2026", "02:15:00"),
        ("27.10.2026", "02:30:00"), // a day and more of outage
        ("27.10.2026", "02:45:00"),
    ];
    for (i, (date, clock)) in rows.iter().enumerate() {
        text += &format!("{date};{clock};{i},5;1,{i}\r\n");
    }
    let r = read(&text, &["Datum", "Uhrzeit"]).unwrap();
    let segments: Vec<(usize, usize)> = r.segments.iter().map(|s| (s.start, s.len())).collect();
    assert_eq!(segments, [(0, 4), (4, 1), (5, 2), (7, 2)]);
    assert_eq!(r.time_gap_rows, [4, 5, 7]);
    assert_eq!(r.time_name.as_deref(), Some("Datum + Uhrzeit"));
    assert_eq!(r.segments[0].input, [0.5, 1.5, 2.5, 3.5]);
    assert_eq!(
        r.time_gap_examples[2],
        "data row 7: 2.0 days after the row before, 2026-10-25T02:15:00 to 2026-10-27T02:30:00"
    );
    // The clocks going back is said to be one; the outages are not.
    assert_eq!(
        r.time_gap_examples[1],
        format!(
            "data row 5: the time goes back 45.0 min, 2026-10-25T02:45:00 to \
             2026-10-25T02:00:00{DST_HINT}"
        )
    );
    assert!(!r.time_gap_examples[0].contains("daylight"));
    // Sunday 4 January 1970, 01:00 and 02:45; the Thursday before.
    let (sunday, late, thursday) = (3.0 * 86_400.0 + 3600.0, 3.0 * 86_400.0 + 9900.0, 3600.0);
    assert!(clock_change(sunday, 7200.0, 3600.0) && clock_change(sunday, 0.0, 3600.0));
    assert!(clock_change(late, 4500.0, 900.0) && !clock_change(late, 3600.0, 900.0));
    assert!(
        !clock_change(thursday, 7200.0, 3600.0),
        "an outage on a Thursday"
    );
    assert!(
        !clock_change(sunday + 6.0 * 3600.0, 7200.0, 3600.0),
        "at 07:00"
    );
    // Only dates in local time shift with the clocks.
    let local = |t: &str| local_text(t.as_bytes(), None);
    assert!(local("25.10.2026 02:45") && local("2026-10-25T02:45:00"));
    assert!(local("3/29/2026 1:45 AM") && local("\"2026-03-29 01:45\""));
    assert!(local_text(b"25.10.2026", Some(b"02:45")));
    assert!(!local_text(b"25.10.2026", Some(b"02:45+01:00")));
    for zoned in [
        "2026-10-25T02:45:00Z",
        "2026-10-25T02:45:00+02:00",
        "2026-10-25 02:45-05:00",
    ] {
        assert!(!local(zoned), "{zoned}");
    }
    assert!(!local("1764320000") && !local("3600,5") && !local("1.764.806.400"));
    // The date alone repeats on most rows: refused with the way out.
    let e = read(&text, &["Datum"]).unwrap_err().to_string();
    assert!(
        e.contains("\"Datum\" repeats on 6 of 8 rows: a date without its time of day")
            && e.contains("--time-column DATE --time-column TIME"),
        "{e}"
    );
    // The time of day alone, past midnight, says what is missing (within
    // one day it is read as the seconds since its midnight).
    let e = read(&text, &["Uhrzeit"]).unwrap_err().to_string();
    assert!(
        e.contains(
            "\"Uhrzeit\" holds times of day without their date: they go from 23:45:00 back to \
             00:00:00 at data row 2 (a new day); name the date's column first"
        ),
        "{e}"
    );
    let day = "Datum;Uhrzeit;x;y\n24.10.2026;08:00:00;1;2\n24.10.2026;08:15:00;1;2\n\
               24.10.2026;08:30:00;1;2\n";
    let r = read(day, &["Uhrzeit"]).unwrap();
    assert_eq!((r.time_step, r.time_local), (Some(900.0), false));
    // Dates and times without a zone are read as UTC, and said so; with
    // one, not.
    let r = read(day, &["Datum", "Uhrzeit"]).unwrap();
    assert!(r.time_local, "{}", r.read_as());
    assert!(r.read_as().contains("times without a zone, read as UTC"));
    let zoned = day.replace(":00;1", ":00+01:00;1");
    let r = read(&zoned, &["Datum", "Uhrzeit"]).unwrap();
    assert!(!r.read_as().contains("without a zone"), "{}", r.read_as());
    // With --skip-bad-rows every row goes for a time cell that is none
    // (`23h30`); a bad value on the first one does not make the channels
    // the suspects.
    let dashed = text.replacen(";0,5;", ";---;", 1).replace(':', "h");
    let opts = super::super::CsvOptions {
        input: super::super::Column::Name("x".into()),
        output: super::super::Column::Name("y".into()),
        time: vec![super::super::Column::Name("Uhrzeit".into())],
        skip_bad_rows: true,
        ..Default::default()
    };
    let e = Recording::from_bytes(dashed.as_bytes(), std::path::Path::new("r.csv"), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("such as line 3: column \"Uhrzeit\"")
            && e.contains("is --time-column the right column?"),
        "{e}"
    );
    // Named nowhere, the two columns are pointed at; a file of numbers
    // (epoch seconds would be a guess) and a named column are not.
    let unnamed = read(&text, &[]).unwrap();
    assert_eq!(
        unnamed.time_hint.as_deref(),
        Some("--time-column Datum --time-column Uhrzeit")
    );
    let iso = read("t,x,y\n2026-01-01T00:00:00Z,1,2\n", &[]).unwrap();
    assert_eq!(iso.time_hint.as_deref(), Some("--time-column t"));
    assert_eq!(
        read("t,x,y\n1700000000,1,2\n", &[]).unwrap().time_hint,
        None
    );
    assert_eq!(read(&text, &["Datum", "Uhrzeit"]).unwrap().time_hint, None);
    // Named the other way round: said so.
    let e = read(&text, &["Uhrzeit", "Datum"]).unwrap_err().to_string();
    assert!(
        e.contains("the time of day is named before the date"),
        "{e}"
    );
    // Three columns are not a stamp.
    let e = read(&text, &["Datum", "Uhrzeit", "x"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 time columns given"), "{e}");
    // A bad cell names both columns.
    let bad = text.replacen("00:15:00", "00:75:00", 1);
    let e = read(&bad, &["Datum", "Uhrzeit"]).unwrap_err().to_string();
    assert!(
        e.contains(
            "line 5: column \"Datum\" (index 0) + column \"Uhrzeit\" (index 1): \
             \"25.10.2026 00:75:00\" is not a time"
        ),
        "{e}"
    );
}

/// Rows out of time order (shuffled) are refused with a fix, not split
/// into thousands of gaps; a column of seconds is hinted at by its name.
#[test]
fn rows_out_of_time_order_are_refused_and_a_seconds_column_is_hinted() {
    let order = [
        0, 1, 2, 5, 3, 4, 6, 9, 7, 8, 10, 11, 14, 12, 13, 15, 16, 17, 18, 19,
    ];
    let mut text = String::from("Time [s],T_out,y\n");
    for t in order {
        text += &format!("{t},{t},{t}\n");
    }
    let opts = |time: &[&str]| super::super::CsvOptions {
        input: super::super::Column::Name("T_out".into()),
        output: super::super::Column::Name("y".into()),
        time: time
            .iter()
            .map(|c| super::super::Column::Name(c.to_string()))
            .collect(),
        ..Default::default()
    };
    let read = |time: &[&str]| {
        Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts(time))
    };
    let e = read(&["Time [s]"]).unwrap_err().to_string();
    assert!(e.contains("goes back 3 times in 19 steps"), "{e}");
    assert_eq!(
        read(&[]).unwrap().time_hint.as_deref(),
        Some("--time-column \"Time [s]\"")
    );
    // PlotJuggler's, rostopic's and asammdf's names for it.
    for name in ["__time", "%time", "timestamps"] {
        let renamed = text.replacen("Time [s]", name, 1);
        let r = Recording::from_bytes(
            renamed.as_bytes(),
            std::path::Path::new("r.csv"),
            &opts(&[]),
        );
        assert_eq!(r.unwrap().time_hint, Some(format!("--time-column {name}")));
    }
    // A temperature named `T_out` is not taken for time.
    let renamed = text.replacen("Time [s]", "count", 1);
    let r = Recording::from_bytes(
        renamed.as_bytes(),
        std::path::Path::new("r.csv"),
        &opts(&[]),
    );
    assert_eq!(r.unwrap().time_hint, None);
}

/// The data line gives the sampling interval, and the late or missing
/// samples that are no gap (windows span them).
#[test]
fn the_sampling_interval_and_late_samples_are_said() {
    let mut text = String::from("t,x,y\n");
    for (i, t) in [0, 10, 20, 40, 50, 60, 1000, 1010].iter().enumerate() {
        text += &format!("{},{i},{i}\n", f64::from(*t) / 1000.0);
    }
    let r = read(&text, &["t"]).unwrap();
    assert_eq!((r.time_gaps, r.late_steps), (1, 1));
    let cadence = r.cadence().unwrap();
    assert!(
        cadence.starts_with("a row every 10 ms; 1 step(s)"),
        "{cadence}"
    );
    assert_eq!(read("t,x,y\n0,1,1\n", &["t"]).unwrap().cadence(), None);
}

/// A row at the same time as the row before (a historian's row written
/// twice, most often) is no gap: kept as a sample, as `serve` takes a
/// repeated ts, so training windows span it as live ones do; said in the
/// data line. A time going back is still a gap.
#[test]
fn a_repeated_time_is_kept_as_a_sample_and_said() {
    let mut text = String::from("t,x,y\n");
    let rows = [
        (0, 0),
        (10, 1),
        (10, 1),
        (20, 2),
        (30, 3),
        (30, 9),
        (40, 4),
        (35, 5),
        (45, 6),
    ];
    for (t, v) in rows {
        text += &format!("{},{v},{v}\n", f64::from(t) / 1000.0);
    }
    let r = read(&text, &["t"]).unwrap();
    let segments: Vec<(usize, usize)> = r.segments.iter().map(|s| (s.start, s.len())).collect();
    assert_eq!(
        segments,
        [(0, 7), (7, 2)],
        "split only where the time goes back"
    );
    assert_eq!(r.segments[0].input, [0.0, 1.0, 1.0, 2.0, 3.0, 9.0, 4.0]);
    assert_eq!((r.time_gaps, r.time_gap_rows.clone()), (1, vec![7]));
    assert_eq!((r.repeated_times, r.first_repeat), (2, Some(2)));
    let cadence = r.cadence().unwrap();
    assert!(
        cadence.contains("2 row(s) at the time of the row before (the first: data row 2)"),
        "{cadence}"
    );
    // Hourly local stamps when the clocks go back repeat an hour: a real
    // row, kept, and not counted as a copy.
    let mut hourly = String::from("t,x,y\n");
    for (i, clock) in ["00", "01", "02", "02", "03", "04"].iter().enumerate() {
        hourly += &format!("2026-10-25 {clock}:00:00,{i},{i}\n");
    }
    let r = read(&hourly, &["t"]).unwrap();
    assert_eq!((r.segments.len(), r.repeated_times), (1, 0));
    // Without repeats, nothing of the kind is said.
    let plain = read("t,x,y\n0,1,1\n0.01,2,2\n0.02,3,3\n", &["t"]).unwrap();
    assert!(!plain.cadence().unwrap().contains("time of the row before"));
}

/// Millisecond stamps at today's dates are 1 ms apart, not 999.9 µs
/// (the `f64` of seconds since 1970 resolves ~0.24 µs): a 1 kHz
/// recording is not split by `--max-gap 1ms`, and a 3 ms step is no gap
/// under `--max-gap 3ms`.
#[test]
fn steps_between_dates_are_as_exact_as_the_stamps() {
    let mut text = String::from("time,x,y\n");
    for i in 0..2000u32 {
        let ms = i + if i >= 1000 { 2 } else { 0 };
        text += &format!(
            "2026-11-30 14:03:{:02}.{:03},{i},{i}\n",
            22 + ms / 1000,
            ms % 1000
        );
    }
    let gaps = |max_gap: Option<f64>| {
        let o = super::super::CsvOptions {
            input: super::super::Column::Name("x".into()),
            output: super::super::Column::Name("y".into()),
            time: vec![super::super::Column::Name("time".into())],
            max_gap,
            ..Default::default()
        };
        let r = Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &o).unwrap();
        (r.time_step, r.time_gaps)
    };
    assert_eq!(gaps(None), (Some(0.001), 0));
    assert_eq!(gaps(Some(0.001)), (Some(0.001), 1));
    assert_eq!(gaps(Some(0.003)), (Some(0.001), 0));
    assert_eq!(step(1_764_511_402.123, 1_764_511_402.124), 0.001);
    assert_eq!(step(0.1, 0.3), 0.2);
    // An oscilloscope's 0.4 ns steps from -2 µs stay 0.4 ns.
    let (t0, t1) = (-2e-6 + 4e-10 * 7.0, -2e-6 + 4e-10 * 8.0);
    assert!((step(t0, t1) - 4e-10).abs() < 1e-20, "{}", step(t0, t1));
    // Seconds from 0, at 1 kHz: no gap under --max-gap 1ms.
    let mut text = String::from("t,x,y\n");
    for i in 0..2000 {
        text += &format!("{:.3},{i},{i}\n", f64::from(i) / 1000.0);
    }
    let o = super::super::CsvOptions {
        input: super::super::Column::Name("x".into()),
        output: super::super::Column::Name("y".into()),
        time: vec![super::super::Column::Name("t".into())],
        max_gap: Some(0.001),
        ..Default::default()
    };
    let r = Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &o).unwrap();
    assert_eq!((r.time_step, r.time_gaps), (Some(0.001), 0));
}

/// Excel's serial dates in a time column are pointed at; seconds since
/// a start, or epoch seconds, are not.
#[test]
fn spreadsheet_serial_dates_are_pointed_at() {
    let rows = |first: f64, step: f64| {
        let mut text = String::from("t;x;y\n");
        for i in 0..50 {
            text += &format!(
                "{};{i};{i}\n",
                (first + step * f64::from(i)).to_string().replace('.', ",")
            );
        }
        read(&text, &["t"]).unwrap().time_doubt
    };
    let doubt = rows(46_083.0, 1.0 / 96.0).unwrap();
    assert!(
        doubt.starts_with("its numbers run from 46083.0000 to 46083.5104 in steps of 0.010417")
            && doubt.contains("a row every 10.417 ms")
            && doubt.contains("spreadsheet serial dates"),
        "{doubt}"
    );
    assert_eq!(rows(0.0, 0.01), None);
    assert_eq!(rows(1_764_320_000.0, 0.5), None);
    assert_eq!(rows(46_083.0, 1.0), None);
}

#[test]
fn most_steps_back_in_time_is_newest_first() {
    let why = newest_first(&[-60.0, -60.0, -61.0, 3600.0]).unwrap();
    assert_eq!(
        why,
        "goes back on 3 of 4 rows: the file looks newest first; sort it oldest first"
    );
    assert_eq!(newest_first(&[60.0, -3600.0, 60.0]), None);
    assert_eq!(newest_first(&[60.0, -60.0]), None);
    assert_eq!(newest_first(&[]), None);
}

/// A time column whose name says its unit is read in it: milliseconds
/// counted from 0 (`t_ms`) are 1 ms apart, not 1 s, so `--max-gap 3ms`
/// finds the one outage and nothing else; epoch milliseconds under such a
/// name are not divided twice; a date and a clock column have no unit.
#[test]
fn a_time_columns_named_unit_is_the_unit_of_its_numbers() {
    let named = |n: &str| named_unit(&[(0, n.to_string())]);
    for (name, unit) in [
        ("t_ms", Some(1e-3)),
        ("Time [ms]", Some(1e-3)),
        ("time (s)", Some(1.0)),
        ("elapsed_us", Some(1e-6)),
        ("Zeit [min]", Some(60.0)),
        ("stamp ns", Some(1e-9)),
        ("time", None),
        ("Zeit [UTC]", None),
        ("wind_m", None),
    ] {
        assert_eq!(named(name), unit, "{name}");
    }
    assert_eq!(named_unit(&[(0, "date".into()), (1, "t_ms".into())]), None);

    let mut text = String::from("t_ms,x,y\n");
    for i in 0..200u32 {
        let ms = i + if i >= 100 { 50 } else { 0 };
        text += &format!("{ms},{i},{i}\n");
    }
    let r = read(&text, &["t_ms"]).unwrap();
    assert_eq!(r.time_step, Some(0.001));
    assert_eq!(r.time_gaps, 1);
    assert!(r.cadence().unwrap().starts_with("a row every 1 ms"));
    // Without the unit in its name, the same numbers are seconds.
    let plain = read(&text.replacen("t_ms", "t", 1), &["t"]).unwrap();
    assert_eq!(plain.time_step, Some(1.0));
    // Epoch milliseconds, named so: seconds since 1970, once.
    let epoch: String = (0..5)
        .map(|i| format!("{},{i},{i}\n", 1_764_806_400_000u64 + 10 * i))
        .collect();
    let epoch = format!("t_ms,x,y\n{epoch}");
    let r = read(&epoch, &["t_ms"]).unwrap();
    assert_eq!(r.time_step, Some(0.01));
    // Not named: the column is hinted, `t` with a unit being time.
    let hint = |t: &str| {
        let opts = super::super::CsvOptions {
            input: super::super::Column::Name("x".into()),
            output: super::super::Column::Name("y".into()),
            ..Default::default()
        };
        Recording::from_bytes(t.as_bytes(), std::path::Path::new("r.csv"), &opts)
            .unwrap()
            .time_hint
    };
    assert_eq!(hint(&text).as_deref(), Some("--time-column t_ms"));
}

/// A recording sampled at another rate than the model's training rows is
/// said, with what a window spans in each; within 1% it is the same rate.
#[test]
fn another_sampling_rate_than_trainings_is_said() {
    let mut text = String::from("t,x,y\n");
    for i in 0..50 {
        text += &format!("{},{i},{i}\n", i * 3600);
    }
    let r = read(&text, &["t"]).unwrap();
    let said = r.other_rate(900.0, 24, None).unwrap();
    assert!(
        said.starts_with("a row every 1.0 h where the model was trained on a row every 15.0 min")
            && said.contains("spans 1.0 days here against 6.0 h in training")
            && said.contains("read it on the training clock (--resample 15m, which publish")
            && !said.contains("no translation"),
        "{said}"
    );
    // Rows further apart than the gap `serve` restarts windows at.
    let said = r.other_rate(900.0, 24, Some(2700.0)).unwrap();
    assert!(
        said.contains("served, it would give no translation at all")
            && said.contains("by more than 45.0 min"),
        "{said}"
    );
    assert!(
        !r.other_rate(900.0, 24, Some(7200.0))
            .unwrap()
            .contains("no translation")
    );
    assert_eq!(r.other_rate(3600.0 * 1.005, 24, Some(1.0)), None);
    assert_eq!(
        read("x,y\n1,1\n2,2\n", &[])
            .unwrap()
            .other_rate(900.0, 24, None),
        None
    );
}

/// An outage whose last reading before it was a bad cell (a logger's fill
/// value, skipped) is still said and counted as a gap in time: the rows
/// were split there by the skip, and the data line said "no gap". A skipped
/// row in the regular cadence is no gap.
#[test]
fn a_gap_after_a_skipped_row_is_said() {
    use super::super::{Column, CsvOptions};
    let mut text = String::from("t,x,y\n");
    for i in 0..20 {
        let t = if i < 10 { i * 60 } else { i * 60 + 3 * 3600 };
        let x = if i == 9 || i == 4 {
            "n/a".to_string()
        } else {
            i.to_string()
        };
        text += &format!("{t},{x},{i}\n");
    }
    let opts = CsvOptions {
        input: Column::Name("x".into()),
        output: Column::Name("y".into()),
        time: vec![Column::Name("t".into())],
        skip_bad_rows: true,
        ..Default::default()
    };
    let r = Recording::from_bytes(text.as_bytes(), std::path::Path::new("rec.csv"), &opts).unwrap();
    let segments: Vec<(usize, usize)> = r.segments.iter().map(|s| (s.start, s.len())).collect();
    assert_eq!(segments, [(0, 4), (5, 4), (10, 10)]);
    // Split there by the skip already: not among the rows a message or a
    // window must not span.
    assert_eq!(r.time_gaps, 1);
    assert!(r.time_gap_rows.is_empty());
    assert_eq!(
        r.time_gap_examples,
        ["data row 10: 3.0 h after data row 8, 1 skipped row between"]
    );
}

mod elapsed;
mod hours;
mod zone;

#[test]
fn a_time_is_said_as_a_utc_date() {
    use super::utc_text;
    assert_eq!(utc_text(1_764_320_000.0), "2025-11-28 08:53 UTC");
    assert_eq!(utc_text(951_782_400.0), "2000-02-29 00:00 UTC");
    assert_eq!(utc_text(1_764_288_000.0), "2025-11-28 00:00 UTC");
    assert_eq!(utc_text(12.5), "12.5 s");
}

/// A logger's clock reset after a battery change: rows stamped 26 years
/// back, then the right time again. Each gap is said with its stamps, the
/// step back as a likely clock reset.
#[test]
fn a_clock_reset_is_said_with_its_stamps() {
    let mut text = String::from("t,x,y\n");
    for k in 0..30 {
        let t = match k {
            0..10 => format!("2026-02-24 09:{:02}:00", 10 + k),
            10..20 => format!("2000-01-01 00:{:02}:00", k - 10),
            _ => format!("2026-02-24 10:{:02}:00", k),
        };
        text += &format!("{t},{k},{k}\n");
    }
    let r = read(&text, &["t"]).unwrap();
    assert_eq!(r.time_gap_rows, [10, 20]);
    let back = &r.time_gap_examples[0];
    assert!(
        back.starts_with("data row 10: the time goes back ")
            && back.contains(
                "days, 2026-02-24T09:19:00 to 2000-01-01T00:00:00 (a logger's clock reset"
            ),
        "{back}"
    );
    assert!(
        r.time_gap_examples[1].ends_with(", 2000-01-01T00:09:00 to 2026-02-24T10:20:00"),
        "{:?}",
        r.time_gap_examples
    );
    // Back three days into the file's own span: overlapping rows.
    let mut text = String::from("t,x,y\n");
    for k in 0..20 {
        let day = if k < 10 { 10 + k } else { k + 5 };
        text += &format!("2026-02-{day:02} 09:00:00,{k},{k}\n");
    }
    let r = read(&text, &["t"]).unwrap();
    let back = r
        .time_gap_examples
        .iter()
        .find(|e| e.contains("goes back"))
        .unwrap();
    assert!(
        back.contains("rows that overlap earlier ones") && !back.contains("clock reset"),
        "{back}"
    );
}
