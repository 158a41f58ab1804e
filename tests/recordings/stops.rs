//! A recording with a planned stop in it: `retrain` says where the input
//! left its usual level, with the `--exclude` that leaves the stretch out,
//! and `--exclude` given leaves its rows out (counted), the warning gone.

use super::*;

/// Rows 1800 to 2039 of 3000: the input falls to ~400 and climbs back (a
/// column cooling in a shutdown), the output with it.
fn stopped(t: usize) -> f64 {
    match t {
        1800..2040 => 400.0 + (t - 1800) as f64 * 0.5,
        _ => input_at(t),
    }
}

#[test]
fn a_stop_is_said_and_left_out_with_exclude() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("stop.csv");
    write_recording_with(&csv, 0..3000, stopped, |t| {
        -300.0 + 120.0 * ((stopped(t.saturating_sub(2)) - 1000.0) / 30.0).tanh()
    });
    let model = dir.path().join("m.safetensors");
    let args = ["--steps", "2", "--time-column", "time"];
    let out = retrain(&csv, &model, &args);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("far from its usual level"))
        .collect();
    assert!(
        said.iter().any(|l| l.contains(
            "column \"s3\" lies far from its usual level for 240 rows in a row (data rows 1800 to \
             2039, 2026-01-01T00:30:00 to 2026-01-01T00:33:59)"
        ) && l
            .ends_with("--exclude '2026-01-01T00:30:00..2026-01-01T00:33:59'")),
        "{err}"
    );
    // Given back as said: the rows are left out and counted, the warning gone.
    let out = retrain(
        &csv,
        &model,
        &[
            &args[..],
            &["--exclude", "2026-01-01T00:30:00..2026-01-01T00:33:59"],
        ]
        .concat(),
    );
    ok(&out);
    let (text, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(text.contains("240 rows left out (--exclude)"), "{text}");
    assert!(!err.contains("column \"s3\" lies far"), "{err}");
}
