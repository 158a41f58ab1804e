//! Helpers shared by the integration tests: building model files in memory.
#![allow(dead_code)]

pub mod cluster;
pub mod nats;
pub mod service;

use std::collections::HashMap;
use std::path::Path;

use pipeline::wire::SamplesOut;
use safetensors::{Dtype, tensor::TensorView};

/// The `pipeline` binary, logging warnings and errors only.
pub fn pipeline() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"));
    c.env("RUST_LOG", "warn");
    c
}

/// Sends `child` a SIGINT (a user's Ctrl-C) after `after`, and waits for
/// what it printed.
pub fn interrupt_after(
    child: std::process::Child,
    after: std::time::Duration,
) -> std::process::Output {
    std::thread::sleep(after);
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    child.wait_with_output().unwrap()
}

/// Asserts that a command succeeded, showing its stderr when it did not.
pub fn succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a command that must succeed (its stderr shown when it does not)
/// and reads its stdout of one JSON object per line.
pub fn run_json_lines(cmd: &mut std::process::Command) -> Vec<serde_json::Value> {
    let out = cmd.output().unwrap();
    succeeded(&out);
    json_lines(&out.stdout)
}

/// A command's stdout of one JSON object per line.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One sample, as a publisher encodes it (`{"seq", "value"}`).
pub fn sample(seq: u64, value: f32) -> Vec<u8> {
    SamplesOut {
        seq,
        value: Some(value),
        values: None,
        ts: None,
    }
    .encode()
}

/// Writes a tensors-only safetensors file (no `__metadata__`), as PyTorch's
/// `safetensors.torch.save_file` or a Keras conversion script would.
pub fn write_tensors_only(path: &Path, tensors: &[(String, Vec<usize>, Vec<f64>)], dtype: Dtype) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| {
            let b: Vec<u8> = match dtype {
                Dtype::F64 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                Dtype::F32 => v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect(),
                Dtype::F16 => v
                    .iter()
                    .flat_map(|x| f16_bits(*x as f32).to_le_bytes())
                    .collect(),
                Dtype::I32 => v.iter().flat_map(|x| (*x as i32).to_le_bytes()).collect(),
                other => panic!("test helper does not write {other:?}"),
            };
            (n.clone(), s.clone(), b)
        })
        .collect();
    let views: Vec<(&str, TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| (n.as_str(), TensorView::new(dtype, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// IEEE half from f32 for values that are exactly representable (the tests
/// only use such values): sign, 5-bit exponent, 10-bit mantissa.
fn f16_bits(x: f32) -> u16 {
    if x == 0.0 {
        return 0;
    }
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    assert!(
        (1..31).contains(&exp),
        "value {x} outside the f16 normal range"
    );
    let mant = (bits & 0x7f_ffff) >> 13;
    assert_eq!(bits & 0x1fff, 0, "value {x} not exact in f16");
    sign | ((exp as u16) << 10) | mant as u16
}

/// Shapes of our tensors for hidden size h, in file order.
pub fn specs(h: usize) -> Vec<(String, Vec<usize>)> {
    pipeline::format::tensor_specs(h)
}

/// Parameters from a seeded RNG, uniform in [-scale, scale].
pub fn random_params(h: usize, seed: u64, scale: f64) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    let mut rng = pipeline::rng::Rng::new(seed);
    specs(h)
        .into_iter()
        .map(|(n, s)| {
            let len = s.iter().product();
            let v = (0..len).map(|_| rng.uniform(-scale, scale)).collect();
            (n, s, v)
        })
        .collect()
}

pub fn as_map(params: &[(String, Vec<usize>, Vec<f64>)]) -> HashMap<String, Vec<f64>> {
    params
        .iter()
        .map(|(n, _, v)| (n.clone(), v.clone()))
        .collect()
}

/// Copies model file `src` to `dst` with `scaling` in its metadata (the
/// same network, now reading and writing physical units).
pub fn scaled_copy(src: &Path, dst: &Path, scaling: pipeline::scaling::Scaling) {
    pipeline::format::set_scaling(src, dst, scaling).unwrap();
}

/// A copy of model file `src` at `dst` whose metrics are changed by `edit`
/// (what `retrain --data` would have recorded).
pub fn metrics_copy(src: &Path, dst: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let loaded = pipeline::format::load(src, None).unwrap();
    let tensors = candle_core::safetensors::load(src, &candle_core::Device::Cpu).unwrap();
    let mut meta = loaded.meta;
    edit(meta.metrics.get_or_insert_with(|| serde_json::json!({})));
    let (hidden, window) = (loaded.model.hidden(), loaded.model.window());
    pipeline::format::save(dst, &tensors, hidden, window, &meta).unwrap();
}

/// A copy of model file `src` at `dst` whose metrics say it was trained
/// on the recording's columns `input` → `output` (their names, and the
/// units those name).
pub fn channel_copy(src: &Path, dst: &Path, input: &str, output: &str) {
    metrics_copy(src, dst, |m| {
        m["input"] = serde_json::json!(input);
        m["output"] = serde_json::json!(output);
    });
}

/// A copy of model file `src` at `dst` whose metrics say its training
/// recording was sampled every `step_s` seconds (as `retrain
/// --time-column` records it).
pub fn stepped_copy(src: &Path, dst: &Path, step_s: f64) {
    metrics_copy(src, dst, |m| m["time_step_s"] = serde_json::json!(step_s));
}
