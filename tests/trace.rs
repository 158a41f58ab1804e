//! W3C trace context: a `traceparent` header on a sample message is carried
//! to the translation of the window that message completes, and to the
//! error event it causes; one that is not a valid trace context is not.

mod common;

use std::time::Duration;

use async_nats::HeaderMap;
use common::nats::NatsServer;
use common::sample;
use common::service::{Svc, W, config, input_at};
use futures::StreamExt;
use pipeline::wire::{ErrorEvent, ErrorKind, Translation};

const A: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const B: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
/// An all-zero trace id: invalid, so ignored.
const ZERO: &str = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";

fn traceparent(m: &async_nats::Message) -> Option<String> {
    let h = m.headers.as_ref()?;
    h.get("traceparent").map(|v| v.as_str().to_string())
}

async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("timed out")
        .expect("subscription ended")
}

async fn carried_through(durable: bool) {
    let server = NatsServer::start();
    let mut cfg = config();
    if durable {
        cfg.durable = Some(Default::default());
    }
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    // In durable mode too, the stored outputs reach core subscribers.
    let mut out = client.subscribe("translated.t").await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    client.flush().await.unwrap();
    let header = |t: &str| {
        let mut h = HeaderMap::new();
        h.insert("traceparent", t);
        h
    };
    // Windows 0..=3 are completed by samples W-1..=W+2.
    for seq in 0..W + 3 {
        let payload = sample(seq, input_at(seq)).into();
        let trace = match seq {
            s if s == W - 1 => Some(A),
            s if s == W + 1 => Some(B),
            s if s == W + 2 => Some(ZERO),
            _ => None,
        };
        match trace {
            Some(t) => {
                client
                    .publish_with_headers("samples.t", header(t), payload)
                    .await
            }
            None => client.publish("samples.t", payload).await,
        }
        .unwrap();
    }
    // A JSON message that breaks the contract: a JSON event, traced.
    client
        .publish_with_headers("samples.t", header(B), r#"{"seq":"x","value":1}"#.into())
        .await
        .unwrap();
    client.flush().await.unwrap();

    let mut got = Vec::new();
    for _ in 0..4 {
        let m = next(&mut out).await;
        got.push((
            Translation::decode(&m.payload).unwrap().seq,
            traceparent(&m),
        ));
    }
    let want = [
        (0, Some(A.to_string())),
        (1, None),
        (2, Some(B.to_string())),
        (3, None),
    ];
    assert_eq!(got, want, "durable: {durable}");
    let e = next(&mut errors).await;
    assert_eq!(traceparent(&e).as_deref(), Some(B));
    assert_eq!(
        e.payload.first(),
        Some(&b'{'),
        "a JSON message gets a JSON event"
    );
    let event = ErrorEvent::decode(&e.payload).unwrap();
    assert_eq!(
        (event.kind, event.stream.as_str()),
        (ErrorKind::Malformed, "t")
    );
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_is_carried_in_core_mode() {
    carried_through(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_is_carried_in_durable_mode() {
    carried_through(true).await;
}

/// With the OpenTelemetry exporter installed (`pipeline-otel`, what the
/// command's `otel` feature links): each batch is a span exported over
/// OTLP/HTTP to a collector; the batch of a
/// lone traced window is a child of that window's trace and links to it, and
/// a window whose trace context is invalid (an all-zero trace id, too few
/// fields) gives its batch neither a parent nor a link. The tracer is the
/// process's, shared with this file's other tests: the contexts here are
/// this test's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_exported_as_spans_in_the_windows_traces() {
    pipeline_otel::install();
    let collector = collector::Collector::start();
    let server = NatsServer::start();
    let mut cfg = config();
    cfg.otlp_endpoint = Some(collector.url());
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut out = client.subscribe("translated.*").await.unwrap();
    client.flush().await.unwrap();
    // One window per stream, each completed by a sample with its own
    // trace context, and each a batch of its own: the next stream starts
    // only once the previous one's translation is out.
    const C: &str = "00-5a1c0c7e5b0a4f2d9e3b7c6d5e4f3a2b-1a2b3c4d5e6f7a8b-01";
    const ZERO_C: &str = "00-00000000000000000000000000000000-2b3c4d5e6f7a8b9c-01";
    const SHORT_C: &str = "00-6b2d1d8f6c1b5a3e0f4c8d7e6f5a4b3c";
    for (stream, context) in [("t", C), ("u", ZERO_C), ("v", SHORT_C)] {
        for seq in 0..W {
            let subject = format!("samples.{stream}");
            let payload = sample(seq, input_at(seq)).into();
            if seq == W - 1 {
                let mut h = HeaderMap::new();
                h.insert("traceparent", context);
                client.publish_with_headers(subject, h, payload).await
            } else {
                client.publish(subject, payload).await
            }
            .unwrap();
        }
        client.flush().await.unwrap();
        next(&mut out).await;
    }
    // Stopping flushes the exporter.
    svc.shutdown().await;

    let spans: Vec<serde_json::Value> = collector
        .requests()
        .iter()
        .filter(|(path, _)| path == "/v1/traces")
        .flat_map(|(_, body)| {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap();
            let mut spans = Vec::new();
            for rs in v["resourceSpans"].as_array().unwrap() {
                for ss in rs["scopeSpans"].as_array().unwrap() {
                    spans.extend(ss["spans"].as_array().unwrap().iter().cloned());
                }
            }
            spans
        })
        .filter(|s| s["name"] == "pipeline.batch")
        .collect();
    let trace_id = &C[3..35];
    let span_id = &C[36..52];
    let traced: Vec<_> = spans.iter().filter(|s| s["traceId"] == trace_id).collect();
    let [batch] = traced[..] else {
        panic!("not one batch span in the window's trace among {spans:?}");
    };
    assert_eq!(batch["parentSpanId"], span_id, "{batch}");
    assert_eq!(batch["links"][0]["traceId"], trace_id, "{batch}");
    // The invalid contexts are ignored: no span is in, under or linked to them.
    let (zero_span, short_trace) = (&ZERO_C[36..52], &SHORT_C[3..35]);
    for s in &spans {
        let text = s.to_string();
        assert!(
            !text.contains(zero_span) && !text.contains(short_trace),
            "{s}"
        );
    }
    let attr = |k: &str| {
        batch["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
            .unwrap_or_else(|| panic!("no {k} in {batch}"))
    };
    assert_eq!(attr("pipeline.pair")["stringValue"], "sin-cos");
    let windows = attr("pipeline.batch.windows")["intValue"].to_string();
    assert!(windows.trim_matches('"') == "1", "{windows}");
    let (start, end) = (&batch["startTimeUnixNano"], &batch["endTimeUnixNano"]);
    let ns = |v: &serde_json::Value| -> u64 {
        v.as_str()
            .map(|s| s.parse().unwrap())
            .or(v.as_u64())
            .unwrap()
    };
    assert!(ns(start) <= ns(end), "{batch}");
}

/// A minimal OTLP/HTTP collector: answers every request with 200 and keeps
/// each request's path and body.
mod collector {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    type Requests = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

    pub struct Collector {
        port: u16,
        got: Requests,
    }

    impl Collector {
        pub fn start() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let got = Requests::default();
            let keep = got.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming().flatten() {
                    let keep = keep.clone();
                    std::thread::spawn(move || serve(conn, keep));
                }
            });
            Collector { port, got }
        }

        pub fn url(&self) -> String {
            format!("http://127.0.0.1:{}", self.port)
        }

        pub fn requests(&self) -> Vec<(String, Vec<u8>)> {
            self.got.lock().unwrap().clone()
        }
    }

    fn serve(conn: std::net::TcpStream, keep: Requests) {
        let mut writer = conn.try_clone().unwrap();
        let mut reader = BufReader::new(conn);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut length = 0;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            keep.lock().unwrap().push((path, body));
            let reply =
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
            if writer.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }
}
