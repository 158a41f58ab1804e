//! `pipeline serve`: flags over the config file, then the service.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use pipeline::config::{DeviationConfig, Layer, Side};
use pipeline::{Error, format};

use super::nats::NatsArgs;
use crate::shutdown_signal;

/// `--deviation-side`.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum DeviationSide {
    Both,
    Below,
    Above,
}

impl DeviationSide {
    /// The side a flag names (both where none).
    pub(crate) fn side(flag: Option<Self>) -> Side {
        match flag {
            None | Some(DeviationSide::Both) => Side::Both,
            Some(DeviationSide::Below) => Side::Below,
            Some(DeviationSide::Above) => Side::Above,
        }
    }
}

/// A `--deviation` threshold: a number above 0, in the output's units.
/// `--deviation-windows`: 1 to [`pipeline::config::MAX_WINDOWS`].
pub(crate) fn deviation_windows(text: &str) -> Result<usize, String> {
    let max = pipeline::config::MAX_WINDOWS;
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("{text:?}: a number of windows, 1 to {max}")),
    }
}

pub(crate) fn threshold(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(t) if t.is_finite() && t > 0.0 => Ok(t),
        _ => Err(format!(
            "{s:?} is no threshold: a number above 0, in the model's output units"
        )),
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum OutputFormat {
    Msgpack,
    Json,
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// TOML config with one or more [[route]]s (see deploy/pipeline.toml);
    /// excludes the single-route flags.
    #[arg(long, conflicts_with_all = ["pair", "model", "input", "output", "stride", "window", "shadow", "truth", "deviation", "deviation_side", "deviation_windows", "output_format", "max_gap", "resample", "value_key", "truth_value_key"])]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) conn: NatsArgs,
    /// Pair to serve (its model is `<models-dir>/<pair>.safetensors`).
    #[arg(long)]
    pub(crate) pair: Option<String>,
    /// Model file (default: the pair's shipped model).
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    /// Input subject; the part its wildcards match is the stream key.
    #[arg(long)]
    pub(crate) input: Option<String>,
    /// Output subject prefix (`<output>.<stream key>`).
    #[arg(long)]
    pub(crate) output: Option<String>,
    /// Subject for error events.
    #[arg(long)]
    pub(crate) errors: Option<String>,
    /// Emit a window every N samples.
    #[arg(long)]
    pub(crate) stride: Option<u64>,
    /// Window length for model files that do not record it.
    #[arg(long)]
    pub(crate) window: Option<usize>,
    /// A candidate model to run beside the live one on the same windows
    /// (its translations go to `shadow.<stream key>`).
    #[arg(long, value_name = "FILE")]
    pub(crate) shadow: Option<PathBuf>,
    /// How translations are written: msgpack (default) or json (readable
    /// in `nats sub`).
    #[arg(long, value_enum, default_value = "msgpack")]
    pub(crate) output_format: OutputFormat,
    /// Subject of the true output signal (e.g. `truth.>`): the live and
    /// shadow models are scored against it (`/metrics`, `$SRV.STATS`).
    #[arg(long, value_name = "SUBJECT")]
    pub(crate) truth: Option<String>,
    /// Watch each stream's truth against its translation: a stream whose
    /// truth − translation, averaged over its last 4 windows that share no
    /// sample, passes THRESHOLD (output units) gets a `deviation` event on
    /// `deviations.<stream key>`, and one when it comes back within half of
    /// it [default THRESHOLD: 3 × the model's held-out RMSE].
    #[arg(long, value_name = "THRESHOLD", requires = "truth", num_args = 0..=1,
          value_parser = threshold, allow_negative_numbers = true)]
    pub(crate) deviation: Option<Option<f64>>,
    /// Which way counts as a deviation: both, below (the truth under the
    /// translation: less produced than expected) or above.
    #[arg(long, value_enum, requires = "deviation")]
    pub(crate) deviation_side: Option<DeviationSide>,
    /// How many windows that share no sample the deviation's mean is over
    /// (1 to 1000): fewer, sooner said; more, fewer false alarms [default: 4].
    #[arg(long, value_name = "N", requires = "deviation", value_parser = deviation_windows)]
    pub(crate) deviation_windows: Option<usize>,
    /// Restart a stream's window where its samples' `ts` jump by more than
    /// this (e.g. 30m; 0: never) [default: the gap the model's training
    /// recording was split at, when it had a time column].
    #[arg(long, value_parser = pipeline::config::parse_duration_with_unit)]
    pub(crate) max_gap: Option<std::time::Duration>,
    /// Read the changes of a sensor that publishes on change (its samples
    /// carry no `seq`) on a clock of this step (e.g. 1m; 0: as they come):
    /// each value held until the next and read at every tick, as `retrain
    /// --resample` read the training recording [default: the model's
    /// --resample, if it was trained so, or the output's clock `pipeline
    /// join` held its training input on].
    #[arg(long, value_parser = pipeline::config::parse_duration_with_unit)]
    pub(crate) resample: Option<std::time::Duration>,
    /// The key of a sample map that holds the sample, where senders name it
    /// after its quantity (`{"temperature": 21.5, "humidity": 40}`, as
    /// Zigbee2MQTT and Shelly publish); a dotted key reads inside an object
    /// (`AM2301.Temperature` for Tasmota, `fields.temperature` for
    /// Telegraf's JSON) [default: value].
    #[arg(long, value_name = "KEY")]
    pub(crate) value_key: Option<String>,
    /// The key of a truth map that holds its sample, as --value-key is the
    /// input's (`{"ac_power_kw": 41.2}`); with --truth the same subject as
    /// --input, one message that holds both quantities is read as input and
    /// truth [default: value].
    #[arg(long, value_name = "KEY", requires = "truth")]
    pub(crate) truth_value_key: Option<String>,
    /// Most live streams.
    #[arg(long)]
    pub(crate) max_streams: Option<usize>,
    /// Forget a stream after this long without samples (e.g. 10m, 30s).
    #[arg(long, value_parser = pipeline::config::parse_duration_with_unit)]
    pub(crate) idle_timeout: Option<std::time::Duration>,
    /// Largest batch of windows per model call.
    #[arg(long)]
    pub(crate) max_batch: Option<usize>,
    /// Hold a batch up to this long to fill it (e.g. 2ms) [default: 0: a
    /// batch goes as soon as a compute thread is free].
    #[arg(long, value_parser = pipeline::config::parse_duration_with_unit)]
    pub(crate) max_wait: Option<std::time::Duration>,
    /// Model compute threads.
    #[arg(long)]
    pub(crate) compute_threads: Option<usize>,
    /// Do not register the `pipeline` NATS service.
    #[arg(long)]
    pub(crate) no_service: bool,
    /// Serve Prometheus metrics and /healthz, /readyz on this address (e.g. 127.0.0.1:9464).
    #[arg(long)]
    pub(crate) metrics_addr: Option<String>,
    /// Export a span per batch to this OpenTelemetry collector (OTLP/HTTP
    /// base URL, e.g. http://127.0.0.1:4318); needs a build with the `otel`
    /// feature.
    #[arg(long, value_name = "URL")]
    pub(crate) otlp_endpoint: Option<String>,
    /// Partitioned scale-out: the number of partitions of the server's mapping.
    #[arg(long, requires = "partition")]
    pub(crate) partitions: Option<u32>,
    /// The partitions this instance owns (e.g. 0,3). The input defaults to part.{partition}.>.
    #[arg(long, value_delimiter = ',', requires = "partitions")]
    pub(crate) partition: Vec<u32>,
    /// Durable mode: JetStream in and out, window checkpoints in KV; nothing
    /// accepted is lost or published twice (see RELIABILITY.md).
    #[arg(long)]
    pub(crate) durable: bool,
    /// Durable mode: the JetStream stream holding the samples [default: SAMPLES].
    #[arg(long)]
    pub(crate) input_stream: Option<String>,
    /// Durable mode: the JetStream stream capturing translations [default: TRANSLATED].
    #[arg(long)]
    pub(crate) output_stream: Option<String>,
    /// Durable mode: KV bucket for checkpoints [default: PIPELINE_CHECKPOINTS].
    #[arg(long)]
    pub(crate) checkpoint_bucket: Option<String>,
    /// Durable mode: this instance's name in checkpoints [default: $PIPELINE_INSTANCE, $HOSTNAME].
    #[arg(long)]
    pub(crate) instance: Option<String>,
    /// Durable mode: checkpoint interval (e.g. 200ms).
    #[arg(long, value_parser = pipeline::config::parse_duration_with_unit)]
    pub(crate) checkpoint_interval: Option<std::time::Duration>,
    /// Durable mode: a standby takes a unit over after its checkpoint has not
    /// moved for this long (e.g. 10s).
    #[arg(long, value_parser = pipeline::config::parse_duration_with_unit)]
    pub(crate) lease: Option<std::time::Duration>,
    /// Durable mode: replicas of the streams and bucket it creates [default: 1].
    #[arg(long)]
    pub(crate) replicas: Option<usize>,
}

/// The layers of `serve`'s settings (see `pipeline::config::layers`): the
/// config file, the `PIPELINE_*` environment, then the flags.
/// `models_dir`: `--models-dir` as given on the command line.
pub(crate) fn layers(models_dir: Option<&Path>, a: &ServeArgs) -> Result<Vec<Layer>> {
    let mut layers = Vec::with_capacity(3);
    if let Some(path) = &a.config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        layers.push(Layer::file(&text, path)?);
    }
    let env = Layer::env(std::env::vars())?;
    if let Some(why) = pipeline::config::layers::ignored_warning(env.ignored()) {
        tracing::warn!("{why}");
    }
    layers.push(env);
    // A durable-mode flag adjusts the file's `[durable]` table (`--lease 5s`
    // keeps its other keys); without one, or `--durable`, it is a mistake.
    // (Only a file can have the table; a file whose routes come from the
    // flags does not resolve alone, and is not judged here.)
    let lacks_durable = || {
        a.config.is_none()
            || pipeline::config::layers::resolve(layers.clone())
                .is_ok_and(|r| r.config.durable.is_none())
    };
    if let Some(flag) = a.durable_flag()
        && !a.durable
        && lacks_durable()
    {
        return Err(Error::Config(format!(
            "{flag} is a durable-mode setting: add --durable, or a [durable] table to the configuration"
        ))
        .into());
    }
    layers.push(Layer::flags(flag_settings(models_dir, a)?)?);
    Ok(layers)
}

impl ServeArgs {
    /// The first durable-mode flag given, if any.
    fn durable_flag(&self) -> Option<&'static str> {
        [
            ("--input-stream", self.input_stream.is_some()),
            ("--output-stream", self.output_stream.is_some()),
            ("--checkpoint-bucket", self.checkpoint_bucket.is_some()),
            ("--instance", self.instance.is_some()),
            ("--checkpoint-interval", self.checkpoint_interval.is_some()),
            ("--lease", self.lease.is_some()),
            ("--replicas", self.replicas.is_some()),
        ]
        .into_iter()
        .find_map(|(flag, given)| given.then_some(flag))
    }
}

/// The settings the flags give, keyed as in the config file.
fn flag_settings(models_dir: Option<&Path>, a: &ServeArgs) -> Result<serde_json::Value> {
    use pipeline::config::{RouteConfig, ShadowConfig, defaults};
    use serde_json::{Value, json};
    let mut m = serde_json::Map::new();
    if a.config.is_none() {
        let pair = match (&a.pair, &a.model) {
            (Some(p), _) => p.clone(),
            (None, Some(model)) => format::load(model, a.window)?.meta.pair.ok_or_else(|| {
                super::Usage("the model file does not name its pair: pass --pair".into())
            })?,
            (None, None) => {
                return Err(super::Usage(
                    "say what to serve: --pair NAME, --model FILE or --config FILE".into(),
                )
                .into());
            }
        };
        let input = a.input.clone().unwrap_or_else(|| {
            if a.partitions.is_some() {
                "part.{partition}.>".into()
            } else {
                defaults::input()
            }
        });
        let route = RouteConfig {
            pair,
            model: a.model.clone(),
            input,
            output: a.output.clone().unwrap_or_else(defaults::output),
            stride: a.stride.unwrap_or_else(defaults::stride),
            window: a.window,
            shadow: ShadowConfig {
                model: a.shadow.clone(),
                ..Default::default()
            },
            truth: a.truth.clone(),
            deviation: a.deviation.map(|threshold| DeviationConfig {
                threshold,
                side: DeviationSide::side(a.deviation_side),
                windows: a
                    .deviation_windows
                    .unwrap_or_else(defaults::deviation_windows),
                ..Default::default()
            }),
            max_gap: a.max_gap.map(|d| d.as_secs_f64()),
            resample: a.resample.map(|d| d.as_secs_f64()),
            value_key: a.value_key.clone(),
            truth_value_key: a.truth_value_key.clone(),
            output_format: match a.output_format {
                OutputFormat::Msgpack => pipeline::wire::Format::Msgpack,
                OutputFormat::Json => pipeline::wire::Format::Json,
            },
        };
        m.insert("route".into(), json!([route]));
    }
    let mut put = |key: &str, v: Option<Value>| put_some(&mut m, key, v);
    put("models_dir", models_dir.map(|d| json!(d)));
    put("errors", a.errors.as_ref().map(|v| json!(v)));
    put("max_streams", a.max_streams.map(|v| json!(v)));
    put("max_batch", a.max_batch.map(|v| json!(v)));
    put("compute_threads", a.compute_threads.map(|v| json!(v)));
    put(
        "idle_timeout_s",
        a.idle_timeout.map(|d| json!(d.as_secs_f64())),
    );
    put(
        "max_wait_ms",
        a.max_wait.map(|d| json!(d.as_secs_f64() * 1e3)),
    );
    put("service", a.no_service.then_some(json!(false)));
    put("metrics_addr", a.metrics_addr.as_ref().map(|v| json!(v)));
    put("otlp_endpoint", a.otlp_endpoint.as_ref().map(|v| json!(v)));
    put(
        "partitions",
        a.partitions
            .map(|count| json!({"count": count, "owned": a.partition})),
    );
    if a.durable || a.durable_flag().is_some() {
        let mut d = serde_json::Map::new();
        let mut put = |key: &str, v: Option<Value>| put_some(&mut d, key, v);
        put("input_stream", a.input_stream.as_ref().map(|v| json!(v)));
        put("output_stream", a.output_stream.as_ref().map(|v| json!(v)));
        put(
            "checkpoint_bucket",
            a.checkpoint_bucket.as_ref().map(|v| json!(v)),
        );
        put("replicas", a.replicas.map(|v| json!(v)));
        put("instance", a.instance.as_ref().map(|v| json!(v)));
        put("lease_s", a.lease.map(|t| json!(t.as_secs_f64())));
        put(
            "checkpoint_ms",
            a.checkpoint_interval
                // Under a millisecond is one; zero stays zero (refused).
                .map(|t| json!((t.as_millis() as u64).max(u64::from(!t.is_zero())))),
        );
        m.insert("durable".into(), Value::Object(d));
    }
    Ok(Value::Object(m))
}

/// Sets `key` when a flag gave a value.
fn put_some(
    m: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    v: Option<serde_json::Value>,
) {
    if let Some(v) = v {
        m.insert(key.into(), v);
    }
}

/// `models_dir`: `--models-dir` as given (the environment's
/// `PIPELINE_MODELS_DIR` is a layer of its own).
pub(crate) async fn serve(models_dir: Option<PathBuf>, a: ServeArgs) -> Result<()> {
    // First: a SIGHUP while the service starts would end it.
    #[cfg(unix)]
    pipeline::service::listen_for_sighup();
    let mut config = pipeline::config::layers::resolve(layers(models_dir.as_deref(), &a)?)?.config;
    let (url, auth, origin) =
        pipeline::connect::resolve(&a.conn.flags(), config.nats.as_deref(), &config.auth)?;
    config.auth = auth;
    config.validate()?;
    tracing::info!(nats = %pipeline::config::redact_url(&url), "connecting ({origin})");
    let conn = pipeline::service::connect_with(&url, &config.auth, true).await?;
    // The client retries with back-off on its own; say so while it does.
    let watch = conn.client.clone();
    let shown = pipeline::config::redact_url(&url);
    tokio::spawn(async move {
        use async_nats::connection::State;
        let mut waited = 0u64;
        while watch.connection_state() != State::Connected {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            waited += 1;
            if watch.connection_state() != State::Connected
                && (waited == 1 || waited.is_multiple_of(10))
            {
                tracing::warn!(nats = %shown, waited_s = waited, "NATS unreachable; retrying with back-off");
            }
        }
    });
    let stats = std::sync::Arc::new(pipeline::stats::Stats::default());
    // A second signal while draining stops at once, as operators expect of
    // a service that takes its time (durable mode resumes from its last
    // checkpoint; core mode loses what it held, as on any crash).
    // (Its handlers installed now, before the service says "serving".)
    let signal = shutdown_signal();
    let shutdown = async {
        signal.await;
        tokio::spawn(async {
            shutdown_signal().await;
            tracing::warn!("second signal while stopping: exiting without draining");
            std::process::exit(130);
        });
    };
    pipeline::service::run(conn, config, stats, shutdown).await?;
    Ok(())
}

/// `pipeline config check`: the effective config as JSON on stdout; every
/// route's model loaded; on stderr, each setting with where it came from.
pub(crate) fn check(models_dir: Option<&Path>, a: &ServeArgs) -> Result<()> {
    let resolved = pipeline::config::layers::resolve(layers(models_dir, a)?)?;
    let config = &resolved.config;
    let pairs: Vec<&str> = config.routes.iter().map(|r| r.pair.as_str()).collect();
    for why in pipeline::config::routes::shared_truths(&config.routes) {
        eprintln!("WARNING: {why}");
    }
    for line in pipeline::config::routes::shared_inputs(&config.routes) {
        eprintln!("{line}");
    }
    for r in &config.routes {
        let path = config.model_path(r);
        let m = config
            .load_model(r)
            .with_context(|| format!("route for pair {:?}", r.pair))?;
        let units = match m.meta.scaling {
            Some(s) => format!(
                ", scaling: input (x − {}) / {}, output (y − {}) / {}",
                s.input.center, s.input.scale, s.output.center, s.output.scale
            ),
            None => String::new(),
        };
        eprintln!(
            "route {:<12} {} → {}.<stream>  model {} (id {}, W={}{units}{})",
            r.pair,
            r.input,
            r.output,
            path.display(),
            m.id,
            m.model.window(),
            m.channels()
                .map_or(String::new(), |c| format!(", trained on {c}")),
        );
        if let Some(why) = m.other_route_than(&r.pair, &pairs) {
            eprintln!("  WARNING: {why}");
        }
        // The rule for gaps in time, as the route will take it (from the
        // model's training recording unless the route sets `max_gap`).
        let clock =
            pipeline::window::hold::Resample::of(r.resample, r.max_gap, m.meta.metrics.as_ref());
        let gaps = pipeline::window::TimeGaps::of(r.max_gap, m.meta.metrics.as_ref());
        match (gaps, r.max_gap) {
            (Some(g), given) => eprintln!(
                "  windows {}restart where samples' ts jump over {}s ({})",
                if clock.is_some() {
                    "of samples with seq "
                } else {
                    ""
                },
                g.max_gap_ns as f64 / 1e9,
                match given {
                    Some(_) => "its max_gap",
                    None =>
                        "the gap its model's training recording was split at; max_gap = 0: never",
                }
            ),
            (None, Some(_)) => eprintln!("  windows never restart at gaps in time (max_gap = 0)"),
            (None, None) => {}
        }
        if let Some(c) = clock {
            let trained_on_clock =
                pipeline::window::hold::Resample::trained_on_clock(m.meta.metrics.as_ref());
            let joined = pipeline::window::hold::Resample::joined(m.meta.metrics.as_ref());
            let held = match (c.max_hold_s, r.max_gap) {
                (Some(h), Some(_)) => format!("at most {h}s: its max_gap"),
                (Some(h), None) if trained_on_clock => {
                    format!("at most {h}s: the model's --max-gap")
                }
                (Some(h), None) if joined => {
                    format!("at most {h}s: as pipeline join held it")
                }
                (Some(h), None) => {
                    format!("at most {h}s: the gap its training recording was split at")
                }
                (None, Some(_)) => "however long: max_gap = 0".into(),
                (None, None) if trained_on_clock => "however long, as in training".into(),
                (None, None) => "however long".into(),
            };
            let from = match r.resample {
                Some(_) if !trained_on_clock => {
                    "its resample: each tick the latest sample, as pipeline join takes an input \
                     beside an output logged at another rate"
                }
                Some(_) => "its resample",
                None if joined => {
                    "as its model's training file was joined: pipeline join held the input on the \
                     output's clock; resample = 0: as they come"
                }
                None => {
                    "as its model's training recording was: retrain --resample; resample = 0: as they come"
                }
            };
            eprintln!(
                "  samples without seq (a sensor's changes) are read every {}s{} ({from}), each \
                 value held until the next ({held})",
                c.step_s,
                match c.phase_s {
                    0.0 => String::new(),
                    p => format!(", {p}s into each step as the joined output's rows"),
                }
            );
            let idle = std::time::Duration::from_secs_f64(config.idle_timeout_s.max(0.0));
            let idle = pipeline::window::TimeGaps::quiet_kept(gaps, idle);
            for why in c.warnings(idle, m.meta.metrics.as_ref()) {
                eprintln!("  WARNING: {why}");
            }
        }
        if let Some(key) = &r.value_key {
            eprintln!("  a sample map's sample is read from its key {key:?} (value_key)");
        }
        if let Some(key) = &r.truth_value_key {
            eprintln!("  a truth map's sample is read from its key {key:?} (truth_value_key)");
        }
        if let Some(d) = &r.deviation {
            eprintln!("  {}", d.describe(&m));
        }
        if let Some(why) = m.baseline_warning() {
            eprintln!("  WARNING: {why}");
        }
    }
    let (url, auth, origin) =
        pipeline::connect::resolve(&a.conn.flags(), config.nats.as_deref(), &config.auth)?;
    eprintln!("\nsettings (flags > PIPELINE_* environment > config file > defaults):");
    let rows = resolved.settings();
    let width = rows.iter().map(|(k, ..)| k.len()).max().unwrap_or(0);
    let vwidth = rows
        .iter()
        .map(|(_, v, _)| v.len().min(40))
        .max()
        .unwrap_or(0);
    for (key, value, from) in rows
        .iter()
        .filter(|(k, ..)| k != "nats" && !k.starts_with("auth."))
    {
        eprintln!("  {key:<width$} = {value:<vwidth$}  {from}");
    }
    eprintln!(
        "  {:<width$} = {:<vwidth$}  {origin}",
        "nats",
        pipeline::config::redact_url(&url)
    );
    // The connection as it will be made (a flag's, a context's, the
    // default), secrets masked as the config's are.
    let shown = pipeline::config::ServeConfig {
        nats: Some(url),
        auth,
        ..config.clone()
    };
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(())
}
