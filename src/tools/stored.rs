//! `pipeline publish --jetstream`: samples published into JetStream with
//! a message id each, their acknowledgements awaited in order, a message
//! that is not acknowledged sent again under the same id.
//!
//! A stream's next sample is sent only once its last one is acknowledged:
//! a sample lost with a server restart, sent again after the ones behind
//! it were stored, would be stored out of order (the service then drops it
//! and restarts the stream's window). Many streams keep many in flight.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::context::PublishAckFuture;
use bytes::Bytes;

use crate::error::{Error, Result};

/// JetStream publishes in flight, acknowledged in order.
pub(super) struct Stored {
    js: async_nats::jetstream::Context,
    pending: VecDeque<(String, u64, Bytes, PublishAckFuture)>,
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

    async fn send(&self, subject: &str, seq: u64, payload: Bytes) -> Result<PublishAckFuture> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("{subject}:{seq}").as_str(),
        );
        self.js
            .publish_with_headers(subject.to_string(), headers, payload)
            .await
            .map_err(|e| Error::Nats(format!("publish to JetStream: {e}")))
    }

    pub(super) async fn publish(&mut self, subject: &str, seq: u64, payload: Bytes) -> Result<()> {
        while self.unacked.contains(subject) {
            self.settle(self.pending.len().saturating_sub(1)).await?;
        }
        let ack = self.send(subject, seq, payload.clone()).await?;
        self.unacked.insert(subject.to_string());
        self.pending
            .push_back((subject.to_string(), seq, payload, ack));
        self.settle(Self::IN_FLIGHT).await
    }

    /// Awaits acknowledgements until at most `keep` are in flight; one that
    /// fails is sent again with the same id (the stream discards a copy it
    /// already stored).
    pub(super) async fn settle(&mut self, keep: usize) -> Result<()> {
        while self.pending.len() > keep {
            let Some((subject, seq, payload, ack)) = self.pending.pop_front() else {
                break;
            };
            let mut result = ack.await.map(drop).map_err(|e| e.to_string());
            let mut tries = 1;
            while let Err(e) = result {
                if tries >= Self::TRIES {
                    return Err(Error::Nats(format!(
                        "{subject} seq {seq}: not acknowledged by JetStream after {tries} tries: {e}"
                    )));
                }
                tracing::debug!(%subject, seq, "not acknowledged ({e}): sending it again");
                tokio::time::sleep(Duration::from_millis(500)).await;
                tries += 1;
                result = match self.send(&subject, seq, payload.clone()).await {
                    Ok(ack) => ack.await.map(drop).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
            }
            self.unacked.remove(&subject);
        }
        Ok(())
    }
}
