//! Sample messages in: decoded straight into a reused buffer.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::{DecodeError, is_json_object, is_map};
use crate::recording::{NoInstant, instant_ns};

mod keys;
mod refused;
pub use refused::{bad_stamp_only, stamp_of};
mod text;

use keys::{Field, FieldSeed, InnerSeed};

pub(super) use text::bare_text;
use text::{bare, decimal_comma_hint, numbers_under};

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
            // `null` (JSON) or nil: a missing sample, as pandas writes NaN;
            // refused as NaN is (an invalid value, not a malformed message).
            fn visit_unit<E: de::Error>(self) -> Result<Num, E> {
                Ok(Num(f64::NAN))
            }
            // A number written as a string (`"21.5"`: Home Assistant's
            // states are strings, and what forwards them keeps them so),
            // read as a bare text sample is; a word is no number.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                let t = v.trim();
                match t.parse::<f64>() {
                    Ok(n) => Ok(Num(n)),
                    Err(_) => {
                        let mut cut = t.len().min(40);
                        while !t.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        Err(E::custom(format!("{:?} is not a number", &t[..cut])))
                    }
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `ts`, the first sample's time in ns since the epoch (latency, and a
/// route's gaps in time; see `window::stamp_ns`): an integer as it
/// is; a float in seconds, milliseconds or microseconds since the epoch
/// (Python's `time.time()`, told by its size as `stamp_ns` tells an
/// integer's) to ns with its fraction, any other truncated (`Date.now() *
/// 1e6`) rather than refused with the samples beside it; text, as such a
/// number or an ISO 8601 instant with its zone. `null`: absent. Anything
/// else is malformed.
/// (With, for a float of seconds since a start, a test bench's clock under
/// [`crate::window::SINCE_START`], its time in ns with its fraction: the
/// integer a translation carries back has none.)
#[derive(Clone, Copy)]
struct Ts(Option<i64>, Option<i64>);

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a time stamp, a number since the epoch (ns, or s, ms or µs told by its size)",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ts, E> {
                // A number in text (a 64-bit one that JavaScript cannot
                // hold as a number) reads as that number; an instant in
                // ISO 8601 with its zone (`toISOString()`, Home Assistant's
                // `last_changed`) as that instant, to the µs.
                let t = v.trim();
                if let Ok(n) = t.parse::<i64>() {
                    return self.visit_i64(n);
                }
                // (`NaN` from a failed `Date.parse` is no time.)
                if let Some(x) = t.parse::<f64>().ok().filter(|x| x.is_finite()) {
                    return self.visit_f64(x);
                }
                let why = match instant_ns(t) {
                    Ok(ns) => return Ok(Ts(Some(ns), None)),
                    Err(NoInstant::NoZone) => "has no zone: add Z (UTC) or its offset (+01:00)",
                    Err(NoInstant::OutOfRange) => {
                        "lies before 1971 or after 2262 (a device whose clock was never set?)"
                    }
                    Err(NoInstant::NotADate) => {
                        "is no ISO 8601 time (2026-03-01T13:00:00Z, 2026-03-01 14:00:00+01:00)"
                    }
                };
                let cut = t.char_indices().nth(40).map_or(t.len(), |(i, _)| i);
                Err(E::custom(format!(
                    "ts {:?} {why}, or send the time as a number since the epoch (ns, or s, \
                     ms or µs told by its size: Python's time.time(), JavaScript's Date.now())",
                    &t[..cut]
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ts, E> {
                Ok(Ts(Some(v), None))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ts, E> {
                // Past i64: centuries ahead, no plausible time either.
                Ok(Ts(Some(i64::try_from(v).unwrap_or(i64::MAX)), None))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Ts, E> {
                // A fraction of a second is a sensor's change's time on a
                // clock of seconds: kept. Saturating; NaN is 0 (1970), no
                // plausible time either.
                let per_unit: i64 = match v {
                    1e9..1e10 => 1_000_000_000,
                    1e12..1e13 => 1_000_000,
                    1e15..1e16 => 1_000,
                    // Seconds since a start (a cycler's `Test_Time`):
                    // whole seconds back, ns with the fraction for the
                    // time rule (a pulse test logs every 0.1 s).
                    0.0..crate::window::SINCE_START_F => {
                        return Ok(Ts(Some(v as i64), Some((v * 1e9).round() as i64)));
                    }
                    _ => return Ok(Ts(Some(v as i64), None)),
                };
                // Whole units and the fraction apart: f64 holds no ns of today
                // exactly.
                let whole = v.trunc();
                let fraction = ((v - whole) * per_unit as f64).round() as i64;
                let ns = (whole as i64)
                    .saturating_mul(per_unit)
                    .saturating_add(fraction);
                Ok(Ts(Some(ns), None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Ts, E> {
                Ok(Ts(None, None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Ts, E> {
                Ok(Ts(None, None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Ts, D::Error> {
                d.deserialize_any(V)
            }
        }
        d.deserialize_any(V)
    }
}

impl Ts {
    /// The time rule's ns (see [`SampleHeader::time_ns`]).
    fn time_ns(self) -> Option<i64> {
        self.1.or(self.0.map(crate::window::rule_ns))
    }
}

/// A decoded sample message: `values[i]` is sample number `seq + i`.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// `None`: the sender numbers nothing (a bare `21.5`, a map without
    /// `seq`); the service counts its samples for it.
    pub seq: Option<u64>,
    pub values: Vec<f32>,
    /// Nanoseconds since the epoch of the first sample, if the sender said.
    pub ts: Option<i64>,
}

/// A decoded sample message without its values (which went into the
/// caller's buffer, see [`decode_samples_into`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleHeader {
    /// `None`: the sender numbers nothing (see [`Samples::seq`]).
    pub seq: Option<u64>,
    pub ts: Option<i64>,
    /// The samples' time as a route's time rule reads `ts` (ns since the
    /// epoch, or since a start: [`crate::window::rule_ns`]; a float's
    /// fraction kept).
    pub time_ns: Option<i64>,
    /// The unit the sender says the values are in (`"°F"`), if it says.
    pub unit: Option<Unit>,
}

/// A sample message's `unit`: a short text kept inline (decoding
/// allocates nothing).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    bytes: [u8; Unit::MAX],
    len: u8,
}

impl Unit {
    /// The longest `unit` taken (`m3/h`, `°C`, `kWh`: a few bytes).
    pub const MAX: usize = 16;

    fn new(s: &str) -> Option<Self> {
        let s = s.trim();
        (s.len() <= Self::MAX).then(|| {
            let mut bytes = [0; Self::MAX];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Unit {
                bytes,
                len: s.len() as u8,
            }
        })
    }

    pub fn as_str(&self) -> &str {
        // Copied from a `str` whole: its bytes are UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for Unit {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// `unit`: a short string, or null (absent).
struct UnitField(Option<Unit>);

impl<'de> Deserialize<'de> for UnitField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UnitField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a unit of at most {} bytes (\"°C\", \"kW\")", Unit::MAX)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UnitField, E> {
                match Unit::new(v) {
                    Some(u) if !u.as_str().is_empty() => Ok(UnitField(Some(u))),
                    Some(_) => Ok(UnitField(None)),
                    None => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<UnitField, E> {
                Ok(UnitField(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<UnitField, E> {
                Ok(UnitField(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Decodes one sample message: a MessagePack map, or the same map as a JSON
/// object (what `nats pub samples.x '{"seq":0,"value":0.1}'` sends), or a
/// bare number in text (`21.5`: what an MQTT sensor publishes, or `nats pub
/// samples.x 21.5`), or a JSON array of numbers.
pub fn decode_samples(payload: &[u8]) -> Result<Samples, DecodeError> {
    let mut values = Vec::new();
    let SampleHeader { seq, ts, .. } = decode_samples_into(payload, &mut values)?;
    Ok(Samples { seq, values, ts })
}

/// [`decode_samples`] with the values written into `values` (cleared
/// first): the hot path reuses one buffer, so decoding allocates nothing
/// once it has grown.
pub fn decode_samples_into(
    payload: &[u8],
    values: &mut Vec<f32>,
) -> Result<SampleHeader, DecodeError> {
    decode_samples_keyed(payload, values, None)
}

/// [`decode_samples_into`] with the one sample of a map under `value_key`
/// instead of `value`, where the sender names it after its quantity
/// (`{"temperature": 21.5, "humidity": 40}`, as Zigbee2MQTT and Shelly
/// devices publish; a dotted key reads inside an object, see `keys`).
/// `None`: `value`.
pub fn decode_samples_keyed(
    payload: &[u8],
    values: &mut Vec<f32>,
    value_key: Option<&str>,
) -> Result<SampleHeader, DecodeError> {
    decode_samples_named(payload, values, value_key, "value_key")
}

/// [`decode_samples_keyed`] for a map whose key the route's `key_name`
/// gives (`value_key`, or `truth_value_key` for a truth), named so in a
/// refusal.
pub fn decode_samples_named(
    payload: &[u8],
    values: &mut Vec<f32>,
    value_key: Option<&str>,
    key_name: &str,
) -> Result<SampleHeader, DecodeError> {
    values.clear();
    let seed = |values| SamplesSeed { values, value_key };
    let raw = if is_json_object(payload) {
        let mut de = serde_json::Deserializer::from_slice(payload);
        seed(values)
            .deserialize(&mut de)
            .and_then(|raw| de.end().map(|()| raw))
            .map_err(|e| {
                DecodeError::Malformed(format!(
                    "not a sample message (JSON): {e}{}",
                    decimal_comma_hint(payload)
                ))
            })?
    } else if is_map(payload) {
        let mut de = rmp_serde::Deserializer::from_read_ref(payload);
        seed(values)
            .deserialize(&mut de)
            .map_err(|e| DecodeError::Malformed(format!("not a sample message: {e}")))?
    } else if let Some(text) = bare_text(payload) {
        bare(text, values)?
    } else {
        return Err(DecodeError::Malformed(
            "not a sample message: expected a MessagePack map, a JSON object or a number".into(),
        ));
    };
    let count = match (raw.value, raw.values) {
        (Some(bad), None) => Count { n: 1, bad },
        (None, Some(count)) => count,
        (Some(_), Some(_)) => {
            return Err(DecodeError::Malformed(
                "has both `value` and `values`".into(),
            ));
        }
        (None, None) => {
            let key = value_key.unwrap_or("value");
            return Err(DecodeError::Malformed(format!(
                "has neither `{key}` nor `values`{}",
                numbers_under(payload, value_key, key_name)
            )));
        }
    };
    if count.n == 0 {
        return Err(DecodeError::Malformed("`values` is empty".into()));
    }
    if count.n > MAX_VALUES_PER_MESSAGE {
        return Err(DecodeError::Malformed(format!(
            "{} values in one message (at most {MAX_VALUES_PER_MESSAGE})",
            count.n
        )));
    }
    if let Some(seq) = raw.seq.filter(|s| s.checked_add(count.n as u64).is_none()) {
        return Err(DecodeError::Malformed(format!(
            "seq {seq} + {} values: the seq after the last sample overflows u64 (the last \
             sample's seq may be at most 2^64 - 2)",
            count.n
        )));
    }
    if let Some((i, v)) = count.bad {
        let seq = raw.seq.map(|s| format!(" (seq {})", s + i as u64));
        return Err(DecodeError::InvalidValue(format!(
            "sample {i}{} is {}, not a finite f32",
            seq.unwrap_or_default(),
            if v.is_nan() {
                "NaN or null".to_string()
            } else {
                Short(v).to_string()
            }
        )));
    }
    Ok(SampleHeader {
        seq: raw.seq,
        ts: raw.ts.and_then(|t| t.0),
        time_ns: raw.ts.and_then(Ts::time_ns),
        unit: raw.unit,
    })
}

/// What the map held, the values aside.
struct Raw {
    seq: Option<u64>,
    ts: Option<Ts>,
    unit: Option<Unit>,
    /// `value` was present (and whether it is not a finite f32).
    value: Option<Option<(usize, f64)>>,
    values: Option<Count>,
}

/// How many values a message carried (only the first
/// [`MAX_VALUES_PER_MESSAGE`] are kept), and the first that is not a finite
/// f32, with its index.
struct Count {
    n: usize,
    bad: Option<(usize, f64)>,
}

/// Reads the sample map, pushing its values into the buffer as they come.
struct SamplesSeed<'a, 'k> {
    values: &'a mut Vec<f32>,
    value_key: Option<&'k str>,
}

impl<'de> DeserializeSeed<'de> for SamplesSeed<'_, '_> {
    type Value = Raw;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SamplesSeed<'_, '_> {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sample map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let (mut seq, mut ts, mut value, mut values) = (None, None, None, None);
        let mut unit = None;
        // `"value": null`: absent beside `values` (a sender that always
        // writes both keys), else a missing sample.
        let mut null_value = false;
        while let Some(field) = map.next_key_seed(FieldSeed(self.value_key))? {
            match field {
                Field::Seq if seq.is_some() => return Err(de::Error::duplicate_field("seq")),
                Field::Seq => {
                    // MessagePack's own word for a string here is "wrong
                    // msgpack marker FixStr(1)": say what `seq` must be.
                    let v = map.next_value::<u64>().map_err(|e| {
                        let why = e.to_string();
                        if why.contains("invalid type") || why.contains("marker") {
                            de::Error::custom(format!("`seq` must be an unsigned integer: {why}"))
                        } else {
                            e
                        }
                    });
                    seq = Some(v?);
                }
                Field::Ts if ts.is_some() => return Err(de::Error::duplicate_field("ts")),
                Field::Ts => ts = Some(map.next_value::<Ts>()?),
                Field::Unit if unit.is_some() => return Err(de::Error::duplicate_field("unit")),
                Field::Unit => unit = Some(map.next_value::<UnitField>()?.0),
                Field::Value if value.is_some() || null_value => {
                    return Err(de::Error::duplicate_field("value"));
                }
                Field::Value => match map.next_value::<Option<Num>>()? {
                    Some(Num(v)) => {
                        let f = v as f32;
                        self.values.push(f);
                        value = Some((!f.is_finite()).then_some((0, v)));
                    }
                    None => null_value = true,
                },
                // `AM2301.Temperature`: the reading inside an object.
                Field::Inner(path) => match map.next_value_seed(InnerSeed(path))? {
                    Some(Some(Num(v))) if value.is_none() && !null_value => {
                        let f = v as f32;
                        self.values.push(f);
                        value = Some((!f.is_finite()).then_some((0, v)));
                    }
                    Some(None) if value.is_none() && !null_value => null_value = true,
                    Some(_) => return Err(de::Error::duplicate_field("value")),
                    None => {}
                },
                Field::Values if values.is_some() => {
                    return Err(de::Error::duplicate_field("values"));
                }
                Field::Values => values = Some(map.next_value_seed(ValuesSeed(&mut *self.values))?),
                Field::Other => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        if null_value && values.as_ref().is_none_or(Option::is_none) {
            self.values.push(f32::NAN);
            value = Some(Some((0, f64::NAN)));
        }
        Ok(Raw {
            seq,
            ts,
            unit: unit.flatten(),
            value,
            values: values.flatten(),
        })
    }
}

/// `values`: null, or an array of numbers pushed into the buffer.
struct ValuesSeed<'a>(&'a mut Vec<f32>);

impl<'de> DeserializeSeed<'de> for ValuesSeed<'_> {
    type Value = Option<Count>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Count>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed<'_> {
    type Value = Option<Count>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of numbers")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<Count>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Count>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<Count>, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Count>, A::Error> {
        let values = self.0;
        values.reserve(seq.size_hint().unwrap_or(0).min(MAX_VALUES_PER_MESSAGE));
        let mut count = Count { n: 0, bad: None };
        while let Some(Num(v)) = seq.next_element()? {
            // Past the limit, values are only counted (the message is refused).
            if count.n < MAX_VALUES_PER_MESSAGE {
                let f = v as f32;
                if !f.is_finite() && count.bad.is_none() {
                    count.bad = Some((count.n, v));
                }
                values.push(f);
            }
            count.n += 1;
        }
        Ok(Some(count))
    }
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

    /// The message with its `unit` (`"°F"`).
    pub fn encode_with_unit(&self, unit: &str) -> Vec<u8> {
        #[derive(Serialize)]
        struct WithUnit<'a> {
            #[serde(flatten)]
            samples: &'a SamplesOut<'a>,
            unit: &'a str,
        }
        rmp_serde::to_vec_named(&WithUnit {
            samples: self,
            unit,
        })
        .unwrap_or_default()
    }
}

/// A number as an error message shows it: `1e300`, not 301 digits.
pub(super) struct Short(pub(super) f64);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.0.is_finite() && self.0.abs() >= 1e16 {
            write!(f, "{:e}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}
