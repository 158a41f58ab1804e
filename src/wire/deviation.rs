//! A stream's deviation event (`proto/schema/deviation.schema.json`),
//! published on `<deviation subject>.<stream key>` when the stream's truth
//! leaves its translation and when it comes back.

use serde::{Deserialize, Serialize};

use super::{DecodeError, Format};

/// What happened to the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviationState {
    /// Its mean difference passed the threshold.
    Begin,
    /// It came back within half the threshold.
    End,
    /// Its watch stopped while it deviated (see `reason`): nothing more
    /// is said of it until a window is judged again.
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviationEvent {
    pub stream: String,
    pub pair: String,
    /// The live model whose translations the truth was compared with.
    pub model: String,
    pub state: DeviationState,
    /// Mean of truth − translation over the windows below, in the output's
    /// units: negative where the truth is under the translation.
    pub mean_difference: f64,
    /// The threshold, in the output's units.
    pub threshold: f64,
    /// Windows (sharing no sample) the mean is over.
    pub windows: usize,
    /// The first seq of the last of them.
    pub seq: u64,
    /// Its `ts`, where its samples carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    /// The output's unit, where the model's training named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Why a watch stopped: `forgotten` (no sample nor truth for the idle
    /// timeout), `no truth` (windows, but none judged for the idle
    /// timeout), `no threshold` (the live model records no held-out error
    /// and the route sets none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl DeviationEvent {
    pub fn encode_as(&self, format: Format) -> Vec<u8> {
        match format {
            Format::Msgpack => rmp_serde::to_vec_named(self).unwrap_or_default(),
            Format::Json => serde_json::to_vec(self).unwrap_or_default(),
        }
    }

    /// Reads either format.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        if super::is_json_object(payload) {
            return serde_json::from_slice(payload)
                .map_err(|e| DecodeError::Malformed(e.to_string()));
        }
        rmp_serde::from_slice(payload).map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}
