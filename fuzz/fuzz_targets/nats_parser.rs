//! Arbitrary server bytes into the NATS protocol parser of our patched
//! async-nats (`vendor/async-nats/PATCHES.md`), raw and shaped into one
//! MSG/HMSG frame. The checks live in `fuzz/checks.rs`, shared with
//! `tests/fuzz_regressions.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Only the parser check is used here.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    checks::check_nats_parser(data);
});
