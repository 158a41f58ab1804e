//! Shadow models and promotion against a real nats-server: a candidate
//! computed on the same windows publishes to `shadow.<key>`, the route
//! compares it with the live model and with a truth channel, and promoting
//! it swaps it in with no window lost or computed twice, in core and in
//! durable (exactly-once) mode.

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
    for s in seqs {
        let msg = SamplesOut {
            seq: s,
            value: Some(truth_at(s)),
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

/// Every window once, computed whole by one model, the switch happening
/// once per stream: old model before, new model after, never back.
fn check_promotion(
    got: &HashMap<(String, u64), (String, Vec<f32>)>,
    streams: &[&str],
    seqs: u64,
    old: &LoadedModel,
    new: &LoadedModel,
    new_from: u64,
) {
    for s in streams {
        let mut switched = false;
        for seq in 0..seqs - W + 1 {
            let (model, values) = got
                .get(&(s.to_string(), seq))
                .unwrap_or_else(|| panic!("window {s}/{seq} lost"));
            let m = if *model == new.id {
                switched = true;
                new
            } else {
                assert_eq!(*model, old.id, "unknown model");
                assert!(
                    !switched,
                    "{s}/{seq}: back to the old model after the new one"
                );
                assert!(
                    seq < new_from,
                    "{s}/{seq}: the old model after the promotion answered"
                );
                old
            };
            assert!(max_diff(values, &expected(m, seq)) <= 1e-5, "{s}/{seq}");
        }
        assert!(switched, "{s}: never switched");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_swaps_the_shadow_in_without_losing_or_doubling_a_window() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (candidate_path, live, shadow) = models(dir.path());
    let mut cfg = config();
    cfg.compute_threads = 2;
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut translated = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();

    // No shadow yet: promote is refused, and says why.
    let reply = client
        .request("pipeline.promote", "{}".into())
        .await
        .unwrap();
    assert_service_error(&reply, "422", "no shadow");
    // The live model as its own shadow, and its promotion: done, and said.
    let itself = serde_json::json!({ "pair": "sin-cos", "model": live.path });
    let answer = control(&client, "pipeline.shadow", itself).await;
    assert_eq!(answer["shadow"], live.id.as_str());
    let said = answer["warnings"].to_string();
    assert!(
        said.contains("serves live") && said.contains("compared with itself"),
        "{answer}"
    );
    let answer = control(&client, "pipeline.promote", serde_json::json!({})).await;
    assert_eq!(answer["live"], live.id.as_str());
    assert!(
        answer["warnings"].to_string().contains("nothing changes"),
        "{answer}"
    );
    // Shadow it (MessagePack request, as the Rust and Python clients send).
    let req = rmp_serde::to_vec_named(&serde_json::json!({
        "pair": "sin-cos", "model": candidate_path,
    }))
    .unwrap();
    let reply = client.request("pipeline.shadow", req.into()).await.unwrap();
    assert!(reply.headers.is_none(), "{:?}", reply.headers);
    let answer: serde_json::Value = rmp_serde::from_slice(&reply.payload).unwrap();
    assert_eq!(answer["shadow"], shadow.id.as_str());
    assert_eq!(answer["live"], live.id.as_str());

    // Three streams under way, promotion in the middle of them.
    let streams = ["a", "b", "c"];
    let (half, n) = (50u64, 100u64);
    let mut all = Vec::new();
    for seq in 0..half {
        for s in streams {
            send(&client, s, seq, &[input_at(seq)]).await;
        }
    }
    let answer = control(&client, "pipeline.promote", serde_json::json!({})).await;
    assert_eq!(answer["live"], shadow.id.as_str());
    assert_eq!(answer["shadow"], serde_json::Value::Null);
    for seq in half..n {
        for s in streams {
            send(&client, s, seq, &[input_at(seq)]).await;
        }
    }
    let windows = streams.len() * (n - W + 1) as usize;
    all.extend(collect(&mut translated, windows, translation).await);
    assert_quiet(&mut translated, Duration::from_millis(300)).await;
    // Windows completed by samples sent after the promotion's answer are
    // the new model's.
    check_promotion(&by_window(&all), &streams, n, &live, &shadow, half - W + 1);
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_mode_stays_exactly_once_across_a_promotion() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (candidate_path, live, shadow) = models(dir.path());
    let mut cfg = config();
    cfg.durable = Some(Default::default());
    cfg.routes[0].shadow.model = Some(candidate_path);
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let publish = |stream: &'static str, seq: u64| {
        let js = js.clone();
        async move {
            let msg = SamplesOut {
                seq,
                value: Some(input_at(seq)),
                values: None,
                ts: None,
            };
            js.send_publish(
                format!("samples.{stream}"),
                async_nats::jetstream::message::PublishMessage::build()
                    .payload(msg.encode().into())
                    .message_id(format!("{stream}:{seq}")),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
    };
    let streams = ["a", "b"];
    let (half, n) = (40u64, 80u64);
    for seq in 0..half {
        for s in streams {
            publish(s, seq).await;
        }
    }
    control(
        &client,
        "pipeline.promote",
        serde_json::json!({"pair": "sin-cos"}),
    )
    .await;
    for seq in half..n {
        for s in streams {
            publish(s, seq).await;
        }
    }
    // Read the output stream whole: each window stored once, under an id
    // that does not name the model.
    let windows = streams.len() * (n - W + 1) as usize;
    let consumer = js
        .get_stream("TRANSLATED")
        .await
        .unwrap()
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut got = Vec::new();
    while got.len() < windows {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .unwrap_or_else(|_| panic!("{} of {windows} windows stored", got.len()))
            .unwrap()
            .unwrap();
        let t = Translation::decode(&m.payload).unwrap();
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .unwrap();
        assert_eq!(id.as_str(), format!("{}:{}", m.subject, t.seq));
        got.push(t);
    }
    check_promotion(&by_window(&got), &streams, n, &live, &shadow, half - W + 1);
    let info = js
        .get_stream("TRANSLATED")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.state.messages, windows as u64, "nothing more stored");
    svc.shutdown().await;
}

/// `pipeline shadow|promote|reload|status` (the real binary) reach every
/// instance: two services on one server each answer once and each swaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_commands_reach_every_instance() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (candidate_path, live, shadow) = models(dir.path());
    let a = Svc::start(&server.url(), config()).await;
    let b = Svc::start(&server.url(), config()).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let url = server.url();
    let cli = |args: Vec<String>| cli(&url, args);
    // The live and shadow ids of every instance, from `pipeline status`.
    let status = || async {
        let (ok, out, err) = cli(vec!["status".into(), "--json".into()]).await;
        assert_eq!(ok, Some(0), "{err}");
        let mut ids: Vec<(String, String)> = out
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                // Every endpoint's data names the models (in no fixed order).
                let r = &v["endpoints"][0]["data"]["routes"][0];
                (r["model"].to_string(), r["shadow"].to_string())
            })
            .collect();
        ids.sort();
        ids
    };
    let q = |s: &str| format!("\"{s}\"");
    let both = |l: &str, s: &str| vec![(l.to_string(), s.to_string()); 2];

    let (ok, out, err) = cli(vec![
        "shadow".into(),
        "--model".into(),
        candidate_path.display().to_string(),
    ])
    .await;
    assert_eq!(ok, Some(0), "{out}{err}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok")).count(),
        2,
        "{out}"
    );
    assert_eq!(status().await, both(&q(&live.id), &q(&shadow.id)));

    let (ok, out, err) = cli(vec!["promote".into()]).await;
    assert_eq!(ok, Some(0), "{out}{err}");
    assert_eq!(status().await, both(&q(&shadow.id), "null"));

    // Promote again: nothing to promote anywhere, so it fails, saying why.
    let (ok, out, err) = cli(vec!["promote".into()]).await;
    assert_eq!(ok, Some(78), "every instance refused");
    assert_eq!(out.matches("no shadow").count(), 2, "{out}");
    assert!(err.contains("2 of 2"), "{err}");

    let (ok, out, err) = cli(vec!["reload".into()]).await;
    assert_eq!(ok, Some(0), "{out}{err}");
    assert_eq!(status().await, both(&q(&live.id), "null"));

    // Translations still go to one instance only.
    let window: Vec<f64> = (0..W).map(|s| input_at(s) as f64).collect();
    let req = rmp_serde::to_vec_named(&serde_json::json!({ "values": window })).unwrap();
    let replies = pipeline::fleet::gather(
        &client,
        "pipeline.translate",
        req,
        usize::MAX,
        Duration::from_millis(500),
    )
    .await
    .unwrap();
    assert_eq!(replies.len(), 1);
    a.shutdown().await;
    b.shutdown().await;
}
