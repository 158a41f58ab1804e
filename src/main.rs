//! The `pipeline` command line: parses flags, shows progress, and calls the
//! library. Errors end here, as `anyhow` reports with a non-zero exit.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use pipeline::data::Dataset;
use pipeline::format::{self, Metadata};
use pipeline::pairs::{self, PAIRS};
use pipeline::train::{self, Recipe, TrainData};
use pipeline::{eval, report};

#[derive(Parser)]
#[command(
    name = "pipeline",
    version,
    about = "Translate live numeric signals with a seq2seq LSTM"
)]
struct Cli {
    /// Folder where models are found by pair name (`<dir>/<pair>.safetensors`).
    #[arg(
        long,
        global = true,
        env = "PIPELINE_MODELS_DIR",
        default_value = "models"
    )]
    models_dir: PathBuf,

    /// Compute threads for the tensor backend (candle's rayon pool) [default: 1].
    /// For `retrain --data`: threads sharing each mini-batch [default: all cores].
    #[arg(long, global = true)]
    threads: Option<usize>,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "human")]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the built-in translation pairs.
    Pairs,
    /// Train a model and write it with its report and loss curve.
    Retrain(RetrainArgs),
    /// Measure a model's accuracy and draw the translation figure.
    Eval(EvalArgs),
    /// Translate windows from stdin (one per line, comma-separated) to stdout.
    Translate(TranslateArgs),
    /// Serve translations over NATS until SIGINT/SIGTERM.
    Serve(Box<ServeArgs>),
    /// Publish a pair's input curve as live streams (for demos and tests).
    Publish(PublishArgs),
    /// Print translations as they arrive, with error and latency.
    Tail(TailArgs),
    /// Measure speed: `--model-only` times the fast and reference model paths.
    Bench(BenchArgs),
    /// Reload the models of every running instance from their files (or
    /// --model) and show each instance's answer.
    Reload(ControlArgs),
    /// Set the shadow model of every running instance (--model), or stop
    /// shadowing (no --model).
    Shadow(ControlArgs),
    /// Make the shadow the live model on every running instance.
    Promote(ControlArgs),
    /// Every running instance's routes, models and comparisons.
    Status(StatusArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Give a model file physical units: write a copy with an input and
    /// output scaling (normalised = (x − center) / scale) in its metadata,
    /// e.g. for a PyTorch export trained on standardised data.
    SetScaling(SetScalingArgs),
}

#[derive(Args)]
struct ControlArgs {
    #[command(flatten)]
    nats: NatsArgs,
    /// The route (default: every route for reload, the first for shadow and
    /// promote).
    #[arg(long)]
    pair: Option<String>,
    /// Model file, as the instances see it (a path that exists here is sent
    /// absolute).
    #[arg(long)]
    model: Option<PathBuf>,
    /// How long to wait for the answers.
    #[arg(long, default_value = "5s", value_parser = pipeline::config::parse_duration)]
    wait: std::time::Duration,
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    nats: NatsArgs,
    /// Print each instance's `$SRV.STATS` as JSON (one line each).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SetScalingArgs {
    /// The model file (a tensors-only export is fine).
    #[arg(long)]
    model: PathBuf,
    /// Where to write the copy (may be the same file).
    #[arg(long)]
    out: PathBuf,
    /// The input channel's center (the training mean, for standard scaling).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    input_center: f64,
    /// The input channel's scale (the training standard deviation).
    #[arg(long, default_value_t = 1.0)]
    input_scale: f64,
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    output_center: f64,
    #[arg(long, default_value_t = 1.0)]
    output_scale: f64,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a serve config (and load every route's model); print the
    /// effective config, defaults filled in, as JSON.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Time the model alone (otherwise: end to end through NATS).
    #[arg(long)]
    model_only: bool,
    /// End to end: the NATS server and credentials (the service runs in
    /// this process unless --external-service).
    #[command(flatten)]
    conn: NatsArgs,
    /// End to end: a `pipeline serve` is already running; do not start one.
    #[arg(long)]
    external_service: bool,
    /// End to end: streams.
    #[arg(long, default_value_t = 1000)]
    streams: usize,
    /// End to end: samples per second per stream (0 = flat out).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// End to end: write every latency (µs, one per line) to this file.
    #[arg(long)]
    latencies: Option<PathBuf>,
    /// End to end: run the service in durable mode (samples published to
    /// JetStream and acknowledged; loss counted from the output stream).
    #[arg(long)]
    durable: bool,
    /// End to end: plot RSS and windows received over time to this PNG.
    #[arg(long)]
    rss_plot: Option<PathBuf>,
    /// End to end: follow the memory of this process (e.g. a `pipeline
    /// serve` run with --external-service) instead of this one.
    #[arg(long)]
    rss_pid: Option<u32>,
    /// End to end: the service's --max-wait (default: the service's, 0).
    #[arg(long, value_parser = pipeline::config::parse_duration)]
    max_wait: Option<std::time::Duration>,
    /// End to end: publishing time (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = pipeline::config::parse_duration)]
    duration: std::time::Duration,
    /// Latency against load: open-loop Poisson arrivals at each of --loads
    /// (fractions of the model-only capacity measured first), p50/p99/p99.9
    /// and throughput per load.
    #[arg(long, conflicts_with_all = ["model_only", "durable", "external_service"])]
    latency: bool,
    /// With --latency: the loads, as fractions of the measured capacity.
    #[arg(long, value_delimiter = ',', default_value = "0.01,0.1,0.5,0.9")]
    loads: Vec<f64>,
    /// With --latency: also run every load through a batcher with this fixed
    /// max_wait (alternating), to compare in one run.
    #[arg(long, value_parser = pipeline::config::parse_duration)]
    compare_max_wait: Option<std::time::Duration>,
    /// With --latency: draw p50 and p99 against throughput to this PNG.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Batch sizes.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256,1024")]
    batch: Vec<usize>,
    /// Thread counts (each thread runs whole batches).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Paths to time.
    #[arg(long, value_delimiter = ',', default_value = "fast,reference")]
    path: Vec<BenchPath>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Measurements per case (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// One JSON object per case, one per line.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum BenchPath {
    Fast,
    Reference,
}

#[derive(Args)]
struct NatsArgs {
    /// NATS server URL(s), comma-separated [default: the context's or config's, or
    /// nats://127.0.0.1:4222].
    #[arg(long = "nats", visible_alias = "server", env = "NATS_URL")]
    url: Option<String>,
    /// A `nats` CLI context (~/.config/nats/context/NAME.json) [default: the one
    /// `nats context select` chose, if any].
    #[arg(long, env = "NATS_CONTEXT")]
    context: Option<String>,
    /// User name (with --password).
    #[arg(long, env = "NATS_USER")]
    user: Option<String>,
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A credentials file (JWT and NKey seed).
    #[arg(long, env = "NATS_CREDS")]
    creds: Option<PathBuf>,
    /// A file holding an NKey seed.
    #[arg(long, env = "NATS_NKEY")]
    nkey: Option<PathBuf>,
    /// Client certificate (PEM), with --tlskey.
    #[arg(long, env = "NATS_CERT")]
    tlscert: Option<PathBuf>,
    #[arg(long, env = "NATS_KEY")]
    tlskey: Option<PathBuf>,
    /// CA certificate(s) to trust (PEM); implies TLS.
    #[arg(long, env = "NATS_CA")]
    tlsca: Option<PathBuf>,
}

impl NatsArgs {
    fn flags(&self) -> pipeline::connect::ConnectFlags {
        pipeline::connect::ConnectFlags {
            url: self.url.clone(),
            context: self.context.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            creds: self.creds.clone(),
            nkey: self.nkey.clone(),
            tls_cert: self.tlscert.clone(),
            tls_key: self.tlskey.clone(),
            tls_ca: self.tlsca.clone(),
        }
    }

    /// Connects as every subcommand does (see `pipeline::connect`).
    async fn connect(&self) -> Result<pipeline::service::Connection> {
        let (url, auth, origin) =
            pipeline::connect::resolve(&self.flags(), None, &Default::default())?;
        tracing::debug!(nats = %pipeline::config::redact_url(&url), "{origin}");
        Ok(pipeline::service::connect_with(&url, &auth, false).await?)
    }
}

#[derive(Args)]
struct ServeArgs {
    /// TOML config with one or more [[route]]s (see deploy/pipeline.toml);
    /// excludes the single-route flags.
    #[arg(long, conflicts_with_all = ["pair", "model", "input", "output", "stride", "window", "shadow", "truth"])]
    config: Option<PathBuf>,
    #[command(flatten)]
    conn: NatsArgs,
    /// Pair to serve (its model is `<models-dir>/<pair>.safetensors`).
    #[arg(long)]
    pair: Option<String>,
    /// Model file (default: the pair's shipped model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Input subject; the part its wildcards match is the stream key.
    #[arg(long)]
    input: Option<String>,
    /// Output subject prefix (`<output>.<stream key>`).
    #[arg(long)]
    output: Option<String>,
    /// Subject for error events.
    #[arg(long)]
    errors: Option<String>,
    /// Emit a window every N samples.
    #[arg(long)]
    stride: Option<u64>,
    /// Window length for model files that do not record it.
    #[arg(long)]
    window: Option<usize>,
    /// A candidate model to run beside the live one on the same windows
    /// (its translations go to `shadow.<stream key>`).
    #[arg(long, value_name = "FILE")]
    shadow: Option<PathBuf>,
    /// Subject of the true output signal (e.g. `truth.>`): the live and
    /// shadow models are scored against it (`/metrics`, `$SRV.STATS`).
    #[arg(long, value_name = "SUBJECT")]
    truth: Option<String>,
    /// Most live streams.
    #[arg(long)]
    max_streams: Option<usize>,
    /// Forget a stream after this long without samples (e.g. 10m, 30s).
    #[arg(long, value_parser = pipeline::config::parse_duration)]
    idle_timeout: Option<std::time::Duration>,
    /// Largest batch of windows per model call.
    #[arg(long)]
    max_batch: Option<usize>,
    /// Hold a batch up to this long to fill it (e.g. 2ms) [default: 0: a
    /// batch goes as soon as a compute thread is free].
    #[arg(long, value_parser = pipeline::config::parse_duration)]
    max_wait: Option<std::time::Duration>,
    /// Model compute threads.
    #[arg(long)]
    compute_threads: Option<usize>,
    /// Do not register the `pipeline` NATS service.
    #[arg(long)]
    no_service: bool,
    /// Serve Prometheus metrics and /healthz, /readyz on this address (e.g. 127.0.0.1:9464).
    #[arg(long)]
    metrics_addr: Option<String>,
    /// Partitioned scale-out: the number of partitions of the server's mapping.
    #[arg(long, requires = "partition")]
    partitions: Option<u32>,
    /// The partitions this instance owns (e.g. 0,3). The input defaults to part.{partition}.>.
    #[arg(long, value_delimiter = ',', requires = "partitions")]
    partition: Vec<u32>,
    /// Durable mode: JetStream in and out, window checkpoints in KV; nothing
    /// accepted is lost or published twice (see RELIABILITY.md).
    #[arg(long)]
    durable: bool,
    /// Durable mode: the JetStream stream holding the samples [default: SAMPLES].
    #[arg(long, requires = "durable")]
    input_stream: Option<String>,
    /// Durable mode: the JetStream stream capturing translations [default: TRANSLATED].
    #[arg(long, requires = "durable")]
    output_stream: Option<String>,
    /// Durable mode: KV bucket for checkpoints [default: PIPELINE_CHECKPOINTS].
    #[arg(long, requires = "durable")]
    checkpoint_bucket: Option<String>,
    /// Durable mode: this instance's name in checkpoints [default: $PIPELINE_INSTANCE, $HOSTNAME].
    #[arg(long, requires = "durable")]
    instance: Option<String>,
    /// Durable mode: checkpoint interval (e.g. 200ms).
    #[arg(long, requires = "durable", value_parser = pipeline::config::parse_duration)]
    checkpoint_interval: Option<std::time::Duration>,
    /// Durable mode: a standby takes a unit over after its checkpoint has not
    /// moved for this long (e.g. 10s).
    #[arg(long, requires = "durable", value_parser = pipeline::config::parse_duration)]
    lease: Option<std::time::Duration>,
    /// Durable mode: replicas of the streams and bucket it creates [default: 1].
    #[arg(long, requires = "durable")]
    replicas: Option<usize>,
}

#[derive(Args)]
struct PublishArgs {
    #[command(flatten)]
    nats: NatsArgs,
    /// Pair whose input curve to publish.
    #[arg(long, default_value = "sin-cos")]
    pair: String,
    /// Publish a recording's input column instead (row N is sample N; it
    /// ends after the last row).
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    #[command(flatten)]
    csv: CsvArgs,
    /// Stream key (repeat for several).
    #[arg(long, default_value = "demo")]
    stream: Vec<String>,
    /// Publish N streams `<stream>-0 … <stream>-(N-1)` instead.
    #[arg(long)]
    streams: Option<usize>,
    /// Subject prefix.
    #[arg(long, default_value = "samples")]
    prefix: String,
    /// Samples per second per stream (0 = flat out).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Samples per stream, then stop (default: until Ctrl-C).
    #[arg(long)]
    count: Option<u64>,
    /// Samples per message.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Sequence number of the first sample.
    #[arg(long, default_value_t = 0)]
    start_seq: u64,
}

#[derive(Args)]
struct TailArgs {
    #[command(flatten)]
    nats: NatsArgs,
    /// Only this stream.
    #[arg(long)]
    stream: Option<String>,
    /// Output subject prefix.
    #[arg(long, default_value = "translated")]
    output: String,
    /// Stop after N translations.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this long (e.g. 5s).
    #[arg(long, value_parser = pipeline::config::parse_duration)]
    duration: Option<std::time::Duration>,
    /// Show the error against the true curve (streams from `pipeline publish`).
    #[arg(long)]
    truth: bool,
    /// With --truth: the recording the streams were published from
    /// (`publish --data`); its column --truth-column is the truth.
    #[arg(long, value_name = "FILE", requires_all = ["truth", "truth_column"])]
    data: Option<PathBuf>,
    /// The recording's output column: a header name or a 0-based index.
    #[arg(long, value_name = "COL")]
    truth_column: Option<pipeline::recording::Column>,
    /// The recording's field delimiter [default: sniffed].
    #[arg(long, value_parser = pipeline::recording::parse_delimiter)]
    delimiter: Option<u8>,
    /// Only print the summary.
    #[arg(long)]
    quiet: bool,
    /// Print only every N-th translation.
    #[arg(long, default_value_t = 1)]
    every: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Write a PNG of input / translation / truth for the first stream seen.
    #[arg(long)]
    plot: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum RecipeName {
    /// Pairs: random-phase windows, warm-up + cosine decay, gradient clipping.
    Default,
    /// The seed tutorial exactly: 76 grid windows, Adam 1e-3, batch 10, 35 epochs.
    Seed,
    /// Recordings (the default with --data): a step budget, early stopping
    /// on the held-out part, the best weights kept.
    Recording,
}

/// Reading users' recordings (`retrain`, `eval`, `publish`, `tail` with `--data`).
#[derive(Args, Clone)]
struct CsvArgs {
    /// The column the model reads: a header name or a 0-based index [default: 0].
    #[arg(long, value_name = "COL")]
    input: Option<pipeline::recording::Column>,
    /// The column the model writes: a header name or a 0-based index [default: 1].
    #[arg(long, value_name = "COL")]
    output: Option<pipeline::recording::Column>,
    /// Field delimiter: one character, or `tab` [default: sniffed: tab, `;` or `,`].
    #[arg(long, value_parser = pipeline::recording::parse_delimiter)]
    delimiter: Option<u8>,
    /// Skip (and count) rows whose chosen cells are not numbers, instead of
    /// stopping at the first; windows never span a skipped row.
    #[arg(long)]
    skip_bad_rows: bool,
}

/// Training or scoring on recordings (`retrain`, `eval`).
#[derive(Args)]
struct RecordingArgs {
    /// A recording (CSV, one sample per row); repeat for several. Windows
    /// never span two files.
    #[arg(long, value_name = "FILE")]
    data: Vec<PathBuf>,
    #[command(flatten)]
    csv: CsvArgs,
    /// Fraction of each file held out (its last rows): early stopping and
    /// the comparison with the baselines use it; the rest fits the scaling
    /// and the baselines.
    #[arg(long, default_value_t = pipeline::fit::DEFAULT_VALIDATE)]
    validate: f64,
}

impl CsvArgs {
    fn options(&self) -> pipeline::recording::CsvOptions {
        let d = pipeline::recording::CsvOptions::default();
        pipeline::recording::CsvOptions {
            input: self.input.clone().unwrap_or(d.input),
            output: self.output.clone().unwrap_or(d.output),
            delimiter: self.delimiter,
            skip_bad_rows: self.skip_bad_rows,
        }
    }
}

/// Where the model comes from: a pair's shipped model, or a file.
#[derive(Args)]
struct ModelArgs {
    /// Pair whose model to use (`<models-dir>/<pair>.safetensors`).
    #[arg(long)]
    pair: Option<String>,
    /// Model file (overrides the pair's default model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Window length, for model files that do not record it (default 24).
    #[arg(long)]
    window: Option<usize>,
}

#[derive(Args)]
struct RetrainArgs {
    /// Built-in pair to train on.
    #[arg(long, conflicts_with = "data", required_unless_present = "data")]
    pair: Option<String>,
    #[command(flatten)]
    rec: RecordingArgs,
    /// Scaling fitted on the training part and stored with the model.
    #[arg(long, default_value = "standard")]
    scale: pipeline::scaling::ScaleMethod,
    /// Output model file (default `<models-dir>/<pair>.safetensors`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// [default: `default` for pairs, `recording` with --data]
    #[arg(long, value_enum)]
    recipe: Option<RecipeName>,
    /// Train for this many epochs (instead of the recipe's budget).
    #[arg(long)]
    epochs: Option<usize>,
    /// Budget in optimiser steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Budget in time (e.g. 2m): replaces the step budget unless --steps is
    /// also given. Not bit-reproducible; the report gives the steps taken.
    #[arg(long, value_parser = pipeline::config::parse_duration)]
    time_budget: Option<std::time::Duration>,
    /// Stop after this many validation measurements without improvement.
    #[arg(long)]
    patience: Option<usize>,
    /// Exit with status 2 when the model does not beat both baselines on
    /// the held-out data (the model and report are still written).
    #[arg(long)]
    strict: bool,
    /// Peak learning rate.
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    batch: Option<usize>,
    #[arg(long)]
    hidden: Option<usize>,
    #[arg(long)]
    window: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Random-phase windows drawn per epoch (pairs only).
    #[arg(long)]
    random_windows: Option<usize>,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// With --data: the model and both baselines on the held-out part.
    #[command(flatten)]
    rec: RecordingArgs,
    /// Print the metrics as one JSON object.
    #[arg(long)]
    json: bool,
    /// Where to write the figure (default `out/eval-<pair>.png`).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Seed of the random-phase evaluation windows.
    #[arg(long, default_value_t = eval::EVAL_SEED)]
    seed: u64,
}

#[derive(Args)]
struct TranslateArgs {
    #[command(flatten)]
    model: ModelArgs,
}

fn main() {
    let cli = Cli::parse();
    // candle reads RAYON_NUM_THREADS; unset, it re-reads /proc/cpuinfo on
    // every matmul (10x slower at batch 1, FACTS.md).
    // SAFETY: no other thread exists yet.
    unsafe {
        std::env::set_var(
            "RAYON_NUM_THREADS",
            cli.threads.unwrap_or(1).max(1).to_string(),
        )
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,async_nats=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match cli.log_format {
        LogFormat::Human => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().init(),
    }
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(exit_code(&e));
    }
}

/// Exit statuses (README, "Exit codes"): 78 (sysexits' EX_CONFIG) when what
/// we were given cannot work: a bad configuration or model file, an unknown
/// pair. Restarting does not help; the systemd unit's
/// `RestartPreventExitStatus=78` stops it from trying forever. 2 is a
/// command-line error (clap) or `retrain --strict`; 1 anything else.
const EX_CONFIG: i32 = 78;

fn exit_code(e: &anyhow::Error) -> i32 {
    use pipeline::Error as E;
    match e.chain().find_map(|c| c.downcast_ref::<E>()) {
        Some(
            E::Config(_)
            | E::ModelIo { .. }
            | E::ModelFormat { .. }
            | E::TensorShape { .. }
            | E::TensorMissing { .. }
            | E::UnknownPair(_),
        ) => EX_CONFIG,
        _ => 1,
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Pairs => {
            for p in &PAIRS {
                println!("{:<12} {}", p.id, p.description);
            }
            Ok(())
        }
        Command::Retrain(a) if !a.rec.data.is_empty() => retrain_recordings(a, cli.threads),
        Command::Retrain(a) => retrain(&cli.models_dir, a),
        Command::Eval(a) => evaluate(&cli.models_dir, a),
        Command::Translate(a) => {
            let loaded = load_model(&cli.models_dir, &a.model)?;
            let stdin = std::io::stdin().lock();
            let stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            pipeline::translate::run(&loaded.fast, stdin, stdout)?;
            Ok(())
        }
        Command::Serve(a) => runtime()?.block_on(serve(cli.models_dir, *a)),
        Command::Publish(a) => runtime()?.block_on(publish(a)),
        Command::Tail(a) => runtime()?.block_on(tail(a)),
        Command::Bench(a) => bench(&cli.models_dir, a),
        Command::Reload(a) => runtime()?.block_on(control(pipeline::service::RELOAD_SUBJECT, a)),
        Command::Shadow(a) => runtime()?.block_on(control(pipeline::service::SHADOW_SUBJECT, a)),
        Command::Promote(a) => runtime()?.block_on(control(pipeline::service::PROMOTE_SUBJECT, a)),
        Command::Status(a) => runtime()?.block_on(status(a)),
        Command::SetScaling(a) => {
            use pipeline::scaling::{Affine, ScaleMethod, Scaling};
            let scaling = Scaling {
                method: ScaleMethod::Standard,
                input: Affine {
                    center: a.input_center,
                    scale: a.input_scale,
                },
                output: Affine {
                    center: a.output_center,
                    scale: a.output_scale,
                },
            };
            let id = format::set_scaling(&a.model, &a.out, scaling)?;
            println!("model      {} (id {id})", a.out.display());
            Ok(())
        }
        Command::Config(ConfigCommand::Check { file }) => {
            let config = pipeline::config::ServeConfig::load(&file)?;
            for r in &config.routes {
                let path = config.model_path(r);
                let m = format::load(&path, r.window)
                    .with_context(|| format!("route for pair {:?}", r.pair))?;
                let units = match m.meta.scaling {
                    Some(s) => format!(
                        ", scaling: input (x − {}) / {}, output (y − {}) / {}",
                        s.input.center, s.input.scale, s.output.center, s.output.scale
                    ),
                    None => String::new(),
                };
                eprintln!(
                    "route {:<12} {} → {}.<stream>  model {} (id {}, W={}{units})",
                    r.pair,
                    r.input,
                    r.output,
                    path.display(),
                    m.id,
                    m.model.window()
                );
            }
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(())
        }
    }
}

/// Two async workers: I/O only. Model compute has its own threads.
fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {},
                    _ = term.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve(models_dir: PathBuf, a: ServeArgs) -> Result<()> {
    use pipeline::config::{RouteConfig, ServeConfig, defaults};
    let mut config = match &a.config {
        Some(path) => ServeConfig::load(path)?,
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
            }]);
            c.models_dir = models_dir;
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

/// A recording's two columns as a signal, for `publish --data` and `tail --data`.
fn recorded_signal(path: &Path, csv: &CsvArgs) -> Result<pipeline::tools::Signal> {
    let r = pipeline::recording::Recording::read(path, &csv.options())?;
    Ok(pipeline::tools::Signal::recorded(&r))
}

async fn publish(a: PublishArgs) -> Result<()> {
    let signal = match &a.data {
        // Only the input column is published: without --output, read no other.
        Some(path) => recorded_signal(
            path,
            &CsvArgs {
                output: a.csv.output.clone().or_else(|| a.csv.input.clone()),
                ..a.csv.clone()
            },
        )?,
        None => pipeline::tools::Signal::Pair(pairs::find(&a.pair)?),
    };
    let streams = match a.streams {
        Some(n) => (0..n).map(|i| format!("{}-{i}", a.stream[0])).collect(),
        None => a.stream.clone(),
    };
    let conn = a.nats.connect().await?;
    let opts = pipeline::tools::PublishOptions {
        signal,
        streams,
        prefix: a.prefix,
        rate: a.rate,
        count: a.count,
        batch: a.batch,
        start_seq: a.start_seq,
    };
    let started = Instant::now();
    let sent = tokio::select! {
        r = pipeline::tools::publish(&conn.client, &opts) => r?,
        _ = shutdown_signal() => {
            conn.client.flush().await.ok();
            0
        }
    };
    tracing::info!(
        samples_per_stream = sent,
        streams = opts.streams.len(),
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "published"
    );
    Ok(())
}

/// A control request to every instance; fails unless every one agreed.
async fn control(subject: &str, a: ControlArgs) -> Result<()> {
    let conn = a.nats.connect().await?;
    let model = a
        .model
        .as_ref()
        .map(|m| std::fs::canonicalize(m).unwrap_or_else(|_| m.clone()));
    let mut request = serde_json::Map::new();
    if let Some(p) = &a.pair {
        request.insert("pair".into(), p.clone().into());
    }
    if let Some(m) = &model {
        request.insert("model".into(), m.display().to_string().into());
    }
    let request = serde_json::Value::Object(request);
    let (replies, found) =
        pipeline::fleet::control_all(&conn.client, subject, &request, a.wait).await?;
    let mut failed = found - replies.len();
    for r in &replies {
        match &r.body {
            Ok(v) => println!("ok     {v}"),
            Err(e) => {
                failed += 1;
                println!("error  {e}");
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {found} instance(s) did not do it ({} answered)",
            replies.len()
        );
    }
    Ok(())
}

async fn status(a: StatusArgs) -> Result<()> {
    let conn = a.nats.connect().await?;
    let all = pipeline::fleet::stats_all(&conn.client, std::time::Duration::from_secs(2)).await?;
    if all.is_empty() {
        bail!("no pipeline instance answered $SRV.PING");
    }
    for s in &all {
        if a.json {
            println!("{s}");
        } else {
            for line in pipeline::fleet::describe_stats(s) {
                println!("{line}");
            }
        }
    }
    Ok(())
}

async fn tail(a: TailArgs) -> Result<()> {
    let subject = match &a.stream {
        Some(s) => format!("{}.{s}", a.output),
        None => format!("{}.>", a.output),
    };
    let conn = a.nats.connect().await?;
    let opts = pipeline::tools::TailOptions {
        subject,
        count: a.count,
        duration: a.duration,
        truth: a.truth,
        recording: match (&a.data, &a.truth_column) {
            (Some(path), Some(col)) => Some(recorded_signal(
                path,
                &CsvArgs {
                    input: Some(col.clone()),
                    output: Some(col.clone()),
                    delimiter: a.delimiter,
                    skip_bad_rows: false,
                },
            )?),
            _ => None,
        },
        print_every: if a.quiet || a.json { 0 } else { a.every.max(1) },
        plot: a.plot.clone(),
    };
    let s = pipeline::tools::tail(&conn.client, &opts, shutdown_signal()).await?;
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
        return Ok(());
    }
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2} ms"));
    println!(
        "windows     {} from {} stream(s), {} out of order",
        s.windows, s.streams, s.out_of_order
    );
    if let Some(mse) = s.mse {
        println!("MSE         {mse:.3e} against the true curve");
    }
    println!(
        "latency     p50 {}  p99 {}  max {} (sample published → translation received)",
        ms(s.latency_ms_p50),
        ms(s.latency_ms_p99),
        ms(s.latency_ms_max)
    );
    if let Some(p) = &a.plot {
        println!("figure      {}", p.display());
    }
    Ok(())
}

fn load_model(models_dir: &Path, a: &ModelArgs) -> Result<pipeline::LoadedModel> {
    let path = match (&a.model, &a.pair) {
        (Some(p), _) => p.clone(),
        (None, Some(pair)) => {
            pairs::find(pair)?;
            models_dir.join(format!("{pair}.safetensors"))
        }
        (None, None) => bail!("say which model: --pair NAME or --model FILE"),
    };
    let loaded = format::load(&path, a.window)?;
    if let (Some(want), Some(have)) = (&a.pair, &loaded.meta.pair)
        && want != have
    {
        tracing::warn!(model = %path.display(), "model was trained on pair `{have}`, not `{want}`");
    }
    Ok(loaded)
}

fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] epoch {pos}/{len}  {msg}  ({elapsed}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// The recipe named by --recipe (or `fallback`), with the flags applied.
fn recipe_from_args(a: &RetrainArgs, fallback: RecipeName) -> Recipe {
    let mut recipe = match a.recipe.unwrap_or(fallback) {
        RecipeName::Default => Recipe::default_recipe(),
        RecipeName::Seed => Recipe::seed(),
        RecipeName::Recording => Recipe::recording(),
    };
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = a.$f { recipe.$f = v; } )* };
    }
    set!(lr, batch, hidden, window, seed);
    if let Some(lr) = a.lr
        && recipe.schedule == train::Schedule::Constant
    {
        recipe.lr_final = lr;
    }
    if let Some(n) = a.random_windows {
        recipe.random_windows_per_epoch = n;
    }
    // One budget: epochs, or steps and/or time.
    if let Some(e) = a.epochs {
        recipe.epochs = e;
        recipe.steps = None;
        recipe.time_budget_s = None;
    }
    if let Some(t) = a.time_budget {
        recipe.time_budget_s = Some(t.as_secs_f64());
        recipe.steps = None;
    }
    if let Some(n) = a.steps {
        recipe.steps = Some(n);
    }
    if let Some(p) = a.patience {
        recipe.patience = Some(p);
    }
    recipe
}

fn retrain(models_dir: &Path, a: RetrainArgs) -> Result<()> {
    let recipe = recipe_from_args(&a, RecipeName::Default);
    let data = match &a.pair {
        Some(id) => Dataset::pair(id, recipe.window)?,
        None => bail!("say what to train on: --pair NAME or --data FILE.csv"),
    };
    let data_name = data.name.clone();
    let out = match (&a.out, &a.pair) {
        (Some(o), _) => o.clone(),
        (None, Some(id)) => models_dir.join(format!("{id}.safetensors")),
        (None, None) => bail!("--out FILE is required"),
    };

    tracing::info!(
        data = %data_name, recipe = %recipe.name, epochs = recipe.epochs, batch = recipe.batch,
        hidden = recipe.hidden, window = recipe.window, seed = recipe.seed, "training"
    );
    let bar = progress_bar(recipe.epochs as u64);
    bar.set_prefix(data_name.clone());
    let quiet_log_every = (recipe.epochs / 10).max(1);
    let started = Instant::now();
    let trained = train::train(
        &recipe,
        &TrainData {
            fixed: data.fixed.clone(),
            pair: data.pair,
        },
        |s| {
            bar.set_position(s.epoch as u64);
            bar.set_message(format!("loss {:.3e}  lr {:.1e}", s.loss, s.lr));
            // Without a terminal the bar is hidden: log a few lines instead.
            if bar.is_hidden() && (s.epoch % quiet_log_every == 0 || s.epoch == s.epochs) {
                tracing::info!(
                    "epoch {}/{} loss {:.3e} lr {:.1e}",
                    s.epoch,
                    s.epochs,
                    s.loss,
                    s.lr
                );
            }
        },
    )?;
    bar.finish_and_clear();
    let train_seconds = started.elapsed().as_secs_f64();

    let (metrics, translated) =
        eval::evaluate(&trained.model, &data.fixed, data.pair, eval::EVAL_SEED)?;
    let created = format::now_rfc3339();
    let meta = Metadata {
        pair: Some(data_name.clone()),
        window: Some(recipe.window),
        recipe: Some(serde_json::to_value(&recipe)?),
        metrics: Some(serde_json::to_value(&metrics)?),
        created: Some(created.clone()),
        scaling: None,
    };
    let id = format::save(&out, &trained.tensors, recipe.hidden, recipe.window, &meta)?;
    let (json_path, loss_png) = report::write_training_report(
        &out,
        &report::TrainingReport {
            model: out.display().to_string(),
            model_id: &id,
            data: &data_name,
            recipe: &recipe,
            metrics: &metrics,
            train_seconds,
            created: &created,
            history: &trained.history,
        },
    )?;
    let fig = report::companion(&out, "translation.png");
    report::translation_figure(&fig, &data, metrics.ar_mse_grid, &translated)?;
    println!("model      {} (id {id})", out.display());
    println!(
        "trained    {} epochs in {train_seconds:.1} s",
        recipe.epochs
    );
    print_metrics(&metrics);
    println!("report     {}", json_path.display());
    println!("figures    {}, {}", loss_png.display(), fig.display());
    Ok(())
}

/// `retrain --data`: train on recordings, judged against the baselines on
/// the held-out part of each file.
fn retrain_recordings(a: RetrainArgs, threads: Option<usize>) -> Result<()> {
    use pipeline::fit;
    let recipe = recipe_from_args(&a, RecipeName::Recording);
    if recipe.random_windows_per_epoch > 0 {
        bail!("recordings have no curve to draw random-phase windows from: drop --random-windows");
    }
    let out = a
        .out
        .clone()
        .context("--out FILE is required with --data")?;
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let prepared = fit::prepare(
        &a.rec.data,
        &a.rec.csv.options(),
        a.rec.validate,
        recipe.window,
    )?;
    for f in &prepared.recordings {
        let r = &f.recording;
        println!(
            "data       {}: {} rows ({} train, {} held out{}), {:?} → {:?}",
            r.path.display(),
            r.rows,
            f.train_rows,
            f.validation_rows,
            if r.skipped > 0 {
                format!(", {} bad rows skipped", r.skipped)
            } else {
                String::new()
            },
            r.input_name,
            r.output_name
        );
    }
    let scaling = fit::fit_scaling(&prepared, a.scale)?;
    if !scaling.is_identity() {
        println!(
            "scaling    {}: input (x − {:.6}) / {:.6}, output (y − {:.6}) / {:.6}",
            format!("{:?}", scaling.method).to_lowercase(),
            scaling.input.center,
            scaling.input.scale,
            scaling.output.center,
            scaling.output.scale
        );
    }
    tracing::info!(
        train_windows = prepared.train.len(), validation_windows = prepared.valid.len(),
        recipe = %recipe.name, steps = ?recipe.steps, time_budget_s = ?recipe.time_budget_s,
        batch = recipe.batch, hidden = recipe.hidden, window = recipe.window, seed = recipe.seed,
        threads, "training"
    );
    let bar = budget_bar();
    bar.set_prefix("training");
    let started = Instant::now();
    let trained = fit::train(&prepared, &scaling, &recipe, threads, |s| {
        bar.set_position((s.progress * 1000.0) as u64);
        let val = s
            .val_ar_mse
            .map_or(String::new(), |v| format!("  val AR MSE {v:.3e}"));
        bar.set_message(format!(
            "step {}  loss {:.3e}{val}  lr {:.1e}",
            s.step, s.loss, s.lr
        ));
        if bar.is_hidden() && s.step.is_multiple_of(recipe.eval_every * 5) {
            tracing::info!("step {} loss {:.3e}{val}", s.step, s.loss);
        }
    })?;
    bar.finish_and_clear();
    let train_seconds = started.elapsed().as_secs_f64();

    let fast = pipeline::fast::FastModel::new(
        &train::params(&trained.tensors)?,
        recipe.hidden,
        recipe.window,
    )?
    .with_scaling(scaling);
    let scored = fit::score(&prepared, &fast)?;
    let c = &scored.comparison;
    let created = format::now_rfc3339();
    let first = &prepared.recordings[0].recording;
    // The model's name (a route serving it is called by it): the file's stem.
    let name = out
        .file_stem()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let meta = Metadata {
        pair: Some(name),
        window: Some(recipe.window),
        recipe: Some(serde_json::to_value(&recipe)?),
        metrics: Some(serde_json::json!({
            "validation": c,
            "data": prepared
                .recordings
                .iter()
                .map(|f| f.recording.path.display().to_string())
                .collect::<Vec<_>>(),
            "input": first.input_name,
            "output": first.output_name,
        })),
        created: Some(created.clone()),
        scaling: Some(scaling),
    };
    let id = format::save(&out, &trained.tensors, recipe.hidden, recipe.window, &meta)?;
    let report = fit::FitReport {
        model: out.display().to_string(),
        model_id: &id,
        data: &prepared.recordings,
        validate: prepared.validate,
        validation: c,
        verdict: c.verdict(),
        scaling: &scaling,
        recipe: &recipe,
        threads,
        steps: trained.steps,
        stop: trained.stop,
        best_step: trained.best.map(|b| b.0),
        train_seconds,
        created: &created,
        history: &trained.history,
    };
    let files = fit::write_report(&out, &report, &prepared, &scored)?;
    println!(
        "trained    {} steps in {train_seconds:.1} s on {threads} thread(s), {}{}",
        trained.steps,
        trained.stop,
        trained.best.map_or(String::new(), |(s, _)| format!(
            "; kept the weights of step {s}"
        ))
    );
    print!("{}", c.table());
    println!("verdict    {}", c.verdict());
    println!("model      {} (id {id})", out.display());
    println!("report     {}", files[0].display());
    println!(
        "figures    {}",
        files[1..]
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if a.strict && !c.beats_baselines {
        eprintln!("error: --strict: the model does not beat both baselines");
        std::process::exit(2);
    }
    Ok(())
}

/// A bar over a budget's fraction (0–1000) for budgeted training.
fn budget_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {msg}  ({elapsed}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

fn bench(models_dir: &Path, mut a: BenchArgs) -> Result<()> {
    use pipeline::bench::{self, ModelBench};
    if a.model.pair.is_none() && a.model.model.is_none() {
        a.model.pair = Some("sin-cos".into());
    }
    let loaded = load_model(models_dir, &a.model)?;
    if !a.model_only {
        // The model-only figure of the same run, for the ratio.
        let reference = ModelBench {
            batches: vec![256],
            threads: vec![1],
            paths: vec![bench::Path::Fast],
            seconds: 1.0,
            repeats: 1,
            // Not reported here: the e2e line compares with model-only only.
            peak: pipeline::roofline::Peak {
                gflops: f64::NAN,
                isa: "not measured",
            },
        };
        let model_only = bench::model_only(&loaded, &reference, |_| {})?
            .first()
            .map(|c| c.windows_per_sec);
        return runtime()?.block_on(bench_e2e(models_dir, &a, loaded.model.window(), model_only));
    }
    let cfg = ModelBench {
        batches: a.batch.clone(),
        threads: a.threads.clone(),
        paths: a
            .path
            .iter()
            .map(|p| match p {
                BenchPath::Fast => bench::Path::Fast,
                BenchPath::Reference => bench::Path::Reference,
            })
            .collect(),
        seconds: a.seconds,
        repeats: a.repeats.max(1),
        peak: pipeline::roofline::fp32_peak(std::time::Duration::from_millis(500)),
    };
    if !a.json {
        println!(
            "FP32 peak of one thread (FMA probe, {}): {:.1} GFLOP/s; useful work {:.2} MFLOP per window",
            cfg.peak.isa,
            cfg.peak.gflops,
            pipeline::roofline::flops_per_window(loaded.model.hidden(), loaded.model.window())
                / 1e6
        );
        println!(
            "{:<10} {:>7} {:>6} {:>14} {:>12} {:>12} {:>9} {:>7}",
            "path", "threads", "batch", "windows/s", "p50 µs", "p99 µs", "GFLOP/s", "% peak"
        );
    }
    bench::model_only(&loaded, &cfg, |c| {
        if a.json {
            println!("{}", serde_json::to_string(c).unwrap_or_default());
        } else {
            let path = format!("{:?}", c.path).to_lowercase();
            println!(
                "{path:<10} {:>7} {:>6} {:>14.0} {:>12.1} {:>12.1} {:>9.1} {:>6.1}%",
                c.threads,
                c.batch,
                c.windows_per_sec,
                c.p50_us,
                c.p99_us,
                c.gflops,
                100.0 * c.peak_fraction
            );
        }
    })?;
    Ok(())
}

async fn bench_e2e(
    models_dir: &Path,
    a: &BenchArgs,
    window: usize,
    model_only: Option<f64>,
) -> Result<()> {
    let (url, auth, _) = pipeline::connect::resolve(&a.conn.flags(), None, &Default::default())?;
    let setup = pipeline::bench::E2eSetup {
        nats: url,
        auth,
        models_dir: models_dir.to_path_buf(),
        pair: a.model.pair.clone().unwrap_or_else(|| "sin-cos".into()),
        model: a.model.model.clone(),
        window,
        model_window: a.model.window,
        threads: a.threads.first().copied().unwrap_or(1),
        // One --batch value sets the service's max batch; the model-only
        // list default means the service default.
        batch: match a.batch.as_slice() {
            [one] => Some(*one),
            _ => None,
        },
        streams: a.streams,
        rate: a.rate,
        duration: a.duration,
        durable: a.durable,
        external_service: a.external_service,
        rss_pid: a.rss_pid,
        max_wait: a.max_wait,
        poisson: None,
    };
    if a.latency {
        let capacity = model_only.unwrap_or(0.0);
        return bench_latency(&setup, a, capacity).await;
    }
    let mut report = pipeline::bench::e2e_with_service(&setup).await?;
    report.model_only_windows_per_sec = model_only;
    if let Some(path) = &a.latencies {
        let text: String = report
            .latencies_us
            .iter()
            .map(|l| format!("{l:.1}\n"))
            .collect();
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &a.rss_plot {
        use pipeline::plot::{Chart, Line};
        let rss: Vec<(f64, f64)> = report.rss_series.iter().map(|p| (p.0, p.1)).collect();
        let chart = Chart {
            title: &format!(
                "pipeline bench: {} streams{}: resident memory over time",
                report.streams,
                if a.durable { ", durable" } else { "" }
            ),
            x_label: "seconds",
            y_label: "RSS (MiB)",
            log_y: false,
        };
        pipeline::plot::line_chart(
            path,
            &chart,
            &[Line::new(
                match a.rss_pid {
                    Some(p) => format!("RSS of process {p}"),
                    None => "RSS of the bench process (service in-process)".to_string(),
                },
                rss,
                plotters::style::RGBColor(31, 119, 180),
            )],
        )?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "e2e: {} streams at {} samples/s each for {:.0?}: {:.0} windows/s, loss {} of {}, latency p50 {:.0} µs p95 {:.0} µs p99 {:.0} µs max {:.0} µs",
            report.streams,
            if a.rate > 0.0 {
                format!("{}", a.rate)
            } else {
                "max".into()
            },
            a.duration,
            report.windows_per_sec,
            report.loss,
            report.windows_expected,
            report.p50_us,
            report.p95_us,
            report.p99_us,
            report.max_us
        );
        if let Some(n) = report.windows_stored {
            println!("durable: {n} windows stored in the output stream");
        }
        println!(
            "RSS: {:.1} MiB at the start, {:.1} MiB peak, {:.1} MiB at the end",
            report.rss_start_mib, report.rss_peak_mib, report.rss_end_mib
        );
        if let Some(m) = report.model_only_windows_per_sec {
            println!(
                "model only (fast path, 1 thread, batch 256, same run): {m:.0} windows/s; end to end is {:.0}% of it",
                100.0 * report.windows_per_sec / m
            );
        }
    }
    Ok(())
}

/// `bench --latency`: the latency-against-load curve.
async fn bench_latency(
    setup: &pipeline::bench::E2eSetup,
    a: &BenchArgs,
    capacity: f64,
) -> Result<()> {
    use pipeline::bench::latency::{LatencyPoint, latency_curve};
    if capacity.is_nan() || capacity <= 0.0 {
        bail!("could not measure the model's capacity");
    }
    let mut waits = vec![a.max_wait.unwrap_or_default()];
    waits.extend(a.compare_max_wait);
    if !a.json {
        println!(
            "capacity (model alone, batch 256, {} thread(s)): {capacity:.0} windows/s; {} streams, Poisson arrivals, {:?} per point",
            setup.threads, setup.streams, setup.duration
        );
        println!(
            "{:>10} {:>6} {:>12} {:>12} {:>9} {:>9} {:>9} {:>9} {:>6}",
            "max_wait",
            "load",
            "offered/s",
            "windows/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "loss"
        );
    }
    let points = latency_curve(setup, capacity, &a.loads, &waits, |p: &LatencyPoint| {
        if a.json {
            println!("{}", serde_json::to_string(p).unwrap_or_default());
        } else {
            println!(
                "{:>8.1}ms {:>6.2} {:>12.0} {:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>6}",
                p.max_wait_us / 1e3,
                p.load,
                p.offered_per_sec,
                p.windows_per_sec,
                p.p50_us / 1e3,
                p.p99_us / 1e3,
                p.p999_us / 1e3,
                p.max_us / 1e3,
                p.loss
            );
        }
    })
    .await?;
    if let Some(path) = &a.plot {
        use pipeline::plot::{Chart, Line};
        let colours = [
            plotters::style::RGBColor(31, 119, 180),
            plotters::style::RGBColor(214, 39, 40),
        ];
        let mut lines = Vec::new();
        for (k, wait) in waits.iter().enumerate() {
            let name = if wait.is_zero() {
                "no wait when idle".to_string()
            } else {
                format!("fixed max_wait {wait:?}")
            };
            for (q, pick) in [("p50", 0), ("p99", 1)] {
                let pts: Vec<(f64, f64)> = points
                    .iter()
                    .filter(|p| p.max_wait_us == wait.as_secs_f64() * 1e6)
                    .map(|p| {
                        (
                            p.windows_per_sec,
                            if pick == 0 { p.p50_us } else { p.p99_us } / 1e3,
                        )
                    })
                    .collect();
                let line = Line::new(format!("{name}: {q}"), pts, colours[k % 2]);
                lines.push(if pick == 0 { line } else { line.dashed() });
            }
        }
        let chart = Chart {
            title: &format!(
                "pipeline bench --latency: {} streams, Poisson arrivals (p50 solid, p99 dashed)",
                setup.streams
            ),
            x_label: "windows per second received",
            y_label: "sample published -> translation received (ms)",
            log_y: true,
        };
        pipeline::plot::line_chart(path, &chart, &lines)?;
        if !a.json {
            println!("figure     {}", path.display());
        }
    }
    Ok(())
}

fn print_metrics(m: &eval::Metrics) {
    println!(
        "AR MSE     {:.3e} on {} grid windows",
        m.ar_mse_grid, m.grid_windows
    );
    if let Some(r) = m.ar_mse_random {
        println!(
            "AR MSE     {r:.3e} on {} random-phase windows",
            m.random_windows
        );
    }
    println!(
        "TF MSE     {:.3e} (teacher-forced, grid windows)",
        m.tf_mse_grid
    );
}

/// `eval --data`: the model (with its own scaling) and both baselines on
/// the held-out part of the recordings.
fn evaluate_recordings(loaded: &pipeline::LoadedModel, a: &EvalArgs) -> Result<()> {
    use pipeline::fit;
    let prepared = fit::prepare(
        &a.rec.data,
        &a.rec.csv.options(),
        a.rec.validate,
        loaded.model.window(),
    )?;
    let scored = fit::score(&prepared, &loaded.fast)?;
    let c = &scored.comparison;
    let plot = a
        .plot
        .clone()
        .unwrap_or_else(|| PathBuf::from("out/eval-validation.png"));
    fit::validation_figure(&plot, &prepared, &scored)?;
    if a.json {
        let v = serde_json::json!({
            "model": loaded.path.display().to_string(),
            "model_id": loaded.id,
            "data": prepared.recordings,
            "validate": prepared.validate,
            "validation": c,
            "verdict": c.verdict(),
            "plot": plot.display().to_string(),
        });
        println!("{v}");
    } else {
        println!("model      {} (id {})", loaded.path.display(), loaded.id);
        for f in &prepared.recordings {
            println!(
                "data       {}: {} rows, {} held out",
                f.recording.path.display(),
                f.recording.rows,
                f.validation_rows
            );
        }
        print!("{}", c.table());
        println!("verdict    {}", c.verdict());
        println!("figure     {}", plot.display());
    }
    Ok(())
}

fn evaluate(models_dir: &Path, a: EvalArgs) -> Result<()> {
    let loaded = load_model(models_dir, &a.model)?;
    let w = loaded.model.window();
    if !a.rec.data.is_empty() {
        return evaluate_recordings(&loaded, &a);
    }
    let id = a
        .model
        .pair
        .clone()
        .or_else(|| loaded.meta.pair.clone())
        .context("which data? pass --pair NAME or --data FILE.csv")?;
    if pairs::find(&id).is_err()
        && let Some(m) = &loaded.meta.metrics
        && m.get("validation").is_some()
    {
        bail!(
            "`{id}` was trained on recordings ({}): pass --data FILE",
            m["data"]
        );
    }
    let data = Dataset::pair(&id, w)?;
    let name = data.name.clone();
    let (metrics, translated) = eval::evaluate(&loaded.model, &data.fixed, data.pair, a.seed)?;
    let plot = a.plot.unwrap_or_else(|| {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        PathBuf::from(format!("out/eval-{safe}.png"))
    });
    report::translation_figure(&plot, &data, metrics.ar_mse_grid, &translated)?;
    if a.json {
        let v = serde_json::json!({
            "model": loaded.path.display().to_string(),
            "model_id": loaded.id,
            "data": name,
            "metrics": metrics,
            "plot": plot.display().to_string(),
        });
        println!("{v}");
    } else {
        println!("model      {} (id {})", loaded.path.display(), loaded.id);
        println!("data       {name}");
        print_metrics(&metrics);
        println!("figure     {}", plot.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Clap's own consistency checks (a flag defined twice in one command,
    /// say by a flattened group) run only in debug builds at parse time, and
    /// only for the subcommand parsed: check every subcommand here.
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
