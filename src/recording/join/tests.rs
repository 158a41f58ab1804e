use std::path::{Path, PathBuf};

use super::*;

/// The joined file read back, as `retrain` reads it: the air's channel in,
/// the soil's out.
fn read_back(j: &Joined) -> Recording {
    let options = CsvOptions {
        input: Column::Name(AIR.into()),
        output: Column::Name(SOIL.into()),
        time: vec![Column::Name("time".into())],
        ..Default::default()
    };
    Recording::from_bytes(&j.text, Path::new("joined.csv"), &options).unwrap()
}

const AIR: &str = "Temp, °F (LGR S/N: 20412345)";
const SOIL: &str = "Temp, °F (LGR S/N: 20412399)";
/// 2026-04-15T12:00:00-05:00, the air logger's first row.
const START: i64 = 1_776_272_400;

/// An Onset HOBO export: a title line, a `#` column, US dates with AM/PM
/// in the offset the time column's name gives; `rows` (row number, value),
/// every 15 minutes from `START + offset` seconds.
fn hobo(dir: &Path, name: &str, column: &str, offset: i64, rows: &[(i64, f64)]) -> PathBuf {
    let zone = jiff::tz::TimeZone::fixed(jiff::tz::offset(-5));
    let mut t = format!(
        "\"Plot Title: {name}\"\n\"#\",\"Date Time, GMT-05:00\",\"{column}\",\"Stopped (LGR S/N: 1)\"\n"
    );
    for (n, &(k, v)) in rows.iter().enumerate() {
        let at = jiff::Timestamp::from_second(START + offset + 900 * k).unwrap();
        let w = zone.to_datetime(at);
        let (h, pm) = (w.hour(), w.hour() >= 12);
        let wall = format!(
            "{:02}/{:02}/{:02} {:02}:{:02}:00 {}",
            w.month(),
            w.day(),
            w.year() % 100,
            if h % 12 == 0 { 12 } else { h % 12 },
            w.minute(),
            if pm { "PM" } else { "AM" }
        );
        t += &format!("{},{wall},{v:.3},\n", n + 1);
    }
    let path = dir.join(format!("{name}.csv"));
    std::fs::write(&path, t).unwrap();
    path
}

fn air(i: i64) -> f64 {
    50.0 + 10.0 * (i as f64 / 10.0).sin()
}

fn soil(k: i64) -> f64 {
    40.0 + 5.0 * (k as f64 / 30.0).cos()
}

fn options() -> CsvOptions {
    CsvOptions {
        input: Column::Name(AIR.into()),
        output: Column::Name(SOIL.into()),
        time: vec![Column::Name("Date Time, GMT-05:00".into())],
        skip_lines: 1,
        ..Default::default()
    }
}

/// The air logger from 12:00, stopped for 2 hours (rows 200 to 207); the
/// soil logger from a day before, at 7 minutes past: the joined rows are
/// the soil's, each with the air's latest value (7 minutes older), none
/// before the air's first row or within its stop (older than three of its
/// steps), and read back as a recording whose windows do not span the stop.
#[test]
fn two_loggers_are_joined_on_the_outputs_clock() {
    let dir = tempfile::tempdir().unwrap();
    let a: Vec<(i64, f64)> = (0..400)
        .filter(|i| !(200..208).contains(i))
        .map(|i| (i, air(i)))
        .collect();
    let s: Vec<(i64, f64)> = (0..500).map(|k| (k, soil(k))).collect();
    let files = [
        hobo(dir.path(), "air", AIR, 0, &a),
        hobo(dir.path(), "soil", SOIL, -86_400 + 420, &s),
    ];
    let j = join(&files, &options()).unwrap();
    // The stop's soil rows left out but the first (7 min after the air's
    // last row before it, as a subscriber holds it), and the 2 more than
    // three steps after the air's last row.
    let counts = (j.rows, j.before_input, j.stale, j.after_input);
    assert_eq!(counts, (394, 96, 8, 2));
    assert_eq!(j.age, (420.0, 2220.0));
    assert_eq!(j.hold, 2700.0);
    assert_eq!(j.input_gaps.0, 1);
    assert_eq!(
        j.input_gaps.1,
        ["2026-04-17T13:45:00-05:00 to 2026-04-17T16:00:00-05:00"]
    );
    assert_eq!(j.files[0].channels, [true, false]);
    assert_eq!(j.files[1].channels, [false, true]);
    assert_eq!(j.files[0].rows, 392);
    assert_eq!(j.files[1].step, Some(900.0));
    assert_eq!(j.stamps, "ISO 8601 with the zone's offset");
    let (lines, warnings) = j.said();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(lines[0].ends_with("air.csv: 392 rows of \"Temp, °F (LGR S/N: 20412345)\" (the input), 2026-04-15T12:00:00-05:00 to 2026-04-19T15:45:00-05:00, a row every 15.0 min"), "{}", lines[0]);
    assert!(lines[2].starts_with("joined on the output's clock: 394 rows, each with the input's latest value, 7.0 min older as a rule (at most 37.0 min older)"), "{}", lines[2]);
    assert!(lines[3].starts_with("left out: 106 output rows, 96 before the input's first row; 8 in the input's 1 break(s) (a gap longer than 45.0 min, skipped rows, a stretch left out: 2026-04-17T13:45:00-05:00 to 2026-04-17T16:00:00-05:00;"), "{}", lines[3]);
    assert!(
        lines[3]
            .ends_with("; 2 more than 45.0 min after the input's last row: no window spans them"),
        "{}",
        lines[3]
    );
    let text = String::from_utf8(j.text.clone()).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(&*format!("time,\"{AIR}\",\"{SOIL}\"")));
    // The soil's row 96 (12:07) takes the air's row 0 (12:00).
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(first[0], "2026-04-15T12:07:00-05:00");
    assert_eq!(
        first[1].parse::<f64>().unwrap(),
        (air(0) * 1e3).round() / 1e3
    );
    // Read back: the stop is a gap; every row's input is the air's latest.
    let back = read_back(&j);
    assert_eq!(back.rows, 394);
    assert_eq!(back.time_gaps, 1);
    assert_eq!(back.segments.len(), 2);
    let round = |v: f64| format!("{v:.3}").parse::<f32>().unwrap();
    assert_eq!(back.segments[0].len(), 295 - 96 + 1);
    for (seg, first_soil) in back.segments.iter().zip([96i64, 304]) {
        let t = -86_400 + 420 + 900 * first_soil;
        assert_eq!(seg.output[0], round(soil(first_soil)));
        assert_eq!(seg.input[0], round(air(t.div_euclid(900))), "{first_soil}");
    }
}

/// Two downloads of one logger that overlap: the rows both hold are kept
/// once and counted; one whose value differs is said.
#[test]
fn overlapping_downloads_are_one_channel() {
    let dir = tempfile::tempdir().unwrap();
    let a1: Vec<(i64, f64)> = (0..110).map(|i| (i, air(i))).collect();
    let mut a2: Vec<(i64, f64)> = (100..200).map(|i| (i, air(i))).collect();
    a2[5].1 += 1.0;
    let s: Vec<(i64, f64)> = (0..190).map(|k| (k, soil(k))).collect();
    let files = [
        hobo(dir.path(), "air1", AIR, 0, &a1),
        hobo(dir.path(), "soil", SOIL, 420, &s),
        hobo(dir.path(), "air2", AIR, 0, &a2),
    ];
    let j = join(&files, &options()).unwrap();
    assert_eq!((j.rows, j.before_input, j.stale), (190, 0, 0));
    assert_eq!(j.repeats, 10);
    assert_eq!(j.conflicts.0, 1);
    let first = j.conflicts.1.clone().unwrap();
    assert!(first.starts_with("2026-04-16T14:15:00-05:00: "), "{first}");
    assert_eq!(j.input_gaps.0, 0);
    let (lines, warnings) = j.said();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("10 rows two files of one channel both hold")),
        "{lines:?}"
    );
    assert!(
        warnings[0].starts_with("1 stamp has other values in two files of one channel, such as 2026-04-16T14:15:00-05:00: 41.203, then 42.203: the later file's kept"),
        "{warnings:?}"
    );
    // The later download's value is the one joined (soil row 105, 7 min on).
    let text = String::from_utf8(j.text.clone()).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with("2026-04-16T14:22:00-05:00,"))
        .unwrap();
    assert!(row.contains(",42.203,"), "{row}");
    // Another rate: said, with what it means for serving.
    let fast: Vec<(i64, f64)> = (0..100).map(|i| (i, air(i))).collect();
    let slow: Vec<(i64, f64)> = (0..25).map(|k| (4 * k, soil(k))).collect();
    let files = [
        hobo(dir.path(), "fast", AIR, 0, &fast),
        hobo(dir.path(), "slow", SOIL, 60, &slow),
    ];
    let j = join(&files, &options()).unwrap();
    assert_eq!(j.rows, 25);
    let (lines, _) = j.said();
    assert!(
        lines.iter().any(|l| l
            .starts_with("the input comes every 15.0 min, the output every 1.0 h")
            && l.contains("(--resample 1h --max-gap 90m:")),
        "{lines:?}"
    );
    // The joined file says the clock in its first line, which a model
    // trained on it records; the serve printed takes it from the model.
    // Its ticks are the output's rows', a minute past each hour.
    let clock = JoinClock {
        resample_s: 3600.0,
        max_gap_s: Some(5400.0),
        phase_s: Some(60.0),
    };
    assert_eq!(j.clock(), Some(clock));
    assert_eq!(JoinClock::of_text(&j.text), Some(clock));
    let text = String::from_utf8(j.text.clone()).unwrap();
    assert_eq!(
        text.lines().nth(1),
        Some(&*format!("time,\"{AIR}\",\"{SOIL}\""))
    );
    let (serve, how) = j.serve(Path::new("j.csv")).unwrap();
    assert_eq!(serve, "pipeline serve --model j.safetensors");
    assert!(
        how.contains(
            "(--resample 1h --max-gap 90m, its ticks 1.0 min into each step as the output's rows;"
        ),
        "{how}"
    );
    // Read back, the comment line is no row.
    let back = read_back(&j);
    assert_eq!(back.rows, 25);
    // A slower input (hourly, beside rows every 15 min) is held three of
    // its steps, as joined: the service holds it as long.
    let slower = CsvOptions {
        input: Column::Name(SOIL.into()),
        output: Column::Name(AIR.into()),
        ..options()
    };
    let j = join(&files, &slower).unwrap();
    let clock = JoinClock {
        resample_s: 900.0,
        max_gap_s: Some(3.0 * 3600.0),
        phase_s: None,
    };
    assert_eq!(JoinClock::of_text(&j.text), Some(clock));
    assert!(
        j.serve(Path::new("j.csv"))
            .unwrap()
            .1
            .contains("(--resample 15m --max-gap 3h;")
    );
    let same = join(
        &[files[0].clone(), hobo(dir.path(), "soil", SOIL, 7, &fast)],
        &options(),
    );
    let same = same.unwrap();
    assert_eq!(same.serve(Path::new("j.csv")), None);
    assert_eq!(JoinClock::of_text(&same.text), None);
}

/// What cannot be joined is refused with why: one name for both channels,
/// no time column, a file with neither channel, local stamps beside
/// instants.
#[test]
fn what_cannot_be_joined_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(i64, f64)> = (0..50).map(|i| (i, air(i))).collect();
    let a = hobo(dir.path(), "air", AIR, 0, &rows);
    let s = hobo(dir.path(), "soil", SOIL, 0, &rows);
    let other = hobo(dir.path(), "rh", "RH, %", 0, &rows);
    let err = |files: &[PathBuf], o: &CsvOptions| join(files, o).unwrap_err().to_string();
    let same = CsvOptions {
        output: Column::Name(AIR.into()),
        ..options()
    };
    assert!(err(&[a.clone(), s.clone()], &same).contains("rename the column"));
    let untimed = CsvOptions {
        time: Vec::new(),
        ..options()
    };
    assert!(err(&[a.clone(), s.clone()], &untimed).contains("--time-column"));
    let e = err(&[a.clone(), s.clone(), other.clone()], &options());
    assert!(e.contains("rh.csv holds neither"), "{e}");
    assert!(
        err(std::slice::from_ref(&a), &options())
            .contains(&format!("no file given holds {SOIL:?}"))
    );
    // ISO stamps without an offset beside stamps with one.
    let iso = |name: &str, col: &str, zone: &str| {
        let mut t = format!("time,{col}\n");
        for i in 0..50 {
            t += &format!("2026-04-15T12:{i:02}:00{zone},{i}\n");
        }
        let p = dir.path().join(name);
        std::fs::write(&p, t).unwrap();
        p
    };
    let local = iso("x.csv", "x", "");
    let utc = iso("y.csv", "y", "Z");
    let o = CsvOptions {
        input: Column::Name("x".into()),
        output: Column::Name("y".into()),
        time: vec![Column::Name("time".into())],
        ..Default::default()
    };
    let e = err(&[local, utc], &o);
    assert!(e.contains("would not be one clock"), "{e}");
}

/// A meter portal's export below `preamble`: `timestamp;power_kw`, ISO
/// stamps with Chicago's offsets 7 minutes past the air logger's, decimal
/// commas.
fn meter(dir: &Path, preamble: &str) -> PathBuf {
    let zone = crate::recording::Zone::parse("America/Chicago").unwrap();
    let mut t = format!("{preamble}timestamp;power_kw\n");
    for k in 0..100 {
        let stamp = zone.stamp((START + 420 + 900 * k) as f64);
        t += &format!("{stamp};{}\n", format!("{:.2}", soil(k)).replace('.', ","));
    }
    let m = dir.join("meter.csv");
    std::fs::write(&m, t).unwrap();
    m
}

/// A meter portal's export beside a HOBO logger's: no title line, its time
/// column `timestamp` (ISO with offsets), `;` and decimal commas. The flags
/// given fit the logger's file; the meter's is read with its own settings,
/// said, and joined as if each had been given its own flags.
#[test]
fn a_file_the_flags_do_not_fit_is_read_with_its_own_settings() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(i64, f64)> = (0..200).map(|i| (i, air(i))).collect();
    let a = hobo(dir.path(), "air", AIR, 0, &rows);
    let m = meter(dir.path(), "");
    let o = CsvOptions {
        output: Column::Name("power_kw".into()),
        ..options()
    };
    let j = join(&[a.clone(), m.clone()], &o).unwrap();
    assert_eq!((j.rows, j.before_input, j.stale), (100, 0, 0));
    assert_eq!(j.files[0].own, None);
    // A stretch left out leaves the meter's own time column found (its
    // guess read it without one, and so refused the --exclude).
    let stretch = "2026-04-16T00:00:00Z..2026-04-16T03:00:00Z";
    let cut = CsvOptions {
        exclude: vec![crate::recording::Exclude::parse(stretch).unwrap()],
        ..o.clone()
    };
    let rows = join(&[a.clone(), m], &cut).unwrap().rows;
    assert!((80..95).contains(&rows), "{rows}");
    assert_eq!(
        j.files[1].own.as_deref(),
        Some(
            "no lines skipped (not 1), its time column \"timestamp\" (not \"Date Time, GMT-05:00\", by its stamps)"
        )
    );
    let (lines, _) = j.said();
    assert!(
        lines[1].contains("the flags given do not fit it: read with no lines skipped"),
        "{}",
        lines[1]
    );
    let text = String::from_utf8(j.text).unwrap();
    let first: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(first[0], "2026-04-15T12:07:00-05:00");
    assert_eq!(
        first[2].parse::<f32>().unwrap(),
        format!("{:.2}", soil(0)).parse::<f32>().unwrap()
    );
    // Its own settings found the columns and an empty cell stopped the
    // read (a night's row of a portal): that is said, with how it was read,
    // not the time column the flags named; --skip-bad-rows joins it.
    let gappy = dir.path().join("meter.csv");
    let text = std::fs::read_to_string(&gappy).unwrap();
    let line = text.lines().nth(5).unwrap().to_string();
    let stamp = line.split(';').next().unwrap();
    std::fs::write(&gappy, text.replace(&line, &format!("{stamp};"))).unwrap();
    let e = join(&[a.clone(), gappy.clone()], &o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("empty cell") && e.contains("its time column \"timestamp\" (not"),
        "{e}"
    );
    let skip = CsvOptions {
        skip_bad_rows: true,
        ..o.clone()
    };
    assert_eq!(join(&[a.clone(), gappy], &skip).unwrap().rows, 99);
    // Where the flags fit a file (a `,` given for it) and a row of it stops
    // the read, that is said as it is, not blamed on the flags.
    let plain = |name: &str, column: &str, hole: Option<usize>| {
        let mut t = format!("time,{column}\n");
        for k in 0..50 {
            let cell = if hole == Some(k) {
                String::new()
            } else {
                format!("{k}.5")
            };
            t += &format!("2026-04-15T12:{k:02}:00Z,{cell}\n");
        }
        let p = dir.path().join(name);
        std::fs::write(&p, t).unwrap();
        p
    };
    let comma = CsvOptions {
        input: Column::Name("x".into()),
        output: Column::Name("y".into()),
        time: vec![Column::Name("time".into())],
        delimiter: Some(b','),
        ..Default::default()
    };
    let files = [plain("x.csv", "x", Some(9)), plain("y.csv", "y", None)];
    let e = join(&files, &comma).unwrap_err().to_string();
    assert!(e.contains("empty cell") && !e.contains("do not fit"), "{e}");
    // Read with neither the given flags nor its own: the reader's words,
    // with the header it read.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "when,x\n1,2\n").unwrap();
    let e = join(&[a, other], &o).unwrap_err().to_string();
    assert!(
        e.contains("other.csv holds neither") && e.contains("the header has"),
        "{e}"
    );
}

/// What breaks a channel within its file breaks the join: a skipped bad
/// row of the input leaves out the output row that would take the value
/// before it; a stamp repeated within one file is said as such; a second
/// file's own preamble (another than the one --skip-lines was given for)
/// is found and skipped.
#[test]
fn a_files_own_breaks_repeats_and_preamble() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(i64, f64)> = (0..100).map(|i| (i, air(i))).collect();
    let a = hobo(dir.path(), "air", AIR, 0, &rows);
    // Row 50's cell empty (an event row), row 70 written twice.
    let text = std::fs::read_to_string(&a).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let cells: Vec<String> = lines[52].split(',').map(String::from).collect();
    lines[52] = format!("{},{},,", cells[0], cells[1]);
    lines.insert(73, lines[72].clone());
    std::fs::write(&a, lines.join("\n") + "\n").unwrap();
    let m = meter(dir.path(), "Anlage: Nord\nExport: 2026\n");
    let o = CsvOptions {
        output: Column::Name("power_kw".into()),
        skip_bad_rows: true,
        ..options()
    };
    let j = join(&[a, m], &o).unwrap();
    assert_eq!((j.rows, j.blank, j.stale, j.after_input), (100, 1, 0, 0));
    assert_eq!(j.input_gaps.0, 1);
    assert_eq!(j.own_repeats.0, 1);
    assert_eq!(
        j.files[1].own.as_deref(),
        Some(
            "2 lines skipped (its preamble), its time column \"timestamp\" (not \"Date Time, GMT-05:00\", by its stamps)"
        )
    );
    let (_, warnings) = j.said();
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "1 row(s) repeat a stamp of their own file, such as 2026-04-16T05:30:00-05:00"
        ) && w.contains("rows sent again")),
        "{warnings:?}"
    );
    // The soil row 7 minutes after the bad row (00:30) has an empty input
    // cell; the one before it has the 00:15 value; the retrain printed
    // skips bad rows.
    let text = String::from_utf8(j.text.clone()).unwrap();
    assert!(text.contains("\n2026-04-16T00:37:00-05:00,,"), "{text}");
    assert!(text.contains(&format!(
        "\n2026-04-16T00:22:00-05:00,{},",
        (air(49) * 1e3).round() / 1e3
    )));
    assert!(
        j.next(Path::new("j.csv"))
            .contains(" --skip-bad-rows --out j.safetensors")
    );
}

/// The output's rows' place in each step: where nearly all of them lie at
/// or before it, around their median (a logger's jitter either side of the
/// epoch's grid, or of 12:07), none on the grid itself.
#[test]
fn the_outputs_ticks_lie_where_its_rows_do() {
    let at = |offset: f64, jitter: fn(i64) -> f64| -> Vec<f64> {
        (0..400)
            .map(|k| 1.8e9 + 900.0 * k as f64 + offset + jitter(k))
            .collect()
    };
    assert_eq!(phase(&at(0.0, |_| 0.0), 900.0), None);
    assert_eq!(phase(&at(420.0, |_| 0.0), 900.0), Some(420.0));
    // Up to 0.3 s late: the ticks are the latest, read each at its own.
    let late = phase(&at(420.0, |k| (k % 4) as f64 * 0.1), 900.0);
    assert_eq!(late, Some(420.3));
    // Either side of the grid: just after its latest, across the wrap.
    let around = phase(&at(0.0, |k| (k % 5) as f64 * 0.1 - 0.2), 900.0);
    assert_eq!(around, Some(0.2));
    let before = phase(&at(0.0, |k| -0.1 - (k % 2) as f64 * 0.1), 900.0);
    assert_eq!(before, Some(899.9));
    // One row in a hundred far off does not move it.
    let odd = phase(
        &at(420.0, |k| if k % 150 == 7 { 300.0 } else { 0.0 }),
        900.0,
    );
    assert_eq!(odd, Some(420.0));
    assert_eq!(phase(&[], 900.0), None);
}
