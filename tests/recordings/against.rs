//! `eval --against`: a candidate model judged against the model serving,
//! on the same windows of a recording.

use super::*;

/// `eval --against B` scores B on the very windows the model is scored on
/// (its MSE is what `eval` of B alone gives there) and the paired test says
/// which is better beyond chance, whichever way round; a model against
/// itself differs by nothing; a challenger of another window is a usage
/// error; one trained on some of the rows scored (of the same file, or of
/// a longer export holding them) is said to be.
#[test]
fn a_candidate_is_judged_against_the_model_on_the_same_windows() {
    let dir = tempfile::tempdir().unwrap();
    let (day1, day2) = (dir.path().join("day1.csv"), dir.path().join("day2.csv"));
    write_recording(&day1, 400);
    write_recording_from(&day2, 1000..1400);
    let good = dir.path().join("good.safetensors");
    ok(&retrain(&day1, &good, &["--steps", "40"]));
    // The same model with its output one scale off: worse on every window.
    let poor = dir.path().join("poor.safetensors");
    let mut scaling = pipeline::format::load(&good, None)
        .unwrap()
        .meta
        .scaling
        .unwrap();
    scaling.output.center += scaling.output.scale;
    pipeline::format::set_scaling(&good, &poor, scaling).unwrap();
    let arg = |p: &Path| p.to_str().unwrap().to_string();

    let (e, _) = eval(&good, &day2, &["--against", &arg(&poor)]);
    let x = &e["against"];
    assert_eq!(
        (x["worse"].as_bool(), x["better"].as_bool()),
        (Some(true), Some(false)),
        "{e}"
    );
    assert!(x["vs_model"]["t"].as_f64().is_some_and(|t| t >= 2.0), "{e}");
    assert_eq!(x["vs_model"]["stretches"], (400 - 23) / 24, "{e}");
    let (alone, _) = eval(&poor, &day2, &[]);
    assert_eq!(
        x["validation"]["mse"], alone["validation"]["model"]["mse"],
        "{e}\n{alone}"
    );
    assert!(x["warnings"].as_array().is_some_and(Vec::is_empty), "{e}");

    let (e, _) = eval(&poor, &day2, &["--against", &arg(&good)]);
    let x = &e["against"];
    assert_eq!(
        (x["worse"].as_bool(), x["better"].as_bool()),
        (Some(false), Some(true)),
        "{e}"
    );
    assert!(
        x["vs_model"]["t"].as_f64().is_some_and(|t| t <= -2.0),
        "{e}"
    );

    let (e, _) = eval(&good, &day2, &["--against", &arg(&good)]);
    let x = &e["against"];
    assert_eq!(
        (x["worse"].as_bool(), x["better"].as_bool()),
        (Some(false), Some(false)),
        "{e}"
    );
    assert_eq!(x["vs_model"]["t"], 0.0, "{e}");

    // Said in words, beside the verdict.
    let out = pipeline()
        .args(["eval", "--model", &arg(&good), "--data", &arg(&day2)])
        .args([
            "--against",
            &arg(&poor),
            "--plot",
            &arg(&dir.path().join("p.png")),
        ])
        .output()
        .unwrap();
    ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("against    "))
        .unwrap_or_default();
    assert!(
        line.contains(&arg(&poor))
            && line.ends_with("worse than the model on these windows, beyond chance"),
        "{text}"
    );

    // Half of day 1 scored: the challenger held out only its last 20%.
    let (e, _) = eval(
        &good,
        &day1,
        &["--validate", "0.5", "--against", &arg(&poor)],
    );
    let said = e["against"]["warnings"].to_string();
    assert!(
        said.contains("was trained on some of the rows scored"),
        "{e}"
    );

    // Trained on a longer export that holds day 2's rows: found, and said.
    let longer = dir.path().join("days.csv");
    write_recording_from(&longer, 900..1500);
    let other = dir.path().join("other.safetensors");
    ok(&retrain(&longer, &other, &["--steps", "2"]));
    let (e, _) = eval(&good, &day2, &["--against", &arg(&other)]);
    let said = e["against"]["warnings"].to_string();
    assert!(
        said.contains("are, or may be, rows") && said.contains("other.safetensors"),
        "{e}"
    );
    assert_eq!(
        e["never_trained_on"], true,
        "the model's own scoring is unchanged: {e}"
    );

    // Another window: not the same windows, refused before any scoring.
    let short = dir.path().join("w12.safetensors");
    ok(&retrain(&day1, &short, &["--steps", "2", "--window", "12"]));
    let out = pipeline()
        .args(["eval", "--model", &arg(&good), "--data", &arg(&day2)])
        .args(["--against", &arg(&short)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("its window is 12 samples, the model's 24"),
        "{err}"
    );
}

/// A recording at another rate than both models were trained at is no
/// fault of the challenger's: `--against` does not say it was trained on
/// another rate (the recording's rate is said of the model scored).
#[test]
fn a_recordings_rate_is_not_laid_on_the_challenger() {
    let dir = tempfile::tempdir().unwrap();
    let day1 = dir.path().join("day1.csv");
    write_recording(&day1, 400);
    let model = dir.path().join("m.safetensors");
    ok(&retrain(
        &day1,
        &model,
        &["--steps", "2", "--time-column", "time"],
    ));
    let other = dir.path().join("other.safetensors");
    let scaling = pipeline::format::load(&model, None)
        .unwrap()
        .meta
        .scaling
        .unwrap();
    pipeline::format::set_scaling(&model, &other, scaling).unwrap();
    // Every other row: a row every 2 s, against training's 1 s.
    let slow = dir.path().join("slow.csv");
    write_recording_from(&slow, 1000..1800);
    let text = std::fs::read_to_string(&slow).unwrap();
    let kept: Vec<&str> = (text.lines().enumerate())
        .filter(|(i, _)| *i == 0 || i % 2 == 1)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&slow, kept.join("\n") + "\n").unwrap();
    let arg = other.to_str().unwrap();
    let (e, _) = eval(&model, &slow, &["--against", arg, "--time-column", "time"]);
    let warnings = e["against"]["warnings"].to_string();
    assert!(!warnings.contains("was trained on another rate"), "{e}");
}
