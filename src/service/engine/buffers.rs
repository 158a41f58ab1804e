//! Buffers the hot path reuses: window, batch and output vectors recycled
//! around the pipeline, and the publisher's arena for subjects and payloads.

use std::sync::Mutex;

use super::Job;

/// Buffers recycled around the pipeline, so that in steady state a window
/// costs no allocation: ingest fills a window buffer, the batcher a batch
/// and the compute thread an output buffer, all taken from here; the
/// publisher gives them back once the batch is published.
#[derive(Default)]
pub(in crate::service) struct Buffers {
    windows: Pool<f32>,
    pub(super) outputs: Pool<f32>,
    pub(super) batches: Pool<Job>,
}

/// Empty vectors kept for reuse (at most [`Pool::KEEP`]; more are freed).
pub(super) struct Pool<T>(Mutex<Vec<Vec<T>>>);

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self(Mutex::new(Vec::new()))
    }
}

impl<T> Pool<T> {
    /// Enough for every window queued and in flight at the default limits.
    const KEEP: usize = 16_384;

    pub(super) fn take(&self) -> Vec<T> {
        self.0
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default()
    }

    fn give(&self, mut v: Vec<T>) {
        v.clear();
        if let Ok(mut pool) = self.0.lock()
            && pool.len() < Self::KEEP
        {
            pool.push(v);
        }
    }
}

impl Buffers {
    /// A window's samples, in a recycled buffer.
    pub fn window(&self, samples: &[f32]) -> Vec<f32> {
        let mut v = self.windows.take();
        v.extend_from_slice(samples);
        v
    }

    /// Gives back a window's buffer that was never queued (shed).
    pub fn give_window(&self, input: Vec<f32>) {
        self.windows.give(input);
    }

    /// Gives back a published batch's buffers.
    pub(super) fn recycle(&self, mut jobs: Vec<Job>, outputs: Vec<f32>) {
        for job in jobs.drain(..) {
            self.windows.give(job.input);
        }
        self.batches.give(jobs);
        self.outputs.give(outputs);
    }
}

/// The size of a block of the publisher's arena.
pub(super) const ARENA_BYTES: usize = 64 * 1024;

/// Makes room for `needed` more bytes in `arena`: a new block when the
/// current one is short (the slices already handed out keep the old one).
pub(super) fn room(arena: &mut bytes::BytesMut, needed: usize) {
    if arena.capacity() < needed {
        arena.reserve(needed.max(ARENA_BYTES));
    }
}

/// One translation to publish: slices of the publisher's arena.
pub(super) struct Outgoing {
    pub subject: async_nats::Subject,
    /// Its header block (see [`header_block`]).
    pub headers: bytes::Bytes,
    pub payload: bytes::Bytes,
}

/// A translation's header block, written into `arena`: its
/// `Nats-Msg-Id` (`<subject>:<seq>`) when `id` is given, and its
/// `traceparent` when its window has one. Written, not built as a
/// `HeaderMap` (a hash map, a vector and a string per value, encoded again
/// by the client): no allocation per message. A trace value with a line
/// break would break the block; the client's parser never passes one, and
/// one is left out.
pub(super) fn header_block(
    arena: &mut bytes::BytesMut,
    id: Option<(&str, u64)>,
    trace: Option<&str>,
) -> bytes::Bytes {
    use bytes::BufMut as _;
    use std::io::Write as _;
    let trace = trace.filter(|t| !t.contains(['\r', '\n']));
    let id_len = id.map_or(0, |(subject, _)| 36 + subject.len());
    room(arena, 16 + id_len + trace.map_or(0, |t| 16 + t.len()));
    let mut w = arena.writer();
    let _ = w.write_all(b"NATS/1.0\r\n");
    if let Some((subject, seq)) = id {
        let _ = write!(w, "Nats-Msg-Id: {subject}:{seq}\r\n");
    }
    if let Some(t) = trace {
        let _ = write!(w, "traceparent: {t}\r\n");
    }
    let _ = w.write_all(b"\r\n");
    w.into_inner().split().freeze()
}

/// `<output>.<stream>` and the payload, as slices of `arena`.
pub(super) fn slices(
    arena: &mut bytes::BytesMut,
    output: &str,
    stream: &str,
    payload: &[u8],
) -> (async_nats::Subject, bytes::Bytes) {
    room(arena, output.len() + 1 + stream.len() + payload.len());
    arena.extend_from_slice(output.as_bytes());
    arena.extend_from_slice(b".");
    arena.extend_from_slice(stream.as_bytes());
    let subject = arena.split().freeze();
    arena.extend_from_slice(payload);
    let payload = arena.split().freeze();
    // Made of two `str`s and a dot: always UTF-8, so the check cannot fail.
    let subject = async_nats::Subject::from_utf8(subject)
        .unwrap_or_else(|_| async_nats::Subject::from(format!("{output}.{stream}")));
    (subject, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header blocks, as the NATS client parses them when they arrive
    /// (an `HMSG` around each).
    #[test]
    fn header_blocks_parse_as_the_headers_they_stand_for() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut arena = bytes::BytesMut::new();
        let id = Some(("translated.s1", 42));
        for (id, trace, want_trace) in [
            (id, None, None),
            (id, Some(tp), Some(tp)),
            (id, Some("a\r\nX: y"), None),
            (None, Some(tp), Some(tp)),
        ] {
            let block = header_block(&mut arena, id, trace);
            let mut frame = format!("HMSG translated.s1 1 {} {}\r\n", block.len(), block.len());
            frame.push_str(std::str::from_utf8(&block).unwrap());
            frame.push_str("\r\n");
            let ops = async_nats::connection::parse_server_bytes(frame.as_bytes()).unwrap();
            let [Some(msg)] = &ops[..] else {
                panic!("{ops:?}")
            };
            assert_eq!(msg.description, None, "the client flagged {block:?}");
            let h = msg.headers.as_ref().unwrap();
            let got_id = h.get(async_nats::header::NATS_MESSAGE_ID);
            let want_id = id.map(|_| "translated.s1:42");
            assert_eq!(got_id.map(|v| v.as_str()), want_id);
            assert_eq!(h.get("traceparent").map(|v| v.as_str()), want_trace);
            let lines = usize::from(want_id.is_some()) + usize::from(want_trace.is_some());
            assert_eq!(h.iter().count(), lines);
        }
    }
}
