//! OpenTelemetry export of `pipeline`'s per-batch spans over OTLP/HTTP with
//! JSON bodies, to `otlp_endpoint` (a nearby collector's or agent's
//! `http://` base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` is; spans go to
//! `<it>/v1/traces`; no TLS client is built in) or to what the standard
//! `OTEL_EXPORTER_OTLP_*` variables say.
//!
//! [`install`] makes it the process's exporter (`pipeline::telemetry`
//! describes the spans). The SDK's sampler applies (`OTEL_TRACES_SAMPLER`),
//! and a batch processor on its own thread exports, so the service's tasks
//! never wait on the collector; a collector that cannot keep up loses
//! spans, never windows.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{
    Link, Span, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer, TracerProvider,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use pipeline::telemetry::{self, BatchSpan, Exporter};
use pipeline::{Error, Result};

/// Makes OTLP export this process's span exporter: `otlp_endpoint` (or the
/// standard variables) then turn it on.
pub fn install() {
    telemetry::install(start);
}

struct Otlp {
    tracer: SdkTracer,
    /// Taken by the first shutdown.
    provider: Mutex<Option<SdkTracerProvider>>,
}

fn start(endpoint: Option<&str>) -> Result<Option<Arc<dyn Exporter>>> {
    let from_env = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if endpoint.is_none() && !from_env {
        return Ok(None);
    }
    let url = endpoint.map(|e| format!("{}/v1/traces", e.trim_end_matches('/')));
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Http::new(export_timeout()))
        .with_protocol(Protocol::HttpJson);
    if let Some(url) = &url {
        builder = builder.with_endpoint(url.clone());
    }
    let exporter = builder
        .build()
        .map_err(|e| Error::Config(format!("otlp_endpoint: {e}")))?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("pipeline");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    tracing::info!(
        endpoint = url.as_deref().unwrap_or("from OTEL_EXPORTER_OTLP_*"),
        "exporting a span per batch (OTLP/HTTP)"
    );
    Ok(Some(Arc::new(Otlp {
        tracer: provider.tracer("pipeline"),
        provider: Mutex::new(Some(provider)),
    })))
}

impl Exporter for Otlp {
    fn record(&self, b: BatchSpan<'_, '_>) {
        let (now, wall_now) = (Instant::now(), SystemTime::now());
        let links: Vec<Link> = b
            .traces
            .filter_map(context_of)
            .map(Link::with_context)
            .collect();
        let parent = match (b.windows, links.as_slice()) {
            (1, [one]) => Context::new().with_remote_span_context(one.span_context.clone()),
            _ => Context::new(),
        };
        let us = |d: Duration| d.as_micros() as i64;
        let tracer = &self.tracer;
        let mut span = tracer
            .span_builder("pipeline.batch")
            .with_kind(SpanKind::Consumer)
            .with_start_time(wall(b.first_queued, now, wall_now))
            .with_attributes([
                KeyValue::new("pipeline.pair", b.pair.to_string()),
                KeyValue::new("pipeline.model", b.model.to_string()),
                KeyValue::new("pipeline.batch.windows", b.windows as i64),
                KeyValue::new(
                    "pipeline.queue_us",
                    us(b.compute_start.saturating_duration_since(b.first_queued)),
                ),
                KeyValue::new(
                    "pipeline.compute_us",
                    us(b.computed.saturating_duration_since(b.compute_start)),
                ),
                KeyValue::new(
                    "pipeline.publish_us",
                    us(b.published.saturating_duration_since(b.computed)),
                ),
            ])
            .with_links(links)
            .start_with_context(tracer, &parent);
        span.add_event_with_timestamp(
            "compute start",
            wall(b.compute_start, now, wall_now),
            vec![],
        );
        span.add_event_with_timestamp("computed", wall(b.computed, now, wall_now), vec![]);
        span.end_with_timestamp(wall(b.published, now, wall_now));
    }

    fn shutdown(&self) {
        let provider = match self.provider.lock() {
            Ok(mut p) => p.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(provider) = provider {
            // Shutting down waits for the batch thread's last export: not
            // on the async runtime's threads.
            std::thread::scope(|s| {
                s.spawn(move || {
                    if let Err(e) = provider.shutdown_with_timeout(Duration::from_secs(5)) {
                        tracing::warn!("OpenTelemetry export did not finish: {e}");
                    }
                });
            });
        }
    }
}

/// The exporter's HTTP client: a blocking one, called from the SDK's batch
/// thread (its `async fn` runs to completion there without a runtime). A
/// timeout bounds the whole request, as the SDK's own clients do.
#[derive(Debug)]
struct Http(ureq::Agent);

impl Http {
    fn new(timeout: Duration) -> Http {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // The exporter reads the status itself (and says what failed).
            .http_status_as_error(false)
            .build();
        Http(config.into())
    }
}

/// A collector's replies are empty or a few bytes of partial-success
/// details; this is the SDK's own clients' bound.
const MAX_REPLY_BYTES: u64 = 4 << 20;

#[async_trait::async_trait]
impl HttpClient for Http {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let reply = self.0.run(Request::from_parts(parts, &body[..]))?;
        let (parts, mut body) = reply.into_parts();
        let body = body.with_config().limit(MAX_REPLY_BYTES).read_to_vec()?;
        Ok(Response::from_parts(parts, Bytes::from(body)))
    }
}

/// How long one export may take: `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else
/// `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds), else 10 s, as the SDK reads
/// them for the clients it builds itself.
fn export_timeout() -> Duration {
    [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok()?.trim().parse().ok())
    .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// The span context a valid `traceparent` names (the service checked its
/// shape on arrival).
fn context_of(traceparent: &str) -> Option<SpanContext> {
    let mut parts = traceparent.split('-');
    let (_version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let sc = SpanContext::new(
        TraceId::from_hex(trace).ok()?,
        SpanId::from_hex(span).ok()?,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}

/// `at` on the wall clock, from how long ago it was.
fn wall(at: Instant, now: Instant, wall_now: SystemTime) -> SystemTime {
    wall_now - now.saturating_duration_since(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::pin::pin;
    use std::sync::mpsc;
    use std::task::{Poll, Waker};

    /// Runs `send_bytes` as the SDK's batch thread does, on a thread of its
    /// own (it blocks and never returns `Pending`); `None` if it has not
    /// finished within `limit`.
    fn send(
        client: Http,
        url: String,
        body: &'static [u8],
        limit: Duration,
    ) -> Option<Result<Response<Bytes>, String>> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let request = Request::post(url)
                .header("content-type", "application/json")
                .body(Bytes::from_static(body))
                .map_err(|e| e.to_string());
            let reply = match request {
                Ok(request) => {
                    let fut = pin!(client.send_bytes(request));
                    match fut.poll(&mut std::task::Context::from_waker(Waker::noop())) {
                        Poll::Ready(reply) => reply.map_err(|e| e.to_string()),
                        Poll::Pending => Err("the blocking client returned Pending".into()),
                    }
                }
                Err(e) => Err(e),
            };
            let _ = tx.send(reply);
        });
        rx.recv_timeout(limit).ok()
    }

    /// A one-connection server: reads one request's head and body, answers
    /// `reply` (if any; otherwise holds the connection open), and hands back
    /// what it read.
    fn server(reply: Option<&'static str>) -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap();
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            std::io::Read::read_exact(&mut reader, &mut body).unwrap();
            let _ = tx.send((head, body));
            match reply {
                Some(reply) => (&conn).write_all(reply.as_bytes()).unwrap(),
                // Keeps the connection open, unanswered, for a while.
                None => std::thread::sleep(Duration::from_secs(30)),
            }
        });
        (url, rx)
    }

    #[test]
    fn the_request_goes_out_whole_and_a_refusal_comes_back_as_a_reply() {
        // The exporter reads the status itself: a 400 is a reply, not a
        // transport error, and its body (the collector's reason) is kept.
        let (url, got) = server(Some(
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\n\r\nbad payload",
        ));
        let reply = send(
            Http::new(Duration::from_secs(10)),
            url,
            b"{\"resourceSpans\":[]}",
            Duration::from_secs(20),
        )
        .expect("the request did not finish")
        .expect("a 400 reply is not an error");
        assert_eq!(reply.status(), 400);
        assert_eq!(&reply.body()[..], b"bad payload");
        let (head, body) = got.recv().unwrap();
        assert!(head.starts_with("POST /v1/traces HTTP/1.1\r\n"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        assert_eq!(body, b"{\"resourceSpans\":[]}");
    }

    #[test]
    fn a_collector_that_never_answers_fails_the_export_at_the_timeout() {
        let (url, got) = server(None);
        let started = Instant::now();
        let reply = send(
            Http::new(Duration::from_millis(300)),
            url,
            b"{}",
            Duration::from_secs(20),
        )
        .expect("the request outlived its timeout by far");
        assert!(reply.is_err(), "{reply:?}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        // It was sent, and then waited on.
        assert_eq!(got.recv().unwrap().1, b"{}");
    }
}
