//! Models of another channel or in other units than a route's: named
//! when loaded, refused by requests unless forced, and counted when live
//! windows lie far outside the range the model was trained on.

use crate::common;

use std::path::{Path, PathBuf};

use common::nats::NatsServer;
use common::service::*;
use pipeline::format::LoadedModel;
use pipeline::scaling::{Affine, ScaleMethod, Scaling};

fn load(path: &Path) -> LoadedModel {
    pipeline::format::load(path, None).unwrap()
}

/// A copy of sin-cos that expects its input in hPa (around 1000.9 ± 32.6).
fn hpa_model(dir: &Path) -> PathBuf {
    let hpa = dir.join("hpa.safetensors");
    common::scaled_copy(
        &manifest().join("models/sin-cos.safetensors"),
        &hpa,
        Scaling {
            method: ScaleMethod::Standard,
            input: Affine {
                center: 1000.9,
                scale: 32.6,
            },
            output: Affine::IDENTITY,
        },
    );
    hpa
}

/// A candidate trained on input in other units (here: hPa where °C
/// serves) is named when it is shadowed, reloaded or promoted; one in the
/// same units is not.
#[test]
fn a_candidate_in_other_units_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let scaled = |name: &str, center: f64, scale: f64| {
        let path = dir.path().join(name);
        common::scaled_copy(
            &manifest().join("models/sin-cos.safetensors"),
            &path,
            Scaling {
                method: ScaleMethod::Standard,
                input: Affine { center, scale },
                output: Affine::IDENTITY,
            },
        );
        load(&path)
    };
    let celsius = scaled("c.safetensors", 50.4, 13.0);
    let also_celsius = scaled("c2.safetensors", 52.3, 10.3);
    let hpa = scaled("p.safetensors", 1000.9, 32.6);
    let counts = scaled("n.safetensors", 50.0, 200.0);
    assert_eq!(also_celsius.other_channel_than(&celsius), None);
    let why = hpa.other_channel_than(&celsius).unwrap();
    assert!(
        why.contains("around 1001 ± 32.60") && why.contains("50 ± 13.00"),
        "{why}"
    );
    assert!(counts.other_channel_than(&celsius).is_some());
    // A model without scaling takes normalised values: one in physical
    // units put in its place is named too (it was not), two without are not.
    let normalised = load(&manifest().join("models/sin-cos.safetensors"));
    let why = hpa.other_channel_than(&normalised).unwrap();
    assert!(why.contains("the one serving 0 ± 1.000"), "{why}");
    assert!(normalised.other_channel_than(&hpa).is_some());
    let damped = load(&manifest().join("models/damped.safetensors"));
    assert_eq!(damped.other_channel_than(&normalised), None);
    // Of another built-in pair: said (a warning), not refused.
    let said = damped.other_pair_than(&normalised).unwrap();
    assert!(
        said.contains("the pair \"damped\", the one serving \"sin-cos\""),
        "{said}"
    );
    assert_eq!(normalised.other_pair_than(&normalised), None);
    assert_eq!(hpa.other_pair_than(&celsius), None);
    // The same input, but output in other units (kW where °C was written):
    // named too (only the input was compared).
    let kw = dir.path().join("kw.safetensors");
    common::scaled_copy(
        &manifest().join("models/sin-cos.safetensors"),
        &kw,
        Scaling {
            method: ScaleMethod::Standard,
            input: Affine {
                center: 50.4,
                scale: 13.0,
            },
            output: Affine {
                center: 1294.0,
                scale: 310.0,
            },
        },
    );
    let why = load(&kw).other_channel_than(&celsius).unwrap();
    assert!(
        why.contains("writes output around 1294 ± 310.0, the one serving 0 ± 1.000"),
        "{why}"
    );
}

/// A model trained on another channel or in other units than the live one
/// is refused by shadow and reload (the CLI fails, saying why), counted in
/// `model_changes_refused`, and the models serving stay; with `--force` it
/// is served, with the warning in the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_on_another_channel_is_refused_unless_forced() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let hpa = hpa_model(dir.path());
    let (live, hpa_id) = (
        load(&manifest().join("models/sin-cos.safetensors")).id,
        load(&hpa).id,
    );
    let svc = Svc::start(&server.url(), config()).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let counts = || async {
        let data = stats_data(&client).await;
        let route = &data["routes"][0];
        (
            data["model_changes"].as_u64().unwrap(),
            data["model_changes_refused"].as_u64().unwrap(),
            route["model"].as_str().unwrap().to_string(),
            route["shadow"].as_str().map(str::to_string),
        )
    };
    let model = hpa.display().to_string();
    for command in ["shadow", "reload"] {
        let (ok, out, err) = cli(
            &server.url(),
            vec![command.into(), "--model".into(), model.clone()],
        )
        .await;
        assert_eq!(ok, Some(78), "{command}: {out}{err}");
        assert!(
            out.contains("around 1001 ± 32.60") && out.contains("--force"),
            "{command}: {out}"
        );
    }
    assert_eq!(counts().await, (0, 2, live.clone(), None));

    let (ok, out, err) = cli(
        &server.url(),
        vec![
            "shadow".into(),
            "--model".into(),
            model.clone(),
            "--force".into(),
        ],
    )
    .await;
    assert_eq!(ok, Some(0), "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("warn") && l.contains("other units or another channel")),
        "{out}"
    );
    assert_eq!(counts().await, (1, 2, live.clone(), Some(hpa_id.clone())));

    // Shadowing it was forced; making it live is refused all the same
    // (its outputs would reach every subscriber), unless forced again, and
    // the forced promote's answer carries the warning.
    let (ok, out, err) = cli(&server.url(), vec!["promote".into()]).await;
    assert_eq!(ok, Some(78), "promote: {out}{err}");
    assert!(
        out.contains("around 1001 ± 32.60") && out.contains("--force"),
        "promote: {out}"
    );
    assert_eq!(counts().await, (1, 3, live.clone(), Some(hpa_id.clone())));
    let (ok, out, err) = cli(&server.url(), vec!["promote".into(), "--force".into()]).await;
    assert_eq!(ok, Some(0), "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("warn") && l.contains("other units or another channel")),
        "{out}"
    );
    assert_eq!(counts().await, (2, 3, hpa_id.clone(), None));

    // A forced mistake is undone without force: the route's own model
    // (the one it started with) passes, by file or as configured.
    let (ok, out, err) = cli(
        &server.url(),
        vec!["reload".into(), "--model".into(), model, "--force".into()],
    )
    .await;
    assert_eq!(ok, Some(0), "{out}{err}");
    assert_eq!(counts().await.2, hpa_id);
    let original = manifest().join("models/sin-cos.safetensors");
    let (ok, out, err) = cli(
        &server.url(),
        vec![
            "reload".into(),
            "--model".into(),
            original.display().to_string(),
        ],
    )
    .await;
    assert_eq!(ok, Some(0), "{out}{err}");
    assert_eq!(counts().await.2, live);
    svc.shutdown().await;
}

/// A model of another window length cannot be swapped in (the streams'
/// windows are kept across a swap): reload and shadow refuse it, saying
/// how to serve it, and the model serving stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_of_another_window_is_refused_with_a_way_forward() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let src = manifest().join("models/sin-cos.safetensors");
    let long = dir.path().join("w48.safetensors");
    let loaded = load(&src);
    let tensors = candle_core::safetensors::load(&src, &candle_core::Device::Cpu).unwrap();
    pipeline::format::save(&long, &tensors, loaded.model.hidden(), 48, &loaded.meta).unwrap();
    let svc = Svc::start(&server.url(), config()).await;
    for command in ["reload", "shadow"] {
        let (ok, out, err) = cli(
            &server.url(),
            vec![command.into(), "--model".into(), long.display().to_string()],
        )
        .await;
        assert_ne!(ok, Some(0), "{command}: {out}{err}");
        let said = format!("{out}{err}");
        assert!(
            said.contains("window 48 does not match the route's 24")
                && said.contains("set the route's `model` to it and restart"),
            "{command}: {said}"
        );
    }
    // Still translating with the model it started with.
    let client = async_nats::connect(server.url()).await.unwrap();
    let data = stats_data(&client).await;
    assert_eq!(
        data["routes"][0]["model"].as_str(),
        Some(loaded.id.as_str())
    );
    assert!(data["routes"][0]["shadow"].is_null());
    svc.shutdown().await;
}

/// Windows far outside the live model's training range (a model in hPa
/// fed values around 0) are counted, per route, and translated all the
/// same; windows like its training data are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_far_from_the_models_range_are_counted() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let out_of_range = || async {
        let data = stats_data(&client).await;
        let r = &data["routes"][0];
        (
            r["input_out_of_range"].as_u64().unwrap(),
            r["windows_out"].as_u64().unwrap(),
        )
    };
    for (model, far) in [(None, false), (Some(hpa_model(dir.path())), true)] {
        let mut cfg = config();
        cfg.routes[0].model = model;
        let svc = Svc::start(&server.url(), cfg).await;
        let mut sub = client.subscribe("translated.>").await.unwrap();
        send_curve(&client, "p1", 0..W + 9).await;
        let got = collect(&mut sub, 10, translation).await;
        assert_eq!(got.len(), 10);
        let (counted, out) = out_of_range().await;
        assert_eq!(out, 10);
        assert_eq!(counted, if far { 10 } else { 0 }, "far: {far}");
        svc.shutdown().await;
    }
}

/// In a fleet split by pair, a reload naming one pair succeeds where an
/// instance serving it did it (the others' "no route" is a skip), and
/// fails with 78 when no instance serves it; each refusal names its
/// instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_commands_in_a_fleet_split_by_pair() {
    let server = NatsServer::start();
    let mut damped = config();
    damped.routes[0] = route("damped");
    let a = Svc::start(&server.url(), config()).await;
    let b = Svc::start(&server.url(), damped).await;
    let url = server.url();
    let reload = |pair: &str| cli(&url, vec!["reload".into(), "--pair".into(), pair.into()]);
    let (code, out, err) = reload("sin-cos").await;
    assert_eq!(code, Some(0), "{out}{err}");
    let kinds: Vec<&str> = out.lines().map(|l| &l[..6]).collect();
    assert_eq!(kinds.len(), 2, "{out}");
    assert!(
        kinds.contains(&"ok    ") && kinds.contains(&"skip   "[..6].as_ref()),
        "{out}"
    );
    let (code, out, _) = reload("nosuch").await;
    assert_eq!(code, Some(78), "{out}");
    let name = pipeline::config::instance_name(None);
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 2, "{out}");
    assert!(
        errors.iter().all(|l| l.contains(&format!("{name} "))),
        "{out}"
    );
    a.shutdown().await;
    b.shutdown().await;
}
