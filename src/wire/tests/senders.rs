//! Senders as devices write: unnumbered text and maps, readings under a
//! quantity's name or inside an object.

use super::*;

/// A sender that numbers nothing: a bare number in text (an MQTT sensor's
/// payload, `nats pub samples.x 21.5`), a JSON array, a map without `seq`.
#[test]
fn samples_without_seq_are_decoded_unnumbered() {
    let ok = |p: &[u8]| {
        decode_samples(p).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(p)))
    };
    for (payload, values) in [
        (&b"21.5"[..], vec![21.5f32]),
        (b" -3e2\n", vec![-300.0]),
        (b"+.5", vec![0.5]),
        (b"7", vec![7.0]),
        (b"[1, 2.5, -3]", vec![1.0, 2.5, -3.0]),
    ] {
        let s = ok(payload);
        assert_eq!((s.seq, s.values, s.ts), (None, values, None));
    }
    let s = ok(br#"{"value": 4, "ts": 1764320000000000000}"#);
    assert_eq!(
        (s.seq, s.values, s.ts),
        (None, vec![4.0], Some(1764320000000000000))
    );
    let s = ok(&pack(&serde_json::json!({"values": [1, 2]})));
    assert_eq!((s.seq, s.values), (None, vec![1.0, 2.0]));
    // Not a number: malformed, a decimal comma named; not finite: invalid.
    let err = |p: &[u8]| decode_samples(p).unwrap_err();
    assert!(matches!(err(b"21,5"), DecodeError::Malformed(d) if d.contains("decimal comma")));
    assert!(
        matches!(err(b"21.5 C"), DecodeError::Malformed(d) if d.contains("\"21.5 C\" is not a number") && !d.contains("comma"))
    );
    assert!(matches!(err(b"[]"), DecodeError::Malformed(d) if d.contains("empty")));
    for bad in [
        &b"nan"[..],
        b"NaN",
        b"inf",
        b"-Infinity",
        b"null",
        b"1e39",
        b"[1, null]",
    ] {
        assert!(
            matches!(err(bad), DecodeError::InvalidValue(ref d) if d.starts_with("sample ") && !d.contains("seq")),
            "{}: {:?}",
            String::from_utf8_lossy(bad),
            err(bad)
        );
    }
    // A long text is shown cut, not whole.
    let long = format!("1{}", "x".repeat(5000));
    assert!(matches!(err(long.as_bytes()), DecodeError::Malformed(d) if d.len() < 200));
    // MessagePack's small integers are those bytes too, but a lone integer
    // was never a sample message: only text is read so.
    assert!(matches!(
        err(&[0x92, 0x01, 0x02]),
        DecodeError::Malformed(_)
    ));
}

/// A sender that names its sample after its quantity (Zigbee2MQTT's
/// `{"temperature": 21.5, "humidity": 40, …}`): read under the route's
/// `value_key`; without one, the refusal names the keys that hold numbers.
#[test]
fn a_sample_is_read_under_the_routes_value_key() {
    use super::decode_samples_keyed;
    let zigbee =
        br#"{"battery":97,"humidity":40.1,"linkquality":120,"temperature":21.5,"voltage":2995}"#;
    let mut buf = Vec::new();
    let h = decode_samples_keyed(zigbee, &mut buf, Some("temperature")).unwrap();
    assert_eq!((h.seq, h.ts, buf.as_slice()), (None, None, &[21.5f32][..]));
    // MessagePack alike; `value` is then another key, `seq` and `ts` still theirs.
    let packed = pack(&serde_json::json!({"value": 3, "t": 4, "seq": 9, "ts": 5}));
    let h = decode_samples_keyed(&packed, &mut buf, Some("t")).unwrap();
    assert_eq!(
        (h.seq, h.ts, buf.as_slice()),
        (Some(9), Some(5), &[4.0f32][..])
    );
    let h = decode_samples_keyed(&packed, &mut buf, None).unwrap();
    assert_eq!(buf.as_slice(), &[3.0f32][..], "{h:?}");
    // No key: the numbers and where they are, and the flag that reads one.
    let why = decode_samples_keyed(zigbee, &mut buf, None)
        .unwrap_err()
        .to_string();
    assert!(
        why.contains("has neither `value` nor `values`")
            && why.contains(
                r#"under "battery", "humidity", "linkquality", "temperature", "voltage""#
            )
            && why.contains("`serve --value-key battery`"),
        "{why}"
    );
    let why = decode_samples_keyed(zigbee, &mut buf, Some("temp"))
        .unwrap_err()
        .to_string();
    assert!(
        why.contains("has neither `temp` nor `values`") && why.contains("another `value_key`"),
        "{why}"
    );
    // A map with no numbers at all is refused as before, without a list.
    let why = decode_samples_keyed(br#"{"state":"ON"}"#, &mut buf, None)
        .unwrap_err()
        .to_string();
    assert_eq!(why, "has neither `value` nor `values`");
    // The sample under the key is checked as `value` is.
    let bad = decode_samples_keyed(br#"{"temperature": null}"#, &mut buf, Some("temperature"));
    assert!(matches!(bad, Err(DecodeError::InvalidValue(_))), "{bad:?}");
}

/// A `value_key` path reads a reading inside an object: Tasmota's
/// `{"AM2301": {"Temperature": 21.4}}`, Telegraf's `{"fields": {…}}`; the
/// refusal of a map without it names the nested numbers too.
#[test]
fn a_value_key_path_reads_inside_an_object() {
    use super::decode_samples_keyed;
    let tasmota = br#"{"Time":"2026-12-06T10:00:00","AM2301":{"Temperature":21.4,"Humidity":55.1},"TempUnit":"C"}"#;
    let mut buf = Vec::new();
    let h = decode_samples_keyed(tasmota, &mut buf, Some("AM2301.Temperature")).unwrap();
    assert_eq!((h.seq, buf.as_slice()), (None, &[21.4f32][..]));
    let telegraf = pack(&serde_json::json!({
        "fields": {"temperature": 19.5, "nested": {"x": 1}}, "name": "greenhouse",
        "tags": {"host": "gh1"}, "timestamp": 1764320000
    }));
    decode_samples_keyed(&telegraf, &mut buf, Some("fields.temperature")).unwrap();
    assert_eq!(buf.as_slice(), &[19.5f32][..]);
    decode_samples_keyed(&telegraf, &mut buf, Some("fields.nested.x")).unwrap();
    assert_eq!(buf.as_slice(), &[1.0f32][..]);
    // A flat key that contains the dot is the key itself.
    let flat = br#"{"AM2301.Temperature": 3, "AM2301": {"Temperature": 4}}"#;
    let e = decode_samples_keyed(flat, &mut buf, Some("AM2301.Temperature")).unwrap_err();
    assert!(e.to_string().contains("duplicate field `value`"), "{e}");
    let why = decode_samples_keyed(tasmota, &mut buf, Some("AM2301.Temp"))
        .unwrap_err()
        .to_string();
    assert!(
        why.contains(r#"has neither `AM2301.Temp` nor `values` (its numbers are under "AM2301.Humidity", "AM2301.Temperature""#),
        "{why}"
    );
    // A path through something that is no object finds nothing.
    let e = decode_samples_keyed(tasmota, &mut buf, Some("Time.x")).unwrap_err();
    assert!(e.to_string().contains("has neither `Time.x`"), "{e}");
}
