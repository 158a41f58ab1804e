//! The fused LSTM step for x86-64 with AVX2 and FMA, in ymm registers, or
//! in zmm registers where the CPU has AVX-512: the recurrent product and the
//! cell update in one pass, with no `[B, 4H]` pre-activations written to
//! memory. One generic body (over [`Lanes`]) serves both widths.
//!
//! The weights are packed once per model, from the start of a cache line
//! ([`Lines`]), into the order the loop reads them: per block of units,
//! for each `k`, the four gates' columns (`[block][k][gate][lanes]`, 128
//! contiguous bytes per `k` for a block of 8). A tile is R batch rows × one block: 4R accumulators (R rows × i, f,
//! g, o) start from the bias (plus `x·w_ih` in the encoder), take one
//! broadcast of `h` per row and one load per gate for each `k`, and are
//! turned into `c` and `h` while still in registers. Blocks are the outer
//! loop, so a block's weights (`k × 128` bytes, ~10 KB for 75 units; twice
//! that in zmm) stay in L1 while every row tile streams past them. `h` is
//! read from one buffer and written to another, since every block reads the
//! whole previous `h`. Every other step reads the weights in the reverse
//! order (see [`Product`]), so that one row starts where the last step's
//! reads, still in L1, ended.
//!
//! Blocks are 8 units with AVX2 (ymm), 16 with AVX-512 (zmm). Where the
//! live units end up to ¾ of a register past the last full block, that tail
//! holds its four gates one after another, in ⌈4n/N⌉ registers per `k`
//! instead of 4 (see [`tail`]): 75 units are 9 × 8 and a tail of 3 in 2 ymm
//! registers (AVX2), or 4 × 16 and a tail of 11 in 3 zmm registers
//! (AVX-512). Units past the live ones are never written: they stay zero.
//!
//! Registers: with AVX2, 12 accumulators, 3 broadcasts and one gate's
//! weights fill the 16 vector registers exactly; 3 rows is the widest tile
//! without spills. AVX-512 has 32: on AMD Zen 5 at batch 256, 4 rows (16
//! accumulators) ran 6-7% faster than 3, while 5 and 6 rows ran at about
//! 0.86× and 0.36× of 4 (spills; `benches/kernel_ab.sh` runs of each
//! against the same base). A batch of one row takes several blocks per
//! tile instead (2 in ymm, 4 in zmm: 8 or 16 accumulators), and the tail in
//! the same loop, so its FMAs do not wait on each other's latency.
//!
//! The activations are one tanh for all five (σ(z) = ½ + ½·tanh(z/2), the
//! halving folded into the packed weights), evaluated four registers at a
//! time as fractions, which are combined before dividing: two divisions per
//! unit instead of five. On AMD Zen 1 they are 26-29% of the step, the
//! product the rest, and their cost is their operation count (throughput,
//! not latency: `benches/kernel_ab.sh`, BENCHMARKS.md).

use std::arch::x86_64::*;

use crate::lines::Lines;

/// Units per full block: one ymm register of f32 (AVX2), or one zmm
/// register (AVX-512).
const LANES: usize = 8;
const LANES_512: usize = 16;
/// The most live units a packed tail holds: ¾ of a register's lanes (3
/// registers per `k`); past that a full block costs no more.
const fn max_tail(lanes: usize) -> usize {
    3 * lanes / 4
}
/// What each gate's weights and bias are packed multiplied by: the sigmoid
/// gates (i, f, o) take `z/2` (σ(z) = ½ + ½·tanh(z/2)), so the halving is
/// done once here rather than per step. Halving is exact in f32, so the
/// sums are exactly half of the unscaled ones.
const GATE_SCALE: [f32; 4] = [0.5, 0.5, 1.0, 0.5];

/// The registers a step computes in: what [`Packed`] is laid out for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Width {
    /// ymm blocks of 8 units and a packed tail (AVX2 and FMA).
    Avx2,
    /// zmm blocks of 16 units and a packed tail (AVX-512F and DQ). A
    /// 512-bit operation costs what a 256-bit one does on Intel's server
    /// cores and AMD Zen 5; Zen 4 splits it in two, yet this width is still
    /// 1.3x the ymm one there (32 registers, half the instructions, a
    /// one-operation clamp: BENCHMARKS.md, Zen 4).
    Avx512,
}

impl Width {
    /// Units per full block.
    fn lanes(self) -> usize {
        match self {
            Width::Avx2 => LANES,
            Width::Avx512 => LANES_512,
        }
    }

    /// The widest this CPU runs, if it runs either.
    pub(super) fn detect() -> Option<Width> {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        let avx512 =
            std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq");
        match (avx2, avx512) {
            (true, true) => Some(Width::Avx512),
            (true, false) => Some(Width::Avx2),
            _ => None,
        }
    }

    /// Whether this CPU can run a step packed for this width.
    fn supported(self) -> bool {
        Width::detect().is_some_and(|w| self == Width::Avx2 || w == Width::Avx512)
    }
}

/// One step's weights in the fused kernel's order.
#[derive(Debug, Clone)]
pub(super) struct Packed {
    width: Width,
    /// Per block (the full ones, then the tail): `[k][gate][lanes]`.
    r: Lines,
    /// Per block: `[gate][lanes]`, both biases (and any folded feedback).
    bias: Lines,
    /// Per block: `[gate][lanes]`, the input weights; empty without an input.
    wih: Lines,
    /// Rows of `r` (the model's hidden size; padded units are zero in `h`).
    k: usize,
    /// Full blocks of [`LANES`] (AVX2) or [`LANES_512`] units.
    blocks: usize,
    /// Live units in the tail (0: none): at most [`max_tail`] of the
    /// width's lanes, packed `[k][i × n, f × n, g × n, o × n, zeros]` in
    /// ⌈4n/N⌉ registers per `k` rather than 4 (see [`tail_tile`]).
    tail_units: usize,
    /// Row length of `h` and `c` (the fast path's padded units).
    units: usize,
}

impl Packed {
    /// From the fast path's layout: `r` is `[units, npad]` row-major with
    /// gate `g` of unit `j` at column `g·units + j`; `bias` and `wih` are
    /// `[npad]` in the same column order.
    pub(super) fn new(
        width: Width,
        r: &[f32],
        bias: &[f32],
        wih: Option<&[f32]>,
        k: usize,
        units: usize,
        npad: usize,
    ) -> Self {
        let lanes = width.lanes();
        let (full, rem) = (k / lanes, k % lanes);
        let packed_tail = rem <= max_tail(lanes);
        let blocks = full + usize::from(!packed_tail);
        let tail_units = if packed_tail { rem } else { 0 };
        // (first unit, live units, floats per k) of each block, in packing
        // order. The tail holds its gates one after another.
        let spans: Vec<(usize, usize, usize)> = (0..blocks)
            .map(|b| (b * lanes, lanes, 4 * lanes))
            .chain((tail_units > 0).then(|| {
                let regs = (4 * tail_units).div_ceil(lanes);
                (blocks * lanes, tail_units, regs * lanes)
            }))
            .collect();
        let end = blocks * lanes + tail_units;
        assert!(end <= units && 4 * units <= npad && r.len() >= k * npad && bias.len() >= npad);
        // Gate g's n columns from `row` on, as the loop reads them, then
        // zeros up to `len` floats.
        let cols = |out: &mut Vec<f32>, row: &[f32], col: usize, n: usize, len: usize| {
            let start = out.len();
            for (g, scale) in GATE_SCALE.iter().enumerate() {
                out.extend(row[g * units + col..][..n].iter().map(|v| v * scale));
            }
            out.resize(start + len, 0.0);
        };
        let gate_vec = |v: &[f32]| -> Vec<f32> {
            let mut out = Vec::with_capacity(4 * units);
            for &(col, n, len) in &spans {
                cols(&mut out, v, col, n, len);
            }
            out
        };
        let mut packed = Vec::with_capacity(4 * k * units);
        for &(col, n, len) in &spans {
            for kk in 0..k {
                cols(&mut packed, &r[kk * npad..], col, n, len);
            }
        }
        Packed {
            width,
            r: Lines::new(&packed),
            bias: Lines::new(&gate_vec(bias)),
            wih: Lines::new(&wih.map(gate_vec).unwrap_or_default()),
            k,
            blocks,
            tail_units,
            units,
        }
    }
}

/// The encoder's input for a step: row `r`'s sample is `x[r · stride]`.
#[derive(Clone, Copy)]
pub(super) struct Input<'a> {
    pub x: &'a [f32],
    pub stride: usize,
}

/// The order in which a step reads its packed weights for the recurrent
/// product, or none.
///
/// Why two orders: one row (the idle service's batch) reads a layer's
/// packed weights once per step, 91 KB for 75 units, more than L1 holds
/// (32 KB on AMD Zen 3-5), so a step streams them from L2 and is bound by
/// that (BENCHMARKS.md). L1 still holds the last ~25 KB a step read: the
/// next step, reading in the opposite order, starts with them. Every tile
/// shape takes the same order in a given step, so a window's result still
/// does not depend on its batch; the order of the sum over `k` changes
/// from step to step, within the same bound against f64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Product {
    /// None: the first step of the encoder (`h_in` = 0).
    Skip,
    /// `k` ascending, the blocks in packing order, the tail last.
    Up,
    /// `k` descending, the tail first, the blocks in reverse order.
    Down,
}

impl Product {
    /// Step `t` of a layer that runs `t` = 0, 1, … (`skip_first`: its
    /// first step has no product): the order alternates.
    pub(super) fn at(t: usize, skip_first: bool) -> Product {
        match t {
            0 if skip_first => Product::Skip,
            _ if t % 2 == 1 => Product::Down,
            _ => Product::Up,
        }
    }
}

/// One LSTM step for `b` rows: `h_out, c ← cell(h_in, c)`. Rows of `h` and
/// `c` are `units` floats apart.
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
    product: Product,
) {
    let units = p.units;
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
        p.width.supported(),
        "fused step: this CPU lacks {:?}",
        p.width
    );
    let (k, rev) = match product {
        Product::Skip => (0, false),
        Product::Up => (p.k, false),
        Product::Down => (p.k, true),
    };
    let bufs = Bufs {
        h_in: h_in.as_ptr(),
        h_out: h_out.as_mut_ptr(),
        c: c.as_mut_ptr(),
    };
    let a = Args {
        p,
        bufs,
        input,
        b,
        k,
        rev,
    };
    // SAFETY: the features were just checked; every pointer the blocks
    // form stays within the lengths asserted above and in `Packed::new`
    // (rows < b, columns < units, k rows of packed weights per block).
    unsafe {
        match p.width {
            Width::Avx2 => step_avx2(a),
            Width::Avx512 => step_avx512(a),
        }
    }
}

// The two entry points compile the same generic code (`blocks` and what it
// calls are `inline(always)`) for their registers, each with its own target
// features: code built for AVX-512 must never run on an AVX2-only CPU.
#[target_feature(enable = "avx2,fma")]
unsafe fn step_avx2(a: Args) {
    unsafe { step_in::<__m256>(a) }
}

#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn step_avx512(a: Args) {
    unsafe { step_in::<__m512>(a) }
}

/// One step in `V`'s registers: the full blocks, then the packed tail (the
/// tail first when reading in reverse; for a lone row, with the last group
/// of blocks, see [`blocks`]).
#[inline(always)]
unsafe fn step_in<V: Lanes>(a: Args) {
    // A lone row reads the tail in the same loop as its last group of
    // blocks (see [`blocks`]), when there is one.
    let own_tail = a.p.tail_units > 0 && (a.b != 1 || a.p.blocks == 0);
    unsafe {
        if a.rev && own_tail {
            tail::<V>(a);
        }
        blocks::<V>(a);
        if !a.rev && own_tail {
            tail::<V>(a);
        }
    }
}

/// One step's arguments, as [`step`] checked them.
#[derive(Clone, Copy)]
struct Args<'a> {
    p: &'a Packed,
    bufs: Bufs,
    input: Option<Input<'a>>,
    b: usize,
    /// Rows of the product: 0 or `p.k`.
    k: usize,
    /// Whether the product reads the weights in reverse (see [`Product`]).
    rev: bool,
}

impl Args<'_> {
    /// The packed weights of the block (or the tail) from unit `col` on;
    /// the next block's start `len` floats of `r` further on.
    ///
    /// # Safety
    /// `col` must be the first unit of a packed block or of the tail.
    #[inline(always)]
    unsafe fn block(&self, col: usize, len: usize) -> Block {
        let p = self.p;
        // Blocks before this one hold `p.k × 4` floats per unit of r, 4 of bias.
        unsafe {
            Block {
                r: p.r.as_ptr().add(col * p.k * 4),
                bias: p.bias.as_ptr().add(col * 4),
                wih: self.input.map(|_| p.wih.as_ptr().add(col * 4)),
                k: self.k,
                len,
                rev: self.rev,
            }
        }
    }
}

/// The tail: the last `n` ≤ ¾·N live units, every row tile. 75 units are
/// 9 blocks of 8 and a tail of 3, whose four gates take 2 ymm registers per
/// `k` (12 of 16 lanes live) instead of 4 (AVX2); or 4 blocks of 16 and a
/// tail of 11 in 3 zmm registers (44 of 48) instead of 4 (AVX-512): 5% fewer
/// FMAs per step either way. After the product, the gates are lined up unit
/// by unit, as a full block's are, for the same cell code; only the live
/// units are stored.
#[inline(always)]
unsafe fn tail<V: Lanes>(a: Args) {
    let (p, bufs, input, b) = (a.p, a.bufs, a.input, a.b);
    let (n, units) = (p.tail_units, p.units);
    let col = p.blocks * V::N;
    // SAFETY (here and below): as in `step`; the tail's weights follow the
    // full blocks' (`p.k × 4` floats per unit each).
    unsafe {
        let w = a.block(col, 0);
        // A tile of R rows holds R·NR accumulators: as many rows as the
        // registers allow (R·NR + R broadcasts + one load), up to 4, so
        // that at least 8 FMAs are independent where the batch allows.
        let nr = (4 * n).div_ceil(V::N);
        let tile_rows = (1..=4).rev().find(|r| r * nr + r < V::REGS).unwrap_or(1);
        let mut r0 = 0;
        while r0 < b {
            let left = (b - r0).min(tile_rows);
            let x = |i: usize| input.map_or(0.0, |inp| inp.x[(r0 + i).min(b - 1) * inp.stride]);
            let rows = bufs.rows(r0, col, units);
            macro_rules! go {
                ($r:literal) => {
                    match nr {
                        1 => tail_tile::<V, $r, 1>(&w, &rows, std::array::from_fn(x), n),
                        2 => tail_tile::<V, $r, 2>(&w, &rows, std::array::from_fn(x), n),
                        _ => tail_tile::<V, $r, 3>(&w, &rows, std::array::from_fn(x), n),
                    }
                };
            }
            match left {
                1 => go!(1),
                2 => go!(2),
                3 => go!(3),
                _ => go!(4),
            }
            r0 += left;
        }
    }
}

/// `$body` for every `k` of a block's product, ascending, or descending in
/// a step that reads its weights in reverse (see [`Product`]). A macro, not
/// a closure: the body must be compiled with the caller's target features.
macro_rules! each_k {
    ($w:expr, $kk:ident => $body:expr) => {
        if $w.rev {
            for $kk in (0..$w.k).rev() {
                $body;
            }
        } else {
            for $kk in 0..$w.k {
                $body;
            }
        }
    };
}

/// `R` rows of the tail, its gates in `NR` registers per `k`.
#[inline(always)]
unsafe fn tail_tile<V: Lanes, const R: usize, const NR: usize>(
    w: &Block,
    rows: &Rows,
    x: [f32; R],
    n: usize,
) {
    unsafe {
        let mut acc = tail_start::<V, R, NR>(w, x);
        each_k!(w, kk => tail_madd(&mut acc, w, rows, kk));
        tail_cell(&acc, rows, n);
    }
}

/// The tail's accumulators before the product: the bias, plus `x·w_ih`.
#[inline(always)]
unsafe fn tail_start<V: Lanes, const R: usize, const NR: usize>(
    w: &Block,
    x: [f32; R],
) -> [[V; NR]; R] {
    unsafe {
        let m = V::N;
        let mut acc = [[V::splat(0.0); NR]; R];
        for j in 0..NR {
            let bias = V::load(w.bias.add(j * m));
            for (r, a) in acc.iter_mut().enumerate() {
                a[j] = match w.wih {
                    Some(wih) => V::fmadd(V::splat(x[r]), V::load(wih.add(j * m)), bias),
                    None => bias,
                };
            }
        }
        acc
    }
}

/// The tail's gates and cell update, from its accumulators after the
/// product.
#[inline(always)]
unsafe fn tail_cell<V: Lanes, const R: usize, const NR: usize>(
    acc: &[[V; NR]; R],
    rows: &Rows,
    n: usize,
) {
    unsafe {
        let m = V::N;
        // Lined up through memory, once per tile: the gates' registers
        // stored side by side, then each gate's `n` lanes loaded from where
        // they start (masked: lanes past `n` read as 0 and are never
        // stored). Indexing `acc` by a run-time register number instead
        // would keep it in memory through the product.
        let mut line = [0f32; 4 * LANES_512];
        let gates: [[[V; 4]; 1]; R] = std::array::from_fn(|r| {
            for (j, &reg) in acc[r].iter().enumerate() {
                V::store_first(line.as_mut_ptr().add(j * m), reg, m);
            }
            [std::array::from_fn(|g| {
                V::load_first(line.as_ptr().add(g * n), n)
            })]
        });
        cell::<V, R, 1>(&gates, rows, n);
    }
}

#[inline(always)]
unsafe fn tail_madd<V: Lanes, const R: usize, const NR: usize>(
    acc: &mut [[V; NR]; R],
    w: &Block,
    rows: &Rows,
    kk: usize,
) {
    unsafe {
        let m = V::N;
        let hv: [V; R] = std::array::from_fn(|r| V::broadcast(rows.h_in.add(r * rows.stride + kk)));
        let wk = w.r.add(kk * NR * m);
        for j in 0..NR {
            let wj = V::load(wk.add(j * m));
            for (a, &h) in acc.iter_mut().zip(&hv) {
                a[j] = V::fmadd(h, wj, a[j]);
            }
        }
    }
}

/// The step's `h` and `c` buffers, at row 0 and unit 0.
#[derive(Clone, Copy)]
struct Bufs {
    h_in: *const f32,
    h_out: *mut f32,
    c: *mut f32,
}

impl Bufs {
    /// The tile whose first row is `r0` and first unit `col` (rows `units`
    /// floats apart).
    ///
    /// # Safety
    /// Row `r0` and unit `col` must lie within the buffers.
    #[inline(always)]
    unsafe fn rows(self, r0: usize, col: usize, units: usize) -> Rows {
        unsafe {
            Rows {
                h_in: self.h_in.add(r0 * units),
                h_out: self.h_out.add(r0 * units + col),
                c: self.c.add(r0 * units + col),
                stride: units,
            }
        }
    }
}

/// The full blocks of `V::N` units, every row tile of each, in packing
/// order or (`rev`) the reverse. A lone row (the idle service's batch)
/// gives each accumulator one dependent FMA per `k`, so it takes several
/// blocks at once: 8 chains (ymm) or 16 (zmm) keep the FMA pipes busy
/// through their latency where 4 would not (on an Intel Xeon, 8 zmm chains
/// still left the pipes waiting: BENCHMARKS.md). A unit's
/// arithmetic is the same in every tile shape, so a window's translation
/// does not depend on the batch it came in.
#[inline(always)]
unsafe fn blocks<V: Lanes>(a: Args) {
    let (p, bufs, input, b) = (a.p, a.bufs, a.input, a.b);
    let units = p.units;
    // A lone row: REGS / 8 blocks per tile (4 of zmm, 2 of ymm: 16 or 8
    // independent chains, half the registers), the tail in the same loop
    // as the last of them.
    let (count, group) = (p.blocks, if b == 1 { V::REGS / 8 } else { 1 });
    let groups = count.div_ceil(group);
    for j in 0..groups {
        let i = group * if a.rev { groups - 1 - j } else { j };
        let nb = (count - i).min(group);
        let col = i * V::N;
        let w = unsafe { a.block(col, p.k * 4 * V::N) };
        if b == 1 && i + nb == count && p.tail_units > 0 {
            // SAFETY: as in `step`; the tail follows the last block.
            unsafe { lone_with_tail::<V>(a, &w, col, nb) };
            continue;
        }
        let mut r0 = 0;
        while r0 < b {
            let left = (b - r0).min(V::ROWS);
            let x = |i: usize| input.map_or(0.0, |inp| inp.x[(r0 + i).min(b - 1) * inp.stride]);
            unsafe {
                let rows = bufs.rows(r0, col, units);
                match (left, nb) {
                    (1, 1) => tile::<V, 1, 1>(&w, &rows, [x(0)]),
                    (1, 2) => tile::<V, 1, 2>(&w, &rows, [x(0)]),
                    // More than 2 blocks come only in 32 registers (see
                    // `group`); in 16 their accumulators would spill, so
                    // that code is not built for them.
                    (1, _) if V::REGS < 32 => unreachable!("a ymm group holds at most 2 blocks"),
                    (1, 3) => tile::<V, 1, 3>(&w, &rows, [x(0)]),
                    (1, _) => tile::<V, 1, 4>(&w, &rows, [x(0)]),
                    (2, _) => tile::<V, 2, 1>(&w, &rows, std::array::from_fn(x)),
                    (3, _) => tile::<V, 3, 1>(&w, &rows, std::array::from_fn(x)),
                    _ => tile::<V, 4, 1>(&w, &rows, std::array::from_fn(x)),
                }
            }
            r0 += left;
        }
    }
}

/// A lone row's last `nb` blocks (from unit `col`) and the tail, in one
/// [`lone_tile`].
///
/// # Safety
/// As [`blocks`]; `a.b` is 1 and the weights hold a tail.
#[inline(always)]
unsafe fn lone_with_tail<V: Lanes>(a: Args, w: &Block, col: usize, nb: usize) {
    let (p, n) = (a.p, a.p.tail_units);
    let t_col = p.blocks * V::N;
    let x = a.input.map_or(0.0, |inp| inp.x[0]);
    unsafe {
        let t = a.block(t_col, 0);
        let (rows, t_rows) = (a.bufs.rows(0, col, p.units), a.bufs.rows(0, t_col, p.units));
        macro_rules! go {
            ($nb:literal) => {
                match (4 * n).div_ceil(V::N) {
                    1 => lone_tile::<V, $nb, 1>(w, &rows, &t, &t_rows, x, n),
                    2 => lone_tile::<V, $nb, 2>(w, &rows, &t, &t_rows, x, n),
                    _ => lone_tile::<V, $nb, 3>(w, &rows, &t, &t_rows, x, n),
                }
            };
        }
        match nb {
            1 => go!(1),
            2 => go!(2),
            // As in `blocks`: more than 2 only in 32 registers.
            _ if V::REGS < 32 => unreachable!("a ymm group holds at most 2 blocks"),
            3 => go!(3),
            _ => go!(4),
        }
    }
}

/// A block's packed weights; the next block's start `len` floats of `r`
/// (and `4 · N` of `bias` and `wih`) further on.
struct Block {
    r: *const f32,
    bias: *const f32,
    wih: Option<*const f32>,
    k: usize,
    len: usize,
    rev: bool,
}

/// A tile's rows: `h_in` at column 0, `h_out` and `c` at the block's column.
struct Rows {
    h_in: *const f32,
    h_out: *mut f32,
    c: *mut f32,
    stride: usize,
}

/// `R` rows × `NB` adjacent blocks: the product, the gates and the cell
/// update. `acc[r][nb][g]` is gate `g` of row `r`'s units in block `nb`.
#[inline(always)]
unsafe fn tile<V: Lanes, const R: usize, const NB: usize>(w: &Block, rows: &Rows, x: [f32; R]) {
    unsafe {
        let mut acc = tile_start::<V, R, NB>(w, x);
        each_k!(w, kk => madd(&mut acc, w, rows, kk));
        cell::<V, R, NB>(&acc, rows, V::N);
    }
}

/// A lone row's last `NB` blocks and the tail (`NR` registers per `k`) in
/// one loop over `k`: the tail's few accumulators would otherwise wait on
/// their own FMAs' latency, one `k` at a time (on an Intel Xeon, 14% of a
/// lone row's step). Each accumulator sees the same operations in the same
/// order as in [`tile`] and [`tail_tile`].
#[inline(always)]
unsafe fn lone_tile<V: Lanes, const NB: usize, const NR: usize>(
    w: &Block,
    rows: &Rows,
    t: &Block,
    t_rows: &Rows,
    x: f32,
    n: usize,
) {
    unsafe {
        let mut acc = tile_start::<V, 1, NB>(w, [x]);
        let mut t_acc = tail_start::<V, 1, NR>(t, [x]);
        each_k!(w, kk => {
            madd(&mut acc, w, rows, kk);
            tail_madd(&mut t_acc, t, t_rows, kk);
        });
        cell::<V, 1, NB>(&acc, rows, V::N);
        tail_cell(&t_acc, t_rows, n);
    }
}

/// A tile's accumulators before the product: the bias, plus `x·w_ih`.
#[inline(always)]
unsafe fn tile_start<V: Lanes, const R: usize, const NB: usize>(
    w: &Block,
    x: [f32; R],
) -> [[[V; 4]; NB]; R] {
    unsafe {
        let n = V::N;
        let mut acc = [[[V::splat(0.0); 4]; NB]; R];
        for nb in 0..NB {
            for g in 0..4 {
                let at = (nb * 4 + g) * n;
                let bias = V::load(w.bias.add(at));
                for (r, a) in acc.iter_mut().enumerate() {
                    a[nb][g] = match w.wih {
                        Some(wih) => V::fmadd(V::splat(x[r]), V::load(wih.add(at)), bias),
                        None => bias,
                    };
                }
            }
        }
        acc
    }
}

/// The gates and the cell update of a tile whose products are in `acc`
/// (`acc[r][nb][g]`: gate `g` of row `r`'s units in block `nb`); stores the
/// first `live` units of each block's `c` and `h`.
#[inline(always)]
unsafe fn cell<V: Lanes, const R: usize, const NB: usize>(
    acc: &[[[V; 4]; NB]; R],
    rows: &Rows,
    live: usize,
) {
    unsafe {
        let n = V::N;
        // The gates (i, f and o hold z/2: see GATE_SCALE), four evaluations
        // side by side, each as a fraction tanh = n/q; then the new c, and
        // tanh of every (row, block)'s c at once. Independent chains hide the
        // FMA latency the rational's Horner steps would otherwise wait on.
        //
        // The fractions are combined before dividing: a 256-bit division
        // holds Zen 1's divider ~9 cycles (3-4 FMA slots of a tanh's ~20),
        // so one per c and one per h instead of five per unit: 2.4% faster
        // at batch 256 (BENCHMARKS.md). With σ(2z) = ½ + ½·tanh(z) = (q + n)/2q:
        //   c' = f·c + i·g = ((q_f + n_f)·c·q_i·q_g + (q_i + n_i)·n_g·q_f) / (2·q_f·q_i·q_g)
        //   h  = o·tanh(c') = (q_o + n_o)·n_c / (2·q_o·q_c)
        // The ½s are folded into the denominators as additions (exact, and
        // on the add pipes: the cell is bound by the FMA pipes). Every q
        // lies in [4.1e3, 8.0e5] (the rational's monic denominator on the
        // clamped range, see `TANH_Q`), so the products stay below 2e18·|c|
        // and far above f32's smallest normal number.
        const { assert!(R * NB <= 4, "a tile holds at most 4 (row, block) pairs") };
        let mut c_new = [V::splat(0.0); 4];
        let mut o = [(V::splat(0.0), V::splat(0.0)); 4];
        for (r, row) in acc.iter().enumerate() {
            for (nb, a) in row.iter().enumerate() {
                let ([ni, nf, ng, no], [qi, qf, qg, qo]) = tanh4_fractions(*a, 4);
                let (j, at) = (r * NB + nb, r * rows.stride + nb * n);
                let qig = V::mul(qi, qg);
                let fc = V::mul(V::add(qf, nf), V::load(rows.c.add(at)));
                let ig = V::mul(V::mul(V::add(qi, ni), ng), qf);
                let num = V::fmadd(fc, qig, ig);
                let den = V::mul(qf, qig);
                c_new[j] = V::div(num, V::add(den, den));
                V::store_first(rows.c.add(at), c_new[j], live);
                o[j] = (V::add(qo, no), V::add(qo, qo));
            }
        }
        let (nc, qc) = tanh4_fractions(c_new, R * NB);
        for r in 0..R {
            for nb in 0..NB {
                let (j, at) = (r * NB + nb, r * rows.stride + nb * n);
                let h = V::div(V::mul(o[j].0, nc[j]), V::mul(o[j].1, qc[j]));
                V::store_first(rows.h_out.add(at), h, live);
            }
        }
    }
}

/// `acc[r][nb][g] += h[r][kk] · w[nb][kk][g]` for the tile's rows, blocks
/// and four gates.
#[inline(always)]
unsafe fn madd<V: Lanes, const R: usize, const NB: usize>(
    acc: &mut [[[V; 4]; NB]; R],
    w: &Block,
    rows: &Rows,
    kk: usize,
) {
    unsafe {
        let n = V::N;
        let mut hv = [V::splat(0.0); R];
        for (r, v) in hv.iter_mut().enumerate() {
            *v = V::broadcast(rows.h_in.add(r * rows.stride + kk));
        }
        for nb in 0..NB {
            let wk = w.r.add(nb * w.len + kk * 4 * n);
            for g in 0..4 {
                let wg = V::load(wk.add(g * n));
                for (a, &h) in acc.iter_mut().zip(&hv) {
                    a[nb][g] = V::fmadd(h, wg, a[nb][g]);
                }
            }
        }
    }
}

/// tanh of the first `m` of four registers as fractions `n / q`, from an
/// 11/6 rational in x (see `TANH_P`), clamped to ±8 where it is within
/// 2.3e-7 of ±1. Q is monic, so its first Horner step is an addition. The
/// numerators' and denominators' Horner steps are interleaved: up to eight
/// independent chains. The caller divides, combining fractions first (see
/// `cell`).
#[inline(always)]
unsafe fn tanh4_fractions<V: Lanes>(mut x: [V; 4], m: usize) -> ([V; 4], [V; 4]) {
    use super::{TANH_P as P, TANH_Q as Q};
    unsafe {
        let lim = 8.0;
        let mut x2 = [V::splat(0.0); 4];
        for j in 0..m {
            x[j] = V::clamp(x[j], V::splat(lim));
            x2[j] = V::mul(x[j], x[j]);
        }
        const { assert!(Q[0] == 1.0, "Q is monic: its first step is x² + Q[1]") };
        let mut p = [V::splat(P[0]); 4];
        let mut q = [V::splat(0.0); 4];
        for s in 1..P.len() {
            for j in 0..m {
                p[j] = V::fmadd(p[j], x2[j], V::splat(P[s]));
            }
            // Q's first step beside P's (hoisted before the loop it
            // measured 0.98-1.00×).
            if s == 1 {
                for j in 0..m {
                    q[j] = V::add(x2[j], V::splat(Q[1]));
                }
            } else if s < Q.len() {
                for j in 0..m {
                    q[j] = V::fmadd(q[j], x2[j], V::splat(Q[s]));
                }
            }
        }
        for j in 0..m {
            p[j] = V::mul(p[j], x[j]);
        }
        (p, q)
    }
}

/// The operations a block needs, for a zmm (16 units) and a ymm (8)
/// register of f32. Callers have checked the features; pointers
/// must be valid for `N` floats (one for `broadcast`).
pub(crate) trait Lanes: Copy {
    const N: usize;
    /// Batch rows per tile: 4 accumulators a row, one broadcast, and the
    /// gate's weights must fit the registers (16 with AVX2, 32 with
    /// AVX-512) without spills.
    const ROWS: usize;
    /// Vector registers (16 with AVX2, 32 with AVX-512).
    const REGS: usize;
    unsafe fn splat(x: f32) -> Self;
    unsafe fn broadcast(p: *const f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    /// `a·b + c`.
    unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self;
    unsafe fn add(a: Self, b: Self) -> Self;
    unsafe fn mul(a: Self, b: Self) -> Self;
    unsafe fn div(a: Self, b: Self) -> Self;
    /// `x` clamped to `[-lim, lim]` (`lim` > 0).
    unsafe fn clamp(x: Self, lim: Self) -> Self;
    /// Stores the first `n` lanes of `v` (`n` ≤ `N`; only the tail stores
    /// fewer than `N`).
    unsafe fn store_first(p: *mut f32, v: Self, n: usize);
    /// Loads the first `n` lanes from `p` (`n` ≤ `N`), the others 0; memory
    /// past them is not read.
    unsafe fn load_first(p: *const f32, n: usize) -> Self;
}

/// Each register width's [`Lanes`], from its intrinsics' prefix.
macro_rules! lanes {
    ($t:ty, $n:expr, $rows:expr, $regs:expr, $feat:literal, $set1:ident, $load:ident, $fmadd:ident,
     $add:ident, $mul:ident, $div:ident, clamp = |$x:ident, $lim:ident| $clamp:expr,
     store_first = |$sp:ident, $sv:ident, $sn:ident| $store_first:expr,
     load_first = |$lp:ident, $ln:ident| $load_first:expr) => {
        impl Lanes for $t {
            const N: usize = $n;
            const ROWS: usize = $rows;
            const REGS: usize = $regs;
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn splat(x: f32) -> Self {
                $set1(x)
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn broadcast(p: *const f32) -> Self {
                // One `vbroadcastss` from memory.
                $set1(unsafe { *p })
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn load(p: *const f32) -> Self {
                unsafe { $load(p) }
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
                $fmadd(a, b, c)
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn add(a: Self, b: Self) -> Self {
                $add(a, b)
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn mul(a: Self, b: Self) -> Self {
                $mul(a, b)
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn div(a: Self, b: Self) -> Self {
                $div(a, b)
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn clamp($x: Self, $lim: Self) -> Self {
                $clamp
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn store_first($sp: *mut f32, $sv: Self, $sn: usize) {
                unsafe { $store_first }
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn load_first($lp: *const f32, $ln: usize) -> Self {
                unsafe { $load_first }
            }
        }
    };
}

lanes!(
    __m512,
    16,
    4,
    32,
    "avx512f,avx512dq",
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_mul_ps,
    div_512,
    // One `vrangeps`: the smaller magnitude of x and lim, with x's sign.
    clamp = |x, lim| _mm512_range_ps::<0b0010>(x, lim),
    store_first = |p, v, n| _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as u16, v),
    load_first = |p, n| _mm512_maskz_loadu_ps(((1u32 << n) - 1) as u16, p)
);
lanes!(
    __m256,
    8,
    3,
    16,
    "avx2,fma",
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps,
    _mm256_mul_ps,
    div_256,
    clamp = |x, lim| _mm256_min_ps(
        _mm256_max_ps(x, _mm256_sub_ps(_mm256_setzero_ps(), lim)),
        lim
    ),
    store_first = |p, v, n| if n == 8 {
        _mm256_storeu_ps(p, v)
    } else {
        _mm256_maskstore_ps(p, first_256(n), v)
    },
    load_first = |p, n| _mm256_maskload_ps(p, first_256(n))
);

/// `a / b` from the 12-bit reciprocal and one Newton step (relative error
/// ~1e-7, well inside the kernel's 1e-5): `vdivps` ymm waits ~3.5 cycles per
/// division on AMD Zen 3, and the step ran 3.7% faster at batch 256 this
/// way (`benches/kernel_ab.sh`, BENCHMARKS.md). `b` is a product of the
/// rational's denominators, never 0 or subnormal (see `cell`).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn div_256(a: __m256, b: __m256) -> __m256 {
    let r = _mm256_rcp_ps(b);
    let r = _mm256_mul_ps(r, _mm256_fnmadd_ps(b, r, _mm256_set1_ps(2.0)));
    _mm256_mul_ps(a, r)
}

/// `a / b` from the 14-bit reciprocal and one Newton step, as [`div_256`]
/// (relative error ~1e-7; `b` as there): a zmm `vdivps` holds the divider
/// ~10 cycles on Intel's server cores, and the cell's divisions come in a
/// burst at the end of each tile. `SECONDS_PER=4 benches/kernel_ab.sh` on an
/// Intel Xeon (Emerald Rapids), three runs: batch 256 1.006, 1.016, 1.022;
/// batch 16 1.022, 1.018, 1.018; batch 1 1.015, 1.018, 1.015 (BENCHMARKS.md).
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn div_512(a: __m512, b: __m512) -> __m512 {
    let r = _mm512_rcp14_ps(b);
    let r = _mm512_mul_ps(r, _mm512_fnmadd_ps(b, r, _mm512_set1_ps(2.0)));
    _mm512_mul_ps(a, r)
}

/// A lane mask of the first `n` of 8 lanes, for `maskload` and `maskstore`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn first_256(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

#[cfg(test)]
mod tests;
