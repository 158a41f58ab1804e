//! `pipeline bench`. Here `--model-only`: windows per second of the fast
//! and the reference paths at several batch sizes and thread counts,
//! measured in one run, alternating paths, median of several repeats; in
//! `e2e` the service end to end, in `latency` latency against load.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::Result;
use crate::fast::Scratch;
use crate::format::LoadedModel;
use crate::rng::Rng;

pub mod e2e;
pub mod latency;

pub use e2e::{E2eBench, E2eReport, E2eSetup, e2e, e2e_with_service, rss_mib};

/// Which implementation a figure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    Fast,
    Reference,
}

/// One measured case (one JSON line with `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub path: Path,
    pub threads: usize,
    pub batch: usize,
    /// Median over the repeats.
    pub windows_per_sec: f64,
    /// Per-batch latency percentiles over every batch of every repeat, µs.
    pub p50_us: f64,
    pub p99_us: f64,
    pub repeats: usize,
    pub kernel: &'static str,
    /// Useful FP32 GFLOP/s (see [`crate::roofline::flops_per_window`]).
    pub gflops: f64,
    /// This process's one-thread FP32 peak (FMA probe), times `threads`.
    pub peak_gflops: f64,
    /// `gflops / peak_gflops`.
    pub peak_fraction: f64,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct ModelBench {
    pub batches: Vec<usize>,
    pub threads: Vec<usize>,
    pub paths: Vec<Path>,
    /// Measuring time per repeat.
    pub seconds: f64,
    pub repeats: usize,
    /// One thread's FP32 peak, measured in this process before the cases.
    pub peak: crate::roofline::Peak,
}

fn run_batches(
    model: &LoadedModel,
    path: Path,
    input: &[f32],
    until: Instant,
    lat: &mut Vec<f64>,
) -> Result<u64> {
    let w = model.model.window();
    let batch = input.len() / w;
    let mut out = vec![0f32; input.len()];
    let mut scratch = Scratch::default();
    let mut windows = 0u64;
    loop {
        let t = Instant::now();
        match path {
            Path::Fast => model.fast.translate_into(input, &mut out, &mut scratch)?,
            Path::Reference => {
                out = model.model.translate_rows(input)?;
            }
        }
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        windows += batch as u64;
        if Instant::now() >= until {
            return Ok(windows);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Measures every (batch, threads, path) case; `report` sees each as it is done.
pub fn model_only(
    model: &LoadedModel,
    cfg: &ModelBench,
    mut report: impl FnMut(&Case),
) -> Result<Vec<Case>> {
    let w = model.model.window();
    let flops = crate::roofline::flops_per_window(model.model.hidden(), w);
    let mut rng = Rng::new(7);
    let mut cases = Vec::new();
    for &threads in &cfg.threads {
        for &batch in &cfg.batches {
            let input: Vec<f32> = (0..batch * w)
                .map(|_| rng.uniform(-1.0, 1.0) as f32)
                .collect();
            let mut rates: Vec<Vec<f64>> = vec![Vec::new(); cfg.paths.len()];
            let mut lats: Vec<Vec<f64>> = vec![Vec::new(); cfg.paths.len()];
            // Warm-up, then alternate the paths within each repeat so that
            // machine drift hits them alike.
            for &path in &cfg.paths {
                let warm = Instant::now() + Duration::from_millis(200);
                run_batches(model, path, &input, warm, &mut Vec::new())?;
            }
            for _ in 0..cfg.repeats {
                for (k, &path) in cfg.paths.iter().enumerate() {
                    let started = Instant::now();
                    let until = started + Duration::from_secs_f64(cfg.seconds);
                    let results: Vec<Result<(u64, Vec<f64>)>> = std::thread::scope(|s| {
                        let handles: Vec<_> = (0..threads)
                            .map(|_| {
                                let input = &input;
                                s.spawn(move || {
                                    let mut lat = Vec::new();
                                    run_batches(model, path, input, until, &mut lat)
                                        .map(|n| (n, lat))
                                })
                            })
                            .collect();
                        handles
                            .into_iter()
                            .map(|h| h.join().unwrap_or_else(|_| Ok((0, Vec::new()))))
                            .collect()
                    });
                    let elapsed = started.elapsed().as_secs_f64();
                    let mut total = 0u64;
                    for r in results {
                        let (n, lat) = r?;
                        total += n;
                        lats[k].extend(lat);
                    }
                    rates[k].push(total as f64 / elapsed);
                }
            }
            for (k, &path) in cfg.paths.iter().enumerate() {
                let mut r = rates[k].clone();
                r.sort_by(|a, b| a.total_cmp(b));
                let mut l = std::mem::take(&mut lats[k]);
                l.sort_by(|a, b| a.total_cmp(b));
                let rate = percentile(&r, 0.5);
                let gflops = rate * flops / 1e9;
                let peak_gflops = cfg.peak.gflops * threads as f64;
                let case = Case {
                    path,
                    threads,
                    batch,
                    windows_per_sec: rate,
                    gflops,
                    peak_gflops,
                    peak_fraction: gflops / peak_gflops,
                    p50_us: percentile(&l, 0.5),
                    p99_us: percentile(&l, 0.99),
                    repeats: cfg.repeats,
                    kernel: match path {
                        Path::Fast => crate::fast::kernel_name(),
                        Path::Reference => "candle-nn",
                    },
                };
                report(&case);
                cases.push(case);
            }
        }
    }
    Ok(cases)
}
