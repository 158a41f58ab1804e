//! Error events: published on the errors subject, counted, and logged at
//! most once per second per kind; and the connection's events (slow
//! consumer, disconnects, reconnects).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{Client, Event, HeaderMap, HeaderName, Message};
use tokio::sync::{mpsc, watch};

use crate::stats::{RouteCounters, Stats};
use crate::wire::{ErrorEvent, ErrorKind, Format};

/// What an error event inherits from the message that caused it: its
/// format (a JSON sample gets a JSON event) and its W3C trace context.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Origin<'a> {
    pub format: Format,
    pub traceparent: Option<&'a str>,
}

// Names looked up in every message's headers: as constants, since a
// `&str` name is copied into a new `HeaderName` at every lookup.
const CONTENT_TYPE: HeaderName = HeaderName::from_static("Content-Type");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

impl<'a> Origin<'a> {
    pub fn of(msg: &'a Message) -> Self {
        let header = |name: HeaderName| {
            msg.headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str())
        };
        let json = header(CONTENT_TYPE).is_some_and(|t| t.starts_with("application/json"))
            || crate::wire::is_json_object(&msg.payload)
            || crate::wire::is_bare_text(&msg.payload);
        Origin {
            format: if json { Format::Json } else { Format::Msgpack },
            traceparent: header(TRACEPARENT).filter(|t| crate::wire::valid_traceparent(t)),
        }
    }
}

/// A window's W3C `traceparent`, carried to its translation: held inline
/// when it has the usual 55 characters (no allocation per window), shared
/// when a later version appends fields.
#[derive(Debug, Clone)]
pub(super) enum TraceParent {
    Inline([u8; 55]),
    Long(Arc<str>),
}

impl TraceParent {
    pub fn new(t: &str) -> Self {
        match <[u8; 55]>::try_from(t.as_bytes()) {
            Ok(bytes) => TraceParent::Inline(bytes),
            Err(_) => TraceParent::Long(t.into()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            // Copied from a `str`: always UTF-8.
            TraceParent::Inline(b) => std::str::from_utf8(b).unwrap_or_default(),
            TraceParent::Long(s) => s,
        }
    }
}

/// The headers a message carrying `traceparent` gets (none without one).
pub(super) fn trace_headers(traceparent: Option<&str>) -> Option<HeaderMap> {
    let t = traceparent?;
    let mut h = HeaderMap::new();
    h.insert("traceparent", t);
    Some(h)
}

/// Publishes error events, counts them, and logs them at most once per
/// second per kind (a flood of bad input must not become a flood of logs).
#[derive(Clone)]
pub(super) struct Reporter {
    pub client: Client,
    pub subject: Arc<str>,
    pub stats: Arc<Stats>,
    pub last_log: Arc<Mutex<HashMap<ErrorKind, (std::time::Instant, u64)>>>,
    /// The route whose messages this reporter's events are about (none for
    /// the connection's), counted per route too.
    pub route: Option<Arc<RouteCounters>>,
}

impl Reporter {
    /// This reporter for one route's messages.
    pub fn for_route(&self, counters: &Arc<RouteCounters>) -> Self {
        Self {
            route: Some(counters.clone()),
            ..self.clone()
        }
    }

    pub async fn report(&self, kind: ErrorKind, stream: &str, subject: &str, detail: String) {
        self.report_from(Origin::default(), kind, stream, subject, detail)
            .await
    }

    /// An error caused by one message: the event follows its format and
    /// carries its trace context.
    pub async fn report_from(
        &self,
        origin: Origin<'_>,
        kind: ErrorKind,
        stream: &str,
        subject: &str,
        detail: String,
    ) {
        self.stats.error(kind);
        if let Some(route) = &self.route {
            route.error(kind);
        }
        self.log(kind, stream, &detail);
        let event = ErrorEvent {
            stream: stream.to_string(),
            subject: subject.to_string(),
            kind,
            detail,
        };
        let payload = event.encode_as(origin.format).into();
        let subject = self.subject.to_string();
        let sent = match trace_headers(origin.traceparent) {
            None => self.client.publish(subject, payload).await,
            Some(h) => self.client.publish_with_headers(subject, h, payload).await,
        };
        if sent.is_err() {
            self.stats
                .publish_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn log(&self, kind: ErrorKind, stream: &str, detail: &str) {
        let now = std::time::Instant::now();
        let Ok(mut map) = self.last_log.lock() else {
            return;
        };
        let entry = map.entry(kind).or_insert((now - Duration::from_secs(2), 0));
        if now.duration_since(entry.0) >= Duration::from_secs(1) {
            let suppressed = std::mem::take(&mut entry.1);
            entry.0 = now;
            tracing::warn!(%kind, stream, suppressed, "{detail}");
        } else {
            entry.1 += 1;
        }
    }
}

pub(super) async fn watch_events(
    mut events: mpsc::Receiver<Event>,
    reporter: Reporter,
    epoch: watch::Sender<u64>,
) {
    let mut was_disconnected = false;
    // Client errors repeat at every reconnection attempt (the first ones
    // come within milliseconds): one line per 10 s, with the count between.
    let mut last_error: Option<(tokio::time::Instant, u64)> = None;
    while let Some(event) = events.recv().await {
        match event {
            Event::SlowConsumer(sid) => {
                // The client dropped messages for this subscription: samples
                // lost here surface as `gap`s on their streams too.
                reporter
                    .report(
                        ErrorKind::SlowConsumer,
                        "",
                        "",
                        format!(
                            "subscription {sid} is a slow consumer: the client dropped messages"
                        ),
                    )
                    .await;
            }
            Event::Disconnected => {
                was_disconnected = true;
                epoch.send_modify(|e| *e += 1);
                tracing::warn!("disconnected from NATS; reconnecting");
            }
            Event::Connected => {
                if was_disconnected {
                    reporter
                        .stats
                        .reconnects
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!("reconnected to NATS");
                }
                was_disconnected = false;
            }
            Event::ClientError(e) => match &mut last_error {
                Some((at, suppressed)) if at.elapsed() < Duration::from_secs(10) => {
                    *suppressed += 1;
                }
                _ => {
                    let suppressed = last_error.map_or(0, |(_, n)| n);
                    last_error = Some((tokio::time::Instant::now(), 0));
                    tracing::warn!(suppressed, "NATS: client error: {e}");
                }
            },
            other => tracing::warn!("NATS: {other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TraceParent;

    #[test]
    fn trace_parents_come_back_as_they_went_in() {
        let v00 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let later = "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-comes";
        let t = TraceParent::new(v00);
        assert!(matches!(t, TraceParent::Inline(_)), "{t:?}");
        assert_eq!(t.as_str(), v00);
        let t = TraceParent::new(later);
        assert!(matches!(t, TraceParent::Long(_)), "{t:?}");
        assert_eq!(t.as_str(), later);
    }
}
