//! Two routes on one input (core mode): a battery cycler's bridge sends one
//! current stream, and one route translates it into the cell's voltage,
//! another into its temperature. Each translates every sample with its
//! own model into its own output, as each would alone.

use tokio::io::AsyncBufReadExt;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_routes_on_one_input_each_translate_every_sample() {
    let server = NatsServer::start();
    let mut cfg = config();
    let mut temperature = route("square-sqrt");
    temperature.output = "translated-temp".into();
    for r in [&mut cfg.routes[0], &mut temperature] {
        (r.input, r.value_key) = ("cycler.*".into(), Some("current_a".into()));
    }
    cfg.routes.push(temperature);
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut voltage = client.subscribe("translated.>").await.unwrap();
    let mut temp = client.subscribe("translated-temp.>").await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    client.flush().await.unwrap();
    let n = 40u64;
    for seq in 0..n {
        let m = serde_json::json!({"seq": seq, "current_a": input_at(seq), "t": seq});
        let bytes = m.to_string().into_bytes();
        client.publish("cycler.ch07", bytes.into()).await.unwrap();
    }
    client.flush().await.unwrap();
    let windows = (n - W + 1) as usize;
    let v = collect(&mut voltage, windows, translation).await;
    let t = collect(&mut temp, windows, translation).await;
    assert_quiet(&mut voltage, Duration::from_millis(200)).await;
    assert_quiet(&mut temp, Duration::from_millis(100)).await;
    assert_quiet(&mut errors, Duration::from_millis(100)).await;
    // Each route's model, each window once, exactly as translated alone.
    for (got, pair) in [(&v, "sin-cos"), (&t, "square-sqrt")] {
        let model =
            pipeline::format::load(&manifest().join(format!("models/{pair}.safetensors")), None)
                .unwrap();
        let mut seqs: Vec<u64> = got.iter().map(|x| x.seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..windows as u64).collect::<Vec<_>>(), "{pair}");
        for x in got {
            assert_eq!((x.stream.as_str(), x.pair.as_str()), ("ch07", pair));
            let window: Vec<f32> = (x.seq..x.seq + W).map(input_at).collect();
            let want = model.fast.translate_rows(&window).unwrap();
            let worst = (x.values.iter().zip(&want))
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-4, "{pair} seq {}: {worst}", x.seq);
        }
    }
    svc.shutdown().await;
}

/// `tail --truth --data` whose file holds no row a window's seq names (a
/// route on a clock numbers its windows by their tick since the epoch):
/// none scored, and said why, not a summary without a score.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_says_why_no_window_was_scored_against_a_file() {
    let server = NatsServer::start();
    let svc = Svc::start(&server.url(), config()).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let truth = dir.path().join("truth.csv");
    let rows: String = (0..100).map(|k| format!("{}\n", truth_at(k))).collect();
    std::fs::write(&truth, format!("y\n{rows}")).unwrap();
    let tail = tokio::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["tail", "--nats", &server.url(), "--truth", "--data"])
        .arg(&truth)
        .args([
            "--truth-column",
            "y",
            "--count",
            "7",
            "--duration",
            "20s",
            "--quiet",
        ])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut tail = tail;
    let mut lines = tokio::io::BufReader::new(tail.stderr.take().unwrap()).lines();
    let mut err = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        err += &format!("{line}\n");
        if line.contains("listening") {
            break;
        }
    }
    send_curve(&client, "clocked", 5_000..5_000 + W + 6).await;
    client.flush().await.unwrap();
    while let Some(line) = lines.next_line().await.unwrap() {
        err += &format!("{line}\n");
    }
    assert!(tail.wait().await.unwrap().success(), "{err}");
    assert!(
        err.contains("none of the 7 window(s) was scored against --data")
            && err.contains("the first came at seq 5000, past the file's rows"),
        "{err}"
    );
    svc.shutdown().await;
}
