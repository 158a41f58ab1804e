//! `/metrics`, `/healthz`, `/readyz` over HTTP.

use super::*;

fn http_get(addr: &str, path: &str) -> (String, String) {
    let (head, body) = http_get_with(addr, path, "");
    (head.lines().next().unwrap().to_string(), body)
}

/// A GET with extra header lines; the whole response head and the body.
fn http_get_with(addr: &str, path: &str, headers: &str) -> (String, String) {
    http_request(addr, "GET", path, headers)
}

fn http_request(addr: &str, method: &str, path: &str, headers: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

/// A service with `/metrics` at `bind`, a client, and the address its
/// `$SRV.INFO` metadata gives for scraping it.
async fn serve_metrics(server: &NatsServer, bind: &str) -> (Svc, async_nats::Client, String) {
    let mut cfg = config();
    cfg.metrics_addr = Some(bind.into());
    serve_metrics_of(server, cfg).await
}

/// The service of `cfg` (whose `metrics_addr` is set), a client, and the
/// address its metrics are served at.
async fn serve_metrics_of(
    server: &NatsServer,
    cfg: pipeline::config::ServeConfig,
) -> (Svc, async_nats::Client, String) {
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let info = client
        .request("$SRV.INFO.pipeline", "".into())
        .await
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.payload).unwrap();
    let addr = info["metadata"]["metrics_addr"]
        .as_str()
        .unwrap_or_else(|| panic!("no metrics_addr in {info}"))
        .to_string();
    (svc, client, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_and_health_checks() {
    let mut server = NatsServer::start();
    // Port 0: the service binds a free port and says which in its
    // `$SRV.INFO` metadata (no port picked here and released for it).
    let (svc, client, addr) = serve_metrics(&server, "127.0.0.1:0").await;
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    // The same address in `$SRV.STATS`, where `pipeline status` reads it.
    let stats = client
        .request("$SRV.STATS.pipeline", "".into())
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.payload).unwrap();
    let line = &pipeline::fleet::describe_stats(&stats)[0];
    assert!(
        line.ends_with(&format!("metrics http://{addr}/metrics")),
        "{line}"
    );
    let mut sub = client.subscribe("translated.m").await.unwrap();
    client.flush().await.unwrap();
    send_curve(&client, "m", 0..30).await;
    client.publish("samples.m", "junk".into()).await.unwrap();
    client.flush().await.unwrap();
    collect(&mut sub, 7, translation).await;
    // The publisher counts a window just after handing it to the client,
    // and times a batch once all its windows are handed: scraped until
    // both are done (10 s at most; then the checks below say what is not).
    let count_in = |body: &str, name: &str| -> Option<u64> {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}_count{{pair=\"sin-cos\"}} ")))
            .and_then(|n| n.parse().ok())
    };
    let (mut status, mut body) = (String::new(), String::new());
    for _ in 0..100 {
        let a = addr.clone();
        (status, body) = tokio::task::spawn_blocking(move || http_get(&a, "/metrics"))
            .await
            .unwrap();
        let published = count_in(&body, "pipeline_publish_seconds");
        let computed = count_in(&body, "pipeline_compute_seconds");
        if body.contains("pipeline_windows_out_total 7\n") && published == computed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(status.contains("200"), "{status}");
    for line in [
        "pipeline_samples_in_total 30",
        "pipeline_windows_out_total 7",
        "pipeline_errors_total{kind=\"malformed\"} 1",
        "pipeline_route_errors_total{pair=\"sin-cos\",kind=\"malformed\"} 1",
        "pipeline_route_errors_total{pair=\"sin-cos\",kind=\"gap\"} 0",
        "pipeline_streams_active 1",
        "pipeline_end_to_end_seconds_count{pair=\"sin-cos\"} 7",
        "pipeline_model_info{pair=\"sin-cos\"",
        "pipeline_route_samples_in_total{pair=\"sin-cos\"} 30",
        "pipeline_route_windows_out_total{pair=\"sin-cos\"} 7",
    ] {
        assert!(body.contains(line), "{line} missing from:\n{body}");
    }
    // Every computed batch went through the publish stage, and is timed there.
    let count = |name: &str| -> u64 {
        count_in(&body, name).unwrap_or_else(|| panic!("{name}_count missing from:\n{body}"))
    };
    let batches = count("pipeline_compute_seconds");
    assert!(batches >= 1);
    assert_eq!(count("pipeline_publish_seconds"), batches);
    // Every sample message with a `ts` is timed on arrival (not the junk);
    // every window's wait in the queue is one observation.
    assert_eq!(count("pipeline_receive_seconds"), 30);
    assert_eq!(count("pipeline_queue_seconds"), 7);
    assert!(body.contains("\nprocess_resident_memory_bytes "), "{body}");
    // A scraper that asks for OpenMetrics gets it.
    let a = addr.clone();
    let (head, body) = tokio::task::spawn_blocking(move || {
        http_get_with(
            &a,
            "/metrics",
            "Accept: application/openmetrics-text; version=1.0.0\r\n",
        )
    })
    .await
    .unwrap();
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(body.contains("pipeline_windows_out_total 7\n") && body.ends_with("# EOF\n"));
    let a = addr.clone();
    let (status, body) = tokio::task::spawn_blocking(move || http_get(&a, "/readyz"))
        .await
        .unwrap();
    assert!(
        status.contains("200") && body == "ready\n",
        "{status} {body}"
    );
    let a = addr.clone();
    let (status, body) = tokio::task::spawn_blocking(move || http_get(&a, "/healthz"))
        .await
        .unwrap();
    assert!(status.contains("200") && body == "ok\n", "{status} {body}");
    let a = addr.clone();
    let (status, _) = tokio::task::spawn_blocking(move || http_get(&a, "/nope"))
        .await
        .unwrap();
    assert!(status.contains("404"), "{status}");
    // A scrape config's `params` (a query string), HEAD, and other methods.
    let a = addr.clone();
    let (status, body) =
        tokio::task::spawn_blocking(move || http_get(&a, "/metrics?name[]=pipeline_healthy"))
            .await
            .unwrap();
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("\npipeline_healthy 1\n"), "{body}");
    assert!(body.contains("\npipeline_nats_connected 1\n"), "{body}");
    let a = addr.clone();
    let (head, body) =
        tokio::task::spawn_blocking(move || http_request(&a, "HEAD", "/healthz", ""))
            .await
            .unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200") && head.contains("Content-Length: 3") && body.is_empty(),
        "{head} {body:?}"
    );
    let a = addr.clone();
    let (head, _) = tokio::task::spawn_blocking(move || http_request(&a, "POST", "/metrics", ""))
        .await
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    // The server gone: the gauge says so (the rate alerts go quiet), and
    // again when it is back.
    server.stop();
    let scrape = |want: &'static str| {
        let a = addr.clone();
        async move {
            for _ in 0..100 {
                let a = a.clone();
                let (_, body) = tokio::task::spawn_blocking(move || http_get(&a, "/metrics"))
                    .await
                    .unwrap();
                if body.contains(want) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("no {want:?} in /metrics within 10 s");
        }
    };
    scrape("\npipeline_nats_connected 0\n").await;
    server.restart();
    scrape("\npipeline_nats_connected 1\n").await;
    svc.shutdown().await;
}

/// Bound to every interface (`0.0.0.0`, as containers do), the service
/// advertises the address NATS sees it at, which a scraper can reach, not
/// `0.0.0.0`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_every_interface_advertise_a_reachable_address() {
    let server = NatsServer::start();
    let (svc, _client, addr) = serve_metrics(&server, "0.0.0.0:0").await;
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let (status, body) = tokio::task::spawn_blocking(move || http_get(&addr, "/healthz"))
        .await
        .unwrap();
    assert!(status.contains("200") && body == "ok\n", "{status} {body}");
    svc.shutdown().await;
}

/// On a route that reads changes on a clock, a replay of a recording two
/// days old (stamped with its own times) makes windows, but its stamps are
/// no times of publication: neither its messages nor its windows count in
/// the latency histograms (they put days into them), while a live stream's
/// beside it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replays_stamps_on_a_clock_are_no_latency() {
    let server = NatsServer::start();
    let mut cfg = config();
    cfg.metrics_addr = Some("127.0.0.1:0".into());
    cfg.routes[0].resample = Some(1.0);
    let (svc, client, addr) = serve_metrics_of(&server, cfg).await;
    let mut sub = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    let second = 1_000_000_000i64;
    let t0 = (pipeline::wire::now_ns() / second - 2 * 86_400) * second;
    // 41 changes a second apart, then one that reads the last: 41 ticks.
    for i in 0..=41u64 {
        let json = serde_json::json!({ "value": input_at(i), "ts": t0 + i as i64 * second });
        client
            .publish("samples.replay", json.to_string().into())
            .await
            .unwrap();
    }
    send_curve(&client, "live", 0..30).await;
    client.flush().await.unwrap();
    let got = collect(&mut sub, (41 - 23) + 7, translation).await;
    assert_eq!(got.iter().filter(|t| t.stream == "replay").count(), 18);
    let count_in = |body: &str, name: &str| -> Option<u64> {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}_count{{pair=\"sin-cos\"}} ")))
            .and_then(|n| n.parse().ok())
    };
    let mut body = String::new();
    for _ in 0..100 {
        let a = addr.clone();
        body = tokio::task::spawn_blocking(move || http_get(&a, "/metrics").1)
            .await
            .unwrap();
        if body.contains("pipeline_windows_out_total 25\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(body.contains("pipeline_windows_out_total 25\n"), "{body}");
    assert_eq!(
        count_in(&body, "pipeline_end_to_end_seconds"),
        Some(7),
        "{body}"
    );
    assert_eq!(
        count_in(&body, "pipeline_receive_seconds"),
        Some(30),
        "{body}"
    );
    svc.shutdown().await;
}
