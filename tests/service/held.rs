//! Refused readings and a value held on a route's clock: a refusal's
//! `ts` ends the hold there; a reading refused for its stamp alone (a
//! clock never set) ends none.

use super::*;

/// A replay of a sensor's changes (stamped an hour ago) with a refused
/// reading stamped too (`{"value": "unavailable", "ts": …}`, as a forwarder
/// of a Home Assistant history sends it): the value held ends where the
/// refusal's `ts` says, not at the last change, so the ticks between are
/// read as training read the recording. Every window is the numbered
/// stream's of the same ticks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_readings_stamp_ends_the_hold_there() {
    let dir = tempfile::tempdir().unwrap();
    let ((_server, svc, client, mut errors, mut out), first_tick) = an_hour_ago(dir.path()).await;
    let second = 1_000_000_000i64;
    let at = |k: u64| (first_tick + k) as i64 * second;
    let stamped = async |value: serde_json::Value, t: i64| {
        let json = serde_json::json!({ "value": value, "ts": t }).to_string();
        client.publish("samples.sensor", json.into()).await.unwrap();
    };
    // Changes at ticks 0–30, the value of tick 30 held to 35.5 s, where
    // the sensor became unavailable; changes again at ticks 40–70.
    let changes: Vec<u64> = (0..=30).chain(40..=70).collect();
    for &k in &changes {
        stamped(serde_json::json!(input_at(k)), at(k)).await;
        if k == 30 {
            stamped(serde_json::json!("unavailable"), at(35) + second / 2).await;
        }
    }
    // A change after the last tick reads it.
    stamped(serde_json::json!(0.5), at(70) + 1).await;
    client.flush().await.unwrap();
    let held = |k: u64| input_at(if (31..=35).contains(&k) { 30 } else { k });
    let runs = [(0u64, 35u64), (40, 70)];
    let expected: usize = runs.iter().map(|(a, b)| (b - a + 2 - W) as usize).sum();
    let got = collect(&mut out, expected, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let mut want = Vec::new();
    for (a, b) in runs {
        want.extend((a..=b + 1 - W).map(|k| first_tick + k));
    }
    let seqs: Vec<u64> = got.iter().map(|t| t.seq).collect();
    assert_eq!(
        seqs, want,
        "ticks 31–35 hold tick 30's value; 36–39 have none"
    );
    for t in &got {
        let k = t.seq - first_tick;
        let window: Vec<f32> = (k..k + W).map(held).collect();
        let req = serde_json::json!({ "values": window }).to_string();
        let reply = client.request("pipeline.translate", req.into()).await;
        let direct = translation(&reply.unwrap().payload);
        assert_eq!(t.values, direct.values, "tick {k}");
    }
    let events = collect(&mut errors, 2, event).await;
    let kinds: Vec<ErrorKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [ErrorKind::Malformed, ErrorKind::TimeGap],
        "{events:?}"
    );
    assert!(
        events[1].detail.contains("4 tick(s)"),
        "{}",
        events[1].detail
    );
    svc.shutdown().await;
}

/// A sensor that reboots with its clock unset stamps its first readings in
/// 1970 (refused for it): a reading refused for its stamp alone says
/// nothing of the sensor's value, so the value held goes on to its next
/// change, as through a silence (it ended the hold at the last change, and
/// an air-quality sensor lost the hourly tick its reading two minutes
/// before held).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_stamped_in_1970_ends_no_hold() {
    let dir = tempfile::tempdir().unwrap();
    let ((_server, svc, client, mut errors, mut out), first_tick) = an_hour_ago(dir.path()).await;
    let second = 1_000_000_000i64;
    let at = |k: u64| (first_tick + k) as i64 * second;
    let stamped = async |value: serde_json::Value, t: serde_json::Value| {
        let json = serde_json::json!({ "value": value, "ts": t }).to_string();
        client.publish("samples.sensor", json.into()).await.unwrap();
    };
    // Silent from tick 31 to 39 but for the rebooted sensor's reading.
    for k in (0..=30).chain(40..=70) {
        stamped(serde_json::json!(input_at(k)), at(k).into()).await;
        if k == 30 {
            stamped(serde_json::json!(0.25), "1970-01-01T00:02:00Z".into()).await;
        }
    }
    stamped(serde_json::json!(0.5), (at(70) + 1).into()).await;
    client.flush().await.unwrap();
    let got = collect(&mut out, 70 + 2 - W as usize, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let ticks: Vec<u64> = got.iter().map(|t| t.seq - first_tick).collect();
    assert_eq!(
        ticks,
        (0..=70 + 1 - W).collect::<Vec<_>>(),
        "tick 30's value held to 39"
    );
    let e = collect(&mut errors, 1, event).await.remove(0);
    assert!(e.detail.contains("lies before 1971"), "{e:?}");
    svc.shutdown().await;
}

/// A route read every second, a value held 50 s at most, started; and
/// the first tick of a replay stamped an hour ago.
async fn an_hour_ago(
    dir: &std::path::Path,
) -> (
    (
        common::nats::NatsServer,
        Svc,
        async_nats::Client,
        async_nats::Subscriber,
        async_nats::Subscriber,
    ),
    u64,
) {
    let mut cfg = config();
    cfg.routes[0].model = Some(resampled(dir, 1.0, 50.0));
    let running = started(cfg).await;
    (
        running,
        (pipeline::wire::now_ns() / 1_000_000_000 - 3_600) as u64,
    )
}
