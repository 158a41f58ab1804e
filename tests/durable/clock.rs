//! A sensor's changes read on a clock in durable mode: the time of a
//! change without `ts` is when JetStream stored it, and the clock is read
//! to each message's stored time, so a replay after a `kill -9` reads the
//! same ticks with the same values. A quiet sensor's ticks are read by the
//! unit's own clock messages, stored in the input stream, so a replay
//! reads them alike too.

use super::*;

/// The clock of these tests, and how long a value is held.
const STEP_NS: i64 = 20_000_000;
const HOLD_NS: i64 = 3_000_000_000;
const ARGS: [&str; 4] = ["--resample", "20ms", "--max-gap", "3s"];

/// The windows a stream of changes at `changes` (stored time, value)
/// makes on the clock, as training read a recording: tick k holds the
/// latest change at or before k × step, for at most `HOLD_NS` after it; a
/// tick without a value restarts the window. Each window by its first
/// tick.
fn held_windows(changes: &[(i64, f32)]) -> Vec<(u64, Vec<f32>)> {
    // (The first tick at or after the first change.)
    let first = (changes[0].0 + STEP_NS - 1).div_euclid(STEP_NS);
    let last = (changes[changes.len() - 1].0 + HOLD_NS).div_euclid(STEP_NS);
    let (mut windows, mut run): (Vec<(u64, Vec<f32>)>, Vec<f32>) = (Vec::new(), Vec::new());
    for k in first..=last {
        let t = k * STEP_NS;
        let held = changes.iter().rev().find(|(at, _)| *at <= t);
        match held.filter(|(at, _)| t - at <= HOLD_NS) {
            Some((_, v)) => run.push(*v),
            None => run.clear(),
        }
        if run.len() >= W as usize {
            let window = run[run.len() - W as usize..].to_vec();
            windows.push(((k - W as i64 + 1) as u64, window));
        }
    }
    windows
}

/// Waits until the unit's checkpoint is past `seq` of the input stream.
async fn checkpointed_past(js: &jetstream::Context, seq: u64) {
    let kv = js.get_key_value("PIPELINE_CHECKPOINTS").await.unwrap();
    for _ in 0..1000 {
        let head = kv.get("sin-cos.all").await.unwrap();
        let head = head.and_then(|h| rmp_serde::from_slice::<serde_json::Value>(&h).ok());
        if head.is_some_and(|h| h["stream_seq"].as_u64() > Some(seq)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no checkpoint past seq {seq}");
}

/// Bare numbers stored 10–40 ms apart on a route that reads changes every
/// 20 ms, holding each for 3 s at most: 40, read by a service killed
/// (`kill -9`) once it has written a checkpoint, then 40 more and one on
/// another stream, read by the next, killed while both streams are quiet
/// and their ticks are read by clock messages, and a last service that
/// resumes. Every tick from each stream's first change to the end of its
/// last hold is translated once, each window the one the stored times say:
/// the held values, the count and the clock went through the checkpoint,
/// and the clock messages were read alike on the replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_read_on_the_clock_of_their_stored_time_on_every_replay() {
    let bed = Bed::new().await;
    let (url, dir, js) = (&bed.url, bed.dir.path(), &bed.js);
    let first = Service::with_args(url, dir, 0, &ARGS);
    wait_for_stream(js, "SAMPLES").await;
    let mut logs_of = vec![first.kill()];
    let mut changes = Vec::new();
    let publish = async |changes: &mut Vec<(u64, f32)>, from: u64| {
        for i in from..from + 40 {
            let v = value(0, i);
            let ack = js.publish("samples.s0", v.to_string().into()).await;
            changes.push((ack.unwrap().await.unwrap().sequence, v));
            tokio::time::sleep(Duration::from_millis(10 + (i % 3) * 15)).await;
        }
    };
    publish(&mut changes, 0).await;
    let second = Service::with_args(url, dir, 1, &ARGS);
    logs_of.push(second.log.clone());
    wait_for_stored(js, 5, Duration::from_secs(30), &logs_of).await;
    // Killed once it has written a checkpoint, which the next resumes from.
    checkpointed_past(js, 0).await;
    second.kill();
    publish(&mut changes, 40).await;
    let last = js.publish("samples.other", "0".into()).await;
    let last = last.unwrap().await.unwrap().sequence;
    let stream = js.get_stream("SAMPLES").await.unwrap();
    let stored_at = async |seq: u64| {
        let m = stream.get_raw_message(seq).await.unwrap();
        i64::try_from(m.time.unix_timestamp_nanos()).unwrap()
    };
    let mut s0 = Vec::new();
    for (seq, v) in &changes {
        s0.push((stored_at(*seq).await, *v));
    }
    let t_other = stored_at(last).await;
    let other = [(t_other, 0.0)];
    let (s0, other) = (held_windows(&s0), held_windows(&other));
    assert!(
        s0.len() > 150 && other.len() > 100,
        "{} {}",
        s0.len(),
        other.len()
    );
    // Killed again while both are quiet: the windows read since the last
    // sample came from clock messages.
    let again = Service::with_args(url, dir, 2, &ARGS);
    logs_of.push(again.log.clone());
    let upto_last = s0
        .iter()
        .filter(|(k, _)| (*k as i64 + W as i64) * STEP_NS < t_other);
    let before_quiet = upto_last.count() as u64;
    wait_for_stored(js, before_quiet + 40, Duration::from_secs(60), &logs_of).await;
    checkpointed_past(js, last).await;
    again.kill();
    let resumed = Service::with_args(url, dir, 3, &ARGS);
    logs_of.push(resumed.log.clone());
    let outputs = read_stored(js, s0.len() + other.len(), &logs_of).await;
    let mut stream = js.get_stream("SAMPLES").await.unwrap();
    let info = stream.info().await.unwrap();
    assert!(
        info.state.last_sequence > last + 1,
        "no clock messages stored after seq {last}"
    );
    assert_eq!(
        info.config.subjects,
        ["samples.>", "pipeline.clock.SAMPLES.>"],
        "the stream's own clock subjects, added as a route reads a clock"
    );
    let clock = stream
        .get_last_raw_message_by_subject("pipeline.clock.SAMPLES.sin-cos.all")
        .await;
    assert!(clock.is_ok_and(|m| m.payload.is_empty()));
    let got: Vec<Translation> = outputs
        .iter()
        .map(|m| Translation::decode(&m.payload).unwrap())
        .collect();
    let log = std::fs::read_to_string(&logs_of[3]).unwrap_or_default();
    assert!(log.contains("resuming from checkpoint"), "{log}");
    let client = async_nats::connect(url.as_str()).await.unwrap();
    for (name, want) in [("s0", &s0), ("other", &other)] {
        let of: Vec<&Translation> = got.iter().filter(|t| t.stream.ends_with(name)).collect();
        let seqs: Vec<u64> = of.iter().map(|t| t.seq).collect();
        let want_seqs: Vec<u64> = want.iter().map(|(k, _)| *k).collect();
        assert_eq!(seqs, want_seqs, "{name}: {}", logs(&logs_of));
        for (t, (k, window)) in of.iter().zip(want.iter()) {
            let req = serde_json::json!({ "values": window }).to_string();
            let reply = (client.request("pipeline.translate", req.into()))
                .await
                .unwrap();
            let direct = Translation::decode(&reply.payload).unwrap();
            assert_eq!(
                t.values,
                direct.values,
                "{name} tick {k}: {}",
                logs(&logs_of)
            );
        }
    }
}
