//! A sensor's changes read on a clock in durable mode: the time of a
//! change without `ts` is when JetStream stored it, and the clock is read
//! to each message's stored time, so a replay after a `kill -9` reads the
//! same ticks with the same values.

use super::*;

/// Bare numbers stored 10–40 ms apart on a route that reads changes every
/// 20 ms: 40, read by a service killed (`kill -9`) once it has stored some
/// windows, then 40 more, then one on another stream, read by the next.
/// Every tick from the first change to that last message is translated
/// once, each window the one the stored times say (tick k reads the latest
/// change stored at or before k × 20 ms): the held value and the count
/// went through the checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_read_on_the_clock_of_their_stored_time_on_every_replay() {
    let bed = Bed::new().await;
    let (url, dir, js) = (&bed.url, bed.dir.path(), &bed.js);
    let args = ["--resample", "20ms", "--max-gap", "60s"];
    let first = Service::with_args(url, dir, 0, &args);
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
    let second = Service::with_args(url, dir, 1, &args);
    logs_of.push(second.log.clone());
    wait_for_stored(js, 5, Duration::from_secs(30), &logs_of).await;
    // Killed once it has written a checkpoint, which the next resumes from.
    let kv = js.get_key_value("PIPELINE_CHECKPOINTS").await.unwrap();
    for _ in 0..500 {
        let head = kv.get("sin-cos.all").await.unwrap();
        let head = head.and_then(|h| rmp_serde::from_slice::<serde_json::Value>(&h).ok());
        if head.is_some_and(|h| h["stream_seq"].as_u64() > Some(0)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second.kill();
    publish(&mut changes, 40).await;
    let last = js.publish("samples.other", "0".into()).await;
    let last = last.unwrap().await.unwrap().sequence;
    let stream = js.get_stream("SAMPLES").await.unwrap();
    let stored_at = async |seq: u64| {
        let m = stream.get_raw_message(seq).await.unwrap();
        i64::try_from(m.time.unix_timestamp_nanos()).unwrap()
    };
    let mut at = Vec::new();
    for (seq, v) in &changes {
        at.push((stored_at(*seq).await, *v));
    }
    let end = stored_at(last).await;
    // The ticks before the last message, from the first change's.
    let step = 20_000_000i64;
    let first_tick = (at[0].0 + step - 1).div_euclid(step);
    let ticks: Vec<f32> = (first_tick..)
        .take_while(|k| k * step < end)
        .map(|k| at.iter().rev().find(|(t, _)| *t <= k * step).unwrap().1)
        .collect();
    assert!(ticks.len() > 80, "{} ticks", ticks.len());
    let again = Service::with_args(url, dir, 2, &args);
    logs_of.push(again.log.clone());
    let load = Load {
        streams: 1,
        samples: ticks.len() as u64,
    };
    let outputs = read_outputs(js, load, &logs_of).await;
    let got: Vec<Translation> = outputs
        .iter()
        .map(|m| Translation::decode(&m.payload).unwrap())
        .collect();
    let seqs: Vec<u64> = got.iter().map(|t| t.seq).collect();
    let want: Vec<u64> = (0..load.expected() as u64)
        .map(|i| first_tick as u64 + i)
        .collect();
    assert_eq!(seqs, want, "{}", logs(&logs_of));
    let resumed = std::fs::read_to_string(&logs_of[2]).unwrap_or_default();
    assert!(resumed.contains("resuming from checkpoint"), "{resumed}");
    let client = async_nats::connect(url.as_str()).await.unwrap();
    for (i, t) in got.iter().enumerate() {
        let window = &ticks[i..i + W as usize];
        let req = serde_json::json!({ "values": window }).to_string();
        let reply = (client.request("pipeline.translate", req.into()))
            .await
            .unwrap();
        let direct = Translation::decode(&reply.payload).unwrap();
        assert_eq!(t.values, direct.values, "window {i}: {}", logs(&logs_of));
    }
}
