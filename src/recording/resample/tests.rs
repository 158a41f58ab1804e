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
             of 4 ticks with both; 1 values that are no number"
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
        refused(&no_clock).contains("say the clock to read them on, --every"),
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
