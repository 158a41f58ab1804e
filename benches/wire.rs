//! The per-sample hot path outside the model: decoding a sample message,
//! pushing it into a stream's window, encoding a translation.
//! `cargo bench --bench wire`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pipeline::window::StreamWindow;
use pipeline::wire::{self, SamplesOut, Translation};

fn wire_and_window(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot_path");
    g.throughput(Throughput::Elements(1));

    let one = SamplesOut {
        seq: 12345,
        value: Some(0.25),
        values: None,
        ts: Some(1_764_320_000_000_000_000),
    }
    .encode();
    g.bench_function("decode_sample", |b| {
        b.iter(|| wire::decode_samples(black_box(&one)))
    });

    let mut win = StreamWindow::new(24);
    let mut seq = 0u64;
    g.bench_function("window_push", |b| {
        b.iter(|| {
            let mut sum = 0f32;
            win.accept(seq, &[0.5], 1, |_, w| sum += w[0]);
            seq += 1;
            black_box(sum)
        })
    });

    let t = Translation {
        stream: "plant1.pump3".into(),
        seq: 12345,
        values: vec![0.5; 24],
        pair: "sin-cos".into(),
        model: "847ae98c01ba9fdc".into(),
        ts: Some(1_764_320_000_000_000_000),
        unit: None,
    };
    g.bench_function("encode_translation", |b| b.iter(|| black_box(&t).encode()));
    let bytes = t.encode();
    g.bench_function("decode_translation", |b| {
        b.iter(|| Translation::decode(black_box(&bytes)))
    });
    g.finish();
}

criterion_group!(benches, wire_and_window);
criterion_main!(benches);
