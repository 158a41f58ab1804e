//! What a refused message still says: when it came (its `ts`), and
//! whether its stamp alone was refused.

use serde::Deserialize;

use super::{Num, Ts};
use crate::wire::{is_json_object, is_map};

/// The time of a sample message (ns, as the time rule reads its `ts`,
/// [`SampleHeader::time_ns`]), however its values are (read again for a
/// message refused for them: `{"value": "unavailable", "ts": …}` says when
/// a sensor's value stopped being known). `None`: not a map, or no `ts`.
pub fn stamp_of(payload: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct Stamped {
        #[serde(default)]
        ts: Option<Ts>,
    }
    let stamped: Stamped = if is_json_object(payload) {
        serde_json::from_slice(payload).ok()?
    } else if is_map(payload) {
        rmp_serde::from_slice(payload).ok()?
    } else {
        return None;
    };
    stamped.ts.and_then(Ts::time_ns)
}

/// Whether a message refused holds a reading and only its `ts` is no time
/// (a device rebooted with its clock unset stamps 1970): it says nothing
/// of the sensor's value, so a value held is not ended by it (an
/// air-quality sensor's reading two minutes before the hourly tick was).
pub fn bad_stamp_only(payload: &[u8]) -> bool {
    // A number, or one in a string (Home Assistant's `"21.5"`), or an
    // array of them.
    #[derive(Deserialize)]
    struct Reading {
        value: Option<Num>,
        values: Option<Vec<Num>>,
    }
    #[derive(Deserialize)]
    struct Stamped {
        #[serde(default)]
        #[allow(dead_code)]
        ts: Option<Ts>,
    }
    fn read<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Option<Result<T, ()>> {
        if is_json_object(payload) {
            Some(serde_json::from_slice(payload).map_err(|_| ()))
        } else if is_map(payload) {
            Some(rmp_serde::from_slice(payload).map_err(|_| ()))
        } else {
            None
        }
    }
    let reading = read::<Reading>(payload).and_then(Result::ok);
    let stamped = read::<Stamped>(payload);
    let finite = |n: &Num| n.0.is_finite();
    let reads = reading.is_some_and(|r| match (r.value, r.values) {
        (Some(v), None) => finite(&v),
        (None, Some(vs)) => !vs.is_empty() && vs.iter().all(finite),
        _ => false,
    });
    reads && stamped.is_some_and(|s| s.is_err())
}
