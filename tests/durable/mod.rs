//! Durable mode acceptance: 50 streams × 400 samples published to
//! JetStream while the service (the real binary) is `kill -9`ed at three
//! random moments and restarted, or while the nats-server restarts. At the
//! end the output stream must hold every expected window exactly once, with
//! the values an uninterrupted run computes (`exactly_once`); and how units
//! take, hold, hand over and refuse their checkpoints (`units`, `handover`). This file
//! holds the helpers both use.

use crate::common;

mod clock;
mod exactly_once;
mod handover;
mod left_behind;
mod publish;
mod time_gaps;
mod units;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, message::PublishMessage};
use common::nats::{NatsServer, raw_pub};
use common::sample;
use futures::StreamExt;
use pipeline::wire::{ErrorEvent, ErrorKind, Translation};

const W: u64 = 24;

/// How many streams, and samples per stream, a test publishes.
#[derive(Clone, Copy)]
struct Load {
    streams: usize,
    samples: u64,
}

impl Load {
    fn expected(self) -> usize {
        self.streams * (self.samples - W + 1) as usize
    }
}

/// The acceptance load of the durable-mode issue.
const STANDARD: Load = Load {
    streams: 50,
    samples: 400,
};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn value(stream: usize, seq: u64) -> f32 {
    (0.07 * seq as f32 + 0.37 * stream as f32).sin()
}

/// The service binary in durable mode, logging to a file; killed with
/// SIGKILL on drop.
struct Service {
    child: Child,
    log: PathBuf,
}

impl Service {
    fn start(url: &str, dir: &std::path::Path, n: usize) -> Self {
        Self::named(url, dir, n, "test-instance")
    }

    fn named(url: &str, dir: &std::path::Path, n: usize, instance: &str) -> Self {
        Self::with_lease(url, dir, n, instance, "1s")
    }

    fn with_lease(url: &str, dir: &std::path::Path, n: usize, instance: &str, lease: &str) -> Self {
        Self::with_args(url, dir, n, &["--instance", instance, "--lease", lease])
    }

    /// The service with `args` besides the usual ones (`--instance` and
    /// `--lease` default to `test-instance` and `1s`).
    fn with_args(url: &str, dir: &std::path::Path, n: usize, args: &[&str]) -> Self {
        let log = dir.join(format!("serve-{n}.log"));
        let given = |flag: &str| args.contains(&flag);
        let child = Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(["serve", "--pair", "sin-cos", "--durable"])
            .args(["--checkpoint-interval", "50ms"])
            .args(if given("--instance") {
                &[][..]
            } else {
                &["--instance", "test-instance"]
            })
            .args(if given("--lease") {
                &[][..]
            } else {
                &["--lease", "1s"]
            })
            .args(args)
            .arg("--models-dir")
            .arg(manifest().join("models"))
            .args(["--nats", url])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Service { child, log }
    }

    /// `kill -9`.
    fn kill(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log.clone()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kill <sig>` (`-STOP`, `-TERM`, …).
fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// Whether `needle` appears in the log within `within`.
async fn wait_for_line(log: &std::path::Path, needle: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains(needle)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn logs(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("--- {}\n{}", p.display(), tail.join("\n"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn jetstream_client(url: &str) -> jetstream::Context {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(url)
        .await
        .unwrap();
    jetstream::new(client)
}

/// Waits until the service has created the input stream.
async fn wait_for_stream(js: &jetstream::Context, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while js.get_stream(name).await.is_err() {
        assert!(Instant::now() < deadline, "stream {name} never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publishes every sample, one round of all streams per 10 ms, each with a
/// `Nats-Msg-Id` so that a retried publish cannot store a sample twice.
/// Failed rounds (server restarting) are retried until stored.
async fn publish_all(js: jetstream::Context, load: Load) {
    publish_seqs(js, load, 0..load.samples).await;
}

/// [`publish_all`] for the samples `seqs` of every stream.
async fn publish_seqs(js: jetstream::Context, load: Load, seqs: std::ops::Range<u64>) {
    for seq in seqs {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut acks = Vec::new();
            let mut failed = false;
            for s in 0..load.streams {
                let body = sample(seq, value(s, seq));
                let msg = PublishMessage::build()
                    .payload(body.into())
                    .message_id(format!("s{s}:{seq}"));
                match js.send_publish(format!("samples.s{s}"), msg).await {
                    Ok(ack) => acks.push(ack.into_future()),
                    Err(_) => failed = true,
                }
            }
            let stored = futures::future::join_all(acks).await;
            if !failed && stored.iter().all(Result::is_ok) {
                break;
            }
            assert!(Instant::now() < deadline, "cannot publish seq {seq}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Messages in the output stream now.
async fn stored(js: &jetstream::Context) -> u64 {
    match js.get_stream("TRANSLATED").await {
        Ok(mut out) => out.info().await.map_or(0, |i| i.state.messages),
        Err(_) => 0,
    }
}

/// Waits until the output stream holds at least `n` messages; on timeout,
/// fails showing `logs_of`.
async fn wait_for_stored(js: &jetstream::Context, n: u64, within: Duration, logs_of: &[PathBuf]) {
    let deadline = Instant::now() + within;
    loop {
        let have = stored(js).await;
        if have >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "TRANSLATED holds {have} of {n} windows\n{}",
            logs(logs_of)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [`read_stored`] of the windows `load` makes.
async fn read_outputs(
    js: &jetstream::Context,
    load: Load,
    logs_of: &[PathBuf],
) -> Vec<async_nats::Message> {
    read_stored(js, load.expected(), logs_of).await
}

/// Waits for the output stream to hold `expected` messages (and no more
/// after a pause), then reads them all.
async fn read_stored(
    js: &jetstream::Context,
    expected: usize,
    logs_of: &[PathBuf],
) -> Vec<async_nats::Message> {
    wait_for_stored(js, expected as u64, Duration::from_secs(90), logs_of).await;
    let mut out = js.get_stream("TRANSLATED").await.unwrap();
    // Late replays would show up now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n = out.info().await.unwrap().state.messages;
    assert_eq!(n, expected as u64, "{}", logs(logs_of));
    let reader = out
        .create_consumer(consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = reader.messages().await.unwrap();
    let mut got = Vec::with_capacity(expected);
    while got.len() < expected {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("reading TRANSLATED timed out")
            .unwrap()
            .unwrap();
        got.push(m.message);
    }
    got
}

/// Every expected window exactly once, with the `Nats-Msg-Id` the service
/// promises and the values of an uninterrupted run (the fast path on the
/// same windows, in one batch).
fn check_exactly_once(outputs: &[async_nats::Message], load: Load) {
    let model =
        pipeline::format::load(&manifest().join("models/sin-cos.safetensors"), None).unwrap();
    let mut windows = Vec::new();
    let mut keys = Vec::new();
    for s in 0..load.streams {
        for first in 0..=load.samples - W {
            keys.push((format!("s{s}"), first));
            windows.extend((first..first + W).map(|q| value(s, q)));
        }
    }
    let mut want = vec![0f32; windows.len()];
    let mut scratch = pipeline::fast::Scratch::default();
    model
        .fast
        .translate_into(&windows, &mut want, &mut scratch)
        .unwrap();
    let want: HashMap<(String, u64), &[f32]> = keys
        .into_iter()
        .zip(want.chunks_exact(W as usize))
        .collect();

    let mut seen: HashMap<(String, u64), usize> = HashMap::new();
    let mut worst = 0f32;
    for m in outputs {
        let t = Translation::decode(&m.payload).unwrap();
        assert_eq!(m.subject.as_str(), format!("translated.{}", t.stream));
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.to_string());
        // The output subject and seq: the same whichever model computed it.
        assert_eq!(id, Some(format!("{}:{}", m.subject, t.seq)));
        assert_eq!(t.model, model.id);
        let key = (t.stream.clone(), t.seq);
        let expected = want
            .get(&key)
            .unwrap_or_else(|| panic!("unexpected window {key:?}"));
        for (a, b) in t.values.iter().zip(expected.iter()) {
            worst = worst.max((a - b).abs());
        }
        *seen.entry(key).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "windows published twice: {:?}",
        &twice[..twice.len().min(5)]
    );
    assert_eq!(seen.len(), load.expected(), "windows missing");
    // The same model on the same windows: only batch composition differs.
    assert!(
        worst <= 1e-6,
        "values differ from an uninterrupted run by {worst}"
    );
    eprintln!(
        "{} windows exactly once; largest difference from an uninterrupted run {worst:e}",
        load.expected()
    );
}

/// A random generator seeded from the clock (printed, and fixed with
/// `DURABLE_TEST_SEED`), for the kill moments.
fn seed() -> u64 {
    let seed = std::env::var("DURABLE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("DURABLE_TEST_SEED={seed}");
    seed
}

/// What each test starts from: a JetStream-enabled nats-server, a folder
/// for the services' logs, and a JetStream client.
struct Bed {
    server: NatsServer,
    dir: tempfile::TempDir,
    url: String,
    js: jetstream::Context,
}

impl Bed {
    async fn new() -> Self {
        let server = NatsServer::start();
        let url = server.url();
        let js = jetstream_client(&url).await;
        let dir = tempfile::tempdir().unwrap();
        Bed {
            server,
            dir,
            url,
            js,
        }
    }

    /// A plain NATS subscription on the output subjects, in place before
    /// the service starts.
    async fn plain_output(&self) -> (async_nats::Client, async_nats::Subscriber) {
        self.subscribed("translated.>").await
    }

    /// A client subscribed to `subject`, in place before the service starts.
    async fn subscribed(&self, subject: &str) -> (async_nats::Client, async_nats::Subscriber) {
        let plain = async_nats::connect(&self.url).await.unwrap();
        let sub = plain.subscribe(subject.to_string()).await.unwrap();
        plain.flush().await.unwrap();
        (plain, sub)
    }

    /// The output stream as an operator (or an earlier version) may have
    /// created it: without `allow_batched`.
    async fn output_without_batching(&self) {
        (self.js.create_stream(jetstream::stream::Config {
            name: "TRANSLATED".into(),
            subjects: vec!["translated.>".into()],
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        }))
        .await
        .unwrap();
    }

    /// Instance "owner" (log 0) once it has started its unit, and instance
    /// "standby" (log 1) once it stands by, both with `lease`.
    async fn owner_and_standby(&self, lease: &str) -> (Service, Service) {
        let (url, dir) = (&self.url, self.dir.path());
        let owner = Service::with_lease(url, dir, 0, "owner", lease);
        wait_for_stream(&self.js, "SAMPLES").await;
        let started = "starting: no checkpoint yet";
        assert!(
            wait_for_line(&owner.log, started, Duration::from_secs(20)).await,
            "{}",
            logs(std::slice::from_ref(&owner.log))
        );
        let standby = Service::with_lease(url, dir, 1, "standby", lease);
        assert!(
            wait_for_line(&standby.log, "standing by", Duration::from_secs(20)).await,
            "{}",
            logs(std::slice::from_ref(&standby.log))
        );
        (owner, standby)
    }

    /// The service as instance `name` (log `n`), once it has created the
    /// input stream.
    async fn serve(&self, n: usize, name: &str) -> Service {
        let svc = Service::named(&self.url, self.dir.path(), n, name);
        wait_for_stream(&self.js, "SAMPLES").await;
        svc
    }
}

/// Waits until the `i`-th process of a run can be succeeded by one that
/// resumes: the first has checkpointed input (stream_seq > 0), a later one
/// has resumed itself (30 s at most; then the caller's checks say what).
async fn resumable(js: &jetstream::Context, log: &std::path::Path, i: usize) {
    if i > 0 {
        wait_for_line(log, "resuming from checkpoint", Duration::from_secs(30)).await;
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let head = async {
            let kv = js.get_key_value("PIPELINE_CHECKPOINTS").await.ok()?;
            let head = kv.get("sin-cos.all").await.ok()??;
            let head: serde_json::Value = rmp_serde::from_slice(&head).ok()?;
            head["stream_seq"].as_u64()
        };
        if head.await.is_some_and(|seq| seq > 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes `load` while killing the service with SIGKILL at each of
/// `moments` (ms from the start; with `after_resume`, or once the process
/// can be resumed from, if later) and starting a new one at once; then
/// checks every window stored exactly once with the values of an
/// uninterrupted run. Returns how many restarted processes logged that
/// they resumed from a checkpoint, and every process's log (read before
/// the folder holding them is removed).
async fn kill_9_at(load: Load, moments: &[u64], after_resume: bool) -> (usize, Vec<String>) {
    let bed = Bed::new().await;
    let (url, dir, js) = (&bed.url, bed.dir.path(), &bed.js);
    let mut svc = bed.serve(0, "test-instance").await;
    let publisher = tokio::spawn(publish_all(js.clone(), load));
    let started = Instant::now();
    let mut logs_of = Vec::new();
    let mut killed_at = Vec::new();
    for (i, at) in moments.iter().enumerate() {
        tokio::time::sleep_until((started + Duration::from_millis(*at)).into()).await;
        // With `after_resume`, not before the process has what its
        // successor resumes from (a slow start on a loaded machine pushed
        // a kill before it); without, a kill may come while it loads.
        if after_resume {
            resumable(js, &svc.log, i).await;
        }
        assert!(
            !publisher.is_finished(),
            "kill {i} came after publishing ended: lengthen the load"
        );
        killed_at.push(started.elapsed().as_millis());
        logs_of.push(svc.kill());
        svc = Service::start(url, dir, i + 1);
    }
    eprintln!("killed at {killed_at:?} ms (planned {moments:?})");
    publisher.await.unwrap();
    logs_of.push(svc.log.clone());
    let outputs = read_outputs(js, load, &logs_of).await;
    check_exactly_once(&outputs, load);
    let texts: Vec<String> = logs_of
        .iter()
        .map(|log| std::fs::read_to_string(log).unwrap_or_default())
        .collect();
    let resumed = texts[1..]
        .iter()
        .filter(|text| text.contains("resuming from checkpoint"))
        .count();
    (resumed, texts)
}
