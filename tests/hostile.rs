//! Hostile input at volume, in a test process of its own (it measures the
//! process's resident memory, which other tests running beside it would
//! disturb): a flood of bad messages is reported one by one, memory levels
//! off, and good streams stay complete and exact.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::nats::{NatsServer, RawConnection, raw_pub};
use common::sample;
use common::service::*;
use pipeline::wire::{ErrorKind, SamplesOut};

/// Samples this process' resident set size every 10 ms, to report the
/// peak over a stretch of a test.
struct RssPeak {
    base: u64,
    peak: Arc<std::sync::atomic::AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

impl RssPeak {
    fn start() -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let base = rss_mib();
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(base));
        let (flag, max) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Relaxed) {
                max.fetch_max(rss_mib(), Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssPeak {
            base,
            peak,
            stop,
            thread,
        }
    }

    /// Peak RSS so far, MiB.
    fn peak(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// (RSS at the start, peak RSS), MiB.
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = self.peak.clone();
        let _ = self.thread.join();
        (self.base, peak.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// Hostile input interleaved with good streams: every bad message is
/// reported once, the good streams' translations are complete and exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_flood_is_reported_and_good_streams_stay_exact() {
    let server = NatsServer::start();
    let svc = Svc::start(&server.url(), config()).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    let mut good = client.subscribe("translated.good.>").await.unwrap();
    client.flush().await.unwrap();

    // A map whose `value` is arrays nested far past any sane depth.
    let mut deep = vec![0x81u8, 0xa5];
    deep.extend_from_slice(b"value");
    deep.extend(std::iter::repeat_n(0x91u8, 100_000));
    deep.push(0x01);
    let huge = SamplesOut {
        seq: 0,
        value: None,
        values: Some(&vec![0.5f32; 70_000]),
        ts: None,
    }
    .encode();
    let hostile: [Vec<u8>; 6] = [
        b"\xff\xfe garbage".to_vec(),
        deep,
        huge,
        rmp_serde::to_vec_named(&serde_json::json!({"seq": u64::MAX, "values": [1.0, 2.0]}))
            .unwrap(),
        rmp_serde::to_vec_named(&serde_json::json!({"seq": "seven", "value": 1.0})).unwrap(),
        rmp_serde::to_vec_named(&serde_json::json!({"seq": 1, "value": {"nested": true}})).unwrap(),
    ];
    let infinity = sample(1, f32::INFINITY);
    let rotating: [Vec<u8>; 2] = [Vec::new(), infinity];
    let (n_good, n_samples) = (5u64, 60u64);
    let rounds = 12_500; // 8 hostile messages per round (6 + 1 + 1 raw): 100,000 in all
    let bad_total = rounds * 8;
    // Error events are read while the flood goes on (100,000 would overflow
    // the subscription's buffer if read only at the end).
    let events = tokio::spawn(async move {
        let events = collect(&mut errors, bad_total, event).await;
        assert_quiet(&mut errors, Duration::from_millis(300)).await;
        events
    });
    // The eighth of each round is framing no official client sends, on a
    // raw connection: a subject that is not UTF-8, or a header block with a
    // lone CR in a value (around a good sample, which must not be trusted).
    let good_sample = sample(0, 1.0);
    let mut raw = RawConnection::open(server.port);
    let rss = RssPeak::start();
    let mut rng = pipeline::rng::Rng::new(99);
    let mut early_peak = 0;
    for round in 0..rounds {
        if round == rounds / 2 {
            early_peak = rss.peak();
        }
        let key = format!("samples.bad{}", rng.below(1000));
        if round % 2 == 0 {
            raw.send(&raw_pub(
                &[key.as_bytes(), b"\xff"].concat(),
                None,
                &good_sample,
            ));
        } else {
            let headers = b"NATS/1.0\r\nX: a\rb\r\n\r\n";
            raw.send(&raw_pub(key.as_bytes(), Some(headers), &good_sample));
        }
        let p = &rotating[round % 2];
        client
            .publish(format!("samples.bad{}", rng.below(1000)), p.clone().into())
            .await
            .unwrap();
        for p in &hostile {
            client
                .publish(format!("samples.bad{}", rng.below(1000)), p.clone().into())
                .await
                .unwrap();
        }
        if round < n_samples as usize {
            for s in 0..n_good {
                let seq = round as u64;
                send(&client, &format!("good.{s}"), seq, &[input_at(seq + s)]).await;
            }
        }
        if round % 100 == 99 {
            // Waits for the server's PONG: off the runtime's two workers.
            tokio::task::block_in_place(|| raw.flush());
            // Core NATS has no back-pressure: a publisher faster than the
            // service fills the client's buffer (or, bounded, drops). Flood
            // at the pace the service takes it.
            let sent = (round as u64 + 1) * 8 + (round as u64 + 1).min(n_samples) * n_good;
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while svc.stats.snapshot().messages_in + 500 < sent {
                assert!(std::time::Instant::now() < deadline, "the service stalled");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    client.flush().await.unwrap();

    let got = collect(
        &mut good,
        (n_good * (n_samples - W + 1)) as usize,
        translation,
    )
    .await;
    let events = events.await.unwrap();
    // A subject that is not UTF-8 yields no stream key: its event names the
    // subject as received (lossily).
    assert!(
        events.iter().all(|e| e.stream.starts_with("bad")
            || (e.kind == ErrorKind::BadSubject && e.subject.ends_with('\u{FFFD}'))),
        "only bad streams reported"
    );
    let s = svc.stats.snapshot();
    assert_eq!(
        s.errors.values().sum::<u64>(),
        bad_total as u64,
        "{:?}",
        s.errors
    );
    assert_eq!(s.errors["slow_consumer"], 0);
    assert_eq!(s.errors["bad_subject"], bad_total as u64 / 16);
    assert_eq!(s.reconnects, 0);
    // Memory stays bounded: the flood (about 5.6 GB of payload, most of it
    // in 70,000-value arrays) passes through without accumulating.
    let (base, peak) = rss.stop();
    let payload_mb = rounds * hostile.iter().map(Vec::len).sum::<usize>() / 1_000_000;
    eprintln!(
        "flood of {bad_total} messages, over {payload_mb} MB of payload; RSS before it {base} MiB, \
         peak in its first half {early_peak} MiB, overall {peak} MiB"
    );
    // It levels off: the second half adds (almost) nothing to the peak of
    // the first, and the peak stays far below what went through.
    assert!(
        peak < early_peak + 64,
        "RSS kept growing: {early_peak} → {peak} MiB"
    );
    assert!(peak - base < 256, "RSS grew from {base} to {peak} MiB");

    let direct =
        pipeline::format::load(&manifest().join("models/sin-cos.safetensors"), None).unwrap();
    for t in &got {
        let s: u64 = t.stream.trim_start_matches("good.").parse().unwrap();
        let window: Vec<f32> = (t.seq..t.seq + W).map(|q| input_at(q + s)).collect();
        assert_eq!(
            t.values,
            direct.fast.translate_rows(&window).unwrap(),
            "{} {}",
            t.stream,
            t.seq
        );
    }
    svc.shutdown().await;
}
