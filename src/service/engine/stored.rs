//! The publisher's side of a stored sink: each translation goes into
//! JetStream with its message id, and each batch's acknowledgements go to
//! the acker, which awaits them in order while the next batches publish.

use std::sync::Arc;

use async_nats::Subject;
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use super::acker::Settle;
use super::buffers::{Outgoing, header_block};
use super::fast_ingest::FastIngest;
use super::lease::Lease;
use super::per_message::PerMessage;

/// How a stored sink's translations are acknowledged.
pub(in crate::service) enum Acked {
    /// In fast-ingest batches, when the output stream allows them: one
    /// acknowledgement per batch.
    Batches(Box<FastIngest>),
    /// Each on its own.
    Each(Box<PerMessage>),
}

pub(super) struct StoredOut {
    settle: mpsc::Sender<Settle>,
    acked: Acked,
    lease: Arc<Lease>,
    /// The batch's windows' `ts`.
    stamps: Vec<Option<i64>>,
}

impl StoredOut {
    pub fn new(settle: mpsc::Sender<Settle>, acked: Acked, lease: Arc<Lease>) -> Self {
        StoredOut {
            settle,
            acked,
            lease,
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
        // Still this instance's unit (see `lease`): checked for each
        // translation, since a pause can fall in the middle of a batch.
        self.lease.check().await?;
        let headers = header_block(arena, Some((subject.as_str(), seq)), trace);
        let m = Outgoing {
            subject,
            headers,
            payload,
        };
        match &mut self.acked {
            Acked::Batches(fast) => fast.add(arena, m).await?,
            Acked::Each(each) => each.send(arena, m).await?,
        }
        self.stamps.push(ts);
        Ok(())
    }

    /// Ends the batch: commits it (fast ingest) and hands what settles it
    /// to the acker. `false` when publishing must stop (the failure is
    /// reported to the acker, or the acker stopped on one).
    pub async fn finish(&mut self, arena: &mut BytesMut) -> bool {
        let stamps = std::mem::take(&mut self.stamps);
        let settle = match &mut self.acked {
            Acked::Each(each) => Settle::Each(each.finish(), stamps),
            // The commit publishes the batch's last translation, held back
            // since its `send`: asked again (see `lease`), since a pause can
            // fall between that check and this publish.
            Acked::Batches(fast) => match self.lease.check().await {
                Err(why) => Settle::Failed(why, stamps.len() as u64),
                Ok(()) => match fast.commit(arena).await {
                    Ok(Some(inbox)) => Settle::Fast(inbox, stamps),
                    Ok(None) => return true,
                    Err(why) => Settle::Failed(why, stamps.len() as u64),
                },
            },
        };
        let failed = matches!(settle, Settle::Failed(..));
        self.settle.send(settle).await.is_ok() && !failed
    }

    /// Publishing stopped: the acker reports `why` and ends.
    pub async fn fail(&self, why: String) {
        let n = self.stamps.len().max(1) as u64;
        let _ = self.settle.send(Settle::Failed(why, n)).await;
    }
}
