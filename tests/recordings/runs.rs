//! `eval` on recordings other than the training part (without its time
//! column, never seen, a copy), and how a run ends or is refused (Ctrl-C,
//! a file named twice, a gap without a time column).

use super::*;

/// A model trained with a time column, scored on a recording without one:
/// `eval` takes the column from training, finds it missing, says so and
/// reads the file without it (it stopped with 78, and `--time-column`
/// cannot be given empty).
#[test]
fn eval_reads_a_file_without_the_trained_time_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("timed.csv");
    write_recording(&csv, 200);
    let model = dir.path().join("m.safetensors");
    ok(&retrain(
        &csv,
        &model,
        &["--steps", "2", "--time-column", "time"],
    ));
    // `info` says what `serve` takes from it: windows restart at gaps in
    // `ts` over three of the recording's 1 s steps; not for a model
    // trained without a time column.
    let info = |args: &[&std::ffi::OsStr]| -> serde_json::Value {
        let out = pipeline().arg("info").args(args).output().unwrap();
        ok(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = info(&["--model".as_ref(), model.as_os_str()]);
    let serve = (
        v["serve"]["max_gap_s"].as_f64(),
        v["serve"]["time_step_s"].as_f64(),
    );
    assert_eq!(serve, (Some(3.0), Some(1.0)), "{v}");
    assert_eq!(
        (v["window"].as_u64(), v["metrics"]["time_step_s"].as_f64()),
        (Some(24), Some(1.0))
    );
    // The channels first; the linear baseline's 576 coefficients counted,
    // printed with --full.
    assert_eq!(v["channels"], "s3 → s7", "{v}");
    let b = &v["metrics"]["baselines"]["linear"]["b"];
    assert_eq!(b, "576 numbers (--full prints them)", "{v}");
    let full = info(&["--model".as_ref(), model.as_os_str(), "--full".as_ref()]);
    assert_eq!(
        full["metrics"]["baselines"]["linear"]["b"]
            .as_array()
            .map(Vec::len),
        Some(576)
    );
    // The training file's stored windows likewise.
    let stored = |v: &serde_json::Value| v["metrics"]["training_rows"][0]["anchors"].clone();
    let n = stored(&full).as_array().map_or(0, Vec::len);
    assert!(n > 8, "{full}");
    assert_eq!(
        stored(&v),
        format!("{n} stored windows (--full prints them)"),
        "{v}"
    );
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let v = info(&[
        "--pair".as_ref(),
        "sin-cos".as_ref(),
        "--models-dir".as_ref(),
        shipped.as_os_str(),
    ]);
    assert!(
        v["serve"]["max_gap_s"].is_null() && v["pair"] == "sin-cos",
        "{v}"
    );
    // `config check` says the rule a route serving it takes, and a route's
    // own max_gap over it.
    let check = |extra: &[&str]| -> String {
        let out = pipeline()
            .args(["config", "check", "--model"])
            .arg(&model)
            .args(extra)
            .output()
            .unwrap();
        ok(&out);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let said = check(&[]);
    assert!(
        said.contains("ts jump over 3s (the gap its model's training recording was split at"),
        "{said}"
    );
    assert!(check(&["--max-gap", "1m30s"]).contains("ts jump over 90s (its max_gap)"));
    assert!(check(&["--max-gap", "0"]).contains("never restart at gaps in time"));
    // The same rows without their first (time) column.
    let text = std::fs::read_to_string(&csv).unwrap();
    let untimed: String = text
        .lines()
        .map(|l| format!("{}\n", l.split_once(',').unwrap().1))
        .collect();
    let bare = dir.path().join("bare.csv");
    std::fs::write(&bare, untimed).unwrap();
    let (_, err) = eval(&model, &bare, &[]);
    assert!(
        err.contains("--time-column \"time\"") && err.contains("read without the time column"),
        "{err}"
    );
    assert!(!err.contains("looks like this file's time stamps"), "{err}");
    // The time column under another name: the way to name it is said.
    let renamed = text.replacen("time,", "stamp,", 1);
    let other = dir.path().join("renamed.csv");
    std::fs::write(&other, renamed).unwrap();
    let (_, err) = eval(&model, &other, &[]);
    assert!(
        err.contains("--time-column stamp looks like this file's time stamps"),
        "{err}"
    );
}

/// Trained without naming the time column it has, `retrain` says whether
/// that column's stamps show a gap the windows now span, and where.
#[test]
fn the_time_column_hint_says_whether_its_stamps_show_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("timed.csv");
    write_recording(&csv, 200);
    let model = dir.path().join("m.safetensors");
    let hint = |out: &Output| {
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        stdout
            .lines()
            .find(|l| l.starts_with("hint"))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no hint in {stdout}"))
    };
    let run = || {
        let out = retrain(&csv, &model, &["--steps", "1"]);
        ok(&out);
        hint(&out)
    };
    let even = run();
    assert!(
        even.contains("--time-column time looks like time stamps and shows no gap"),
        "{even}"
    );
    // An hour missing after row 150.
    let text = std::fs::read_to_string(&csv).unwrap();
    let gapped: String = (text.lines().enumerate())
        .map(|(i, l)| match i {
            0..=150 => format!("{l}\n"),
            _ => format!("{}\n", l.replacen("T00:", "T01:", 1)),
        })
        .collect();
    std::fs::write(&csv, gapped).unwrap();
    let gap = run();
    assert!(
        gap.contains("the time stamps in \"time\" show 1 gap(s) in time (data row 150: 1.0 h")
            && gap.contains("--time-column time splits them there"),
        "{gap}"
    );
    // Beside an even file, the gapped one is named, and the count is of all.
    let even_file = dir.path().join("even.csv");
    write_recording(&even_file, 200);
    let out = retrain(
        &even_file,
        &model,
        &["--steps", "1", "--data", csv.to_str().unwrap()],
    );
    ok(&out);
    let both = hint(&out);
    assert!(
        both.contains("show 1 gap(s) in time in 1 of the 2 files (the first: ")
            && both.contains("timed.csv: data row 150: 1.0 h"),
        "{both}"
    );
}

/// A recording the model never saw is scored whole, against the baselines
/// fitted on the model's training data (stored with it), not against
/// baselines fitted on that recording's first rows; `--validate` and the
/// training file itself keep the held-out split.
#[test]
fn a_recording_the_model_never_saw_is_scored_whole_against_its_training_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("day1.csv"), dir.path().join("day2.csv"));
    write_recording(&a, 300);
    // Another period: rows of day 1's would be found to be training rows.
    write_recording_from(&b, 1000..1200);
    let model = dir.path().join("m.safetensors");
    ok(&retrain(&a, &model, &["--steps", "2"]));

    let (e, err) = eval(&model, &b, &[]);
    assert_eq!(e["never_trained_on"], true, "{e}");
    assert_eq!(e["validation"]["windows"], 200 - 23, "{e}");
    assert_eq!(
        (
            &e["data"][0]["train_rows"],
            &e["data"][0]["validation_rows"]
        ),
        (&0.into(), &200.into()),
        "no row trained on, every row scored: {e}"
    );
    assert!(err.contains("scoring every window"), "{err}");
    // The linear map fitted on day 1's training part (its first 80%), as
    // retrain fitted it, predicting every window of day 2.
    let opts = pipeline::recording::CsvOptions {
        input: "s3".parse().unwrap(),
        output: "s7".parse().unwrap(),
        ..Default::default()
    };
    let trained = pipeline::fit::prepare(std::slice::from_ref(&a), &opts, 0.2, 24).unwrap();
    let linear = pipeline::baseline::LinearMap::fit(&trained.train).unwrap();
    let day2 = pipeline::fit::prepare(std::slice::from_ref(&b), &opts, 0.0, 24).unwrap();
    let pred = linear.predict(&day2.train.input);
    let want = pred
        .iter()
        .zip(&day2.train.target)
        .map(|(p, t)| (f64::from(*p) - f64::from(*t)).powi(2))
        .sum::<f64>()
        / pred.len() as f64;
    let got = e["validation"]["linear_baseline"]["mse"].as_f64().unwrap();
    assert!(
        (got - want).abs() <= 1e-9 * want.max(1e-12),
        "{got} vs {want}"
    );

    // Asked for a held-out split, or on the training file: as before.
    let (e, _) = eval(&model, &b, &["--validate", "0.2"]);
    assert_eq!(
        (
            e["never_trained_on"].as_bool(),
            e["validation"]["windows"].as_u64()
        ),
        (Some(false), Some(40 - 23))
    );
    // The training file under another name (a copy, or a path relative to
    // another directory) is still known by its content.
    let copy = dir.path().join("copy-of-day1.csv");
    std::fs::copy(&a, &copy).unwrap();
    let (e, _) = eval(&model, &copy, &[]);
    assert_eq!(e["never_trained_on"], false, "{e}");
    let (e, _) = eval(&model, &a, &[]);
    assert_eq!(
        (
            e["never_trained_on"].as_bool(),
            e["validation"]["windows"].as_u64()
        ),
        (Some(false), Some(60 - 23))
    );
    // The logger's file grown since (100 more rows: not the same bytes):
    // its first 240 rows, the training part, are found by their values and
    // left out; every window of the 160 rows after them is scored.
    let grown = dir.path().join("day1-grown.csv");
    write_recording(&grown, 400);
    let (e, err) = eval(&model, &grown, &[]);
    assert_eq!(e["never_trained_on"], false, "{e}");
    assert_eq!(e["validation"]["windows"], 160 - 23, "{e}");
    // Of those, the 60 starting in day 1's held-out part (rows 240-299)
    // chose the weights: said, and the windows are not called unseen.
    assert_eq!(e["data"][0]["held_out_windows_found"], 60, "{e}");
    assert_eq!(e["validation"]["never_seen"], false, "{e}");
    assert!(
        err.contains("60 of the windows scored have rows of the training file's held-out part (data rows 240–299)"),
        "{err}"
    );
    assert_eq!(e["data"][0]["training_rows_found"], 240, "{e}");
    assert_eq!(
        (
            &e["data"][0]["train_rows"],
            &e["data"][0]["validation_rows"]
        ),
        (&240.into(), &160.into()),
        "the rows trained on and the rows scored: {e}"
    );
    assert!(
        err.contains("240 of its 400 rows (data rows 0–239)"),
        "{err}"
    );
    // An export of rows 200 to 259 only: all training rows but 20, no
    // window left to score: said, not scored as unseen.
    let part = dir.path().join("day1-part.csv");
    write_recording_from(&part, 200..260);
    let out = pipeline()
        .args(["eval", "--model", model.to_str().unwrap()])
        .args(["--data", part.to_str().unwrap()])
        .args(["--plot", dir.path().join("part.png").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not trained on: to score its held-out part"),
        "{err}"
    );
    // The training file beside a new one: scored two ways, so refused
    // (the new one was scored only on its last part, by baselines fitted
    // partly on its own rows), with the two runs to make instead.
    let out = pipeline()
        .args(["eval", "--model", model.to_str().unwrap()])
        .args(["--data", a.to_str().unwrap(), "--data", b.to_str().unwrap()])
        .args(["--plot", dir.path().join("mixed.png").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("day1.csv is a file the model was trained on and")
            && err.contains("day2.csv is not one by its bytes: eval them in two runs"),
        "{err}"
    );
}

/// An input a spread or two from training's (another season) is said to
/// be one the model extrapolates on; one in other units (×1000) is said to
/// be in other units.
#[test]
fn eval_tells_another_period_from_other_units() {
    let dir = tempfile::tempdir().unwrap();
    let day1 = dir.path().join("day1.csv");
    write_recording(&day1, 300);
    let model = dir.path().join("m.safetensors");
    ok(&retrain(&day1, &model, &["--steps", "2"]));
    let warmer = dir.path().join("warmer.csv");
    write_recording_with(&warmer, 1000..1300, |t| input_at(t) + 70.0, output_at);
    let (_, err) = eval(&model, &warmer, &[]);
    assert!(
        err.contains("training spreads apart: a period unlike training's")
            && !err.contains("--decimal"),
        "{err}"
    );
    // A steady stretch: training's level, a tenth of its spread.
    let steady = dir.path().join("steady.csv");
    let calm = |t: usize| 1000.0 + 0.1 * (input_at(t) - 1000.0);
    write_recording_with(&steady, 1000..1300, calm, output_at);
    let (e, err) = eval(&model, &steady, &[]);
    assert!(
        err.contains("a steadier stretch than training's (its spread 0.10 of training's")
            && !err.contains("--decimal"),
        "{err}"
    );
    let verdict = e["verdict"].as_str().unwrap_or_default();
    assert!(!verdict.contains("unlike what it was trained on"), "{e}");
    let millis = dir.path().join("millis.csv");
    write_recording_with(&millis, 1000..1300, |t| input_at(t) * 1000.0, output_at);
    let (e, err) = eval(&model, &millis, &[]);
    assert!(
        err.contains("other units, or a misread decimal separator"),
        "{err}"
    );
    assert_eq!(e["slow_error"], serde_json::Value::Null, "{e}");
    // The verdict points at the input, not at more data.
    let verdict = e["verdict"].as_str().unwrap_or_default();
    assert!(
        verdict.contains("the input scored is unlike what it was trained on"),
        "{e}"
    );
    // An output that follows a state the input does not show (a slow
    // swing of 400 rows): most of the error holds through each window.
    let drifting = dir.path().join("drifting.csv");
    let swing = |t: usize| output_at(t) + 300.0 * (t as f64 * std::f64::consts::TAU / 400.0).sin();
    write_recording_with(&drifting, 1000..1300, input_at, swing);
    // (A model that follows the signal within windows: one that follows
    // nothing has the signal's own slow part for its error, not said.)
    let (e, _) = eval(&model, &drifting, &[]);
    assert_eq!(e["slow_error"], serde_json::Value::Null, "{e}");
    let trained = dir.path().join("trained.safetensors");
    ok(&retrain(&day1, &trained, &["--steps", "300"]));
    let (e, _) = eval(&trained, &drifting, &[]);
    let said = e["slow_error"].as_str().unwrap_or_default();
    assert!(
        said.contains("an offset that holds through each window")
            && said.contains("slower than the 24 rows a window sees"),
        "{e}"
    );
    assert!(
        e["validation"]["error_parts"]["offset_share"]
            .as_f64()
            .unwrap()
            > 0.6,
        "{e}"
    );
}

/// Ctrl-C (SIGINT) ends training as a spent budget does: the best weights so
/// far are written with the report and figures, and the run says why.
#[test]
fn ctrl_c_ends_training_and_keeps_the_best_weights() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    write_recording(&csv, 300);
    let model = dir.path().join("m.safetensors");
    let child = pipeline()
        .args(["retrain", "--data", csv.to_str().unwrap()])
        .args(["--input", "s3", "--output", "s7", "--hidden", "8"])
        .args(["--steps", "100000000", "--patience", "100000000"])
        .args(["--out", model.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = crate::common::interrupt_after(child, std::time::Duration::from_secs(2));
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("interrupted (Ctrl-C)"), "{stdout}");
    let report = read_json(&dir.path().join("m.report.json"));
    assert_eq!(report["stop"], "interrupted", "{report}");
    assert!(pipeline::format::load(&model, None).is_ok());
}

/// A file named twice (or its copy), `--max-gap` or `--date-order` with no time column,
/// or a recipe that cannot train, is a command line that cannot run as
/// given: exit 2, saying why.
#[test]
fn a_file_named_twice_or_a_gap_without_a_time_column_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    write_recording(&csv, 100);
    let model = dir.path().join("m.safetensors");
    let again = dir.path().join(".").join("export.csv");
    let twice = retrain(&csv, &model, &["--data", again.to_str().unwrap()]);
    // A copy under another name: the same rows twice as surely.
    let copy = dir.path().join("copy.csv");
    std::fs::copy(&csv, &copy).unwrap();
    let copied = retrain(&csv, &model, &["--data", copy.to_str().unwrap()]);
    let gap = retrain(&csv, &model, &["--max-gap", "1h"]);
    let order = retrain(&csv, &model, &["--date-order", "mdy"]);
    let zone = retrain(&csv, &model, &["--time-zone", "Europe/Berlin"]);
    let mars = retrain(&csv, &model, &["--time-zone", "Mars/Olympus"]);
    // Flags that make no recipe.
    let window = retrain(&csv, &model, &["--window", "1"]);
    let lr = retrain(&csv, &model, &["--lr", "0"]);
    for (out, why) in [
        (twice, "names"),
        (copied, "hold the same bytes"),
        (gap, "--max-gap needs --time-column"),
        (order, "--date-order needs --time-column"),
        (zone, "--time-zone needs --time-column"),
        (
            mars,
            "\"Mars/Olympus\" is no time zone: an IANA name such as Europe/Berlin",
        ),
        (window, "must be at least 2"),
        (lr, "learning rates must be positive"),
    ] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(why), "{err}");
    }
    assert!(!model.exists());
    // A window other than the one a model records: refused, not scored as
    // another model (`--window` is for files that record none).
    write_recording(&csv, 200);
    ok(&retrain(&csv, &model, &["--steps", "1"]));
    let out = pipeline()
        .args(["eval", "--model", model.to_str().unwrap(), "--window", "48"])
        .args(["--data", csv.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("was trained on windows of 24 samples"),
        "{err}"
    );
}

/// A training step larger than the memory the process may take (here its
/// address space, `ulimit -v`) is refused before training, exit 2, with the
/// batch that fits; and that batch trains under the same limit. Before, the
/// step's allocation failed mid-run: an abort (exit 134), nothing written.
#[test]
fn a_step_too_large_for_the_memory_there_is_is_refused_with_the_batch_that_fits() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    write_recording(&csv, 1500);
    let model = dir.path().join("m.safetensors");
    // 64 windows of 200 samples through 512 units: about 1.8 GB a step.
    let limited = |shape: &[&str]| {
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "ulimit -v 1600000 && exec \"$0\" \"$@\""])
            .arg(pipeline().get_program())
            .args(["retrain", "--data", csv.to_str().unwrap()])
            .args([
                "--input",
                "s3",
                "--output",
                "S7",
                "--steps",
                "1",
                "--threads",
                "2",
            ])
            .args(["--out", model.to_str().unwrap()])
            .args(shape);
        cmd.output().unwrap()
    };
    let wide = ["--window", "200", "--hidden", "512"];
    let refused = limited(&wide);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains("a training step of 64 windows"), "{err}");
    assert!(!model.exists());
    let fits: usize = err
        .split("--batch ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no batch named: {err}"));
    assert!((1..64).contains(&fits), "{err}");
    let fits = fits.to_string();
    let trained = limited(&[&wide[..], &["--batch", &fits]].concat());
    succeeded(&trained);
    assert!(model.exists());
    std::fs::remove_file(&model).unwrap();
    // A step that fits, but a linear baseline (fitted after training) that
    // does not: three 9,000 × 9,000 matrices of f64, 1.9 GB.
    write_recording(&csv, 19_000);
    let long = [
        "--window",
        "9000",
        "--validate",
        "0.5",
        "--batch",
        "1",
        "--hidden",
        "1",
    ];
    let refused = limited(&long);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the linear baseline of windows of 9000"),
        "{err}"
    );
    assert!(!model.exists());
}

/// An export whose first column is its time (epoch milliseconds under a
/// time-like name): with no --input, `publish` sent the clock as samples
/// and `retrain` trained on it; both refuse now, naming --input (exit 2).
#[test]
fn a_default_input_that_is_the_time_column_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("log.csv");
    let mut text = String::from("time_ms,flow,level\n");
    for i in 0..400u64 {
        let x = (i as f64 / 9.0).sin();
        text.push_str(&format!(
            "{},{x:.4},{:.4}\n",
            1_767_225_600_000 + 2000 * i,
            0.5 * x
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let model = dir.path().join("m.safetensors");
    let retrain = pipeline()
        .args(["retrain", "--data", csv.to_str().unwrap(), "--steps", "1"])
        .args(["--out", model.to_str().unwrap()])
        .output()
        .unwrap();
    let publish = pipeline()
        .args(["publish", "--data", csv.to_str().unwrap(), "--count", "5"])
        .args(["--nats", "nats://127.0.0.1:1"])
        .output()
        .unwrap();
    for out in [retrain, publish] {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("column 0 (\"time_ms\"), looks like time stamps")
                && err.contains("--input"),
            "{err}"
        );
    }
    assert!(!model.exists());
    // Named, the same file trains.
    let named = pipeline()
        .args([
            "retrain",
            "--data",
            csv.to_str().unwrap(),
            "--input",
            "flow",
        ])
        .args(["--output", "level", "--steps", "1", "--hidden", "4"])
        .args(["--out", model.to_str().unwrap()])
        .output()
        .unwrap();
    succeeded(&named);
}
