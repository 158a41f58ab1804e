//! OpenTelemetry export of one span per batch (cargo feature `otel`, off by
//! default), over OTLP/HTTP with JSON bodies, to `otlp_endpoint` (a nearby
//! collector's or agent's `http://` base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`
//! is; spans go to `<it>/v1/traces`; no TLS client is built in) or to what
//! the standard `OTEL_EXPORTER_OTLP_*` variables say.
//!
//! A batch mixes windows of many streams, so its span (`pipeline.batch`)
//! *links* to the trace of every window whose completing message carried a
//! `traceparent`; a batch of one traced window is also that trace's child,
//! so an idle service's translation shows up inside the caller's trace.
//! The span runs from its first window's completion to its last
//! translation handed to the client, with the compute start and end as
//! events. The SDK's sampler applies (`OTEL_TRACES_SAMPLER`), and a batch
//! processor on its own thread exports, so the service's tasks never wait
//! on the collector; a collector that cannot keep up loses spans, never
//! windows.
//!
//! Without the feature, [`start`] refuses an endpoint with a configuration
//! error (silently not exporting would look like a broken collector) and
//! [`record`] compiles to nothing.

use std::time::Instant;

use crate::error::Result;

/// One batch's life, as its publisher saw it once every window was handed on.
pub struct BatchSpan<'a, I: Iterator<Item = &'a str>> {
    pub pair: &'a str,
    pub model: &'a str,
    pub windows: usize,
    /// The `traceparent` of each traced window.
    pub traces: I,
    /// When the batch's first window was complete (queued).
    pub first_queued: Instant,
    pub compute_start: Instant,
    pub computed: Instant,
    pub published: Instant,
}

#[cfg(not(feature = "otel"))]
mod imp {
    use super::*;
    use crate::error::Error;

    /// Built without the `otel` feature: nothing to stop.
    pub struct Telemetry;

    impl Telemetry {
        pub fn stop(self) {}
    }

    pub fn start(endpoint: Option<&str>) -> Result<Option<Telemetry>> {
        match endpoint {
            Some(_) => Err(Error::Config(super::NOT_BUILT_IN.into())),
            None => Ok(None),
        }
    }

    #[inline(always)]
    pub fn enabled() -> bool {
        false
    }

    #[inline(always)]
    pub fn record<'a, I: Iterator<Item = &'a str>>(_: BatchSpan<'a, I>) {}
}

#[cfg(feature = "otel")]
mod imp {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    use std::time::{Duration, SystemTime};

    use opentelemetry::trace::{
        Link, Span, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId,
        TraceState, Tracer, TracerProvider,
    };
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

    use super::*;
    use crate::error::Error;

    static ENABLED: AtomicBool = AtomicBool::new(false);
    static TRACER: std::sync::RwLock<Option<SdkTracer>> = std::sync::RwLock::new(None);

    /// Exporting while held; flushes what is queued and stops on drop.
    pub struct Telemetry {
        provider: Option<SdkTracerProvider>,
    }

    /// Starts exporting when an endpoint is given or the standard variables
    /// name one; `None` when neither does.
    pub fn start(endpoint: Option<&str>) -> Result<Option<Telemetry>> {
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
        // The blocking HTTP client runs its own runtime: build it (and,
        // on drop, stop it) off the async one.
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
        let tracer = provider.tracer("pipeline");
        match TRACER.write() {
            Ok(mut t) => *t = Some(tracer),
            Err(p) => *p.into_inner() = Some(tracer),
        }
        ENABLED.store(true, Relaxed);
        tracing::info!(
            endpoint = url.as_deref().unwrap_or("from OTEL_EXPORTER_OTLP_*"),
            "exporting a span per batch (OTLP/HTTP)"
        );
        Ok(Some(Telemetry {
            provider: Some(provider),
        }))
    }

    impl Telemetry {
        /// Flushes what is queued (up to 5 s) and stops; blocks.
        pub fn stop(self) {
            drop(self)
        }
    }

    impl Drop for Telemetry {
        fn drop(&mut self) {
            ENABLED.store(false, Relaxed);
            if let Ok(mut t) = TRACER.write() {
                *t = None;
            }
            if let Some(provider) = self.provider.take() {
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

    #[inline]
    pub fn enabled() -> bool {
        ENABLED.load(Relaxed)
    }

    /// The span context a valid `traceparent` names (the service checked
    /// its shape on arrival).
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

    pub fn record<'a, I: Iterator<Item = &'a str>>(b: BatchSpan<'a, I>) {
        if !enabled() {
            return;
        }
        let Ok(guard) = TRACER.read() else { return };
        let Some(tracer) = guard.as_ref() else { return };
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
}

pub use imp::{Telemetry, enabled, record, start};

/// Why an endpoint is refused by a build without the `otel` feature.
pub const NOT_BUILT_IN: &str = "otlp_endpoint: this build has no OpenTelemetry export \
     (build with `cargo build --release --features otel`)";
