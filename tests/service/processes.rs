//! The service and the benches as real processes, and a Python client.

use super::*;

/// The Python interpreter with nats-py and msgpack (`make test` makes .venv).
pub(super) fn python() -> PathBuf {
    if let Ok(p) = std::env::var("PIPELINE_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = manifest().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no .venv: run `make test`, which installs nats-py and msgpack"
    );
    venv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_interoperates() {
    let server = NatsServer::start();
    let svc = Svc::start(&server.url(), config()).await;
    let out = tokio::process::Command::new(python())
        .arg(manifest().join("tests/interop/client.py"))
        .arg(server.url())
        .arg(manifest().join("proto/examples"))
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("python client timed out")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["translations"], 17);
    assert_eq!(v["examples"], 6);
    let s = svc.stats.snapshot();
    assert_eq!(s.errors["malformed"], 1);
    assert_eq!(s.samples_in, 41);
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_process_translates_and_exits_cleanly_on_sigterm() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let server = NatsServer::start();
    let mut child = spawn_serve(&server.url(), &[]);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    wait_for_line(&mut lines, "serving").await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("translated.p").await.unwrap();
    client.flush().await.unwrap();
    wait_ready(&client).await;
    send_curve(&client, "p", 0..30).await;
    client.flush().await.unwrap();
    let got = collect(&mut sub, 7, translation).await;
    assert_eq!(got[6].seq, 6);
    let pid = child.id().unwrap().to_string();
    let kill = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &pid])
            .status();
        assert!(status.unwrap().success());
    };
    // SIGHUP reloads the model from its file (and says so).
    kill("-HUP");
    wait_for_line(&mut lines, "SIGHUP: models reloaded").await;
    // Drain the rest of stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    kill("-TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

/// The server goes away, then the service is asked to stop: it stops (its
/// drain's round trip and its last flush are bounded, where a flush would
/// wait for a reconnection forever), exits non-zero and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_on_sigterm_when_its_server_is_gone() {
    stops_without_its_server(false).await;
}

/// The same in durable mode, where the unit is also retrying its
/// checkpoint (a JetStream request: bounded by the client's timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_serve_stops_on_sigterm_when_its_server_is_gone() {
    stops_without_its_server(true).await;
}

async fn stops_without_its_server(durable: bool) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let server = NatsServer::start();
    let durable: &[&str] = if durable { &["--durable"] } else { &[] };
    let mut child = spawn_serve(&server.url(), durable);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // Connected and serving, in either order: `serving` can come while the
    // client is still connecting (core mode), and a service that never
    // reached a server has nothing to flush and stops with 0 (a busy CI
    // machine showed it); in durable mode `serving` comes after setup.
    let mut waiting = vec!["event: connected", "serving"];
    while !waiting.is_empty() {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no {waiting:?} in the log within 20 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("the process exited before logging {waiting:?}"));
        waiting.retain(|needle| !line.contains(needle));
    }
    drop(server);
    let log = tokio::spawn(async move {
        let mut all = String::new();
        while let Ok(Some(l)) = lines.next_line().await {
            all.push_str(&l);
            all.push('\n');
        }
        all
    });
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status();
    assert!(status.unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("still running 30 s after SIGTERM")
        .unwrap();
    let log = log.await.unwrap();
    // Stopped (above), and a failed exit says why. Nothing was published,
    // so a client that had already seen the server go and held nothing
    // to flush stops cleanly: exit 0 (one local `make test` run of many
    // showed it, the log ending at "event: disconnected").
    if !status.success() {
        assert!(
            log.contains("flush on shutdown: no server within 5 s"),
            "exit status {status}\n{log}"
        );
    } else {
        assert!(!log.contains("may be lost"), "{log}");
    }
}

#[test]
fn serve_refuses_a_bad_model_file_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a model").unwrap();
    // No server needed: the model is checked before connecting is of any use.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args([
            "serve",
            "--pair",
            "sin-cos",
            "--nats",
            "nats://127.0.0.1:1",
            "--model",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid model file") && err.contains("not a safetensors file"),
        "{err}"
    );
}

/// `bench --latency`: one JSON line per (load, batcher), Poisson arrivals
/// after each stream's first window is filled, nothing lost, ordered
/// percentiles, and the two batchers in the order asked.
#[test]
fn latency_bench_reports_each_load_through_each_batcher() {
    let server = NatsServer::start();
    let points = common::run_json_lines(
        std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(["bench", "--latency", "--nats", &server.url()])
            .args([
                "--streams",
                "4",
                "--loads",
                "0.01",
                "--compare-max-wait",
                "1ms",
            ])
            .args([
                "--duration",
                "1s",
                "--json",
                "--threads",
                "1",
                "--models-dir",
            ])
            .arg(manifest().join("models"))
            .env("RUST_LOG", "warn"),
    );
    assert_eq!(points.len(), 2, "{points:?}");
    assert_eq!(points[0]["max_wait_us"], 0.0);
    assert_eq!(points[1]["max_wait_us"], 1000.0);
    for p in &points {
        assert_eq!(p["loss"], 0, "{p}");
        assert_eq!(p["load"], 0.01);
        let q = |k: &str| p[k].as_f64().unwrap();
        assert!(q("windows_per_sec") > 0.0, "{p}");
        assert!(
            q("p50_us") <= q("p99_us") && q("p99_us") <= q("p999_us"),
            "{p}"
        );
        assert!(q("p999_us") <= q("max_us"), "{p}");
    }
}

/// `pipeline bench ARGS --json` against `nats` with the shipped models: its
/// JSON report, after checking that it succeeded.
fn bench_json(nats: &str, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["bench", "--nats", nats, "--json"])
        .args(args)
        .arg("--models-dir")
        .arg(manifest().join("models"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    common::succeeded(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn end_to_end_bench_loses_nothing_at_a_modest_rate() {
    let server = NatsServer::start();
    let args = ["--streams", "20", "--rate", "100", "--duration", "1s"];
    let r = bench_json(&server.url(), &args);
    assert_eq!(r["path"], "e2e");
    assert_eq!(r["mode"], "core");
    assert_eq!(r["loss"], 0, "{r}");
    assert!(r["windows_received"].as_u64().unwrap() >= 20 * 50, "{r}");
    assert_eq!(r["windows_received"], r["windows_expected"]);
    for key in ["windows_per_sec", "p50_us", "p99_us", "threads", "batch"] {
        assert!(r[key].is_number(), "{key} in {r}");
    }
    // The model alone, measured before the run (the ratio's base) and after
    // it (the machine's drift): both real rates.
    for key in [
        "model_only_windows_per_sec",
        "model_only_after_windows_per_sec",
    ] {
        assert!(r[key].as_f64().is_some_and(|m| m > 100.0), "{key} in {r}");
    }
    // No window exists before a stream's 24th sample (0.23 s here): the
    // steady rate leaves that out, the whole-run rate does not.
    let rate = |k: &str| r[k].as_f64().unwrap();
    assert!(
        rate("steady_windows_per_sec") > rate("windows_per_sec"),
        "{r}"
    );
}

/// Durable mode through JetStream: every sample acknowledged (several
/// thousand outstanding at a time), every window translated and stored once.
/// Two seconds: 1 s made 27 windows a stream at best against the 25 asked,
/// and a host busy with a build sent 5 samples a stream in it.
#[test]
fn durable_end_to_end_bench_stores_every_window() {
    let server = NatsServer::start();
    let args = [
        "--durable",
        "--streams",
        "200",
        "--rate",
        "50",
        "--duration",
        "2s",
    ];
    let r = bench_json(&server.url(), &args);
    assert_eq!(r["mode"], "durable", "{r}");
    assert_eq!(r["loss"], 0, "{r}");
    assert!(r["windows_expected"].as_u64().unwrap() >= 200 * 25, "{r}");
    assert_eq!(r["windows_received"], r["windows_expected"], "{r}");
    assert_eq!(r["windows_stored"], r["windows_expected"], "{r}");
}

/// `pipeline serve --pair sin-cos` as a process of its own against `nats`,
/// with the shipped models, its log on a pipe, killed if the test drops it.
pub(super) fn spawn_serve(nats: &str, extra: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["serve", "--pair", "sin-cos", "--nats", nats])
        .args(extra)
        .arg("--models-dir")
        .arg(manifest().join("models"))
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Reads a child's log until a line holds `needle` (20 s at most).
async fn wait_for_line<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    needle: &str,
) {
    let found = async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if l.contains(needle) {
                return;
            }
        }
        panic!("the process exited before logging {needle:?}");
    };
    tokio::time::timeout(Duration::from_secs(20), found)
        .await
        .unwrap_or_else(|_| panic!("no {needle:?} in the log within 20 s"));
}
