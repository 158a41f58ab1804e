//! Changes read on one clock: one row per channel and change (long
//! format) and a wide file's empty cells give the same ticks; a word ends a
//! hold; what is wrong is said.

use std::path::Path;

use crate::recording::{Column, CsvOptions, Recording};

fn read(text: &str, opts: &CsvOptions) -> crate::error::Result<Recording> {
    Recording::from_bytes(text.as_bytes(), Path::new("changes.csv"), opts)
}

/// A Home Assistant history export: rows grouped by entity, each a change.
/// `a` changes at 0, 100 and 250 s (1, 2, 3); `b` at 30 s (10), goes
/// `unavailable` at 200 s and comes back at 260 s (20); another entity
/// between them.
const LONG: &str = "entity_id,state,last_changed\n\
    sensor.a,1,1764320000\n\
    sensor.a,2,1764320100\n\
    sensor.a,3,1764320250\n\
    sensor.other,7,1764320010\n\
    sensor.b,10,1764320030\n\
    sensor.b,unavailable,1764320200\n\
    sensor.b,20,1764320260\n";

fn every_minute(names: bool) -> CsvOptions {
    CsvOptions {
        input: Column::Name(if names { "sensor.a" } else { "a" }.into()),
        output: Column::Name(if names { "sensor.b" } else { "b" }.into()),
        time: vec![Column::Name("last_changed".into())],
        every: Some(60.0),
        names: names.then(|| {
            (
                Column::Name("entity_id".into()),
                Column::Name("state".into()),
            )
        }),
        ..Default::default()
    }
}

/// Ticks on whole minutes since the epoch, at 40, 100, 160 and 220 s: at
/// 220 `b` is unavailable: three rows, each channel's latest value held.
#[test]
fn each_channels_latest_change_is_read_at_every_tick() {
    let r = read(LONG, &every_minute(true)).unwrap();
    let inputs: Vec<f32> = r.segments.iter().flat_map(|s| s.input.clone()).collect();
    let outputs: Vec<f32> = r.segments.iter().flat_map(|s| s.output.clone()).collect();
    assert_eq!(
        (inputs, outputs),
        (vec![1.0, 2.0, 2.0], vec![10.0, 10.0, 10.0])
    );
    assert_eq!(r.time_step, Some(60.0));
    let note = r.resampled.as_deref().unwrap_or_default();
    assert!(
        note.starts_with(
            "read every 1.0 min from 3 changes of \"sensor.a\" and 3 of \"sensor.b\" (rows of \
             \"entity_id\" naming them, values in \"state\"), each value held until its next: 3 \
             of 4 ticks with both; 1 value(s) that are no number"
        ),
        "{note}"
    );
    // The same changes as a wide file's cells (empty where nothing changed).
    let wide = "last_changed,a,b\n\
                1764320000,1,\n1764320010,,\n1764320030,,10\n1764320100,2,\n\
                1764320200,,unavailable\n1764320250,3,\n1764320260,,20\n";
    let w = read(wide, &every_minute(false)).unwrap();
    assert_eq!(
        (w.segments.concat_input(), w.segments.concat_output()),
        (vec![1.0, 2.0, 2.0], vec![10.0, 10.0, 10.0])
    );
}

trait Concat {
    fn concat_input(&self) -> Vec<f32>;
    fn concat_output(&self) -> Vec<f32>;
}

impl Concat for Vec<crate::recording::Segment> {
    fn concat_input(&self) -> Vec<f32> {
        self.iter().flat_map(|s| s.input.clone()).collect()
    }
    fn concat_output(&self) -> Vec<f32> {
        self.iter().flat_map(|s| s.output.clone()).collect()
    }
}

/// A value held longer than `--max-gap` is none: the ticks after it are a
/// gap, where the rows split.
#[test]
fn max_gap_bounds_a_hold() {
    let opts = CsvOptions {
        max_gap: Some(90.0),
        ..every_minute(true)
    };
    let r = read(LONG, &opts).unwrap();
    // `b` (30 s) is held to 120 s at most: ticks 40 and 100 only.
    assert_eq!(
        (r.segments.concat_input(), r.segments.concat_output()),
        (vec![1.0, 2.0], vec![10.0, 10.0])
    );
}

/// Said: a channel no row names (with the names the rows have), a channel
/// given by position, rows of changes without a clock, a channel without a
/// number; reading the long file without `--name-column` points at it.
#[test]
fn what_cannot_be_read_on_a_clock_is_said() {
    let refused = |opts: &CsvOptions| read(LONG, opts).unwrap_err().to_string();
    let missing = CsvOptions {
        output: Column::Name("sensor.c".into()),
        ..every_minute(true)
    };
    let why = refused(&missing);
    assert!(
        why.contains(
            r#"no row names "sensor.c"; the rows name "sensor.b" (3 rows), "sensor.other" (1 rows)"#
        ),
        "{why}"
    );
    let by_index = CsvOptions {
        input: Column::Index(0),
        ..every_minute(true)
    };
    assert!(
        refused(&by_index).contains("--input names a channel"),
        "{}",
        refused(&by_index)
    );
    let no_clock = CsvOptions {
        every: None,
        ..every_minute(true)
    };
    assert!(
        refused(&no_clock).contains("say the clock to read them on, --resample"),
        "{}",
        refused(&no_clock)
    );
    let words = LONG
        .replace("sensor.b,10,", "sensor.b,off,")
        .replace("sensor.b,20,", "sensor.b,on,");
    let why = read(&words, &every_minute(true)).unwrap_err().to_string();
    assert!(
        why.contains(r#""sensor.b" has no value that is a number"#),
        "{why}"
    );
    let plain = CsvOptions {
        every: None,
        names: None,
        time: Vec::new(),
        ..every_minute(true)
    };
    let why = refused(&plain);
    assert!(
        why.contains(
            "\"sensor.a\" is a value of column \"entity_id\": one row per channel and change"
        ) && why.contains(
            "--name-column entity_id --value-column state --time-column last_changed --resample 1m"
        ),
        "{why}"
    );
}

/// One channel read as both (what `publish` reads of its input): its
/// changes held for both.
#[test]
fn one_channel_is_read_as_both() {
    let opts = CsvOptions {
        output: Column::Name("sensor.a".into()),
        ..every_minute(true)
    };
    let r = read(LONG, &opts).unwrap();
    assert_eq!(r.segments.concat_input(), vec![1.0, 2.0, 2.0, 2.0]);
    assert_eq!(r.segments.concat_input(), r.segments.concat_output());
}

/// The regular text is read in its own layout: channels chosen by position
/// in the file (`--input 2 --output 1`) stay those channels, a units row's
/// cells stay theirs, a decimal comma is read as one, a time column in ms
/// ticks in seconds.
#[test]
fn the_files_own_layout_and_conventions_are_kept() {
    let text =
        "t_ms;x;a;b\nms;V;degC;%\n0;100;1,5;10\n1000;101;2,5;\n2000;102;;20\n3000;103;3,5;\n";
    let opts = CsvOptions {
        input: Column::Index(2),
        output: Column::Index(3),
        time: vec![Column::Index(0)],
        every: Some(1.0),
        ..Default::default()
    };
    let r = read(text, &opts).unwrap();
    assert_eq!(
        (r.segments.concat_input(), r.segments.concat_output()),
        (vec![1.5, 2.5, 2.5, 3.5], vec![10.0, 10.0, 20.0, 20.0])
    );
    assert_eq!((r.input_name.as_str(), r.output_name.as_str()), ("a", "b"));
    assert_eq!(
        (r.input_unit.as_deref(), r.output_unit.as_deref()),
        (Some("degC"), Some("%"))
    );
    assert_eq!(r.time_step, Some(1.0));
    // No tick was a bad row; the file is said as it is.
    assert_eq!(r.skipped, 0);
    assert_eq!(r.delimiter, ';');
}

/// A typo in a value is a bad cell, refused with its line (a word ends a
/// hold); times of day without a date are refused, not sorted across
/// midnight; a hold bound shorter than a tick and a half is refused.
#[test]
fn typos_dateless_times_and_short_holds_are_refused() {
    let typo = LONG.replace("sensor.a,2,", "sensor.a,2..5,");
    let why = read(&typo, &every_minute(true)).unwrap_err().to_string();
    assert!(
        why.contains(r#"line 3: "sensor.a": "2..5" is not a number"#),
        "{why}"
    );
    let skipping = CsvOptions {
        skip_bad_rows: true,
        ..every_minute(true)
    };
    let r = read(&typo, &skipping).unwrap();
    assert!(
        r.resampled
            .unwrap_or_default()
            .contains("1 rows skipped for a bad cell")
    );
    let dateless = "time,a,b\n23:58:00,1,10\n23:59:00,2,\n00:00:00,3,\n";
    let opts = CsvOptions {
        time: vec![Column::Name("time".into())],
        every: Some(60.0),
        ..Default::default()
    };
    let why = read(dateless, &opts).unwrap_err().to_string();
    assert!(why.contains("times of day without their date"), "{why}");
    let short = CsvOptions {
        max_gap: Some(30.0),
        ..every_minute(true)
    };
    let why = read(LONG, &short).unwrap_err().to_string();
    assert!(
        why.contains("--max-gap 30 s is under one and a half ticks"),
        "{why}"
    );
}

/// Each channel read alone (publish's input, tail's truth) ticks on the
/// same clock from the file's first time, row k being tick k: `b` starts
/// later than `a`, yet its first row is numbered as `a`'s tick there.
#[test]
fn each_channel_alone_ticks_on_the_files_clock() {
    let alone = |name: &str| CsvOptions {
        input: Column::Name(name.into()),
        output: Column::Name(name.into()),
        ..every_minute(true)
    };
    let (a, b) = (
        read(LONG, &alone("sensor.a")).unwrap(),
        read(LONG, &alone("sensor.b")).unwrap(),
    );
    // Ticks at 40, 100, 160, 220 s: `a` has all four; `b` from 40 s but
    // not 220 (unavailable): its rows 0..=2.
    assert_eq!((a.segments[0].start, a.rows), (0, 4));
    assert_eq!((b.segments[0].start, b.rows), (0, 3));
    // Every tick is a data row, held or not (publish's seqs, tail's truth
    // by row): the ticks without a value are counted as skipped rows.
    assert_eq!((a.data_rows(), b.data_rows()), (4, 4));
    assert_eq!(b.by_row(|s| &s.input).len(), 4);
    let late = LONG.replace("sensor.b,10,1764320030", "sensor.b,10,1764320130");
    let b = read(&late, &alone("sensor.b")).unwrap();
    assert_eq!(
        b.segments[0].start, 2,
        "b's first value is at tick 160 s, row 2"
    );
}

/// Naive local times across a daylight-saving fall-back (02:00 to 02:59
/// twice): refused, not merged by sorting; rows in no order are sorted.
#[test]
fn an_hour_that_comes_twice_is_refused_and_shuffled_rows_are_sorted() {
    let mut text = String::from("time,a,b\n");
    for (h, m) in (0..4).flat_map(|h| (0..60).step_by(10).map(move |m| (h, m))) {
        text.push_str(&format!("2025-10-26 0{h}:{m:02}:00,{h}.{m},1\n"));
        if (h, m) == (2, 50) {
            for m in (0..60).step_by(10) {
                text.push_str(&format!("2025-10-26 02:{m:02}:00,9.{m},1\n"));
            }
        }
    }
    let opts = CsvOptions {
        input: Column::Name("a".into()),
        output: Column::Name("b".into()),
        time: vec![Column::Name("time".into())],
        every: Some(600.0),
        ..Default::default()
    };
    let why = read(&text, &opts).unwrap_err().to_string();
    assert!(
        why.contains("time goes back 50.0 min in \"a\"'s rows"),
        "{why}"
    );
    // The same rows without the repeated hour, shuffled: sorted and read.
    let mut rows: Vec<&str> = text
        .lines()
        .skip(1)
        .filter(|l| !l.contains(",9."))
        .collect();
    let n = rows.len();
    for i in 0..n {
        rows.swap(i, (i * 7 + 3) % n);
    }
    let shuffled = format!("time,a,b\n{}\n", rows.join("\n"));
    let r = read(&shuffled, &opts).unwrap();
    assert_eq!(r.rows, 24, "{:?}", r.resampled);
    // With their zone named, the hour that comes twice is two hours: 30
    // ticks of 10 min from 00:00 local (22:00 UTC the day before), each
    // change its own, none merged.
    let zoned = CsvOptions {
        time_zone: Some(crate::recording::Zone::parse("Europe/Berlin").unwrap()),
        ..opts
    };
    let r = read(&text, &zoned).unwrap();
    assert_eq!(r.rows, 30, "{:?}", r.resampled);
    let second_pass: Vec<f32> = (0..6).map(|k| 9.0 + k as f32 * 0.1).collect();
    let input = &r.segments[0].input;
    let at = input.iter().position(|&v| v == 9.0).unwrap();
    assert_eq!(at, 18, "02:00 CET is the 19th tick: {input:?}");
    for (k, v) in second_pass.iter().enumerate() {
        assert!((input[at + k] - v).abs() < 1e-6, "{input:?}");
    }
    // The same rows in long format, a row per channel and time: each
    // channel's row before is its own (the other's shares its time).
    let mut long = String::from("time,name,value\n");
    for row in text.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        long += &format!("{0},a,{1}\n{0},b,{2}\n", cells[0], cells[1], cells[2]);
    }
    let by_name = CsvOptions {
        time: vec![Column::Name("time".into())],
        names: Some((Column::Name("name".into()), Column::Name("value".into()))),
        ..zoned
    };
    let r = read(&long, &by_name).unwrap();
    assert_eq!(r.rows, 30, "{:?}", r.resampled);
    assert_eq!(r.segments[0].input[18], 9.0);
}

/// An hourly portal export in long format: a row per station, parameter
/// and hour. Station `s1` reads 1, 1, 2, 2, 3, … (`changing`: 1, 2, 3, …)
/// and `s2` 101, 101, 102, …; the output is the input plus 1000. `s2`
/// misses hours 10–19 (its logger was down).
fn stations_of(changing: bool) -> String {
    let mut text = String::from("location_id,parameter,value,datetimeUtc\n");
    for h in 0..40u32 {
        for (s, base) in [("s1", 0), ("s2", 100)] {
            if s == "s2" && (10..20).contains(&h) {
                continue;
            }
            let v = base + if changing { h } else { h / 2 } + 1;
            let t = format!("2026-01-01T{:02}:00:00Z", h % 24);
            let t = if h >= 24 { t.replace("01T", "02T") } else { t };
            text.push_str(&format!("{s},pm25,{v},{t}\n{s},pm10,{},{t}\n", v + 1000));
        }
    }
    text
}

fn stations() -> String {
    stations_of(false)
}

fn hourly() -> CsvOptions {
    CsvOptions {
        input: Column::Name("pm25".into()),
        output: Column::Name("pm10".into()),
        time: vec![Column::Name("datetimeUtc".into())],
        every: Some(3600.0),
        names: Some((
            Column::Name("parameter".into()),
            Column::Name("value".into()),
        )),
        ..Default::default()
    }
}

fn read_all(text: &str, opts: &CsvOptions) -> crate::error::Result<Vec<Recording>> {
    Recording::from_bytes_all(text.as_bytes(), Path::new("stations.csv"), opts)
}

/// Read as one, two stations' rows of one hour would make each tick take
/// whichever came last: refused, naming the column that tells them apart.
#[test]
fn rows_of_several_devices_at_one_time_are_refused_naming_their_column() {
    let why = read_all(&stations(), &hourly()).unwrap_err().to_string();
    assert!(
        why.contains("\"pm25\" has 30 of its 70 rows at a time it has another row at")
            && why.contains("--stream-column location_id reads each device's rows"),
        "{why}"
    );
    // Said as one device's: read so, the later row of a time taken.
    let one = CsvOptions {
        one_stream: true,
        ..hourly()
    };
    let r = read_all(&stations(), &one).unwrap();
    assert_eq!(r.len(), 1);
}

/// With `--stream-column`, each station's rows are read on the clock
/// alone: its own values at its own ticks, its outage a gap (its rows come
/// every hour, a logger's readings: a value is held three hours at most,
/// not across the ten-hour outage), said per stream.
#[test]
fn each_devices_rows_are_read_on_the_clock_alone() {
    let opts = CsvOptions {
        stream: Some(Column::Name("location_id".into())),
        ..hourly()
    };
    let all = read_all(&stations(), &opts).unwrap();
    let names: Vec<Option<&str>> = all.iter().map(|r| r.stream.as_deref()).collect();
    assert_eq!(names, [Some("s1"), Some("s2")]);
    let s1: Vec<f32> = (0..40).map(|h| (h / 2 + 1) as f32).collect();
    assert_eq!(all[0].segments.concat_input(), s1);
    let out: Vec<f32> = s1.iter().map(|v| v + 1000.0).collect();
    assert_eq!(all[0].segments.concat_output(), out);
    // s2: hours 0–9, held to hour 12 at most, then 20–39.
    let s2: Vec<Vec<f32>> = all[1].segments.iter().map(|s| s.input.clone()).collect();
    let mut before: Vec<f32> = (0..10).map(|h| (101 + h / 2) as f32).collect();
    before.extend([105.0; 3]);
    let after: Vec<f32> = (20..40).map(|h| (101 + h / 2) as f32).collect();
    assert_eq!(s2, [before, after]);
    assert_eq!(all[1].held_s, Some(3.0 * 3600.0));
    let note = all[1].resampled.as_deref().unwrap_or_default();
    assert!(
        note.contains("of stream \"s2\" (one of 2 in column \"location_id\", each read alone)")
            && note
                .contains("the rows of both come every 1.0 h (a logger's readings, not changes)")
            && note.contains("--max-gap 3h says another"),
        "{note}"
    );
    // A hold given is the user's, and no logger's is said.
    let given = CsvOptions {
        max_gap: Some(20.0 * 3600.0),
        ..opts.clone()
    };
    let all = read_all(&stations(), &given).unwrap();
    assert_eq!(all[1].segments.concat_input().len(), 40);
    assert_eq!(all[1].held_s, None);
    // Rows at one step that never repeat a value may be a sensor that
    // changes at every tick of its own: its changes are held as ever.
    let all = read_all(&stations_of(true), &opts).unwrap();
    assert_eq!(all[1].segments.concat_input().len(), 40);
    assert_eq!(all[1].held_s, None);
}

/// A station without the output's analyser (only `pm25` rows) is left
/// out, said in the others' notes, not the whole export refused. A logger
/// whose stamps are cut to whole seconds (two rows a second, no column
/// telling them apart) is read as one device's, as it was.
#[test]
fn a_device_without_a_channel_is_left_out_and_cut_stamps_are_read() {
    let mut text = stations();
    for h in 0..24 {
        text.push_str(&format!("s3,pm25,{},2026-01-01T{h:02}:00:00Z\n", h / 2));
    }
    let opts = CsvOptions {
        stream: Some(Column::Name("location_id".into())),
        ..hourly()
    };
    let all = read_all(&text, &opts).unwrap();
    let names: Vec<Option<&str>> = all.iter().map(|r| r.stream.as_deref()).collect();
    assert_eq!(names, [Some("s1"), Some("s2")]);
    let note = all[0].resampled.as_deref().unwrap_or_default();
    assert!(
        note.contains(
            "left out, as no tick of theirs has both: stream(s) \"s3\" (no value of \"pm10\")"
        ),
        "{note}"
    );
    // Two hours of two rows a second, a pressure beside them that
    // differs between the two rows of each second (no device's name).
    let mut cut = String::from("time,a,b,pressure\n");
    for i in 0..14_400 {
        let (t, p) = (1_764_320_000 + i / 2, 1013.0 + (i as f64 * 0.37).sin());
        cut.push_str(&format!("{t},{i}.{},{},{p:.3}\n", i % 2, i % 7));
    }
    let opts = CsvOptions {
        input: Column::Name("a".into()),
        output: Column::Name("b".into()),
        time: vec![Column::Name("time".into())],
        every: Some(1.0),
        ..Default::default()
    };
    let r = read(&cut, &opts).unwrap();
    assert_eq!(r.segments.concat_input().len(), 7200);
}

/// A block of an export written twice (a gateway restarted: its last ten
/// minutes again, stamps and values, in UTC): the copies are left out and
/// said, and the rows read as without them. Stamps in UTC that go back to
/// other values are refused without a daylight-saving hint.
#[test]
fn rows_written_twice_are_left_out_and_a_utc_step_back_is_no_clock_change() {
    let row = |m: usize| format!("2026-11-03T10:{m:02}:00.000Z,{}.5,{}\n", m % 7, m % 5);
    let mut text = String::from("time,a,b\n");
    (0..40).for_each(|m| text += &row(m));
    (30..40).for_each(|m| text += &row(m));
    (40..60).for_each(|m| text += &row(m));
    let opts = CsvOptions {
        input: Column::Name("a".into()),
        output: Column::Name("b".into()),
        time: vec![Column::Name("time".into())],
        every: Some(60.0),
        ..Default::default()
    };
    let r = read(&text, &opts).unwrap();
    assert_eq!(r.rows, 60, "{r:?}");
    let said = r.resampled.clone().unwrap_or_default();
    assert!(
        said.contains("10 row(s) left out that repeat an earlier row exactly")
            && said.contains("(the first at line 42: written twice"),
        "{said}"
    );
    // The same step back to other values: refused, and not for a clock
    // change (these stamps are UTC).
    let mut changed = String::from("time,a,b\n");
    (0..40).for_each(|m| changed += &row(m));
    (30..40).for_each(|m| changed += &row(m).replace(".5,", ".25,"));
    (40..60).for_each(|m| changed += &row(m));
    let why = read(&changed, &opts).unwrap_err().to_string();
    assert!(
        why.contains("time goes back 9.0 min in \"a\"'s rows")
            && why.contains("not an hour's clock change")
            && !why.contains("--time-zone"),
        "{why}"
    );
}
