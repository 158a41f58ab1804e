//! The wire contract (documented in `proto/`): MessagePack sample messages
//! in, translation and error-event maps out.
//!
//! Decoding is strict about types and lenient about width: any MessagePack
//! integer or float is a number; anything else is `malformed`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// Nanoseconds since the Unix epoch (the wire's `ts`).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Most samples one message may carry (a NATS payload is ≤ 1 MiB by default;
/// this keeps one hostile message from pinning memory).
pub const MAX_VALUES_PER_MESSAGE: usize = 65_536;

/// A number of any MessagePack width, widened to f64.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num(pub f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_f32<E: de::Error>(self, v: f32) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct RawSamples {
    seq: u64,
    #[serde(default)]
    value: Option<Num>,
    #[serde(default)]
    values: Option<Vec<Num>>,
    #[serde(default)]
    ts: Option<i64>,
}

/// A decoded sample message: `values[i]` is sample number `seq + i`.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    pub seq: u64,
    pub values: Vec<f32>,
    /// Nanoseconds since the epoch of the first sample, if the sender said.
    pub ts: Option<i64>,
}

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Not MessagePack, not a map, wrong types, missing keys.
    #[error("{0}")]
    Malformed(String),
    /// A NaN or infinite sample (or one too large for f32).
    #[error("{0}")]
    InvalidValue(String),
}

/// Is this MessagePack value a map (fixmap, map 16, map 32)? rmp-serde would
/// also read a struct from an array, by position; the contract is a map.
fn is_map(payload: &[u8]) -> bool {
    matches!(payload.first(), Some(0x80..=0x8f | 0xde | 0xdf))
}

/// Is this payload a JSON object? MessagePack never starts a map with `{`
/// (0x7b is the integer 123), so the two cannot be confused.
fn is_json_object(payload: &[u8]) -> bool {
    payload
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .is_some_and(|b| *b == b'{')
}

/// Decodes one sample message: a MessagePack map, or the same map as a JSON
/// object (what `nats pub samples.x '{"seq":0,"value":0.1}'` sends).
pub fn decode_samples(payload: &[u8]) -> Result<Samples, DecodeError> {
    let raw: RawSamples = if is_json_object(payload) {
        serde_json::from_slice(payload)
            .map_err(|e| DecodeError::Malformed(format!("not a sample message (JSON): {e}")))?
    } else if is_map(payload) {
        rmp_serde::from_slice(payload)
            .map_err(|e| DecodeError::Malformed(format!("not a sample message: {e}")))?
    } else {
        return Err(DecodeError::Malformed(
            "not a sample message: expected a MessagePack map or a JSON object".into(),
        ));
    };
    let nums = match (raw.value, raw.values) {
        (Some(v), None) => vec![v],
        (None, Some(vs)) => vs,
        (Some(_), Some(_)) => {
            return Err(DecodeError::Malformed(
                "has both `value` and `values`".into(),
            ));
        }
        (None, None) => {
            return Err(DecodeError::Malformed(
                "has neither `value` nor `values`".into(),
            ));
        }
    };
    if nums.is_empty() {
        return Err(DecodeError::Malformed("`values` is empty".into()));
    }
    if nums.len() > MAX_VALUES_PER_MESSAGE {
        return Err(DecodeError::Malformed(format!(
            "{} values in one message (at most {MAX_VALUES_PER_MESSAGE})",
            nums.len()
        )));
    }
    if raw.seq.checked_add(nums.len() as u64).is_none() {
        return Err(DecodeError::Malformed(format!(
            "seq {} + {} values overflows u64",
            raw.seq,
            nums.len()
        )));
    }
    let mut values = Vec::with_capacity(nums.len());
    for (i, Num(v)) in nums.into_iter().enumerate() {
        let f = v as f32;
        if !f.is_finite() {
            return Err(DecodeError::InvalidValue(format!(
                "sample {} (seq {}) is {v}, not a finite f32",
                i,
                raw.seq + i as u64
            )));
        }
        values.push(f);
    }
    Ok(Samples {
        seq: raw.seq,
        values,
        ts: raw.ts,
    })
}

/// A sample message as a sender writes it (used by `pipeline publish`, tests
/// and benchmarks).
#[derive(Debug, Clone, Serialize)]
pub struct SamplesOut<'a> {
    pub seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<&'a [f32]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

impl SamplesOut<'_> {
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain numbers and slices into a Vec cannot fail.
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }
}

/// One translated window, published on `<output>.<stream>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Translation {
    /// The stream key (empty for request/reply).
    pub stream: String,
    /// Sequence number of the window's first input sample.
    pub seq: u64,
    /// The W translated samples.
    pub values: Vec<f32>,
    /// Pair id the model was trained on.
    pub pair: String,
    /// Content id of the model file that produced it.
    pub model: String,
    /// `ts` of the message that completed the window, if it had one
    /// (lets a receiver measure end-to-end latency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

impl Translation {
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }

    /// Reads either output format (see [`Format`]).
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        if is_json_object(payload) {
            return serde_json::from_slice(payload)
                .map_err(|e| DecodeError::Malformed(e.to_string()));
        }
        rmp_serde::from_slice(payload).map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

/// How a route writes its translations: MessagePack (the default, compact)
/// or JSON (the same map, readable in `nats sub`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Msgpack,
    Json,
}

/// A translation borrowed from the service's buffers, serialised exactly
/// as [`Translation`] (the publisher's hot path owns no copy of it).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TranslationRef<'a> {
    pub stream: &'a str,
    pub seq: u64,
    pub values: &'a [f32],
    pub pair: &'a str,
    pub model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
}

impl TranslationRef<'_> {
    /// Encodes as MessagePack into `out`, replacing what it held (its
    /// capacity is reused).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        self.encode_as(Format::Msgpack, out);
    }

    /// Encodes in `format` into `out`, replacing what it held.
    pub fn encode_as(&self, format: Format, out: &mut Vec<u8>) {
        out.clear();
        let ok = match format {
            Format::Msgpack => rmp_serde::encode::write_named(out, self).is_ok(),
            Format::Json => serde_json::to_writer(&mut *out, self).is_ok(),
        };
        if !ok {
            out.clear();
        }
    }
}

/// The kinds of error event; each is also counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Malformed,
    InvalidValue,
    Gap,
    OutOfOrder,
    TooManyStreams,
    BadSubject,
    SlowConsumer,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Malformed,
        ErrorKind::InvalidValue,
        ErrorKind::Gap,
        ErrorKind::OutOfOrder,
        ErrorKind::TooManyStreams,
        ErrorKind::BadSubject,
        ErrorKind::SlowConsumer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::InvalidValue => "invalid_value",
            ErrorKind::Gap => "gap",
            ErrorKind::OutOfOrder => "out_of_order",
            ErrorKind::TooManyStreams => "too_many_streams",
            ErrorKind::BadSubject => "bad_subject",
            ErrorKind::SlowConsumer => "slow_consumer",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error event, published on the errors subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub stream: String,
    pub subject: String,
    pub kind: ErrorKind,
    pub detail: String,
}

impl ErrorEvent {
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }

    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        rmp_serde::from_slice(payload).map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

/// A `pipeline.translate` request.
#[derive(Debug, Clone, Deserialize)]
pub struct TranslateRequest {
    pub values: Vec<Num>,
    #[serde(default)]
    pub pair: Option<String>,
}

/// Decodes a request and checks its values (count is checked by the caller,
/// which knows the model's window).
pub fn decode_request(payload: &[u8]) -> Result<(Vec<f32>, Option<String>), DecodeError> {
    if !is_map(payload) {
        return Err(DecodeError::Malformed(
            "not a translate request: expected a MessagePack map".into(),
        ));
    }
    let r: TranslateRequest = rmp_serde::from_slice(payload)
        .map_err(|e| DecodeError::Malformed(format!("not a translate request: {e}")))?;
    let mut values = Vec::with_capacity(r.values.len());
    for (i, Num(v)) in r.values.into_iter().enumerate() {
        let f = v as f32;
        if !f.is_finite() {
            return Err(DecodeError::InvalidValue(format!(
                "value {i} is {v}, not a finite f32"
            )));
        }
        values.push(f);
    }
    Ok((values, r.pair))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    fn pack<T: Serialize>(v: &T) -> Vec<u8> {
        rmp_serde::to_vec_named(v).unwrap()
    }

    #[derive(Serialize)]
    struct Any<S, V, T> {
        seq: S,
        value: V,
        ts: T,
    }

    /// JSON objects are sample messages too, with the same rules; anything
    /// else that is not a MessagePack map is refused.
    #[test]
    fn json_samples_are_read_like_messagepack() {
        let s = decode_samples(br#" {"seq": 7, "value": 0.5, "ts": 12}"#).unwrap();
        assert_eq!((s.seq, s.values, s.ts), (7, vec![0.5], Some(12)));
        let s = decode_samples(br#"{"seq":0,"values":[1,2.5,-3e2],"extra":"ignored"}"#).unwrap();
        assert_eq!(s.values, vec![1.0, 2.5, -300.0]);
        for bad in [
            &br#"{"seq":-1,"value":1}"#[..],
            br#"{"seq":1,"value":"x"}"#,
            br#"{"seq":1}"#,
            br#"{"seq":1,"value":1"#,
            br#"[1,2]"#,
            b"hello",
        ] {
            assert!(
                matches!(decode_samples(bad), Err(DecodeError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            decode_samples(br#"{"seq":1,"value":1e300}"#),
            Err(DecodeError::InvalidValue(_))
        ));
    }

    /// The borrowed form is byte for byte the owned one, with and without `ts`.
    #[test]
    fn a_borrowed_translation_encodes_as_the_owned_one() {
        for ts in [None, Some(-5)] {
            let t = Translation {
                stream: "pump.7".into(),
                seq: 42,
                values: vec![1.5, -0.25, 3e-8],
                pair: "sin-cos".into(),
                model: "0123abcd".into(),
                ts,
            };
            let borrowed = TranslationRef {
                stream: &t.stream,
                seq: t.seq,
                values: &t.values,
                pair: &t.pair,
                model: &t.model,
                ts,
            };
            let mut out = vec![9u8; 3];
            borrowed.encode_into(&mut out);
            assert_eq!(out, t.encode());
            assert_eq!(Translation::decode(&out).unwrap(), t);
            // The JSON form reads back the same (f32 values exactly).
            let mut json = Vec::new();
            borrowed.encode_as(Format::Json, &mut json);
            assert_eq!(json[0], b'{');
            assert_eq!(Translation::decode(&json).unwrap(), t);
        }
    }

    #[test]
    fn numbers_of_every_width_are_accepted() {
        for payload in [
            pack(&Any {
                seq: 3u8,
                value: 1.5f32,
                ts: 1i64,
            }),
            pack(&Any {
                seq: 3u64,
                value: 1.5f64,
                ts: 1i8,
            }),
        ] {
            let s = decode_samples(&payload).unwrap();
            assert_eq!(
                (s.seq, s.values.as_slice(), s.ts),
                (3, &[1.5f32][..], Some(1))
            );
        }
        // `ts: nil` means no timestamp; a string is not one.
        let s = decode_samples(&pack(&Any {
            seq: 0u16,
            value: -7i32,
            ts: (),
        }))
        .unwrap();
        assert_eq!(s.ts, None);
        let e = decode_samples(&pack(&Any {
            seq: 0u16,
            value: -7i32,
            ts: "now",
        }))
        .unwrap_err();
        assert!(matches!(e, DecodeError::Malformed(_)));
        let s = decode_samples(&pack(&Any {
            seq: 0u16,
            value: -7i16,
            ts: 5u32,
        }))
        .unwrap();
        assert_eq!(s.values, vec![-7.0]);
    }

    #[test]
    fn values_arrays_and_bad_shapes() {
        #[derive(Serialize)]
        struct Vs<'a> {
            seq: u64,
            values: &'a [f64],
        }
        let s = decode_samples(&pack(&Vs {
            seq: 9,
            values: &[1.0, 2.0],
        }))
        .unwrap();
        assert_eq!((s.seq, s.values, s.ts), (9, vec![1.0, 2.0], None));
        for (payload, needle) in [
            (
                pack(&Vs {
                    seq: 9,
                    values: &[],
                }),
                "empty",
            ),
            (
                pack(&Vs {
                    seq: u64::MAX,
                    values: &[1.0],
                }),
                "overflows",
            ),
            (b"\xc1garbage".to_vec(), "not a sample message"),
            (pack(&serde_json::json!({"seq": 1})), "neither"),
            (
                pack(&serde_json::json!({"seq": 1, "value": 1, "values": [1]})),
                "both",
            ),
            (
                pack(&serde_json::json!({"seq": -1, "value": 1})),
                "not a sample",
            ),
            (
                pack(&serde_json::json!({"seq": 1, "value": "x"})),
                "not a sample",
            ),
            (
                pack(&serde_json::json!([1, 2])),
                "expected a MessagePack map",
            ),
            (Vec::new(), "expected a MessagePack map"),
        ] {
            let e = decode_samples(&payload).unwrap_err();
            assert!(matches!(e, DecodeError::Malformed(_)), "{needle}: {e:?}");
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn non_finite_values_are_invalid() {
        #[derive(Serialize)]
        struct One {
            seq: u64,
            value: f64,
        }
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300] {
            let e = decode_samples(&pack(&One { seq: 1, value: v })).unwrap_err();
            assert!(matches!(e, DecodeError::InvalidValue(_)), "{v}: {e:?}");
        }
    }

    #[test]
    fn outputs_are_named_maps_that_round_trip() {
        let t = Translation {
            stream: "a.b".into(),
            seq: 5,
            values: vec![0.5; 24],
            pair: "sin-cos".into(),
            model: "abc".into(),
            ts: None,
        };
        let bytes = t.encode();
        // fixmap with 5 entries (ts omitted), first key "stream".
        assert_eq!(bytes[0], 0x85);
        assert_eq!(&bytes[1..8], b"\xa6stream");
        assert_eq!(Translation::decode(&bytes).unwrap(), t);
        let e = ErrorEvent {
            stream: "s".into(),
            subject: "samples.s".into(),
            kind: ErrorKind::OutOfOrder,
            detail: "d".into(),
        };
        let bytes = e.encode();
        assert!(bytes.windows(12).any(|w| w == b"out_of_order"));
        assert_eq!(ErrorEvent::decode(&bytes).unwrap(), e);
    }

    /// Fuzz-style: random bytes and random mutations of valid messages never
    /// panic the decoder; every outcome is a value or a typed error.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = crate::rng::Rng::new(2024);
        let valid = [
            SamplesOut {
                seq: 5,
                value: Some(1.5),
                values: None,
                ts: Some(9),
            }
            .encode(),
            SamplesOut {
                seq: 7,
                value: None,
                values: Some(&[1.0, 2.0, 3.0]),
                ts: None,
            }
            .encode(),
        ];
        let (mut ok, mut err) = (0, 0);
        for i in 0..200_000 {
            let bytes: Vec<u8> = if i % 2 == 0 {
                let n = rng.below(64);
                (0..n).map(|_| rng.below(256) as u8).collect()
            } else {
                let mut b = valid[i % 4 / 2].clone();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(b.len());
                    b[at] = rng.below(256) as u8;
                }
                b.truncate(b.len() - rng.below(3));
                b
            };
            match decode_samples(&bytes) {
                Ok(s) => {
                    assert!(!s.values.is_empty() && s.values.iter().all(|v| v.is_finite()));
                    ok += 1;
                }
                Err(_) => err += 1,
            }
            let _ = decode_request(&bytes);
        }
        assert!(
            ok > 0 && err > 0,
            "both outcomes exercised: {ok} ok, {err} errors"
        );
    }

    #[test]
    fn sender_encoding_decodes() {
        let p = SamplesOut {
            seq: 4,
            value: None,
            values: Some(&[1.0, 2.0]),
            ts: Some(7),
        }
        .encode();
        let s = decode_samples(&p).unwrap();
        assert_eq!((s.seq, s.values, s.ts), (4, vec![1.0, 2.0], Some(7)));
    }
}
