//! A quiet route's clock in durable mode. A route that reads changes on a
//! clock reads a stream's ticks at the stored time of each message (so a
//! replay after a crash reads the same ticks): a sensor that holds its
//! value sends nothing, and with no other message its ticks would wait
//! for its next change. So the unit stores a message of its own on
//! `pipeline.clock.<input stream>.<unit>` in the input stream once a tick is due and no
//! sample has read it; its stored time reads the clock as a sample's
//! would, on every replay alike (what is read depends on the stream's
//! content alone, never on when a replay runs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use tokio::time::Instant;

/// The input stream's subjects for clock messages: its own (two
/// deployments' input streams on one account never overlap).
pub fn subjects(stream: &str) -> String {
    format!("pipeline.clock.{stream}.>")
}

/// A unit's clock subject in input stream `stream` (`key`: `sin-cos.all`,
/// `sin-cos.p3`).
pub fn subject(stream: &str, key: &str) -> String {
    format!("pipeline.clock.{stream}.{key}")
}

/// How long after a tick is due the unit waits for a sample to read it:
/// a route whose samples come faster stores no clock message.
pub const QUIET: Duration = Duration::from_millis(20);

/// A clock message asked for and not yet read back: no second one is
/// stored for the same ticks until it comes (or is lost: a publish the
/// stream did not take, after this long).
const ASKED_FOR: Duration = Duration::from_secs(2);

/// One unit's clock messages.
pub(super) struct Clocked {
    /// `None`: the input stream does not take them.
    subject: Option<String>,
    /// The one asked for and not read back yet: when (ours, and as ns
    /// since the epoch).
    asked: Option<(Instant, i64)>,
    /// How far the server's clock runs ahead of this host's (ns), as the
    /// last one read back showed it: ticks are due by the server's time,
    /// which stores them (a host ahead of it would otherwise ask again and
    /// again for ticks its messages cannot read yet).
    offset_ns: i64,
    /// Whether a failure to store one was logged (once per attempt).
    said: Arc<AtomicBool>,
}

impl Clocked {
    pub(super) fn new(subject: Option<&str>) -> Self {
        Self {
            subject: subject.map(str::to_string),
            asked: None,
            offset_ns: 0,
            said: Arc::default(),
        }
    }

    /// Whether `subject` is this unit's clock.
    pub(super) fn is(&self, subject: &str) -> bool {
        self.subject.as_deref() == Some(subject)
    }

    /// One was read, stored at `stored_at` (ns): the one asked for, where
    /// one is out (none is while messages wait, so a clock message read
    /// then is the last asked); the next due tick may ask for another.
    pub(super) fn read(&mut self, stored_at: Option<i64>) {
        if let (Some((_, at)), Some(stored)) = (self.asked.take(), stored_at) {
            self.offset_ns = stored.saturating_sub(at);
        }
    }

    /// The server's time now, as this host reckons it (ns).
    pub(super) fn now(&self) -> i64 {
        crate::wire::now_ns().saturating_add(self.offset_ns)
    }

    /// Stores a clock message unless one is on its way. The publish runs
    /// on its own: a stream that stops acknowledging never holds up the
    /// unit's loop.
    pub(super) fn ask(&mut self, js: &jetstream::Context) {
        let Some(subject) = self.subject.clone() else {
            if !self.said.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "a quiet sensor's ticks wait for the route's next sample: the input stream \
                     takes no clock messages (no route read a clock when the service started, or \
                     the stream could not be changed; a restart adds them)"
                );
            }
            return;
        };
        if self.asked.is_some_and(|(at, _)| at.elapsed() < ASKED_FOR) {
            return;
        }
        self.asked = Some((Instant::now(), crate::wire::now_ns()));
        let (js, said) = (js.clone(), self.said.clone());
        tokio::spawn(async move {
            let stored = async {
                let ack = js.publish(subject.clone(), bytes::Bytes::new()).await;
                ack.map_err(|e| e.to_string())?
                    .await
                    .map_err(|e| e.to_string())
            };
            let why = match tokio::time::timeout(ASKED_FOR, stored).await {
                Ok(Ok(_)) => return,
                Ok(Err(e)) => e,
                Err(_) => "no acknowledgement".to_string(),
            };
            if !said.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    %subject,
                    "a quiet sensor's ticks wait for the route's next sample: the clock \
                     message was not stored ({why})"
                );
            }
        });
    }
}
