//! What a refused message still says: when it came, and whether its
//! stamp alone was refused.

use super::*;

/// A message refused for its value still says when it came.
#[test]
fn a_refused_messages_stamp_is_read() {
    let t = 1_764_000_000_000_000_000i64;
    for (payload, want) in [
        (
            br#"{"value": "unavailable", "ts": 1764000000.5}"#.to_vec(),
            Some(t + 500_000_000),
        ),
        (pack(&serde_json::json!({"state": "off", "ts": t})), Some(t)),
        (pack(&serde_json::json!({"value": null, "ts": null})), None),
        (br#"{"value": "unavailable"}"#.to_vec(), None),
        (b"unavailable".to_vec(), None),
        (br#"{"ts": "yesterday"}"#.to_vec(), None),
    ] {
        assert_eq!(
            stamp_of(&payload),
            want,
            "{}",
            String::from_utf8_lossy(&payload)
        );
        assert!(decode_samples(&payload).is_err());
    }
}

/// A reading refused for its stamp alone (a clock never set) is told from
/// one refused for its value, which ends a value held.
#[test]
fn a_reading_refused_for_its_stamp_alone_is_told_apart() {
    let unset = r#"{"value":12.5,"ts":"1970-01-01T00:02:00Z"}"#;
    assert!(bad_stamp_only(unset.as_bytes()));
    let mp = pack(&serde_json::json!({"value": 12.5, "ts": "1970-01-01T00:02:00Z"}));
    assert!(bad_stamp_only(&mp));
    // A number in a string (Home Assistant's states), and an array.
    for also in [
        r#"{"value":"21.5","ts":"1970-01-01T00:02:00Z"}"#,
        r#"{"values":[1,2.5],"ts":"1970-01-01T00:02:00Z"}"#,
    ] {
        assert!(bad_stamp_only(also.as_bytes()), "{also}");
    }
    for other in [
        r#"{"value":"unavailable","ts":"1970-01-01T00:02:00Z"}"#,
        r#"{"value":12.5,"ts":1767225600}"#,
        r#"{"value":"unavailable","ts":1767225600}"#,
        "12.5",
    ] {
        assert!(!bad_stamp_only(other.as_bytes()), "{other}");
    }
}
