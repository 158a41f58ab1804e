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
use opentelemetry_otlp::{Protocol, WithExportConfig};
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
    // The blocking HTTP client runs its own runtime: build it (and, on
    // shutdown, stop it) off the async one.
    let provider = std::thread::scope(|s| {
        s.spawn(|| {
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
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
            Ok::<_, Error>(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource.build())
                    .build(),
            )
        })
        .join()
        .map_err(|_| Error::Config("otlp_endpoint: the exporter failed to start".into()))?
    })?;
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
