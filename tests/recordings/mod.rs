//! A user's own recording, end to end through the CLI: a many-column CSV in
//! physical units → `retrain --data` (columns by name, chronological split,
//! scaling, early stopping, baselines) → `translate` / `eval` in physical
//! units. The figures the report states are recomputed here independently.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use crate::common::{pipeline, succeeded};

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Input channel `s3`: two tones around 1,000 (milli-g-like units).
fn input_at(t: usize) -> f64 {
    let t = t as f64;
    1000.0 + 50.0 * (0.07 * t).sin() + 20.0 * (0.31 * t + 1.0).sin()
}

/// Output channel `s7`: a saturating response to the input two samples
/// earlier (not linear), around −300.
fn output_at(t: usize) -> f64 {
    let x = input_at(t.saturating_sub(2));
    -300.0 + 120.0 * ((x - 1000.0) / 30.0).tanh()
}

/// An 11-column export: a time stamp, a quoted label, nine sensors; a BOM.
fn write_recording(path: &Path, rows: usize) {
    write_recording_from(path, 0..rows);
}

/// The recording's rows `rows` (another period of the same signal).
fn write_recording_from(path: &Path, rows: std::ops::Range<usize>) {
    write_recording_with(path, rows, input_at, output_at);
}

/// Rows `rows` with other channels (another period, other units, a slow
/// state the input does not show).
fn write_recording_with(
    path: &Path,
    rows: std::ops::Range<usize>,
    input: impl Fn(usize) -> f64,
    output: impl Fn(usize) -> f64,
) {
    let mut text = String::from("\u{feff}time,label");
    for k in 0..9 {
        text.push_str(&format!(",s{k}"));
    }
    text.push('\n');
    for t in rows {
        text.push_str(&format!(
            "2026-01-01T00:{:02}:{:02},\"run, A\"",
            t / 60 % 60,
            t % 60
        ));
        for k in 0..9 {
            let v = match k {
                3 => input(t),
                7 => output(t),
                _ => (t * (k + 1)) as f64 * 0.5,
            };
            text.push_str(&format!(",{v:.4}"));
        }
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `pipeline eval --json --model <model> --data <csv> <extra>` (its figure
/// beside the model), which must succeed: its JSON and its stderr.
fn eval(model: &Path, csv: &Path, extra: &[&str]) -> (serde_json::Value, String) {
    let plot = model.with_extension("eval.png");
    let out = pipeline()
        .args(["eval", "--model", model.to_str().unwrap(), "--json"])
        .args(["--data", csv.to_str().unwrap()])
        .args(["--plot", plot.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    ok(&out);
    let e = serde_json::from_slice(&out.stdout).unwrap();
    (e, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// What `pipeline eval --model <model> --data <csv>` prints for people
/// (its figure beside the model).
fn eval_text(model: &Path, csv: &Path) -> String {
    let plot = model.with_extension("text.png");
    let out = pipeline()
        .args(["eval", "--model", model.to_str().unwrap()])
        .args([
            "--data",
            csv.to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn retrain(csv: &Path, model: &Path, extra: &[&str]) -> Output {
    pipeline()
        .args(["retrain", "--data", csv.to_str().unwrap()])
        .args(["--input", "s3", "--output", "S7"]) // names match case-insensitively
        .args([
            "--hidden",
            "8",
            "--threads",
            "2",
            "--out",
            model.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// What the CSV holds, in f32 as the reader parses it.
fn channel(rows: std::ops::Range<usize>, f: fn(usize) -> f64) -> Vec<f32> {
    rows.map(|t| format!("{:.4}", f(t)).parse::<f32>().unwrap())
        .collect()
}

#[test]
fn trains_by_column_name_and_serves_physical_units() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    write_recording(&csv, 600);
    let model = dir.path().join("m.safetensors");
    let out = retrain(&csv, &model, &["--steps", "60"]);
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "linear map (baseline)",
        "mean (baseline)",
        "verdict",
        "480 train, 120 held out",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} missing from:\n{stdout}"
        );
    }
    for f in [
        "m.report.json",
        "m.loss.png",
        "m.validation.png",
        "m.heldout.png",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    let report = read_json(&dir.path().join("m.report.json"));
    assert_eq!(report["data"][0]["input_name"], "s3");
    assert_eq!(report["data"][0]["output_name"], "s7");
    assert_eq!(report["data"][0]["train_rows"], 480);
    assert_eq!(report["data"][0]["validation_rows"], 120);
    assert_eq!(report["steps"], 60);
    assert_eq!(report["threads"], 2);

    // The scale was fitted on the first 480 rows only (nothing leaks from
    // the held-out part).
    let loaded = pipeline::format::load(&model, None).unwrap();
    let s = loaded
        .meta
        .scaling
        .expect("scaling stored in the model file");
    let train_in = channel(0..480, input_at);
    let mean = train_in.iter().map(|&v| v as f64).sum::<f64>() / 480.0;
    assert!(
        (s.input.center - mean).abs() < 1e-6 * mean.abs(),
        "{s:?} vs {mean}"
    );
    let all_in = channel(0..600, input_at);
    let mean_all = all_in.iter().map(|&v| v as f64).sum::<f64>() / 600.0;
    assert!(
        (s.input.center - mean_all).abs() > 1e-3,
        "not fitted on all rows"
    );

    // The mean baseline, recomputed: predict the training mean of s7 on the
    // 97 held-out windows of 24 (rows 480..600).
    let train_out = channel(0..480, output_at);
    let mu = train_out.iter().map(|&v| v as f64).sum::<f64>() / 480.0;
    let held = channel(480..600, output_at);
    let targets: Vec<f64> = (0..=120 - 24)
        .flat_map(|i| held[i..i + 24].iter().map(|&v| v as f64))
        .collect();
    let n = targets.len() as f64;
    let mse_mean = targets
        .iter()
        .map(|y| (y - mu as f32 as f64).powi(2))
        .sum::<f64>()
        / n;
    let tmean = targets.iter().sum::<f64>() / n;
    let var = targets.iter().map(|y| (y - tmean).powi(2)).sum::<f64>() / n;
    let v = &report["validation"];
    assert_eq!(v["windows"], 97);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1e-12);
    assert!(
        close(v["mean_baseline"]["mse"].as_f64().unwrap(), mse_mean),
        "{v}"
    );
    assert!(close(v["target_variance"].as_f64().unwrap(), var), "{v}");
    let lin = v["linear_baseline"]["nmse"].as_f64().unwrap();
    assert!(
        lin > 0.0 && lin < 1.0,
        "the linear map explains part of it: {lin}"
    );

    // Physical units in and out: the fast path (serve, translate) equals
    // the reference path within 1e-5 of the output's scale.
    let windows: Vec<f32> = (480..480 + 3 * 24).map(|t| input_at(t) as f32).collect();
    let fast = loaded.fast.translate_rows(&windows).unwrap();
    let reference = loaded.model.translate_rows(&windows).unwrap();
    for (a, b) in fast.iter().zip(&reference) {
        assert!(
            ((a - b) as f64).abs() <= 1e-5 * s.output.scale,
            "{a} vs {b}"
        );
    }
    // ...and the outputs are in the output channel's range, not ~N(0, 1).
    let avg = fast.iter().map(|&v| v as f64).sum::<f64>() / fast.len() as f64;
    assert!(
        (avg - s.output.center).abs() < 3.0 * s.output.scale,
        "{avg}"
    );
    // Without its scaling the same network gives something else entirely.
    let raw = loaded
        .fast
        .clone()
        .with_scaling(pipeline::scaling::Scaling::IDENTITY)
        .translate_rows(&windows)
        .unwrap();
    assert!(raw.iter().zip(&fast).any(|(a, b)| (a - b).abs() > 1.0));

    // `translate` reads and writes physical units.
    let line: Vec<String> = windows[..24].iter().map(|v| v.to_string()).collect();
    let mut child = pipeline()
        .args(["translate", "--model", model.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", line.join(",")).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    ok(&out);
    let got: Vec<f32> = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(got, fast[..24]);

    // `eval --data` with the same flags reproduces the report's table.
    let out = pipeline()
        .args(["eval", "--model", model.to_str().unwrap(), "--json"])
        .args([
            "--data",
            csv.to_str().unwrap(),
            "--input",
            "s3",
            "--output",
            "s7",
        ])
        .args(["--plot", dir.path().join("eval.png").to_str().unwrap()])
        .output()
        .unwrap();
    ok(&out);
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["validation"], report["validation"]);
    assert!(dir.path().join("eval.png").exists());
    assert!(dir.path().join("eval.heldout.png").exists());
    assert_eq!(
        e["overview_plot"],
        dir.path().join("eval.heldout.png").to_str().unwrap()
    );
    // Without --input and --output it reads the columns the model was
    // trained on (not columns 0 and 1: the time stamp and the label).
    let (e, _) = eval(&model, &csv, &[]);
    assert_eq!(e["validation"], report["validation"]);
}

#[test]
fn a_model_no_better_than_the_baselines_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    write_recording(&csv, 300);
    let model = dir.path().join("m.safetensors");
    // Two steps: far from trained, worse than the linear map.
    let out = retrain(&csv, &model, &["--steps", "2"]);
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("WARNING: the model is no better than"),
        "{stdout}"
    );
    let report = read_json(&dir.path().join("m.report.json"));
    assert_eq!(report["validation"]["beats_baselines"], false);
    assert!(report["verdict"].as_str().unwrap().starts_with("WARNING"));
    // Whoever is about to serve it is told too (`serve` logs the same).
    let out = pipeline()
        .args(["config", "check", "--model", model.to_str().unwrap()])
        .output()
        .unwrap();
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARNING: retrain found this model no better than a baseline"),
        "{stderr}"
    );
    // And `eval` says it again, with what it means for the watch, which
    // its threshold comes from.
    let (e, stderr) = eval(&model, &csv, &[]);
    let said = "WARNING: retrain found this model no better than a baseline";
    assert!(
        stderr.contains(said)
            && stderr.contains("a fault whose mean is smaller than 3 times that error goes unseen"),
        "{stderr}"
    );
    let warnings = e["warnings"].as_array().unwrap();
    assert!(
        (warnings.iter()).any(|w| w.as_str().unwrap().starts_with(&said[9..])),
        "{warnings:?}"
    );
    // Scored on the training windows (--validate 0), the table says so.
    let out = retrain(&csv, &model, &["--steps", "2", "--validate", "0"]);
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("IN-SAMPLE (training rows)"), "{stdout}");
    assert_eq!(
        read_json(&dir.path().join("m.report.json"))["validation"]["held_out"],
        false
    );
    // `eval` holds out what the model was trained without: by default the
    // same fraction; a smaller one scores training rows, and says so.
    let held = dir.path().join("held.safetensors");
    ok(&retrain(
        &csv,
        &held,
        &["--steps", "2", "--validate", "0.3"],
    ));
    let eval = |extra: &[&str]| eval(&held, &csv, extra);
    let (e, _) = eval(&[]);
    assert_eq!(e["validate"], 0.3);
    assert_eq!(e["validation"]["held_out"], true);
    // Holding out more than the model was trained without: some scored rows
    // were training rows.
    let (e, stderr) = eval(&["--validate", "0.5"]);
    assert_eq!(e["validation"]["held_out"], false);
    assert!(
        stderr.contains("some scored rows were training rows"),
        "{stderr}"
    );
    // Less: every scored row is one the model never saw.
    let (e, stderr) = eval(&["--validate", "0.1"]);
    assert_eq!(e["validation"]["held_out"], true);
    assert!(!stderr.contains("training rows"), "{stderr}");
    // (The model, two steps in, is one retrain would not serve: said.)
    let other = (stderr.lines())
        .filter(|l| l.starts_with("WARNING") && !l.contains("retrain found this model"));
    assert_eq!(other.count(), 0, "{stderr}");
    // A file named as a built-in pair names the model so: said.
    let out = retrain(
        &csv,
        &dir.path().join("sin-cos.safetensors"),
        &["--steps", "2"],
    );
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("named \"sin-cos\" after its file"),
        "{stderr}"
    );
    // Scored on another channel than its own: said, as serving says it.
    let (e, stderr) = eval(&["--input", "s2"]);
    assert!(
        stderr.contains("trained on input \"s3\", scored here on \"s2\""),
        "{stderr}"
    );
    // --json carries what stderr warned.
    let warned: Vec<&str> = e["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .filter(|w| !w.starts_with("retrain found this model"))
        .collect();
    assert!(
        warned.len() == 2
            && warned[0].contains("scored here on \"s2\"")
            && warned[1].contains("the recording's input is around"),
        "{e}"
    );
    // … and its values are far from what the model's scaling expects.
    assert!(
        stderr.contains("the recording's input is around"),
        "{stderr}"
    );
    // --strict makes it an exit status a script can act on.
    let out = retrain(&csv, &model, &["--steps", "2", "--strict"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_rows_stop_with_line_and_column_or_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    write_recording(&csv, 300);
    let mut text = std::fs::read_to_string(&csv).unwrap();
    // Line 3 is the second data row: break s7 there, and s3 on line 101.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[2].split(',').map(String::from).collect();
    let s7 = cells.len() - 2;
    cells[s7] = "n/a".into();
    lines[2] = cells.join(",");
    let mut cells: Vec<String> = lines[100].split(',').map(String::from).collect();
    let s3 = cells.len() - 6;
    cells[s3] = String::new();
    lines[100] = cells.join(",");
    text = lines.join("\n") + "\n";
    std::fs::write(&csv, &text).unwrap();
    let model = dir.path().join("m.safetensors");

    let out = retrain(&csv, &model, &["--steps", "2"]);
    // 78: what it was given cannot work (a retry would fail the same way).
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3") && err.contains("column \"s7\" (index 9)") && err.contains("n/a"),
        "{err}"
    );

    let out = retrain(&csv, &model, &["--steps", "2", "--skip-bad-rows"]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 bad rows skipped"));
    let report = read_json(&dir.path().join("m.report.json"));
    assert_eq!(report["data"][0]["skipped"], 2);
    assert_eq!(report["data"][0]["rows"], 298);
    let ex = report["data"][0]["skipped_examples"].as_array().unwrap();
    assert!(ex[1].as_str().unwrap().starts_with("line 101:"), "{ex:?}");

    // `eval` reads the file as the model was trained (the bad rows
    // skipped) without being told again, and says so.
    let (e, err) = eval(&model, &csv, &[]);
    assert!(
        err.contains("as the model was trained: --skip-bad-rows"),
        "{err}"
    );
    assert_eq!(e["data"][0]["skipped"], 2, "{e}");
}

#[test]
fn several_files_and_the_same_seed_give_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    write_recording(&a, 200);
    // Another period (the same rows would be an overlap, left out).
    write_recording_from(&b, 1000..1150);
    let opts = pipeline::recording::CsvOptions {
        input: "s3".parse().unwrap(),
        output: "s7".parse().unwrap(),
        ..Default::default()
    };
    let files: Vec<PathBuf> = vec![a, b];
    let mut p = pipeline::fit::prepare(&files, &opts, 0.2, 24).unwrap();
    // Per file: 160 + 120 training rows, 40 + 30 held out; windows never
    // cross a file or the cut: (160−23) + (120−23) and (40−23) + (30−23).
    assert_eq!(p.train.len(), 137 + 97);
    assert_eq!(p.valid.len(), 17 + 7);
    let scaling = pipeline::fit::fit_scaling(&p, pipeline::scaling::ScaleMethod::Robust).unwrap();
    let recipe = pipeline::train::Recipe {
        steps: Some(6),
        eval_every: 2,
        hidden: 6,
        batch: 32,
        ..pipeline::train::Recipe::recording()
    };
    let before = p.train.clone();
    let mut weights = |threads: usize| {
        let t = pipeline::fit::train(&mut p, &scaling, None, &recipe, threads, |_| {}).unwrap();
        assert_eq!(t.steps, 6);
        assert_eq!(t.history.len(), 3, "a measurement every 2 steps");
        let params = pipeline::train::params(&t.tensors).unwrap();
        let mut names: Vec<_> = params.keys().cloned().collect();
        names.sort();
        names
            .into_iter()
            .flat_map(|n| params[&n].clone())
            .collect::<Vec<f32>>()
    };
    let two = weights(2);
    assert_eq!(two, weights(2), "same seed and thread count: same weights");
    assert!(two.iter().all(|v| v.is_finite()));
    assert_eq!(
        p.train, before,
        "the training windows lent to the run come back"
    );
}

#[test]
fn a_time_budget_stops_the_run_and_says_how_many_steps_it_took() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    write_recording(&csv, 300);
    let model = dir.path().join("m.safetensors");
    // Patience out of reach: the clock, not early stopping, must end it.
    let out = retrain(
        &csv,
        &model,
        &[
            "--time-budget",
            "1s",
            "--patience",
            "1000000",
            "--scale",
            "robust",
        ],
    );
    ok(&out);
    let report = read_json(&dir.path().join("m.report.json"));
    assert_eq!(report["stop"], "time");
    let steps = report["steps"].as_u64().unwrap();
    assert!(steps > 0, "{report}");
    assert_eq!(report["recipe"]["steps"], serde_json::Value::Null);
    assert_eq!(report["scaling"]["method"], "robust");
    let history = report["history"].as_array().unwrap();
    assert_eq!(
        history.last().unwrap()["step"],
        steps,
        "the last point is the last step"
    );
}

mod against;
mod changes;
mod fleet;
mod join;
mod residual;
mod runs;
mod stops;
mod topics;
mod watch;
