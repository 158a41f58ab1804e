//! The publisher's side of a stored sink: each translation goes into
//! JetStream with its message id, and each batch's acknowledgements go to
//! the acker, which awaits them in order while the next batches publish.

use async_nats::Subject;
use async_nats::jetstream::{self, context::PublishAckFuture};
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use super::acker::Settle;
use super::fast_ingest::{self, FastIngest};

pub(super) struct StoredOut {
    js: jetstream::Context,
    settle: mpsc::Sender<Settle>,
    /// Fast-ingest batches, when the output stream allows them.
    fast: Option<Box<FastIngest>>,
    /// The message id, rewritten for every message (without `fast`).
    id: String,
    /// The batch's acknowledgements (one per translation, without `fast`)
    /// and its windows' `ts`.
    acks: Vec<PublishAckFuture>,
    stamps: Vec<Option<i64>>,
}

impl StoredOut {
    pub fn new(
        js: jetstream::Context,
        settle: mpsc::Sender<Settle>,
        fast: Option<Box<FastIngest>>,
    ) -> Self {
        StoredOut {
            js,
            settle,
            fast,
            id: String::new(),
            acks: Vec::new(),
            stamps: Vec::new(),
        }
    }

    /// Publishes one translation of the batch, with `Nats-Msg-Id` =
    /// `{subject}:{seq}` (in a fast batch: holds it back and publishes the
    /// one before, see `fast_ingest`).
    pub async fn send(
        &mut self,
        arena: &mut BytesMut,
        subject: Subject,
        payload: Bytes,
        seq: u64,
        trace: Option<&str>,
        ts: Option<i64>,
    ) -> Result<(), String> {
        match &mut self.fast {
            Some(fast) => {
                let headers = fast_ingest::headers(arena, subject.as_str(), seq, trace);
                fast.add(arena, subject, headers, payload).await?;
            }
            None => {
                use std::fmt::Write as _;
                self.id.clear();
                let _ = write!(self.id, "{}:{seq}", subject.as_str());
                let mut publish = jetstream::message::PublishMessage::build()
                    .payload(payload)
                    .message_id(self.id.as_str());
                if let Some(t) = trace {
                    publish = publish.header("traceparent", t);
                }
                let ack =
                    (self.js.send_publish(subject, publish).await).map_err(|e| e.to_string())?;
                self.acks.push(ack);
            }
        }
        self.stamps.push(ts);
        Ok(())
    }

    /// Ends the batch: commits it (fast ingest) and hands what settles it
    /// to the acker. `false` when publishing must stop (the failure is
    /// reported to the acker, or the acker stopped on one).
    pub async fn finish(&mut self, arena: &mut BytesMut) -> bool {
        let stamps = std::mem::take(&mut self.stamps);
        let settle = match &mut self.fast {
            None => Settle::Batch(std::mem::take(&mut self.acks), stamps),
            Some(fast) => match fast.commit(arena).await {
                Ok(Some(inbox)) => Settle::Fast(inbox, stamps),
                Ok(None) => return true,
                Err(why) => Settle::Failed(why),
            },
        };
        let failed = matches!(settle, Settle::Failed(_));
        self.settle.send(settle).await.is_ok() && !failed
    }

    /// Publishing stopped: the acker reports `why` and ends.
    pub async fn fail(&self, why: String) {
        let _ = self.settle.send(Settle::Failed(why)).await;
    }
}
