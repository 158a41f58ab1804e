//! The integration tests in one binary: one build and one link instead of
//! fourteen (a cold `make test` on 2 cores spent minutes linking test
//! binaries), one module per concern, over the helpers in `tests/common/`.
//! Three stay binaries of their own: `alloc` (a counting global allocator),
//! `hostile` (it measures its own process's memory) and `trace` (built again
//! with the `otel` feature).
//!
//! Run one concern with a filter: `cargo test --test suite durable::`.

#[path = "common/mod.rs"]
mod common;

#[path = "channels.rs"]
mod channels;
#[path = "cli.rs"]
mod cli;
#[path = "dead_letter.rs"]
mod dead_letter;
#[path = "deploy.rs"]
mod deploy;
#[path = "durable/mod.rs"]
mod durable;
#[path = "format.rs"]
mod format;
#[path = "fuzz_regressions.rs"]
mod fuzz_regressions;
#[path = "numerics.rs"]
mod numerics;
#[path = "operate.rs"]
mod operate;
#[path = "proto.rs"]
mod proto;
#[path = "recordings/mod.rs"]
mod recordings;
#[path = "scale_out.rs"]
mod scale_out;
#[path = "service/main.rs"]
mod service;
#[path = "shadow/mod.rs"]
mod shadow;
#[path = "shipped_models.rs"]
mod shipped_models;
#[path = "train.rs"]
mod train;
