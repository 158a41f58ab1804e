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
    assert_eq!((s.seq, s.values, s.ts), (Some(7), vec![0.5], Some(12)));
    let s = decode_samples(br#"{"seq":0,"values":[1,2.5,-3e2],"extra":"ignored"}"#).unwrap();
    assert_eq!(s.values, vec![1.0, 2.5, -300.0]);
    for bad in [
        &br#"{"seq":-1,"value":1}"#[..],
        br#"{"seq":1,"value":"x"}"#,
        br#"{"seq":1}"#,
        br#"{"seq":1,"value":1"#,
        br#"[1,"a"]"#,
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
    // A number written as a string (Home Assistant's states) is a number;
    // a word in one is not, and says so; "nan" is an invalid value.
    let s = decode_samples(br#"{"value":" 21.5","ts":12}"#).unwrap();
    assert_eq!((s.values, s.ts), (vec![21.5], Some(12)));
    let s = decode_samples(&pack(&serde_json::json!({"seq": 3, "values": ["1", 2.5]}))).unwrap();
    assert_eq!((s.seq, s.values), (Some(3), vec![1.0, 2.5]));
    match decode_samples(br#"{"seq":1,"value":"unavailable"}"#) {
        Err(DecodeError::Malformed(d)) => {
            assert!(d.contains("\"unavailable\" is not a number"), "{d}")
        }
        other => panic!("{other:?}"),
    }
    // A time in text: an ISO 8601 instant with its zone, or a number, is
    // read; one without a zone, or no time, is refused saying what to send.
    let ts = |p: &[u8]| decode_samples(p).map(|s| s.ts);
    let t0 = 1_772_370_000_000_000_000; // 2026-03-01T13:00:00Z
    for (text, ns) in [
        ("2026-03-01T13:00:00Z", t0),
        ("2026-03-01T14:00:00+01:00", t0),
        ("2026-03-01 08:00:00-05", t0),
        ("2026-03-01T13:00:00.123456+00:00", t0 + 123_456_000),
        ("2026-03-01T13:00:00.1Z", t0 + 100_000_000),
        ("20260301T130000Z", t0),
        ("2026-03-01 13:00:00 UTC", t0),
        ("1772370000000000000", t0),
        (" 1772370000.5 ", t0 + 500_000_000),
        ("1971-01-01T00:00:00Z", 31_536_000_000_000_000),
    ] {
        let json = format!(r#"{{"value":1,"ts":"{text}"}}"#);
        assert_eq!(ts(json.as_bytes()), Ok(Some(ns)), "{text}");
        let mp = pack(&serde_json::json!({"value": 1, "ts": text}));
        assert_eq!(ts(&mp), Ok(Some(ns)), "{text} in MessagePack");
    }
    for (text, says) in [
        (
            "2026-03-01T13:00:00",
            "has no zone: add Z (UTC) or its offset",
        ),
        ("yesterday", "is no ISO 8601 time"),
        ("3/1/2026 1:00 PM", "is no ISO 8601 time"),
        ("NaN", "is no ISO 8601 time"),
        ("-inf", "is no ISO 8601 time"),
        // Go's zero time, a clock never set, and past ns in an i64.
        ("0001-01-01T00:00:00Z", "lies before 1971 or after 2262"),
        ("1970-01-01T00:00:05Z", "lies before 1971 or after 2262"),
        ("1677-09-21T00:12:44Z", "lies before 1971 or after 2262"),
        ("2262-04-12T00:00:00Z", "lies before 1971 or after 2262"),
        ("9999-12-31T23:59:59Z", "lies before 1971 or after 2262"),
    ] {
        let json = format!(r#"{{"value":1,"ts":"{text}"}}"#);
        match decode_samples(json.as_bytes()) {
            Err(DecodeError::Malformed(d)) => {
                assert!(
                    d.contains(says) && d.contains("as a number since the epoch"),
                    "{d}"
                )
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    assert!(matches!(
        decode_samples(br#"{"seq":1,"value":"nan"}"#),
        Err(DecodeError::InvalidValue(_))
    ));
    // A decimal comma is named as the likely cause; other faults are not.
    let why = |p: &[u8]| match decode_samples(p) {
        Err(DecodeError::Malformed(d)) => d,
        other => panic!("{other:?}"),
    };
    for comma in [
        &br#"{"seq":1,"value":21,5}"#[..],
        br#"{"seq":1,"value": "-21,5"}"#,
    ] {
        assert!(why(comma).contains("a decimal comma?"), "{}", why(comma));
    }
    for other in [
        &br#"{"seq":1,"value":"x"}"#[..],
        br#"{"seq":1,"values":[1,2,"a"]}"#,
    ] {
        assert!(!why(other).contains("decimal comma"), "{}", why(other));
    }
}

/// The borrowed form is byte for byte the owned one, with and without `ts`
/// and `unit`.
#[test]
fn a_borrowed_translation_encodes_as_the_owned_one() {
    for (ts, unit) in [(None, None), (Some(-5), Some("kW"))] {
        let t = Translation {
            stream: "pump.7".into(),
            seq: 42,
            values: vec![1.5, -0.25, 3e-8],
            pair: "sin-cos".into(),
            model: "0123abcd".into(),
            ts,
            unit: unit.map(str::to_string),
        };
        let borrowed = TranslationRef {
            stream: &t.stream,
            seq: t.seq,
            values: &t.values,
            pair: &t.pair,
            model: &t.model,
            ts,
            unit,
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
            (Some(3), &[1.5f32][..], Some(1))
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

/// A float `ts` costs no samples: in seconds, ms or µs since the epoch
/// (Python's `time.time()`) it is ns with its fraction, otherwise
/// truncated to whole ns; an integer keeps every digit.
#[test]
fn a_float_time_stamp_is_truncated_not_refused() {
    let s = decode_samples(&pack(&Any {
        seq: 0u8,
        value: 1.5f32,
        ts: 1_764_320_000.75f64,
    }))
    .unwrap();
    assert_eq!(
        (s.values, s.ts),
        (vec![1.5], Some(1_764_320_000_750_000_000))
    );
    let s = decode_samples(br#"{"value":1,"ts":1764320000123.5}"#).unwrap();
    assert_eq!(s.ts, Some(1_764_320_000_123_500_000));
    // Seconds past what ns in an i64 hold (the year 2262) saturate.
    let s = decode_samples(br#"{"value":1,"ts":9999999999.5}"#).unwrap();
    assert_eq!(s.ts, Some(i64::MAX));
    let s = decode_samples(br#"{"seq":1,"values":[1,2],"ts":1.7643200001e18}"#).unwrap();
    assert_eq!(
        (s.values, s.ts),
        (vec![1.0, 2.0], Some(1_764_320_000_100_000_000))
    );
    let s = decode_samples(br#"{"seq":1,"value":1,"ts":1764320000123456789}"#).unwrap();
    assert_eq!(s.ts, Some(1_764_320_000_123_456_789));
    let s = decode_samples(br#"{"seq":1,"value":1,"ts":18446744073709551615}"#).unwrap();
    assert_eq!(s.ts, Some(i64::MAX));
    let s = decode_samples(br#"{"seq":1,"value":1,"ts":null}"#).unwrap();
    assert_eq!(s.ts, None);
    // Seconds since a start (a cycler's Test_Time every 0.1 s): the
    // integer back has whole seconds, the time rule its fraction.
    let mut buf = Vec::new();
    let h = decode_samples_into(br#"{"seq":1,"value":1,"ts":12.3}"#, &mut buf).unwrap();
    assert_eq!((h.ts, h.time_ns), (Some(12), Some(12_300_000_000)));
    let h = decode_samples_into(br#"{"seq":1,"value":1,"ts":12}"#, &mut buf).unwrap();
    assert_eq!((h.ts, h.time_ns), (Some(12), Some(12_000_000_000)));
    let h = decode_samples_into(br#"{"value":1,"ts":1764320000.75}"#, &mut buf).unwrap();
    assert_eq!(h.time_ns, Some(1_764_320_000_750_000_000));
    assert_eq!(
        stamp_of(br#"{"value":"unavailable","ts":20.5}"#),
        Some(20_500_000_000)
    );
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
    assert_eq!((s.seq, s.values, s.ts), (Some(9), vec![1.0, 2.0], None));
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
            pack(&serde_json::json!({"seq": "3", "value": 1})),
            "`seq` must be an unsigned integer",
        ),
        (
            br#"{"seq": "3", "value": 1}"#.to_vec(),
            "`seq` must be an unsigned integer",
        ),
        (
            pack(&serde_json::json!([1, 2])),
            "expected a MessagePack map",
        ),
        (Vec::new(), "an empty message, no sample"),
        (b"unavailable".to_vec(), r#""unavailable" is not a number"#),
        (b"ON".to_vec(), r#""ON" is not a number"#),
        // Text with control characters is no text a sensor sends.
        (b"a\x01b".to_vec(), "expected a MessagePack map"),
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
    // A null (pandas' NaN in JSON, or MessagePack nil) is a missing sample,
    // refused as NaN is, in `value` and in `values`.
    for m in [
        br#"{"seq": 3, "value": null}"#.to_vec(),
        br#"{"seq": 2, "values": [1.5, null]}"#.to_vec(),
        pack(&serde_json::json!({"seq": 3, "value": null})),
    ] {
        let e = decode_samples(&m).unwrap_err();
        assert!(matches!(e, DecodeError::InvalidValue(_)), "{e:?}");
        assert!(e.to_string().contains("(seq 3) is NaN or null"), "{e}");
    }
    // Python's json.dumps writes NaN, which JSON has not: the error says so.
    let e = decode_samples(br#"{"seq": 1, "value": NaN}"#).unwrap_err();
    assert!(
        e.to_string().contains("send null for a missing sample"),
        "{e}"
    );
    // Both null: the one sample missing.
    let e = decode_samples(br#"{"seq": 3, "values": null, "value": null}"#).unwrap_err();
    assert!(e.to_string().contains("(seq 3) is NaN or null"), "{e}");
    // Beside `values`, a null `value` is absent (a sender writing both keys).
    let both = decode_samples(br#"{"seq": 5, "value": null, "values": [1.5, 2]}"#).unwrap();
    assert_eq!((both.seq, both.values), (Some(5), vec![1.5, 2.0]));
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
        unit: None,
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
    assert_eq!((s.seq, s.values, s.ts), (Some(4), vec![1.0, 2.0], Some(7)));
}

/// The hot path's form: a reused buffer is cleared, keys come in any order,
/// unknown keys are skipped, a repeated key and an oversized message are
/// refused (the latter counted, never all kept), a bad value is reported by
/// its index and seq.
#[test]
fn decoding_into_a_reused_buffer() {
    let mut buf = vec![9.0f32; 5];
    let msg = pack(&serde_json::json!({"values": [1, 2.5], "note": {"a": [1]}, "ts": 7, "seq": 3}));
    let h = decode_samples_into(&msg, &mut buf).unwrap();
    assert_eq!(
        (h.seq, h.ts, buf.as_slice()),
        (Some(3), Some(7), &[1.0, 2.5][..])
    );
    let h = decode_samples_into(br#"{"seq": 4, "value": -1, "ts": null}"#, &mut buf).unwrap();
    assert_eq!((h.seq, h.ts, buf.as_slice()), (Some(4), None, &[-1.0][..]));

    let twice = decode_samples_into(br#"{"seq": 1, "seq": 2, "value": 1}"#, &mut buf);
    assert!(
        twice
            .unwrap_err()
            .to_string()
            .contains("duplicate field `seq`")
    );
    let huge: Vec<u32> = vec![1; MAX_VALUES_PER_MESSAGE + 3];
    let e = decode_samples_into(
        &pack(&serde_json::json!({"seq": 0, "values": huge})),
        &mut buf,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("{} values", MAX_VALUES_PER_MESSAGE + 3)),
        "{e}"
    );
    assert!(buf.len() <= MAX_VALUES_PER_MESSAGE);
    let e = decode_samples_into(
        &pack(&serde_json::json!({"seq": 10, "values": [1, 1e300, 2]})),
        &mut buf,
    )
    .unwrap_err();
    assert_eq!(
        e,
        DecodeError::InvalidValue("sample 1 (seq 11) is 1e300, not a finite f32".into())
    );
    let h = decode_samples_into(br#"{"value": 1}"#, &mut buf).unwrap();
    assert_eq!((h.seq, buf.as_slice()), (None, &[1.0][..]));
    let e = decode_samples_into(br#"{"seq": 1, "value": 1} x"#, &mut buf).unwrap_err();
    assert!(e.to_string().contains("trailing"), "{e}");
}

/// The W3C trace context's shape, and the values it rules out.
#[test]
fn traceparent_shapes() {
    let ok = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    assert!(valid_traceparent(ok));
    // A later version may append fields.
    assert!(valid_traceparent(
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"
    ));
    for bad in [
        "",
        &ok[..54],
        &ok.to_uppercase(),
        &format!("{ok}-extra"), // version 00 has exactly four fields
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
    ] {
        assert!(!valid_traceparent(bad), "{bad}");
    }
}

/// A sample message may say the unit its values are in (`publish --data`
/// sends the column's): read without allocating, in both encodings; one
/// longer than [`Unit::MAX`] bytes or not a string is malformed; `null` or
/// empty is none.
#[test]
fn a_samples_unit_is_read() {
    let mut values = Vec::new();
    let mut unit = |payload: &[u8]| decode_samples_into(payload, &mut values).map(|h| h.unit);
    let said = |u: Option<Unit>| u.map(|u| u.as_str().to_string());
    let json = br#"{"seq": 3, "value": 61.5, "unit": "\u00b0F"}"#;
    assert_eq!(said(unit(json).unwrap()).as_deref(), Some("°F"));
    let packed = SamplesOut {
        seq: 3,
        value: Some(61.5),
        values: None,
        ts: None,
    }
    .encode_with_unit("kW");
    assert_eq!(said(unit(&packed).unwrap()).as_deref(), Some("kW"));
    for none in [
        &br#"{"seq": 3, "value": 1, "unit": null}"#[..],
        br#"{"seq": 3, "value": 1, "unit": " "}"#,
    ] {
        assert_eq!(unit(none).unwrap(), None);
    }
    for bad in [
        &br#"{"seq": 3, "value": 1, "unit": 42}"#[..],
        br#"{"seq": 3, "value": 1, "unit": "a unit far too long to be one"}"#,
        br#"{"seq": 3, "value": 1, "unit": "V", "unit": "V"}"#,
    ] {
        assert!(
            matches!(unit(bad), Err(DecodeError::Malformed(_))),
            "{:?}",
            unit(bad)
        );
    }
}

mod refused;
mod senders;
