//! Samples that stand for no reading: a value the model's training
//! recording wrote for a missing sample (`retrain --missing 0`: a PMU's lost
//! frames, a logger's -9999) is refused as a NaN is, not translated as a
//! reading; and a refused message of a sender that numbers nothing (an
//! `unavailable`, a `nan`) restarts its window, as a numbered stream's
//! next seq would show the hole.

use super::*;

/// A model trained with `--missing 0 --missing -9999`: stream `lossy` sends
/// 60 samples, seq 30 written as -9999 and seq 45 as 0. Each is refused
/// with an `invalid_value` event that says why, and the window restarts
/// after it (a `gap` at the next seq); a clean stream gets every window.
/// A truth sample so written is not scored against.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_the_training_recording_wrote_for_missing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("pmu.safetensors");
    common::metrics_copy(
        &manifest().join("models/sin-cos.safetensors"),
        &model,
        |m| {
            m["reading"] = serde_json::json!({ "missing": [0.0, -9999.0] });
        },
    );
    let mut cfg = config();
    cfg.routes[0].model = Some(model);
    cfg.routes[0].truth = Some("truth.>".into());
    let (_server, svc, client, mut errors, mut out) = started(cfg).await;
    // The curve at seq 0 is 0 exactly: start both streams past it.
    let at = |seq: u64| input_at(seq + 1);
    for seq in 0..60 {
        let lost = match seq {
            30 => -9999.0,
            45 => 0.0,
            _ => at(seq),
        };
        send(&client, "lossy", seq, &[lost]).await;
        send(&client, "clean", seq, &[at(seq)]).await;
    }
    client.flush().await.unwrap();
    // lossy: 0..=29 (7 windows), 31..=44 (none), 46..=59 (none); clean: 37.
    let got = collect(&mut out, 7 + 37, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let lossy: Vec<u64> = got
        .iter()
        .filter(|t| t.stream == "lossy")
        .map(|t| t.seq)
        .collect();
    assert_eq!(lossy, (0..7).collect::<Vec<_>>());
    let events = collect(&mut errors, 4, event).await;
    let said: Vec<(ErrorKind, &str)> = events.iter().map(|e| (e.kind, e.detail.as_str())).collect();
    assert_eq!(
        said.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        [
            ErrorKind::InvalidValue,
            ErrorKind::Gap,
            ErrorKind::InvalidValue,
            ErrorKind::Gap
        ],
        "{said:?}"
    );
    assert!(
        said[0].1.contains(
            "sample 0 (seq 30) is -9999, what the model's training recording wrote for a missing \
             sample (retrain --missing -9999)"
        ),
        "{}",
        said[0].1
    );
    assert!(said[2].1.contains("(seq 45) is 0,"), "{}", said[2].1);
    // A truth sample written so is not scored against either.
    let truth = sample(7, -9999.0);
    client.publish("truth.lossy", truth.into()).await.unwrap();
    let e = collect(&mut errors, 1, event).await.remove(0);
    assert_eq!(
        (e.kind, e.stream.as_str()),
        (ErrorKind::InvalidValue, "lossy")
    );
    assert!(
        e.detail
            .starts_with("truth: sample 0 (seq 7) is -9999, what the model's training"),
        "{}",
        e.detail
    );
    assert_eq!(svc.stats.snapshot().errors["invalid_value"], 3);
    svc.shutdown().await;
}

/// A sender that numbers nothing (an ESPHome sensor's bare numbers) sends
/// `unavailable` and `nan` between readings: each is refused, and the
/// window restarts after it, the count going on; without the restart one
/// window would join the readings on both sides of the hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reading_restarts_the_window_of_a_sender_that_numbers_nothing() {
    let (_server, svc, client, mut errors, mut out) = started(config()).await;
    let publish = async |payload: String| {
        client
            .publish("samples.leaf_temp", payload.into())
            .await
            .unwrap();
    };
    for seq in 0..30 {
        publish(input_at(seq).to_string()).await;
    }
    publish("unavailable".into()).await;
    for seq in 30..60 {
        publish(input_at(seq).to_string()).await;
    }
    publish("nan".into()).await;
    for seq in 60..90 {
        publish(input_at(seq).to_string()).await;
    }
    client.flush().await.unwrap();
    let got = collect(&mut out, 3 * 7, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let seqs: Vec<u64> = got.iter().map(|t| t.seq).collect();
    let want: Vec<u64> = (0..7).chain(30..37).chain(60..67).collect();
    assert_eq!(seqs, want);
    // Events a text sender (an MQTT dashboard) reads: JSON, saying what came.
    let said = collect(&mut errors, 2, |b| {
        assert_eq!(b.first(), Some(&b'{'), "{}", String::from_utf8_lossy(b));
        event(b)
    })
    .await;
    let kinds: Vec<ErrorKind> = said.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [ErrorKind::Malformed, ErrorKind::InvalidValue]);
    assert!(
        said[0].detail.contains(r#""unavailable" is not a number"#),
        "{}",
        said[0].detail
    );
    assert_quiet(&mut errors, Duration::from_millis(200)).await;
    svc.shutdown().await;
}

/// A model trained without `--missing` on a channel that never went below
/// -1: a sensor's `-999` (an air-quality sensor's error code) is refused
/// as a reading by its form, far outside the training input; a reading
/// far outside it that is no code (`5.0`) is translated (a state the
/// model never saw may be real).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_code_far_outside_the_training_input_is_no_reading() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("pm.safetensors");
    let ranged = |lo: f32| {
        move |m: &mut serde_json::Value| {
            m["ranges"] = serde_json::json!({ "input": [lo, 1.0], "output": [-1.0, 1.0] });
        }
    };
    common::metrics_copy(
        &manifest().join("models/sin-cos.safetensors"),
        &model,
        ranged(-1.0),
    );
    let mut cfg = config();
    cfg.routes[0].model = Some(model);
    let (_server, svc, client, mut errors, mut out) = started(cfg).await;
    for seq in 0..40 {
        let v = match seq {
            30 => -999.0,
            10 => 5.0,
            _ => input_at(seq + 1),
        };
        send(&client, "pm", seq, &[v]).await;
    }
    client.flush().await.unwrap();
    // 0..=29: 7 windows; 31..=39: none.
    let got = collect(&mut out, 7, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    assert_eq!(
        got.iter().map(|t| t.seq).collect::<Vec<_>>(),
        (0..7).collect::<Vec<_>>()
    );
    let e = collect(&mut errors, 1, event).await.remove(0);
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    assert!(
        e.detail.contains(
            "sample 0 (seq 30) is -999, a device's error code by its form, far outside the input \
             the model was trained on"
        ),
        "{}",
        e.detail
    );
    assert_eq!(svc.stats.snapshot().errors["invalid_value"], 1);
    svc.shutdown().await;
}
