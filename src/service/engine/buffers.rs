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
