//! Running `pipeline serve` in-process against a real nats-server, and the
//! sin-cos fixtures the service tests share.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use futures::StreamExt;
use pipeline::config::{RouteConfig, ServeConfig};
use pipeline::pairs;
use pipeline::stats::Stats;
use pipeline::wire::{ErrorEvent, SamplesOut, Translation};
use tokio::sync::oneshot;

pub const W: u64 = 24;

pub fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn route(pair: &str) -> RouteConfig {
    RouteConfig::new(pair)
}

pub fn config() -> ServeConfig {
    let mut c = ServeConfig::with_routes(vec![route("sin-cos")]);
    c.models_dir = manifest().join("models");
    c
}

pub struct Svc {
    pub stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<pipeline::Result<()>>,
    pub stats: Arc<Stats>,
}

impl Svc {
    pub async fn start(url: &str, cfg: ServeConfig) -> Svc {
        let conn = pipeline::service::connect(url, false).await.unwrap();
        let stats = Arc::new(Stats::default());
        let (stop, rx) = oneshot::channel::<()>();
        let mut task = tokio::spawn(pipeline::service::run(conn, cfg, stats.clone(), async {
            let _ = rx.await;
        }));
        let probe = async_nats::connect(url).await.unwrap();
        // A service that stops at once (a configuration it refuses) says why.
        tokio::select! {
            () = wait_ready(&probe) => {}
            ended = &mut task => panic!("the service stopped before it was ready: {ended:?}"),
        }
        Svc {
            stop: Some(stop),
            task,
            stats,
        }
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("service did not stop")
            .unwrap()
            .unwrap();
    }
}

/// Ready when `$SRV.PING.pipeline` answers: the service registers after
/// every route's subscription, so input is being listened to.
pub async fn wait_ready(client: &Client) {
    for _ in 0..200 {
        let r = tokio::time::timeout(
            Duration::from_millis(200),
            client.request("$SRV.PING.pipeline", "".into()),
        )
        .await;
        if let Ok(Ok(_)) = r {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("service never became ready");
}

/// The `translate` endpoint's data in an instance's `$SRV.STATS` (the
/// service's counters and each route's, as `pipeline status` reads them).
pub async fn stats_data(client: &Client) -> serde_json::Value {
    let reply = client
        .request("$SRV.STATS.pipeline", "".into())
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    pipeline::fleet::endpoint_data(&v, "translate")
        .unwrap()
        .clone()
}

pub fn input_at(seq: u64) -> f32 {
    let p = pairs::find("sin-cos").unwrap();
    (p.input)(p.stream_x(seq)) as f32
}

pub fn truth_at(seq: u64) -> f32 {
    let p = pairs::find("sin-cos").unwrap();
    (p.output)(p.stream_x(seq)) as f32
}

pub async fn send(client: &Client, stream: &str, seq: u64, values: &[f32]) {
    let msg = if values.len() == 1 {
        SamplesOut {
            seq,
            value: Some(values[0]),
            values: None,
            ts: Some(pipeline::wire::now_ns()),
        }
    } else {
        SamplesOut {
            seq,
            value: None,
            values: Some(values),
            ts: Some(pipeline::wire::now_ns()),
        }
    };
    client
        .publish(format!("samples.{stream}"), msg.encode().into())
        .await
        .unwrap();
}

/// Sends samples seq..seq+n of the sin curve, one per message.
pub async fn send_curve(client: &Client, stream: &str, seqs: std::ops::Range<u64>) {
    for s in seqs {
        send(client, stream, s, &[input_at(s)]).await;
    }
}

pub async fn collect<T>(
    sub: &mut async_nats::Subscriber,
    n: usize,
    decode: impl Fn(&[u8]) -> T,
) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
            Ok(Some(m)) => out.push(decode(&m.payload)),
            _ => panic!("timed out with {} of {n} messages", out.len()),
        }
    }
    out
}

/// Nothing more arrives within `wait`.
pub async fn assert_quiet(sub: &mut async_nats::Subscriber, wait: Duration) {
    if let Ok(Some(m)) = tokio::time::timeout(wait, sub.next()).await {
        panic!("unexpected message on {}: {:?}", m.subject, m.payload);
    }
}

pub fn translation(b: &[u8]) -> Translation {
    Translation::decode(b).unwrap()
}

pub fn event(b: &[u8]) -> ErrorEvent {
    ErrorEvent::decode(b).unwrap()
}

/// Checks a NATS service error reply: its code, and that its text holds
/// `needle` (and is not empty).
pub fn assert_service_error(reply: &async_nats::Message, code: &str, needle: &str) {
    let h = reply.headers.as_ref().expect("error headers");
    assert_eq!(
        h.get("Nats-Service-Error-Code").unwrap().as_str(),
        code,
        "{h:?}"
    );
    let text = h.get("Nats-Service-Error").unwrap().as_str();
    assert!(!text.is_empty() && text.contains(needle), "{h:?}");
}

/// Runs `pipeline <args> --nats <url>`: its exit status, its stdout
/// and its stderr.
pub async fn cli(url: &str, args: Vec<String>) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(&args)
        .args(["--nats", url])
        .env("RUST_LOG", "warn")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code(), stdout, stderr)
}

/// `tail` of `subject` until `count` translations (20 s at most), running
/// beside the test, subscribed by the time this returns.
pub async fn tail_in_background(
    client: &Client,
    subject: &str,
    count: u64,
) -> tokio::task::JoinHandle<pipeline::Result<pipeline::tools::TailSummary>> {
    let opts = pipeline::tools::TailOptions {
        subject: subject.into(),
        count: Some(count),
        duration: Some(std::time::Duration::from_secs(20)),
        truth: false,
        recording: None,
        by_stream: Default::default(),
        print_every: 0,
        plot: None,
        y_label: None,
    };
    let client = client.clone();
    let tail =
        tokio::spawn(
            async move { pipeline::tools::tail(&client, &opts, std::future::pending()).await },
        );
    // (Time for it to subscribe.)
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    tail
}

/// A copy of the sin-cos model whose training recording was read every
/// `step_s` seconds, a value held at most `hold_s` (`retrain --resample`).
pub fn resampled(dir: &std::path::Path, step_s: f64, hold_s: f64) -> PathBuf {
    let model = dir.join(format!("resampled-{step_s}.safetensors"));
    super::metrics_copy(
        &manifest().join("models/sin-cos.safetensors"),
        &model,
        |m| {
            m["time_step_s"] = serde_json::json!(step_s);
            m["reading"] = serde_json::json!({ "resample_s": step_s, "max_gap_s": hold_s });
        },
    );
    model
}
