//! End to end through NATS: a service (in this process, or already
//! running), streams published at a rate or as Poisson arrivals, and what
//! comes back: throughput, loss, latency, memory.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{latency, percentile};
use crate::error::{Error, Result};

/// What `pipeline bench` (end to end) does.
#[derive(Debug, Clone)]
pub struct E2eBench {
    /// Streams published, `bench-0` … under `<prefix>.`.
    pub streams: usize,
    /// Samples per second per stream; 0 = as fast as the publisher can.
    pub rate: f64,
    /// How long to publish.
    pub duration: Duration,
    /// Subject prefix of the samples (the service's input without `.>`).
    pub prefix: String,
    /// Output prefix the service publishes to.
    pub output: String,
    /// Window length of the model (windows per stream = samples − W + 1).
    pub window: usize,
    /// Compute threads and batch size of the service (for the report only).
    pub threads: usize,
    pub batch: usize,
    /// Durable mode: publish samples to JetStream (awaiting each ack) and
    /// count what this output stream stored.
    pub durable_output: Option<String>,
    /// Whose memory to follow: this process (None) or another one, such as
    /// a `pipeline serve` started separately.
    pub rss_pid: Option<u32>,
    /// Open-loop Poisson arrivals (this seed) at `streams × rate` samples/s
    /// in all, instead of every stream's sample at each period (core mode).
    pub poisson: Option<u64>,
}

/// Everything `pipeline bench` (end to end) sets up around [`e2e`]: the
/// service in this process (unless external), its route, and in durable
/// mode a fresh set of streams and the wait for its consumer.
#[derive(Debug, Clone)]
pub struct E2eSetup {
    pub nats: String,
    /// Credentials and TLS, for the bench's client and the in-process service.
    pub auth: crate::config::NatsAuth,
    pub models_dir: std::path::PathBuf,
    pub pair: String,
    pub model: Option<std::path::PathBuf>,
    /// The model's window (windows per stream = samples − W + 1).
    pub window: usize,
    /// `--window` for a model file that does not record it.
    pub model_window: Option<usize>,
    pub threads: usize,
    /// The service's max batch (`None`: its default).
    pub batch: Option<usize>,
    pub streams: usize,
    pub rate: f64,
    pub duration: Duration,
    pub durable: bool,
    /// A `pipeline serve` is already running: do not start one.
    pub external_service: bool,
    pub rss_pid: Option<u32>,
    /// The service's `max_wait` (`None`: its default).
    pub max_wait: Option<Duration>,
    /// Poisson arrivals with this seed (see [`E2eBench::poisson`]).
    pub poisson: Option<u64>,
}

/// Subjects, streams and bucket of the end-to-end bench.
const PREFIX: &str = "bench-samples";
const OUTPUT: &str = "bench-translated";
const INPUT_STREAM: &str = "BENCH_SAMPLES";
const OUTPUT_STREAM: &str = "BENCH_TRANSLATED";
const BUCKET: &str = "BENCH_CHECKPOINTS";

/// Runs [`e2e`] against a service started here (in this process) or
/// already running, and stops the one it started.
pub async fn e2e_with_service(s: &E2eSetup) -> Result<E2eReport> {
    use crate::config::{DurableConfig, RouteConfig, ServeConfig};
    let batch = s.batch.unwrap_or_else(crate::config::defaults::max_batch);
    let mut config = ServeConfig::with_routes(vec![RouteConfig {
        model: s.model.clone(),
        input: format!("{PREFIX}.>"),
        output: OUTPUT.into(),
        window: s.model_window,
        ..RouteConfig::new(&s.pair)
    }]);
    config.models_dir = s.models_dir.clone();
    config.compute_threads = s.threads;
    config.max_batch = batch;
    config.service = false;
    config.max_streams = s.streams.max(1) * 2;
    if let Some(w) = s.max_wait {
        config.max_wait_ms = w.as_secs_f64() * 1e3;
    }
    let nats_err = |what: &str| {
        let what = what.to_string();
        move |e: String| Error::Nats(format!("{what}: {e}"))
    };
    if s.durable {
        config.durable = Some(DurableConfig {
            input_stream: INPUT_STREAM.into(),
            output_stream: OUTPUT_STREAM.into(),
            checkpoint_bucket: BUCKET.into(),
            instance: Some("bench".into()),
            ..Default::default()
        });
        if !s.external_service {
            // A fresh run: no samples, windows or checkpoints of an earlier one.
            let client = crate::nats::connect_with(&s.nats, &s.auth, false)
                .await?
                .client;
            let js = async_nats::jetstream::new(client);
            for name in [INPUT_STREAM, OUTPUT_STREAM, &format!("KV_{BUCKET}")] {
                let _ = js.delete_stream(name).await;
            }
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stats = std::sync::Arc::new(crate::stats::Stats::default());
    let service = if s.external_service {
        None
    } else {
        let conn = crate::nats::connect_with(&s.nats, &s.auth, false).await?;
        Some(tokio::spawn(crate::service::run(
            conn,
            config,
            stats.clone(),
            async {
                let _ = stop_rx.await;
            },
        )))
    };
    // Give the service a moment to subscribe.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let conn = crate::nats::connect_with(&s.nats, &s.auth, false).await?;
    if s.durable {
        // Wait for the durable unit's consumer: samples published before it
        // exists are still read, but would count as queueing latency.
        let js = async_nats::jetstream::new(conn.client.clone());
        let consumer = crate::service::consumer_name(&s.pair, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(st) = js.get_stream(INPUT_STREAM).await
                && st.consumer_info(consumer.clone()).await.is_ok()
            {
                break;
            }
            if Instant::now() >= deadline {
                return Err(nats_err("bench")(
                    "the durable service did not start".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let cfg = E2eBench {
        streams: s.streams,
        rate: s.rate,
        duration: s.duration,
        prefix: PREFIX.into(),
        output: OUTPUT.into(),
        window: s.window,
        threads: s.threads,
        batch,
        durable_output: s.durable.then(|| OUTPUT_STREAM.to_string()),
        rss_pid: s.rss_pid,
        poisson: s.poisson,
    };
    let report = e2e(&conn.client, &cfg).await;
    let _ = stop_tx.send(());
    let in_process = service.is_some();
    if let Some(task) = service {
        task.await
            .map_err(|e| nats_err("the service task")(e.to_string()))??;
    }
    report.map(|mut r| {
        if in_process && !s.durable {
            r.windows_shed = Some(
                stats
                    .windows_shed
                    .load(std::sync::atomic::Ordering::Relaxed),
            );
        }
        r
    })
}

/// The end-to-end figures.
#[derive(Debug, Clone, Serialize)]
pub struct E2eReport {
    /// `core` or `durable`.
    pub mode: &'static str,
    pub path: &'static str,
    pub threads: usize,
    pub batch: usize,
    pub streams: usize,
    pub target_rate: f64,
    pub samples_sent: u64,
    pub windows_expected: u64,
    pub windows_received: u64,
    pub loss: u64,
    /// Windows received per second, from the first publication to the last
    /// translation received (the service may still be draining stored input
    /// when publishing ends).
    pub windows_per_sec: f64,
    /// Windows received per second while translations flowed: from the
    /// first one received to the last. Unlike `windows_per_sec` it leaves
    /// out the start, when no stream has its first W samples yet (1.3 s at
    /// 18 samples/s), so it does not depend on the run's length: the rate
    /// to set against the model's.
    pub steady_windows_per_sec: f64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// Durable mode: windows the output stream holds at the end (loss is
    /// then counted from these, not from what the live subscriber saw).
    pub windows_stored: Option<u64>,
    /// Core mode with the service in-process: windows it shed because the
    /// model could not keep up (part of `loss`; the rest of a loss is
    /// samples the client dropped, which cost a window's length each).
    pub windows_shed: Option<u64>,
    /// Resident set size, MiB, of this process (service included when it
    /// runs in-process; note that this process also keeps every latency,
    /// 8 bytes per window) or of `--rss-pid`: at the start, the largest
    /// seen, and at the end.
    pub rss_start_mib: f64,
    pub rss_peak_mib: f64,
    pub rss_end_mib: f64,
    /// The model alone on the fast path, 1 thread, batch 256, measured in
    /// the same run just before (for the end-to-end / model-only ratio).
    pub model_only_windows_per_sec: Option<f64>,
    /// The same, measured again just after the run: how far the machine's
    /// speed moved meanwhile (not used for the ratio).
    pub model_only_after_windows_per_sec: Option<f64>,
    /// (seconds since the start, RSS MiB, windows received so far), every
    /// second (not in the JSON line).
    #[serde(skip)]
    pub rss_series: Vec<(f64, f64, u64)>,
    /// Every latency measured, µs, sorted (not in the JSON line).
    #[serde(skip)]
    pub latencies_us: Vec<f64>,
}

/// Publishes `cfg.streams` sin streams at `cfg.rate` for `cfg.duration`
/// through a running service and measures what comes back on the output
/// subjects: rate, loss, and latency from a sample's publication to the
/// receipt of the window it completed.
pub async fn e2e(client: &async_nats::Client, cfg: &E2eBench) -> Result<E2eReport> {
    use futures::StreamExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let mut sub = client
        .subscribe(format!("{}.>", cfg.output))
        .await
        .map_err(|e| crate::Error::Nats(e.to_string()))?;
    crate::nats::barrier(client)
        .await
        .map_err(crate::Error::Nats)?;
    let done = Arc::new(AtomicBool::new(false));
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let pid = cfg.rss_pid;
    let rss_start = rss_mib(pid);
    // RSS and progress once a second; a line in the log every tenth of the run.
    let sampler = {
        let (done, received) = (done.clone(), received.clone());
        let every = (cfg.duration / 10).max(Duration::from_secs(1));
        tokio::spawn(async move {
            let started = Instant::now();
            let mut series = Vec::new();
            let mut logged = Instant::now();
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let point = (
                    started.elapsed().as_secs_f64(),
                    rss_mib(pid),
                    received.load(Ordering::Relaxed),
                );
                if logged.elapsed() >= every {
                    logged = Instant::now();
                    tracing::info!(
                        seconds = format!("{:.0}", point.0),
                        rss_mib = format!("{:.1}", point.1),
                        windows = point.2,
                        "bench progress"
                    );
                }
                series.push(point);
            }
            series
        })
    };
    let collector = {
        let done = done.clone();
        let received = received.clone();
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut first: Option<Instant> = None;
            let mut last: Option<Instant> = None;
            let mut quiet_since: Option<Instant> = None;
            loop {
                match tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
                    Ok(Some(m)) => {
                        quiet_since = None;
                        let now = Instant::now();
                        first.get_or_insert(now);
                        last = Some(now);
                        received.fetch_add(1, Ordering::Relaxed);
                        if let Ok(t) = crate::wire::Translation::decode(&m.payload)
                            && let Some(ts) = t.ts
                        {
                            lat.push(crate::stats::seconds_since(ts) * 1e6);
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        // After publishing ends, stop once nothing came for 2 s.
                        if done.load(Ordering::Relaxed) {
                            let q = *quiet_since.get_or_insert_with(Instant::now);
                            if q.elapsed() > Duration::from_secs(2) {
                                break;
                            }
                        }
                    }
                }
            }
            (lat, first, last)
        })
    };

    let js = cfg
        .durable_output
        .as_ref()
        .map(|_| async_nats::jetstream::new(client.clone()));
    let pair = crate::pairs::find("sin-cos")?;
    let subjects: Vec<String> = (0..cfg.streams)
        .map(|i| format!("{}.bench-{i}", cfg.prefix))
        .collect();
    let started = Instant::now();
    let mut seq = 0u64;
    let mut counts = None;
    if let (Some(seed), None) = (cfg.poisson, &js) {
        let total = cfg.rate * cfg.streams as f64;
        counts = Some(
            latency::poisson_publish(client, &subjects, total, cfg.duration, seed, cfg.window)
                .await?,
        );
    }
    let groups = send_groups(cfg.streams, cfg.rate);
    let per_group = cfg.streams.div_ceil(groups);
    let tick = (cfg.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / cfg.rate / groups as f64));
    let mut next = tokio::time::Instant::now();
    let mut acks = std::collections::VecDeque::new();
    while counts.is_none() && started.elapsed() < cfg.duration {
        let v = (pair.input)(pair.stream_x(seq)) as f32;
        for group in subjects.chunks(per_group) {
            if let Some(t) = tick {
                tokio::time::sleep_until(next).await;
                next += t;
            }
            let payload: bytes::Bytes = crate::wire::SamplesOut {
                seq,
                value: Some(v),
                values: None,
                ts: Some(crate::wire::now_ns()),
            }
            .encode()
            .into();
            match &js {
                None => {
                    for s in group {
                        client
                            .publish(s.clone(), payload.clone())
                            .await
                            .map_err(|e| crate::Error::Nats(e.to_string()))?;
                    }
                }
                // Durable: every sample's acknowledgement is checked, with at
                // most `UNACKED` outstanding. Waiting for each group's before
                // the next (as before) capped the offered load at one group
                // per round trip, below what the service takes.
                Some(js) => {
                    for s in group {
                        let ack = js
                            .publish(s.clone(), payload.clone())
                            .await
                            .map_err(|e| crate::Error::Nats(e.to_string()))?;
                        acks.push_back(ack);
                        if acks.len() >= UNACKED {
                            await_stored(&mut acks).await?;
                        }
                    }
                }
            }
            if tick.is_none() {
                // Flat out: let the client's writer keep up.
                tokio::task::yield_now().await;
            }
        }
        seq += 1;
    }
    while !acks.is_empty() {
        await_stored(&mut acks).await?;
    }
    client
        .flush()
        .await
        .map_err(|e| crate::Error::Nats(e.to_string()))?;
    let publish_secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let (mut lat, first, last) = collector
        .await
        .map_err(|e| crate::Error::Nats(e.to_string()))?;
    // The run lasts until the last translation arrived: in durable mode the
    // service is still draining the stored input after publishing ends.
    let run_secs = last.map_or(0.0, |l| l.saturating_duration_since(started).as_secs_f64());
    let run_secs = run_secs.max(publish_secs);
    let rss_series = sampler
        .await
        .map_err(|e| crate::Error::Nats(e.to_string()))?;
    lat.sort_by(|a, b| a.total_cmp(b));
    let counts = counts.unwrap_or_else(|| vec![seq; cfg.streams]);
    let expected: u64 = counts
        .iter()
        .map(|n| (n + 1).saturating_sub(cfg.window as u64))
        .sum();
    let sent: u64 = counts.iter().sum();
    let received = lat.len() as u64;
    let windows_stored = match (&js, &cfg.durable_output) {
        (Some(js), Some(name)) => Some(stored_messages(js, name, expected).await?),
        _ => None,
    };
    let rss_end = rss_mib(pid);
    let rss_peak = rss_series
        .iter()
        .map(|p| p.1)
        .fold(rss_start.max(rss_end), f64::max);
    Ok(E2eReport {
        mode: if cfg.durable_output.is_some() {
            "durable"
        } else {
            "core"
        },
        path: "e2e",
        threads: cfg.threads,
        batch: cfg.batch,
        streams: cfg.streams,
        target_rate: cfg.rate,
        samples_sent: sent,
        windows_expected: expected,
        windows_received: received,
        loss: expected.saturating_sub(windows_stored.unwrap_or(received)),
        windows_stored,
        windows_shed: None,
        rss_start_mib: rss_start,
        rss_peak_mib: rss_peak,
        rss_end_mib: rss_end,
        rss_series,
        windows_per_sec: received as f64 / run_secs,
        steady_windows_per_sec: steady_rate(received, first, last),
        p50_us: percentile(&lat, 0.5),
        p95_us: percentile(&lat, 0.95),
        p99_us: percentile(&lat, 0.99),
        max_us: lat.last().copied().unwrap_or(f64::NAN),
        model_only_windows_per_sec: None,
        model_only_after_windows_per_sec: None,
        latencies_us: lat,
    })
}

/// How many groups the streams are published in, one group per tick over
/// each sample period, as independent sources would arrive rather than all
/// at the same instant: at least 50, and at low rates as many as keep a
/// tick of 1 ms (the timer's resolution). With 50 groups, 10,000 streams at
/// 1/s arrived 200 at a time, and computing such a burst (~6 ms on one
/// thread) was most of what their latency measured.
fn send_groups(streams: usize, rate: f64) -> usize {
    let most = if rate > 0.0 {
        ((1000.0 / rate) as usize).max(50)
    } else {
        50
    };
    streams.clamp(1, most)
}

/// `n` arrivals from `first` to `last` span `n − 1` intervals (0 when
/// fewer than two arrived).
fn steady_rate(n: u64, first: Option<Instant>, last: Option<Instant>) -> f64 {
    match (first, last) {
        (Some(f), Some(l)) if n >= 2 && l > f => (n - 1) as f64 / (l - f).as_secs_f64(),
        _ => 0.0,
    }
}

/// Resident set size of this process or of `pid`, MiB (0 where /proc is
/// missing).
pub fn rss_mib(pid: Option<u32>) -> f64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// How many durable sample publications `e2e` keeps unacknowledged.
const UNACKED: usize = 4096;

/// Waits for the oldest outstanding publication's acknowledgement: an
/// error if the server did not store the sample.
async fn await_stored(
    acks: &mut std::collections::VecDeque<async_nats::jetstream::context::PublishAckFuture>,
) -> Result<()> {
    if let Some(ack) = acks.pop_front() {
        ack.await
            .map_err(|e| crate::Error::Nats(format!("sample not stored: {e}")))?;
    }
    Ok(())
}

/// Messages in a JetStream stream, once it stops growing (or reaches
/// `expected`): the durable service may still be storing the last windows.
async fn stored_messages(
    js: &async_nats::jetstream::Context,
    stream: &str,
    expected: u64,
) -> Result<u64> {
    let mut s = js
        .get_stream(stream)
        .await
        .map_err(|e| crate::Error::Nats(format!("stream {stream}: {e}")))?;
    let mut last = (0, Instant::now());
    loop {
        let n = s
            .info()
            .await
            .map_err(|e| crate::Error::Nats(format!("stream {stream}: {e}")))?
            .state
            .messages;
        if n >= expected || (n == last.0 && last.1.elapsed() > Duration::from_secs(5)) {
            return Ok(n);
        }
        if n != last.0 {
            last = (n, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_counts_intervals_between_arrivals() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(steady_rate(11, Some(t0), Some(t1)), 20.0);
        assert_eq!(steady_rate(1, Some(t0), Some(t0)), 0.0);
        assert_eq!(steady_rate(0, None, None), 0.0);
    }

    #[test]
    fn streams_are_sent_in_small_groups_at_low_rates() {
        // 10 streams a group, a tick of 1 ms.
        assert_eq!(send_groups(10_000, 1.0), 1_000);
        // Fast streams: 50 groups, as before.
        assert_eq!(send_groups(1_000, 60.0), 50);
        assert_eq!(send_groups(2_000, 0.0), 50);
        // Never more groups than streams, never none.
        assert_eq!(send_groups(20, 100.0), 20);
        assert_eq!(send_groups(0, 1.0), 1);
    }
}
