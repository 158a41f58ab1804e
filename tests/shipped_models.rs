//! The models shipped in `models/` meet the accuracy targets of the
//! model-core issue, measured the way `pipeline eval` measures them.

use pipeline::data::Windows;
use pipeline::{eval, format, pairs};

/// (pair, target AR MSE on the 76 grid windows, target on random-phase windows)
const TARGETS: [(&str, f64, f64); 3] = [
    ("sin-cos", 3.0e-6, 3.0e-6),
    ("damped", 1.0e-6, 1.0e-6),
    ("square-sqrt", 5.0e-5, 5.0e-5),
];

#[test]
fn shipped_models_meet_their_targets() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for (id, grid_target, random_target) in TARGETS {
        let path = dir.join(format!("{id}.safetensors"));
        let m = format::load(&path, None).unwrap();
        assert_eq!(m.meta.pair.as_deref(), Some(id));
        assert_eq!(
            (m.model.hidden(), m.model.window()),
            (75, 24),
            "seed architecture"
        );
        let pair = pairs::find(id).unwrap();
        let grid = Windows::grid(pair, 24).unwrap();
        let (metrics, _) = eval::evaluate(&m.model, &grid, Some(pair), eval::EVAL_SEED).unwrap();
        assert!(
            metrics.ar_mse_grid <= grid_target,
            "{id}: grid AR MSE {:.3e}",
            metrics.ar_mse_grid
        );
        let r = metrics.ar_mse_random.unwrap();
        assert!(r <= random_target, "{id}: random-phase AR MSE {r:.3e}");
    }
}
