//! Service configuration: one typed TOML file (unknown keys rejected), or
//! the equivalent single-route command-line flags. Defaults live here only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
    #[serde(default = "defaults::max_wait_ms")]
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
    /// A stream with no sample for this many seconds is forgotten.
    #[serde(default = "defaults::idle_timeout_s")]
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
    #[serde(default = "defaults::checkpoint_ms")]
    pub checkpoint_ms: u64,
    /// A checkpoint unchanged this long means its owner is gone.
    #[serde(default = "defaults::lease_s")]
    pub lease_s: f64,
    /// Duplicate window of a created output stream (at least 120 s).
    #[serde(default = "defaults::duplicate_window_s")]
    pub duplicate_window_s: f64,
    /// Unacknowledged input messages per consumer before the server pauses
    /// delivery; a checkpoint is taken early at half of it.
    #[serde(default = "defaults::max_ack_pending")]
    pub max_ack_pending: i64,
    /// Replicas of the streams and bucket this instance creates (3 on a
    /// 3-node cluster survives the loss of a node).
    #[serde(default = "defaults::replicas")]
    pub replicas: usize,
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
        }
    }
}

impl DurableConfig {
    /// The instance name: configured, else from the environment or host.
    pub fn instance_name(&self) -> String {
        self.instance
            .clone()
            .or_else(|| std::env::var("PIPELINE_INSTANCE").ok())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "pipeline".into())
    }

    fn validate(&self) -> Result<()> {
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        for (what, n) in [
            ("input_stream", &self.input_stream),
            ("output_stream", &self.output_stream),
            ("checkpoint_bucket", &self.checkpoint_bucket),
        ] {
            if !name_ok(n) {
                return Err(Error::Config(format!(
                    "durable.{what} {n:?}: use letters, digits, - and _"
                )));
            }
        }
        if self.checkpoint_ms == 0 || self.max_ack_pending < 2 || !(1..=5).contains(&self.replicas)
        {
            return Err(Error::Config(
                "durable.checkpoint_ms must be > 0, max_ack_pending ≥ 2, replicas 1 to 5".into(),
            ));
        }
        if !(self.lease_s.is_finite() && self.lease_s * 1e3 > 2.0 * self.checkpoint_ms as f64) {
            return Err(Error::Config(format!(
                "durable.lease_s {} must exceed two checkpoint intervals",
                self.lease_s
            )));
        }
        if !(self.duplicate_window_s.is_finite() && self.duplicate_window_s >= 120.0) {
            return Err(Error::Config(format!(
                "durable.duplicate_window_s {} must be at least 120",
                self.duplicate_window_s
            )));
        }
        Ok(())
    }
}

/// NATS credentials and TLS. Secrets are never logged: `Debug` and the
/// serialised form (`pipeline config check`) mask them.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NatsAuth {
    /// User name (with `password`). Env: `NATS_USER` (see [`crate::connect`]; old: `PIPELINE_NATS_USER`).
    #[serde(default)]
    pub user: Option<String>,
    /// Password. Env: `NATS_PASSWORD` (see [`crate::connect`]; old: `PIPELINE_NATS_PASSWORD`).
    #[serde(default, serialize_with = "mask")]
    pub password: Option<String>,
    /// Token. Env: `NATS_TOKEN` (see [`crate::connect`]; old: `PIPELINE_NATS_TOKEN`).
    #[serde(default, serialize_with = "mask")]
    pub token: Option<String>,
    /// File holding an NKey seed (`SU…`). Env: `NATS_NKEY` (see [`crate::connect`]; old: `PIPELINE_NATS_NKEY_SEED_FILE`).
    #[serde(default)]
    pub nkey_seed_file: Option<PathBuf>,
    /// A `.creds` file (JWT + seed). Env: `NATS_CREDS` (see [`crate::connect`]; old: `PIPELINE_NATS_CREDS`).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// CA certificate(s) to trust (PEM); implies TLS. Env: `NATS_CA` (see [`crate::connect`]; old: `PIPELINE_NATS_TLS_CA`).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate (PEM), with `tls_key_file`. Env: `NATS_CERT` (see [`crate::connect`]; old: `PIPELINE_NATS_TLS_CERT`).
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// Client key (PEM). Env: `NATS_KEY` (see [`crate::connect`]; old: `PIPELINE_NATS_TLS_KEY`).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// Refuse to connect without TLS. Env: `PIPELINE_NATS_TLS_REQUIRED=1`.
    #[serde(default)]
    pub tls_required: bool,
}

/// `nats://user:secret@host` → `nats://***@host` (for logs and printed configs).
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|u| match (u.find("://"), u.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}***{}", &u[..s + 3], &u[at..]),
            (None, Some(at)) => format!("***{}", &u[at..]),
            _ => u.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn mask_url<S: serde::Serializer>(
    v: &Option<String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(u) => s.serialize_some(&redact_url(u)),
        None => s.serialize_none(),
    }
}

fn mask<S: serde::Serializer>(v: &Option<String>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("********"),
        None => s.serialize_none(),
    }
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |v: &Option<String>| v.as_ref().map(|_| "********");
        f.debug_struct("NatsAuth")
            .field("user", &self.user)
            .field("password", &hide(&self.password))
            .field("token", &hide(&self.token))
            .field("nkey_seed_file", &self.nkey_seed_file)
            .field("credentials_file", &self.credentials_file)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .field("tls_required", &self.tls_required)
            .finish()
    }
}

impl NatsAuth {
    /// Fills unset fields from the deprecated `PIPELINE_NATS_*` variables
    /// (the `NATS_*` ones are read by [`crate::connect`]).
    pub fn with_env(mut self) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        self.user = self.user.or_else(|| var("PIPELINE_NATS_USER"));
        self.password = self.password.or_else(|| var("PIPELINE_NATS_PASSWORD"));
        self.token = self.token.or_else(|| var("PIPELINE_NATS_TOKEN"));
        self.nkey_seed_file = self
            .nkey_seed_file
            .or_else(|| var("PIPELINE_NATS_NKEY_SEED_FILE").map(Into::into));
        self.credentials_file = self
            .credentials_file
            .or_else(|| var("PIPELINE_NATS_CREDS").map(Into::into));
        self.tls_ca_file = self
            .tls_ca_file
            .or_else(|| var("PIPELINE_NATS_TLS_CA").map(Into::into));
        self.tls_cert_file = self
            .tls_cert_file
            .or_else(|| var("PIPELINE_NATS_TLS_CERT").map(Into::into));
        self.tls_key_file = self
            .tls_key_file
            .or_else(|| var("PIPELINE_NATS_TLS_KEY").map(Into::into));
        self.tls_required |=
            var("PIPELINE_NATS_TLS_REQUIRED").is_some_and(|v| v == "1" || v == "true");
        self
    }

    pub fn validate(&self) -> Result<()> {
        let methods = [
            self.user.is_some() || self.password.is_some(),
            self.token.is_some(),
            self.nkey_seed_file.is_some(),
            self.credentials_file.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(Error::Config(
                "auth: choose one of user/password, token, nkey_seed_file, credentials_file".into(),
            ));
        }
        if self.user.is_some() != self.password.is_some() {
            return Err(Error::Config("auth: user and password go together".into()));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(Error::Config(
                "auth: tls_cert_file and tls_key_file go together".into(),
            ));
        }
        Ok(())
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
    /// Subject of the true output signal (same wildcards, keys and `seq` as
    /// `input`): the route then reports the live and shadow models' running
    /// MSE against it.
    #[serde(default)]
    pub truth: Option<String>,
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

pub mod defaults {
    use std::path::PathBuf;
    pub fn shadow_output() -> String {
        "shadow".into()
    }
    pub fn errors() -> String {
        "pipeline.errors".into()
    }
    pub fn max_batch() -> usize {
        256
    }
    /// No wait: a window goes as soon as a compute thread is free.
    pub fn max_wait_ms() -> f64 {
        0.0
    }
    pub fn compute_threads() -> usize {
        1
    }
    pub fn queue() -> usize {
        4096
    }
    pub fn max_streams() -> usize {
        100_000
    }
    pub fn idle_timeout_s() -> f64 {
        600.0
    }
    pub fn service() -> bool {
        true
    }
    pub fn models_dir() -> PathBuf {
        PathBuf::from("models")
    }
    pub fn input() -> String {
        "samples.>".into()
    }
    pub fn output() -> String {
        "translated".into()
    }
    pub fn stride() -> u64 {
        1
    }
    pub fn input_stream() -> String {
        "SAMPLES".into()
    }
    pub fn output_stream() -> String {
        "TRANSLATED".into()
    }
    pub fn checkpoint_bucket() -> String {
        "PIPELINE_CHECKPOINTS".into()
    }
    pub fn checkpoint_ms() -> u64 {
        200
    }
    pub fn lease_s() -> f64 {
        10.0
    }
    pub fn duplicate_window_s() -> f64 {
        120.0
    }
    pub fn max_ack_pending() -> i64 {
        100_000
    }
    pub fn replicas() -> usize {
        1
    }
    pub const NATS_URL: &str = "nats://127.0.0.1:4222";
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
            auth: NatsAuth::default(),
            partitions: None,
            durable: None,
            routes,
        }
    }

    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let cfg: Self = toml::from_str(text)
            .map_err(|e| Error::Config(format!("{}: {e}", origin.display())))?;
        cfg.validate()?;
        Ok(cfg)
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

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        self.auth.validate()?;
        if let Some(d) = &self.durable {
            d.validate()?;
        }
        if self.routes.is_empty() {
            return bad("no routes: add at least one [[route]]".into());
        }
        if self.max_batch == 0
            || self.compute_threads == 0
            || self.queue == 0
            || self.max_streams == 0
        {
            return bad(
                "max_batch, compute_threads, queue and max_streams must be positive".into(),
            );
        }
        if !self.max_wait_ms.is_finite() || self.max_wait_ms < 0.0 {
            return bad(format!("max_wait_ms {} must be ≥ 0", self.max_wait_ms));
        }
        if !self.idle_timeout_s.is_finite() || self.idle_timeout_s <= 0.0 {
            return bad(format!(
                "idle_timeout_s {} must be > 0",
                self.idle_timeout_s
            ));
        }
        if let Some(p) = &self.partitions {
            if p.count == 0 || p.owned.is_empty() || p.owned.iter().any(|o| *o >= p.count) {
                return bad(format!(
                    "partitions: owned {:?} must be a non-empty subset of 0..{}",
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
        for (i, r) in self.routes.iter().enumerate() {
            if r.stride == 0 {
                return bad(format!("route {}: stride must be ≥ 1", i + 1));
            }
            crate::window::SubjectPattern::parse(&r.input)
                .map_err(|e| Error::Config(format!("route {}: {e}", i + 1)))?;
            crate::window::validate_key(&r.output)
                .map_err(|e| Error::Config(format!("route {}: output prefix: {e}", i + 1)))?;
            crate::window::validate_key(&r.shadow.output).map_err(|e| {
                Error::Config(format!("route {}: shadow output prefix: {e}", i + 1))
            })?;
            if r.shadow.output == r.output {
                return bad(format!(
                    "route {}: the shadow's output {:?} is the live output",
                    i + 1,
                    r.output
                ));
            }
            if let Some(t) = &r.truth {
                crate::window::SubjectPattern::parse(t)
                    .map_err(|e| Error::Config(format!("route {}: truth: {e}", i + 1)))?;
            }
            if self.routes[..i].iter().any(|o| o.input == r.input) {
                return bad(format!(
                    "route {}: input {:?} is used twice",
                    i + 1,
                    r.input
                ));
            }
        }
        Ok(())
    }
}

/// Parses a duration such as `10m`, `2ms`, `1.5s`, `1h`, or plain seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (try 10m, 2ms, 30s)"))?;
    let secs = match unit {
        "ms" => v / 1e3,
        "us" | "µs" => v / 1e6,
        "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?} (ms, s, m, h)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_config_parses_and_unknown_keys_are_rejected() {
        let text = r#"
            nats = "nats://10.0.0.1:4222"
            max_batch = 64
            [[route]]
            pair = "sin-cos"
            [[route]]
            pair = "damped"
            input = "plant.*.temp"
            output = "out.damped"
            stride = 4
        "#;
        let c = ServeConfig::from_toml(text, Path::new("x.toml")).unwrap();
        assert_eq!(c.max_batch, 64);
        assert_eq!(c.max_wait_ms, 0.0);
        assert_eq!(c.routes[0].input, "samples.>");
        assert_eq!(c.routes[1].stride, 4);
        assert_eq!(
            c.model_path(&c.routes[1]),
            PathBuf::from("models/damped.safetensors")
        );

        let e = ServeConfig::from_toml("max_bach = 3\n[[route]]\npair='x'", Path::new("x.toml"));
        assert!(e.unwrap_err().to_string().contains("max_bach"));
        let e = ServeConfig::from_toml("[[route]]\npair='x'\ncolor=1", Path::new("x.toml"));
        assert!(e.unwrap_err().to_string().contains("color"));
    }

    #[test]
    fn durable_section_defaults_and_limits() {
        let base = "[[route]]\npair = 'sin-cos'\n";
        let c = ServeConfig::from_toml(&format!("[durable]\n{base}"), Path::new("x")).unwrap();
        let d = c.durable.unwrap();
        assert_eq!(d, DurableConfig::default());
        assert_eq!((d.input_stream.as_str(), d.checkpoint_ms), ("SAMPLES", 200));
        assert!(
            ServeConfig::from_toml(base, Path::new("x"))
                .unwrap()
                .durable
                .is_none()
        );
        for bad in [
            "duplicate_window_s = 60",
            "input_stream = 'A.B'",
            "lease_s = 0.1",
            "max_ack_pending = 1",
            "checkpoint_ms = 0",
            "replicas = 0",
            "colour = 1",
        ] {
            let text = format!("[durable]\n{bad}\n{base}");
            assert!(
                ServeConfig::from_toml(&text, Path::new("x")).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn invalid_values_are_refused() {
        for text in [
            "",
            "[[route]]\npair='a'\nstride=0",
            "[[route]]\npair='a'\ninput='samples'",
            "[[route]]\npair='a'\n[[route]]\npair='b'",
            "max_wait_ms=-1\n[[route]]\npair='a'",
            "[[route]]\npair='a'\noutput='a b'",
        ] {
            assert!(
                ServeConfig::from_toml(text, Path::new("t")).is_err(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn secrets_are_masked_and_auth_methods_checked() {
        let c = ServeConfig::from_toml(
            "[auth]\nuser = 'svc'\npassword = 'hunter2'\n[[route]]\npair = 'sin-cos'",
            Path::new("t"),
        )
        .unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(
            !json.contains("hunter2") && json.contains("********"),
            "{json}"
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(redact_url("nats://u:pw@h:4222"), "nats://***@h:4222");
        assert_eq!(
            redact_url("nats://h:4222,tls://a:b@g"),
            "nats://h:4222,tls://***@g"
        );
        for text in [
            "[auth]\ntoken = 't'\nuser = 'u'\npassword = 'p'\n[[route]]\npair = 'a'",
            "[auth]\nuser = 'u'\n[[route]]\npair = 'a'",
            "[auth]\ntls_cert_file = 'c.pem'\n[[route]]\npair = 'a'",
        ] {
            assert!(
                ServeConfig::from_toml(text, Path::new("t")).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn partitions_and_inputs_must_agree() {
        let route = "[[route]]\npair = 'sin-cos'\ninput = 'part.{partition}.>'\n";
        let ok = format!("[partitions]\ncount = 4\nowned = [0, 3]\n{route}");
        let c = ServeConfig::from_toml(&ok, Path::new("t")).unwrap();
        assert_eq!(c.subscriptions(&c.routes[0]), vec!["part.0.>", "part.3.>"]);
        for bad in [
            route.to_string(), // token, no partitions
            "[partitions]\ncount = 4\nowned = [0]\n[[route]]\npair = 'a'".into(), // partitions, no token
            format!("[partitions]\ncount = 4\nowned = [4]\n{route}"),             // out of range
            format!("[partitions]\ncount = 4\nowned = []\n{route}"),
        ] {
            assert!(
                ServeConfig::from_toml(&bad, Path::new("t")).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2ms").unwrap(), Duration::from_millis(2));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}

#[cfg(test)]
mod deploy_example {
    use super::*;

    #[test]
    fn the_shipped_example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/pipeline.toml");
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
