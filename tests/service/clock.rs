//! A sensor that publishes on change, served by a model trained on its
//! recording read on a clock (`retrain --resample`): the route reads the
//! changes as training did, each value held until the next and read at
//! every tick of the model's clock, the ticks numbered from the epoch.

use super::*;

/// Changes stamped by their sender (`{"value": …, "ts": …}`, no seq) at
/// irregular times: a tick reads the latest change at or before it (a
/// tick without a change the value held, of two changes between ticks the
/// later), so the stream's translations are those of a numbered stream of
/// the tick values, seq for seq (tick k of a 1 s clock is seq k, its
/// windows stamped with their newest tick's time), whether a change's
/// `ts` is a number or ISO 8601 text. A change stamped before the value
/// held is dropped, said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensors_changes_are_read_on_the_models_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.routes[0].model = Some(resampled(dir.path(), 1.0, 5.0));
    let (_server, svc, client, mut errors, mut out) = started(cfg).await;
    let second = 1_000_000_000i64;
    let first_tick = (pipeline::wire::now_ns() / second - 3_600) as u64;
    let at = |k: u64| (first_tick + k) as i64 * second;
    // The value each tick reads: the curve, held where no change came.
    let ticks = 60u64;
    let value: Vec<f32> = (0..ticks)
        .scan(0.0, |held, k| {
            if k % 7 != 3 {
                *held = input_at(k + 1);
            }
            Some(*held)
        })
        .collect();
    // Every other second's changes stamped in ISO 8601 text with an offset,
    // as JavaScript and Home Assistant write a time, to the ms.
    let change = async |v: f32, t: i64| {
        let ts = match t % 1_000_000 == 0 && (t / second) % 2 == 1 {
            true => serde_json::json!(iso_in_cet(t)),
            false => serde_json::json!(t),
        };
        let json = serde_json::json!({ "value": v, "ts": ts }).to_string();
        client.publish("samples.sensor", json.into()).await.unwrap();
    };
    assert_eq!(
        iso_in_cet(1_772_370_000_123_000_000),
        "2026-03-01T14:00:00.123+01:00"
    );
    for k in 0..ticks {
        if k % 7 == 3 {
            continue;
        }
        // A change that another overrides before the tick, then the
        // tick's own, each a little before it.
        if k % 5 == 0 {
            change(-9.0, at(k) - 700_000_000).await;
        }
        let before = (k % 4) as i64 * 150_000_000;
        change(value[k as usize], at(k) - before).await;
        if k == 30 {
            change(-9.0, at(k) - 900_000_000).await;
        }
    }
    // A change after the last tick reads every tick before it.
    change(0.5, at(ticks - 1) + 1).await;
    for k in 0..ticks {
        let msg = pipeline::wire::SamplesOut {
            seq: first_tick + k,
            value: Some(value[k as usize]),
            values: None,
            ts: Some(at(k)),
        };
        let subject = "samples.numbered";
        client.publish(subject, msg.encode().into()).await.unwrap();
    }
    client.flush().await.unwrap();
    let per_stream = (ticks - W + 1) as usize;
    let got = collect(&mut out, 2 * per_stream, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let of =
        |stream: &str| -> Vec<&Translation> { got.iter().filter(|t| t.stream == stream).collect() };
    let (sensor, numbered) = (of("sensor"), of("numbered"));
    assert_eq!(sensor.len(), per_stream);
    for (s, n) in sensor.iter().zip(&numbered) {
        assert_eq!((s.seq, &s.values), (n.seq, &n.values));
        assert_eq!(
            s.ts,
            Some((s.seq + W - 1) as i64 * second),
            "the newest tick's time"
        );
    }
    assert_eq!(sensor[0].seq, first_tick);
    let e = collect(&mut errors, 1, event).await.remove(0);
    assert_eq!(
        (e.kind, e.stream.as_str()),
        (ErrorKind::OutOfOrder, "sensor")
    );
    assert!(
        e.detail.contains("stamped before the value held"),
        "{}",
        e.detail
    );
    assert_quiet(&mut errors, Duration::from_millis(200)).await;
    // Changes taken are the samples counted in (the final one too, not
    // the one dropped).
    let changes = (0..ticks).filter(|k| k % 7 != 3).count() as u64;
    let decoys = (0..ticks).filter(|k| k % 7 != 3 && k % 5 == 0).count() as u64;
    assert_eq!(
        svc.stats.snapshot().samples_in,
        changes + decoys + 1 + ticks
    );
    svc.shutdown().await;
}

/// `ns` since the epoch as ISO 8601 in UTC+1, to the ms (H. Hinnant's
/// `civil_from_days`).
fn iso_in_cet(ns: i64) -> String {
    let ms = ns / 1_000_000 + 3_600_000;
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, min, sec, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1_000 % 60,
        ms_of_day % 1_000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{sec:02}.{milli:03}+01:00")
}

/// A sensor's bare numbers (an MQTT sensor's, timed by their arrival): its
/// value is read at every tick while nothing comes, until the hold ends
/// (the model's `--max-gap`); an `unavailable` ends it at once, the ticks
/// after it have no value (the next change's window restarts, said).
/// Every window is of one held value, and is the numbered stream's of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_sensors_value_is_held_on_the_clock_until_its_hold_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    // Ticks every 20 ms, a value held 0.8 s at most (40 ticks).
    cfg.routes[0].model = Some(resampled(dir.path(), 0.02, 0.8));
    let (_server, svc, client, mut errors, mut out) = started(cfg).await;
    let (v1, v2) = (input_at(5), input_at(9));
    for (stream, v) in [("ref1", v1), ("ref2", v2)] {
        for seq in 0..W {
            send(&client, stream, seq, &[v]).await;
        }
    }
    let bare = async |text: &str| {
        let payload = bytes::Bytes::from(text.to_string());
        client.publish("samples.sensor", payload).await.unwrap();
        client.flush().await.unwrap();
    };
    let refs = collect(&mut out, 2, translation).await;
    let of_ref = |s: &str| refs.iter().find(|t| t.stream == s).unwrap().values.clone();
    let (r1, r2) = (of_ref("ref1"), of_ref("ref2"));

    bare(&v1.to_string()).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    bare("unavailable").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    bare(&v2.to_string()).await;
    // The hold of v2 ends 0.8 s after it came: its last window by then.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), out.next()).await {
        got.push(translation(&m.payload));
    }
    let first = got.iter().filter(|t| t.values == r1).count();
    let second = got.iter().filter(|t| t.values == r2).count();
    assert_eq!(first + second, got.len(), "a window of one held value each");
    // 0.7 s of v1 is 35 ticks (12 windows), held 0.8 s at most (17);
    // v2's hold is 40 ticks (17 windows): a tick or two either way.
    assert!((10..=17).contains(&first), "{first} windows of v1");
    assert!((15..=18).contains(&second), "{second} windows of v2");
    let seqs: Vec<u64> = got.iter().map(|t| t.seq).collect();
    let jump = seqs.windows(2).position(|p| p[1] != p[0] + 1).unwrap();
    assert_eq!(jump + 1, first, "{seqs:?}");
    // The ticks between the `unavailable` and v2 (0.2 s, more on a slow
    // machine) have no value, and the next window starts W − 1 ticks
    // after v2's first.
    let missing = seqs[jump + 1] - seqs[jump] - 1;
    assert!((W + 5..=W + 40).contains(&missing), "{seqs:?}");
    let mut kinds = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), errors.next()).await {
        let e = event(&m.payload);
        assert_eq!(e.stream, "sensor");
        kinds.push((e.kind, e.detail));
    }
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[0].0, ErrorKind::Malformed);
    assert_eq!(kinds[1].0, ErrorKind::TimeGap);
    // Each tick with its time (an hourly clock's numbers say nothing).
    let said = &kinds[1].1;
    assert!(
        said.contains("Z) had no value") && said.ends_with("Z)"),
        "{said}"
    );
    svc.shutdown().await;
}

/// A change stamped an hour ahead of the service's time is refused (it
/// would hold back every later change). A sender whose clock is set back
/// further than a value is held: its stream starts over on the clock from
/// the change (a `time_gap` event says so), rather than dropping every
/// change until its time catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_clock_set_back_starts_its_stream_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.routes[0].model = Some(resampled(dir.path(), 1.0, 5.0));
    let (_server, svc, client, mut errors, mut out) = started(cfg).await;
    let second = 1_000_000_000i64;
    let now = pipeline::wire::now_ns() / second;
    let change = async |v: f32, t: i64| {
        let json = serde_json::json!({ "value": v, "ts": t * second }).to_string();
        client.publish("samples.sensor", json.into()).await.unwrap();
    };
    change(1.0, now + 3_600).await;
    // 30 ticks an hour ago, then its clock set back an hour: 30 more.
    for k in 0..=30 {
        change(input_at(k as u64), now - 3_600 + k).await;
    }
    for k in 0..=30 {
        change(input_at(k as u64), now - 7_200 + k).await;
    }
    client.flush().await.unwrap();
    let n = (30 - W + 1) as usize;
    let got = collect(&mut out, 2 * n, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let seqs: Vec<u64> = got.iter().map(|t| t.seq).collect();
    let (before, set_back) = ((now - 3_600) as u64, (now - 7_200) as u64);
    let want: Vec<u64> = (before..before + n as u64)
        .chain(set_back..set_back + n as u64)
        .collect();
    assert_eq!(seqs, want);
    // The same ticks' values, the same translations.
    for i in 0..n {
        assert_eq!(got[i].values, got[n + i].values);
    }
    let e = collect(&mut errors, 2, event).await;
    assert_eq!(
        (e[0].kind, e[0].stream.as_str()),
        (ErrorKind::InvalidValue, "sensor")
    );
    assert!(
        e[0].detail.contains("ahead of the service's time"),
        "{}",
        e[0].detail
    );
    assert_eq!(
        (e[1].kind, e[1].stream.as_str()),
        (ErrorKind::TimeGap, "sensor")
    );
    assert!(e[1].detail.contains("went back 1.0 h"), "{}", e[1].detail);
    assert_quiet(&mut errors, Duration::from_millis(200)).await;
    svc.shutdown().await;
}

/// A model read at another step swapped in while a sensor's value is
/// held (20 ms to 10 ms: the held ticks' numbers are of the old clock): the
/// stream starts over on the new clock, said, and its ticks are numbered
/// on it; a model without a clock swapped in then reads the sensor's
/// samples as they come, counted from 0 again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_read_at_another_step_swapped_in_starts_the_streams_over() {
    let dir = tempfile::tempdir().unwrap();
    let (coarse, fine) = (
        resampled(dir.path(), 0.02, 0.6),
        resampled(dir.path(), 0.01, 0.6),
    );
    let mut cfg = config();
    cfg.routes[0].model = Some(coarse);
    let (_server, svc, client, mut errors, mut out) = started(cfg).await;
    let bare = async |v: f32| {
        let payload = bytes::Bytes::from(v.to_string());
        client.publish("samples.sensor", payload).await.unwrap();
        client.flush().await.unwrap();
    };
    let reload = async |model: &std::path::Path| {
        let req = serde_json::json!({"pair": "sin-cos", "model": model, "force": true});
        let reply = (client.request("pipeline.reload", req.to_string().into()))
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
        assert!(v["reloaded"].is_array(), "{v}");
        v["warnings"].to_string()
    };
    bare(input_at(3)).await;
    let first = collect(&mut out, 1, translation).await.remove(0);
    let now_tick = |step_ns: i64| (pipeline::wire::now_ns() / step_ns) as u64;
    assert!(
        first.seq.abs_diff(now_tick(20_000_000)) < 200,
        "{}",
        first.seq
    );
    let said = reload(&fine).await;
    assert!(
        said.contains(
            "its recording was read every 10 ms, the route reads a sensor's changes every 20 ms"
        ),
        "{said}"
    );
    bare(input_at(4)).await;
    // The next translations are on the 10 ms clock (ticks twice the
    // number), of the new value alone.
    let next = loop {
        let t = collect(&mut out, 1, translation).await.remove(0);
        if t.seq > 2 * first.seq {
            break t;
        }
    };
    assert!(
        next.seq.abs_diff(now_tick(10_000_000)) < 400,
        "{}",
        next.seq
    );
    let e = loop {
        let e = collect(&mut errors, 1, event).await.remove(0);
        if e.detail.contains("clock is now every") {
            break e;
        }
    };
    assert_eq!((e.kind, e.stream.as_str()), (ErrorKind::TimeGap, "sensor"));
    // Without a clock: samples as they come, counted from 0.
    tokio::time::sleep(Duration::from_millis(700)).await;
    while tokio::time::timeout(Duration::from_millis(100), out.next())
        .await
        .is_ok()
    {}
    let said = reload(&manifest().join("models/sin-cos.safetensors")).await;
    assert!(said.contains("it was trained without --resample"), "{said}");
    for seq in 0..W {
        bare(input_at(seq)).await;
    }
    let plain = collect(&mut out, 1, translation).await.remove(0);
    assert_eq!(plain.seq, 0);
    svc.shutdown().await;
}

/// A sensor stamped by its sender that goes quiet past the idle time-out
/// is forgotten, its held value's ticks read first (to the end of its
/// hold, as training read them), not lost with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_sensors_held_ticks_are_read_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    // Ticks every 10 ms, a value held 0.3 s (a stream kept 0.6 s, twice
    // the model's gap).
    cfg.routes[0].model = Some(resampled(dir.path(), 0.01, 0.3));
    cfg.idle_timeout_s = 0.3;
    let (_server, svc, client, _errors, mut out) = started(cfg).await;
    let step = 10_000_000i64;
    let start = pipeline::wire::now_ns() / step - 360_000;
    for k in 0..10 {
        let json = serde_json::json!({ "value": input_at(k), "ts": (start + k as i64) * step });
        client
            .publish("samples.sensor", json.to_string().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    // Ticks 0..9 read by the changes, 9..=39 by the hold of the last (30
    // ticks): 40 ticks, 17 windows, the last ones of the held value alone.
    let got = collect(&mut out, 17, translation).await;
    assert_quiet(&mut out, Duration::from_millis(500)).await;
    let seqs: Vec<u64> = got.iter().map(|t| t.seq - start as u64).collect();
    assert_eq!(seqs, (0..17).collect::<Vec<_>>());
    assert_eq!(svc.stats.snapshot().streams_evicted, 1);
    svc.shutdown().await;
}

/// A sensor that stamps its readings with its own clock, live (its
/// stamps run with the service's time): its value is read at every tick as
/// time passes, as a sensor timed by its arrival is, not only when its next
/// change comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stamped_sensors_ticks_are_read_as_time_passes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    // Ticks every 20 ms, a value held 0.8 s at most (40 ticks).
    cfg.routes[0].model = Some(resampled(dir.path(), 0.02, 0.8));
    let (_server, svc, client, _errors, mut out) = started(cfg).await;
    let json = serde_json::json!({ "value": input_at(5), "ts": pipeline::wire::now_ns() });
    client
        .publish("samples.sensor", json.to_string().into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    // Nothing else is sent: 40 ticks, 17 windows (a tick either way).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), out.next()).await {
        got.push(translation(&m.payload));
    }
    assert!((16..=18).contains(&got.len()), "{} windows", got.len());
    assert!(got.windows(2).all(|p| p[1].seq == p[0].seq + 1));
    svc.shutdown().await;
}

/// A stream that holds a value on the clock and then sends numbered
/// samples starts over as a numbered stream (said), its samples windowed as
/// they come, not dropped under the clock's count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_numbers_its_samples_now_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.routes[0].model = Some(resampled(dir.path(), 1.0, 600.0));
    let (_server, svc, client, mut errors, mut out) = started(cfg).await;
    client
        .publish("samples.mixed", bytes::Bytes::from("0.5"))
        .await
        .unwrap();
    send_curve(&client, "mixed", 0..30).await;
    client.flush().await.unwrap();
    let got = collect(&mut out, 7, translation).await;
    let seqs: Vec<u64> = got.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, (0..7).collect::<Vec<_>>());
    let e = collect(&mut errors, 1, event).await.remove(0);
    assert_eq!((e.kind, e.stream.as_str()), (ErrorKind::TimeGap, "mixed"));
    assert!(
        e.detail.contains("its samples carry seq now"),
        "{}",
        e.detail
    );
    svc.shutdown().await;
}

/// An hourly recording's values sent 2 ms apart, stamped with when they
/// were sent (a replay sped up), to a route whose model's input changed
/// once an hour in training: every run of 48 changes is counted in
/// `input_too_fast` (`pipeline_input_too_fast_total`), as no tick reads
/// all but the last of them; a sensor sending at the model's pace is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_far_faster_than_training_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("hourly.safetensors");
    common::metrics_copy(
        &manifest().join("models/sin-cos.safetensors"),
        &model,
        |m| {
            m["time_step_s"] = serde_json::json!(3600.0);
            m["reading"] = serde_json::json!({ "resample_s": 3600.0, "max_gap_s": 10800.0 });
            m["changes_per_tick"] = serde_json::json!(1.0);
        },
    );
    let mut cfg = config();
    cfg.routes[0].model = Some(model);
    let (_server, svc, client, _errors, _out) = started(cfg).await;
    let now = pipeline::wire::now_ns();
    for i in 0..100i64 {
        let json = serde_json::json!({ "value": input_at(i as u64), "ts": now + i * 2_000_000 });
        client
            .publish("samples.fast", json.to_string().into())
            .await
            .unwrap();
        // At the model's pace (an hour apart), stamped in the past.
        let hourly = now - (200 - i) * 3_600_000_000_000;
        let json = serde_json::json!({ "value": input_at(i as u64), "ts": hourly });
        client
            .publish("samples.hourly", json.to_string().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let mut counted = None;
    for _ in 0..100 {
        counted = stats_data(&client).await["routes"][0]["input_too_fast"].as_u64();
        if counted == Some(96) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        counted,
        Some(96),
        "two runs of 48 changes of the fast stream"
    );
    svc.shutdown().await;
}
