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
            && stderr.contains("--name-column entity_id --value-column state --time-column last_changed --resample 1m"),
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
}
