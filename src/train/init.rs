//! Keras's initialisation of our network, from our own seeded generator.

use std::collections::HashMap;

use crate::rng::Rng;

/// Keras's initialisation, from our own seeded RNG (candle's cannot be
/// seeded, and its default init trained worse here): Glorot-uniform
/// kernels, orthogonal recurrent weights, zero biases with the forget gate's
/// set to 1.
pub fn init_params(hidden: usize, seed: u64) -> HashMap<String, Vec<f32>> {
    let mut rng = Rng::new(seed);
    let h = hidden;
    let glorot = |rng: &mut Rng, n: usize, fan_in: usize, fan_out: usize| -> Vec<f32> {
        let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
        (0..n).map(|_| rng.uniform(-limit, limit) as f32).collect()
    };
    let mut params = HashMap::new();
    for lstm in ["encoder", "decoder"] {
        params.insert(
            format!("{lstm}.weight_ih_l0"),
            glorot(&mut rng, 4 * h, 1, 4 * h),
        );
        params.insert(
            format!("{lstm}.weight_hh_l0"),
            orthogonal(&mut rng, 4 * h, h),
        );
        let mut b = vec![0f32; 4 * h];
        b[h..2 * h].fill(1.0); // forget gate
        params.insert(format!("{lstm}.bias_ih_l0"), b);
        params.insert(format!("{lstm}.bias_hh_l0"), vec![0f32; 4 * h]);
    }
    params.insert("dense.weight".into(), glorot(&mut rng, h, h, 1));
    params.insert("dense.bias".into(), vec![0f32]);
    params
}

/// A `rows × cols` (rows ≥ cols) matrix with orthonormal columns, row-major:
/// modified Gram-Schmidt on a Gaussian matrix (Keras's `Orthogonal` on the
/// transposed `[H, 4H]` recurrent kernel).
fn orthogonal(rng: &mut Rng, rows: usize, cols: usize) -> Vec<f32> {
    let mut cols_v: Vec<Vec<f64>> = (0..cols)
        .map(|_| (0..rows).map(|_| rng.normal()).collect())
        .collect();
    for j in 0..cols {
        for k in 0..j {
            let (done, rest) = cols_v.split_at_mut(j);
            let dot: f64 = done[k].iter().zip(&rest[0]).map(|(a, b)| a * b).sum();
            for (x, q) in rest[0].iter_mut().zip(&done[k]) {
                *x -= dot * q;
            }
        }
        let norm = cols_v[j]
            .iter()
            .map(|x| x * x)
            .sum::<f64>()
            .sqrt()
            .max(1e-12);
        cols_v[j].iter_mut().for_each(|x| *x /= norm);
    }
    let mut out = vec![0f32; rows * cols];
    for (j, col) in cols_v.iter().enumerate() {
        for (i, &v) in col.iter().enumerate() {
            out[i * cols + j] = v as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_columns_are_orthonormal() {
        let mut rng = Rng::new(1);
        let (r, c) = (12, 3);
        let m = orthogonal(&mut rng, r, c);
        for a in 0..c {
            for b in 0..c {
                let dot: f64 = (0..r)
                    .map(|i| m[i * c + a] as f64 * m[i * c + b] as f64)
                    .sum();
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-5, "({a},{b}) {dot}");
            }
        }
    }

    #[test]
    fn init_has_keras_forget_bias_and_right_sizes() {
        let p = init_params(5, 0);
        let b = &p["encoder.bias_ih_l0"];
        assert_eq!(b.len(), 20);
        assert!(b[5..10].iter().all(|&x| x == 1.0));
        assert!(b[..5].iter().chain(&b[10..]).all(|&x| x == 0.0));
        assert_eq!(p["decoder.weight_hh_l0"].len(), 100);
        assert_eq!(init_params(5, 0), p, "same seed, same init");
        assert_ne!(init_params(5, 1)["dense.weight"], p["dense.weight"]);
    }
}
