//! The live model's own baseline scored live: a model file that records
//! its training's linear map has it scored against the truth on the same
//! windows as the live model (`pipeline_truth_mse{role="linear_map"}`,
//! `status`'s `linear map`), so an operator sees whether the model still
//! beats the simple baseline it was judged against.

use super::*;

/// A map fitted on a stretch of the sin-cos curve, a tenth off it (so
/// that its error is not the live model's).
fn mapped(dir: &Path) -> (PathBuf, pipeline::baseline::LinearMap) {
    let mut windows = pipeline::data::Windows::empty(W as usize);
    for k in 0..200u64 {
        windows.input.extend((k..k + W).map(input_at));
        windows.target.extend((k..k + W).map(|s| 0.9 * truth_at(s)));
    }
    let map = pipeline::baseline::LinearMap::fit(&windows).unwrap();
    let path = dir.join("mapped.safetensors");
    let record = serde_json::json!({ "mean": { "mean": 0.0 }, "linear": map });
    common::metrics_copy(&manifest().join("models/sin-cos.safetensors"), &path, |m| {
        m["baselines"] = record;
    });
    (path, map)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_models_linear_map_is_scored_beside_it() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (path, map) = mapped(dir.path());
    let mut cfg = config();
    cfg.routes[0].model = Some(path);
    cfg.routes[0].truth = Some("truth.>".into());
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut translated = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    let n = 80u64;
    send_curve(&client, "s0", 0..n).await;
    let windows = (n - W + 1) as usize;
    collect(&mut translated, windows, translation).await;
    send_truth(&client, "s0", 0..n).await;
    let scored = || compared_windows(&client, "map_vs_truth");
    assert_eq!(settled(scored, windows).await, Some(windows as u64));
    // The map's error on those windows, computed here.
    let (mut sum, mut values) = (0f64, 0usize);
    for k in 0..windows as u64 {
        let input: Vec<f32> = (k..k + W).map(input_at).collect();
        for (j, y) in map.predict(&input).iter().enumerate() {
            sum += (f64::from(*y) - f64::from(truth_at(k + j as u64))).powi(2);
            values += 1;
        }
    }
    let want = sum / values as f64;
    let c = &route_stats(&client).await["compare"];
    let mse = |r: &serde_json::Value| r["sum_sq"].as_f64().unwrap() / r["values"].as_f64().unwrap();
    let (map_mse, live_mse) = (mse(&c["map_vs_truth"]), mse(&c["live_vs_truth"]));
    assert!((map_mse - want).abs() <= 1e-6 * want, "{map_mse} vs {want}");
    assert!(map_mse > 10.0 * live_mse, "{map_mse} vs {live_mse}");
    assert_eq!(c["map_vs_truth_total"]["windows"], windows as u64);
    // `status` says it beside live.
    let stats: serde_json::Value = {
        let reply = client
            .request("$SRV.STATS.pipeline", "".into())
            .await
            .unwrap();
        serde_json::from_slice(&reply.payload).unwrap()
    };
    let lines = pipeline::fleet::describe_stats(&stats);
    assert!(
        lines.iter().any(|l| l.contains(" linear map ")),
        "{lines:?}"
    );
    svc.shutdown().await;
}
