//! Core mode over capacity: the model cannot keep up with what arrives.

use super::*;
use common::{random_params, write_tensors_only};
use std::sync::atomic::Ordering::Relaxed;

/// Over capacity, core mode sheds whole windows instead of letting the NATS
/// client drop samples (each of which would restart its stream's window):
/// every window is either published or counted as shed, every sample is
/// taken, and no stream restarts. A model of hidden size 96, one window per
/// call, computes some ten thousand windows a second here; samples arrive
/// at up to 40,000 a second until the service has shed for a while, so the
/// subscription's buffer (65,536 messages) would overflow without shedding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_capacity_windows_are_shed_whole_and_counted() {
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
    let mut sub = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    let received = tokio::spawn(async move {
        let mut n = 0u64;
        while tokio::time::timeout(Duration::from_secs(3), sub.next())
            .await
            .is_ok_and(|m| m.is_some())
        {
            n += 1;
        }
        n
    });
    // One sample of every stream per round, 1,000 samples per 25 ms; on
    // for 100 rounds more once windows are shed (at most 3,000 rounds).
    let streams = 200u64;
    let (mut samples, mut shedding_since) = (0u64, None);
    while samples < 3_000 && shedding_since.is_none_or(|s| samples < s + 100) {
        for st in 0..streams {
            let subject = format!("samples.s{st}");
            client
                .publish(subject, sample(samples, input_at(samples)).into())
                .await
                .unwrap();
        }
        samples += 1;
        if samples % 5 == 0 {
            client.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(25)).await;
            if shedding_since.is_none() && svc.stats.windows_shed.load(Relaxed) > 0 {
                shedding_since = Some(samples);
            }
        }
    }
    client.flush().await.unwrap();
    let expected = streams * (samples - W + 1);
    let accounted = || svc.stats.windows_out.load(Relaxed) + svc.stats.windows_shed.load(Relaxed);
    for _ in 0..600 {
        if accounted() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = svc.stats.snapshot();
    assert!(s.windows_shed > 0, "never over capacity: {s:?}");
    assert_eq!(accounted(), expected, "{s:?}");
    assert_eq!(s.samples_in, streams * samples, "{s:?}");
    assert_eq!(s.samples_skipped, 0, "{s:?}");
    assert_eq!(s.errors["gap"], 0, "{s:?}");
    assert_eq!(s.errors["slow_consumer"], 0, "{s:?}");
    let data = stats_data(&client).await;
    assert_eq!(data["windows_shed"], s.windows_shed, "{data}");
    assert_eq!(data["routes"][0]["windows_shed"], s.windows_shed, "{data}");
    assert_eq!(received.await.unwrap(), s.windows_out);
    svc.shutdown().await;
}
