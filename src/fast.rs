//! The fast inference path: the same model as [`crate::model::Seq2Seq`]
//! (which stays the reference), computed with one GEMM and one fused gate
//! kernel per step on buffers that are reused across batches.
//!
//! What makes it fast:
//! - The input size is 1, so an LSTM step's input projection is a scaled
//!   vector, added inside the gate kernel: one matrix product per step.
//! - The dense head is linear, so the decoder's feedback folds into its
//!   recurrent weights: with `x_{t+1} = w_d·h_t + b_d`,
//!   `W_hh h + w_ih x + b = (W_hh + w_ih w_dᵀ) h + (b + w_ih b_d)`. Decoder
//!   steps 1.. are then a plain recurrence; step 0 (input 0) uses `W_hh`.
//! - The gate kernel (sigmoid, tanh, the cell update) is one pass over the
//!   row with a vectorisable exp, compiled for AVX-512 and AVX2+FMA and picked
//!   at run time; the GEMM is the `gemm` crate, candle's own CPU kernel.
//!
//! Numerically it agrees with the reference to ~1e-6 (tests check 1e-5).

use std::collections::HashMap;

use crate::error::{Error, Result};

/// Weights rearranged for the fast path. Matrices are `[H, 4H]` row-major
/// (the transpose of PyTorch's `[4H, H]`), so a step is `Z[B,4H] = H[B,H]·R`.
#[derive(Debug, Clone)]
pub struct FastModel {
    hidden: usize,
    window: usize,
    enc_wih: Vec<f32>,
    enc_bias: Vec<f32>,
    enc_r: Vec<f32>,
    dec_bias0: Vec<f32>,
    dec_r0: Vec<f32>,
    dec_bias1: Vec<f32>,
    dec_r1: Vec<f32>,
    dense_w: Vec<f32>,
    dense_b: f32,
    gates: GateKernel,
}

/// Per-thread working memory; grows to the largest batch seen, then is reused.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    z: Vec<f32>,
    h: Vec<f32>,
    c: Vec<f32>,
}

type GateKernel = fn(&mut [f32], &[f32], Option<(&[f32], f32)>, &mut [f32], &mut [f32]);

impl FastModel {
    /// Builds from PyTorch-layout weights (names as in the model file).
    pub fn new(params: &HashMap<String, Vec<f32>>, hidden: usize, window: usize) -> Result<Self> {
        let h = hidden;
        let get = |name: &str, len: usize| -> Result<&Vec<f32>> {
            match params.get(name) {
                Some(v) if v.len() == len => Ok(v),
                _ => Err(Error::Shape(format!(
                    "fast path: tensor `{name}` missing or not {len} long"
                ))),
            }
        };
        let transpose = |m: &[f32]| -> Vec<f32> {
            // [4H, H] → [H, 4H]
            let mut t = vec![0f32; 4 * h * h];
            for r in 0..4 * h {
                for k in 0..h {
                    t[k * 4 * h + r] = m[r * h + k];
                }
            }
            t
        };
        let add =
            |a: &[f32], b: &[f32]| -> Vec<f32> { a.iter().zip(b).map(|(x, y)| x + y).collect() };

        let enc_wih = get("encoder.weight_ih_l0", 4 * h)?.clone();
        let enc_bias = add(
            get("encoder.bias_ih_l0", 4 * h)?,
            get("encoder.bias_hh_l0", 4 * h)?,
        );
        let enc_r = transpose(get("encoder.weight_hh_l0", 4 * h * h)?);
        let dec_wih = get("decoder.weight_ih_l0", 4 * h)?;
        let dec_bias0 = add(
            get("decoder.bias_ih_l0", 4 * h)?,
            get("decoder.bias_hh_l0", 4 * h)?,
        );
        let dec_r0 = transpose(get("decoder.weight_hh_l0", 4 * h * h)?);
        let dense_w = get("dense.weight", h)?.clone();
        let dense_b = get("dense.bias", 1)?[0];
        // Folded feedback, in f64 so the fold adds no rounding of its own.
        let mut dec_r1 = dec_r0.clone();
        for k in 0..h {
            for j in 0..4 * h {
                let v = dec_r0[k * 4 * h + j] as f64 + dec_wih[j] as f64 * dense_w[k] as f64;
                dec_r1[k * 4 * h + j] = v as f32;
            }
        }
        let dec_bias1 = (0..4 * h)
            .map(|j| (dec_bias0[j] as f64 + dec_wih[j] as f64 * dense_b as f64) as f32)
            .collect();
        Ok(Self {
            hidden,
            window,
            enc_wih,
            enc_bias,
            enc_r,
            dec_bias0,
            dec_r0,
            dec_bias1,
            dec_r1,
            dense_w,
            dense_b,
            gates: select_gate_kernel(),
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
        let (h, w) = (self.hidden, self.window);
        if !input.len().is_multiple_of(w) || out.len() != input.len() {
            return Err(Error::Shape(format!(
                "fast path: {} inputs and {} outputs for windows of {w}",
                input.len(),
                out.len()
            )));
        }
        let b = input.len() / w;
        s.z.resize(b * 4 * h, 0.0);
        s.h.clear();
        s.h.resize(b * h, 0.0);
        s.c.clear();
        s.c.resize(b * h, 0.0);

        // Encoder. Step 0 starts from h = 0: no product needed.
        for t in 0..w {
            if t == 0 {
                s.z.fill(0.0);
            } else {
                matmul(&mut s.z, &s.h, &self.enc_r, b, h);
            }
            for r in 0..b {
                let x = input[r * w + t];
                (self.gates)(
                    &mut s.z[r * 4 * h..(r + 1) * 4 * h],
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
            matmul(&mut s.z, &s.h, r_mat, b, h);
            for r in 0..b {
                let hr = &mut s.h[r * h..(r + 1) * h];
                (self.gates)(
                    &mut s.z[r * 4 * h..(r + 1) * 4 * h],
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

    /// Convenience: allocates the output and scratch.
    pub fn translate_rows(&self, input: &[f32]) -> Result<Vec<f32>> {
        let mut out = vec![0f32; input.len()];
        self.translate_into(input, &mut out, &mut Scratch::default())?;
        Ok(out)
    }
}

/// `z[B,4H] = h[B,H] · r[H,4H]`, single-threaded (each compute thread runs
/// whole batches; see FACTS.md on candle's pools at these sizes).
fn matmul(z: &mut [f32], h: &[f32], r: &[f32], b: usize, hid: usize) {
    let n = 4 * hid;
    assert!(z.len() >= b * n && h.len() >= b * hid && r.len() == hid * n);
    // SAFETY: the asserts above bound every access: dst is b×n with row
    // stride n, lhs b×hid with row stride hid, rhs hid×n with row stride n;
    // the three buffers do not overlap (one is &mut).
    unsafe {
        gemm::gemm(
            b,
            n,
            hid,
            z.as_mut_ptr(),
            1,
            n as isize,
            false,
            h.as_ptr(),
            1,
            hid as isize,
            r.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
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
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
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
#[inline(always)]
fn gates_body(
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
    for j in 0..n {
        let i = sigmoid(zi[j]);
        let f = sigmoid(zf[j]);
        let g = tanh(zg[j]);
        let o = sigmoid(zo[j]);
        let cj = f * c[j] + i * g;
        c[j] = cj;
        h[j] = o * tanh(cj);
    }
}

fn gates_generic(
    z: &mut [f32],
    bias: &[f32],
    input: Option<(&[f32], f32)>,
    c: &mut [f32],
    h: &mut [f32],
) {
    gates_body(z, bias, input, c, h)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    /// # Safety
    /// The CPU must support AVX-512F (checked by `select_gate_kernel`).
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn gates_avx512(
        z: &mut [f32],
        bias: &[f32],
        input: Option<(&[f32], f32)>,
        c: &mut [f32],
        h: &mut [f32],
    ) {
        super::gates_body(z, bias, input, c, h)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA (checked by `select_gate_kernel`).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gates_avx2(
        z: &mut [f32],
        bias: &[f32],
        input: Option<(&[f32], f32)>,
        c: &mut [f32],
        h: &mut [f32],
    ) {
        super::gates_body(z, bias, input, c, h)
    }

    pub fn avx512(
        z: &mut [f32],
        b: &[f32],
        i: Option<(&[f32], f32)>,
        c: &mut [f32],
        h: &mut [f32],
    ) {
        // SAFETY: only selected after is_x86_feature_detected!("avx512f").
        unsafe { gates_avx512(z, b, i, c, h) }
    }

    pub fn avx2(z: &mut [f32], b: &[f32], i: Option<(&[f32], f32)>, c: &mut [f32], h: &mut [f32]) {
        // SAFETY: only selected after detecting avx2 and fma.
        unsafe { gates_avx2(z, b, i, c, h) }
    }
}

/// The widest gate kernel this CPU runs.
fn select_gate_kernel() -> GateKernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return x86::avx512;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return x86::avx2;
        }
    }
    gates_generic
}

/// Which gate kernel [`FastModel`] uses here (for reports).
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return "avx512";
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return "avx2+fma";
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
    fn every_kernel_agrees_with_the_generic_one() {
        let n = 75;
        let mut rng = crate::rng::Rng::new(5);
        let mut v =
            |k: usize, s: f64| -> Vec<f32> { (0..k).map(|_| rng.uniform(-s, s) as f32).collect() };
        let (z0, bias, wih, c0) = (v(4 * n, 4.0), v(4 * n, 1.0), v(4 * n, 1.0), v(n, 2.0));
        let run = |k: GateKernel| {
            let (mut z, mut c, mut h) = (z0.clone(), c0.clone(), vec![0f32; n]);
            k(&mut z, &bias, Some((&wih, 0.7)), &mut c, &mut h);
            (c, h)
        };
        let want = run(gates_generic);
        let got = run(select_gate_kernel());
        for (a, b) in want.0.iter().chain(&want.1).zip(got.0.iter().chain(&got.1)) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}
