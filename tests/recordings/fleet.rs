//! One export of several devices (`time,unit,…`: a row per device and time,
//! the devices in turn): without `--stream-column` the tool says so; with it
//! each device's rows are a recording of their own through `retrain`,
//! `eval`, `publish` and `tail`, and the live score is `retrain`'s.

use std::io::BufRead;

use super::*;

const DEVICES: [&str; 3] = ["A", "B 2", "C"];

/// A quick `retrain` of the fleet, each device a recording of its own.
const BY_UNIT: [&str; 6] = [
    "--steps",
    "2",
    "--time-column",
    "time",
    "--stream-column",
    "unit",
];

/// Device `k`'s input: the recording's tones, in another phase.
fn device_input(t: usize, k: usize) -> f64 {
    let (t, k) = (t as f64, k as f64);
    1000.0 + 50.0 * (0.07 * t + k).sin() + 20.0 * (0.31 * t + 1.0 + 2.0 * k).sin()
}

/// Its output: the saturating response two samples later, as the model's.
fn device_output(t: usize, k: usize) -> f64 {
    -300.0 + 120.0 * ((device_input(t.saturating_sub(2), k) - 1000.0) / 30.0).tanh()
}

/// `rows` time steps of three devices, each its own phase of the signal.
fn write_fleet(path: &Path, rows: usize) {
    let mut text = String::from("time,unit,s3,s7\n");
    for t in 0..rows {
        for (k, d) in DEVICES.iter().enumerate() {
            text.push_str(&format!(
                "2026-01-01T{:02}:{:02}:{:02},{d},{:.4},{:.4}\n",
                t / 3600,
                t / 60 % 60,
                t % 60,
                device_input(t, k),
                device_output(t, k)
            ));
        }
    }
    std::fs::write(path, text).unwrap();
}

/// `pipeline status` answers once the service is up.
fn wait_for_service(url: &str) {
    for _ in 0..200 {
        let out = pipeline().args(["status", "--nats", url]).output().unwrap();
        if out.status.success() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the service did not answer");
}

/// `pipeline tail --truth` of `truth`'s devices (the JSON summary after 111
/// windows), listening when this returns.
fn tail_by_device(url: &str, truth: &Path) -> std::process::Child {
    let mut tail = pipeline()
        .args(["tail", "--nats", url, "--truth", "--json", "--quiet"])
        .args(["--data", truth.to_str().unwrap(), "--truth-column", "s7"])
        .args(["--time-column", "time", "--stream-column", "unit"])
        .args(["--count", "111", "--duration", "60s"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(tail.stderr.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("listening"))),
        "tail did not start"
    );
    tail
}

#[test]
fn a_file_of_several_devices_is_one_recording_per_device() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fleet.csv");
    write_fleet(&csv, 300);
    let model = dir.path().join("m.safetensors");

    // Read as one recording (windows would take A, B, C in turn, and
    // score better than a model of each device does): without a time
    // column to tell a device from an hour, warned, naming the flag; with
    // the time column, whose stamps repeat once per device, refused.
    let out = retrain(&csv, &model, &["--steps", "2"]);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WARNING")
            && err.contains("--stream-column \"unit\" reads each device's rows"),
        "{err}"
    );
    let out = retrain(&csv, &model, &["--steps", "2", "--stream-column", "none"]);
    ok(&out);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("several devices"));
    let out = retrain(&csv, &model, &["--steps", "2", "--time-column", "time"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("--stream-column \"unit\"") && err.contains("repeats on"),
        "{err}"
    );

    // Per device: 300 rows each, the last 60 held out, no window across two.
    let out = retrain(
        &csv,
        &model,
        &[
            "--steps",
            "30",
            "--time-column",
            "time",
            "--stream-column",
            "unit",
        ],
    );
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for d in DEVICES {
        let line =
            format!("fleet.csv, stream {d:?}: 300 rows (240 train, 60 held out from row 240");
        assert!(stdout.contains(&line), "{line:?} in\n{stdout}");
    }
    // How the file was read is said once, not once per device.
    assert_eq!(stdout.matches("\"s3\" → \"s7\" (").count(), 1, "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("WARNING: fleet.csv: column"));
    let report = read_json(&dir.path().join("m.report.json"));
    // Three devices × (60 − 24 + 1) held-out windows.
    assert_eq!(report["validation"]["windows"], 3 * 37, "{report}");
    let trained_mse = report["validation"]["model"]["mse"].as_f64().unwrap();

    // `eval` reads the file as training did and scores the same windows.
    let (e, err) = eval(&model, &csv, &[]);
    assert!(err.contains("--stream-column \"unit\""), "{err}");

    assert_eq!(e["validation"]["windows"], 3 * 37, "{e}");
    let eval_mse = e["validation"]["model"]["mse"].as_f64().unwrap();
    // Each device's share: its 37 windows, whose MSEs make the whole one.
    let parts = e["data"].as_array().unwrap();
    let share = |p: &serde_json::Value| p["scored"]["windows"].as_f64().unwrap_or(0.0);
    let weighted: f64 = (parts.iter())
        .map(|p| share(p) * p["scored"]["model_mse"].as_f64().unwrap_or(f64::NAN))
        .sum();
    assert_eq!(
        parts.iter().map(share).collect::<Vec<_>>(),
        [37.0; 3],
        "{e}"
    );
    assert!((weighted / 111.0 / eval_mse - 1.0).abs() < 1e-9, "{e}");
    // One device's export of a later period, without the column: read as
    // that device's, and said so (the model records the column).
    let single = dir.path().join("single.csv");
    let mut text = String::from("time,s3,s7\n");
    for t in 1000..1300 {
        text.push_str(&format!(
            "2026-01-01T{:02}:{:02}:{:02},{:.4},{:.4}\n",
            t / 3600,
            t / 60 % 60,
            t % 60,
            device_input(t, 0),
            device_output(t, 0)
        ));
    }
    std::fs::write(&single, text).unwrap();
    let (one, err) = eval(&model, &single, &[]);
    assert!(
        err.contains("which this recording has no column for: read as one device's"),
        "{err}"
    );
    assert_eq!(one["validation"]["windows"], 300 - 23, "{one}");
    // `retrain` printed each device's share under its table too.
    assert!(
        stdout.contains("by stream") && stdout.contains("\"B 2\""),
        "{stdout}"
    );
    assert!(
        (eval_mse / trained_mse - 1.0).abs() < 1e-6,
        "{eval_mse} vs {trained_mse}"
    );

    // Served: each device published under its own key (`B 2` as `B_2`),
    // from its first held-out row, and scored against its own rows.
    let server = crate::common::nats::NatsServer::start();
    let url = server.url();
    let mut serve = pipeline()
        .args(["serve", "--model", model.to_str().unwrap(), "--nats", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_service(&url);
    let tail = tail_by_device(&url, &csv);
    // A truth file that lacks device C: its windows are not scored, and
    // said so.
    let partial = dir.path().join("partial.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let kept: String = (text.lines())
        .filter(|l| !l.contains(",C,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&partial, kept).unwrap();
    let tail_partial = tail_by_device(&url, &partial);
    // `eval` on it says which trained device it has no rows of.
    let (_, err) = eval(&model, &partial, &[]);
    assert!(
        err.contains(r#"trained on 3 device(s) ("A", "B 2", "C"); the file(s) scored here have no rows of "C""#),
        "{err}"
    );
    // Two devices whose names are one key: refused before anything is sent.
    let clash = dir.path().join("clash.csv");
    std::fs::write(&clash, text.replace(",C,", ",B_2,")).unwrap();
    let out = pipeline()
        .args(["publish", "--nats", &url, "--data", clash.to_str().unwrap()])
        .args(["--input", "s3", "--stream-column", "unit"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(r#"devices "B 2" and "B_2" would both be published as stream "B_2""#),
        "{err}"
    );
    let out = pipeline()
        .args(["publish", "--nats", &url, "--data", csv.to_str().unwrap()])
        .args([
            "--input",
            "s3",
            "--stream-column",
            "unit",
            "--start-seq",
            "240",
        ])
        .args(["--rate", "1000"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("samples=180") && err.contains("streams=3"),
        "{err}"
    );
    let summary = tail.wait_with_output().unwrap();
    serve.kill().ok();
    serve.wait().ok();
    ok(&summary);
    let s: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert_eq!(
        (s["windows"].as_u64(), s["streams"].as_u64()),
        (Some(111), Some(3)),
        "{s}"
    );
    assert_eq!(
        (s["scored"].as_u64(), s["missing"].as_u64()),
        (Some(111), Some(0)),
        "{s}"
    );
    let first = s["models"][0]["first"][0].as_str().unwrap_or_default();
    assert!(["A", "B_2", "C"].contains(&first), "{s}");
    // The service's translations in f32 against eval's: the same windows.
    let live = s["mse"].as_f64().unwrap();
    assert!(
        (live / eval_mse - 1.0).abs() < 1e-3,
        "live {live} vs eval {eval_mse}"
    );
    // Each device's live score, by name; together the whole one.
    let by = s["by_stream"].as_array().unwrap();
    let names: Vec<&str> = by.iter().filter_map(|b| b["stream"].as_str()).collect();
    assert_eq!(names, ["A", "B_2", "C"], "{s}");
    let together: f64 = (by.iter())
        .map(|b| b["windows"].as_f64().unwrap_or(0.0) * b["mse"].as_f64().unwrap_or(f64::NAN))
        .sum();
    assert!((together / 111.0 / live - 1.0).abs() < 1e-9, "{s}");
    let partial = tail_partial.wait_with_output().unwrap();
    ok(&partial);
    let p: serde_json::Value = serde_json::from_slice(&partial.stdout).unwrap();
    assert_eq!(p["windows_without_truth"], 37, "{p}");
    assert_eq!(p["streams_without_truth"], serde_json::json!(["C"]), "{p}");
    assert_eq!(p["scored"], 74, "{p}");
    assert_eq!(p["by_stream"].as_array().map(Vec::len), Some(2), "{p}");
}

/// One device's channel a thousand times the others' (its decimal point
/// read as a thousands separator) is said of that device, and of no other;
/// a fleet alike is said nothing of (above).
#[test]
fn a_device_a_thousand_times_the_others_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fleet.csv");
    write_fleet(&csv, 300);
    let text = std::fs::read_to_string(&csv).unwrap();
    let scaled: Vec<String> = (text.lines())
        .map(|l| {
            let mut cells: Vec<String> = l.split(',').map(str::to_string).collect();
            if cells[1] == "C" {
                let v: f64 = cells[2].parse().unwrap();
                cells[2] = format!("{:.1}", v * 1000.0);
            }
            cells.join(",")
        })
        .collect();
    std::fs::write(&csv, scaled.join("\n") + "\n").unwrap();
    let model = dir.path().join("m.safetensors");
    let out = retrain(&csv, &model, &BY_UNIT);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stream \"C\": column \"s3\" is typically")
            && err.contains("another unit in this stream's rows, or a decimal point read as a"),
        "{err}"
    );
    assert_eq!(err.matches("is typically").count(), 1, "{err}");
}

/// `eval`'s watch line gives each device's largest mean (a fleet's steady
/// offsets, device by device), where each has windows enough to judge.
#[test]
fn the_watch_line_gives_each_devices_largest_mean() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("fleet.csv");
    write_fleet(&csv, 600);
    let model = dir.path().join("m.safetensors");
    ok(&retrain(&csv, &model, &BY_UNIT));
    let (e, _) = eval(&model, &csv, &[]);
    let by: Vec<&str> = (e["deviation_watch"]["by_part"].as_array().unwrap().iter())
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert_eq!(by, DEVICES, "{e}");
    let text = eval_text(&model, &csv);
    assert!(text.contains("; by stream, the largest: A "), "{text}");
}

/// Racks of one hall, their inlet temperature in °C, but one rack's sensor
/// writes °F into the same column: said of that rack once, with what its
/// readings would be in °C; the racks all in °C are said nothing of.
#[test]
fn a_device_in_fahrenheit_among_celsius_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let write = |fahrenheit: &str| {
        let mut text = String::from("time,unit,s3,s7\n");
        for t in 0..300 {
            for (k, d) in ["A", "B", "C", "D"].iter().enumerate() {
                let celsius = 22.0 + k as f64 * 0.5 + (device_output(t, k) + 300.0) / 100.0;
                let v = match *d == fahrenheit {
                    true => celsius * 1.8 + 32.0,
                    false => celsius,
                };
                text.push_str(&format!(
                    "2026-01-01T{:02}:{:02}:{:02},{d},{:.4},{v:.3}\n",
                    t / 3600,
                    t / 60 % 60,
                    t % 60,
                    device_input(t, k),
                ));
            }
        }
        let csv = dir.path().join(format!("hall-{fahrenheit}.csv"));
        std::fs::write(&csv, text).unwrap();
        csv
    };
    let model = dir.path().join("m.safetensors");
    let out = retrain(&write("C"), &model, &BY_UNIT);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = err.lines().filter(|l| l.contains("read as °F")).collect();
    assert_eq!(said.len(), 1, "{err}");
    assert!(
        said[0].contains("stream \"C\": column \"s7\" reads ")
            && said[0].contains("in this stream's rows where the other 3 streams' read ")
            && said[0].contains("°F in these rows where the others write °C?"),
        "{err}"
    );
    let out = retrain(&write("none"), &model, &BY_UNIT);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("read as"), "{err}");
}
