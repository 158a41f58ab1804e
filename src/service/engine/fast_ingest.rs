//! A stored sink over JetStream's fast-ingest batches (ADR-50, nats-server
//! 2.14+, streams with `allow_batched`): one acknowledgement per published
//! batch instead of one per translation.
//!
//! Each batch of translations goes out as one fast batch: the first message
//! opens it, the rest append, and the last one commits it (stored like the
//! others); the server answers the commit with one publish ack carrying the
//! batch's count. Each message is held back until the next one arrives or
//! the batch ends, so that the last can carry the commit: an end-of-batch
//! commit without a message of its own (operation 3) reaches plain NATS
//! subscribers of the output subject as an empty message, which is not a
//! translation (a one-window batch is then one message and one ack).
//!
//! Replies come to `<inbox>.<flow>.fail.<seq>.<op>.$FI`, the batch id
//! being the inbox's second token. Each engine run subscribes to a few
//! such inboxes once; a batch takes a free one and the acker frees it once
//! the batch's ack is read, so no two batches in flight share an id (one id
//! for consecutive batches works on a single server, but on a 3-node
//! cluster a batch still committing was sometimes counted together with
//! the next: "stored a batch of 39 messages, 22 were sent"). The pool also
//! bounds the batches awaiting their ack (nats-server 2.15.1 holds at
//! most 1,000 fast batches in flight per stream).
//! `fail` makes a lost message fail the batch rather than leave a gap.
//! Every message keeps its `Nats-Msg-Id`, and the stream's duplicate window
//! still discards replays: measured with nats-server 2.15.1, within one
//! batch and across batches (`benches/fast_ingest_probe.py`).
//!
//! What it costs: the server does not say which messages of a batch were
//! duplicates, only when all of them were (the ack's `seq` is 0), so the
//! `duplicates` count sees whole replayed batches only.
//!
//! Plain subscribers of the output see each translation's reply subject,
//! so anything they answer lands in our inboxes too. What does not read as
//! the server's reply for this batch (not JSON of a known shape, or a
//! publish ack naming another batch) is logged and skipped, so a client
//! that answers every message can neither fail nor settle a batch.

use std::time::Duration;

use async_nats::{Client, Subject, Subscriber};
use bytes::{BufMut, BytesMut};
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::buffers::{Outgoing, room};

/// The most messages between two flow acks that we ask for: above any
/// usual `--max-batch`, so a batch of several translations gets one start
/// ack and one publish ack (a one-window batch only the latter). The server
/// may ack more often, never less.
const FLOW: u16 = 10_000;

/// Operations, the reply subject's second-to-last token.
#[derive(Debug, Clone, Copy)]
enum Op {
    Start = 0,
    Append = 1,
    /// Stores the message and commits the batch.
    Commit = 2,
}

/// How long the acker waits for each reply of a batch (flow acks re-arm
/// it): the server itself abandons a batch idle for 10 s.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Batch ids per engine run: batches in flight at most.
const IDS: usize = 8;

/// Publishes batches: each message with its batch's reply subject.
pub(in crate::service) struct FastIngest {
    client: Client,
    /// Batch ids not in use; the acker gives each back once its batch is
    /// acknowledged.
    free: mpsc::Receiver<Inbox>,
    /// The sending side of `free`, until the acker takes it (so that when
    /// the acker stops, waiting for a free id ends too).
    give_back: Option<mpsc::Sender<Inbox>>,
    /// The open batch, if any.
    open: Option<Open>,
}

/// A batch id and the subscription its replies come to.
pub(super) struct Inbox {
    /// `<inbox>.<FLOW>.fail.`: the reply's fixed head.
    head: String,
    /// The batch id the server names in its publish ack (the inbox's
    /// second token).
    id: String,
    sub: Subscriber,
    /// Replies skipped as not the server's (see the module's comment).
    strays: u64,
}

/// A batch between its first message and its commit.
struct Open {
    inbox: Inbox,
    /// Messages published so far.
    seq: u64,
    /// The latest message, not yet published: the next `add` publishes it
    /// as a start or append, `commit` as the commit.
    held: Outgoing,
}

impl FastIngest {
    /// Subscribes to the run's batch ids. `None` when the client's inbox
    /// prefix has more than one token (the server parses the reply from
    /// the right and wants `<prefix>.<id>`).
    pub async fn open(client: &Client) -> Result<Option<Box<FastIngest>>, String> {
        if client.new_inbox().matches('.').count() != 1 {
            return Ok(None);
        }
        let (give_back, free) = mpsc::channel(IDS);
        for _ in 0..IDS {
            let inbox = client.new_inbox();
            let sub = (client.subscribe(format!("{inbox}.>")).await)
                .map_err(|e| format!("subscribing for batch acknowledgements: {e}"))?;
            let head = format!("{inbox}.{FLOW}.fail.");
            let id = inbox.rsplit('.').next().unwrap_or_default().to_string();
            let strays = 0;
            let _ = give_back.try_send(Inbox {
                head,
                id,
                sub,
                strays,
            });
        }
        Ok(Some(Box::new(FastIngest {
            client: client.clone(),
            free,
            give_back: Some(give_back),
            open: None,
        })))
    }

    /// Where the acker gives batch ids back (once).
    pub(super) fn give_back(&mut self) -> Option<mpsc::Sender<Inbox>> {
        self.give_back.take()
    }

    /// Adds one message to the open batch, opening one if needed; the
    /// message before it goes out now.
    pub(super) async fn add(&mut self, arena: &mut BytesMut, held: Outgoing) -> Result<(), String> {
        let Some(open) = &mut self.open else {
            let inbox = (self.free.recv().await).ok_or("the acker stopped")?;
            self.open = Some(Open {
                inbox,
                seq: 0,
                held,
            });
            return Ok(());
        };
        let before = std::mem::replace(&mut open.held, held);
        let op = if open.seq == 0 { Op::Start } else { Op::Append };
        open.seq += 1;
        send(&self.client, arena, &open.inbox.head, open.seq, op, before).await
    }

    /// Commits the open batch, if any, with its last message: returns its
    /// id (the acker reads the acknowledgement there).
    pub(super) async fn commit(&mut self, arena: &mut BytesMut) -> Result<Option<Inbox>, String> {
        let Some(open) = self.open.take() else {
            return Ok(None);
        };
        let (head, seq) = (&open.inbox.head, open.seq + 1);
        send(&self.client, arena, head, seq, Op::Commit, open.held).await?;
        Ok(Some(open.inbox))
    }
}

/// Publishes one message of a batch: its `seq` and `op` in the reply.
async fn send(
    client: &Client,
    arena: &mut BytesMut,
    head: &str,
    seq: u64,
    op: Op,
    m: Outgoing,
) -> Result<(), String> {
    let reply = reply(arena, head, seq, op);
    (client.publish_with_reply_and_header_block(m.subject, reply, m.headers, m.payload))
        .await
        .map_err(|e| e.to_string())
}

/// `<head><seq>.<op>.$FI`, written into the shared block.
fn reply(arena: &mut BytesMut, head: &str, seq: u64, op: Op) -> Subject {
    use std::io::Write as _;
    room(arena, head.len() + 32);
    let mut w = arena.writer();
    let _ = write!(w, "{head}{seq}.{}.$FI", op as u8);
    let bytes = w.into_inner().split().freeze();
    // Made of a `str`, digits and ASCII: always UTF-8.
    Subject::from_utf8(bytes)
        .unwrap_or_else(|_| Subject::from(format!("{head}{seq}.{}.$FI", op as u8)))
}

/// What the server said about one committed batch.
#[derive(Debug, PartialEq)]
pub(super) struct Stored {
    /// Messages in the batch, duplicates included.
    pub count: u64,
    /// True when the stream held every one of them already.
    pub all_duplicates: bool,
    /// The batch id it names.
    batch: String,
}

/// Waits for a batch's publish ack on its id's subscription, skipping flow
/// acks and strays; checks that the server counted the `windows` sent.
pub(super) async fn stored(inbox: &mut Inbox, windows: u64) -> Result<Stored, String> {
    loop {
        let msg = tokio::time::timeout(ACK_TIMEOUT, inbox.sub.next())
            .await
            .map_err(|_| format!("no acknowledgement for a batch within {ACK_TIMEOUT:?}"))?
            .ok_or("the acknowledgement subscription ended")?;
        match settles(&msg.payload, &inbox.id, windows)? {
            Reply::Stored(s) => return Ok(s),
            Reply::Flow => {}
            Reply::Stray => stray(inbox, &msg.payload),
        }
    }
}

/// What one reply says about batch `id` of `windows` messages: stored,
/// nothing yet (a flow ack), a stray (another batch's ack counts as one),
/// or failed.
fn settles(payload: &[u8], id: &str, windows: u64) -> Result<Reply, String> {
    match parse(payload)? {
        Reply::Stored(s) if s.batch != id => Ok(Reply::Stray),
        Reply::Stored(s) if s.count != windows => Err(format!(
            "the server stored a batch of {} messages, {windows} were sent",
            s.count
        )),
        reply => Ok(reply),
    }
}

/// Skips a reply that is not the server's for this batch.
fn stray(inbox: &mut Inbox, payload: &[u8]) {
    inbox.strays += 1;
    super::acker::skipped(inbox.strays, payload);
}

#[derive(Debug, PartialEq)]
enum Reply {
    /// A flow ack (progress within an open batch): nothing to settle.
    Flow,
    Stored(Stored),
    /// Not a reply of the server's.
    Stray,
}

/// Reads one reply on the batch inbox: the server's flow ack, publish ack
/// or error, or a stray (anything else).
fn parse(payload: &[u8]) -> Result<Reply, String> {
    #[derive(Deserialize)]
    struct Wire {
        #[serde(rename = "type")]
        kind: Option<String>,
        seq: Option<u64>,
        count: Option<u64>,
        batch: Option<String>,
        error: Option<serde_json::Value>,
    }
    let Ok(w) = serde_json::from_slice::<Wire>(payload) else {
        return Ok(Reply::Stray);
    };
    if let Some(e) = w.error {
        return Err(format!("batch publish failed: {e}"));
    }
    match (w.kind.as_deref(), w.count, w.batch) {
        (Some("ack"), _, _) => Ok(Reply::Flow),
        // A gap (a message of the batch lost on the way) or a flow error.
        (Some(kind @ ("gap" | "err")), _, _) => Err(format!(
            "batch publish failed ({kind}): {}",
            String::from_utf8_lossy(payload)
        )),
        (None, Some(count), Some(batch)) => Ok(Reply::Stored(Stored {
            count,
            all_duplicates: w.seq == Some(0),
            batch,
        })),
        _ => Ok(Reply::Stray),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The replies nats-server 2.15.1 sent in the experiment the module
    // comment describes.
    #[test]
    fn replies_parse_as_the_server_sends_them() {
        assert_eq!(
            parse(br#"{"type":"ack","seq":0,"msgs":100}"#),
            Ok(Reply::Flow)
        );
        // A batch stored, and one whose messages were all held already.
        for (ack, count, all_duplicates) in [
            (
                &br#"{"stream":"S","seq":3,"batch":"b1","count":4}"#[..],
                4,
                false,
            ),
            (
                br#"{"stream":"S","seq":0,"batch":"b1","count":10}"#,
                10,
                true,
            ),
        ] {
            let batch = "b1".into();
            let want = Stored {
                count,
                all_duplicates,
                batch,
            };
            assert_eq!(parse(ack), Ok(Reply::Stored(want)));
        }
        let unknown = br#"{"error":{"code":400,"err_code":10208,"description":"batch publish ID unknown"},"stream":"S","seq":0}"#;
        assert!(parse(unknown).unwrap_err().contains("10208"));
        let inflight = br#"{"error":{"code":429,"err_code":10211,"description":"batch publish too many inflight"},"stream":"S","seq":0}"#;
        assert!(parse(inflight).unwrap_err().contains("10211"));
        let gap = br#"{"type":"gap","last_seq":4,"seq":6}"#;
        assert!(parse(gap).unwrap_err().contains("gap"));
    }

    // What a plain subscriber answering translations might send: skipped,
    // neither failing nor settling a batch.
    #[test]
    fn answers_from_other_clients_are_strays() {
        for stray in [
            &b"not json"[..],
            b"",
            b"\x93\x01\x02\x03",
            br#"{"stream":"S"}"#,
            br#"{"stream":"bench-1","seq":7,"values":[0.5]}"#,
            br#"{"count":4}"#,
            br#"{"type":"thanks"}"#,
            b"[1,2]",
        ] {
            assert_eq!(parse(stray), Ok(Reply::Stray), "{stray:?}");
            assert_eq!(settles(stray, "b1", 4), Ok(Reply::Stray), "{stray:?}");
        }
    }

    #[test]
    fn only_the_batchs_own_ack_with_its_count_settles_it() {
        let ack = br#"{"stream":"S","seq":3,"batch":"b1","count":4}"#;
        assert!(matches!(settles(ack, "b1", 4), Ok(Reply::Stored(s)) if s.count == 4));
        // Another batch's (a forged or misrouted ack): not this one's.
        assert_eq!(settles(ack, "b2", 4), Ok(Reply::Stray));
        // The right batch, the wrong count: the attempt fails.
        assert!(settles(ack, "b1", 5).unwrap_err().contains("4 messages, 5"));
        let flow = br#"{"type":"ack","seq":2,"msgs":2}"#;
        assert_eq!(settles(flow, "b1", 4), Ok(Reply::Flow));
        let gap = br#"{"type":"gap","last_seq":4,"seq":6}"#;
        assert!(settles(gap, "b1", 4).is_err());
    }
}
