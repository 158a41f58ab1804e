//! Service configuration: one typed TOML file (unknown keys rejected), or
//! the equivalent single-route command-line flags, with `PIPELINE_*`
//! variables and flags over the file (one merge: [`layers`]). Defaults live
//! in [`defaults`] only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod auth;
pub mod defaults;
mod deviation;
mod durable;
mod duration;
pub mod layers;
pub mod routes;

use auth::mask_url;

/// The longest `max_wait` (ms): a batch that waits longer for windows
/// than this is a typo (`2s` for `2ms`), not a setting.
const MAX_WAIT_LIMIT_MS: f64 = 1_000.0;
pub use auth::{NatsAuth, redact_url};
pub use deviation::{DeviationConfig, MAX_WINDOWS, RMSE_MULTIPLE, Side, held_out_rmse};
pub use durable::{DurableConfig, instance_name};
pub(crate) use duration::duration_key;
pub use duration::{duration_flag, parse_duration, parse_duration_with_unit};
pub use layers::{Layer, Resolved};

/// Everything `pipeline serve` needs to run.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// NATS server URL (`NATS_URL`, then `nats://127.0.0.1:4222`, when unset).
    #[serde(default, serialize_with = "mask_url")]
    pub nats: Option<String>,
    /// Subject for error events.
    #[serde(default = "defaults::errors")]
    pub errors: String,
    /// Largest batch of windows per model call.
    #[serde(default = "defaults::max_batch")]
    pub max_batch: usize,
    /// Longest a window is held for its batch to fill, in milliseconds (0:
    /// never; a batch goes as soon as a compute thread is free, holding every
    /// window queued by then).
    /// Also `max_wait = "2ms"` (a number here is milliseconds).
    #[serde(
        default = "defaults::max_wait_ms",
        alias = "max_wait",
        deserialize_with = "duration_key::ms"
    )]
    pub max_wait_ms: f64,
    /// Model compute threads (each runs whole batches; none run on the async runtime).
    #[serde(default = "defaults::compute_threads")]
    pub compute_threads: usize,
    /// Windows queued per route before ingest waits (back-pressure bound).
    #[serde(default = "defaults::queue")]
    pub queue: usize,
    /// Most live streams per route; samples of further new streams are
    /// refused with `too_many_streams`.
    #[serde(default = "defaults::max_streams")]
    pub max_streams: usize,
    /// A stream with no sample for this many seconds is forgotten (on a
    /// route with a `max_gap`, after at least twice that).
    /// Also `idle_timeout = "10m"` (a number here is seconds).
    #[serde(
        default = "defaults::idle_timeout_s",
        alias = "idle_timeout",
        deserialize_with = "duration_key::secs"
    )]
    pub idle_timeout_s: f64,
    /// Register the NATS service `pipeline` (`pipeline.translate`, `$SRV.*`).
    #[serde(default = "defaults::service")]
    pub service: bool,
    /// Folder where models are found by pair name.
    #[serde(default = "defaults::models_dir")]
    pub models_dir: PathBuf,
    /// How to authenticate to NATS and whether to use TLS. Every field can
    /// also come from flags, `NATS_*` variables or a `nats` context (see
    /// [`crate::connect`]).
    #[serde(default)]
    pub auth: NatsAuth,
    /// Serve Prometheus metrics and health checks on this address
    /// (`host:port`; `/metrics`, `/healthz`, `/readyz`). Off when unset.
    #[serde(default)]
    pub metrics_addr: Option<String>,
    /// OpenTelemetry collector (its OTLP/HTTP base URL, e.g.
    /// `http://127.0.0.1:4318`) to export a span per batch to; needs an
    /// installed exporter (the command built with the `otel` feature). Off
    /// when unset (unless the standard `OTEL_EXPORTER_OTLP_ENDPOINT` names
    /// one).
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// Partitioned scale-out: this instance's share of the streams. With a
    /// server mapping such as `"samples.*": "part.{{partition(4,1)}}.{{wildcard(1)}}"`,
    /// a route whose input is `part.{partition}.>` subscribes to `part.P.>` for
    /// every owned partition P, so each stream is served by exactly one instance.
    #[serde(default)]
    pub partitions: Option<Partitions>,
    /// Durable mode: JetStream in and out, window checkpoints in a KV
    /// bucket (see `RELIABILITY.md`). Core NATS (at-most-once) when unset.
    #[serde(default)]
    pub durable: Option<DurableConfig>,
    /// The translations this process serves.
    #[serde(rename = "route")]
    pub routes: Vec<RouteConfig>,
}

/// How many partitions there are and which this instance owns.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Partitions {
    /// N, as in the server's `partition(N, …)` mapping.
    pub count: u32,
    /// The partitions (0 … N−1) this instance serves.
    pub owned: Vec<u32>,
}

impl ServeConfig {
    /// The subjects a route subscribes to.
    pub fn subscriptions(&self, route: &RouteConfig) -> Vec<String> {
        let owned = self
            .partitions
            .as_ref()
            .map(|p| p.owned.as_slice())
            .unwrap_or(&[]);
        crate::window::subscriptions(&route.input, owned)
    }
}

/// One input subject → model → output subject route.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Pair id: picks `<models_dir>/<pair>.safetensors` unless `model` is set,
    /// and is what `pipeline.translate` requests select by.
    pub pair: String,
    /// Model file (overrides the pair's default).
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// Subscription subject; its wildcards' match is the stream key.
    #[serde(default = "defaults::input")]
    pub input: String,
    /// Output subject prefix: translations go to `<output>.<stream key>`.
    #[serde(default = "defaults::output")]
    pub output: String,
    /// Emit a window every `stride` samples once W are in hand.
    #[serde(default = "defaults::stride")]
    pub stride: u64,
    /// Window length for a model file that does not record it.
    #[serde(default)]
    pub window: Option<usize>,
    /// A candidate model computed beside the live one (`[route.shadow]`).
    #[serde(default)]
    pub shadow: ShadowConfig,
    /// How translations are written: `msgpack` (default) or `json` (readable
    /// in `nats sub`; `pipeline tail` reads both).
    #[serde(default)]
    pub output_format: crate::wire::Format,
    /// Subject of the true output signal (same wildcards, keys and `seq` as
    /// `input`): the route then reports the live and shadow models' running
    /// MSE against it.
    #[serde(default)]
    pub truth: Option<String>,
    /// Each stream's truth watched against its translation: a stream whose
    /// mean difference passes a threshold gets a `deviation` event
    /// (`[route.deviation]`; needs `truth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviation: Option<DeviationConfig>,
    /// The longest step in time (`ts`) between two samples of one window,
    /// in seconds (`max_gap = "30m"`); 0 never splits. Absent: the gap the
    /// model's training recording was split at, when it had a time column.
    #[serde(
        default,
        deserialize_with = "duration_key::opt_secs_with_unit",
        serialize_with = "duration_key::secs_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_gap: Option<f64>,
    /// The clock a stream of changes is read on (`resample = "1m"`): each
    /// value held until the next and read at every tick, as `retrain
    /// --resample` read the training recording; for samples their sender
    /// numbers nothing (a sensor that publishes on change). 0: samples as
    /// they come. Absent: the model's `--resample`, if it was trained so.
    #[serde(
        default,
        deserialize_with = "duration_key::opt_secs_with_unit",
        serialize_with = "duration_key::secs_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub resample: Option<f64>,
    /// The key of a sample map that holds its one sample, where a sender
    /// names it after its quantity (`{"temperature": 21.5, "humidity": 40}`,
    /// as Zigbee2MQTT and Shelly devices publish): read instead of `value`;
    /// a dotted key reads inside an object (`AM2301.Temperature`, as
    /// Tasmota nests it). Absent: `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_key: Option<String>,
    /// The key of a truth map that holds its one sample, as `value_key` is
    /// the input's: a meter's `{"ac_power_kw": 41.2}` beside the weather
    /// station's `{"poa_irradiance": 612}`, or one device's message that
    /// holds both, read on one subject as input and truth. Absent: `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_value_key: Option<String>,
}

/// A route's shadow: a candidate model that sees the same windows as the
/// live one and publishes its translations elsewhere, so it can be judged
/// on live traffic before it is promoted.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShadowConfig {
    /// Candidate model file, computed from start-up (a `pipeline.shadow`
    /// request can also set or clear it at run time).
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// Output subject prefix of the shadow's translations.
    #[serde(default = "defaults::shadow_output")]
    pub output: String,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        Self {
            model: None,
            output: defaults::shadow_output(),
        }
    }
}

impl ServeConfig {
    /// A config with every default and the given routes.
    pub fn with_routes(routes: Vec<RouteConfig>) -> Self {
        Self {
            nats: None,
            errors: defaults::errors(),
            max_batch: defaults::max_batch(),
            max_wait_ms: defaults::max_wait_ms(),
            compute_threads: defaults::compute_threads(),
            queue: defaults::queue(),
            max_streams: defaults::max_streams(),
            idle_timeout_s: defaults::idle_timeout_s(),
            service: defaults::service(),
            models_dir: defaults::models_dir(),
            metrics_addr: None,
            otlp_endpoint: None,
            auth: NatsAuth::default(),
            partitions: None,
            durable: None,
            routes,
        }
    }

    /// A config file's text over the defaults (the layers of
    /// [`layers`], with only the file).
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        Ok(layers::resolve([Layer::file(text, origin)?])?.config)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text, path)
    }

    pub fn max_wait(&self) -> Duration {
        Duration::from_secs_f64(self.max_wait_ms.max(0.0) / 1e3)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.idle_timeout_s.max(0.001))
    }

    /// The model file of a route.
    pub fn model_path(&self, route: &RouteConfig) -> PathBuf {
        route
            .model
            .clone()
            .unwrap_or_else(|| self.models_dir.join(format!("{}.safetensors", route.pair)))
    }

    /// Loads a route's model. A pair with no `model` and no file in the
    /// models directory is most likely a typo: said so, with where to find
    /// the pairs there are, not only as a missing file.
    pub fn load_model(&self, route: &RouteConfig) -> Result<crate::LoadedModel> {
        let path = self.model_path(route);
        crate::format::load(&path, route.window).map_err(|e| match e {
            Error::ModelIo { cause, .. }
                if route.model.is_none() && cause.kind() == std::io::ErrorKind::NotFound =>
            {
                Error::Config(format!(
                    "no model for pair {:?}: {} does not exist (`pipeline pairs` lists the \
                     built-in pairs; --model FILE serves any model file)",
                    route.pair,
                    path.display()
                ))
            }
            e => e,
        })
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        self.auth.validate()?;
        if let Some(d) = &self.durable {
            d.validate()?;
        }
        if self.routes.is_empty() {
            return bad("no routes: add at least one [[route]]".into());
        }
        if let Some(url) = &self.otlp_endpoint {
            if !crate::telemetry::installed() {
                return bad(crate::telemetry::NOT_BUILT_IN.into());
            }
            // No TLS client is built in: a collector (or agent) nearby.
            if !url.starts_with("http://") {
                return bad(format!(
                    "otlp_endpoint {url:?}: an http:// URL (a nearby collector's OTLP/HTTP port, 4318)"
                ));
            }
        }
        let zero: Vec<&str> = [
            ("max_batch", self.max_batch),
            ("compute_threads", self.compute_threads),
            ("queue", self.queue),
            ("max_streams", self.max_streams),
        ]
        .into_iter()
        .filter_map(|(key, v)| (v == 0).then_some(key))
        .collect();
        if !zero.is_empty() {
            return bad(format!("{} must be at least 1", zero.join(" and ")));
        }
        // Every translation of a lightly loaded route waits this long.
        if !(0.0..=MAX_WAIT_LIMIT_MS).contains(&self.max_wait_ms) {
            return bad(format!(
                "max_wait {} ms must be from 0 to {MAX_WAIT_LIMIT_MS} ms (a batch waits up to it \
                 for more windows, so a lone window is late by it)",
                self.max_wait_ms
            ));
        }
        if !self.idle_timeout_s.is_finite() || self.idle_timeout_s <= 0.0 {
            return bad(format!(
                "idle_timeout {} s must be more than 0",
                self.idle_timeout_s
            ));
        }
        if let Some(p) = &self.partitions {
            let repeated = (1..p.owned.len()).any(|i| p.owned[..i].contains(&p.owned[i]));
            if p.count == 0
                || p.owned.is_empty()
                || p.owned.iter().any(|o| *o >= p.count)
                || repeated
            {
                return bad(format!(
                    "partitions: owned {:?} must be a non-empty subset of 0..{}, each once",
                    p.owned, p.count
                ));
            }
            if let Some(r) = self
                .routes
                .iter()
                .find(|r| !r.input.contains(crate::window::PARTITION_TOKEN))
            {
                return bad(format!(
                    "partitions are set but route {:?} input {:?} has no {} token",
                    r.pair,
                    r.input,
                    crate::window::PARTITION_TOKEN
                ));
            }
        } else if let Some(r) = self
            .routes
            .iter()
            .find(|r| r.input.contains(crate::window::PARTITION_TOKEN))
        {
            return bad(format!(
                "route {:?} input {:?} needs [partitions]",
                r.pair, r.input
            ));
        }
        routes::validate(&self.routes, self.durable.is_some())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod deploy_example {
    use super::*;

    #[test]
    fn the_shipped_example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/pipeline.toml");
        let c = ServeConfig::load(&path).unwrap();
        assert_eq!(c.routes.len(), 2);
        assert_eq!(
            c,
            {
                let mut d = ServeConfig::with_routes(c.routes.clone());
                d.models_dir = PathBuf::from("models");
                d
            },
            "the example states every default"
        );
    }
}
