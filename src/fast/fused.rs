//! The fused LSTM step for AVX2+FMA: the recurrent product and the cell
//! update in one pass, with no `[B, 4H]` pre-activations written to memory.
//!
//! The weights are packed once per model into the order the loop reads
//! them: per block of 8 units, for each `k`, the four gates' 8 columns
//! (`[block][k][gate][8]`, 128 contiguous bytes per `k`). A tile is 3 batch
//! rows × one block: 12 accumulators (3 rows × i, f, g, o) start from the
//! bias (plus `x·w_ih` in the encoder), take one broadcast of `h` per row and
//! one load per gate for each `k`, and are turned into `c` and `h` while
//! still in registers. Blocks are the outer loop, so a block's weights
//! (`k × 128` bytes, ~10 KB for 75 units) stay in L1 while every row tile
//! streams past them. `h` is read from one buffer and written to another,
//! since every block reads the whole previous `h`.
//!
//! Registers: 12 accumulators, 3 broadcasts and one gate's weights fill the
//! 16 ymm registers exactly; 3 rows is the widest tile without spills.

use std::arch::x86_64::*;

/// Units per block: one ymm register of f32.
pub(super) const LANES: usize = 8;
/// Batch rows per tile.
const ROWS: usize = 3;

/// One step's weights in the fused kernel's order.
#[derive(Debug, Clone)]
pub(super) struct Packed {
    /// `[block][k][gate][LANES]`.
    r: Vec<f32>,
    /// `[block][gate][LANES]`: both biases (and any folded feedback).
    bias: Vec<f32>,
    /// `[block][gate][LANES]`, the input weights; empty without an input.
    wih: Vec<f32>,
    /// Rows of `r` (the model's hidden size; padded units are zero in `h`).
    k: usize,
    /// `units / LANES`.
    blocks: usize,
}

impl Packed {
    /// From the fast path's layout: `r` is `[units, npad]` row-major with
    /// gate `g` of unit `j` at column `g·units + j`; `bias` and `wih` are
    /// `[npad]` in the same column order.
    pub(super) fn new(
        r: &[f32],
        bias: &[f32],
        wih: Option<&[f32]>,
        k: usize,
        units: usize,
        npad: usize,
    ) -> Self {
        assert!(units.is_multiple_of(LANES) && k <= units && r.len() >= k * npad);
        let blocks = units / LANES;
        let gate_vec = |v: &[f32]| -> Vec<f32> {
            let mut out = Vec::with_capacity(4 * units);
            for blk in 0..blocks {
                for g in 0..4 {
                    let at = g * units + blk * LANES;
                    out.extend_from_slice(&v[at..at + LANES]);
                }
            }
            out
        };
        let mut packed = Vec::with_capacity(blocks * k * 4 * LANES);
        for blk in 0..blocks {
            for kk in 0..k {
                for g in 0..4 {
                    let at = kk * npad + g * units + blk * LANES;
                    packed.extend_from_slice(&r[at..at + LANES]);
                }
            }
        }
        Packed {
            r: packed,
            bias: gate_vec(bias),
            wih: wih.map(gate_vec).unwrap_or_default(),
            k,
            blocks,
        }
    }
}

/// The encoder's input for a step: row `r`'s sample is `x[r · stride]`.
#[derive(Clone, Copy)]
pub(super) struct Input<'a> {
    pub x: &'a [f32],
    pub stride: usize,
}

/// One LSTM step for `b` rows: `h_out, c ← cell(h_in, c)`. Rows of `h` and
/// `c` are `units` floats apart. `first` skips the product (`h_in` = 0).
///
/// Panics if a buffer is shorter than `b` rows, or an input is given to
/// weights packed without one (checked before any unsafe access).
pub(super) fn step(
    p: &Packed,
    h_in: &[f32],
    h_out: &mut [f32],
    c: &mut [f32],
    input: Option<Input>,
    b: usize,
    first: bool,
) {
    let units = p.blocks * LANES;
    assert!(
        h_in.len() >= b * units && h_out.len() >= b * units && c.len() >= b * units,
        "fused step: buffers shorter than {b} rows"
    );
    if let Some(inp) = input {
        assert!(!p.wih.is_empty(), "fused step: input without input weights");
        assert!(
            b == 0 || inp.x.len() > (b - 1) * inp.stride,
            "fused step: input rows"
        );
    }
    assert!(
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
        "fused step needs AVX2 and FMA"
    );
    // SAFETY: the features were just checked; every pointer below stays
    // within the lengths asserted above (rows < b, columns < units, k rows
    // of packed weights per block).
    unsafe { step_avx2(p, h_in, h_out, c, input, b, first) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn step_avx2(
    p: &Packed,
    h_in: &[f32],
    h_out: &mut [f32],
    c: &mut [f32],
    input: Option<Input>,
    b: usize,
    first: bool,
) {
    let units = p.blocks * LANES;
    let k = if first { 0 } else { p.k };
    for blk in 0..p.blocks {
        let w = Block {
            r: unsafe { p.r.as_ptr().add(blk * p.k * 4 * LANES) },
            bias: unsafe { p.bias.as_ptr().add(blk * 4 * LANES) },
            wih: input.map(|_| unsafe { p.wih.as_ptr().add(blk * 4 * LANES) }),
            k,
        };
        let col = blk * LANES;
        let mut r0 = 0;
        while r0 < b {
            let x = |i: usize| input.map_or(0.0, |inp| inp.x[(r0 + i).min(b - 1) * inp.stride]);
            let rows = Rows {
                h_in: unsafe { h_in.as_ptr().add(r0 * units) },
                h_out: unsafe { h_out.as_mut_ptr().add(r0 * units + col) },
                c: unsafe { c.as_mut_ptr().add(r0 * units + col) },
                stride: units,
            };
            unsafe {
                match b - r0 {
                    1 => tile::<1>(&w, &rows, [x(0)]),
                    2 => tile::<2>(&w, &rows, [x(0), x(1)]),
                    _ => tile::<ROWS>(&w, &rows, [x(0), x(1), x(2)]),
                }
            }
            r0 += ROWS;
        }
    }
}

/// One block's packed weights.
struct Block {
    r: *const f32,
    bias: *const f32,
    wih: Option<*const f32>,
    k: usize,
}

/// A tile's rows: `h_in` at column 0, `h_out` and `c` at the block's column.
struct Rows {
    h_in: *const f32,
    h_out: *mut f32,
    c: *mut f32,
    stride: usize,
}

/// `R` rows × one block: the product, the gates and the cell update.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<const R: usize>(w: &Block, rows: &Rows, x: [f32; R]) {
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 4]; R];
        for g in 0..4 {
            let bias = _mm256_loadu_ps(w.bias.add(g * LANES));
            for (r, a) in acc.iter_mut().enumerate() {
                a[g] = match w.wih {
                    Some(wih) => _mm256_fmadd_ps(
                        _mm256_set1_ps(x[r]),
                        _mm256_loadu_ps(wih.add(g * LANES)),
                        bias,
                    ),
                    None => bias,
                };
            }
        }
        for kk in 0..w.k {
            madd(&mut acc, w, rows, kk);
        }
        for (r, a) in acc.iter().enumerate() {
            let i = sigmoid(a[0]);
            let f = sigmoid(a[1]);
            let g = tanh(a[2]);
            let o = sigmoid(a[3]);
            let cp = rows.c.add(r * rows.stride);
            let cn = _mm256_fmadd_ps(f, _mm256_loadu_ps(cp), _mm256_mul_ps(i, g));
            _mm256_storeu_ps(cp, cn);
            _mm256_storeu_ps(rows.h_out.add(r * rows.stride), _mm256_mul_ps(o, tanh(cn)));
        }
    }
}

/// `acc[r][g] += h[r][kk] · w[kk][g]` for the tile's rows and four gates.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn madd<const R: usize>(acc: &mut [[__m256; 4]; R], w: &Block, rows: &Rows, kk: usize) {
    unsafe {
        let mut hv = [_mm256_setzero_ps(); R];
        for (r, v) in hv.iter_mut().enumerate() {
            *v = _mm256_broadcast_ss(&*rows.h_in.add(r * rows.stride + kk));
        }
        let wk = w.r.add(kk * 4 * LANES);
        for g in 0..4 {
            let wg = _mm256_loadu_ps(wk.add(g * LANES));
            for (a, &h) in acc.iter_mut().zip(&hv) {
                a[g] = _mm256_fmadd_ps(h, wg, a[g]);
            }
        }
    }
}

/// 1/d: the 12-bit estimate refined by one Newton step (~23 bits).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn recip(d: __m256) -> __m256 {
    let r = _mm256_rcp_ps(d);
    _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(2.0)))
}

/// tanh as a 13/6 rational in x (Eigen's minimax coefficients, as in the
/// AVX-512 gate kernel), clamped to ±7.905 where it reaches ±1 in f32.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn tanh(x: __m256) -> __m256 {
    let lim = 7.905_311_f32;
    let x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-lim)), _mm256_set1_ps(lim));
    let x2 = _mm256_mul_ps(x, x);
    let mut p = _mm256_set1_ps(super::TANH_P[0]);
    for &c in &super::TANH_P[1..] {
        p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(c));
    }
    let p = _mm256_mul_ps(p, x);
    let mut q = _mm256_set1_ps(super::TANH_Q[0]);
    for &c in &super::TANH_Q[1..] {
        q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(c));
    }
    _mm256_mul_ps(p, recip(q))
}

/// σ(x) = ½ + ½·tanh(x/2).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn sigmoid(x: __m256) -> __m256 {
    let half = _mm256_set1_ps(0.5);
    _mm256_fmadd_ps(half, tanh(_mm256_mul_ps(half, x)), half)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused step against the cell computed in f64 from the unpacked
    /// weights: every tile shape (1, 2 and 3 rows), with and without the
    /// input term, and the first step (no product).
    #[test]
    fn fused_step_agrees_with_f64() {
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            return;
        }
        // 75 live units of 80, as in the shipped models.
        let (k, units) = (75, 80);
        let npad = 4 * units;
        let mut rng = crate::rng::Rng::new(11);
        let mut v =
            |n: usize, s: f64| -> Vec<f32> { (0..n).map(|_| rng.uniform(-s, s) as f32).collect() };
        let (r, bias, wih) = (v(units * npad, 0.3), v(npad, 1.0), v(npad, 1.0));
        let (h_all, c_all, x_all) = (v(8 * units, 1.0), v(8 * units, 2.0), v(8 * 3, 1.5));
        let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
        for with_input in [false, true] {
            let p = Packed::new(&r, &bias, with_input.then_some(&wih[..]), k, units, npad);
            for (b, first) in [(1, false), (2, false), (3, false), (7, false), (8, true)] {
                // Padded units: h is zero there, as in the model.
                let mut h_in = h_all[..b * units].to_vec();
                for row in h_in.chunks_mut(units) {
                    row[k..].fill(0.0);
                }
                let mut c = c_all[..b * units].to_vec();
                let mut h_out = vec![f32::NAN; b * units];
                let input = with_input.then_some(Input {
                    x: &x_all,
                    stride: 3,
                });
                step(&p, &h_in, &mut h_out, &mut c, input, b, first);
                for row in 0..b {
                    for j in 0..units {
                        let z = |g: usize| {
                            let col = g * units + j;
                            let mut z = bias[col] as f64;
                            if with_input {
                                z += x_all[row * 3] as f64 * wih[col] as f64;
                            }
                            if !first {
                                for kk in 0..k {
                                    z += h_in[row * units + kk] as f64 * r[kk * npad + col] as f64;
                                }
                            }
                            z
                        };
                        let c0 = c_all[row * units + j] as f64;
                        let cn = sig(z(1)) * c0 + sig(z(0)) * z(2).tanh();
                        let hn = sig(z(3)) * cn.tanh();
                        let (gc, gh) = (c[row * units + j] as f64, h_out[row * units + j] as f64);
                        assert!(
                            (gc - cn).abs() < 1e-5 && (gh - hn).abs() < 1e-5,
                            "b={b} first={first} input={with_input} row {row} unit {j}: \
                             c {gc} vs {cn}, h {gh} vs {hn}"
                        );
                    }
                }
            }
        }
    }
}
