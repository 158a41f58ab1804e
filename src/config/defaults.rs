//! Every default of the service config, in one place (the `serde`
//! defaults of [`super::ServeConfig`] and `serve`'s flags).

use std::path::PathBuf;

pub fn shadow_output() -> String {
    "shadow".into()
}
pub fn errors() -> String {
    "pipeline.errors".into()
}
pub fn max_batch() -> usize {
    256
}
/// No wait: a window goes as soon as a compute thread is free.
pub fn max_wait_ms() -> f64 {
    0.0
}
pub fn compute_threads() -> usize {
    1
}
pub fn queue() -> usize {
    4096
}
pub fn max_streams() -> usize {
    100_000
}
pub fn idle_timeout_s() -> f64 {
    600.0
}
pub fn service() -> bool {
    true
}
pub fn models_dir() -> PathBuf {
    PathBuf::from("models")
}
pub fn input() -> String {
    "samples.>".into()
}
pub fn output() -> String {
    "translated".into()
}
pub fn stride() -> u64 {
    1
}
/// Four windows sharing no sample (96 samples at W = 24).
pub fn deviation_windows() -> usize {
    4
}
pub fn deviation_subject() -> String {
    "deviations".into()
}
pub fn input_stream() -> String {
    "SAMPLES".into()
}
pub fn output_stream() -> String {
    "TRANSLATED".into()
}
pub fn checkpoint_bucket() -> String {
    "PIPELINE_CHECKPOINTS".into()
}
pub fn checkpoint_ms() -> u64 {
    200
}
pub fn lease_s() -> f64 {
    10.0
}
pub fn duplicate_window_s() -> f64 {
    120.0
}
pub fn max_ack_pending() -> i64 {
    100_000
}
pub fn replicas() -> usize {
    1
}
pub const NATS_URL: &str = "nats://127.0.0.1:4222";
