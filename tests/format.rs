//! The model file: round trips, tensors-only files, dtype conversion, and a
//! clear error for each way a file can be wrong.

use crate::common;

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use common::{pipeline, random_params, write_tensors_only};
use pipeline::Error;
use pipeline::format::{self, Metadata};
use safetensors::Dtype;

fn tensors(params: &[(String, Vec<usize>, Vec<f64>)]) -> HashMap<String, Tensor> {
    params
        .iter()
        .map(|(n, s, v)| {
            let v: Vec<f32> = v.iter().map(|x| *x as f32).collect();
            (
                n.clone(),
                Tensor::from_vec(v, s.as_slice(), &Device::Cpu).unwrap(),
            )
        })
        .collect()
}

fn sample_windows(w: usize) -> Vec<f32> {
    (0..3 * w).map(|i| (i as f32 * 0.37).sin()).collect()
}

#[test]
fn round_trip_keeps_weights_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/m.safetensors");
    let params = random_params(5, 1, 0.5);
    let meta = Metadata {
        pair: Some("damped".into()),
        window: Some(12),
        recipe: Some(serde_json::json!({"epochs": 3, "lr": 0.001})),
        metrics: Some(serde_json::json!({"ar_mse_grid": 1.5e-6})),
        created: Some(format::now_rfc3339()),
        scaling: None,
    };
    let id = format::save(&path, &tensors(&params), 5, 12, &meta).unwrap();
    let loaded = format::load(&path, None).unwrap();
    assert_eq!(loaded.meta, meta);
    assert_eq!(loaded.id, id);
    assert_eq!((loaded.model.hidden(), loaded.model.window()), (5, 12));

    // Same weights as a tensors-only file: identical translations.
    let plain = dir.path().join("plain.safetensors");
    write_tensors_only(&plain, &params, Dtype::F32);
    let other = format::load(&plain, Some(12)).unwrap();
    let x = sample_windows(12);
    assert_eq!(
        loaded.model.translate_rows(&x).unwrap(),
        other.model.translate_rows(&x).unwrap()
    );
    // The id is of what the model computes, not of the file: the same
    // weights, window and scaling in other bytes (no metadata here) keep it;
    // so does a later save (another `created`), and other weights do not.
    assert_eq!(other.id, loaded.id);
    let later = Metadata {
        created: Some("2030-01-01T00:00:00Z".into()),
        pair: Some("renamed".into()),
        ..meta.clone()
    };
    let again = format::save(
        &dir.path().join("again.safetensors"),
        &tensors(&params),
        5,
        12,
        &later,
    );
    assert_eq!(again.unwrap(), id);
    let nudged = random_params(5, 2, 0.5);
    let moved = format::save(
        &dir.path().join("m2.safetensors"),
        &tensors(&nudged),
        5,
        12,
        &meta,
    );
    assert_ne!(moved.unwrap(), id);
    assert!(!dir.path().join("sub/dir/m.safetensors.tmp").exists());
}

#[test]
fn tensors_only_file_infers_hidden_and_defaults_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.safetensors");
    write_tensors_only(&path, &random_params(7, 2, 0.3), Dtype::F32);
    let m = format::load(&path, None).unwrap();
    assert_eq!(m.model.hidden(), 7);
    assert_eq!(m.model.window(), 24);
    assert_eq!(m.meta, Metadata::default());
    assert_eq!(format::load(&path, Some(10)).unwrap().model.window(), 10);
    // Served without --pair, it cannot say which subjects: the command
    // line's fault (exit 2, as the README has it), said before any
    // connection is tried.
    let out = pipeline()
        .args(["serve", "--model", path.to_str().unwrap()])
        .args(["--nats", "nats://127.0.0.1:1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("does not name its pair: pass --pair"), "{err}");
}

#[test]
fn half_and_double_precision_are_converted() {
    let dir = tempfile::tempdir().unwrap();
    // Multiples of 1/64 in [-0.5, 0.5] are exact in f16.
    let params: Vec<_> = random_params(4, 3, 0.5)
        .into_iter()
        .map(|(n, s, v)| {
            (
                n,
                s,
                v.iter()
                    .map(|x| (x * 64.0).round() / 64.0)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let x = sample_windows(24);
    let mut outs = Vec::new();
    for (dtype, name) in [
        (Dtype::F32, "f32"),
        (Dtype::F16, "f16"),
        (Dtype::F64, "f64"),
    ] {
        let path = dir.path().join(name);
        write_tensors_only(&path, &params, dtype);
        outs.push(
            format::load(&path, None)
                .unwrap()
                .model
                .translate_rows(&x)
                .unwrap(),
        );
    }
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
}

fn load_err(params: &[(String, Vec<usize>, Vec<f64>)], dtype: Dtype) -> (Error, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    write_tensors_only(&path, params, dtype);
    let e = format::load(&path, None).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("bad.safetensors"),
        "error names the file: {msg}"
    );
    (e, msg)
}

#[test]
fn missing_tensor_is_named_with_its_expected_shape() {
    let mut p = random_params(5, 1, 0.5);
    p.retain(|(n, _, _)| n != "decoder.bias_hh_l0");
    let (e, msg) = load_err(&p, Dtype::F32);
    assert!(matches!(e, Error::TensorMissing { .. }), "{e:?}");
    assert!(
        msg.contains("`decoder.bias_hh_l0` is missing") && msg.contains("[20]"),
        "{msg}"
    );
}

#[test]
fn misshaped_tensor_names_expected_and_found() {
    let mut p = random_params(5, 1, 0.5);
    for (n, s, v) in p.iter_mut() {
        if n == "dense.weight" {
            *s = vec![5, 1];
            *v = vec![0.1; 5];
        }
    }
    let (e, msg) = load_err(&p, Dtype::F32);
    assert!(matches!(e, Error::TensorShape { .. }), "{e:?}");
    assert!(
        msg.contains("`dense.weight` has shape [5, 1], expected [1, 5]"),
        "{msg}"
    );
    // The probe tensor itself malformed: [4H, H] with 4H wrong.
    let mut p = random_params(5, 1, 0.5);
    p[1].1 = vec![19, 5];
    p[1].2 = vec![0.0; 95];
    let (_, msg) = load_err(&p, Dtype::F32);
    assert!(
        msg.contains("`encoder.weight_hh_l0` has shape [19, 5], not [4H, H]"),
        "{msg}"
    );
    // Transposed as Keras stores its recurrent kernel, [H, 4H]: the tensor
    // at fault is named, not a later one measured against a wrong H.
    let mut p = random_params(5, 1, 0.5);
    p[1].1 = vec![5, 20];
    let (_, msg) = load_err(&p, Dtype::F32);
    assert!(
        msg.contains("`encoder.weight_hh_l0` has shape [5, 20]") && msg.contains("transposed"),
        "{msg}"
    );
    // A prefix an export added: said, with what to strip.
    let mut p = random_params(5, 1, 0.5);
    for (n, _, _) in p.iter_mut() {
        *n = format!("model.{n}");
    }
    let (_, msg) = load_err(&p, Dtype::F32);
    assert!(
        msg.contains("`model.encoder.weight_hh_l0`") && msg.contains("prefix (`model.`)"),
        "{msg}"
    );
}

#[test]
fn other_bad_files_give_clear_errors() {
    // Integer weights.
    let (_, msg) = load_err(&random_params(3, 1, 5.0), Dtype::I32);
    assert!(msg.contains("dtype I32"), "{msg}");
    // NaN weights.
    let mut p = random_params(3, 1, 0.5);
    p[0].2[0] = f64::NAN;
    let (_, msg) = load_err(&p, Dtype::F32);
    assert!(msg.contains("NaN"), "{msg}");
    // Extra tensors (e.g. a two-layer LSTM).
    let mut p = random_params(3, 1, 0.5);
    p.push(("encoder.weight_ih_l1".into(), vec![12, 3], vec![0.0; 36]));
    let (_, msg) = load_err(&p, Dtype::F32);
    assert!(
        msg.contains("unexpected tensors") && msg.contains("weight_ih_l1"),
        "{msg}"
    );

    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a model").unwrap();
    let msg = format::load(&garbage, None).unwrap_err().to_string();
    assert!(msg.contains("not a safetensors file"), "{msg}");

    let missing = dir.path().join("nope.safetensors");
    let e = format::load(&missing, None).unwrap_err();
    assert!(matches!(e, Error::ModelIo { .. }), "{e:?}");
}

#[test]
fn metadata_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let params = random_params(3, 1, 0.5);
    let ts = tensors(&params);
    let good = format::to_bytes(&ts, 3, 24, &Metadata::default()).unwrap();
    let path = dir.path().join("m.safetensors");
    assert!(format::load_bytes(&good, &path, None).is_ok());

    // Re-serialise with tampered metadata.
    let st = safetensors::SafeTensors::deserialize(&good).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&good).unwrap();
    let base = header.metadata().clone().unwrap();
    let newer = (format::FORMAT_VERSION + 1).to_string();
    for (key, value, needle) in [
        ("format_version", newer.as_str(), "newer than this build"),
        ("window", "zero", "`window`"),
        // A window no stream could hold (it was allocated, and aborted).
        ("window", "1000000000000", "from 1 to 10000"),
        ("metrics", "{not json", "`metrics`"),
        ("hidden", "4", "disagrees with the tensors' hidden size 3"),
        ("pair", "", "`pair`"),
        ("pair", "a\nb", "control characters"),
    ] {
        let mut meta = base.clone();
        meta.insert(key.into(), value.into());
        let bytes = safetensors::serialize(st.tensors(), Some(meta)).unwrap();
        let msg = format::load_bytes(&bytes, &path, None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(needle), "{key}={value}: {msg}");
    }
    // A window given by flag is held to the same bound.
    let msg = format::load_bytes(&good, &path, Some(1 << 40))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("windows of 1 to 10000"), "{msg}");
    let msg = format::load_bytes(&good, &path, Some(0))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("a window of 0 samples"), "{msg}");
    // Another tool's metadata (`{"format": "pt"}`, as PyTorch exports write
    // it) is ignored: the file is read by its tensors, as one without any.
    let mut foreign = HashMap::new();
    foreign.insert("format".to_string(), "pt".to_string());
    foreign.insert("window".to_string(), "whatever".to_string());
    let bytes = safetensors::serialize(st.tensors(), Some(foreign)).unwrap();
    let loaded = format::load_bytes(&bytes, &path, None).unwrap();
    assert_eq!(loaded.meta, Metadata::default());
    assert_eq!(loaded.model.window(), format::DEFAULT_WINDOW);
}

/// Weights and an output scaling whose translations could pass f32's range
/// (they went out as `inf`, `null` in JSON) are refused at load.
#[test]
fn a_model_whose_outputs_could_overflow_is_refused() {
    use pipeline::scaling::{Affine, ScaleMethod, Scaling};
    let params = random_params(3, 1, 0.5);
    let scaled = |scale: f64| Metadata {
        scaling: Some(Scaling {
            method: ScaleMethod::Standard,
            input: Affine::IDENTITY,
            output: Affine { center: 0.0, scale },
        }),
        ..Default::default()
    };
    let path = std::path::Path::new("m.safetensors");
    let load = |scale| {
        let bytes = format::to_bytes(&tensors(&params), 3, 24, &scaled(scale)).unwrap();
        format::load_bytes(&bytes, path, None)
    };
    assert!(load(1e30).is_ok());
    let msg = load(1e39).unwrap_err().to_string();
    assert!(
        msg.contains("beyond f32") && msg.contains("output"),
        "{msg}"
    );
}

#[test]
fn scaling_round_trips_and_only_a_scaled_file_needs_version_2() {
    use pipeline::scaling::{Affine, ScaleMethod, Scaling};
    let dir = tempfile::tempdir().unwrap();
    let params = random_params(5, 3, 0.5);
    let scaling = Scaling {
        method: ScaleMethod::Robust,
        input: Affine {
            center: 1013.25,
            scale: 42.5,
        },
        output: Affine {
            center: -7.0,
            scale: 0.125,
        },
    };
    let version = |path: &std::path::Path| -> String {
        let bytes = std::fs::read(path).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        header.metadata().as_ref().unwrap()["format_version"].clone()
    };
    let scaled = dir.path().join("scaled.safetensors");
    let meta = Metadata {
        scaling: Some(scaling),
        ..Default::default()
    };
    format::save(&scaled, &tensors(&params), 5, 24, &meta).unwrap();
    let loaded = format::load(&scaled, None).unwrap();
    assert_eq!(loaded.meta.scaling, Some(scaling));
    assert_eq!(version(&scaled), "2");
    // Both paths apply it: physical in, physical out.
    let plain = dir.path().join("plain.safetensors");
    format::save(&plain, &tensors(&params), 5, 24, &Metadata::default()).unwrap();
    assert_eq!(
        version(&plain),
        "1",
        "older builds still read unscaled files"
    );
    let unscaled = format::load(&plain, None).unwrap();
    assert_eq!(unscaled.meta.scaling, None);
    let x: Vec<f32> = sample_windows(24)
        .iter()
        .map(|v| 1013.25 + 42.5 * v)
        .collect();
    let mut normalised = x.clone();
    scaling.input.normalise(&mut normalised);
    let mut want = unscaled.model.translate_rows(&normalised).unwrap();
    scaling.output.denormalise(&mut want);
    for (got, path) in [
        (loaded.model.translate_rows(&x).unwrap(), "reference"),
        (loaded.fast.translate_rows(&x).unwrap(), "fast"),
    ] {
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5 * 0.125 + 1e-6, "{path}: {a} vs {b}");
        }
    }
    // A scale that is not positive is refused, naming the key.
    let mut map = HashMap::new();
    map.insert(
        "scaling".to_string(),
        r#"{"input":{"center":0,"scale":0},"output":{"center":0,"scale":1}}"#.to_string(),
    );
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = params
        .iter()
        .map(|(n, s, v)| {
            let b = v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect();
            (n.clone(), s.clone(), b)
        })
        .collect();
    let views: Vec<(&str, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (
                n.as_str(),
                safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, safetensors::serialize(views, Some(map)).unwrap()).unwrap();
    let e = format::load(&bad, None).unwrap_err().to_string();
    assert!(
        e.contains("metadata `scaling`") && e.contains("positive"),
        "{e}"
    );
}

/// What is not a regular file is refused before it is opened: a pipe would
/// wait for a writer (a reload request hung the control endpoints), a
/// device such as /dev/zero would be read until memory ran out.
#[test]
fn only_regular_files_are_read_as_models() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.safetensors");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for path in [
        fifo.as_path(),
        dir.path(),
        std::path::Path::new("/dev/zero"),
    ] {
        match format::load(path, None) {
            Err(Error::ModelFormat { reason, .. }) => {
                assert!(reason.contains("not a regular file"), "{reason}")
            }
            other => panic!("{}: {other:?}", path.display()),
        }
    }
}

/// `set-scaling` over a scaling the model was trained with changes what it
/// outputs: the scores it recorded are dropped, what it recorded of its
/// data is kept; the same scaling again keeps both.
#[test]
fn replacing_a_scaling_drops_the_scores_in_the_old_units() {
    use pipeline::scaling::{Affine, ScaleMethod, Scaling};
    let dir = tempfile::tempdir().unwrap();
    let scaling = |center| Scaling {
        method: ScaleMethod::Standard,
        input: Affine::IDENTITY,
        output: Affine { center, scale: 2.0 },
    };
    let src = dir.path().join("m.safetensors");
    let meta = Metadata {
        scaling: Some(scaling(5.0)),
        metrics: Some(serde_json::json!({
            "baselines": {"linear": {"mse": 1.0}},
            "validation": {"model": {"mse": 2.0}},
            "input": "x",
        })),
        ..Default::default()
    };
    format::save(&src, &tensors(&random_params(3, 1, 0.5)), 3, 24, &meta).unwrap();
    let copy = dir.path().join("copy.safetensors");
    for (center, kept) in [(5.0, true), (7.0, false)] {
        format::set_scaling(&src, &copy, scaling(center)).unwrap();
        let loaded = format::load(&copy, None).unwrap();
        assert_eq!(loaded.meta.scaling, Some(scaling(center)));
        let m = loaded.meta.metrics.unwrap();
        assert_eq!(m.get("validation").is_some(), kept, "center {center}");
        let data = (&m["input"], &m["baselines"]["linear"]["mse"]);
        assert_eq!(data, (&"x".into(), &1.0.into()));
    }
}

/// A model trained as another route's pair, named on a route of one
/// configuration, is said with what it translates (a mix-up of model files
/// between two routes reaches subscribers in the other channel's units);
/// on its own route, or named after no route, it is not.
#[test]
fn a_model_of_another_route_is_said() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let wind = pipeline::format::load(&dir.join("wind-power.safetensors"), None).unwrap();
    let why = wind
        .other_route_than("sin-cos", &["sin-cos", "wind-power"])
        .unwrap_or_default();
    assert!(
        why.contains("trained as pair \"wind-power\" (wind_speed_ms → power_kw)")
            && why.contains("another route's name here"),
        "{why}"
    );
    assert_eq!(
        wind.other_route_than("wind-power", &["sin-cos", "wind-power"]),
        None
    );
    assert_eq!(wind.other_route_than("turbine-7", &["turbine-7"]), None);
}

#[path = "format_residual.rs"]
mod residual;
