//! Several topics at different rates in one file (a ROS bag merged by
//! PlotJuggler): each column has values only on its own topic's rows.
//! `--rows-of` reads one topic's rows, the other channel at its latest
//! value, and `eval` reads the file the same way.

use super::*;

/// `__time,s3,s7`: `s3` (the input) every 5 ms, `s7` (the output) every
/// 1 ms in between, rows in time order, each empty where the other topic
/// has its message. Returns the text and, per `s3` row, the `s7` value
/// latest before it (what a subscriber to both topics holds then).
fn merged(inputs: usize) -> (String, Vec<f32>) {
    let mut text = String::from("__time,s3,s7\n");
    let mut latest = Vec::new();
    let mut last: Option<String> = None;
    for i in 0..inputs {
        for k in 0..5 {
            let ms = 5 * i + k;
            let y = format!("{:.4}", output_at(ms));
            text.push_str(&format!("{:.4},,{y}\n", 1e-3 * ms as f64));
            last = Some(y);
        }
        // The input's message 0.3 ms after its fifth output row.
        let x = format!("{:.4}", input_at(5 * i));
        text.push_str(&format!("{:.4},{x},\n", 1e-3 * (5 * i + 4) as f64 + 3e-4));
        latest.push(last.as_deref().unwrap_or_default().parse().unwrap());
    }
    (text, latest)
}

#[test]
fn the_rows_of_one_topic_are_read_with_the_others_latest_values() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bag.csv");
    let (text, latest) = merged(600);
    std::fs::write(&csv, text).unwrap();
    let model = dir.path().join("m.safetensors");
    // As it is, no row has both: the columns' shares and the flag said.
    let out = retrain(&csv, &model, &["--steps", "5", "--skip-bad-rows"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"s3\" has a value on 17% of the rows, \"s7\" on 83%, never together")
            && err.contains("--rows-of \"s3\" keeps the rows where \"s3\" has a value"),
        "{err}"
    );
    let out = retrain(
        &csv,
        &model,
        &[
            "--steps",
            "30",
            "--rows-of",
            "s3",
            "--time-column",
            "__time",
        ],
    );
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("600 rows of \"s3\" (among the file's 3600;")
            && stdout.contains(
                "480 train, 120 held out from row 480, no gap in \"__time\", a row every 5 ms"
            ),
        "{stdout}"
    );
    // The mean baseline's held-out MSE, from the output values a
    // subscriber held at each input row: the model saw those.
    let report = read_json(&model.with_extension("report.json"));
    let mean = latest[..480].iter().map(|&v| f64::from(v)).sum::<f64>() / 480.0;
    let (w, n) = (24, 120 - 23);
    let mse = (0..n)
        .flat_map(|s| &latest[480 + s..480 + s + w])
        .map(|&y| (f64::from(y) - mean).powi(2))
        .sum::<f64>()
        / (n * w) as f64;
    let stated = report["validation"]["mean_baseline"]["mse"]
        .as_f64()
        .unwrap();
    assert!((stated / mse - 1.0).abs() < 1e-4, "{stated} vs {mse}");
    assert_eq!(report["validation"]["windows"], n, "{report}");
    // `eval` reads it as training did: the flag is recorded.
    let (e, err) = eval(&model, &csv, &[]);
    assert!(err.contains("--rows-of \"s3\""), "{err}");
    assert_eq!(e["validation"]["windows"], n, "{e}");
}
