//! A sample map's keys: which is the sample (`value`, or the route's
//! `value_key`, which may name a key inside an object:
//! `AM2301.Temperature`, as Tasmota nests a sensor's readings, or
//! `fields.temperature`, as Telegraf's JSON does), compared in place so
//! that reading a key allocates nothing.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Num;

pub(super) enum Field<'k> {
    Seq,
    Value,
    /// The first step of a `value_key` path: the rest, inside this key's
    /// object.
    Inner(&'k str),
    Values,
    Ts,
    Unit,
    Other,
}

/// A map key as a [`Field`]: the route's `value_key` (if any) is `value`,
/// and `value` itself then another key.
pub(super) struct FieldSeed<'k>(pub Option<&'k str>);

impl<'de, 'k> DeserializeSeed<'de> for FieldSeed<'k> {
    type Value = Field<'k>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field<'k>, D::Error> {
        d.deserialize_identifier(self)
    }
}

/// `path` with `key.` cut from its front, if it starts so.
fn inside<'k>(path: &'k str, key: &str) -> Option<&'k str> {
    path.strip_prefix(key)?
        .strip_prefix('.')
        .filter(|r| !r.is_empty())
}

impl<'k> Visitor<'_> for FieldSeed<'k> {
    type Value = Field<'k>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Field<'k>, E> {
        Ok(match (key, self.0) {
            (k, Some(value_key)) if k == value_key => Field::Value,
            (k, Some(value_key)) if inside(value_key, k).is_some() => {
                inside(value_key, k).map_or(Field::Other, Field::Inner)
            }
            ("value", Some(_)) => Field::Other,
            ("seq", _) => Field::Seq,
            ("value", None) => Field::Value,
            ("values", _) => Field::Values,
            ("ts", _) => Field::Ts,
            ("unit", _) => Field::Unit,
            _ => Field::Other,
        })
    }

    fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<Field<'k>, E> {
        std::str::from_utf8(key).map_or(Ok(Field::Other), |k| self.visit_str(k))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Field<'k>, E> {
        Ok(Field::Other)
    }
}

/// The number at `path` inside a value: `None` where there is none (the
/// value is no object, or has no such key), `Some(None)` for a null.
pub(super) struct InnerSeed<'k>(pub &'k str);

/// A key inside the object: the end of the path, a step on, or another.
enum Step<'k> {
    Here,
    On(&'k str),
    Other,
}

struct StepSeed<'k>(&'k str);

impl<'de, 'k> DeserializeSeed<'de> for StepSeed<'k> {
    type Value = Step<'k>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Step<'k>, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'k> Visitor<'_> for StepSeed<'k> {
    type Value = Step<'k>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Step<'k>, E> {
        Ok(if key == self.0 {
            Step::Here
        } else {
            inside(self.0, key).map_or(Step::Other, Step::On)
        })
    }

    fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<Step<'k>, E> {
        std::str::from_utf8(key).map_or(Ok(Step::Other), |k| self.visit_str(k))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Step<'k>, E> {
        Ok(Step::Other)
    }
}

impl<'de> DeserializeSeed<'de> for InnerSeed<'_> {
    type Value = Option<Option<Num>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for InnerSeed<'_> {
    type Value = Option<Option<Num>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(step) = map.next_key_seed(StepSeed(self.0))? {
            match step {
                Step::Here if found.is_none() => found = Some(map.next_value::<Option<Num>>()?),
                Step::On(rest) if found.is_none() => {
                    found = map.next_value_seed(InnerSeed(rest))?
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
        Ok(None)
    }
}
