//! The fused step against f64, in both orders, every width and tile shape.

use super::*;

/// The fused step against the cell computed in f64 from the unpacked
/// weights: every tile shape (1 to 4 rows), with and without the input
/// term, the first step (no product), every width this CPU runs, and
/// every number of live units from 1 to 112: ending on a block, or past
/// one (or none) by a packed tail in 1, 2 or 3 registers, or by more (a
/// padded full block), and so every group a lone row takes (1 to 4 zmm
/// blocks, 1 or 2 ymm blocks, with and without a tail). Units past the
/// live ones stay untouched, and row 0 comes out the same, bit for bit,
/// in every batch size.
#[test]
fn fused_step_agrees_with_f64() {
    if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
        return;
    }
    let units = 112;
    let npad = 4 * units;
    let mut rng = crate::rng::Rng::new(11);
    let mut v =
        |n: usize, s: f64| -> Vec<f32> { (0..n).map(|_| rng.uniform(-s, s) as f32).collect() };
    let (r, bias, wih) = (v(units * npad, 0.3), v(npad, 1.0), v(npad, 1.0));
    let (h_all, c_all, x_all) = (v(9 * units, 1.0), v(9 * units, 2.0), v(9 * 3, 1.5));
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    let widths = [Width::Avx2, Width::Avx512]
        .into_iter()
        .filter(|w| w.supported());
    for (width, (k, end)) in widths.flat_map(|w| {
        (1..=units).map(move |k| match w {
            // A packed tail is stored exactly; a last full block whole.
            _ if k % w.lanes() <= max_tail(w.lanes()) => (w, (k, k)),
            _ => (w, (k, k.div_ceil(w.lanes()) * w.lanes())),
        })
    }) {
        // Both orders of the product: each must agree with f64, and
        // row 0 be the same in every batch size for the order it took.
        for (with_input, order) in [false, true]
            .into_iter()
            .flat_map(|i| [(i, Product::Up), (i, Product::Down)])
        {
            let wih_in = with_input.then_some(&wih[..]);
            let p = Packed::new(width, &r, &bias, wih_in, k, units, npad);
            // Row 0's h and c from the first batch size, to compare the others with.
            let mut row0: Option<Vec<u32>> = None;
            for (b, first) in [1, 2, 3, 4, 5, 7, 8, 9]
                .map(|b| (b, false))
                .into_iter()
                .chain([(8, true)])
            {
                // Units past k: h is zero there, as in the model.
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
                let product = if first { Product::Skip } else { order };
                step(&p, &h_in, &mut h_out, &mut c, input, b, product);
                // A window's result does not depend on its batch: bit for bit.
                let bits: Vec<u32> = h_out[..units]
                    .iter()
                    .chain(&c[..units])
                    .map(|v| v.to_bits())
                    .collect();
                if !first {
                    let want = row0.get_or_insert_with(|| bits.clone());
                    assert!(
                        *want == bits,
                        "{width:?} k={k} b={b} {order:?}: row 0 differs from b=1"
                    );
                }
                for row in 0..b {
                    for j in 0..units {
                        let at = row * units + j;
                        let (gc, gh) = (c[at] as f64, h_out[at] as f64);
                        let case = format!(
                            "{width:?} k={k} b={b} first={first} input={with_input} {order:?}"
                        );
                        if j >= end {
                            assert!(
                                gh.is_nan() && c[at] == c_all[at],
                                "{case} row {row} unit {j}: written past the last block"
                            );
                            continue;
                        }
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
                        let cn = sig(z(1)) * c_all[at] as f64 + sig(z(0)) * z(2).tanh();
                        let hn = sig(z(3)) * cn.tanh();
                        assert!(
                            (gc - cn).abs() < 1e-5 && (gh - hn).abs() < 1e-5,
                            "{case} row {row} unit {j}: c {gc} vs {cn}, h {gh} vs {hn}"
                        );
                    }
                }
            }
        }
    }
}

/// `Down` really takes the other order: the sums over `k` round
/// differently somewhere (both within the f64 bound checked above).
#[test]
fn the_two_orders_sum_in_different_orders() {
    if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
        return;
    }
    let (units, k) = (80, 75);
    let npad = 4 * units;
    let mut rng = crate::rng::Rng::new(5);
    let mut v =
        |n: usize, s: f64| -> Vec<f32> { (0..n).map(|_| rng.uniform(-s, s) as f32).collect() };
    let (r, bias, mut h_in, c0) = (
        v(units * npad, 0.3),
        v(npad, 1.0),
        v(units, 1.0),
        v(units, 2.0),
    );
    h_in[k..].fill(0.0);
    for width in [Width::Avx2, Width::Avx512]
        .into_iter()
        .filter(|w| w.supported())
    {
        let p = Packed::new(width, &r, &bias, None, k, units, npad);
        let run = |order| {
            let (mut c, mut h_out) = (c0.clone(), vec![0f32; units]);
            step(&p, &h_in, &mut h_out, &mut c, None, 1, order);
            h_out.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        };
        assert_ne!(run(Product::Up), run(Product::Down), "{width:?}");
    }
}

/// Far outside the rational's range the gates saturate (σ → 0 or 1,
/// tanh → ±1) without NaN, in every width this CPU runs.
#[test]
fn fused_step_saturates_without_nan() {
    let (units, k, b) = (16, 16, 2);
    let npad = 4 * units;
    let r = vec![0f32; units * npad];
    for width in [Width::Avx2, Width::Avx512]
        .into_iter()
        .filter(|w| w.supported())
    {
        for (z, c_want, h_want) in [(1e9f32, 1.0f32, 1.0f32.tanh()), (-1e9, 0.0, 0.0)] {
            let bias = vec![z; npad];
            let p = Packed::new(width, &r, &bias, None, k, units, npad);
            let (h_in, mut h_out, mut c) = (
                vec![0f32; b * units],
                vec![0f32; b * units],
                vec![0f32; b * units],
            );
            step(&p, &h_in, &mut h_out, &mut c, None, b, Product::Up);
            for (cv, hv) in c.iter().zip(&h_out) {
                assert!(
                    (cv - c_want).abs() < 1e-6 && (hv - h_want).abs() < 1e-6,
                    "{width:?} z={z}: c {cv} (want {c_want}), h {hv} (want {h_want})"
                );
            }
        }
    }
}
