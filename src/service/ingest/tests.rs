//! The hot path's own tests: shedding and waiting on a full queue, the
//! shutdown drain's read of what is buffered.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Handled, Ingest, IngestLimits, WhenFull, ready};
use crate::service::engine::Job;
use crate::service::events::Reporter;
use crate::stats::Stats;
use crate::wire::{ErrorKind, SamplesOut};

/// The shipped sin-cos route's ingest, its queue to the batcher `queue`
/// windows deep, and that queue's other end; the client never connects
/// (nothing here publishes: a window shed is no error event).
async fn sin_cos_ingest(queue: usize) -> (Ingest, mpsc::Receiver<Job>, Arc<Stats>) {
    let route = crate::service::testing::sin_cos_route();
    let client = crate::service::testing::unconnected_client().await;
    let stats = Arc::new(Stats::default());
    let reporter = Reporter {
        client,
        subject: "pipeline.errors".into(),
        stats: stats.clone(),
        last_log: Arc::default(),
        route: None,
    };
    let (jobs, rx) = mpsc::channel(queue);
    let limits = IngestLimits {
        max_streams: 10,
        idle_timeout: Duration::from_secs(60),
    };
    (Ingest::new(route, jobs, reporter, limits), rx, stats)
}

fn sample(seq: u64) -> async_nats::Message {
    let payload = SamplesOut {
        seq,
        value: Some(seq as f32),
        values: None,
        ts: None,
    }
    .encode();
    async_nats::Message {
        subject: "samples.a".into(),
        reply: None,
        payload: payload.into(),
        headers: None,
        status: None,
        description: None,
        length: 0,
    }
}

/// Over capacity, core mode drops whole windows, counted, and takes
/// every sample all the same: the stream's next window is complete
/// (no gap), where a dropped sample would have restarted it.
#[tokio::test]
async fn a_full_queue_sheds_windows_and_keeps_every_sample() {
    let (mut ingest, mut rx, stats) = sin_cos_ingest(2).await;
    let w = ingest.route.window as u64;
    // Seqs 0..w+5 complete 6 windows: 2 fit the queue, 4 are shed,
    // and nothing waits.
    for seq in 0..w + 5 {
        let msg = sample(seq);
        let handled = tokio::time::timeout(
            Duration::from_secs(5),
            ingest.handle(&msg, WhenFull::ShedIf(&|| true)),
        );
        assert!(!matches!(handled.await.unwrap(), Handled::Stopped));
    }
    assert_eq!(stats.windows_shed.load(Relaxed), 4);
    assert_eq!(ingest.route.counters.windows_shed.load(Relaxed), 4);
    let first: Vec<u64> = [rx.recv().await.unwrap(), rx.recv().await.unwrap()]
        .iter()
        .map(|j| j.seq)
        .collect();
    assert_eq!(first, [0, 1]);
    // With room again, the next sample's window is the whole last W.
    let handled = ingest
        .handle(&sample(w + 5), WhenFull::ShedIf(&|| true))
        .await;
    assert!(matches!(handled, Handled::Windows(1)), "no window");
    let job = rx.recv().await.unwrap();
    assert_eq!(job.seq, 6);
    let want: Vec<f32> = (6..=w + 5).map(|s| s as f32).collect();
    assert_eq!(job.input, want);
    assert_eq!(stats.samples_skipped.load(Relaxed), 0);
    assert_eq!(stats.errors_of(ErrorKind::Gap), 0);
    assert_eq!(stats.samples_in.load(Relaxed), w + 6);
}

/// Without the subscription nearly full (and always in durable mode
/// and the shutdown drain), a full queue is waited on: back-pressure,
/// nothing dropped.
#[tokio::test]
async fn a_full_queue_is_waited_on_otherwise() {
    let not_full = || false;
    for when_full in [WhenFull::Wait, WhenFull::ShedIf(&not_full)] {
        let (mut ingest, mut rx, stats) = sin_cos_ingest(1).await;
        let w = ingest.route.window as u64;
        for seq in 0..w {
            ingest.handle(&sample(seq), when_full).await;
        }
        let last = sample(w);
        let mut next = Box::pin(ingest.handle(&last, when_full));
        let waited = tokio::time::timeout(Duration::from_millis(50), next.as_mut()).await;
        assert!(waited.is_err(), "did not wait for room");
        assert_eq!(rx.recv().await.unwrap().seq, 0);
        assert!(matches!(next.await, Handled::Windows(1)));
        assert_eq!(rx.recv().await.unwrap().seq, 1);
        assert_eq!(stats.windows_shed.load(Relaxed), 0);
    }
}

/// The subscription's fill is asked for each window that finds the
/// queue full, not once per message: a message of many samples
/// completes many windows.
#[tokio::test]
async fn the_fill_is_asked_per_window_that_finds_the_queue_full() {
    let (mut ingest, mut rx, stats) = sin_cos_ingest(1).await;
    let w = ingest.route.window as u64;
    let asked = std::sync::atomic::AtomicU64::new(0);
    let full = || {
        asked.fetch_add(1, Relaxed);
        true
    };
    // One message of w + 3 samples: 4 windows, the first queued, the
    // other 3 find the queue full and are shed.
    let values: Vec<f32> = (0..w + 3).map(|s| s as f32).collect();
    let mut msg = sample(0);
    msg.payload = SamplesOut {
        seq: 0,
        value: None,
        values: Some(&values),
        ts: None,
    }
    .encode()
    .into();
    let handled = ingest.handle(&msg, WhenFull::ShedIf(&full)).await;
    assert!(matches!(handled, Handled::Windows(1)));
    assert_eq!(asked.load(Relaxed), 3);
    assert_eq!(stats.windows_shed.load(Relaxed), 3);
    assert_eq!(rx.recv().await.unwrap().seq, 0);
}

/// Every buffered item is taken in one go, however much of the task's
/// cooperative budget is spent (the old drain stopped after 128).
#[tokio::test]
async fn the_drain_takes_every_buffered_message() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1000);
    for i in 0..1000 {
        tx.try_send(i).unwrap();
    }
    let mut stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut taken = 0;
    while let Some(i) = ready(&mut stream) {
        assert_eq!(i, taken);
        taken += 1;
    }
    assert_eq!(taken, 1000);
}

/// How an off-rate warning writes a stream's step against the model's.
#[test]
fn ratios_are_written_as_people_read_them() {
    let t = super::said::times;
    assert_eq!(
        [t(2.0), t(2.5), t(1.0 / 0.4), t(1.5 / 1.0)],
        ["2", "2.5", "2.5", "1.5"]
    );
    assert_eq!(
        [t(2.0 / 3.0), t(300_000.0), t(123.4)],
        ["0.67", "300000", "123"]
    );
}

/// A `time_gap` between consecutive samples a few gaps apart says the
/// stream may be sampled at another rate (each of its samples restarts
/// the window); an outage, a jump over several samples, or a model of no
/// known step does not.
#[test]
fn a_time_gap_at_every_sample_hints_at_another_rate() {
    use crate::window::{TimeGap, TimeGaps};
    let s = 1_000_000_000i64;
    let gaps = TimeGaps {
        max_gap_ns: 3 * s,
        step_ns: s,
    };
    let jump = |after_seq: u64, seq: u64, elapsed_ns: i64| TimeGap {
        seq,
        after_seq,
        elapsed_ns,
    };
    let said = |j: TimeGap, g: TimeGaps| super::said::time_gap_detail(j, Some(g), false);
    let hint = "sampled at another rate than the model's step (1 s)";
    assert!(said(jump(4, 5, 4 * s), gaps).contains(hint));
    assert!(!said(jump(4, 5, 3_600 * s), gaps).contains("another rate"));
    assert!(!said(jump(4, 10, 8 * s), gaps).contains("another rate"));
    let unknown = TimeGaps { step_ns: 0, ..gaps };
    assert!(!said(jump(4, 5, 4 * s), unknown).contains("another rate"));
    // Back by as much as max_gap (the hour repeated at the end of daylight
    // saving, 45 min gap): said as time going back, no ns figures.
    let back = TimeGaps {
        max_gap_ns: 2_700 * s,
        ..gaps
    };
    // Milliseconds since a start read as seconds: a step of 1000 s.
    let ms = super::said::time_gap_detail(jump(4, 5, 1_000 * s), Some(gaps), true);
    assert!(ms.contains("if they are milliseconds"), "{ms}");
    assert!(!said(jump(4, 5, 1_000 * s), gaps).contains("milliseconds"));
    let said_back = said(jump(4, 5, -2_700 * s), back);
    assert!(
        said_back.contains("the time went back") && !said_back.contains(" ns"),
        "{said_back}"
    );
}

/// A quiet stream is kept twice the live model's gap: a model trained on
/// hourly rows put in later keeps its streams between two readings.
#[tokio::test]
async fn the_quiet_stream_time_follows_the_live_model() {
    let (ingest, _rx, _stats) = sin_cos_ingest(4).await;
    assert_eq!(ingest.limits().idle_timeout, Duration::from_secs(60));
    // The shipped model, its recording said to be sampled every hour.
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/sin-cos.safetensors");
    let loaded = crate::format::load(&shipped, None).unwrap();
    let tensors = candle_core::safetensors::load(&shipped, &candle_core::Device::Cpu).unwrap();
    let mut meta = loaded.meta;
    meta.metrics = Some(serde_json::json!({"time_step_s": 3600.0}));
    let dir = tempfile::tempdir().unwrap();
    let hourly = dir.path().join("hourly.safetensors");
    let (hidden, window) = (loaded.model.hidden(), loaded.model.window());
    crate::format::save(&hourly, &tensors, hidden, window, &meta).unwrap();
    ingest.route.reload(Some(&hourly), true).unwrap();
    // Its gap: three steps (3 h); kept twice that.
    assert_eq!(ingest.limits().idle_timeout, Duration::from_secs(6 * 3600));
}

/// A stream at another rate than the model's step is told how to mend
/// it: a replay's send times, a route's clock, or the clock to read it on
/// (the flag, exactly).
#[test]
fn a_stream_at_another_rate_is_told_the_clock_to_read_it_on() {
    let mend = super::said::mend_rate;
    assert!(mend(1.0 / 3.0, 900.0, false).contains("serve --resample 15m"));
    assert!(mend(4.0, 0.25, false).contains("resample = \"250ms\""));
    assert!(mend(1.0 / 3.0, 900.0, true).contains("send this stream's without seq"));
    assert!(mend(0.001, 900.0, false).contains("stamp the recording's own times"));
}

/// A stream's pace is measured over each run of 48 changes; a sped-up
/// replay (hourly values 50 ms apart on an hourly clock) is told from a
/// live sensor that changes every few seconds as it did in training.
#[test]
fn a_streams_pace_tells_a_sped_up_replay() {
    let mut pace = super::clocked::Pace::default();
    let ms = 1_000_000i64;
    let paces: Vec<Option<f64>> = (0..96).map(|i| pace.note(i * 50 * ms)).collect();
    assert_eq!(paces.iter().flatten().count(), 2);
    let per_s = paces[47].unwrap();
    assert!((per_s - 20.0).abs() < 1e-9, "{per_s}");
    // Trained on a change an hour, read every hour: 72,000× as often, 72,000
    // per tick.
    let (ratio, per_tick) = super::said::crowded(per_s, 1.0 / 3600.0, 3600.0).unwrap();
    assert!((ratio - 72_000.0).abs() < 1e-6 && (per_tick - 72_000.0).abs() < 1e-6);
    // A sensor changing every 5 s on a minute's clock, trained so; and one
    // far faster than training but under two changes per tick.
    assert_eq!(super::said::crowded(0.2, 0.2, 60.0), None);
    assert_eq!(super::said::crowded(1.0, 0.01, 1.0), None);
    // A clock set back an hour mid-run: measured afresh, not as changes
    // 21 ps apart.
    let mut pace = super::clocked::Pace::default();
    let hour = 3_600_000_000_000i64;
    let at = |i: i64| {
        if i < 20 {
            hour + i * 1000 * ms
        } else {
            i * 1000 * ms
        }
    };
    let paces: Vec<f64> = (0..100).filter_map(|i| pace.note(at(i))).collect();
    assert_eq!(
        paces,
        [1.0],
        "one run of 48 after the jump, a change a second"
    );
}
