//! `pipeline bench --latency`: latency against load, as users feel it.
//! Open-loop Poisson arrivals (the publisher never waits for answers) at
//! fractions of the capacity measured in the same run; per load, the
//! percentiles of sample-published → translation-received, and the
//! throughput achieved. Optionally the same loads through a batcher with a
//! fixed `max_wait`, alternating, so the two are compared in one run.

use std::time::Duration;

use serde::Serialize;

use super::e2e::{E2eSetup, e2e_with_service};
use super::percentile;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// One load through one batcher.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyPoint {
    /// The service's `max_wait`, µs (0: the batcher that never waits when idle).
    pub max_wait_us: f64,
    /// Offered load as a fraction of the measured capacity.
    pub load: f64,
    /// Samples per second offered (all streams).
    pub offered_per_sec: f64,
    /// Windows per second received.
    pub windows_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub loss: u64,
    pub streams: usize,
}

/// Runs every load through every `max_wait` (alternating within a load).
pub async fn latency_curve(
    setup: &E2eSetup,
    capacity: f64,
    loads: &[f64],
    waits: &[Duration],
    mut report: impl FnMut(&LatencyPoint),
) -> Result<Vec<LatencyPoint>> {
    let mut points = Vec::new();
    for (k, &load) in loads.iter().enumerate() {
        for &wait in waits {
            let offered = load * capacity;
            let s = E2eSetup {
                rate: offered / setup.streams.max(1) as f64,
                max_wait: Some(wait),
                poisson: Some(7 + k as u64),
                ..setup.clone()
            };
            let r = e2e_with_service(&s).await?;
            let point = LatencyPoint {
                max_wait_us: wait.as_secs_f64() * 1e6,
                load,
                offered_per_sec: offered,
                windows_per_sec: r.windows_per_sec,
                p50_us: r.p50_us,
                p99_us: r.p99_us,
                p999_us: percentile(&r.latencies_us, 0.999),
                max_us: r.max_us,
                loss: r.loss,
                streams: r.streams,
            };
            report(&point);
            points.push(point);
        }
    }
    Ok(points)
}

/// Publishes samples with exponential gaps at `total` per second in all,
/// stream after stream in turn, for `duration`, after filling every
/// stream's first window but one (so from the first arrival on, each sample
/// completes a window, at any load); returns the samples each stream got. Runs on a blocking thread so its sleeps are the OS's (tens
/// of µs), not the async timer's millisecond ticks: arrivals keep their
/// Poisson spacing at thousands per second.
pub(super) async fn poisson_publish(
    client: &async_nats::Client,
    subjects: &[String],
    total: f64,
    duration: Duration,
    seed: u64,
    window: usize,
) -> Result<Vec<u64>> {
    if !(total.is_finite() && total > 0.0) || subjects.is_empty() {
        return Err(Error::Config(format!(
            "Poisson arrivals need a positive rate and streams (rate {total})"
        )));
    }
    let client = client.clone();
    let subjects = subjects.to_vec();
    let handle = tokio::runtime::Handle::current();
    let pair = crate::pairs::find("sin-cos")?;
    tokio::task::spawn_blocking(move || {
        let mut rng = Rng::new(seed);
        let sample = |seq: u64| {
            let payload = crate::wire::SamplesOut {
                seq,
                value: Some((pair.input)(pair.stream_x(seq)) as f32),
                values: None,
                ts: Some(crate::wire::now_ns()),
            }
            .encode();
            payload.into()
        };
        let fill = window.saturating_sub(1) as u64;
        for s in &subjects {
            for seq in 0..fill {
                handle
                    .block_on(client.publish(s.clone(), sample(seq)))
                    .map_err(|e| Error::Nats(e.to_string()))?;
            }
        }
        handle
            .block_on(crate::nats::barrier(&client))
            .map_err(Error::Nats)?;
        let mut counts = vec![fill; subjects.len()];
        let start = std::time::Instant::now();
        let mut next = start;
        for k in 0usize.. {
            // 1 − U is in (0, 1]: its log is finite.
            let gap = -(1.0 - rng.unit()).ln() / total;
            next += Duration::from_secs_f64(gap);
            if next.duration_since(start) >= duration {
                break;
            }
            let now = std::time::Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            let i = k % subjects.len();
            let seq = counts[i];
            counts[i] += 1;
            handle
                .block_on(client.publish(subjects[i].clone(), sample(seq)))
                .map_err(|e| Error::Nats(e.to_string()))?;
        }
        handle
            .block_on(client.flush())
            .map_err(|e| Error::Nats(e.to_string()))?;
        Ok(counts)
    })
    .await
    .map_err(|e| Error::Nats(format!("the publisher thread: {e}")))?
}
