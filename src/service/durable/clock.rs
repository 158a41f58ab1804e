//! A quiet route's clock in durable mode. A route that reads changes on a
//! clock reads a stream's ticks at the stored time of each message (so a
//! replay after a crash reads the same ticks): a sensor that holds its
//! value sends nothing, and with no other message its ticks would wait
//! for its next change. So the unit stores a message of its own on
//! `pipeline.clock.<unit>` in the input stream once a tick is due and no
//! sample has read it; its stored time reads the clock as a sample's
//! would, on every replay alike (what is read depends on the stream's
//! content alone, never on when a replay runs).

use std::time::Duration;

use async_nats::jetstream;
use tokio::time::Instant;

/// The input stream's subjects for clock messages.
pub const SUBJECTS: &str = "pipeline.clock.>";

/// A unit's clock subject (`key`: `sin-cos.all`, `sin-cos.p3`).
pub fn subject(key: &str) -> String {
    format!("pipeline.clock.{key}")
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
    subject: String,
    asked: Option<Instant>,
    /// Whether a failure to store one was logged (once per attempt).
    said: bool,
}

impl Clocked {
    pub(super) fn new(subject: &str) -> Self {
        Self {
            subject: subject.to_string(),
            asked: None,
            said: false,
        }
    }

    /// Whether `subject` is this unit's clock.
    pub(super) fn is(&self, subject: &str) -> bool {
        subject == self.subject
    }

    /// One of ours was read: the next due tick may ask for another.
    pub(super) fn read(&mut self) {
        self.asked = None;
    }

    /// Stores a clock message unless one is on its way.
    pub(super) async fn ask(&mut self, js: &jetstream::Context) {
        if self.asked.is_some_and(|at| at.elapsed() < ASKED_FOR) {
            return;
        }
        self.asked = Some(Instant::now());
        let stored = async {
            let ack = js.publish(self.subject.clone(), bytes::Bytes::new()).await;
            ack.map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())
        };
        let result = tokio::time::timeout(ASKED_FOR, stored).await;
        let why = match result {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => e,
            Err(_) => "no acknowledgement".to_string(),
        };
        if !std::mem::replace(&mut self.said, true) {
            tracing::warn!(
                subject = %self.subject,
                "a quiet sensor's ticks wait for the route's next sample: the clock message was \
                 not stored ({why}); the input stream must take {SUBJECTS}"
            );
        }
    }
}
