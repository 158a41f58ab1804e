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
    let (_client, mut errors) = bed.subscribed("pipeline.errors").await;
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
    let event = time_gap_on_s0(&mut errors, &logs_of).await;
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

/// A sender that neither numbers nor stamps its samples (a bare `0.5`):
/// the unit counts them in stream order and times them by when JetStream
/// stored them, not by when it reads them. Stored with a 1.5 s pause while
/// no service ran, then read in one burst, the window restarts at the pause
/// all the same; a `kill -9` replays them to the same seqs (the output
/// stream's duplicate window drops the replay: each window is stored once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unnumbered_samples_are_counted_and_timed_alike_on_every_replay() {
    let bed = Bed::new().await;
    let (url, dir, js) = (&bed.url, bed.dir.path(), &bed.js);
    let (client, mut errors) = bed.subscribed("pipeline.errors").await;
    let gap = ["--max-gap", "1s"];
    // The first run creates the streams and stops before anything is sent.
    let first = Service::with_args(url, dir, 0, &gap);
    wait_for_stream(js, "SAMPLES").await;
    let mut logs_of = vec![first.kill()];
    let publish = async |seqs: std::ops::Range<u64>| {
        for seq in seqs {
            let body = value(0, seq).to_string();
            let ack = js.publish("samples.s0", body.into()).await.unwrap();
            ack.await.unwrap();
        }
    };
    publish(0..30).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    publish(30..60).await;
    let second = Service::with_args(url, dir, 1, &gap);
    logs_of.push(second.log.clone());
    wait_for_stored(js, 7, Duration::from_secs(30), &logs_of).await;
    second.kill();
    let again = Service::with_args(url, dir, 2, &gap);
    logs_of.push(again.log.clone());

    let load = Load {
        streams: 1,
        samples: 14 + W - 1,
    };
    let outputs = read_outputs(js, load, &logs_of).await;
    let got: Vec<Translation> = outputs
        .iter()
        .map(|m| Translation::decode(&m.payload).unwrap())
        .collect();
    let seqs: Vec<u64> = got.iter().map(|t| t.seq).collect();
    let want: Vec<u64> = (0..7).chain(30..37).collect();
    assert_eq!(seqs, want, "{}", logs(&logs_of));
    // The window after the pause holds samples 30..54 alone: the same
    // translation as a numbered stream of those samples has.
    let window: Vec<f32> = (30..30 + W).map(|seq| value(0, seq)).collect();
    let req = serde_json::json!({ "values": window }).to_string();
    let reply = client
        .request("pipeline.translate", req.into())
        .await
        .unwrap();
    let direct = Translation::decode(&reply.payload).unwrap();
    assert_eq!(got[7].values, direct.values, "{}", logs(&logs_of));
    let event = time_gap_on_s0(&mut errors, &logs_of).await;
    assert!(event.detail.contains("seq 30 is"), "{}", event.detail);
}

/// The next error event, which must be a `time_gap` on stream `s0`.
async fn time_gap_on_s0(errors: &mut async_nats::Subscriber, logs_of: &[PathBuf]) -> ErrorEvent {
    let event = tokio::time::timeout(Duration::from_secs(10), errors.next())
        .await
        .unwrap_or_else(|_| panic!("a time_gap event: {}", logs(logs_of)))
        .unwrap();
    let event = ErrorEvent::decode(&event.payload).unwrap();
    assert_eq!(
        (event.kind, event.stream.as_str()),
        (ErrorKind::TimeGap, "s0")
    );
    event
}
