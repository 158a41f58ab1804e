//! The wire contract (documented in `proto/`): MessagePack sample messages
//! in, translation and error-event maps out.
//!
//! Decoding is strict about types and lenient about width: any MessagePack
//! integer or float is a number; anything else is `malformed`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Nanoseconds since the Unix epoch (the wire's `ts`).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

mod deviation;
mod samples;

pub use deviation::{DeviationEvent, DeviationState};
pub use samples::{
    MAX_VALUES_PER_MESSAGE, Num, SampleHeader, Samples, SamplesOut, Unit, bad_stamp_only,
    decode_samples, decode_samples_into, decode_samples_keyed, decode_samples_named, stamp_of,
};

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

/// Is this payload a bare sample in text (`21.5`, `[1, 2]`)? Such a sender
/// reads JSON better than MessagePack (its error events are JSON).
pub(crate) fn is_bare_text(payload: &[u8]) -> bool {
    samples::bare_text(payload).is_some()
}

/// Is this payload a JSON object? MessagePack never starts a map with `{`
/// (0x7b is the integer 123), so the two cannot be confused.
pub(crate) fn is_json_object(payload: &[u8]) -> bool {
    payload
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .is_some_and(|b| *b == b'{')
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
    /// The unit of the values, where the model's training recording named
    /// it (`"kW"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'a str>,
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
    TimeGap,
    OutOfOrder,
    TooManyStreams,
    BadSubject,
    SlowConsumer,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Malformed,
        ErrorKind::InvalidValue,
        ErrorKind::Gap,
        ErrorKind::TimeGap,
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
            ErrorKind::TimeGap => "time_gap",
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

    /// Encodes in `format` (an event follows the format of the message
    /// that caused it).
    pub fn encode_as(&self, format: Format) -> Vec<u8> {
        match format {
            Format::Msgpack => self.encode(),
            Format::Json => serde_json::to_vec(self).unwrap_or_default(),
        }
    }

    /// Reads either format.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        if is_json_object(payload) {
            return serde_json::from_slice(payload)
                .map_err(|e| DecodeError::Malformed(e.to_string()));
        }
        rmp_serde::from_slice(payload).map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

/// A W3C trace context header (`traceparent`), checked for its shape:
/// `version-traceid-parentid-flags` in lower-case hex, neither id all zeros,
/// version `ff` refused; a later version may append fields after a `-`.
/// One that fails is ignored, as the specification asks.
pub fn valid_traceparent(v: &str) -> bool {
    let b = v.as_bytes();
    let hex = |r: std::ops::Range<usize>| {
        b.get(r).is_some_and(|s| {
            s.iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        })
    };
    let zeros = |r: std::ops::Range<usize>| b[r].iter().all(|c| *c == b'0');
    let shape = b.len() >= 55
        && hex(0..2)
        && b[2] == b'-'
        && hex(3..35)
        && b[35] == b'-'
        && hex(36..52)
        && b[52] == b'-'
        && hex(53..55);
    shape
        && &b[0..2] != b"ff"
        && !zeros(3..35)
        && !zeros(36..52)
        && (b.len() == 55 || (&b[0..2] != b"00" && b[55] == b'-'))
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
    let bad = |e: String| DecodeError::Malformed(format!("not a translate request: {e}"));
    let r: TranslateRequest = if is_json_object(payload) {
        serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?
    } else if is_map(payload) {
        rmp_serde::from_slice(payload).map_err(|e| bad(e.to_string()))?
    } else {
        return Err(bad("expected a MessagePack map or a JSON object".into()));
    };
    let mut values = Vec::with_capacity(r.values.len());
    for (i, Num(v)) in r.values.into_iter().enumerate() {
        let f = v as f32;
        if !f.is_finite() {
            return Err(DecodeError::InvalidValue(format!(
                "value {i} is {}, not a finite f32",
                samples::Short(v)
            )));
        }
        values.push(f);
    }
    Ok((values, r.pair))
}

#[cfg(test)]
mod tests;
