//! Recordings by their time: a recording of changes (a Home Assistant
//! history export: one row per entity and change, grouped by entity) that
//! `retrain` points at the flags for, reads on one clock with them and
//! records for `eval`; a copy of the training period known by its time;
//! files at other rates trained together.

use super::*;

/// `entity_id,state,last_changed`: `sensor.s3` (the input) and
/// `sensor.s7` (the output) of the usual recording, written only where a
/// value changed (at two decimals) on 10 s ticks, a minute `unavailable`
/// every 97 ticks, and a third entity.
fn history(ticks: std::ops::Range<usize>) -> String {
    let mut text = String::from("entity_id,state,last_changed\n");
    let start = 1_764_320_000.0;
    for (name, f) in [
        ("sensor.s3", input_at as fn(usize) -> f64),
        ("sensor.s7", output_at),
    ] {
        let mut last = String::new();
        for t in ticks.clone() {
            // A change lands a little after its tick, as a sensor reports.
            let at = start + 10.0 * t as f64 + 1.5;
            let state = if (50..56).contains(&(t % 97)) {
                "unavailable".to_string()
            } else {
                format!("{:.2}", f(t))
            };
            if state != last {
                text.push_str(&format!("{name},{state},{at:.3}\n"));
                last = state;
            }
        }
    }
    text.push_str("sensor.wifi_signal,-67,1764320001.0\n");
    text
}

#[test]
fn a_history_of_changes_is_read_on_one_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, later) = (dir.path().join("history.csv"), dir.path().join("later.csv"));
    std::fs::write(&csv, history(0..1500)).unwrap();
    std::fs::write(&later, history(1500..2000)).unwrap();
    let model = dir.path().join("m.safetensors");
    let train = |extra: &[&str]| {
        pipeline()
            .args(["retrain", "--data", csv.to_str().unwrap()])
            .args([
                "--input",
                "sensor.s3",
                "--output",
                "sensor.s7",
                "--hidden",
                "8",
            ])
            .args(["--steps", "3", "--out", model.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap()
    };
    // As it is: no such column, and the flags that read it.
    let out = train(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("\"sensor.s3\" is a value of column \"entity_id\"")
            && stderr.contains(
                "--name-column entity_id --value-column state --time-column last_changed \
                 --resample 10s (its rows come every 10 s"
            ),
        "{stderr}"
    );
    let out = train(&[
        "--name-column",
        "entity_id",
        "--value-column",
        "state",
        "--time-column",
        "last_changed",
        "--resample",
        "10s",
    ]);
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let data = stdout
        .lines()
        .find(|l| l.starts_with("data"))
        .unwrap_or_default();
    assert!(
        data.contains("read every 10 s from")
            && data.contains("(rows of \"entity_id\" naming them, values in \"state\")"),
        "{stdout}"
    );
    // Ticks where either is unavailable are left out (no window spans
    // them), and are no bad rows; the rest read as a row every 10 s.
    let unavailable = (0..1500).filter(|t| (50..56).contains(&(t % 97))).count();
    let both = 1499 - unavailable;
    assert!(
        data.contains(&format!("{both} of 1499 ticks with both")),
        "{data}"
    );
    assert!(!data.contains("bad rows skipped"), "{data}");
    assert!(data.contains("a row every 10 s"), "{data}");
    // Split where a tick has no value, not "no gap in time".
    assert!(
        data.contains(&format!(
            "split where a tick has no value of both ({} ticks)",
            1499 - both
        )) && !data.contains("no gap in"),
        "{data}"
    );
    // The model's values at each tick are the held changes: its held-out
    // linear baseline is near exact, as on the regular recording.
    let report = read_json(&model.with_extension("report.json"));
    let nmse = report["validation"]["linear_baseline"]["nmse"].as_f64();
    assert!(nmse.is_some_and(|n| n < 0.1), "{report}");
    // `eval` of a later export takes the reading from the model.
    let (v, stderr) = eval(&model, &later, &[]);
    assert!(
        stderr.contains(r#"--resample 10s --name-column "entity_id" --value-column "state""#),
        "{stderr}"
    );
    assert!(
        v["validation"]["windows"].as_u64().unwrap_or(0) > 300,
        "{v}"
    );
}

/// An interpolated (or otherwise re-exported) copy of the training period
/// has none of its stored windows' values, so its rows are not found by
/// content: `eval` says its time lies in the training file's, rather than
/// scoring the training period as never seen without a word; a later
/// period is not warned of.
#[test]
fn a_copy_of_the_training_period_by_other_values_is_said_by_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, copy, later) = (
        dir.path().join("train.csv"),
        dir.path().join("copy.csv"),
        dir.path().join("later.csv"),
    );
    write_recording(&csv, 300);
    // The same rows, every value a little off (as interpolation leaves it).
    write_recording_with(
        &copy,
        0..300,
        |t| input_at(t) + 0.01,
        |t| output_at(t) + 0.01,
    );
    write_recording_from(&later, 300..600);
    let model = dir.path().join("m.safetensors");
    ok(&retrain(
        &csv,
        &model,
        &["--steps", "2", "--time-column", "time"],
    ));
    let said = "lies in the time training file 1 of 1 covered";
    let (_, stderr) = eval(&model, &copy, &[]);
    assert!(
        stderr.contains(said) && stderr.contains("100% of its rows' time"),
        "{stderr}"
    );
    let (_, stderr) = eval(&model, &later, &[]);
    assert!(!stderr.contains(said), "{stderr}");
}

/// Files sampled at other rates trained together: the model records the
/// first's step and reads the other's windows as a slower signal, which
/// `retrain` says (it said nothing; `eval` of the file alone did).
#[test]
fn files_at_another_rate_than_the_first_are_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let (every_s, every_2s) = (dir.path().join("1s.csv"), dir.path().join("2s.csv"));
    write_recording(&every_s, 200);
    write_recording(&every_2s, 400);
    // Every other row: a row every 2 s.
    let text = std::fs::read_to_string(&every_2s).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept: Vec<&str> = std::iter::once(lines[0])
        .chain(lines[1..].iter().step_by(2).copied())
        .collect();
    std::fs::write(&every_2s, kept.join("\n") + "\n").unwrap();
    let model = dir.path().join("m.safetensors");
    let out = retrain(
        &every_s,
        &model,
        &[
            "--data",
            every_2s.to_str().unwrap(),
            "--steps",
            "2",
            "--time-column",
            "time",
        ],
    );
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warned: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("where the model was trained on a row every"))
        .collect();
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(
        warned[0]
            .contains("2s.csv: a row every 2 s where the model was trained on a row every 1 s")
            && warned[0].contains("(the first file's step, which the model records)"),
        "{stderr}"
    );
    // Each file's last rows held out: none was unseen, which is said.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("note       held out: the last rows of each of the 2 recordings"),
        "{stdout}"
    );
}

/// An air-quality portal's long export: a row per station, parameter and
/// hour (`location_id,parameter,value,unit,datetimeUtc`), one decimal, a
/// station down for a day. Read as one recording it is refused, naming the
/// column of the stations; with `--stream-column location_id` each
/// station's rows are read on the clock alone, and their hourly rows (a
/// logger's readings, some repeating the hour before) are held three
/// hours at most, not across the outage: the model records that hold as
/// its `--max-gap`, and `eval` of the stations' later rows reads it so.
/// The unit the rows say is the model's.
#[test]
fn a_portals_long_export_of_several_stations_is_read_station_by_station() {
    let dir = tempfile::tempdir().unwrap();
    let export = |hours: std::ops::Range<usize>| {
        let mut text = String::from("location_id,parameter,value,unit,datetimeUtc\n");
        for h in hours {
            // (600 hours from 1 December 2025 stay in December.)
            let stamp = format!("2025-12-{:02}T{:02}:00:00Z", 1 + h / 24, h % 24);
            for (station, shift) in [("2001", 0), ("2002", 7), ("2003", 13)] {
                if station == "2002" && ((100..124).contains(&h) || (500..524).contains(&h)) {
                    continue;
                }
                let x = (h + shift) as f64 / 5.0;
                let pm25 = format!("{:.1}", 20.0 + 10.0 * x.sin());
                let pm10 = format!("{:.1}", 30.0 + 15.0 * x.sin() + 3.0 * (x / 3.0).cos());
                text.push_str(&format!("{station},pm25,{pm25},µg/m³,{stamp}\n"));
                text.push_str(&format!("{station},pm10,{pm10},µg/m³,{stamp}\n"));
            }
        }
        text
    };
    let (csv, later) = (dir.path().join("export.csv"), dir.path().join("later.csv"));
    std::fs::write(&csv, export(0..400)).unwrap();
    std::fs::write(&later, export(400..600)).unwrap();
    let model = dir.path().join("m.safetensors");
    let flags = [
        "--name-column",
        "parameter",
        "--value-column",
        "value",
        "--time-column",
        "datetimeUtc",
        "--resample",
        "1h",
    ];
    let train = |extra: &[&str]| {
        pipeline()
            .args(["retrain", "--data", csv.to_str().unwrap()])
            .args(["--input", "pm25", "--output", "pm10", "--hidden", "8"])
            .args(["--steps", "3", "--out", model.to_str().unwrap()])
            .args(flags)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = train(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("rows of several devices in one export?")
            && stderr.contains("--stream-column location_id reads each device's rows"),
        "{stderr}"
    );
    let out = train(&["--stream-column", "location_id"]);
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let data: Vec<&str> = stdout.lines().filter(|l| l.starts_with("data")).collect();
    assert_eq!(data.len(), 3, "{stdout}");
    assert!(
        data[1].contains("stream \"2002\"")
            && data[1].contains("from 376 changes of \"pm25\"")
            && data[1].contains("a value is held 3.0 h at most"),
        "{stdout}"
    );
    let metrics = pipeline::format::load(&model, None).unwrap().meta.metrics;
    let metrics = metrics.unwrap();
    // The unit the rows say, each channel's: translations say it.
    assert_eq!(metrics["input_unit"], "µg/m³", "{metrics}");
    assert_eq!(metrics["output_unit"], "µg/m³", "{metrics}");
    let reading = &metrics["reading"];
    assert_eq!(reading["max_gap_s"], 10_800.0, "{reading}");
    assert_eq!(reading["stream_column"], "location_id", "{reading}");
    // Windows never span the later outage either: 3 ticks held, 21
    // without a value, so 2002 has 103 ticks then 76, each station's run
    // 23 windows short.
    let (v, stderr) = eval(&model, &later, &[]);
    assert!(stderr.contains("--max-gap 10800s"), "{stderr}");
    let windows = 2 * (200 - 23) + (103 - 23) + (76 - 23);
    assert_eq!(v["validation"]["windows"].as_u64(), Some(windows), "{v}");
}

/// `publish --data` of local quarter-hours across the autumn clock change,
/// without `--time-zone`, says the repeated hour is one (as retrain does),
/// naming the flag; with it, there is no gap to say.
#[test]
fn publish_says_a_clock_change_among_its_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("local.csv");
    let mut text = String::from("time;a\n");
    let stamp = |h: u32, m: u32| format!("2026-10-25 {h:02}:{m:02}");
    let mut stamps: Vec<String> = (0..6 * 4).map(|q| stamp(q / 4, q % 4 * 15)).collect();
    // 02:00–02:45 twice: the hour the clocks go back.
    stamps.splice(12..12, (0..4).map(|q| stamp(2, q * 15)));
    for (i, s) in stamps.iter().enumerate() {
        text.push_str(&format!("{s};{}\n", i % 7));
    }
    std::fs::write(&csv, text).unwrap();
    let publish = |extra: &[&str]| {
        let out = pipeline()
            .args([
                "publish",
                "--data",
                csv.to_str().unwrap(),
                "--time-column",
                "time",
            ])
            .args([
                "--input",
                "a",
                "--rate",
                "0",
                "--nats",
                "nats://127.0.0.1:1",
            ])
            .args(extra)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = publish(&[]);
    assert!(
        err.contains("its times have no zone and are read as UTC")
            && err.contains("data row 12: the time goes back 45.0 min")
            && err.contains("name their zone (--time-zone Europe/Berlin)"),
        "{err}"
    );
    let err = publish(&["--time-zone", "Europe/Berlin"]);
    assert!(
        !err.contains("goes back") && !err.contains("gap(s)") && !err.contains("no zone"),
        "{err}"
    );
}
