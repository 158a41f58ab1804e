//! `StreamWindow::restore` from an arbitrary `SavedWindow` (a checkpoint read
//! back from the KV bucket: another build's, another W's, or corrupt), then
//! messages: whatever `restore` accepts must not panic later, and must keep
//! the window invariants (windows of W samples, every sample accounted for).
//! The check lives in `fuzz/checks.rs` (`check_restored_window`), shared
//! with `tests/fuzz_regressions.rs`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pipeline::window::SavedWindow;

/// Only the checkpoint part of the shared checks is used here.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

#[derive(Arbitrary, Debug)]
struct Message {
    seq: u64,
    values: Vec<f32>,
    stride: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// W = 1 + window % 64.
    window: u8,
    next_seq: Option<u64>,
    run: u64,
    tail: Vec<f32>,
    messages: Vec<Message>,
}

fuzz_target!(|input: Input| {
    let w = 1 + usize::from(input.window % 64);
    let saved = SavedWindow {
        next_seq: input.next_seq,
        run: input.run,
        tail: input.tail,
        last_ts: None,
        unnumbered: false,
    };
    let messages: Vec<(u64, Vec<f32>, u64)> = input
        .messages
        .into_iter()
        .map(|m| (m.seq, m.values, u64::from(m.stride)))
        .collect();
    checks::check_restored_window(w, &saved, &messages);
});
