//! Core mode over capacity: the model cannot keep up with what arrives.

use super::*;
use common::{random_params, write_tensors_only};
use std::sync::atomic::Ordering::Relaxed;

/// A nats-server, and a service whose route computes a few thousand
/// windows a second in this build (a model of hidden size 96, written into
/// the temporary directory, one window per call, a queue of 16), with a
/// client of that server.
async fn slow_service() -> (NatsServer, tempfile::TempDir, Svc, Client) {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.safetensors");
    write_tensors_only(&path, &random_params(96, 3, 0.1), safetensors::Dtype::F32);
    let mut cfg = config();
    cfg.routes[0].model = Some(path);
    cfg.routes[0].window = Some(W as usize);
    cfg.max_batch = 1;
    cfg.queue = 16;
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    (server, dir, svc, client)
}

/// Over capacity, core mode sheds whole windows instead of letting the NATS
/// client drop samples (each of which would restart its stream's window):
/// every window is either published or counted as shed, every sample is
/// taken, and no stream restarts; a burst the subscription's buffer holds
/// is waited for and loses nothing. A model of hidden size 96 at one window
/// per call computes a few thousand windows a second in this build;
/// samples arrive at up to 20,000 a second until the service has shed for
/// a while, so the buffer (65,536 messages) would overflow without
/// shedding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_capacity_windows_are_shed_whole_and_counted() {
    let (_server, _dir, svc, client) = slow_service().await;
    let mut sub = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = {
        let received = received.clone();
        tokio::spawn(async move {
            while sub.next().await.is_some() {
                received.fetch_add(1, Relaxed);
            }
        })
    };
    let accounted = || svc.stats.windows_out.load(Relaxed) + svc.stats.windows_shed.load(Relaxed);
    let settled = |expected: u64| async move {
        for _ in 0..900 {
            if accounted() >= expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    // One sample of each of 200 streams per round, 1,000 samples per 50 ms.
    let streams = 200u64;
    let round = |prefix: &'static str, seq: u64| {
        let client = client.clone();
        async move {
            for st in 0..streams {
                let subject = format!("{prefix}.s{st}");
                client
                    .publish(subject, sample(seq, input_at(seq)).into())
                    .await
                    .unwrap();
            }
            if seq % 5 == 4 {
                client.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // A burst of 12,000 samples, well within the buffer: waited for.
    for seq in 0..60 {
        round("samples.burst", seq).await;
    }
    client.flush().await.unwrap();
    let burst = streams * (60 - W + 1);
    settled(burst).await;
    let s = svc.stats.snapshot();
    assert_eq!((s.windows_out, s.windows_shed), (burst, 0), "{s:?}");
    // Then on until windows are shed, and 100 rounds more (at most 3,000).
    let (mut samples, mut shedding_since) = (0u64, None);
    while samples < 3_000 && shedding_since.is_none_or(|s| samples < s + 100) {
        round("samples.over", samples).await;
        samples += 1;
        if shedding_since.is_none() && svc.stats.windows_shed.load(Relaxed) > 0 {
            shedding_since = Some(samples);
        }
    }
    client.flush().await.unwrap();
    let expected = burst + streams * (samples - W + 1);
    settled(expected).await;
    let s = svc.stats.snapshot();
    assert!(s.windows_shed > 0, "never over capacity: {s:?}");
    assert_eq!(accounted(), expected, "{s:?}");
    assert_eq!(s.samples_in, streams * (60 + samples), "{s:?}");
    assert_eq!(s.samples_skipped, 0, "{s:?}");
    assert_eq!(s.errors["gap"], 0, "{s:?}");
    assert_eq!(s.errors["slow_consumer"], 0, "{s:?}");
    let data = stats_data(&client).await;
    assert_eq!(data["windows_shed"], s.windows_shed, "{data}");
    assert_eq!(data["routes"][0]["windows_shed"], s.windows_shed, "{data}");
    // Everything published reached a subscriber.
    for _ in 0..300 {
        if received.load(Relaxed) >= s.windows_out {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(received.load(Relaxed), s.windows_out);
    counter.abort();
    svc.shutdown().await;
}

/// Stopping ends while a publisher goes on sending faster than the route
/// computes: the drain takes what the subscription held when the stop came,
/// not what keeps arriving (fewer samples taken than were sent). It used to
/// read until the subscription was empty, which such a publisher never
/// lets happen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_ends_while_a_publisher_goes_on() {
    let (_server, _dir, svc, client) = slow_service().await;
    let sending = Arc::new(std::sync::atomic::AtomicBool::new(true));
    // 200 streams, up to 20,000 samples a second, until told to stop.
    let publisher = {
        let (client, sending) = (client.clone(), sending.clone());
        tokio::spawn(async move {
            let mut seq = 0u64;
            while sending.load(Relaxed) {
                for st in 0..200 {
                    let subject = format!("samples.s{st}");
                    let payload = sample(seq, input_at(seq)).into();
                    if client.publish(subject, payload).await.is_err() {
                        return seq;
                    }
                }
                seq += 1;
                client.flush().await.ok();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seq
        })
    };
    // A backlog builds (the publisher sends some 14,000 samples a second
    // more than the route takes), then the stop comes. `shutdown` fails
    // the test if the service has not stopped within 20 s.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stats = svc.stats.clone();
    svc.shutdown().await;
    sending.store(false, Relaxed);
    let seqs = publisher.await.unwrap();
    let s = stats.snapshot();
    assert!(s.windows_out > 0 && s.samples_in < 200 * seqs, "{s:?}");
}
