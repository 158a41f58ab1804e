//! Windows out of sample streams: order and exact values, every error kind, partitioned and JSON
//! input, stride and batches of values, and physical units.

use super::*;

/// `pipeline translate` (the real binary) on the given windows.
fn cli_translate(windows: &[Vec<f32>]) -> Vec<Vec<f32>> {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["translate", "--model"])
        .arg(manifest().join("models/sin-cos.safetensors"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let text: String = windows
        .iter()
        .map(|w| {
            w.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_streams_give_every_window_in_order_and_exact() {
    let server = NatsServer::start();
    let svc = Svc::start(&server.url(), config()).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();

    let streams = ["plant1.pump3", "b", "c"];
    let n = 60u64;
    // Interleaved: sample s of every stream, then s + 1 …; stream b starts later.
    for s in 0..n {
        for (i, st) in streams.iter().enumerate() {
            let seq = s + 1000 * i as u64;
            send(&client, st, seq, &[input_at(seq)]).await;
        }
    }
    client.flush().await.unwrap();
    let per_stream = (n - W + 1) as usize;
    let got = collect(&mut sub, per_stream * 3, translation).await;
    assert_quiet(&mut sub, Duration::from_millis(200)).await;

    let model_id = pipeline::format::load(&manifest().join("models/sin-cos.safetensors"), None)
        .unwrap()
        .id;
    let mut windows = Vec::new();
    let mut mse = 0f64;
    for (i, st) in streams.iter().enumerate() {
        let mine: Vec<&Translation> = got.iter().filter(|t| t.stream == *st).collect();
        assert_eq!(mine.len(), per_stream, "stream {st}");
        let base = 1000 * i as u64;
        for (k, t) in mine.iter().enumerate() {
            assert_eq!(t.seq, base + k as u64, "stream {st} in seq order");
            assert_eq!(
                (t.pair.as_str(), t.model.as_str()),
                ("sin-cos", model_id.as_str())
            );
            assert_eq!(t.values.len(), W as usize);
            windows.push((t.seq..t.seq + W).map(input_at).collect::<Vec<f32>>());
            mse += t
                .values
                .iter()
                .zip(t.seq..)
                .map(|(v, s)| (*v as f64 - truth_at(s) as f64).powi(2))
                .sum::<f64>();
        }
    }
    mse /= (got.len() * W as usize) as f64;
    assert!(mse < 3e-6, "live MSE against cos {mse:.3e}");
    // Each window equals `pipeline translate` on the same window.
    let ordered: Vec<&Translation> = streams
        .iter()
        .flat_map(|st| got.iter().filter(move |t| t.stream == *st))
        .collect();
    let cli = cli_translate(&windows);
    for (t, c) in ordered.iter().zip(&cli) {
        let d = t
            .values
            .iter()
            .zip(c)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            d <= 1e-6,
            "stream {} seq {}: differs from translate by {d}",
            t.stream,
            t.seq
        );
    }
    assert_eq!(svc.stats.snapshot().windows_out, got.len() as u64);
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_kind_is_reported_and_good_streams_are_unaffected() {
    let server = NatsServer::start();
    let mut cfg = config();
    cfg.max_streams = 3;
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    let mut good = client.subscribe("translated.good").await.unwrap();
    client.flush().await.unwrap();

    // The good stream's first half, then the bad input, then the second half.
    send_curve(&client, "good", 0..30).await;
    client
        .publish("samples.bad", "not msgpack".into())
        .await
        .unwrap();
    let wrong_type = rmp_serde::to_vec_named(&serde_json::json!({"seq": 1, "value": "x"})).unwrap();
    client
        .publish("samples.bad", wrong_type.into())
        .await
        .unwrap();
    // (serde_json cannot hold NaN: encode the sample message itself.)
    let nan = sample(0, f32::NAN);
    client.publish("samples.bad", nan.into()).await.unwrap();
    send(&client, "gappy", 0, &[0.1, 0.2]).await;
    send(&client, "gappy", 10, &[0.3]).await; // expected 2
    send(&client, "gappy", 5, &[0.4]).await; // before 11: dropped
    send(&client, "fourth", 0, &[0.0]).await; // good, gappy, fourth = 3 streams
    send(&client, "fifth", 0, &[0.0]).await; // over max_streams
    let long_key = "k".repeat(300);
    send(&client, &long_key, 0, &[0.0]).await;
    send_curve(&client, "good", 30..50).await;
    client.flush().await.unwrap();

    let events = collect(&mut errors, 7, event).await;
    let kinds: Vec<ErrorKind> = events.iter().map(|e| e.kind).collect();
    use ErrorKind::*;
    assert_eq!(
        kinds,
        vec![
            Malformed,
            Malformed,
            InvalidValue,
            Gap,
            OutOfOrder,
            TooManyStreams,
            BadSubject
        ]
    );
    assert_eq!(events[0].stream, "bad");
    assert_eq!(events[0].subject, "samples.bad");
    assert!(
        events[3].detail.contains("expected seq 2, got 10"),
        "{}",
        events[3].detail
    );
    assert_eq!(events[5].stream, "fifth");
    assert!(
        events[6].detail.contains("longer than"),
        "{}",
        events[6].detail
    );
    assert_quiet(&mut errors, Duration::from_millis(200)).await;

    // The good stream: all 27 windows, in order, accurate.
    let got = collect(&mut good, 27, translation).await;
    assert_eq!(
        got.iter().map(|t| t.seq).collect::<Vec<_>>(),
        (0..27).collect::<Vec<_>>()
    );
    let s = svc.stats.snapshot();
    for (k, n) in [
        ("malformed", 2),
        ("invalid_value", 1),
        ("gap", 1),
        ("out_of_order", 1),
        ("too_many_streams", 1),
        ("bad_subject", 1),
    ] {
        assert_eq!(s.errors[k], n, "{k}");
    }
    // The samples the gap skipped (seq 2 to 9), what a slow consumer's
    // drops would show as.
    assert_eq!(s.samples_skipped, 8);
    svc.shutdown().await;
}

/// The shipped partition mapping (`deploy/nats/partitioned.conf`) serves
/// keys of one token and of several: each lands in one partition, whole,
/// and an instance owning every partition translates them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_mapping_serves_multi_token_keys() {
    let shipped = std::fs::read_to_string(manifest().join("deploy/nats/partitioned.conf")).unwrap();
    let mappings = &shipped[shipped.find("mappings").unwrap()..];
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mappings.conf");
    std::fs::write(&conf, mappings).unwrap();
    let server = NatsServer::start_with(&["-c", conf.to_str().unwrap()]);
    let mut cfg = config();
    cfg.routes[0].input = "part.{partition}.>".into();
    cfg.partitions = Some(pipeline::config::Partitions {
        count: 4,
        owned: vec![0, 1, 2, 3],
    });
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut out = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    let keys = ["a", "plant1.pump3", "plant1.pump4", "plant2.x.y"];
    for seq in 0..W {
        for k in keys {
            send(&client, k, seq, &[input_at(seq)]).await;
        }
    }
    let got = collect(&mut out, keys.len(), |b| translation(b).stream);
    let mut got = got.await;
    got.sort();
    assert_eq!(got, keys.map(String::from).to_vec());
    assert_eq!(svc.stats.snapshot().errors.values().sum::<u64>(), 0);
    svc.shutdown().await;
}

/// A route with `output_format = "json"` writes each translation as the
/// same map in JSON, readable in `nats sub`, with the same values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_the_same_translation() {
    let server = NatsServer::start();
    let mut cfg = config();
    cfg.routes[0].output_format = pipeline::wire::Format::Json;
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut out = client.subscribe("translated.j").await.unwrap();
    client.flush().await.unwrap();
    send_curve(&client, "j", 0..W).await;
    let m = tokio::time::timeout(Duration::from_secs(10), out.next())
        .await
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON");
    assert_eq!(
        (v["stream"].as_str(), v["seq"].as_u64()),
        (Some("j"), Some(0))
    );
    let t = translation(&m.payload);
    let model =
        pipeline::format::load(&manifest().join("models/sin-cos.safetensors"), None).unwrap();
    let input: Vec<f32> = (0..W).map(input_at).collect();
    let want = model.fast.translate_rows(&input).unwrap();
    assert_eq!(t.values, want, "the same f32 values, through JSON");
    svc.shutdown().await;
}

/// JSON sample messages, as `nats pub samples.x '{"seq":0,"value":0.1}'`
/// sends them, give the same translations as MessagePack ones; a JSON
/// message that breaks the contract is a counted `malformed` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_samples_are_translated_like_messagepack() {
    let server = NatsServer::start();
    let svc = Svc::start(&server.url(), config()).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut json_out = client.subscribe("translated.j").await.unwrap();
    let mut pack_out = client.subscribe("translated.m").await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    client.flush().await.unwrap();
    for seq in 0..W + 2 {
        let v = input_at(seq);
        let json = format!(r#"{{"seq":{seq},"value":{v}}}"#);
        client.publish("samples.j", json.into()).await.unwrap();
        send(&client, "m", seq, &[v]).await;
    }
    client
        .publish("samples.j", r#"{"seq":"x","value":1}"#.into())
        .await
        .unwrap();
    let (j, m) = (
        collect(&mut json_out, 3, translation).await,
        collect(&mut pack_out, 3, translation).await,
    );
    for (a, b) in j.iter().zip(&m) {
        assert_eq!((a.seq, &a.values), (b.seq, &b.values));
    }
    let e = collect(&mut errors, 1, |b| (b.first() == Some(&b'{'), event(b))).await;
    let (json, e) = &e[0];
    assert_eq!((e.kind, e.stream.as_str()), (ErrorKind::Malformed, "j"));
    assert!(e.detail.contains("JSON"), "{}", e.detail);
    assert!(json, "a JSON message's error event is JSON");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn value_batches_and_stride() {
    let server = NatsServer::start();
    let mut cfg = config();
    cfg.routes[0].stride = 5;
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("translated.s").await.unwrap();
    client.flush().await.unwrap();
    // 70 samples in messages of 7: windows start at 0, 5, …, 45.
    for chunk in 0..10u64 {
        let vals: Vec<f32> = (chunk * 7..chunk * 7 + 7).map(input_at).collect();
        send(&client, "s", chunk * 7, &vals).await;
    }
    client.flush().await.unwrap();
    let got = collect(&mut sub, 10, translation).await;
    assert_eq!(
        got.iter().map(|t| t.seq).collect::<Vec<_>>(),
        (0..10).map(|k| k * 5).collect::<Vec<_>>()
    );
    assert_quiet(&mut sub, Duration::from_millis(200)).await;
    let direct =
        pipeline::format::load(&manifest().join("models/sin-cos.safetensors"), None).unwrap();
    let want = direct
        .fast
        .translate_rows(&(45..69).map(input_at).collect::<Vec<_>>())
        .unwrap();
    let d = want
        .iter()
        .zip(&got[9].values)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(d <= 1e-6, "{d}");
    svc.shutdown().await;
}

/// A model whose file carries a scaling: samples go in and translations
/// come out in physical units, on the stream path and the request path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaled_model_serves_physical_units() {
    use pipeline::scaling::{Affine, ScaleMethod, Scaling};
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("scaled.safetensors");
    let scaling = Scaling {
        method: ScaleMethod::Standard,
        input: Affine {
            center: 1000.0,
            scale: 50.0,
        },
        output: Affine {
            center: -300.0,
            scale: 120.0,
        },
    };
    common::scaled_copy(
        &manifest().join("models/sin-cos.safetensors"),
        &model,
        scaling,
    );
    let mut cfg = config();
    cfg.routes[0].model = Some(model.clone());
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("translated.phys").await.unwrap();
    client.flush().await.unwrap();
    let window: Vec<f32> = (0..W).map(|s| 1000.0 + 50.0 * input_at(s)).collect();
    for (s, v) in window.iter().enumerate() {
        send(&client, "phys", s as u64, &[*v]).await;
    }
    client.flush().await.unwrap();
    let got = collect(&mut sub, 1, translation).await;
    let direct = pipeline::format::load(&model, None).unwrap();
    let want = direct.fast.translate_rows(&window).unwrap();
    assert_eq!(got[0].values, want);
    // The network translates sin to cos; in physical units that is
    // −300 + 120·cos (the shipped model's error is ~1e-3 before scaling).
    for (k, v) in got[0].values.iter().enumerate() {
        let truth = -300.0 + 120.0 * truth_at(k as u64);
        assert!((v - truth).abs() < 1.2, "sample {k}: {v} vs {truth}");
    }
    let req = rmp_serde::to_vec_named(&serde_json::json!({ "values": window })).unwrap();
    let reply = client
        .request("pipeline.translate", req.into())
        .await
        .unwrap();
    assert_eq!(translation(&reply.payload).values, want);

    // A recording played back by `publish --data` and checked by `tail
    // --truth --data`, compared with the recording's output column in
    // physical units. Row 50's input and row 70's output were bad cells
    // (skipped): 100 rows, the input in two runs (50 and 49 rows) → 27 + 26
    // windows, the service restarting its window at the gap; the 20 windows
    // that cover row 70 have no truth and are not scored.
    use pipeline::tools::{PublishOptions, Signal, TailOptions};
    let rows = 100u64;
    let signal = Signal::Recorded {
        input: (0..rows)
            .map(|s| (s != 50).then(|| 1000.0 + 50.0 * input_at(s)))
            .collect(),
        output: (0..rows)
            .map(|s| (s != 70).then(|| -300.0 + 120.0 * truth_at(s)))
            .collect(),
        gaps: [].into(),
        times: [].into(),
    };
    let windows = (50 - W + 1) + (49 - W + 1);
    let tail_opts = TailOptions {
        subject: "translated.rec".into(),
        count: Some(windows),
        duration: Some(Duration::from_secs(20)),
        truth: true,
        recording: Some(signal.clone()),
        by_stream: Default::default(),
        print_every: 0,
        plot: Some(dir.path().join("tail.png")),
        y_label: Some("power (kW)".into()),
    };
    let tail_client = client.clone();
    let tail = tokio::spawn(async move {
        pipeline::tools::tail(&tail_client, &tail_opts, std::future::pending()).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = pipeline::tools::publish(
        &client,
        &PublishOptions {
            signal,
            streams: vec!["rec".into()],
            prefix: "samples".into(),
            rate: 0.0,
            speed: None,
            count: None, // a recording ends after its last row
            batch: 7,
            start_seq: 0,
            jetstream: false,
            unit: None,
        },
    )
    .await
    .unwrap();
    assert_eq!((sent.samples, sent.skipped), (rows - 1, 1));
    let summary = tail.await.unwrap().unwrap();
    assert_eq!((summary.windows, summary.scored), (windows, windows - 20));
    // The windows a skipped input row leaves out, seen by their seqs.
    assert_eq!((summary.missing, summary.out_of_order), (W, 0));
    // Stamped when sent: a latency from every window.
    assert_eq!(summary.recorded_times, 0);
    assert!(summary.latency_ms_p50.is_some());
    let mse = summary.mse.unwrap();
    assert!(
        mse < 1.0,
        "MSE against the recording's output column: {mse}"
    );
    // Against the column's own spread (120·cos: a variance in the thousands).
    let nmse = summary.nmse.unwrap();
    assert!(nmse > 0.0 && nmse < mse / 100.0, "NMSE {nmse}, MSE {mse}");
    assert_eq!(summary.further_than_the_mean(true), None);
    assert!(dir.path().join("tail.png").exists());
    svc.shutdown().await;
}

/// A sample message that says its unit is refused where the model reads
/// another (°C samples into a model trained in °F: every translation would
/// be nonsense), with an error event; samples in the model's unit (spelt
/// another way) or saying none are translated, in the unit of the model's
/// output, which each translation says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_in_another_unit_than_the_models_are_refused() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("chiller.safetensors");
    let sin_cos = manifest().join("models/sin-cos.safetensors");
    common::channel_copy(&sin_cos, &model, "Outdoor Air Temp (°F)", "Chiller 1 kW");
    let mut cfg = config();
    cfg.routes[0].model = Some(model);
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    let mut out = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    let tail = tail_in_background(&client, "translated.f", 1).await;
    let in_unit = |seq: u64, unit: &str| {
        let msg = pipeline::wire::SamplesOut {
            seq,
            value: Some(input_at(seq)),
            values: None,
            ts: None,
        };
        bytes::Bytes::from(msg.encode_with_unit(unit))
    };
    for seq in 0..W {
        client
            .publish("samples.f", in_unit(seq, "degF"))
            .await
            .unwrap();
        client
            .publish("samples.c", in_unit(seq, "°C"))
            .await
            .unwrap();
    }
    send_curve(&client, "n", 0..W).await;
    client.flush().await.unwrap();
    let got = collect(&mut out, 2, translation).await;
    let mut streams: Vec<&str> = got.iter().map(|t| t.stream.as_str()).collect();
    streams.sort();
    assert_eq!(streams, ["f", "n"]);
    // Translations say their unit (the model's output column named it),
    // and `tail` reads it.
    assert!(
        got.iter().all(|t| t.unit.as_deref() == Some("kW")),
        "{got:?}"
    );
    assert_eq!(tail.await.unwrap().unwrap().unit.as_deref(), Some("kW"));
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let events = collect(&mut errors, W as usize, event).await;
    assert!(
        events
            .iter()
            .all(|e| e.kind == ErrorKind::InvalidValue && e.stream == "c"),
        "{events:?}"
    );
    assert!(
        events[0].detail.contains(
            "its samples are in \"°C\", the model reads \"°F\" (its training column \"Outdoor Air Temp (°F)\")"
        ),
        "{:?}",
        events[0]
    );
    svc.shutdown().await;
}
