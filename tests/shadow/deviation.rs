//! `[route.deviation]` against a real nats-server: a stream whose truth
//! leaves its translation gets a `begin` event on `deviations.<key>`, and
//! an `end` once it is back; a stream whose truth follows gets none; the
//! route's counts in `$SRV.STATS` say so.

use super::*;
use pipeline::config::{DeviationConfig, Side};
use pipeline::wire::{DeviationEvent, DeviationState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_truth_leaves_its_translation_is_said_to_deviate() {
    let server = NatsServer::start();
    let live = load(&manifest().join("models/sin-cos.safetensors"));
    let mut cfg = config();
    cfg.routes[0].truth = Some("truth.>".into());
    cfg.routes[0].deviation = Some(DeviationConfig {
        threshold: Some(0.2),
        windows: 2,
        side: Side::Below,
        ..Default::default()
    });
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut events = client.subscribe("deviations.>").await.unwrap();
    let mut translated = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();

    // "meter" reads 0.5 low over seq 0 … 95 (windows 0, 24, 48 and 72
    // share no sample), then true; "good" reads true throughout; "high"
    // reads 0.5 high, the side not watched.
    let n = 6 * W;
    send_truth_off(&client, "meter", 0..4 * W, -0.5).await;
    send_truth_off(&client, "meter", 4 * W..n, 0.0).await;
    send_truth_off(&client, "good", 0..n, 0.0).await;
    send_truth_off(&client, "high", 0..n, 0.5).await;
    for stream in ["meter", "good", "high"] {
        send_curve(&client, stream, 0..n).await;
    }
    let windows = 3 * (n - W + 1) as usize;
    collect(&mut translated, windows, translation).await;

    let got = collect(&mut events, 2, |b| DeviationEvent::decode(b).unwrap()).await;
    assert_quiet(&mut events, Duration::from_millis(300)).await;
    let (begin, end) = (&got[0], &got[1]);
    // Begun at the second window taken (windows 0 and 24: mean −0.5);
    // still on at 96 (72 and 96: −0.25, over half the threshold); ended
    // at 120 (96 and 120: 0).
    assert_eq!(
        (begin.state, begin.seq, end.state, end.seq),
        (DeviationState::Begin, W, DeviationState::End, 5 * W),
        "{got:?}"
    );
    for e in &got {
        assert_eq!((e.stream.as_str(), e.pair.as_str()), ("meter", "sin-cos"));
        assert_eq!(
            (e.model.as_str(), e.threshold, e.windows),
            (live.id.as_str(), 0.2, 2)
        );
    }
    // The model is good to ~4e-4: the mean is the offset.
    assert!((begin.mean_difference + 0.5).abs() < 5e-3, "{begin:?}");
    assert!(end.mean_difference.abs() < 5e-3, "{end:?}");

    let stats = route_stats(&client).await;
    let c = &stats["compare"];
    assert_eq!(
        (c["deviations"].as_u64(), c["deviating"].as_u64()),
        (Some(1), Some(0)),
        "{stats}"
    );
    svc.shutdown().await;
}

/// `serve --deviation` turns the watch on with the model's own threshold
/// (3 × its held-out RMSE), which `config check` prints.
#[test]
fn serve_deviation_takes_the_models_threshold() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .current_dir(manifest())
        .args([
            "config",
            "check",
            "--pair",
            "sin-cos",
            "--truth",
            "truth.>",
            "--deviation",
        ])
        .args(["--deviation-side", "below", "--deviation-windows", "2"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let m = load(&manifest().join("models/sin-cos.safetensors"));
    let rmse = pipeline::config::held_out_rmse(&m).unwrap();
    let says = format!(
        "lies beyond {} below (the truth under the translation) (3 × the model's held-out RMSE \
         {}) deviates: events on deviations.<stream>",
        pipeline::eval::significant(3.0 * rmse),
        pipeline::eval::significant(rmse)
    );
    assert!(text.contains(&says), "{says}\n{text}");
    let v: serde_json::Value = serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(v["route"][0]["deviation"]["side"], "below", "{v}");
    assert_eq!(v["route"][0]["deviation"]["windows"], 2, "{v}");
    assert!(text.contains("over its last 2 windows"), "{text}");
}

/// A threshold that is no number above 0, negative ones included, is
/// refused by the flag's own message.
#[test]
fn a_bad_deviation_threshold_is_refused_by_name() {
    for bad in ["-3", "abc", "0"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .current_dir(manifest())
            .args(["config", "check", "--pair", "sin-cos", "--truth", "truth.>"])
            .args(["--deviation", bad])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.contains(&format!("\"{bad}\" is no threshold: a number above 0")),
            "{bad}: {err}"
        );
    }
    for bad in ["0", "1001", "many"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .current_dir(manifest())
            .args(["config", "check", "--pair", "sin-cos", "--truth", "truth.>"])
            .args(["--deviation", "--deviation-windows", bad])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.contains(&format!("\"{bad}\": a number of windows, 1 to 1000")),
            "{bad}: {err}"
        );
    }
}

/// Truth that says another unit than the model writes (a flow in m³/h
/// sent as the truth of a model of kW) is refused with an error event, not
/// scored: every stream would deviate by the difference of two channels.
/// Truth in the model's unit is scored and watched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truth_in_another_unit_is_refused_not_scored() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("chiller.safetensors");
    let sin_cos = manifest().join("models/sin-cos.safetensors");
    crate::common::channel_copy(&sin_cos, &model, "Outdoor Air Temp (°F)", "Chiller 1 kW");
    let mut cfg = config();
    cfg.routes[0].model = Some(model);
    cfg.routes[0].truth = Some("truth.>".into());
    cfg.routes[0].deviation = Some(DeviationConfig {
        threshold: Some(0.2),
        windows: 1,
        ..Default::default()
    });
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    let mut events = client.subscribe("deviations.>").await.unwrap();
    let mut translated = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    for (stream, unit) in [("flow", "m³/h"), ("power", "kW")] {
        for seq in 0..W {
            let msg = SamplesOut {
                seq,
                value: Some(truth_at(seq) - 0.5),
                values: None,
                ts: None,
            };
            let payload = msg.encode_with_unit(unit);
            client
                .publish(format!("truth.{stream}"), payload.into())
                .await
                .unwrap();
        }
        send_curve(&client, stream, 0..W).await;
    }
    collect(&mut translated, 2, translation).await;
    let refused = collect(&mut errors, W as usize, event).await;
    assert!(
        refused.iter().all(|e| e.stream == "flow"
            && e.detail.contains(
                "truth: its samples are in \"m³/h\", the model writes \"kW\" (its training column \
                 \"Chiller 1 kW\"): not scored"
            )),
        "{refused:?}"
    );
    let said = collect(&mut events, 1, |b| DeviationEvent::decode(b).unwrap()).await;
    assert_eq!(
        (said[0].stream.as_str(), said[0].state),
        ("power", DeviationState::Begin)
    );
    assert_eq!(said[0].unit.as_deref(), Some("kW"));
    assert_quiet(&mut events, Duration::from_millis(300)).await;
    // `$SRV.STATS` says the route's unit, which `pipeline status` names.
    let stats = route_stats(&client).await;
    assert_eq!(stats["unit"], "kW", "{stats}");
    let lines = pipeline::fleet::describe_stats(
        &serde_json::from_slice(
            &client
                .request("$SRV.STATS.pipeline", "".into())
                .await
                .unwrap()
                .payload,
        )
        .unwrap(),
    );
    assert!(
        lines[1].contains("  deviating 1 (kW): power -0.5"),
        "{lines:?}"
    );
    svc.shutdown().await;
}
