//! Training: a short run lowers the loss, runs are reproducible for a seed,
//! and bad recipes are refused.

use pipeline::data::Windows;
use pipeline::pairs;
use pipeline::scaling::Scaling;
use pipeline::train::{Recipe, TrainData, train};

fn small_recipe() -> Recipe {
    Recipe {
        epochs: 12,
        hidden: 8,
        batch: 16,
        random_windows_per_epoch: 64,
        warmup_epochs: 1,
        ..Recipe::default_recipe()
    }
}

#[test]
fn short_run_lowers_loss_and_improves_translation() {
    let pair = pairs::find("sin-cos").unwrap();
    let recipe = small_recipe();
    let fixed = Windows::grid(pair, recipe.window).unwrap();
    let mut calls = 0;
    let t = train(
        &recipe,
        &TrainData {
            fixed: fixed.clone(),
            pair: Some(pair),
            scaling: Scaling::IDENTITY,
            skip: None,
        },
        |s| {
            calls += 1;
            assert_eq!(s.epoch, calls);
            assert!(s.loss.is_finite());
        },
    )
    .unwrap();
    assert_eq!(calls, 12);
    let first = t.history[0].loss;
    let last = t.history.last().unwrap().loss;
    assert!(
        last < first * 0.5,
        "loss went from {first:.3e} to {last:.3e}"
    );
    // The trained model translates better than predicting all zeros would.
    let (mse, _) = pipeline::eval::ar_mse(&t.model, &fixed).unwrap();
    let zero_mse = fixed
        .target
        .iter()
        .map(|y| (*y as f64).powi(2))
        .sum::<f64>()
        / fixed.target.len() as f64;
    assert!(
        mse < zero_mse * 0.5,
        "AR MSE {mse:.3e} vs predicting 0: {zero_mse:.3e}"
    );
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let pair = pairs::find("damped").unwrap();
    let recipe = Recipe {
        epochs: 2,
        ..small_recipe()
    };
    let fixed = Windows::grid(pair, recipe.window).unwrap();
    let data = TrainData {
        fixed,
        pair: Some(pair),
        scaling: Scaling::IDENTITY,
        skip: None,
    };
    let weights = |r: &Recipe| -> Vec<f32> {
        let t = train(r, &data, |_| {}).unwrap();
        let mut names: Vec<_> = t.tensors.keys().cloned().collect();
        names.sort();
        names
            .iter()
            .flat_map(|n| {
                t.tensors[n]
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
            .collect()
    };
    let a = weights(&recipe);
    assert_eq!(a, weights(&recipe));
    assert_ne!(
        a,
        weights(&Recipe {
            seed: 1,
            ..recipe.clone()
        })
    );
}

#[test]
fn bad_recipes_are_refused() {
    let pair = pairs::find("sin-cos").unwrap();
    let fixed = Windows::grid(pair, 24).unwrap();
    let data = TrainData {
        fixed: fixed.clone(),
        pair: Some(pair),
        scaling: Scaling::IDENTITY,
        skip: None,
    };
    for r in [
        Recipe {
            epochs: 0,
            ..small_recipe()
        },
        Recipe {
            batch: 0,
            ..small_recipe()
        },
        Recipe {
            lr: -1.0,
            ..small_recipe()
        },
        Recipe {
            window: 12,
            ..small_recipe()
        }, // fixed windows are 24 long
    ] {
        assert!(train(&r, &data, |_| {}).is_err());
    }
    // Random-phase windows without a pair (CSV data).
    let csv = TrainData {
        fixed,
        pair: None,
        scaling: Scaling::IDENTITY,
        skip: None,
    };
    assert!(train(&small_recipe(), &csv, |_| {}).is_err());
}
