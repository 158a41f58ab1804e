//! Error events: published on the errors subject, counted, and logged at
//! most once per second per kind; and the connection's events (slow
//! consumer, disconnects, reconnects).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{Client, Event};
use tokio::sync::{mpsc, watch};

use crate::stats::Stats;
use crate::wire::{ErrorEvent, ErrorKind};

/// Publishes error events, counts them, and logs them at most once per
/// second per kind (a flood of bad input must not become a flood of logs).
#[derive(Clone)]
pub(super) struct Reporter {
    pub client: Client,
    pub subject: Arc<str>,
    pub stats: Arc<Stats>,
    pub last_log: Arc<Mutex<HashMap<ErrorKind, (std::time::Instant, u64)>>>,
}

impl Reporter {
    pub async fn report(&self, kind: ErrorKind, stream: &str, subject: &str, detail: String) {
        self.stats.error(kind);
        self.log(kind, stream, &detail);
        let event = ErrorEvent {
            stream: stream.to_string(),
            subject: subject.to_string(),
            kind,
            detail,
        };
        if self
            .client
            .publish(self.subject.to_string(), event.encode().into())
            .await
            .is_err()
        {
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
            other => tracing::warn!("NATS: {other}"),
        }
    }
}
