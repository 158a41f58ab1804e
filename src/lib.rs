//! `pipeline`: translate live numeric signals with a seq2seq LSTM.
//!
//! # Layout
//!
//! Data flows one way: wire → windows → batcher → model → wire (and, offline,
//! curves/CSV → windows → training → model file).
//!
//! - [`pairs`]: the pair table (which curve becomes which, on what x grid).
//! - [`data`]: training/evaluation windows (the seed's sliding windows,
//!   random-phase windows, CSV series).
//! - [`recording`]: a user's CSV export: columns by name or index,
//!   delimiter sniffing, bad cells named by line and column, segments.
//! - [`scaling`]: per-channel affine scaling (physical units ↔ the
//!   network's), fitted on the training split, stored in the model file.
//! - [`baseline`]: the mean predictor and the least-squares linear map a
//!   model must beat.
//! - [`fit`]: training on recordings: chronological split, scaling, early
//!   stopping, scoring against the baselines, report and figures.
//! - [`model`]: the encoder-decoder on candle; teacher-forced and
//!   autoregressive passes.
//! - [`skip`]: a residual model's linear skip (the linear map, in the
//!   network's units), added to the network's translation by both paths.
//! - [`fast`]: the fast inference path in physical units, over the numeric
//!   kernel: the crate `pipeline-kernel` in `src/kernel/` (on AVX2 one fused
//!   kernel per step, product and cell update in registers; elsewhere a GEMM
//!   and a vectorised gate kernel; decoder feedback folded into its
//!   weights; the roofline probe; the seeded generator). A crate of its own:
//!   the unsafe SIMD code apart, optimised fully even in test builds.
//! - [`fleet`]: `pipeline reload|shadow|promote|status`: every instance
//!   found with `$SRV.PING`, one answer from each.
//! - [`format`]: the model file (safetensors, PyTorch names, our metadata):
//!   loading with shape checks and dtype conversion, atomic saving.
//! - [`train`]: seeded initialisation, recipes (epochs, or a step/time
//!   budget with early stopping), the data-parallel training loop.
//! - [`eval`]: accuracy metrics.
//! - [`translate`]: the text filter behind `pipeline translate`.
//! - [`report`], [`plot`]: training reports and PNG figures.
//! - [`wire`]: the NATS wire contract (MessagePack samples in, translations
//!   and error events out), documented in `proto/`.
//! - [`window`]: per-stream sliding windows; subject → stream key.
//! - [`service`]: `pipeline serve`, wiring and graceful shutdown; in
//!   `service/`: `route.rs` (a route's live and shadow models, reload,
//!   promote), `ingest.rs` (the hot path: subscription → stream windows),
//!   `engine.rs` (batcher, compute threads, the one publisher over a core or
//!   JetStream sink, shared by both modes; `engine/buffers.rs`, the buffers
//!   it recycles; `engine/stored.rs`, publishing into JetStream with message
//!   ids; `engine/fast_ingest.rs`, JetStream fast-ingest batches, one
//!   acknowledgement per batch; `engine/per_message.rs`, one per
//!   translation, on an inbox of ours; `engine/acker.rs`, a JetStream sink's
//!   acknowledgements in order), `observe.rs` (shadow outputs, comparisons with live and
//!   truth), `events.rs` (error events, trace context, connection events),
//!   `requests.rs` (the `pipeline` NATS service's endpoints and SIGHUP),
//!   `durable/` (durable mode: the unit protocol, setup, checkpoints, dead
//!   letters).
//! - [`connect`]: where and how every subcommand connects: flags, `NATS_*`
//!   variables, `nats` CLI contexts, the config file, in that order.
//! - [`config`]: the service's typed configuration (TOML or flags), and
//!   where each value came from (`config/layers.rs`: flags > environment >
//!   file > defaults).
//! - [`stats`]: the service's counters and histograms (`$SRV.STATS`, Prometheus).
//! - [`nats`]: connecting (credentials, TLS), connection events, the
//!   round-trip barrier, the patched client's flags.
//! - [`metrics`]: `--metrics-addr`: `/metrics`, `/healthz`, `/readyz` over HTTP
//!   (the exposition itself is `stats/exposition.rs`, by `prometheus-client`).
//! - [`telemetry`]: a span per batch, to the exporter the program installs
//!   (OpenTelemetry over OTLP/HTTP: the `pipeline-otel` crate, `src/otel/`,
//!   linked by the command's cargo feature `otel`, off by default).
//! - [`tools`]: `pipeline publish` and `pipeline tail`, for demos and tests.
//! - [`bench`]: `pipeline bench --model-only` (fast vs reference path).
//! - [`roofline`]: useful FLOPs per window and an in-process FP32 peak
//!   probe, so benchmarks state their fraction of the machine.
//! - [`rng`]: the seeded generator that makes runs reproducible.
//! - [`error`]: the library's error type.
//!
//! The binary (`src/main.rs`: the top-level parser and dispatch; `src/cli/`:
//! each subcommand family's flags and handler) only parses flags, shows
//! progress and calls into these modules. It is the root package, with the
//! integration tests and benchmarks; this library is the package
//! `pipeline-lib` (`src/Cargo.toml`), so that test builds optimise it and
//! not the test code.

/// The commit this build is from (`git rev-parse --short=12 HEAD`, or
/// "unknown" outside a checkout).
pub const REVISION: &str = env!("PIPELINE_REVISION");

/// `pipeline --version`: the version and the commit.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PIPELINE_REVISION"),
    ")"
);

pub mod baseline;
pub mod bench;
pub mod config;
pub mod connect;
pub mod data;
pub mod deviation;
pub mod error;
pub mod eval;
pub mod fast;
pub mod fit;
pub mod fleet;
pub mod format;
pub mod metrics;
pub mod model;
pub mod nats;
pub mod pairs;
pub mod plot;
pub mod recording;
pub mod report;
pub mod scaling;
pub mod service;
pub mod skip;
pub mod stats;
pub mod telemetry;
pub mod tools;
pub mod train;
pub mod translate;
pub mod window;
pub mod wire;

pub use error::{Error, Result};
pub use format::LoadedModel;
pub use model::Seq2Seq;
/// The numeric kernel's FP32 roofline probe and seeded generator (a crate of
/// their own: see `src/kernel/lib.rs`).
pub use pipeline_kernel::{rng, roofline};
