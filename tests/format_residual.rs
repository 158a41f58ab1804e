//! A residual model's file (`retrain --residual`): its skip tensors make it
//! format version 3 (and only they do), are read back and checked, and are
//! part of its id.

use crate::common;

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use common::{random_params, write_tensors_only};
use pipeline::Error;
use pipeline::format::{self, Metadata};
use pipeline::scaling::{Affine, ScaleMethod, Scaling};
use safetensors::Dtype;

type Params = Vec<(String, Vec<usize>, Vec<f64>)>;

/// A model of 5 units and windows of 24 with a seeded skip `[24, 24]`,
/// `[24]`.
fn residual_params(seed: u64) -> Params {
    let mut p = random_params(5, 1, 0.5);
    let mut rng = pipeline::rng::Rng::new(seed);
    let mut draw = |n: usize| (0..n).map(|_| rng.uniform(-0.2, 0.2)).collect::<Vec<_>>();
    p.push(("skip.weight".into(), vec![24, 24], draw(24 * 24)));
    p.push(("skip.bias".into(), vec![24], draw(24)));
    p
}

fn tensors(params: &Params) -> HashMap<String, Tensor> {
    params
        .iter()
        .map(|(n, s, v)| {
            let v: Vec<f32> = v.iter().map(|x| *x as f32).collect();
            let t = Tensor::from_vec(v, s.as_slice(), &Device::Cpu).unwrap();
            (n.clone(), t)
        })
        .collect()
}

fn version(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    header.metadata().as_ref().unwrap()["format_version"].clone()
}

const SCALING: Scaling = Scaling {
    method: ScaleMethod::Standard,
    input: Affine {
        center: 500.0,
        scale: 290.0,
    },
    output: Affine {
        center: 170.0,
        scale: 90.0,
    },
};

/// Written as version 3 only with a skip (an older build refuses it by its
/// version instead of serving the network without the map); without one,
/// as version 1 or 2 exactly as before, read back without a skip. The skip
/// comes back as written, a `set-scaling` copy keeps it, and it is part of
/// the id.
#[test]
fn only_a_residual_model_is_version_3_and_its_skip_is_in_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let save = |name: &str, params: &Params, scaling: Option<Scaling>| {
        let path = dir.path().join(name);
        let meta = Metadata {
            scaling,
            ..Default::default()
        };
        let id = format::save(&path, &tensors(params), 5, 24, &meta).unwrap();
        (path, id)
    };
    let residual = residual_params(2);
    let plain: Params = residual[..10].to_vec();
    let cases = [
        ("plain", &plain, None, "1"),
        ("scaled", &plain, Some(SCALING), "2"),
        ("residual", &residual, None, "3"),
        ("both", &residual, Some(SCALING), "3"),
    ];
    let mut ids = Vec::new();
    for (name, params, scaling, want) in cases {
        let (path, id) = save(&format!("{name}.safetensors"), params, scaling);
        assert_eq!(version(&path), want, "{name}");
        let loaded = format::load(&path, None).unwrap();
        assert_eq!(loaded.id, id);
        let skip = loaded.model.skip();
        assert_eq!(skip.is_some(), want == "3", "{name}");
        if let Some(skip) = skip {
            let weight: Vec<f32> = residual[10].2.iter().map(|v| *v as f32).collect();
            assert_eq!(skip.weight(), weight.as_slice());
            assert_eq!(skip.bias().len(), 24);
        }
        ids.push(id);
    }
    // The skip is in the id: with and without it, or another skip, differ.
    assert_ne!(ids[0], ids[2]);
    assert_ne!(ids[1], ids[3]);
    let (_, other) = save("other.safetensors", &residual_params(3), None);
    assert_ne!(other, ids[2]);
    let (_, again) = save("again.safetensors", &residual, None);
    assert_eq!(again, ids[2], "the same weights and skip, the same id");
    // A copy with another scaling keeps the skip (in the network's units).
    let copy = dir.path().join("copy.safetensors");
    format::set_scaling(&dir.path().join("residual.safetensors"), &copy, SCALING).unwrap();
    assert_eq!(version(&copy), "3");
    assert_eq!(format::load(&copy, None).unwrap().id, ids[3]);
}

/// The library's own build reads version 3; a version past it is refused
/// with the version message (what a build before residual models says of a
/// version 3 file).
#[test]
fn a_version_past_this_build_is_refused_by_its_version() {
    assert_eq!(format::FORMAT_VERSION, 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let good =
        format::to_bytes(&tensors(&residual_params(2)), 5, 24, &Metadata::default()).unwrap();
    assert!(format::load_bytes(&good, &path, None).is_ok());
    let st = safetensors::SafeTensors::deserialize(&good).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&good).unwrap();
    let mut map = header.metadata().clone().unwrap();
    map.insert("format_version".into(), "4".into());
    let views: Vec<_> = st.tensors();
    let newer = safetensors::serialize(views, Some(map)).unwrap();
    let e = format::load_bytes(&newer, &path, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("format version 4 is newer than this build reads (3)"),
        "{e}"
    );
}

fn load_err(params: &Params) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    write_tensors_only(&path, params, Dtype::F32);
    let e = format::load(&path, None).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("bad.safetensors"), "names the file: {msg}");
    assert!(
        matches!(
            e,
            Error::TensorShape { .. } | Error::TensorMissing { .. } | Error::ModelFormat { .. }
        ),
        "{e:?}"
    );
    msg
}

/// A skip that does not fit the model's window, half a skip, or one with
/// NaN or infinite values is refused, naming the tensor; so is writing one
/// of the wrong shape.
#[test]
fn a_bad_skip_is_refused_with_the_tensor_named() {
    let mut wrong = residual_params(2);
    wrong[10].1 = vec![24, 23];
    wrong[10].2.truncate(24 * 23);
    let msg = load_err(&wrong);
    assert!(
        msg.contains("`skip.weight` has shape [24, 23], expected [24, 24]"),
        "{msg}"
    );
    let mut short = residual_params(2);
    short[11].1 = vec![23];
    short[11].2.truncate(23);
    assert!(
        load_err(&short).contains("`skip.bias` has shape [23], expected [24]"),
        "{}",
        load_err(&short)
    );
    let mut half = residual_params(2);
    half.pop();
    let msg = load_err(&half);
    assert!(msg.contains("`skip.bias` is missing"), "{msg}");
    for (at, value) in [(10, f64::NAN), (11, f64::INFINITY)] {
        let mut bad = residual_params(2);
        bad[at].2[3] = value;
        let msg = load_err(&bad);
        let name = &bad[at].0;
        assert!(
            msg.contains(&format!("`{name}` contains NaN or infinite")),
            "{msg}"
        );
    }
    // Finite, but its translations would pass f32's range: a weight of
    // 3e38 (its products inf, beside another's -inf their sum NaN).
    let mut far = residual_params(2);
    assert_eq!(far[10].0, "skip.weight");
    far[10].2[3] = 3e38;
    let msg = load_err(&far);
    assert!(
        msg.contains("a residual model's skip for inputs within 1e6 spreads"),
        "{msg}"
    );
    // A window override the skip does not fit.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    write_tensors_only(&path, &residual_params(2), Dtype::F32);
    assert!(format::load(&path, None).is_ok());
    let e = format::load(&path, Some(12)).unwrap_err().to_string();
    assert!(
        e.contains("`skip.weight` has shape [24, 24], expected [12, 12]"),
        "{e}"
    );
    // Not written either.
    let e = format::to_bytes(&tensors(&wrong), 5, 24, &Metadata::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("skip.weight"), "{e}");
}

/// `serve`'s word on a model `retrain` found no better than a baseline:
/// a residual model whose network adds nothing is its map, said so; any
/// other is told as before.
#[test]
fn a_residual_model_that_is_its_map_is_said_to_serve_it() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("bare.safetensors");
    write_tensors_only(&bare, &residual_params(2), Dtype::F32);
    let scored = |residual: bool, model: f64| {
        let path = dir.path().join(format!("m-{residual}-{model}.safetensors"));
        common::metrics_copy(&bare, &path, |m| {
            m["validation"] = serde_json::json!({
                "beats_baselines": false,
                "model": {"nmse": model},
                "linear_baseline": {"nmse": 0.2056},
                "mean_baseline": {"nmse": 1.0005},
            });
            if residual {
                m["residual"] = "linear".into();
            }
        });
        format::load(&path, None)
            .unwrap()
            .baseline_warning()
            .unwrap()
    };
    let map = scored(true, 0.2056);
    assert!(
        map.contains("network adding nothing to its linear map")
            && map.contains("it serves the map"),
        "{map}"
    );
    for (residual, model) in [(false, 0.2056), (true, 0.31)] {
        let w = scored(residual, model);
        assert!(w.contains("no better than a baseline"), "{w}");
    }
}
