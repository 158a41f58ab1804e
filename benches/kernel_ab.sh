#!/usr/bin/env bash
# Kernel A/B in one process: the fast path as it is in src/kernel against the
# same crate with PATCH applied, called in alternating 50 ms slices for
# SECONDS_PER seconds per batch size, pinned to one core.
#
#     benches/kernel_ab.sh my-change.patch [BATCH ...]     (default: 256 16 1)
#
# Why: on this shared VM two runs of the same binary differ by up to 8%, more
# than most kernel changes; alternating slices in one process see the same
# machine state, so the ratio usually repeats to about 1% (not always: run it
# twice). The patch is a `git diff` of files under src/kernel/ (made from the
# repository root). Prints the FMA probe's peak, then per batch both variants'
# windows/s (mean over all slices, and the best slice) with their fraction of
# that peak, the ratio, and the largest difference between the two outputs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
patch="$(realpath "${1:?usage: kernel_ab.sh PATCH [BATCH ...]}")"
shift
work="$root/target/kernel-ab"
rm -rf "$work/variant" && mkdir -p "$work/harness/src"
cp -r "$root/src/kernel" "$work/variant"
sed -i 's/^name = "pipeline-kernel"/name = "kernel-variant"/' "$work/variant/Cargo.toml"
# `patch`, not `git apply`: inside this repository git would resolve the
# paths from its root and skip them without a word.
patch --quiet -p3 -d "$work/variant" <"$patch"
if diff -rq "$root/src/kernel" "$work/variant" -x Cargo.toml >/dev/null; then
  echo "kernel_ab.sh: the patch changed nothing under src/kernel" >&2
  exit 1
fi
cat >"$work/harness/Cargo.toml" <<TOML
[package]
name = "kernel-ab"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
base = { package = "pipeline-kernel", path = "$root/src/kernel" }
variant = { package = "kernel-variant", path = "$work/variant" }
[workspace]
TOML
cat >"$work/harness/src/main.rs" <<'RS'
use std::collections::HashMap;
use std::time::Instant;

fn main() {
    let (h, w) = (75, 24);
    let mut rng = base::rng::Rng::new(7);
    let mut v = |n: usize, s: f64| -> Vec<f32> { (0..n).map(|_| rng.uniform(-s, s) as f32).collect() };
    let mut p = HashMap::new();
    for l in ["encoder", "decoder"] {
        p.insert(format!("{l}.weight_ih_l0"), v(4 * h, 0.3));
        p.insert(format!("{l}.weight_hh_l0"), v(4 * h * h, 0.15));
        p.insert(format!("{l}.bias_ih_l0"), v(4 * h, 0.3));
        p.insert(format!("{l}.bias_hh_l0"), v(4 * h, 0.3));
    }
    p.insert("dense.weight".into(), v(h, 0.3));
    p.insert("dense.bias".into(), v(1, 0.1));
    let a = base::FastModel::new(&p, h, w).expect("base model");
    let b = variant::FastModel::new(&p, h, w).expect("variant model");
    let secs: f64 = std::env::var("SECONDS_PER").ok().and_then(|s| s.parse().ok()).unwrap_or(8.0);
    let batches: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("a batch size")).collect();
    let (mut sa, mut sb) = (base::Scratch::default(), variant::Scratch::default());
    // The core's FP32 peak in this process, and the useful work per window.
    let peak = base::roofline::fp32_peak(std::time::Duration::from_millis(500)).gflops;
    let flops = base::roofline::flops_per_window(h, w);
    println!("FMA probe: {peak:.1} GFLOP/s; {:.2} MFLOP per window", flops / 1e6);
    for bs in if batches.is_empty() { vec![256, 16, 1] } else { batches } {
        let input: Vec<f32> = (0..bs * w).map(|i| (i as f32 * 0.37).sin()).collect();
        let (mut oa, mut ob) = (vec![0f32; bs * w], vec![0f32; bs * w]);
        a.translate_into(&input, &mut oa, &mut sa).expect("base");
        b.translate_into(&input, &mut ob, &mut sb).expect("variant");
        let diff = oa.iter().zip(&ob).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        // [base, variant]: total seconds, calls, best seconds per call.
        let mut t = [(0f64, 0usize, f64::MAX); 2];
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < secs {
            for (i, slot) in t.iter_mut().enumerate() {
                let s = Instant::now();
                let mut n = 0;
                while s.elapsed().as_secs_f64() < 0.05 {
                    if i == 0 {
                        a.translate_into(&input, &mut oa, &mut sa).expect("base");
                    } else {
                        b.translate_into(&input, &mut ob, &mut sb).expect("variant");
                    }
                    n += 1;
                }
                let e = s.elapsed().as_secs_f64();
                *slot = (slot.0 + e, slot.1 + n, slot.2.min(e / n as f64));
            }
        }
        let rate = |(s, n, _): (f64, usize, f64)| bs as f64 * n as f64 / s;
        let pct = |r: f64| 100.0 * r * flops / 1e9 / peak;
        let best = |(_, _, b): (f64, usize, f64)| bs as f64 / b;
        println!(
            "batch {bs:4}: base {:6.0} windows/s ({:.0}% of peak; best slice {:6.0})  variant {:6.0} ({:.0}%; {:6.0})  variant/base {:.3} (best {:.3})  max |diff| {diff:.1e}",
            rate(t[0]), pct(rate(t[0])), best(t[0]), rate(t[1]), pct(rate(t[1])), best(t[1]),
            rate(t[1]) / rate(t[0]), best(t[1]) / best(t[0]),
        );
    }
}
RS
CARGO_TARGET_DIR="$work/target" cargo build --release --quiet --manifest-path "$work/harness/Cargo.toml"
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
"${pin[@]}" "$work/target/release/kernel-ab" "$@"
