//! `pipeline bench`: the model alone, end to end, and latency against load.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use super::nats::NatsArgs;
use super::train::{ModelArgs, load_model};
use crate::runtime;

#[derive(Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Time the model alone (otherwise: end to end through NATS).
    #[arg(long)]
    pub(crate) model_only: bool,
    /// End to end: the NATS server and credentials (the service runs in
    /// this process unless --external-service).
    #[command(flatten)]
    pub(crate) conn: NatsArgs,
    /// End to end: a `pipeline serve` is already running; do not start one.
    #[arg(long)]
    pub(crate) external_service: bool,
    /// End to end: streams.
    #[arg(long, default_value_t = 1000)]
    pub(crate) streams: usize,
    /// End to end: samples per second per stream (0 = flat out).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) rate: f64,
    /// End to end: write every latency (µs, one per line) to this file.
    #[arg(long)]
    pub(crate) latencies: Option<PathBuf>,
    /// End to end: run the service in durable mode (samples published to
    /// JetStream and acknowledged; loss counted from the output stream).
    #[arg(long)]
    pub(crate) durable: bool,
    /// End to end: plot RSS and windows received over time to this PNG.
    #[arg(long)]
    pub(crate) rss_plot: Option<PathBuf>,
    /// End to end: follow the memory of this process (e.g. a `pipeline
    /// serve` run with --external-service) instead of this one.
    #[arg(long)]
    pub(crate) rss_pid: Option<u32>,
    /// End to end: the service's --max-wait (default: the service's, 0).
    #[arg(long, value_parser = pipeline::config::parse_duration_with_unit)]
    pub(crate) max_wait: Option<std::time::Duration>,
    /// End to end: publishing time (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = pipeline::config::parse_duration)]
    pub(crate) duration: std::time::Duration,
    /// Latency against load: open-loop Poisson arrivals at each of --loads
    /// (fractions of the model-only capacity measured first), p50/p99/p99.9
    /// and throughput per load.
    #[arg(long, conflicts_with_all = ["model_only", "durable", "external_service"])]
    pub(crate) latency: bool,
    /// With --latency: the loads, as fractions of the measured capacity.
    #[arg(long, value_delimiter = ',', default_value = "0.01,0.1,0.5,0.9")]
    pub(crate) loads: Vec<f64>,
    /// With --latency: also run every load through a batcher with this fixed
    /// max_wait (alternating), to compare in one run.
    #[arg(long, value_parser = pipeline::config::parse_duration_with_unit)]
    pub(crate) compare_max_wait: Option<std::time::Duration>,
    /// With --latency: draw p50 and p99 against throughput to this PNG.
    #[arg(long)]
    pub(crate) plot: Option<PathBuf>,
    /// Batch sizes.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256,1024")]
    pub(crate) batch: Vec<usize>,
    /// Thread counts (each thread runs whole batches).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub(crate) threads: Vec<usize>,
    /// Paths to time.
    #[arg(long, value_delimiter = ',', default_value = "fast,reference")]
    pub(crate) path: Vec<BenchPath>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) seconds: f64,
    /// Measurements per case (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub(crate) repeats: usize,
    /// One JSON object per case, one per line.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum BenchPath {
    Fast,
    Reference,
}

pub(crate) fn bench(models_dir: &Path, mut a: BenchArgs) -> Result<()> {
    use pipeline::bench::{self, ModelBench};
    if a.model.pair.is_none() && a.model.model.is_none() {
        a.model.pair = Some("sin-cos".into());
    }
    let loaded = load_model(models_dir, &a.model)?;
    if !a.model_only {
        // The model-only figure of the same run, for the ratio; measured
        // again after the run, so that a reader sees how far the machine
        // drifted meanwhile (on a shared VM, several per cent a minute).
        let reference = || -> Result<Option<f64>> {
            let cfg = ModelBench {
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
            Ok(bench::model_only(&loaded, &cfg, |_| {})?
                .first()
                .map(|c| c.windows_per_sec))
        };
        let before = reference()?;
        let window = loaded.model.window();
        let rt = runtime()?;
        let Some(mut report) = rt.block_on(bench_e2e(models_dir, &a, window, before))? else {
            return Ok(()); // --latency reports as it goes
        };
        report.model_only_after_windows_per_sec = reference()?;
        print_e2e(&a, &report)?;
        return Ok(());
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

/// The end-to-end run (its report, to print once the model-only figure
/// after it is in), or `--latency`'s curve (printed as it goes: `None`).
pub(crate) async fn bench_e2e(
    models_dir: &Path,
    a: &BenchArgs,
    window: usize,
    model_only: Option<f64>,
) -> Result<Option<pipeline::bench::E2eReport>> {
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
        bench_latency(&setup, a, capacity).await?;
        return Ok(None);
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
    Ok(Some(report))
}

/// Prints an end-to-end report: one JSON line with `--json`, else text.
fn print_e2e(a: &BenchArgs, report: &pipeline::bench::E2eReport) -> Result<()> {
    if a.json {
        println!("{}", serde_json::to_string(report)?);
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
        if let Some(n) = report.windows_shed.filter(|n| *n > 0) {
            println!("shed: {n} windows (the service could not keep up; counted in the loss)");
        }
        println!(
            "RSS: {:.1} MiB at the start, {:.1} MiB peak, {:.1} MiB at the end",
            report.rss_start_mib, report.rss_peak_mib, report.rss_end_mib
        );
        println!(
            "steady: {:.0} windows/s from the first translation received to the last",
            report.steady_windows_per_sec
        );
        if let Some(m) = report.model_only_windows_per_sec {
            println!(
                "model only (fast path, 1 thread, batch 256, same run): {m:.0} windows/s; end to end (steady) is {:.0}% of it",
                100.0 * report.steady_windows_per_sec / m
            );
        }
        if let Some(m) = report.model_only_after_windows_per_sec {
            println!("model only again after the run: {m:.0} windows/s (the machine's drift)");
        }
    }
    Ok(())
}

/// `bench --latency`: the latency-against-load curve.
pub(crate) async fn bench_latency(
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
