//! `[durable]`: durable mode's streams, bucket, checkpoints and leases.

use serde::{Deserialize, Serialize};

use super::{defaults, duration_key};
use crate::error::{Error, Result};

/// Durable mode settings. Every field has a default, so `[durable]` alone
/// (or `serve --durable`) turns it on.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DurableConfig {
    /// JetStream stream holding the samples; created over the routes' input
    /// subjects if absent.
    #[serde(default = "defaults::input_stream")]
    pub input_stream: String,
    /// JetStream stream capturing the translations; created over the
    /// routes' output subjects if absent, with `duplicate_window_s`.
    #[serde(default = "defaults::output_stream")]
    pub output_stream: String,
    /// KV bucket for window checkpoints (created if absent).
    #[serde(default = "defaults::checkpoint_bucket")]
    pub checkpoint_bucket: String,
    /// This instance's name in checkpoints. A restarted instance with the
    /// same name resumes its partitions at once; another name waits as a
    /// standby until the owner has written no checkpoint for `lease_s`.
    /// Default: `$PIPELINE_INSTANCE`, else `$HOSTNAME`, else the host name.
    #[serde(default)]
    pub instance: Option<String>,
    /// How often window state is checkpointed and input acknowledged.
    /// Also `checkpoint_interval = "200ms"` (a number here is milliseconds).
    #[serde(
        default = "defaults::checkpoint_ms",
        alias = "checkpoint_interval",
        deserialize_with = "duration_key::ms_u64"
    )]
    pub checkpoint_ms: u64,
    /// A checkpoint unchanged this long means its owner is gone.
    /// Also `lease = "10s"` (a number here is seconds).
    #[serde(
        default = "defaults::lease_s",
        alias = "lease",
        deserialize_with = "duration_key::secs"
    )]
    pub lease_s: f64,
    /// Duplicate window of a created output stream (at least 120 s).
    /// Also `duplicate_window = "5m"` (a number here is seconds).
    #[serde(
        default = "defaults::duplicate_window_s",
        alias = "duplicate_window",
        deserialize_with = "duration_key::secs"
    )]
    pub duplicate_window_s: f64,
    /// Unacknowledged input messages per consumer before the server pauses
    /// delivery; a checkpoint is taken early at half of it.
    #[serde(default = "defaults::max_ack_pending")]
    pub max_ack_pending: i64,
    /// Replicas of the streams and bucket this instance creates (3 on a
    /// 3-node cluster survives the loss of a node).
    #[serde(default = "defaults::replicas")]
    pub replicas: usize,
    /// Dead letters: a JetStream stream (created if absent, over
    /// `pipeline.deadletter.>`) that keeps every input message refused
    /// whole, with its error in headers, for inspection and replay. Off
    /// when unset.
    #[serde(default)]
    pub dead_letter_stream: Option<String>,
}

impl Default for DurableConfig {
    fn default() -> Self {
        Self {
            input_stream: defaults::input_stream(),
            output_stream: defaults::output_stream(),
            checkpoint_bucket: defaults::checkpoint_bucket(),
            instance: None,
            checkpoint_ms: defaults::checkpoint_ms(),
            lease_s: defaults::lease_s(),
            duplicate_window_s: defaults::duplicate_window_s(),
            max_ack_pending: defaults::max_ack_pending(),
            replicas: defaults::replicas(),
            dead_letter_stream: None,
        }
    }
}

/// An instance's name (in checkpoints, `pipeline status` and control
/// answers): `configured`, else `$PIPELINE_INSTANCE`, `$HOSTNAME`, the host
/// name, or `pipeline`; an empty one is passed over (a configured empty
/// name is refused by [`DurableConfig`]'s checks).
pub fn instance_name(configured: Option<String>) -> String {
    let given = |s: String| {
        let s = s.trim().to_string();
        (!s.is_empty()).then_some(s)
    };
    configured
        .and_then(given)
        .or_else(|| std::env::var("PIPELINE_INSTANCE").ok().and_then(given))
        .or_else(|| std::env::var("HOSTNAME").ok().and_then(given))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .and_then(given)
        })
        .unwrap_or_else(|| "pipeline".into())
}

impl DurableConfig {
    /// The instance name: configured, else from the environment or host.
    pub fn instance_name(&self) -> String {
        instance_name(self.instance.clone())
    }

    pub(super) fn validate(&self) -> Result<()> {
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        let dead = self.dead_letter_stream.as_ref();
        for (what, n) in [
            ("input_stream", &self.input_stream),
            ("output_stream", &self.output_stream),
            ("checkpoint_bucket", &self.checkpoint_bucket),
        ]
        .into_iter()
        .chain(dead.map(|d| ("dead_letter_stream", d)))
        {
            if !name_ok(n) {
                return Err(Error::Config(format!(
                    "durable.{what} {n:?}: use letters, digits, - and _"
                )));
            }
        }
        // Two instances that both fell back to one name would take each
        // other's units as their own.
        if self
            .instance
            .as_deref()
            .is_some_and(|n| n.trim().is_empty())
        {
            return Err(Error::Config(
                "durable.instance is empty: name the instance, or leave it out for the host's name"
                    .into(),
            ));
        }
        let bad = |m: String| Err(Error::Config(format!("durable.{m}")));
        if self.checkpoint_ms == 0 {
            return bad("checkpoint_interval must be more than 0".into());
        }
        if self.max_ack_pending < 2 {
            return bad(format!(
                "max_ack_pending {} must be at least 2",
                self.max_ack_pending
            ));
        }
        if !(1..=5).contains(&self.replicas) {
            return bad(format!("replicas {} must be from 1 to 5", self.replicas));
        }
        if !(self.lease_s.is_finite() && self.lease_s * 1e3 > 2.0 * self.checkpoint_ms as f64) {
            return bad(format!(
                "lease {} s must be longer than two checkpoint intervals ({} ms each)",
                self.lease_s, self.checkpoint_ms
            ));
        }
        if !(self.duplicate_window_s.is_finite() && self.duplicate_window_s >= 120.0) {
            return bad(format!(
                "duplicate_window {} s must be at least 2 min",
                self.duplicate_window_s
            ));
        }
        Ok(())
    }
}
