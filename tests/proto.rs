//! The example messages in `proto/examples/` (written by Python's msgpack)
//! decode in Rust to what `examples.json` says they hold, and what Rust
//! encodes decodes back the same way.

use std::path::PathBuf;

use pipeline::wire::{self, ErrorEvent, ErrorKind, Translation};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto/examples")
}

fn example(name: &str) -> (Vec<u8>, Value) {
    let bytes = std::fs::read(dir().join(format!("{name}.msgpack"))).unwrap();
    let all: Value =
        serde_json::from_slice(&std::fs::read(dir().join("examples.json")).unwrap()).unwrap();
    (bytes, all[name].clone())
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn sample_examples_decode() {
    let (b, j) = example("samples-value");
    let s = wire::decode_samples(&b).unwrap();
    assert_eq!(
        (s.seq, s.values, s.ts),
        (Some(0), vec![0.0], j["ts"].as_i64())
    );

    let (b, j) = example("samples-values");
    let s = wire::decode_samples(&b).unwrap();
    assert_eq!(s.seq, Some(24));
    assert_eq!(s.values, floats(&j["values"]));
    assert_eq!(s.ts, None);

    let (b, _) = example("samples-int");
    let s = wire::decode_samples(&b).unwrap();
    assert_eq!((s.seq, s.values), (Some(7), vec![3.0]));
}

#[test]
fn output_examples_decode_and_round_trip() {
    let (b, j) = example("translation");
    let t = Translation::decode(&b).unwrap();
    assert_eq!(t.stream, j["stream"]);
    assert_eq!(t.seq, 100);
    assert_eq!(t.values, floats(&j["values"]));
    // The example names the shipped sin-cos model, as the service serving
    // it would.
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/sin-cos.safetensors");
    let shipped = pipeline::format::load(&shipped, None).unwrap();
    assert_eq!(
        (t.pair.as_str(), t.model.as_str()),
        ("sin-cos", shipped.id.as_str())
    );
    assert_eq!(t.ts, j["ts"].as_i64());
    assert_eq!(Translation::decode(&t.encode()).unwrap(), t);

    let (b, j) = example("error-gap");
    let e = ErrorEvent::decode(&b).unwrap();
    assert_eq!(e.kind, ErrorKind::Gap);
    assert_eq!(e.detail, j["detail"]);
    assert_eq!(ErrorEvent::decode(&e.encode()).unwrap(), e);

    let (b, j) = example("translate-request");
    let (values, pair) = wire::decode_request(&b).unwrap();
    assert_eq!(values, floats(&j["values"]));
    assert_eq!(pair.as_deref(), Some("sin-cos"));
}

#[test]
fn every_error_kind_is_documented() {
    let doc = std::fs::read_to_string(dir().join("../README.md")).unwrap();
    let schema = std::fs::read_to_string(dir().join("../schema/error.schema.json")).unwrap();
    for k in ErrorKind::ALL {
        assert!(
            doc.contains(&format!("`{}`", k.as_str())),
            "{k} missing from proto/README.md"
        );
        assert!(
            schema.contains(&format!("\"{}\"", k.as_str())),
            "{k} missing from the schema"
        );
    }
}
