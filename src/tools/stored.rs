//! `pipeline publish --jetstream`: samples published into JetStream with
//! a message id each, their acknowledgements awaited in order, a message
//! that is not acknowledged sent again under the same id.
//!
//! A stream's next sample is sent only once its last one is acknowledged:
//! a sample lost with a server restart, sent again after the ones behind
//! it were stored, would be stored out of order (the service then drops it
//! and restarts the stream's window). Many streams keep many in flight; one
//! stream gets one sample per round trip (thousands a second on a LAN).
//!
//! When an acknowledgement fails, everything in flight went the same way
//! (a restart, a lost connection): all of it is sent again at once, in
//! order (the stream discards what it already stored by its id), rather
//! than one message and one pause at a time, which took minutes to catch
//! up after a restart.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::context::PublishAckFuture;
use bytes::Bytes;

use crate::error::{Error, Result};

/// A sample sent and not yet acknowledged.
struct InFlight {
    subject: String,
    seq: u64,
    payload: Bytes,
    /// `None`: the send itself failed (sent again with the rest).
    ack: Option<PublishAckFuture>,
    /// Times its own acknowledgement failed (sent again with others'
    /// failures does not count).
    failures: u32,
}

/// JetStream publishes in flight, acknowledged in order.
pub(super) struct Stored {
    js: async_nats::jetstream::Context,
    pending: VecDeque<InFlight>,
    /// The subjects in `pending`.
    unacked: HashSet<String>,
}

impl Stored {
    /// Acknowledgements awaited at once: enough to keep the server busy.
    const IN_FLIGHT: usize = 256;
    /// Tries per message before giving up (a server restart takes seconds).
    const TRIES: u32 = 20;

    pub(super) fn new(client: &Client) -> Self {
        Stored {
            js: async_nats::jetstream::new(client.clone()),
            pending: VecDeque::new(),
            unacked: HashSet::new(),
        }
    }

    /// Sends `m` (again) under its message id.
    async fn send(&self, m: &mut InFlight) {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("{}:{}", m.subject, m.seq).as_str(),
        );
        let sent = self
            .js
            .publish_with_headers(m.subject.clone(), headers, m.payload.clone())
            .await;
        m.ack = match sent {
            Ok(ack) => Some(ack),
            Err(e) => {
                tracing::debug!(subject = %m.subject, seq = m.seq, "not sent ({e})");
                None
            }
        };
    }

    /// Whether the server says no stream takes `subject` (a failed
    /// request, as in a restart, says nothing).
    async fn unstored(&self, subject: &str) -> bool {
        use async_nats::jetstream::context::GetStreamByNameErrorKind::NotFound;
        matches!(self.js.stream_by_subject(subject).await, Err(e) if e.kind() == NotFound)
    }

    pub(super) async fn publish(&mut self, subject: &str, seq: u64, payload: Bytes) -> Result<()> {
        while self.unacked.contains(subject) {
            self.settle(self.pending.len().saturating_sub(1)).await?;
        }
        let mut m = InFlight {
            subject: subject.to_string(),
            seq,
            payload,
            ack: None,
            failures: 0,
        };
        self.send(&mut m).await;
        self.unacked.insert(m.subject.clone());
        self.pending.push_back(m);
        self.settle(Self::IN_FLIGHT).await
    }

    /// Awaits acknowledgements until at most `keep` are in flight.
    pub(super) async fn settle(&mut self, keep: usize) -> Result<()> {
        while self.pending.len() > keep {
            let Some(mut m) = self.pending.pop_front() else {
                break;
            };
            let failed = match m.ack.take() {
                Some(ack) => match ack.await {
                    Ok(_) => None,
                    Err(e) => Some(e.to_string()),
                },
                None => Some("not sent".to_string()),
            };
            let Some(e) = failed else {
                self.unacked.remove(&m.subject);
                continue;
            };
            m.failures += 1;
            // Nothing stores the subject, yet something subscribes to it
            // over core NATS (a route's truth channel): the publish went
            // there and no acknowledgement ever comes. Said at once, not
            // after twenty timeouts.
            if m.failures == 1 && self.unstored(&m.subject).await {
                // The server answers "no responders" where nothing
                // subscribes either; a subscriber took it otherwise.
                let taken = match e.contains("no responders") || e.contains("no stream found") {
                    true => "nothing subscribes to it either: the sample went nowhere",
                    false => "something subscribes to it over core NATS, and took the sample",
                };
                return Err(Error::Nats(format!(
                    "{}: no JetStream stream stores this subject, so nothing acknowledges it \
                     ({taken}): publish it without --jetstream (a route's truth channel is read \
                     over core NATS), or add the subject to a stream",
                    m.subject
                )));
            }
            if m.failures >= Self::TRIES {
                return Err(Error::Nats(format!(
                    "{} seq {}: not acknowledged by JetStream after {} tries: {e}",
                    m.subject, m.seq, m.failures
                )));
            }
            tracing::info!(subject = %m.subject, seq = m.seq, tries = m.failures, "not acknowledged by JetStream ({e}): sending what is in flight again");
            // Sent again at once the first time; after that the server is
            // still away: a pause per round, not per message.
            if m.failures > 1 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            self.pending.push_front(m);
            let mut again = std::mem::take(&mut self.pending);
            for m in &mut again {
                self.send(m).await;
            }
            self.pending = again;
        }
        Ok(())
    }
}
