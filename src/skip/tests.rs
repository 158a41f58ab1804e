//! The skip: the map carried into the network's units, values from a file
//! checked, and both inference paths adding it, in the network's units.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::*;
use crate::fast::FastModel;
use crate::model::Seq2Seq;
use crate::scaling::{Affine, ScaleMethod};

/// Physical units far from the network's, on both sides.
const SCALING: Scaling = Scaling {
    method: ScaleMethod::Standard,
    input: Affine {
        center: 290.0,
        scale: 75.0,
    },
    output: Affine {
        center: 10.0,
        scale: 4.0,
    },
};

fn windows(n: usize, w: usize, seed: u64) -> Windows {
    let mut rng = crate::rng::Rng::new(seed);
    let x: Vec<f32> = (0..n + w)
        .map(|_| (300.0 + 80.0 * rng.normal()) as f32)
        .collect();
    // A nearly instantaneous, scaled and offset response with noise.
    let y: Vec<f32> = (0..n + w)
        .map(|i| 0.05 * x[i] + 0.01 * x[i.saturating_sub(1)] - 4.0 + 0.3 * rng.normal() as f32)
        .collect();
    Windows::sliding(&x, &y, w).unwrap()
}

/// The physical map carried into normalised units is the map fitted on
/// normalised windows (what `--residual` promises), and residuals are the
/// targets less its predictions.
#[test]
fn a_map_in_network_units_is_the_map_fitted_there() {
    let (train, w) = (windows(400, 6, 3), 6);
    let physical = LinearMap::fit(&train).unwrap();
    let skip = Skip::of_map(&physical, &SCALING).unwrap();
    assert_eq!(skip.window(), w);
    let mut normalised = train.clone();
    SCALING.to_network(&mut normalised);
    let direct = LinearMap::fit(&normalised).unwrap();
    let want = direct.predict(&normalised.input);
    let mut got = vec![0f32; want.len()];
    skip.add(&normalised.input, &mut got);
    for (g, want) in got.iter().zip(&want) {
        assert!((g - want).abs() < 1e-4, "{g} vs {want}");
    }
    let mut residual = normalised.clone();
    skip.residual(&mut residual);
    for ((r, t), g) in residual.target.iter().zip(&normalised.target).zip(&got) {
        assert!((r - (t - g)).abs() < 1e-5, "{r} vs {t} − {g}");
    }
}

/// Values from a file: a shape or a value that does not fit is refused,
/// and so is a skip of another window than the model's.
#[test]
fn a_skip_of_another_shape_or_not_finite_is_refused() {
    assert!(Skip::new(2, vec![1.0; 4], vec![0.0; 2]).is_ok());
    let e = Skip::new(2, vec![1.0; 3], vec![0.0; 2]).unwrap_err();
    assert!(e.to_string().contains("4 weights"), "{e}");
    assert!(Skip::new(2, vec![1.0; 4], vec![0.0; 3]).is_err());
    let e = Skip::new(2, vec![1.0, f32::NAN, 0.0, 0.0], vec![0.0; 2]).unwrap_err();
    assert!(e.to_string().contains("`skip.weight` holds NaN"), "{e}");
    let e = Skip::new(2, vec![1.0; 4], vec![0.0, f32::INFINITY]).unwrap_err();
    assert!(e.to_string().contains("`skip.bias`"), "{e}");
    let (model, fast) = models(4, 3, Scaling::IDENTITY);
    let two = Skip::new(2, vec![1.0; 4], vec![0.0; 2]).unwrap();
    assert!(model.with_skip(Some(two.clone())).is_err());
    assert!(fast.with_skip(Some(two)).is_err());
}

/// Both paths over the same seeded weights, without a skip.
fn models(hidden: usize, window: usize, scaling: Scaling) -> (Seq2Seq, FastModel) {
    let params = crate::train::init_params(hidden, 7);
    let tensors: HashMap<String, Tensor> = crate::format::tensor_specs(hidden)
        .into_iter()
        .map(|(n, s)| {
            let t = Tensor::from_slice(&params[&n], s, &Device::Cpu).unwrap();
            (n, t)
        })
        .collect();
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let model = Seq2Seq::new(vb, hidden, window).unwrap();
    let fast = FastModel::new(&params, hidden, window).unwrap();
    (model.with_scaling(scaling), fast.with_scaling(scaling))
}

/// A residual model translates to exactly the network's output plus
/// `weight · x̂ + bias` in the network's units (x̂ the normalised input),
/// then the output scaling, on the reference and the fast path alike; the
/// two agree as they do without a skip.
#[test]
fn both_paths_add_the_skip_in_the_network_s_units() {
    let (hidden, w, n) = (6, 24, 5);
    let mut rng = crate::rng::Rng::new(11);
    let weight: Vec<f32> = (0..w * w).map(|_| (0.3 * rng.normal()) as f32).collect();
    let bias: Vec<f32> = (0..w).map(|_| (0.5 * rng.normal()) as f32).collect();
    let skip = Skip::new(w, weight.clone(), bias.clone()).unwrap();
    let x: Vec<f32> = (0..n * w)
        .map(|_| (290.0 + 75.0 * rng.normal()) as f32)
        .collect();
    let mut x_hat = x.clone();
    SCALING.input.normalise(&mut x_hat);
    // The network alone, in its units: the same weights without scaling.
    let (net_model, net_fast) = models(hidden, w, Scaling::IDENTITY);
    let (model, fast) = models(hidden, w, SCALING);
    let (model, fast) = (
        model.with_skip(Some(skip.clone())).unwrap(),
        fast.with_skip(Some(skip)).unwrap(),
    );
    let by_hand = |net: &[f32]| -> Vec<f64> {
        let mut out = Vec::with_capacity(net.len());
        for (xs, ys) in x_hat.chunks(w).zip(net.chunks(w)) {
            for j in 0..w {
                let dot: f64 = (0..w)
                    .map(|i| weight[j * w + i] as f64 * xs[i] as f64)
                    .sum();
                let y_hat = ys[j] as f64 + dot + bias[j] as f64;
                out.push(y_hat * SCALING.output.scale + SCALING.output.center);
            }
        }
        out
    };
    let reference = model.translate_rows(&x).unwrap();
    let quick = fast.translate_rows(&x).unwrap();
    for (got, want, path) in [
        (
            &reference,
            by_hand(&net_model.translate_rows(&x_hat).unwrap()),
            "reference",
        ),
        (
            &quick,
            by_hand(&net_fast.translate_rows(&x_hat).unwrap()),
            "fast",
        ),
    ] {
        for (g, want) in got.iter().zip(&want) {
            let tol = 1e-5 * SCALING.output.scale * (1.0 + want.abs());
            assert!((*g as f64 - want).abs() <= tol, "{path}: {g} vs {want}");
        }
    }
    for (a, b) in reference.iter().zip(&quick) {
        assert!(
            ((a - b) as f64).abs() <= 1e-5 * SCALING.output.scale * (1.0 + a.abs() as f64),
            "reference {a} vs fast {b}"
        );
    }
    // The skip is in the sum: without it the translations differ.
    let plain = models(hidden, w, SCALING).0.translate_rows(&x).unwrap();
    assert!(
        plain
            .iter()
            .zip(&reference)
            .any(|(a, b)| (a - b).abs() > 1.0)
    );
}
