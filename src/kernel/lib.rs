//! The numeric kernel of `pipeline`: the fast inference path for its
//! seq2seq LSTM (the same model as `pipeline::model::Seq2Seq`, which stays
//! the reference), computed step by step with SIMD kernels on buffers that
//! are reused across batches; the FP32 roofline probe its benchmarks report
//! against; and the seeded generator that makes runs reproducible.
//!
//! It is a crate of its own so that its unsafe SIMD code stands apart and
//! test builds can optimise it fully while compiling the service code
//! lightly. It knows nothing of units,
//! files or errors beyond a shape mismatch: `pipeline::fast` wraps
//! [`FastModel`] with the model's physical-unit scaling.
//!
//! What makes it fast:
//! - The input size is 1, so an LSTM step's input projection is a scaled
//!   vector, added inside the gate kernel: one matrix product per step.
//! - The dense head is linear, so the decoder's feedback folds into its
//!   recurrent weights: with `x_{t+1} = w_d·h_t + b_d`,
//!   `W_hh h + w_ih x + b = (W_hh + w_ih w_dᵀ) h + (b + w_ih b_d)`. Decoder
//!   steps 1.. are then a plain recurrence; step 0 (input 0) uses `W_hh`
//!   (the fused step: the folded weights with `x = −(w_d·h + b_d)` as its
//!   input, which takes the fold back out, so one layer's packed weights
//!   serve every decoder step).
//! - On x86-64 with AVX2 and FMA, one fused kernel ([`fused`]) does a whole
//!   step: the product on weights packed once per model, and the gates and
//!   cell update while the products are still in registers; in zmm
//!   registers (16 units) where the CPU has AVX-512, ymm (8) elsewhere.
//!   Every other step reads the weights in reverse, so that a lone window
//!   (bound by streaming them from L2) starts with what is still in L1.
//!   The packed weights and the `h` and `c` buffers start on a cache line
//!   ([`lines`]), so no register's load spans two lines.
//! - Elsewhere (other CPUs, other architectures) a step is a GEMM (the
//!   `gemm` crate, candle's own CPU kernel) and then the gate kernel
//!   (sigmoid, tanh, the cell update) in portable code with a vectorisable
//!   exp. Picked at run time.
//!
//! Numerically it agrees with the reference to ~1e-6 (tests check 1e-5).

use std::collections::HashMap;
use std::fmt;

use lines::Lines;

pub mod dense;
mod lines;
pub mod rng;
pub mod roofline;

/// Weights or buffers that do not match the model's dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShapeError {}

pub type Result<T> = std::result::Result<T, ShapeError>;

/// Weights rearranged for the fast path. Matrices are `[H, 4H]` row-major
/// (the transpose of PyTorch's `[4H, H]`), so a step is `Z[B,4H] = H[B,H]·R`.
#[derive(Debug, Clone)]
pub struct FastModel {
    /// H of the model file.
    hidden: usize,
    /// H padded to a multiple of [`UNIT_ALIGN`]: what the kernels compute with.
    units: usize,
    window: usize,
    /// Row length of the matrices and of `Scratch::z`: 4H rounded up to a
    /// multiple of [`COL_ALIGN`], zero-padded, so the matmul kernel works in
    /// whole register blocks.
    npad: usize,
    enc_wih: Vec<f32>,
    enc_bias: Vec<f32>,
    enc_r: Vec<f32>,
    dec_bias0: Vec<f32>,
    dec_r0: Vec<f32>,
    dec_bias1: Vec<f32>,
    dec_r1: Vec<f32>,
    dense_w: Vec<f32>,
    dense_b: f32,
    /// The fused step's packed weights, where it is the kernel to use.
    #[cfg(target_arch = "x86_64")]
    fused: Option<Box<Fused>>,
}

/// Units are padded to a multiple of this (one AVX-512 register of f32);
/// matrix rows (4 gates × units) are then a multiple of 64 floats.
const UNIT_ALIGN: usize = 16;
const COL_ALIGN: usize = 4 * UNIT_ALIGN;

/// Per-thread working memory; grows to the largest batch seen, then is reused.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    z: Vec<f32>,
    h: Lines,
    /// The fused step's output `h` (it reads the previous one whole).
    h2: Lines,
    c: Lines,
}

/// The encoder's and the decoder's steps packed for [`fused::step`].
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone)]
struct Fused {
    enc: fused::Packed,
    /// The decoder with its feedback folded in (`dec_r1`, `dec_bias1`) and
    /// its input weights: step 0, whose input is 0, takes the fold back
    /// out as an input (see `run_fused`), so one layer's weights serve all
    /// 24 steps.
    dec: fused::Packed,
}

impl FastModel {
    /// Builds from PyTorch-layout weights (names as in the model file).
    pub fn new(params: &HashMap<String, Vec<f32>>, hidden: usize, window: usize) -> Result<Self> {
        let h0 = hidden;
        // Units are padded to a multiple of 16 (one AVX-512 register) with
        // all-zero weights and biases. A padding unit's gates are then i = f
        // = o = ½, g = 0, so its cell stays 0 and its output h stays 0, and
        // its (zero) weights add nothing to the real units: the result is
        // exact, and every loop runs in whole vectors.
        let h = h0.div_ceil(UNIT_ALIGN) * UNIT_ALIGN;
        let npad = 4 * h;
        let get = |name: &str, len: usize| -> Result<&Vec<f32>> {
            match params.get(name) {
                Some(v) if v.len() == len => Ok(v),
                _ => Err(ShapeError(format!(
                    "fast path: tensor `{name}` missing or not {len} long"
                ))),
            }
        };
        // A gate-structured vector [4·h0] → [4·h].
        let pad_gates = |v: &[f32]| -> Vec<f32> {
            let mut out = vec![0f32; 4 * h];
            for g in 0..4 {
                out[g * h..g * h + h0].copy_from_slice(&v[g * h0..(g + 1) * h0]);
            }
            out
        };
        // PyTorch's W_hh [4·h0, h0] → ours [h, 4·h] (transposed, padded).
        let transpose = |m: &[f32]| -> Vec<f32> {
            let mut t = vec![0f32; h * npad];
            for g in 0..4 {
                for j in 0..h0 {
                    for k in 0..h0 {
                        t[k * npad + g * h + j] = m[(g * h0 + j) * h0 + k];
                    }
                }
            }
            t
        };
        let add =
            |a: &[f32], b: &[f32]| -> Vec<f32> { a.iter().zip(b).map(|(x, y)| x + y).collect() };

        let enc_wih = pad_gates(get("encoder.weight_ih_l0", 4 * h0)?);
        let enc_bias = pad_gates(&add(
            get("encoder.bias_ih_l0", 4 * h0)?,
            get("encoder.bias_hh_l0", 4 * h0)?,
        ));
        let enc_r = transpose(get("encoder.weight_hh_l0", 4 * h0 * h0)?);
        let dec_wih = pad_gates(get("decoder.weight_ih_l0", 4 * h0)?);
        let dec_bias0 = pad_gates(&add(
            get("decoder.bias_ih_l0", 4 * h0)?,
            get("decoder.bias_hh_l0", 4 * h0)?,
        ));
        let dec_r0 = transpose(get("decoder.weight_hh_l0", 4 * h0 * h0)?);
        let mut dense_w = get("dense.weight", h0)?.clone();
        dense_w.resize(h, 0.0);
        let dense_b = get("dense.bias", 1)?[0];
        // Folded feedback, in f64 so the fold adds no rounding of its own.
        let mut dec_r1 = dec_r0.clone();
        for k in 0..h {
            for j in 0..npad {
                let v = dec_r0[k * npad + j] as f64 + dec_wih[j] as f64 * dense_w[k] as f64;
                dec_r1[k * npad + j] = v as f32;
            }
        }
        let dec_bias1: Vec<f32> = (0..npad)
            .map(|j| (dec_bias0[j] as f64 + dec_wih[j] as f64 * dense_b as f64) as f32)
            .collect();
        #[cfg(target_arch = "x86_64")]
        let fused = fused::Width::detect().map(|width| {
            let pack =
                |r: &[f32], b: &[f32], wih| fused::Packed::new(width, r, b, wih, h0, h, npad);
            Box::new(Fused {
                enc: pack(&enc_r, &enc_bias, Some(&enc_wih)),
                dec: pack(&dec_r1, &dec_bias1, Some(&dec_wih)),
            })
        });
        Ok(Self {
            hidden: h0,
            units: h,
            window,
            npad,
            enc_wih,
            enc_bias,
            enc_r,
            dec_bias0,
            dec_r0,
            dec_bias1,
            dec_r1,
            dense_w,
            dense_b,
            #[cfg(target_arch = "x86_64")]
            fused,
        })
    }

    pub fn window(&self) -> usize {
        self.window
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Translates `input` (`[B, W]` row-major) into `out` (same shape).
    pub fn translate_into(&self, input: &[f32], out: &mut [f32], s: &mut Scratch) -> Result<()> {
        let (h, w) = (self.units, self.window);
        if !input.len().is_multiple_of(w) || out.len() != input.len() {
            return Err(ShapeError(format!(
                "fast path: {} inputs and {} outputs for windows of {w}",
                input.len(),
                out.len()
            )));
        }
        let b = input.len() / w;
        let np = self.npad;
        s.h.zeroed(b * h);
        s.c.zeroed(b * h);
        #[cfg(target_arch = "x86_64")]
        if let Some(fu) = &self.fused {
            // (`z`, the unfused path's, holds decoder step 0's input.)
            let bufs = (&mut s.h, &mut s.h2, &mut s.c[..], &mut s.z);
            self.run_fused(fu, input, out, bufs, b);
            return Ok(());
        }
        s.z.resize(b * np, 0.0);

        // Encoder. Step 0 starts from h = 0: no product needed.
        for t in 0..w {
            if t == 0 {
                s.z.fill(0.0);
            } else {
                matmul_gemm(&mut s.z, &s.h, &self.enc_r, b, self.hidden, h, np);
            }
            for r in 0..b {
                let x = input[r * w + t];
                gates_generic(
                    &mut s.z[r * np..r * np + 4 * h],
                    &self.enc_bias,
                    Some((&self.enc_wih, x)),
                    &mut s.c[r * h..(r + 1) * h],
                    &mut s.h[r * h..(r + 1) * h],
                );
            }
        }
        // Decoder: step 0 reads 0; later steps read the previous output,
        // folded into dec_r1 / dec_bias1.
        for t in 0..w {
            let (r_mat, bias) = if t == 0 {
                (&self.dec_r0, &self.dec_bias0)
            } else {
                (&self.dec_r1, &self.dec_bias1)
            };
            matmul_gemm(&mut s.z, &s.h, r_mat, b, self.hidden, h, np);
            for r in 0..b {
                let hr = &mut s.h[r * h..(r + 1) * h];
                gates_generic(
                    &mut s.z[r * np..r * np + 4 * h],
                    bias,
                    None,
                    &mut s.c[r * h..(r + 1) * h],
                    hr,
                );
                out[r * w + t] = dot(hr, &self.dense_w) + self.dense_b;
            }
        }
        Ok(())
    }

    /// [`Self::translate_into`] with the fused step: `h` and `c` come zeroed
    /// (`[b, units]`).
    #[cfg(target_arch = "x86_64")]
    fn run_fused(
        &self,
        fu: &Fused,
        input: &[f32],
        out: &mut [f32],
        (hs, h2, c, unfold): (&mut Lines, &mut Lines, &mut [f32], &mut Vec<f32>),
        b: usize,
    ) {
        let (h, w) = (self.units, self.window);
        h2.zeroed(b * h);
        for t in 0..w {
            let x = fused::Input {
                x: &input[t..],
                stride: w,
            };
            let order = fused::Product::at(t, true);
            fused::step(&fu.enc, hs, h2, c, Some(x), b, order);
            std::mem::swap(hs, h2);
        }
        // Decoder step 0 reads input 0, not the fed-back output the folded
        // weights add: W_hh·h = (W_hh + w_ih·w_dᵀ)·h − w_ih·(w_d·h), so it
        // takes x = −(w_d·h + b_d) as its input (b_d for the folded bias).
        // Its own copy of W_hh would be 91 KB more for a lone window to
        // fetch once per window, from memory when idle.
        unfold.clear();
        unfold.extend(
            hs.chunks_exact(h)
                .take(b)
                .map(|hr| -(dot(hr, &self.dense_w) + self.dense_b)),
        );
        for t in 0..w {
            let input = (t == 0).then_some(fused::Input {
                x: unfold,
                stride: 1,
            });
            fused::step(&fu.dec, hs, h2, c, input, b, fused::Product::at(t, false));
            std::mem::swap(hs, h2);
            for (r, hr) in hs.chunks_exact(h).take(b).enumerate() {
                out[r * w + t] = dot(hr, &self.dense_w) + self.dense_b;
            }
        }
    }

    /// Convenience: allocates the output and scratch.
    pub fn translate_rows(&self, input: &[f32]) -> Result<Vec<f32>> {
        let mut out = vec![0f32; input.len()];
        self.translate_into(input, &mut out, &mut Scratch::default())?;
        Ok(out)
    }
}

fn check_matmul(z: &[f32], h: &[f32], r: &[f32], b: usize, k: usize, hid: usize, npad: usize) {
    assert!(
        k <= hid
            && z.len() >= b * npad
            && h.len() >= b * hid
            && r.len() == hid * npad
            && npad.is_multiple_of(COL_ALIGN),
        "matmul operands do not match their dimensions"
    );
}

/// `z[B,npad] = h[B,H] · r[H,npad]` with the `gemm` crate (the fallback on
/// CPUs without AVX2+FMA). Single-threaded: each compute thread runs whole
/// batches (candle's thread pools gained nothing at these sizes when measured).
fn matmul_gemm(z: &mut [f32], h: &[f32], r: &[f32], b: usize, k: usize, hid: usize, npad: usize) {
    check_matmul(z, h, r, b, k, hid, npad);
    // SAFETY: check_matmul bounds every access: dst is b×npad with row
    // stride npad, lhs b×hid with row stride hid, rhs hid×npad with row
    // stride npad; the buffers do not overlap (z is &mut).
    unsafe {
        gemm::gemm(
            b,
            npad,
            k,
            z.as_mut_ptr(),
            1,
            npad as isize,
            false,
            h.as_ptr(),
            1,
            hid as isize,
            r.as_ptr(),
            1,
            npad as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Dot product with 16 independent partial sums: a plain `.sum()` is one
/// serial chain of adds (float addition is not reassociated), which at batch
/// 256 cost ~5 µs per step, 7% of the whole.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, &p), &q) in acc.iter_mut().zip(x).zip(y) {
            *s += p * q;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// e^x for f32, vectorisable: range reduction to r ∈ [-ln2/2, ln2/2], a
/// degree-6 polynomial (Cephes `expf` coefficients, relative error ~1e-7),
/// and 2^n built in the exponent bits.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by the 1.5·2^23 trick: no libm call, so it vectorises.
    const SHIFT: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + SHIFT) - SHIFT;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n without a float→int conversion: n + 127 sits in the low mantissa
    // bits of 2^23 + n + 127; shifting them into the exponent field gives 2^n.
    let scale = f32::from_bits((n + (8_388_608.0 + 127.0)).to_bits() << 23);
    e * scale
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_approx(-x))
}

#[inline(always)]
fn tanh(x: f32) -> f32 {
    // 1 − 2/(e^{2x}+1): exact at ±∞ (saturates), absolute error ~1e-7.
    1.0 - 2.0 / (exp_approx(2.0 * x) + 1.0)
}

/// One LSTM cell update for one row: `z` holds `h·R` for the four gates;
/// adds `bias` (and `x·w_ih` when given), then c ← f·c + i·g, h ← o·tanh(c).
/// The portable path's cell (CPUs without AVX2 and FMA).
fn gates_generic(
    z: &mut [f32],
    bias: &[f32],
    input: Option<(&[f32], f32)>,
    c: &mut [f32],
    h: &mut [f32],
) {
    let n = h.len();
    let (z, bias) = (&mut z[..4 * n], &bias[..4 * n]);
    match input {
        Some((wih, x)) => {
            for ((zj, bj), wj) in z.iter_mut().zip(bias).zip(&wih[..4 * n]) {
                *zj += bj + x * wj;
            }
        }
        None => {
            for (zj, bj) in z.iter_mut().zip(bias) {
                *zj += bj;
            }
        }
    }
    let (zi, rest) = z.split_at(n);
    let (zf, rest) = rest.split_at(n);
    let (zg, zo) = rest.split_at(n);
    // Zipped equal-length slices: no bounds checks, so the loop vectorises.
    let cells = zi.iter().zip(zf).zip(zg.iter().zip(zo));
    for ((((&zi, &zf), (&zg, &zo)), cj), hj) in cells.zip(c[..n].iter_mut()).zip(h[..n].iter_mut())
    {
        let i = sigmoid(zi);
        let f = sigmoid(zf);
        let g = tanh(zg);
        let o = sigmoid(zo);
        let cn = f * *cj + i * g;
        *cj = cn;
        *hj = o * tanh(cn);
    }
}

/// tanh(x) ≈ x·P(x²)/Q(x²) for |x| ≤ 8 (highest power first): the fused
/// kernel's tanh, and σ through it. An 11/6 rational fitted for this kernel
/// (`benches/tanh_fit.py`): its largest error in f32, 3.5e-7 over [-20, 20]
/// with the clamp, matches Eigen's 13/6 one (3.7e-7, used until 2026-12-02)
/// with one FMA fewer per tanh, five per unit and step (+2-4% at batch 16-256
/// on AMD Zen 5, `benches/kernel_ab.sh`). Scaled so that Q is monic (since
/// 2026-12-03): its first step is an addition, which runs beside the FMAs
/// (with the cell's ½s folded the same way, 1.04-1.05× at batch 16-256 on
/// AMD Zen 3, `benches/kernel_ab.sh` both ways).
#[rustfmt::skip]
const TANH_P: [f32; 6] = [
    1.122_401_1e-7, -6.585_787e-5, 4.227_651_7e-2, 1.245_740_2e1, 5.357_852e2, 4.116_312_5e3,
];
const TANH_Q: [f32; 4] = [1.0, 9.957_926e1, 1.907_889e3, 4.116_313e3];

#[cfg(target_arch = "x86_64")]
mod fused;

/// Which kernel [`FastModel`] uses here (for reports).
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        match fused::Width::detect() {
            Some(fused::Width::Avx512) => return "avx512-fused",
            Some(fused::Width::Avx2) => return "avx2+fma-fused",
            None => {}
        }
    }
    "generic"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_are_accurate() {
        let mut worst = (0f64, 0f64, 0f64);
        for i in -20_000..=20_000 {
            let x = i as f32 * 1e-3; // [-20, 20]
            let e = exp_approx(x) as f64;
            let want = (x as f64).exp();
            worst.0 = worst.0.max(((e - want) / want).abs());
            worst.1 = worst
                .1
                .max((sigmoid(x) as f64 - 1.0 / (1.0 + (-(x as f64)).exp())).abs());
            worst.2 = worst.2.max((tanh(x) as f64 - (x as f64).tanh()).abs());
        }
        assert!(worst.0 < 5e-7, "exp relative error {}", worst.0);
        assert!(worst.1 < 5e-7, "sigmoid error {}", worst.1);
        assert!(worst.2 < 5e-7, "tanh error {}", worst.2);
        // Saturation without NaN far out.
        assert!(sigmoid(-1e9) < 1e-37);
        assert_eq!(sigmoid(1e9), 1.0);
        assert_eq!(tanh(1e9), 1.0);
        assert_eq!(tanh(-1e9), -1.0);
    }

    #[test]
    fn matmul_kernels_agree_with_a_plain_product() {
        let (hid, npad) = (80, 320);
        let mut rng = crate::rng::Rng::new(3);
        let r: Vec<f32> = (0..hid * npad)
            .map(|_| rng.uniform(-1.0, 1.0) as f32)
            .collect();
        for b in [1, 2, 3, 16] {
            let h: Vec<f32> = (0..b * hid)
                .map(|_| rng.uniform(-1.0, 1.0) as f32)
                .collect();
            // k = 75 live units of 80, as for the shipped models; a plain
            // triple loop is the reference.
            let mut want = vec![0f32; b * npad];
            for row in 0..b {
                for j in 0..npad {
                    want[row * npad + j] =
                        (0..75).map(|k| h[row * hid + k] * r[k * npad + j]).sum();
                }
            }
            let mut got = vec![7f32; b * npad];
            matmul_gemm(&mut got, &h, &r, b, 75, hid, npad);
            for (i, (x, y)) in want.iter().zip(&got).enumerate() {
                assert!((x - y).abs() < 1e-4, "b={b} element {i}: {x} vs {y}");
            }
        }
    }

    /// The fused step (this CPU's width) and the portable path translate
    /// the same windows alike, through a whole model with random weights:
    /// 75 units (padded to 80), in batches that cover every tile shape.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_fused_path_agrees_with_the_portable_one() {
        let (hidden, window) = (75, 24);
        let mut rng = crate::rng::Rng::new(17);
        let mut params = HashMap::new();
        for (name, len, scale) in [
            ("encoder.weight_ih_l0", 4 * hidden, 1.0),
            ("encoder.weight_hh_l0", 4 * hidden * hidden, 0.2),
            ("encoder.bias_ih_l0", 4 * hidden, 0.5),
            ("encoder.bias_hh_l0", 4 * hidden, 0.5),
            ("decoder.weight_ih_l0", 4 * hidden, 1.0),
            ("decoder.weight_hh_l0", 4 * hidden * hidden, 0.2),
            ("decoder.bias_ih_l0", 4 * hidden, 0.5),
            ("decoder.bias_hh_l0", 4 * hidden, 0.5),
            ("dense.weight", hidden, 0.3),
            ("dense.bias", 1, 0.1),
        ] {
            let v: Vec<f32> = (0..len)
                .map(|_| rng.uniform(-scale, scale) as f32)
                .collect();
            params.insert(name.to_string(), v);
        }
        let fused = FastModel::new(&params, hidden, window).unwrap();
        if fused.fused.is_none() {
            return; // no AVX2 here: both would be the portable path
        }
        let mut portable = fused.clone();
        portable.fused = None;
        for b in [1, 2, 3, 4, 5, 9, 16] {
            let input: Vec<f32> = (0..b * window)
                .map(|_| rng.uniform(-2.0, 2.0) as f32)
                .collect();
            let (want, got) = (
                portable.translate_rows(&input).unwrap(),
                fused.translate_rows(&input).unwrap(),
            );
            for (i, (x, y)) in want.iter().zip(&got).enumerate() {
                assert!((x - y).abs() < 1e-5, "b={b} output {i}: {x} vs {y}");
            }
        }
    }
}
