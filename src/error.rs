//! The library's error type, grouped by who is at fault: the caller's input
//! (a bad model file, a bad data file, a bad line), or the numeric backend.

use std::path::PathBuf;

/// Everything the library can fail with. The CLI wraps these in `anyhow`.
///
/// A cause is either in the message or the error's `source()`, never both:
/// the CLI prints the chain (`{:#}`), so both said it twice ("No such file
/// or directory (os error 2): No such file or directory (os error 2)").
/// Messages hold it, as logs and request replies print only the message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file could not be read from disk.
    #[error("cannot read model file {path}: {cause}")]
    ModelIo {
        path: PathBuf,
        cause: std::io::Error,
    },

    /// The model file is not a valid safetensors file, or its tensors do not
    /// form a seq2seq model in our layout.
    #[error("invalid model file {path}: {reason}")]
    ModelFormat { path: PathBuf, reason: String },

    /// A required tensor has the wrong shape.
    #[error(
        "invalid model file {path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}"
    )]
    TensorShape {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    /// A required tensor is absent.
    #[error(
        "invalid model file {path}: tensor `{tensor}` is missing (expected shape {expected:?})"
    )]
    TensorMissing {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
    },

    /// A model could not be written.
    #[error("cannot write model file {path}: {reason}")]
    ModelWrite { path: PathBuf, reason: String },

    /// No such pair in the pair table.
    #[error("unknown pair `{0}` (see `pipeline pairs`)")]
    UnknownPair(String),

    /// A request the service cannot serve as asked: a model file for
    /// several routes, nothing to promote.
    #[error("{0}")]
    Request(String),

    /// A request names a pair no route of this instance serves (`served`:
    /// the pairs it does, for the message). Not found (404) whichever
    /// endpoint it came to.
    #[error("no route serves pair {pair:?} (this instance serves {served})")]
    NoRoute { pair: String, served: String },

    /// The service configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A durable unit's checkpoint cannot be read back: damaged, missing a
    /// chunk, or written by a newer build. The unit stops rather than lose
    /// windows; restarting does not help, deleting the key starts over.
    #[error(
        "checkpoint {bucket}/{key}: {reason}; to start over, delete the key and the unit's \
         consumer (every window of the input stream is then stored again)"
    )]
    Checkpoint {
        bucket: String,
        key: String,
        reason: String,
    },

    /// A durable unit's checkpoint is gone though the unit had one (its
    /// consumer resumes after a checkpointed position): starting from the
    /// input's first sample would store every window again, so the unit
    /// stops and says how to start over on purpose.
    #[error("checkpoint {bucket}/{key} is lost: {reason}")]
    CheckpointLost {
        bucket: String,
        key: String,
        /// Why it must have existed, and how to start over on purpose.
        reason: String,
    },

    /// The broker refused or dropped us.
    #[error("NATS: {0}")]
    Nats(String),

    /// Training or evaluation data is unusable.
    #[error("bad data: {0}")]
    Data(String),

    /// A line of `translate` input is not a valid window.
    #[error("line {line}: {reason}")]
    BadLine { line: u64, reason: String },

    /// The input had the wrong shape for the model (a caller bug, not user data).
    #[error("shape mismatch: {0}")]
    Shape(String),

    /// Writing a plot failed.
    #[error("cannot draw plot {path}: {reason}")]
    Plot { path: PathBuf, reason: String },

    /// Plain I/O (reports, stdin/stdout).
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// The tensor backend failed: a bug on our side, not the caller's.
    #[error("tensor backend: {0}")]
    Candle(candle_core::Error),

    /// The model call panicked: a bug on our side. The service fails that
    /// batch and goes on.
    #[error("model {model} panicked: {reason} (a bug: please report it)")]
    ModelPanicked { model: String, reason: String },
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Self::Candle(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
