//! A jump in time while the service was down: each stream's checkpoint
//! keeps its last time-stamped message, so the restarted service judges
//! the first sample after the restart against it, as if it had run on.

use super::*;

use pipeline::wire::SamplesOut;

/// Samples one second apart, a day ago, on stream `s0`; the service
/// (a route with a one-minute `max_gap`) stopped after seq 29 and started
/// again; seq 30 on come an hour later. The restarted service restarts the
/// window at seq 30 with a `time_gap` event: no window spans the hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jump_in_time_across_a_restart_restarts_the_window() {
    let bed = Bed::new().await;
    let (url, dir, js) = (&bed.url, bed.dir.path(), &bed.js);
    let client = async_nats::connect(url).await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    client.flush().await.unwrap();
    let gap = ["--max-gap", "1m"];
    let mut first = Service::with_args(url, dir, 0, &gap);
    wait_for_stream(js, "SAMPLES").await;

    let second = 1_000_000_000i64;
    let start = pipeline::wire::now_ns() - 86_400 * second;
    let publish = async |seqs: std::ops::Range<u64>, late: i64| {
        for seq in seqs {
            let body = SamplesOut {
                seq,
                value: Some(value(0, seq)),
                values: None,
                ts: Some(start + seq as i64 * second + late),
            }
            .encode();
            let ack = js.publish("samples.s0", body.into()).await.unwrap();
            ack.await.unwrap();
        }
    };
    publish(0..30, 0).await;
    let mut logs_of = vec![first.log.clone()];
    wait_for_stored(js, 7, Duration::from_secs(30), &logs_of).await;
    // Stopped, not killed: its last checkpoint covers every sample so far,
    // so nothing is replayed and the jump meets the checkpoint alone.
    signal(&first.child, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(20);
    while first.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "{}", logs(&logs_of));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let again = Service::with_args(url, dir, 1, &gap);
    logs_of.push(again.log.clone());
    publish(30..60, 3_600 * second).await;
    wait_for_stored(js, 14, Duration::from_secs(30), &logs_of).await;
    let resumed = std::fs::read_to_string(&again.log).unwrap_or_default();
    assert!(
        resumed.contains("resuming from checkpoint"),
        "{}",
        logs(&logs_of)
    );
    let event = tokio::time::timeout(Duration::from_secs(10), errors.next())
        .await
        .unwrap_or_else(|_| panic!("a time_gap event: {}", logs(&logs_of)))
        .unwrap();
    let event = ErrorEvent::decode(&event.payload).unwrap();
    assert_eq!(
        (event.kind, event.stream.as_str()),
        (ErrorKind::TimeGap, "s0")
    );
    assert!(
        event
            .detail
            .contains("seq 30 is 1.0 h after that of seq 29"),
        "{}",
        event.detail
    );
    // Windows 0..=6 before, 30..=36 after; none of the 23 across the hour.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let load = Load {
        streams: 1,
        samples: 14 + W - 1,
    };
    let seqs: Vec<u64> = read_outputs(js, load, &logs_of)
        .await
        .iter()
        .map(|m| Translation::decode(&m.payload).unwrap().seq)
        .collect();
    let want: Vec<u64> = (0..7).chain(30..37).collect();
    assert_eq!(seqs, want, "{}", logs(&logs_of));
}
