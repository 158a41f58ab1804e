//! Model-only throughput, fast path against the candle-nn reference path in
//! the same run: `cargo bench --bench model`. Throughput is in windows.
//! (`pipeline bench --model-only` gives the same figures with medians and
//! thread counts; `benches/compare.sh` adds the ONNX Runtime and numpy peers.)

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pipeline::fast::Scratch;

fn model(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/sin-cos.safetensors");
    let m = pipeline::format::load(&path, None).expect("the shipped sin-cos model");
    let w = m.model.window();
    let mut g = c.benchmark_group("model");
    for batch in [1usize, 16, 64, 256, 1024] {
        let input: Vec<f32> = (0..batch * w).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut out = vec![0f32; input.len()];
        let mut scratch = Scratch::default();
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_with_input(BenchmarkId::new("fast", batch), &input, |b, x| {
            b.iter(|| m.fast.translate_into(black_box(x), &mut out, &mut scratch))
        });
        if batch <= 256 {
            g.bench_with_input(BenchmarkId::new("reference", batch), &input, |b, x| {
                b.iter(|| m.model.translate_rows(black_box(x)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, model);
criterion_main!(benches);
