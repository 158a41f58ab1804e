//! Where a recording of changes holds each channel's changes.

use super::super::streams::cell;

/// Where each channel's changes are.
pub(super) enum Source {
    /// Two columns, a value where it changed.
    Columns([usize; 2]),
    /// Rows naming their channel in `name`, the value in `value`.
    Rows {
        name: usize,
        value: usize,
        channels: [String; 2],
    },
}

impl Source {
    /// The channel a row is of, as its cell says (empty where each row
    /// holds both channels).
    pub(super) fn channel_of(&self, r: &csv::ByteRecord) -> Vec<u8> {
        match self {
            Source::Rows { name, .. } => cell(r, *name).to_vec(),
            Source::Columns(_) => Vec::new(),
        }
    }
}
