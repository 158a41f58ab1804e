//! Several devices in one file: each its own recording, the hints, and
//! the files that must get none.

use super::super::Column;
use super::*;

fn opts(stream: Option<&str>) -> CsvOptions {
    CsvOptions {
        input: Column::Name("x".into()),
        output: Column::Name("y".into()),
        time: vec![Column::Name("t".into())],
        stream: stream.map(|s| Column::Name(s.into())),
        skip_bad_rows: true,
        ..Default::default()
    }
}

/// Reads `text` as a file, as `retrain` does.
fn read(text: &str, opts: &CsvOptions) -> Result<Vec<Recording>> {
    let dir = tempfile::tempdir().map_err(Error::Io)?;
    let path = dir.path().join("fleet.csv");
    std::fs::write(&path, text).map_err(Error::Io)?;
    Recording::read_streams(&path, opts)
}

/// Three devices' rows in turn, `rows` times (C's first, then A's and
/// B's); device B's row 5 has a bad input and its time jumps after row
/// 7 (a gap of its own).
fn fleet(rows: usize) -> String {
    let mut text = String::from("t,dev,x,y\n");
    for i in 0..rows {
        for (k, d) in [(2, "C"), (0, "A"), (1, "B")] {
            let t = if d == "B" && i > 7 { i + 100 } else { i };
            let x = if d == "B" && i == 5 {
                "n/a".to_string()
            } else {
                format!("{}", 10 * k + i)
            };
            text.push_str(&format!("{t},{d},{x},{}\n", 100 * k + i));
        }
    }
    text
}

#[test]
fn each_device_is_a_recording_of_its_own() {
    let all = read(&fleet(20), &opts(Some("dev"))).unwrap();
    let names: Vec<_> = all.iter().map(|r| r.stream.as_deref().unwrap()).collect();
    assert_eq!(names, ["A", "B", "C"]);
    for (k, r) in all.iter().enumerate() {
        assert_eq!(r.streams, ["A", "B", "C"]);
        assert_eq!(r.stream_column.as_deref(), Some("dev"));
        // Its own rows only, counted from its first (`publish`'s seq).
        let ys: Vec<f32> = r.output().collect();
        let own = |i: usize| (100 * k + i) as f32;
        assert_eq!(r.data_rows(), 20, "{:?}", r.stream);
        assert_eq!(r.time_step, Some(1.0));
        if k == 1 {
            // The bad cell and the gap are B's alone.
            assert_eq!(
                (r.skipped, r.time_gaps, r.time_gap_rows.clone()),
                (1, 1, vec![8])
            );
            let starts: Vec<usize> = r.segments.iter().map(|s| s.start).collect();
            assert_eq!(starts, [0, 6, 8]);
            assert!(ys.iter().all(|&y| (100.0..120.0).contains(&y)));
        } else {
            assert_eq!((r.skipped, r.time_gaps, r.segments.len()), (0, 0, 1));
            assert_eq!(ys, (0..20).map(own).collect::<Vec<_>>());
        }
        assert_eq!(
            r.source(),
            format!("{}, stream {:?}", r.path.display(), names[k])
        );
        assert_eq!(r.stream_hint, None);
    }
    // One stream asked for; one the file never names.
    let b = CsvOptions {
        only_stream: Some("B".into()),
        ..opts(Some("dev"))
    };
    assert_eq!(read(&fleet(20), &b).unwrap().len(), 1);
    let z = CsvOptions {
        only_stream: Some("Z".into()),
        ..opts(Some("dev"))
    };
    let e = read(&fleet(20), &z).unwrap_err().to_string();
    assert!(
        e.contains(r#"never names "Z" (it names "A", "B", "C")"#),
        "{e}"
    );
}

#[test]
fn rows_naming_no_device_are_skipped_and_said_with_skip_bad_rows() {
    // C's rows 2 and 4 name no device: C has 18 of its 20 rows, the others
    // all of theirs; the first stream says so (line 8 is C's row 2).
    let text = fleet(20)
        .replace("\n2,C,", "\n2,,")
        .replace("\n4,C,", "\n4,,");
    let all = read(&text, &opts(Some("dev"))).unwrap();
    let rows: Vec<(&str, usize)> = (all.iter())
        .map(|r| (r.stream.as_deref().unwrap_or(""), r.rows + r.skipped))
        .collect();
    assert_eq!(rows, [("A", 20), ("B", 20), ("C", 18)]);
    let notes: Vec<String> = all.iter().filter_map(|r| r.unnamed_note()).collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("2 row(s) name no device in column \"dev\" (the first on line 8)")
            && notes[0].contains("a step in its time column"),
        "{notes:?}"
    );
    // C's time steps over its lost rows: two late steps (1 → 3, 3 → 5),
    // under --max-gap (three times the median step), so no gap.
    let c = &all[2];
    assert_eq!((c.time_gaps, c.late_steps), (0, 2));
}

#[test]
fn a_stream_column_that_cannot_be_one_is_refused() {
    // A row naming no device: its line, and how to go on.
    let text = fleet(3).replace("2,C,", "2,,");
    let strict = CsvOptions {
        skip_bad_rows: false,
        ..opts(Some("dev"))
    };
    let e = read(&text, &strict).unwrap_err().to_string();
    assert!(
        e.contains("line 8: the stream column \"dev\" is empty")
            && e.contains("--skip-bad-rows skips such rows"),
        "{e}"
    );
    // The time column, or a channel.
    let e = read(&fleet(3), &opts(Some("t"))).unwrap_err().to_string();
    assert!(e.contains("is also the time column"), "{e}");
    let e = read(&fleet(3), &opts(Some("x"))).unwrap_err().to_string();
    assert!(e.contains("is also a channel"), "{e}");
    // A column of values, not of devices.
    let mut text = String::from("t,x,y\n");
    for i in 0..300 {
        text.push_str(&format!("{i},{i},{}\n", 2 * i));
    }
    let o = CsvOptions {
        stream: Some(Column::Name("y".into())),
        output: Column::Name("x".into()),
        ..opts(None)
    };
    let e = read(&text, &o).unwrap_err().to_string();
    assert!(
        e.contains(&format!("more than {MAX_STREAMS} streams")),
        "{e}"
    );
    // A column that names no device (a state): the time repeats within
    // one of its streams, which the error says.
    let text = fleet(20)
        .replace(",A,", ",A,RUN,")
        .replace(",B,", ",B,RUN,");
    let text = text
        .replace(",C,", ",C,RUN,")
        .replace("t,dev,", "t,dev,state,");
    let e = read(&text, &opts(Some("state"))).unwrap_err().to_string();
    assert!(
        e.contains(r#"in the rows of stream "RUN" alone: is "state" the column naming"#),
        "{e}"
    );
    // Without the time column, read, and the devices within it said.
    let untimed = CsvOptions {
        time: Vec::new(),
        ..opts(Some("state"))
    };
    let all = read(&text, &untimed).unwrap();
    let hint = all[0].stream_hint.as_deref().unwrap_or_default();
    assert!(
        hint.starts_with(r#"in the rows of stream "RUN" alone, column "dev" changes"#)
            && hint.ends_with(r#"(is "state" the column naming each row's device?)"#),
        "{hint}"
    );
    // Devices read by their own column: nothing to say.
    let by_dev = CsvOptions {
        time: Vec::new(),
        ..opts(Some("dev"))
    };
    assert!(
        read(&text, &by_dev)
            .unwrap()
            .iter()
            .all(|r| r.stream_hint.is_none())
    );
}

/// InfluxDB's export of a query, one row per field and time: the
/// channels are rows, which the query can pivot into columns.
#[test]
fn one_row_per_field_asks_for_a_pivot() {
    let text = "#group,false,false,true,true,false,false,true,true,true\n\
                #datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,\
                dateTime:RFC3339,double,string,string,string\n\
                #default,_result,,,,,,,,\n\
                ,result,table,_start,_stop,_time,_value,_field,_measurement,turbine\n\
                ,,0,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,2024-03-01T00:00:00Z,\
                1070.2,Power_kW,scada,WTG 03\n";
    let o = CsvOptions {
        input: Column::Name("WindSpeed_ms".into()),
        output: Column::Name("Power_kW".into()),
        ..Default::default()
    };
    let e = read(text, &o).unwrap_err().to_string();
    let pivot = r#"|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")"#;
    assert!(
        e.contains("line 4: one row per field and time") && e.contains(pivot),
        "{e}"
    );
}

/// Without a stream column, one that alternates is found and named; a
/// label that changes now and then, or a sensor's values, are not.
#[test]
fn devices_in_turn_are_noticed() {
    let plain = CsvOptions {
        time: Vec::new(),
        ..opts(None)
    };
    let r = &read(&fleet(20), &plain).unwrap()[0];
    let hint = r.stream_hint.as_deref().unwrap_or_default();
    assert!(
        hint.contains(r#"column "dev" changes on 59 of 60 rows among 3 values ("C", "A", "B")"#)
            && hint.contains(r#"--stream-column "dev""#),
        "{hint}"
    );
    // One device at half the others' rate: every other round a row short.
    let mut text = String::from("t,dev,x,y\n");
    for minute in 0..200 {
        for d in ["D1", "D2", "D3", "D4", "D5", "D6"] {
            if d != "D6" || minute % 2 == 0 {
                text.push_str(&format!("{minute},{d},{minute},{}\n", minute + 1));
            }
        }
    }
    let r = &read(&text, &plain).unwrap()[0];
    let hint = r.stream_hint.as_deref().unwrap_or_default();
    assert!(hint.contains(r#"--stream-column "dev""#), "{hint}");
    // With the time column, whose stamps repeat (or here, B's being
    // later, go back) from row to row, the error names it first.
    let e = read(&fleet(20), &opts(None)).unwrap_err().to_string();
    let first = e.find(r#"--stream-column "dev""#);
    assert!(
        first.is_some() && first < e.find("(read as one, \"t\" goes back"),
        "{e}"
    );
    // A state now and then, a sensor's noise, its readings to a few
    // steps (cycling, even), a count of a few values.
    let mut text = String::from("t,state,noise,reading,count,x,y\n");
    for i in 0..400 {
        let state = if i % 50 < 45 { "OK" } else { "WARN" };
        let reading = 60.0 + (i % 9) as f64 * 0.4;
        let count = (i * 7919) % 13 % 5;
        text.push_str(&format!(
            "{i},{state},{},{reading:.1},{count},{i},{i}\n",
            (i * 7919) % 1000
        ));
    }
    let r = &read(&text, &opts(None)).unwrap()[0];
    assert_eq!(r.stream_hint, None);
    // One device's rows after another's: the time goes back where the
    // device changes. A zone's name changing as the clocks go back an
    // hour is no device.
    let mut text = String::from("t,zone,dev,x,y\n");
    for (k, d) in ["B", "A", "C"].iter().enumerate() {
        for i in 0..100 {
            let zone = if k == 2 && i >= 50 { "MEZ" } else { "MESZ" };
            let t = if k == 2 && i >= 50 {
                i * 60
            } else {
                i * 60 + 3600
            };
            text.push_str(&format!("{t},{zone},{d},{i},{}\n", i + 100 * k));
        }
    }
    let r = &read(&text, &opts(None)).unwrap()[0];
    let hint = r.stream_hint.as_deref().unwrap_or_default();
    assert!(
        hint.starts_with(r#"column "dev" changes only where the time goes back (2 times, the first at data row 100), each of its 3 values ("B", "A", "C")"#)
            && hint.contains(r#"--stream-column "dev""#),
        "{hint}"
    );
    let one = CsvOptions {
        one_stream: true,
        ..opts(None)
    };
    assert_eq!(read(&text, &one).unwrap()[0].stream_hint, None);
    // Read by device, nothing to say.
    let all = read(&text, &opts(Some("dev"))).unwrap();
    assert!(all.iter().all(|r| r.stream_hint.is_none()));
    assert!(r.stream_blocks);
    // An hour's column comes round in turn as devices do: with time
    // stamps that do not repeat, it is none (without them, a warning).
    let mut text = String::from("t,hour,x,y\n");
    for i in 0..500 {
        text.push_str(&format!("{},{},{i},{i}\n", i * 3600, i % 24));
    }
    assert_eq!(read(&text, &opts(None)).unwrap()[0].stream_hint, None);
    let plain = CsvOptions {
        time: Vec::new(),
        ..opts(None)
    };
    assert_eq!(read(&text, &plain).unwrap()[0].stream_hint, None);
    // Without its name, only the stamps could tell (a warning).
    let text = text.replace("t,hour,", "t,h24,");
    let r = &read(&text, &plain).unwrap()[0];
    assert!(r.stream_hint.is_some() && !r.stream_blocks);
    // Weekdays by name, under any header.
    let mut text = String::from("d,wt,x,y\n");
    for i in 0..200 {
        let day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][i % 7];
        text.push_str(&format!("{i},{day},{i},{i}\n"));
    }
    assert_eq!(read(&text, &plain).unwrap()[0].stream_hint, None);
    // Every 10 minutes in local time, the zone's name changing as the
    // clocks go back (50 min back, not 60): no device.
    let mut text = String::from("t,zone,x,y\n");
    for i in 0..100 {
        let (zone, t) = if i < 50 {
            ("MESZ", i * 600 + 3600)
        } else {
            ("MEZ", i * 600)
        };
        text.push_str(&format!("{t},{zone},{i},{i}\n"));
    }
    let r = &read(&text, &opts(None)).unwrap()[0];
    assert_eq!((r.stream_hint.as_deref(), r.time_gaps), (None, 1));
}
