//! `eval` replays `serve --deviation` over the windows it scores: on a
//! recording like training's, no deviation begins and the largest mean is
//! said against the threshold; where the output's meter reads low over its
//! second half, deviations begin, and the largest mean passes it.

use super::*;

#[test]
fn eval_says_what_the_deviation_watch_would_have_said() {
    let dir = tempfile::tempdir().unwrap();
    let day1 = dir.path().join("day1.csv");
    write_recording(&day1, 600);
    let model = dir.path().join("m.safetensors");
    let trained = retrain(&day1, &model, &["--steps", "150", "--residual"]);
    ok(&trained);
    let rmse = pipeline::config::held_out_rmse(&pipeline::format::load(&model, None).unwrap())
        .expect("a held-out RMSE");
    // retrain says it of its held-out windows, with the threshold the
    // model carries.
    let said = String::from_utf8_lossy(&trained.stdout);
    let line = format!(
        "beyond {} either way (3 × this held-out RMSE {}): ",
        pipeline::eval::significant(3.0 * rmse),
        pipeline::eval::significant(rmse)
    );
    assert!(said.contains(&line), "{line}\n{said}");

    let alike = dir.path().join("alike.csv");
    write_recording_from(&alike, 1000..1600);
    let (e, _) = eval(&model, &alike, &[]);
    let w = &e["deviation_watch"];
    assert!(
        (w["threshold"].as_f64().unwrap() - 3.0 * rmse).abs() < 1e-9 * rmse,
        "{w}"
    );
    assert_eq!(
        (w["windows"].as_u64(), w["side"].as_str()),
        (Some(4), Some("both")),
        "{w}"
    );
    assert_eq!(w["begun"], serde_json::json!([]), "{w}");
    let peak = w["peak"].as_f64().unwrap();
    assert!(peak < 1.0, "{w}");
    assert!(e["apart_from_deviations"].is_null(), "{e}");

    // The meter reads low by 10 held-out RMSEs from row 1300 on.
    let low = dir.path().join("low.csv");
    let off = |t: usize| output_at(t) - if t >= 1300 { 10.0 * rmse } else { 0.0 };
    write_recording_with(&low, 1000..1600, input_at, off);
    let (e, _) = eval(&model, &low, &[]);
    let w = &e["deviation_watch"];
    assert_eq!(w["begun"][0][1].as_u64(), Some(1), "{w}");
    assert!(w["peak"].as_f64().unwrap() > 2.0, "{w}");
    // Where it began: a window ending some rows after the meter went low
    // (data row 300), no later than its four windows' mean allows.
    let at = w["first_at"][0][1].as_str().unwrap();
    let row: usize = (at.strip_prefix("data row "))
        .and_then(|r| r.split(',').next()?.parse().ok())
        .unwrap_or_else(|| panic!("{at}"));
    assert!((300..=300 + 4 * 24).contains(&row), "{w}");
    // Scored apart from it too: every window from the first of the mean
    // that began it (three windows of 24 and the 23 that share their rows
    // before the window that began it) to the file's end left out.
    let apart = &e["apart_from_deviations"];
    let (all, kept) = (577, row - 23 - (3 * 24 + 23));
    assert_eq!(
        apart["windows_left_out"].as_u64(),
        Some((all - kept) as u64),
        "{apart}"
    );
    assert_eq!(
        apart["validation"]["windows"].as_u64(),
        Some(kept as u64),
        "{apart}"
    );
    let mse = |v: &serde_json::Value| v["model"]["mse"].as_f64().unwrap();
    assert!(
        mse(&apart["validation"]) < mse(&e["validation"]) / 10.0,
        "{e}"
    );
    // Every deviation, located: this one on to the file's end.
    let d = &w["deviations"];
    assert_eq!(d.as_array().map(Vec::len), Some(1), "{w}");
    assert_eq!(d[0]["begins"].as_str(), Some(at), "{w}");
    assert!(d[0]["ends"].is_null(), "{w}");
    assert!(
        w["peak_where"].as_str().unwrap().starts_with("data row "),
        "{w}"
    );

    // The watch a user runs: their threshold and side (the meter reads
    // low: watched above, nothing begins; below, it does).
    let t = format!("{}", 5.0 * rmse);
    for (side, begins) in [("above", 0), ("below", 1)] {
        let (e, _) = eval(&model, &low, &["--deviation", &t, "--deviation-side", side]);
        let w = &e["deviation_watch"];
        assert_eq!(w["side"].as_str(), Some(side), "{w}");
        assert!(
            (w["threshold"].as_f64().unwrap() - 5.0 * rmse).abs() < 1e-6 * rmse,
            "{w}"
        );
        assert_eq!(w["begun"].as_array().unwrap().len(), begins, "{side}: {w}");
    }
    // Over fewer windows, as `serve --deviation-windows`.
    let (e, _) = eval(&model, &low, &["--deviation-windows", "1"]);
    assert_eq!(e["deviation_watch"]["windows"].as_u64(), Some(1), "{e}");
    // Where the largest mean came, and how large, in the output's units.
    let (e, _) = eval(&model, &low, &[]);
    // Each window's newest value's error beside the whole window's.
    let newest = &e["newest"];
    assert!(
        newest["model_rmse"].as_f64().is_some_and(|r| r > 0.0)
            && newest["model_rmse_all_values"]
                .as_f64()
                .is_some_and(|r| r > 0.0),
        "{newest}"
    );
    let at = &e["deviation_watch"]["peak_at"];
    assert!(at[1].as_f64().unwrap() < -5.0 * rmse, "{at}");
    // The line people read.
    let text = eval_text(&model, &low);
    assert!(
        text.contains("watch      serve --deviation would watch for a mean of truth − translation over 4 windows")
            && text.contains("1 deviation(s) would begin on these windows")
            && text.contains(&format!("'s window ending at data row {row}"))
            && text.contains(&format!(
                "apart      without the {} of {all} windows",
                all - kept
            )),
        "{text}"
    );
}
