//! The `pipeline` binary as a user runs it: real processes, real files.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use common::{pipeline, random_params};

fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = pipeline()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_string();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(data.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn random_model_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("random.safetensors");
    common::write_tensors_only(&path, &random_params(6, 5, 0.5), safetensors::Dtype::F32);
    path
}

fn window_line(seed: usize) -> (String, Vec<f32>) {
    let v: Vec<f32> = (0..24)
        .map(|i| ((i + seed * 7) as f32 * 0.31).sin())
        .collect();
    let line = v
        .iter()
        .map(|x| format!(" {x} "))
        .collect::<Vec<_>>()
        .join(",");
    (line, v)
}

fn parse_rows(stdout: &[u8]) -> Vec<Vec<f32>> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| l.split(',').map(|x| x.parse::<f32>().unwrap()).collect())
        .collect()
}

#[test]
fn pairs_lists_the_three_seed_pairs() {
    let out = pipeline().arg("pairs").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for p in ["sin-cos", "damped", "square-sqrt"] {
        assert!(text.contains(p), "{text}");
    }
}

#[test]
fn translate_prints_what_the_library_computes() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model_file(dir.path());
    let (lines, windows): (Vec<String>, Vec<Vec<f32>>) = (0..3).map(window_line).unzip();
    let out = run_with_stdin(
        &["translate", "--model", model.to_str().unwrap()],
        &(lines.join("\n") + "\n"),
    );
    common::succeeded(&out);
    let rows = parse_rows(&out.stdout);
    assert_eq!(rows.len(), 3);
    let lib = pipeline::format::load(&model, None).unwrap();
    let want = lib.fast.translate_rows(&windows.concat()).unwrap();
    for (row, want) in rows.iter().zip(want.chunks(24)) {
        assert_eq!(row.len(), 24);
        // Printed values parse back to exactly the f32s computed.
        assert_eq!(row.as_slice(), want);
    }
}

/// A `#` comment and blank lines (a file's trailing one) are written back
/// in place; a row copied from German Excel (`;`, decimal commas) is answered in its
/// own form, with the values a `,` row gets.
#[test]
fn translate_reads_spreadsheet_rows_and_passes_over_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model_file(dir.path());
    let (line, window) = window_line(4);
    let german = line.replace(',', ";").replace('.', ",");
    let input = format!("# windows\n{line}\n\n{german}\n\n");
    let out = run_with_stdin(&["translate", "--model", model.to_str().unwrap()], &input);
    common::succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    // One line out for each line in: the comment and blank lines in place.
    let all: Vec<&str> = text.lines().collect();
    assert_eq!(
        (all.len(), all[0], all[2], all[4]),
        (5, "# windows", "", ""),
        "{text}"
    );
    let lines = [all[1], all[3]];
    let want = pipeline::format::load(&model, None)
        .unwrap()
        .fast
        .translate_rows(&window)
        .unwrap();
    let back: Vec<f32> = lines[1]
        .split(';')
        .map(|v| v.replace(',', ".").parse().unwrap())
        .collect();
    assert_eq!(back, want);
    assert_eq!(lines[0].replace(',', ";").replace('.', ","), lines[1]);
}

#[test]
fn translate_streams_more_than_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model_file(dir.path());
    let input: String = (0..600).map(|i| window_line(i).0 + "\n").collect();
    let out = run_with_stdin(&["translate", "--model", model.to_str().unwrap()], &input);
    assert!(out.status.success());
    let rows = parse_rows(&out.stdout);
    assert_eq!(rows.len(), 600);
    let lib = pipeline::format::load(&model, None).unwrap();
    let last = lib.fast.translate_rows(&window_line(599).1).unwrap();
    let diff = rows[599]
        .iter()
        .zip(&last)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff <= 1e-6, "{diff}");
}

#[test]
fn bad_lines_stop_with_the_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model_file(dir.path());
    let good = window_line(1).0;
    let short = window_line(2).0.rsplit_once(',').unwrap().0.to_string();
    let cases = [
        (short, "line 3: expected 24 numbers, found 23"),
        (good.replacen("0", "zero", 1), "line 3: value"),
        (
            good.replacen(',', ",NaN,", 1)
                .rsplit_once(',')
                .unwrap()
                .0
                .to_string(),
            "not finite",
        ),
    ];
    for (bad, needle) in cases {
        let input = format!("{good}\n{good}\n{bad}\n{good}\n");
        let out = run_with_stdin(&["translate", "--model", model.to_str().unwrap()], &input);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "bad line accepted: {bad}");
        assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
        // The two good lines before it were still translated.
        assert_eq!(parse_rows(&out.stdout).len(), 2);
    }
}

#[test]
fn translate_without_a_model_explains_itself() {
    let out = run_with_stdin(&["translate", "--model", "/nonexistent/m.safetensors"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read model file"));
    let out = run_with_stdin(&["translate", "--pair", "nope"], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown pair"));
}

/// `serve`'s durations say their unit, as the config's short names must:
/// `--max-wait 1` was a second.
#[test]
fn serve_duration_flags_need_a_unit() {
    for flag in [
        "--max-wait",
        "--idle-timeout",
        "--lease",
        "--checkpoint-interval",
    ] {
        let out = pipeline()
            .args(["serve", "--pair", "sin-cos", flag, "1"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("\"1\" has no unit: write 1ms or 1s"),
            "{flag}: {err}"
        );
    }
}

/// `--out` naming a folder is refused before any training (it failed
/// once the weights were to be written), for a pair and for a recording.
#[test]
fn retrain_out_must_name_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("r.csv");
    std::fs::write(&csv, "x,y\n1,2\n").unwrap();
    let folder = dir.path().to_str().unwrap().to_string();
    for args in [
        vec!["retrain", "--pair", "sin-cos", "--out", &folder],
        vec!["retrain", "--data", csv.to_str().unwrap(), "--out", &folder],
    ] {
        let out = pipeline().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("a folder; name the model file"), "{err}");
    }
}

#[test]
fn retrain_then_eval_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let out = pipeline()
        .args([
            "retrain", "--pair", "damped", "--epochs", "3", "--hidden", "6",
        ])
        .args(["--random-windows", "32", "--out", model.to_str().unwrap()])
        .output()
        .unwrap();
    common::succeeded(&out);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains(", 3 epoch(s) in "), "{said}");
    // A step budget ends it early: what ran is said, not the recipe's plan.
    let early = dir.path().join("early.safetensors");
    let out = pipeline()
        .args([
            "retrain", "--pair", "damped", "--epochs", "3", "--hidden", "6",
        ])
        .args(["--random-windows", "32", "--steps", "2"])
        .args(["--out", early.to_str().unwrap()])
        .output()
        .unwrap();
    common::succeeded(&out);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains("trained    2 optimiser step(s), into epoch 1: the step budget spent in "),
        "{said}"
    );
    for f in [
        "m.safetensors",
        "m.report.json",
        "m.loss.png",
        "m.translation.png",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("m.report.json")).unwrap()).unwrap();
    assert_eq!(report["history"].as_array().unwrap().len(), 3);
    assert_eq!(report["recipe"]["hidden"], 6);

    let loaded = pipeline::format::load(&model, None).unwrap();
    assert_eq!(loaded.meta.pair.as_deref(), Some("damped"));
    assert_eq!(loaded.meta.recipe.as_ref().unwrap()["epochs"], 3);
    assert!(loaded.meta.created.as_ref().unwrap().ends_with('Z'));

    let plot = dir.path().join("eval.png");
    let out = pipeline()
        .args(["eval", "--model", model.to_str().unwrap(), "--json"])
        .args(["--plot", plot.to_str().unwrap()])
        .output()
        .unwrap();
    common::succeeded(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"], "damped", "pair taken from the model's metadata");
    assert_eq!(v["metrics"]["grid_windows"], 76);
    assert_eq!(v["metrics"]["random_windows"], 1000);
    // The metrics stored at training time are the ones eval measures.
    let stored = &loaded.meta.metrics.as_ref().unwrap()["ar_mse_grid"];
    assert_eq!(&v["metrics"]["ar_mse_grid"], stored);
    assert!(plot.exists());
}

#[test]
fn retrain_on_a_csv_series() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("series.csv");
    let mut text = String::from("input,output\n");
    for i in 0..60 {
        let x = i as f64 * 0.2;
        text.push_str(&format!("{},{}\n", x.sin(), (2.0 * x).sin()));
    }
    std::fs::write(&csv, text).unwrap();
    let model = dir.path().join("csv.safetensors");
    let out = pipeline()
        .args([
            "retrain",
            "--data",
            csv.to_str().unwrap(),
            "--epochs",
            "2",
            "--hidden",
            "4",
        ])
        .args(["--window", "8", "--out", model.to_str().unwrap()])
        .output()
        .unwrap();
    common::succeeded(&out);
    let loaded = pipeline::format::load(&model, None).unwrap();
    // A recording's model is named after its file (a route serves it by that name).
    assert_eq!(loaded.meta.pair.as_deref(), Some("csv"));
    assert_eq!(loaded.model.window(), 8);
    let m = &loaded.meta.metrics.unwrap();
    // The last 20% (12 rows) is held out: 12 − 8 + 1 = 5 validation windows.
    assert_eq!(
        m["validation"]["windows"], 5,
        "60 samples, 12 held out, window 8 → 5 windows"
    );
    assert!(loaded.meta.scaling.is_some(), "scaling stored");

    // A CSV with a bad row is refused with its line number.
    std::fs::write(&csv, "1,2\n3,oops\n").unwrap();
    let out = pipeline()
        .args([
            "retrain",
            "--data",
            csv.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}

#[test]
fn bench_model_only_reports_every_case_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_model_file(dir.path());
    let cases = common::run_json_lines(
        pipeline()
            .args([
                "bench",
                "--model-only",
                "--json",
                "--model",
                model.to_str().unwrap(),
            ])
            .args([
                "--batch",
                "1,4",
                "--threads",
                "1",
                "--seconds",
                "0.05",
                "--repeats",
                "1",
            ]),
    );
    assert_eq!(cases.len(), 4, "2 batches × 2 paths");
    for c in &cases {
        for key in [
            "path",
            "threads",
            "batch",
            "windows_per_sec",
            "p50_us",
            "p99_us",
        ] {
            assert!(c.get(key).is_some(), "{key} missing in {c}");
        }
        assert!(c["windows_per_sec"].as_f64().unwrap() > 0.0);
        // Useful work against the core's measured peak: H = 6, W = 24 (the
        // default for a file that does not record it).
        let flops = pipeline::roofline::flops_per_window(6, 24);
        let (rate, gflops) = (
            c["windows_per_sec"].as_f64().unwrap(),
            c["gflops"].as_f64().unwrap(),
        );
        assert!(
            (gflops - rate * flops / 1e9).abs() <= 1e-9 * gflops.max(1.0),
            "{c}"
        );
        let (peak, fraction) = (
            c["peak_gflops"].as_f64().unwrap(),
            c["peak_fraction"].as_f64().unwrap(),
        );
        assert!(
            peak > 1.0 && (fraction - gflops / peak).abs() < 1e-12,
            "{c}"
        );
    }
    assert_eq!(cases[0]["path"], "fast");
    assert_eq!(cases[1]["path"], "reference");
}

/// `pipeline … | head`: the reader closes the pipe before the command has
/// printed. That ends the output quietly (status 141, as for a process
/// SIGPIPE stopped), not with a panic report.
#[test]
fn a_closed_stdout_ends_the_command_without_a_panic() {
    let mut child = pipeline()
        .args(["eval", "--pair", "sin-cos", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before eval has computed anything to print.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}
