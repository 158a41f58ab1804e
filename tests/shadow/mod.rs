//! Shadow models and promotion against a real nats-server: a candidate
//! computed on the same windows publishes to `shadow.<key>`, the route
//! compares it with the live model and with a truth channel; promoting it,
//! and rolling back, swap models with no window lost or computed twice
//! (`promotion.rs`); a meter read on a route's clock is its truth (`clocked.rs`).

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::Client;
use common::nats::NatsServer;
use common::service::*;
use futures::StreamExt;
use pipeline::format::LoadedModel;
use pipeline::scaling::{Affine, ScaleMethod, Scaling};
use pipeline::wire::{SamplesOut, Translation};

/// A candidate that differs from sin-cos in a known way: the same network,
/// its output read as `2 y + 0.5`.
fn candidate(dir: &Path) -> PathBuf {
    let path = dir.join("candidate.safetensors");
    common::scaled_copy(
        &manifest().join("models/sin-cos.safetensors"),
        &path,
        Scaling {
            method: ScaleMethod::None,
            input: Affine::IDENTITY,
            output: Affine {
                center: 0.5,
                scale: 2.0,
            },
        },
    );
    path
}

fn load(path: &Path) -> LoadedModel {
    pipeline::format::load(path, None).unwrap()
}

/// The candidate's file, the live model and the candidate.
fn models(dir: &Path) -> (PathBuf, LoadedModel, LoadedModel) {
    let path = candidate(dir);
    let live = load(&manifest().join("models/sin-cos.safetensors"));
    let shadow = load(&path);
    (path, live, shadow)
}

/// What `model` gives for the sin-cos window starting at `seq`.
fn expected(model: &LoadedModel, seq: u64) -> Vec<f32> {
    let input: Vec<f32> = (seq..seq + W).map(input_at).collect();
    let mut out = vec![0f32; input.len()];
    let mut scratch = pipeline::fast::Scratch::default();
    model
        .fast
        .translate_into(&input, &mut out, &mut scratch)
        .unwrap();
    out
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

async fn send_truth(client: &Client, stream: &str, seqs: std::ops::Range<u64>) {
    send_truth_off(client, stream, seqs, 0.0).await
}

/// Truth `by` off the true curve over `seqs`.
async fn send_truth_off(client: &Client, stream: &str, seqs: std::ops::Range<u64>, by: f32) {
    for s in seqs {
        let msg = SamplesOut {
            seq: s,
            value: Some(truth_at(s) + by),
            values: None,
            ts: None,
        };
        client
            .publish(format!("truth.{stream}"), msg.encode().into())
            .await
            .unwrap();
    }
}

/// `$SRV.STATS` data of the one instance: the route's comparisons.
async fn route_stats(client: &Client) -> serde_json::Value {
    let reply = client
        .request("$SRV.STATS.pipeline", "".into())
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    pipeline::fleet::endpoint_data(&v, "translate").unwrap()["routes"][0].clone()
}

/// The windows a route's comparison (`live_vs_truth`, `shadow_vs_truth`)
/// is over now.
async fn compared_windows(client: &Client, which: &str) -> Option<u64> {
    route_stats(client).await["compare"][which]["windows"].as_u64()
}

/// What `read` says once it says `want` windows, or after two seconds.
async fn settled<F: Future<Output = Option<u64>>>(
    read: impl Fn() -> F,
    want: usize,
) -> Option<u64> {
    for _ in 0..100 {
        if read().await == Some(want as u64) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    read().await
}

/// A control request in JSON, as `nats req` sends it; the answer is JSON.
async fn control(client: &Client, subject: &str, body: serde_json::Value) -> serde_json::Value {
    let reply = client
        .request(subject.to_string(), body.to_string().into())
        .await
        .unwrap();
    assert!(
        reply.headers.is_none(),
        "{subject} refused: {:?}",
        reply.headers
    );
    serde_json::from_slice(&reply.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_is_published_and_compared_with_live_and_truth() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (candidate_path, live, shadow) = models(dir.path());
    let mut cfg = config();
    cfg.routes[0].shadow.model = Some(candidate_path.clone());
    cfg.routes[0].truth = Some("truth.>".into());
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut translated = client.subscribe("translated.>").await.unwrap();
    let mut shadowed = client.subscribe("shadow.>").await.unwrap();
    client.flush().await.unwrap();

    // Truth first for half the samples, after for the rest: both orders meet.
    let n = 60u64;
    send_truth(&client, "s0", 0..n / 2).await;
    send_curve(&client, "s0", 0..n).await;
    let windows = (n - W + 1) as usize;
    let live_out = collect(&mut translated, windows, translation).await;
    let shadow_out = collect(&mut shadowed, windows, translation).await;
    send_truth(&client, "s0", n / 2..n).await;

    for (k, (l, s)) in live_out.iter().zip(&shadow_out).enumerate() {
        assert_eq!((l.seq, s.seq), (k as u64, k as u64), "in seq order");
        assert_eq!(
            (l.model.as_str(), s.model.as_str()),
            (live.id.as_str(), shadow.id.as_str())
        );
        assert_eq!((l.stream.as_str(), s.stream.as_str()), ("s0", "s0"));
        assert!(max_diff(&l.values, &expected(&live, l.seq)) <= 1e-6);
        assert!(max_diff(&s.values, &expected(&shadow, s.seq)) <= 1e-5);
    }

    // The comparisons, from `$SRV.STATS`: shadow against live is exactly
    // the mean of (y + 0.5)² over the live outputs.
    let want: f64 = live_out
        .iter()
        .flat_map(|t| t.values.iter().map(|y| (*y as f64 + 0.5).powi(2)))
        .sum::<f64>()
        / (windows * W as usize) as f64;
    let mut stats = route_stats(&client).await;
    for _ in 0..100 {
        if stats["compare"]["live_vs_truth"]["windows"] == windows as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        stats = route_stats(&client).await;
    }
    let c = &stats["compare"];
    assert_eq!(stats["shadow"], shadow.id.as_str());
    assert_eq!(c["shadow_vs_live"]["windows"], windows as u64, "{stats}");
    assert_eq!(c["shadow_published"], windows as u64);
    let mse = |r: &serde_json::Value| r["sum_sq"].as_f64().unwrap() / r["values"].as_f64().unwrap();
    let got = mse(&c["shadow_vs_live"]);
    assert!((got - want).abs() <= 1e-6 * want, "{got} vs {want}");
    assert_eq!(c["live_vs_truth"]["windows"], windows as u64, "{stats}");
    assert_eq!(c["shadow_vs_truth"]["windows"], windows as u64);
    assert_eq!(c["unmatched"], 0);
    // The live model is the good one: its error against truth is small,
    // the candidate's is the offset it adds.
    let (live_mse, shadow_mse) = (mse(&c["live_vs_truth"]), mse(&c["shadow_vs_truth"]));
    assert!(live_mse < 1e-3, "{live_mse}");
    assert!(shadow_mse > 100.0 * live_mse, "{shadow_mse} vs {live_mse}");
    // Paired on windows that share no sample (every W-th), the shadow's
    // excess error is beyond chance.
    let p = &c["shadow_minus_live"];
    assert_eq!(
        p["windows"],
        ((windows - 1) / W as usize + 1) as u64,
        "{stats}"
    );
    let t = pipeline::stats::Paired::t(
        p["windows"].as_u64().unwrap(),
        p["sum"].as_f64().unwrap(),
        p["sum_sq"].as_f64().unwrap(),
    );
    assert!(
        t.is_some_and(|t| t > pipeline::eval::SURE_T),
        "{t:?} {stats}"
    );
    // Promoting the worse model is done, and the answer says it was worse.
    let answer = control(&client, "pipeline.promote", serde_json::json!({})).await;
    let warnings = answer["warnings"].to_string();
    assert!(
        warnings.contains("the shadow scored worse than the live model against the truth")
            && warnings.contains(&format!("on {windows} window(s)")),
        "{answer}"
    );
    // The promoted model's own comparison with the truth, on a new stream;
    // a promote refused (no shadow left) leaves it as it is.
    send_curve(&client, "s1", 0..n).await;
    send_truth(&client, "s1", 0..n).await;
    let compared = || compared_windows(&client, "live_vs_truth");
    assert_eq!(settled(compared, windows).await, Some(windows as u64));
    let refused = client
        .request("pipeline.promote", "{}".into())
        .await
        .unwrap();
    assert!(
        refused.headers.is_some(),
        "a promote with no shadow is refused"
    );
    assert_eq!(compared().await, Some(windows as u64), "kept");
    // Reloading the model that is live (SIGHUP with nothing changed) keeps
    // the running means too: nothing they compare has changed.
    let path = candidate_path.display().to_string();
    let changes = || {
        svc.stats
            .model_changes
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = changes();
    control(
        &client,
        "pipeline.reload",
        serde_json::json!({ "model": path }),
    )
    .await;
    assert_eq!(compared().await, Some(windows as u64), "same model");
    assert_eq!(changes(), before, "the same model again is no change");
    // The same shadow twice: one change, and the second keeps the
    // comparison gathered since the first (it was reset).
    let other = live.path.display().to_string();
    let shadow_of = |m: &str| serde_json::json!({ "model": m });
    control(&client, "pipeline.shadow", shadow_of(&other)).await;
    assert_eq!(changes(), before + 1);
    send_curve(&client, "s2", 0..n).await;
    send_truth(&client, "s2", 0..n).await;
    let shadowed = || compared_windows(&client, "shadow_vs_truth");
    assert_eq!(settled(shadowed, windows).await, Some(windows as u64));
    control(&client, "pipeline.shadow", shadow_of(&other)).await;
    assert_eq!(shadowed().await, Some(windows as u64), "same shadow: kept");
    assert_eq!(changes(), before + 1, "the same shadow again is no change");
    svc.shutdown().await;
}

/// Windows per (stream, seq) and the model that computed each, from
/// translations; panics on a window seen twice.
fn by_window(ts: &[Translation]) -> HashMap<(String, u64), (String, Vec<f32>)> {
    let mut out = HashMap::new();
    for t in ts {
        let old = out.insert(
            (t.stream.clone(), t.seq),
            (t.model.clone(), t.values.clone()),
        );
        assert!(
            old.is_none(),
            "window {}/{} published twice",
            t.stream,
            t.seq
        );
    }
    out
}

mod clocked;
mod deviation;
mod map;
mod promotion;
