//! Time stamps: a jump in time restarts a window as training split the
//! recording (a sender's own `ts`, and a recording played with its time
//! column), a pause within the gap keeps it, and a stream stamped at
//! another step than the model's training recording is counted.

use super::*;

/// A service whose route restarts windows at a jump of over a minute in
/// `ts`, a client, and its subscriptions to error events and translations.
async fn with_a_minute_gap() -> (
    NatsServer,
    Svc,
    Client,
    async_nats::Subscriber,
    async_nats::Subscriber,
) {
    let mut cfg = config();
    cfg.routes[0].max_gap = Some(60.0);
    started(cfg).await
}

/// A route with a `max_gap` restarts a stream's window where its samples'
/// `ts` jump by more than it, with a `time_gap` event, as `retrain
/// --time-column` split the recording; a stream without a jump, and one
/// whose samples come in messages of several (one step apart by `ts`), keep
/// every window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jump_in_time_restarts_the_window_as_training_split_it() {
    use pipeline::wire::SamplesOut;
    // The server lives as long as `_server`: to the end of the test.
    let (_server, svc, client, mut errors, mut out) = with_a_minute_gap().await;

    // One sample a second from an hour ago; stream "outage" is silent for
    // an hour after seq 29, its seq counting on.
    let second = 1_000_000_000i64;
    let start = pipeline::wire::now_ns() - 7_200 * second;
    let stamped = |seq: u64, values: &[f32], ts: i64| {
        let (value, values) = match values {
            [v] => (Some(*v), None),
            _ => (None, Some(values)),
        };
        SamplesOut {
            seq,
            value,
            values,
            ts: Some(ts),
        }
        .encode()
    };
    for seq in 0..60u64 {
        let late = if seq >= 30 { 3_600 * second } else { 0 };
        let at = start + seq as i64 * second;
        for (stream, ts) in [("outage", at + late), ("steady", at)] {
            let msg = stamped(seq, &[input_at(seq)], ts);
            client
                .publish(format!("samples.{stream}"), msg.into())
                .await
                .unwrap();
        }
    }
    // A test bench's clock, seconds since its start as a float (a battery
    // cycler's Test_Time(s), its bridge's JSON), a rest of ten minutes
    // after seq 29: its gaps are its gaps, not nanoseconds of 1970.
    for seq in 0..60u64 {
        let t = 100.25 + seq as f64 + if seq >= 30 { 600.0 } else { 0.0 };
        let json = serde_json::json!({"seq": seq, "value": input_at(seq), "ts": t});
        let bytes = json.to_string().into_bytes();
        client.publish("samples.bench", bytes.into()).await.unwrap();
    }
    // Ten samples a message, stamped with the first one's time.
    for first in (0..60u64).step_by(10) {
        let values: Vec<f32> = (first..first + 10).map(input_at).collect();
        let msg = stamped(first, &values, start + first as i64 * second);
        client.publish("samples.batched", msg.into()).await.unwrap();
    }
    client.flush().await.unwrap();

    let per_run = |n: u64| n - W + 1;
    let want = 4 * per_run(30) + 2 * per_run(60);
    let got = collect(&mut out, want as usize, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let seqs = |stream: &str| -> Vec<u64> {
        got.iter()
            .filter(|t| t.stream == stream)
            .map(|t| t.seq)
            .collect()
    };
    let outage: Vec<u64> = (0..per_run(30)).chain(30..30 + per_run(30)).collect();
    assert_eq!(seqs("outage"), outage, "no window spans the hour");
    assert_eq!(seqs("bench"), outage, "no window spans the rest");
    let whole: Vec<u64> = (0..per_run(60)).collect();
    assert_eq!(seqs("steady"), whole);
    assert_eq!(seqs("batched"), whole);
    // The window after the jump holds only samples after it: the same
    // samples as the steady stream's window there, the same translation.
    let at = |stream: &str| got.iter().find(|t| t.stream == stream && t.seq == 30);
    let (after, steady) = (at("outage").unwrap(), at("steady").unwrap());
    assert_eq!(after.values, steady.values);

    let mut events = collect(&mut errors, 2, event).await;
    events.sort_by(|a, b| b.stream.cmp(&a.stream));
    assert_eq!(
        (events[0].kind, events[0].stream.as_str()),
        (ErrorKind::TimeGap, "outage")
    );
    assert!(
        events[0]
            .detail
            .contains("seq 30 is 1.0 h after that of seq 29"),
        "{}",
        events[0].detail
    );
    assert_eq!(events[1].stream, "bench");
    let rest = &events[1].detail;
    assert!(
        rest.contains("seq 30 is 10.0 min after that of seq 29"),
        "{rest}"
    );
    assert_quiet(&mut errors, Duration::from_millis(200)).await;
    assert_eq!(svc.stats.snapshot().errors["time_gap"], 2);
    // The route's rule, as `$SRV.STATS` (and `pipeline status`) give it.
    let data = stats_data(&client).await;
    assert_eq!(data["routes"][0]["max_gap_s"].as_f64(), Some(60.0));
    svc.shutdown().await;
}

/// A test bench's clock since its start every 0.1 s (a cycler's pulse
/// test, `ts` a float of seconds): its fraction is the samples' time, so a
/// route that splits at 0.3 s keeps every window, and splits at a rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_since_a_start_keeps_its_fraction() {
    let mut cfg = config();
    cfg.routes[0].max_gap = Some(0.3);
    let (_server, svc, client, mut errors, mut out) = started(cfg).await;
    for seq in 0..60u64 {
        let rest = if seq >= 30 { 5.0 } else { 0.0 };
        let t = 7.05 + 0.1 * seq as f64 + rest;
        let json = serde_json::json!({"seq": seq, "value": input_at(seq), "ts": t});
        let bytes = json.to_string().into_bytes();
        client.publish("samples.pulse", bytes.into()).await.unwrap();
    }
    client.flush().await.unwrap();
    let per_run = 30 - W + 1;
    let got = collect(&mut out, 2 * per_run as usize, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let mut seqs: Vec<u64> = got.iter().map(|t| t.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..per_run).chain(30..30 + per_run).collect::<Vec<_>>()
    );
    let events = collect(&mut errors, 1, event).await;
    assert!(
        events[0]
            .detail
            .contains("seq 30 is 5.1 s after that of seq 29"),
        "{events:?}"
    );
    assert_quiet(&mut errors, Duration::from_millis(200)).await;
    svc.shutdown().await;
}

/// A route with a `max_gap` keeps a quiet stream (twice) that long, however short
/// `idle_timeout` is: a window spans a pause shorter than the gap, as in
/// training (with a 0.5 s idle timeout alone, the stream was forgotten in
/// the pause and its window started over).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_within_the_gap_keeps_the_stream_and_its_window() {
    let server = NatsServer::start();
    let mut cfg = config();
    cfg.idle_timeout_s = 0.5;
    cfg.routes[0].max_gap = Some(60.0);
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut out = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    send_curve(&client, "quiet", 0..20).await;
    client.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    send_curve(&client, "quiet", 20..30).await;
    client.flush().await.unwrap();
    let got = collect(&mut out, (30 - W + 1) as usize, translation).await;
    assert_quiet(&mut out, Duration::from_millis(200)).await;
    let seqs: Vec<u64> = got.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, (0..30 - W + 1).collect::<Vec<_>>());
    let evicted = svc.stats.snapshot().streams_evicted;
    assert_eq!(evicted, 0);
    svc.shutdown().await;
}

/// A recording played by `publish --data --time-column` (its rows' dates as
/// `ts`, no message across a gap) into a route with a `max_gap`: the
/// service restarts the window at the recording's gap, with a `time_gap`
/// event, and the windows on either side are the ones training made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_played_with_its_time_column_restarts_at_its_gaps() {
    use pipeline::tools::{PublishOptions, Signal};
    // The server lives as long as `_server`: to the end of the test.
    let (_server, svc, client, mut errors, mut out) = with_a_minute_gap().await;

    // One row a second, 30 days ago (no time of publication: `tail` takes
    // no latency from it); an hour missing before row 30.
    let month_ago = (pipeline::wire::now_ns() / 1_000_000_000 - 30 * 86_400) as f64;
    let rows = 60u64;
    let times: Vec<Option<f64>> = (0..rows)
        .map(|r| Some(month_ago + r as f64 + if r >= 30 { 3_600.0 } else { 0.0 }))
        .collect();
    let input: Vec<Option<f32>> = (0..rows).map(|r| Some(input_at(r))).collect();
    let signal = Signal::Recorded {
        input: input.clone().into(),
        output: input.into(),
        gaps: [30].into(),
        times: times.into(),
    };
    let opts = |stream: &str, batch| PublishOptions {
        signal: signal.clone(),
        streams: vec![stream.into()],
        prefix: "samples".into(),
        rate: 0.0,
        speed: None,
        count: None,
        batch,
        start_seq: 0,
        jetstream: false,
        unit: None,
    };
    // `tail` of one stream: no latency from a recording's own times, and
    // the windows the restart leaves out, missing by seq.
    let per_run = |n: u64| n - W + 1;
    let tail = tail_in_background(&client, "translated.rec", 2 * per_run(30)).await;
    // Messages of 7 rows, and of one.
    for (stream, batch) in [("rec", 7), ("rec-1", 1)] {
        let sent = pipeline::tools::publish(&client, &opts(stream, batch))
            .await
            .unwrap();
        assert_eq!((sent.samples, sent.skipped), (rows, 0));
    }

    let got = collect(&mut out, 4 * per_run(30) as usize, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let runs: Vec<u64> = (0..per_run(30)).chain(30..30 + per_run(30)).collect();
    for stream in ["rec", "rec-1"] {
        let seqs: Vec<u64> = got
            .iter()
            .filter(|t| t.stream == stream)
            .map(|t| t.seq)
            .collect();
        assert_eq!(seqs, runs, "{stream}: no window spans the hour");
    }
    let mut events = collect(&mut errors, 2, event).await;
    assert_quiet(&mut errors, Duration::from_millis(200)).await;
    events.sort_by(|a, b| a.stream.cmp(&b.stream));
    for (e, stream) in events.iter().zip(["rec", "rec-1"]) {
        assert_eq!((e.kind, e.stream.as_str()), (ErrorKind::TimeGap, stream));
        assert!(e.detail.contains("seq 30 is 1.0 h after"), "{}", e.detail);
    }
    let summary = tail.await.unwrap().unwrap();
    assert_eq!(summary.windows, 2 * per_run(30));
    assert_eq!(
        (summary.recorded_times, summary.latency_ms_p50),
        (summary.windows, None)
    );
    assert_eq!(summary.missing, 30 - per_run(30));
    svc.shutdown().await;
}

/// A stream whose `ts` says it is sampled every 2 s, into a model trained on
/// a recording of one sample a second (within its 3 s gap: no restart), is
/// translated all the same and its windows counted in `input_off_rate`
/// (`pipeline_input_off_rate_total`); a stream at the model's step, and one
/// slower by less than the band, are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_sampled_at_another_rate_is_counted() {
    use pipeline::wire::SamplesOut;
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("stepped.safetensors");
    common::stepped_copy(&manifest().join("models/sin-cos.safetensors"), &model, 1.0);
    let mut cfg = config();
    cfg.routes[0].model = Some(model);
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut out = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    let second = 1_000_000_000i64;
    let start = pipeline::wire::now_ns() - 3_600 * second;
    let mut play = async |stream: &str, step_ns: i64| {
        for seq in 0..60u64 {
            let msg = SamplesOut {
                seq,
                value: Some(input_at(seq)),
                values: None,
                ts: Some(start + seq as i64 * step_ns),
            };
            let subject = format!("samples.{stream}");
            client.publish(subject, msg.encode().into()).await.unwrap();
        }
        client.flush().await.unwrap();
        collect(&mut out, (60 - W + 1) as usize, translation).await
    };
    let off_rate = async || stats_data(&client).await["routes"][0]["input_off_rate"].as_u64();
    let right = play("right", second).await;
    assert!(right.iter().all(|t| t.stream == "right"));
    let near = play("near", second * 13 / 10).await;
    assert!(near.iter().all(|t| t.stream == "near"));
    assert_eq!(off_rate().await, Some(0));
    let slow = play("slow", 2 * second).await;
    assert_eq!(slow.len() as u64, 60 - W + 1, "translated all the same");
    // Its first span is judged at seq W (W samples after seq 0): the windows
    // ending there and after are counted, the one ending at seq W - 1 is not.
    let mut counted = off_rate().await;
    for _ in 0..50 {
        if counted == Some(60 - W) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        counted = off_rate().await;
    }
    assert_eq!(counted, Some(60 - W));
    // A stream without `ts`: translated, and its windows counted as
    // unchecked for gaps and rate (none of the stamped streams' were).
    let unstamped = async || stats_data(&client).await["routes"][0]["input_unstamped"].as_u64();
    assert_eq!(unstamped().await, Some(0));
    for seq in 0..60u64 {
        let msg = SamplesOut {
            seq,
            value: Some(input_at(seq)),
            values: None,
            ts: None,
        };
        client
            .publish("samples.plain", msg.encode().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let plain = collect(&mut out, (60 - W + 1) as usize, translation).await;
    assert!(plain.iter().all(|t| t.stream == "plain"));
    let mut counted = unstamped().await;
    for _ in 0..50 {
        if counted == Some(60 - W + 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        counted = unstamped().await;
    }
    assert_eq!(counted, Some(60 - W + 1));
    // A model trained at 2 s put in by a reload serves, and moves the
    // route to its step (said): its window restarts after 6 s, not 3 s.
    let two = dir.path().join("two.safetensors");
    common::stepped_copy(&manifest().join("models/sin-cos.safetensors"), &two, 2.0);
    let req = serde_json::json!({"pair": "sin-cos", "model": two});
    let reply = (client.request("pipeline.reload", req.to_string().into()))
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    let said = v["warnings"].to_string();
    assert!(
        said.contains("sampled every 2 s, the route's streams are windowed at 1 s")
            && said.contains("moves the route to its own"),
        "{v}"
    );
    // Put in by a request: said to last until a SIGHUP or restart.
    assert!(said.contains("until the next SIGHUP or restart"), "{v}");
    let max_gap = async || stats_data(&client).await["routes"][0]["max_gap_s"].as_f64();
    assert_eq!(max_gap().await, Some(6.0));
    // A stream stamped every 4 s: over the 1 s model's 3 s, every sample
    // would restart its window; under the 2 s model's 6 s, it is windowed.
    for seq in 0..60u64 {
        let msg = SamplesOut {
            seq,
            value: Some(input_at(seq)),
            values: None,
            ts: Some(start + 4 * seq as i64 * second),
        };
        let subject = "samples.four";
        client.publish(subject, msg.encode().into()).await.unwrap();
    }
    client.flush().await.unwrap();
    let four = collect(&mut out, (60 - W + 1) as usize, translation).await;
    assert!(four.iter().all(|t| t.stream == "four"));
    // The configured one back: the route back at its step, said.
    let reply = client
        .request("pipeline.reload", r#"{"pair": "sin-cos"}"#.into())
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    let said = v["warnings"].to_string();
    assert!(
        said.contains("sampled every 1 s, the route's streams are windowed at 2 s")
            && !said.contains("SIGHUP"),
        "{v}"
    );
    assert_eq!(max_gap().await, Some(3.0), "back at the 1 s model's");
    // Again: at its own step, nothing to say.
    let reply = client
        .request("pipeline.reload", r#"{"pair": "sin-cos"}"#.into())
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert!(!v["warnings"].to_string().contains("sampled every"), "{v}");
    svc.shutdown().await;
}

/// A publisher that restarts its count (a CAN gateway restarted: seq 0
/// again, stamped later) is translated from there on, with a `gap` event
/// that says so; before, each of its samples was dropped as out of order
/// until the stream went idle (10 minutes). The same seqs with their old
/// stamps (a replay) are still dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_restarting_its_count_is_translated_again() {
    use pipeline::wire::SamplesOut;
    let (_server, svc, client, mut errors, mut out) = with_a_minute_gap().await;
    let ms = 1_000_000i64;
    let start = pipeline::wire::now_ns() - 60_000 * ms;
    let send = async |from_ms: i64| {
        for seq in 0..40u64 {
            let msg = SamplesOut {
                seq,
                value: Some(input_at(seq)),
                values: None,
                ts: Some(start + (from_ms + 10 * seq as i64) * ms),
            };
            client
                .publish("samples.gw", msg.encode().into())
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
    };
    send(0).await;
    let first = collect(&mut out, (40 - W + 1) as usize, translation).await;
    // The same messages again: out of order, nothing translated.
    send(0).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    // Restarted 2 s later: every window again, from seq 0.
    send(2_400).await;
    let again = collect(&mut out, (40 - W + 1) as usize, translation).await;
    assert_eq!(again[0].seq, first[0].seq);
    assert_eq!(again[0].values, first[0].values);
    // (The replay's samples are said as out of order first.)
    let mut said = collect(&mut errors, 1, event).await;
    while said.last().is_some_and(|e| e.kind == ErrorKind::OutOfOrder) && said.len() < 50 {
        said.extend(collect(&mut errors, 1, event).await);
    }
    let restart = said.last().unwrap();
    assert_eq!(restart.kind, ErrorKind::Gap, "{said:?}");
    assert!(
        (restart.detail).contains("seq went back to 0 after 39 with later time stamps"),
        "{}",
        restart.detail
    );
    assert_eq!(svc.stats.snapshot().errors["out_of_order"], 40);
}
