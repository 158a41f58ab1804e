//! What fraction of the machine the model uses: the useful FLOPs of one
//! window, and the core's FP32 peak measured in-process by a short
//! FMA-throughput probe (so every benchmark states its fraction of peak on
//! whichever CPU it ran, instead of quoting a data sheet).

use std::time::{Duration, Instant};

/// Floating-point operations one window needs, counting the matrix work of
/// the model's definition (an FMA is two): the encoder's recurrent product
/// from its second step on (its first `h` is zero), every decoder step's,
/// the input and feedback terms and the dense head. Padding, activations and
/// the scaling are not counted: this is the work any implementation does.
pub fn flops_per_window(hidden: usize, window: usize) -> f64 {
    let (h, w) = (hidden as f64, window as f64);
    let recurrent = (2.0 * w - 1.0) * 2.0 * h * 4.0 * h;
    let inputs = 2.0 * w * 2.0 * 4.0 * h; // encoder x·w_ih, decoder feedback
    let dense = w * 2.0 * h;
    recurrent + inputs + dense
}

/// The probe's result.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Peak {
    /// FP32 GFLOP/s one thread reached.
    pub gflops: f64,
    /// The instructions it used.
    pub isa: &'static str,
}

/// Independent FMA chains: enough to cover the FMA latency on both FMA
/// ports of current cores (4–5 cycles × 2), few enough to stay in registers.
const CHAINS: usize = 10;

/// Measures one thread's FP32 FMA throughput for about `time`, with the
/// widest vector FMA the CPU has.
pub fn fp32_peak(time: Duration) -> Peak {
    let start = Instant::now();
    let mut best = 0.0f64;
    let mut isa = "scalar";
    let mut iters = 1u64 << 16;
    // Repeat short bursts; keep the best (the first ones warm the clock up).
    while start.elapsed() < time {
        let t = Instant::now();
        let (lanes, name) = probe(iters);
        let secs = t.elapsed().as_secs_f64();
        if secs < 0.01 {
            iters *= 2;
            continue;
        }
        isa = name;
        best = best.max(iters as f64 * (CHAINS * lanes * 2) as f64 / secs / 1e9);
    }
    Peak { gflops: best, isa }
}

/// Runs `iters` rounds of `CHAINS` vector FMAs; returns the lanes per FMA
/// and the instruction set used.
fn probe(iters: u64) -> (usize, &'static str) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            // SAFETY: the CPU has AVX-512F and DQ (checked just above).
            let s = unsafe { x86::avx512(iters) };
            std::hint::black_box(s);
            return (16, "avx512f");
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            let s = unsafe { x86::avx2(iters) };
            std::hint::black_box(s);
            return (8, "avx2+fma");
        }
    }
    let mut acc = [0f32; CHAINS];
    let (a, b) = (
        std::hint::black_box(0.999_999f32),
        std::hint::black_box(1e-7f32),
    );
    for _ in 0..iters {
        for x in &mut acc {
            *x = x.mul_add(a, b);
        }
    }
    std::hint::black_box(acc);
    (1, "scalar")
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    use crate::fused::Lanes;

    #[target_feature(enable = "avx512f,avx512dq")]
    pub unsafe fn avx512(iters: u64) -> f32 {
        unsafe { chains::<__m512>(iters) }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(iters: u64) -> f32 {
        unsafe { chains::<__m256>(iters) }
    }

    /// `CHAINS` independent FMA chains in `V`'s registers, summed so the
    /// work cannot be optimised away.
    #[inline(always)]
    unsafe fn chains<V: Lanes>(iters: u64) -> f32 {
        unsafe {
            let a = V::splat(std::hint::black_box(0.999_999));
            let b = V::splat(std::hint::black_box(1e-7));
            let mut acc = [V::splat(0.0); CHAINS];
            for _ in 0..iters {
                for x in &mut acc {
                    *x = V::fmadd(*x, a, b);
                }
            }
            let mut sum = V::splat(0.0);
            for x in acc {
                sum = V::add(sum, x);
            }
            let mut lanes = [0f32; 16];
            // `lanes` holds the at most 16 f32 one store writes.
            V::store_first(lanes.as_mut_ptr(), sum, V::N);
            lanes.iter().sum()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// H = 75, W = 24 (the shipped models): 47 recurrent products of
    /// 75 × 300, the input/feedback terms and the head, about 2.15 MFLOP.
    #[test]
    fn flops_of_the_shipped_shape() {
        let want = 47.0 * 2.0 * 75.0 * 300.0 + 48.0 * 2.0 * 300.0 + 24.0 * 2.0 * 75.0;
        assert_eq!(flops_per_window(75, 24), want);
        assert!((want / 1e6 - 2.15).abs() < 0.01, "{want}");
    }

    /// The probe measures something plausible for one core of any CPU
    /// this runs on: above 1 GFLOP/s, below 1 TFLOP/s.
    #[test]
    fn the_probe_measures_a_plausible_peak() {
        let p = fp32_peak(Duration::from_millis(50));
        assert!(p.gflops > 1.0 && p.gflops < 1000.0, "{p:?}");
    }
}
