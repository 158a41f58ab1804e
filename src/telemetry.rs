//! One span per batch, handed to an exporter installed by the program:
//! OpenTelemetry over OTLP/HTTP in the `pipeline-otel` crate, which the
//! `pipeline` command links with its cargo feature `otel` (off by default:
//! it adds an HTTP client). The library itself depends on no tracing SDK,
//! so it compiles once whether or not a build exports; the exporter's
//! crate is built beside it, not into it.
//!
//! A batch mixes windows of many streams, so its span (`pipeline.batch`)
//! *links* to the trace of every window whose completing message carried a
//! `traceparent`; a batch of one traced window is also that trace's child,
//! so an idle service's translation shows up inside the caller's trace.
//! The span runs from its first window's completion to its last
//! translation handed to the client, with the compute start and end as
//! events.
//!
//! With no exporter installed, [`start`] refuses an endpoint with a
//! configuration error (silently not exporting would look like a broken
//! collector) and [`record`] is one relaxed load.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use crate::error::{Error, Result};

/// One batch's life, as its publisher saw it once every window was handed on.
pub struct BatchSpan<'a, 'i> {
    pub pair: &'a str,
    pub model: &'a str,
    pub windows: usize,
    /// The `traceparent` of each traced window (checked for shape on
    /// arrival, not for validity).
    pub traces: &'i mut dyn Iterator<Item = &'a str>,
    /// When the batch's first window was complete (queued).
    pub first_queued: Instant,
    pub compute_start: Instant,
    pub computed: Instant,
    pub published: Instant,
}

/// Where batch spans go. `record` runs on the publisher's task: it must
/// queue, never wait on a collector.
pub trait Exporter: Send + Sync {
    fn record(&self, span: BatchSpan<'_, '_>);
    /// Flushes what is queued and stops; blocks (bounded).
    fn shutdown(&self);
}

/// Builds the exporter for `otlp_endpoint`, or from the standard
/// `OTEL_EXPORTER_OTLP_*` variables when that is `None`; `Ok(None)` when
/// neither names one.
pub type Backend = fn(Option<&str>) -> Result<Option<Arc<dyn Exporter>>>;

static BACKEND: OnceLock<Backend> = OnceLock::new();
static ENABLED: AtomicBool = AtomicBool::new(false);
static EXPORTER: RwLock<Option<Arc<dyn Exporter>>> = RwLock::new(None);

/// Makes span export available to this process (the first call wins).
pub fn install(backend: Backend) {
    let _ = BACKEND.set(backend);
}

/// Whether an exporter is installed, so an endpoint can be honoured.
pub fn installed() -> bool {
    BACKEND.get().is_some()
}

/// Exporting while held; flushes what is queued and stops on drop.
pub struct Telemetry {
    exporter: Arc<dyn Exporter>,
}

impl Telemetry {
    /// Flushes what is queued and stops; blocks.
    pub fn stop(self) {
        drop(self)
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        ENABLED.store(false, Relaxed);
        set_exporter(None);
        self.exporter.shutdown();
    }
}

fn set_exporter(e: Option<Arc<dyn Exporter>>) {
    match EXPORTER.write() {
        Ok(mut slot) => *slot = e,
        Err(poisoned) => *poisoned.into_inner() = e,
    }
}

/// Starts exporting when an endpoint is given or the installed exporter
/// finds one in the environment; `None` when neither does.
pub fn start(endpoint: Option<&str>) -> Result<Option<Telemetry>> {
    let Some(backend) = BACKEND.get() else {
        return match endpoint {
            Some(_) => Err(Error::Config(NOT_BUILT_IN.into())),
            None => Ok(None),
        };
    };
    let Some(exporter) = backend(endpoint)? else {
        return Ok(None);
    };
    set_exporter(Some(exporter.clone()));
    ENABLED.store(true, Relaxed);
    Ok(Some(Telemetry { exporter }))
}

#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

/// Hands a batch's span to the exporter, if one is running.
pub fn record(span: BatchSpan<'_, '_>) {
    if !enabled() {
        return;
    }
    let Ok(slot) = EXPORTER.read() else { return };
    if let Some(exporter) = slot.as_ref() {
        exporter.record(span);
    }
}

/// Why an endpoint is refused when no exporter is installed.
pub const NOT_BUILT_IN: &str = "otlp_endpoint: this build has no OpenTelemetry export \
     (build with `cargo build --release --features otel`)";

#[cfg(test)]
mod tests {
    use super::*;

    /// No exporter is installed in this test binary: an endpoint is a
    /// configuration error, not a silent no-op, and no endpoint is nothing.
    #[test]
    fn an_endpoint_needs_an_installed_exporter() {
        let e = start(Some("http://127.0.0.1:4318")).err();
        assert!(
            matches!(&e, Some(Error::Config(m)) if m.contains("otel")),
            "{e:?}"
        );
        assert!(matches!(start(None), Ok(None)));
        assert!(!enabled());
    }
}
