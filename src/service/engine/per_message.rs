//! A stored sink for output streams without fast-ingest batches: each
//! translation is acknowledged on its own, on an inbox of ours.
//!
//! Each translation goes out with the reply subject `<inbox>.<n>`, `n`
//! counting the run's translations, and the acker reads the publish acks
//! from one subscription on `<inbox>.>`, batch by batch. Not the client's
//! JetStream publish: that takes the *first* answer to each publish as its
//! acknowledgement, and plain subscribers of the output see every reply
//! subject, so a client that answers messages (a request-reply framework,
//! an echo) failed the unit's attempts, every one of them, for as long as
//! it ran. Here what is not the output stream's publish ack (not JSON of
//! that shape, or naming another stream) is logged and skipped, as for
//! fast batches; a server error still fails the attempt.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use async_nats::{Client, StatusCode, Subject, Subscriber};
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use serde::Deserialize;

use super::buffers::{Outgoing, room};

/// How long the acker waits for each acknowledgement (the client's own
/// JetStream publish waits 5 s in all).
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Acknowledgements that arrived before their batch was settled, kept at
/// most (the server answers in order; only strays could fill it).
const EARLY_MAX: usize = 100_000;

/// The publisher's side: numbers each translation's reply subject.
pub(in crate::service) struct PerMessage {
    client: Client,
    /// `<inbox>.`
    head: String,
    /// The next translation's number, and the first of the open batch.
    next: u64,
    first: u64,
    /// Taken by the acker.
    reader: Option<AckReader>,
}

/// The acker's side: the subscription the acknowledgements come to.
pub(super) struct AckReader {
    head: String,
    sub: Subscriber,
    /// The output stream's name: its publish acks name it.
    stream: String,
    /// Numbers already acknowledged beyond the batch being settled, and
    /// whether each was a duplicate.
    early: BTreeMap<u64, bool>,
    /// Which of the batch being settled are acknowledged (reused).
    seen: Vec<bool>,
    /// Replies skipped as not the server's.
    strays: u64,
}

impl PerMessage {
    /// Subscribes to a new inbox for the acknowledgements of `stream`.
    pub async fn open(client: &Client, stream: &str) -> Result<Box<PerMessage>, String> {
        let inbox = client.new_inbox();
        let sub = (client.subscribe(format!("{inbox}.>")).await)
            .map_err(|e| format!("subscribing for acknowledgements: {e}"))?;
        let head = format!("{inbox}.");
        let reader = AckReader {
            head: head.clone(),
            sub,
            stream: stream.to_string(),
            early: BTreeMap::new(),
            seen: Vec::new(),
            strays: 0,
        };
        Ok(Box::new(PerMessage {
            client: client.clone(),
            head,
            next: 0,
            first: 0,
            reader: Some(reader),
        }))
    }

    /// The reading side, for the acker (once).
    pub(super) fn reader(&mut self) -> Option<AckReader> {
        self.reader.take()
    }

    /// Publishes one translation of the open batch.
    pub(super) async fn send(&mut self, arena: &mut BytesMut, m: Outgoing) -> Result<(), String> {
        let reply = reply(arena, &self.head, self.next);
        self.next += 1;
        (self.client)
            .publish_with_reply_and_header_block(m.subject, reply, m.headers, m.payload)
            .await
            .map_err(|e| e.to_string())
    }

    /// Ends the open batch: the numbers its acknowledgements will name.
    pub(super) fn finish(&mut self) -> Range<u64> {
        let batch = self.first..self.next;
        self.first = self.next;
        batch
    }
}

/// Publishes one message with `headers` (name, value) and waits for
/// `stream` to acknowledge it, as the sink does for each translation:
/// answers that are not the stream's publish ack are skipped. For rare
/// messages (dead letters): it subscribes to an inbox for this one.
/// Values are one line each: a line break in one becomes a space.
pub(in crate::service) async fn publish_acked(
    client: &Client,
    stream: &str,
    subject: Subject,
    headers: &[(&str, &str)],
    payload: Bytes,
) -> Result<(), String> {
    let mut block = String::from("NATS/1.0\r\n");
    for (name, value) in headers {
        let value = value.replace(['\r', '\n'], " ");
        block.push_str(&format!("{name}: {value}\r\n"));
    }
    block.push_str("\r\n");
    let mut each = PerMessage::open(client, stream).await?;
    let mut reader = each.reader().ok_or("no acknowledgement reader")?;
    let m = Outgoing {
        subject,
        headers: block.into(),
        payload,
    };
    each.send(&mut BytesMut::new(), m).await?;
    reader.settle(each.finish()).await.map(drop)
}

/// `<head><n>`, written into the shared block.
fn reply(arena: &mut BytesMut, head: &str, n: u64) -> Subject {
    use std::io::Write as _;
    room(arena, head.len() + 20);
    let mut w = arena.writer();
    let _ = write!(w, "{head}{n}");
    let bytes = w.into_inner().split().freeze();
    // Made of a `str` and digits: always UTF-8.
    Subject::from_utf8(bytes).unwrap_or_else(|_| Subject::from(format!("{head}{n}")))
}

impl AckReader {
    /// Waits until every translation of `batch` is acknowledged; returns
    /// how many were duplicates (held by the stream already).
    pub(super) async fn settle(&mut self, batch: Range<u64>) -> Result<u64, String> {
        let mut settling = Settling::new(batch, &mut self.seen, &mut self.early);
        while !settling.done() {
            let msg = tokio::time::timeout(ACK_TIMEOUT, self.sub.next())
                .await
                .map_err(|_| {
                    format!("no acknowledgement for a translation within {ACK_TIMEOUT:?}")
                })?
                .ok_or("the acknowledgement subscription ended")?;
            if msg.status == Some(StatusCode::NO_RESPONDERS) {
                return Err("no stream stored a translation (no responders)".into());
            }
            let n = msg
                .subject
                .strip_prefix(self.head.as_str())
                .and_then(|n| n.parse().ok());
            let ack = parse(&msg.payload, &self.stream)?;
            let taken = match (n, ack) {
                (Some(n), Ack::Stored { duplicate }) => settling.take(n, duplicate),
                _ => false,
            };
            if !taken {
                self.strays += 1;
                super::acker::skipped(self.strays, &msg.payload);
            }
        }
        Ok(settling.duplicates)
    }
}

/// One batch being settled: which of its numbers are acknowledged.
struct Settling<'a> {
    batch: Range<u64>,
    seen: &'a mut Vec<bool>,
    early: &'a mut BTreeMap<u64, bool>,
    missing: u64,
    duplicates: u64,
}

impl<'a> Settling<'a> {
    fn new(batch: Range<u64>, seen: &'a mut Vec<bool>, early: &'a mut BTreeMap<u64, bool>) -> Self {
        seen.clear();
        seen.resize((batch.end - batch.start) as usize, false);
        let mut s = Settling {
            missing: batch.end - batch.start,
            batch,
            seen,
            early,
            duplicates: 0,
        };
        // What arrived early for numbers below the batch's end is its
        // (numbers below its start belong to settled batches: dropped).
        while let Some(entry) = s.early.first_entry() {
            if *entry.key() >= s.batch.end {
                break;
            }
            let (n, duplicate) = entry.remove_entry();
            s.take(n, duplicate);
        }
        s
    }

    fn done(&self) -> bool {
        self.missing == 0
    }

    /// Records the acknowledgement of translation `n`: false when it
    /// settles nothing (already settled, or a second answer for one).
    fn take(&mut self, n: u64, duplicate: bool) -> bool {
        if n >= self.batch.end {
            if self.early.len() >= EARLY_MAX {
                return false;
            }
            return self.early.insert(n, duplicate).is_none();
        }
        let Some(seen) = n
            .checked_sub(self.batch.start)
            .and_then(|i| self.seen.get_mut(i as usize))
        else {
            return false;
        };
        if std::mem::replace(seen, true) {
            return false;
        }
        self.missing -= 1;
        self.duplicates += u64::from(duplicate);
        true
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Ack {
    Stored {
        duplicate: bool,
    },
    /// Not the output stream's publish ack.
    Stray,
}

/// Reads one reply: the output stream's publish ack, a server error (the
/// publish failed), or a stray (anything else, a fast batch's ack among
/// them: this stream does not batch).
fn parse(payload: &[u8], stream: &str) -> Result<Ack, String> {
    #[derive(Deserialize)]
    struct Wire<'a> {
        #[serde(borrow)]
        stream: Option<&'a str>,
        seq: Option<u64>,
        duplicate: Option<bool>,
        batch: Option<serde::de::IgnoredAny>,
        error: Option<serde_json::Value>,
    }
    let Ok(w) = serde_json::from_slice::<Wire>(payload) else {
        return Ok(Ack::Stray);
    };
    if let Some(e) = w.error {
        return Err(format!("publish failed: {e}"));
    }
    Ok(match (w.stream, w.seq, w.batch) {
        (Some(s), Some(_), None) if s == stream => Ack::Stored {
            duplicate: w.duplicate.unwrap_or(false),
        },
        _ => Ack::Stray,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_output_streams_publish_acks_settle() {
        let stored = Ok(Ack::Stored { duplicate: false });
        for (reply, want) in [
            (&br#"{"stream":"OUT","seq":7}"#[..], stored.clone()),
            (
                br#"{"stream":"OUT","seq":7,"duplicate":true,"domain":"hub"}"#,
                Ok(Ack::Stored { duplicate: true }),
            ),
            (br#"{"stream":"OTHER","seq":7}"#, Ok(Ack::Stray)),
            (
                br#"{"stream":"OUT","seq":1,"batch":"b","count":1}"#,
                Ok(Ack::Stray),
            ),
            (b"thanks", Ok(Ack::Stray)),
            (b"", Ok(Ack::Stray)),
            // A translation in JSON, echoed: a stream and seq of its own.
            (
                br#"{"stream":"s1","seq":42,"values":[0.5]}"#,
                Ok(Ack::Stray),
            ),
        ] {
            assert_eq!(
                parse(reply, "OUT"),
                want,
                "{}",
                String::from_utf8_lossy(reply)
            );
        }
        let refused =
            br#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}"#;
        assert!(
            parse(refused, "OUT")
                .unwrap_err()
                .contains("maximum messages")
        );
    }

    #[test]
    fn a_batch_settles_once_each_of_its_translations_is_acknowledged_once() {
        let (mut seen, mut early) = (Vec::new(), BTreeMap::new());
        let mut s = Settling::new(10..13, &mut seen, &mut early);
        assert!(s.take(11, false));
        assert!(!s.take(11, false), "a second answer for one translation");
        assert!(!s.take(9, false), "one of an earlier batch");
        assert!(s.take(14, true), "one of a later batch, kept");
        assert!(s.take(10, true));
        assert!(!s.done());
        assert!(s.take(12, false));
        assert!(s.done());
        assert_eq!(s.duplicates, 1);
        // The next batch starts with what came early.
        let mut s = Settling::new(13..15, &mut seen, &mut early);
        assert!(!s.done());
        assert!(s.take(13, false));
        assert!(s.done());
        assert_eq!(s.duplicates, 1);
        assert!(early.is_empty());
    }
}
