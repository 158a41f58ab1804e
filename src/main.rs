//! The `pipeline` command line: parses flags, shows progress, and calls the
//! library. Errors end here, as `anyhow` reports with a non-zero exit.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use pipeline::format;
use pipeline::pairs::PAIRS;

mod cli;
use cli::bench::{BenchArgs, bench};
use cli::eval::{EvalArgs, evaluate};
use cli::nats::{ControlArgs, PublishArgs, StatusArgs, TailArgs, control, publish, status};
use cli::serve::{ServeArgs, serve};
use cli::tail::tail;
use cli::train::{ModelArgs, RetrainArgs, load_model, retrain, retrain_recordings};

#[derive(Parser)]
#[command(
    name = "pipeline",
    version = pipeline::VERSION,
    about = "Translate live numeric signals with a seq2seq LSTM"
)]
struct Cli {
    /// Folder where models are found by pair name (`<dir>/<pair>.safetensors`)
    /// [env: PIPELINE_MODELS_DIR] [default: a config file's `models_dir`, or
    /// `models`]. The flag beats the variable, which beats the config file.
    #[arg(long, global = true)]
    models_dir: Option<PathBuf>,

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
    /// Join two loggers' files (one channel each) on their time stamps into
    /// one recording: each output row with the input's latest value.
    Join(cli::join::JoinArgs),
    /// What a model file says about itself (pair, window, scaling, how it
    /// was trained and scored) and how `serve` takes it, as JSON.
    Info(cli::info::InfoArgs),
    /// Translate windows from stdin (one per line: `1.5,2.25`, `1,5;2,25`, tab- or
    /// space-separated) to stdout, each written as its window was.
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
    /// Put back the model that served live before the last promote, reload
    /// or rollback, on every running instance (a second rollback undoes
    /// the first).
    Rollback(ControlArgs),
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
    // (Negative numbers are read, so that one is refused with a reason
    // rather than taken for a flag.)
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    input_scale: f64,
    /// The output channel's center.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    output_center: f64,
    /// The output channel's scale.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    output_scale: f64,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a serve config (and load every route's model): print the
    /// effective config, defaults filled in, as JSON, and on stderr where
    /// each value came from (default, file, PIPELINE_* variable or flag).
    /// Takes `serve`'s flags, so a command line can be checked as it is.
    Check {
        /// The TOML file (or `--config FILE`).
        #[arg(conflicts_with_all = ["config", "pair", "model", "input", "output", "stride", "window", "shadow", "truth", "output_format", "max_gap"])]
        file: Option<PathBuf>,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Args)]
struct TranslateArgs {
    #[command(flatten)]
    model: ModelArgs,
}

/// `pipeline tail | head -2`: once the reader has gone, printing fails.
/// That ends the output, it is not a bug: exit as a process killed by
/// SIGPIPE would (status 141, what shells show for `yes | head`) instead
/// of printing a panic report. Every other panic is reported as before.
fn quiet_when_stdout_closes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>();
        if message.is_some_and(|m| {
            m.starts_with("failed printing to stdout") && m.contains("Broken pipe")
        }) {
            std::process::exit(141);
        }
        report(info);
    }));
}

fn main() {
    quiet_when_stdout_closes();
    // `--otlp-endpoint` / `otlp_endpoint` work in builds with the feature.
    #[cfg(feature = "otel")]
    pipeline_otel::install();
    let cli = Cli::parse();
    // A SIGHUP while `serve` starts would end it (see `ignore_sighup`).
    #[cfg(unix)]
    if matches!(cli.command, Command::Serve(_)) {
        pipeline::service::ignore_sighup();
    }
    // candle reads RAYON_NUM_THREADS; unset, it re-reads /proc/cpuinfo on
    // every matmul (measured: 10x slower at batch 1).
    // SAFETY: no other thread exists yet.
    unsafe {
        std::env::set_var(
            "RAYON_NUM_THREADS",
            cli.threads.unwrap_or(1).max(1).to_string(),
        )
    };
    // `RUST_LOG=` (set, but empty) is as if unset: an empty filter would
    // silence every line, warnings included.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info,async_nats=warn"));
    let json = matches!(cli.log_format, LogFormat::Json);
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
        if json {
            // One JSON line, as the log lines are, written past the log
            // filter (`RUST_LOG=off` must not hide why it exited).
            let line = serde_json::json!({
                "timestamp": pipeline::format::now_rfc3339(),
                "level": "ERROR",
                "fields": { "message": format!("{e:#}"), "exit_code": exit_code(&e) },
            });
            eprintln!("{line}");
        } else {
            eprintln!("error: {e:#}");
        }
        std::process::exit(exit_code(&e));
    }
}

/// Exit statuses (README, "Exit codes"): 78 (sysexits' EX_CONFIG) when what
/// we were given cannot work: a bad configuration or model file, an unknown
/// pair, a recording it cannot use, a durable checkpoint it cannot read back,
/// a control request every instance refused. Restarting does not help; the systemd unit's
/// `RestartPreventExitStatus=78` stops it from trying forever. 2 is a
/// command-line error (clap) or `retrain --strict`; 1 anything else.
const EX_CONFIG: i32 = 78;

fn exit_code(e: &anyhow::Error) -> i32 {
    use pipeline::Error as E;
    if e.chain().any(|c| c.is::<cli::Usage>()) {
        return 2;
    }
    match e.chain().find_map(|c| c.downcast_ref::<E>()) {
        Some(
            E::Config(_)
            | E::Checkpoint { .. }
            | E::CheckpointLost { .. }
            | E::ModelIo { .. }
            | E::ModelFormat { .. }
            | E::TensorShape { .. }
            | E::TensorMissing { .. }
            | E::UnknownPair(_)
            | E::Data(_)
            | E::Request(_),
        ) => EX_CONFIG,
        _ => 1,
    }
}

fn run(cli: Cli) -> Result<()> {
    // The flag over the environment (over the config file, for `serve`)
    // over the default.
    let given_models_dir = cli.models_dir.clone();
    let models_dir = cli
        .models_dir
        .or_else(|| std::env::var_os("PIPELINE_MODELS_DIR").map(PathBuf::from))
        .unwrap_or_else(pipeline::config::defaults::models_dir);
    match cli.command {
        Command::Pairs => {
            for p in &PAIRS {
                println!("{:<12} {}", p.id, p.description);
            }
            Ok(())
        }
        Command::Retrain(a) if !a.rec.data.is_empty() => {
            on_training_stack(move || retrain_recordings(a, cli.threads))
        }
        Command::Retrain(a) => on_training_stack(move || retrain(&models_dir, a)),
        Command::Eval(a) => evaluate(&models_dir, a),
        Command::Join(a) => cli::join::join(&a),
        Command::Info(a) => cli::info::info(&models_dir, &a),
        Command::Translate(a) => {
            let loaded = load_model(&models_dir, &a.model)?;
            let stdin = std::io::stdin().lock();
            let stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            pipeline::translate::run(&loaded.fast, stdin, stdout)?;
            Ok(())
        }
        Command::Serve(a) => runtime()?.block_on(serve(given_models_dir, *a)),
        Command::Publish(a) => runtime()?.block_on(publish(a)),
        Command::Tail(a) => runtime()?.block_on(tail(a)),
        Command::Bench(a) => bench(&models_dir, a),
        Command::Reload(a) => runtime()?.block_on(control(pipeline::service::RELOAD_SUBJECT, a)),
        Command::Shadow(a) => runtime()?.block_on(control(pipeline::service::SHADOW_SUBJECT, a)),
        Command::Promote(a) => runtime()?.block_on(control(pipeline::service::PROMOTE_SUBJECT, a)),
        Command::Rollback(a) => {
            runtime()?.block_on(control(pipeline::service::ROLLBACK_SUBJECT, a))
        }
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
        Command::Config(ConfigCommand::Check { file, mut serve }) => {
            serve.config = file.or(serve.config.take());
            cli::serve::check(given_models_dir.as_deref(), &serve)
        }
    }
}

/// Two async workers: I/O, and at most one model call at a time for a lone
/// window of a quiet route (the rest computes on its own threads).
fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Runs a training on a thread of its own with a deep stack (see
/// [`pipeline::train::TRAINING_STACK`]): a long window's backward pass overflowed the main
/// thread's 8 MiB.
fn on_training_stack(f: impl FnOnce() -> Result<()> + Send) -> Result<()> {
    std::thread::scope(|s| {
        let thread = std::thread::Builder::new()
            .name("train".into())
            .stack_size(pipeline::train::TRAINING_STACK)
            .spawn_scoped(s, f)?;
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed at the call,
/// not when the future is first polled: a service whose signal future was
/// first polled only after it said "serving" was killed outright by a
/// SIGTERM sent just then (no drain, no flush; a busy CI machine showed it).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        );
        async move {
            match handlers {
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
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
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
