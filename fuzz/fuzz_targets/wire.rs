//! Arbitrary bytes into every decoder in `pipeline::wire`; decoded samples
//! through a `StreamWindow`. The checks live in `fuzz/checks.rs`, shared
//! with `tests/fuzz_regressions.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Only the wire half of the shared checks is used here.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    checks::check_wire(data);
});
