//! `pipeline serve`: flags over the config file, then the service.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use pipeline::format;

use super::nats::NatsArgs;
use crate::shutdown_signal;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum OutputFormat {
    Msgpack,
    Json,
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// TOML config with one or more [[route]]s (see deploy/pipeline.toml);
    /// excludes the single-route flags.
    #[arg(long, conflicts_with_all = ["pair", "model", "input", "output", "stride", "window", "shadow", "truth", "output_format"])]
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
    /// Most live streams.
    #[arg(long)]
    pub(crate) max_streams: Option<usize>,
    /// Forget a stream after this long without samples (e.g. 10m, 30s).
    #[arg(long, value_parser = pipeline::config::parse_duration)]
    pub(crate) idle_timeout: Option<std::time::Duration>,
    /// Largest batch of windows per model call.
    #[arg(long)]
    pub(crate) max_batch: Option<usize>,
    /// Hold a batch up to this long to fill it (e.g. 2ms) [default: 0: a
    /// batch goes as soon as a compute thread is free].
    #[arg(long, value_parser = pipeline::config::parse_duration)]
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
    #[arg(long, requires = "durable")]
    pub(crate) input_stream: Option<String>,
    /// Durable mode: the JetStream stream capturing translations [default: TRANSLATED].
    #[arg(long, requires = "durable")]
    pub(crate) output_stream: Option<String>,
    /// Durable mode: KV bucket for checkpoints [default: PIPELINE_CHECKPOINTS].
    #[arg(long, requires = "durable")]
    pub(crate) checkpoint_bucket: Option<String>,
    /// Durable mode: this instance's name in checkpoints [default: $PIPELINE_INSTANCE, $HOSTNAME].
    #[arg(long, requires = "durable")]
    pub(crate) instance: Option<String>,
    /// Durable mode: checkpoint interval (e.g. 200ms).
    #[arg(long, requires = "durable", value_parser = pipeline::config::parse_duration)]
    pub(crate) checkpoint_interval: Option<std::time::Duration>,
    /// Durable mode: a standby takes a unit over after its checkpoint has not
    /// moved for this long (e.g. 10s).
    #[arg(long, requires = "durable", value_parser = pipeline::config::parse_duration)]
    pub(crate) lease: Option<std::time::Duration>,
    /// Durable mode: replicas of the streams and bucket it creates [default: 1].
    #[arg(long, requires = "durable")]
    pub(crate) replicas: Option<usize>,
}

/// `models_dir`: given by flag or `PIPELINE_MODELS_DIR` (over the config
/// file's).
pub(crate) async fn serve(models_dir: Option<PathBuf>, a: ServeArgs) -> Result<()> {
    use pipeline::config::{RouteConfig, ServeConfig, defaults};
    let mut config = match &a.config {
        Some(path) => {
            let mut c = ServeConfig::load(path)?;
            if let Some(dir) = &models_dir {
                c.models_dir = dir.clone();
            }
            c
        }
        None => {
            let pair = match (&a.pair, &a.model) {
                (Some(p), _) => p.clone(),
                (None, Some(m)) => format::load(m, a.window)?
                    .meta
                    .pair
                    .context("the model file does not name its pair: pass --pair")?,
                (None, None) => {
                    bail!("say what to serve: --pair NAME, --model FILE or --config FILE")
                }
            };
            let mut c = ServeConfig::with_routes(vec![RouteConfig {
                pair,
                model: a.model.clone(),
                input: a.input.clone().unwrap_or_else(|| {
                    if a.partitions.is_some() {
                        "part.{partition}.>".into()
                    } else {
                        defaults::input()
                    }
                }),
                output: a.output.clone().unwrap_or_else(defaults::output),
                stride: a.stride.unwrap_or_else(defaults::stride),
                window: a.window,
                shadow: pipeline::config::ShadowConfig {
                    model: a.shadow.clone(),
                    ..Default::default()
                },
                truth: a.truth.clone(),
                output_format: match a.output_format {
                    OutputFormat::Msgpack => pipeline::wire::Format::Msgpack,
                    OutputFormat::Json => pipeline::wire::Format::Json,
                },
            }]);
            c.models_dir = models_dir.unwrap_or_else(defaults::models_dir);
            c
        }
    };
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = a.$f.clone() { config.$f = v; } )* };
    }
    set!(errors, max_streams, max_batch, compute_threads);
    if let Some(d) = a.idle_timeout {
        config.idle_timeout_s = d.as_secs_f64();
    }
    if let Some(d) = a.max_wait {
        config.max_wait_ms = d.as_secs_f64() * 1e3;
    }
    if a.no_service {
        config.service = false;
    }
    if let Some(addr) = &a.metrics_addr {
        config.metrics_addr = Some(addr.clone());
    }
    if let Some(count) = a.partitions {
        config.partitions = Some(pipeline::config::Partitions {
            count,
            owned: a.partition.clone(),
        });
    }
    if a.durable {
        let d = config.durable.get_or_insert_with(Default::default);
        macro_rules! set_durable {
            ($($f:ident),*) => { $( if let Some(v) = a.$f.clone() { d.$f = v; } )* };
        }
        set_durable!(input_stream, output_stream, checkpoint_bucket, replicas);
        if let Some(i) = &a.instance {
            d.instance = Some(i.clone());
        }
        if let Some(t) = a.lease {
            d.lease_s = t.as_secs_f64();
        }
        if let Some(t) = a.checkpoint_interval {
            d.checkpoint_ms = (t.as_millis() as u64).max(1);
        }
    }
    config.validate()?;
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
    pipeline::service::run(conn, config, stats, shutdown_signal()).await?;
    Ok(())
}
