//! A truth channel on a route that reads a clock (`retrain --resample`):
//! a meter that publishes its readings as they change, numbering nothing,
//! is read on the route's clock as the input is, so each window is scored
//! against the meter's value held at each of its ticks.

use super::*;

/// The live model's mean squared error against `truth` (the truth at
/// each tick) over `windows`, as the service should score it.
fn mse_against(windows: &[Translation], truth: impl Fn(u64) -> f32) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for t in windows {
        for (j, y) in t.values.iter().enumerate() {
            sum += (*y as f64 - truth(t.seq + j as u64) as f64).powi(2);
            n += 1;
        }
    }
    sum / n as f64
}

/// A replay: the input's and the meter's changes stamped with their
/// recorded times (an hour back) at irregular moments, the meter's
/// missing some ticks (its value held) and once `unavailable` (no value:
/// the windows over those ticks find no truth, counted). Every window is
/// scored against the value the meter held at its ticks, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meters_changes_are_the_truth_of_the_ticks_they_hold() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.routes[0].model = Some(resampled(dir.path(), 1.0, 5.0));
    cfg.routes[0].truth = Some("truth.>".into());
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut translated = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    let second = 1_000_000_000i64;
    let first_tick = (pipeline::wire::now_ns() / second - 3_600) as u64;
    let at = |k: u64| (first_tick + k) as i64 * second;
    let ticks = 70u64;
    // The meter changes 300 ms before most ticks; at every third tick it
    // does not (the value before is held), and at tick 40 it says
    // `unavailable`: tick 40 has no truth.
    let changes = |k: u64| k % 3 != 1 && k != 40;
    let held = |k: u64| (0..=k).rev().find(|&j| changes(j)).unwrap_or(0);
    let truth = |k: u64| truth_at(held(k));
    let send = async |subject: &str, value: serde_json::Value, t: i64| {
        let json = serde_json::json!({ "value": value, "ts": t }).to_string();
        client
            .publish(subject.to_string(), json.into())
            .await
            .unwrap();
    };
    for k in 0..ticks {
        if changes(k) {
            send("truth.s0", truth_at(k).into(), at(k) - 300_000_000).await;
        }
        if k == 40 {
            send("truth.s0", "unavailable".into(), at(k) - 300_000_000).await;
        }
        send("samples.s0", input_at(k).into(), at(k) - 100_000_000).await;
    }
    // A change after the last tick reads every tick before it.
    send("truth.s0", 0.0.into(), at(ticks - 1) + 1).await;
    send("samples.s0", 0.0.into(), at(ticks - 1) + 1).await;
    client.flush().await.unwrap();
    let windows = (ticks - W + 1) as usize;
    let out = collect(&mut translated, windows, translation).await;
    assert_eq!(out[0].seq, first_tick, "tick numbers from the epoch");
    // Windows over tick 40 have no truth there.
    let (_, scored, want) = scored_but_over(&client, &out, first_tick, 40, truth).await;
    let k_of = |seq: u64| seq - first_tick;
    // Scored against each change's own tick instead (no value held), it
    // would read otherwise: the test tells a hold from none.
    let unheld = mse_against(&scored, |seq| truth_at(k_of(seq)));
    assert!((unheld - want).abs() > 1e-3 * want, "{unheld} vs {want}");
    svc.shutdown().await;
}

/// A live meter that sent one bare reading (timed by its arrival) and then
/// nothing: its value is the truth of every tick after it, within the
/// route's hold, read as the service's time passes (no later reading
/// comes to read it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_meters_value_is_the_truth_as_time_passes() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.routes[0].model = Some(resampled(dir.path(), 0.05, 60.0));
    cfg.routes[0].truth = Some("truth.>".into());
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut translated = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    client.publish("truth.s0", "0.75".into()).await.unwrap();
    client.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    client.publish("samples.s0", "0.3".into()).await.unwrap();
    client.flush().await.unwrap();
    let windows = 12;
    let out = collect(&mut translated, windows, translation).await;
    let stats = settled_stats(&client, windows).await;
    let c = &stats["compare"];
    let r = &c["live_vs_truth"];
    assert!(r["windows"].as_u64().unwrap() >= windows as u64, "{stats}");
    assert_eq!(c["unmatched"], 0, "{stats}");
    // Every window is of the one input held, so each has the same values:
    // the score is theirs against 0.75 whatever windows it is over.
    assert!(out.iter().all(|t| t.values == out[0].values));
    let want = mse_against(&out[..1], |_| 0.75);
    let got = r["sum_sq"].as_f64().unwrap() / r["values"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-6 * want, "{got} vs {want}");
    svc.shutdown().await;
}

/// One device's readings of both channels in one message (`{"poa": …,
/// "ac_kw": …, "ts": …}`, no seq, as a bridge sends a weather station's and
/// an inverter's values), read on one subject as the input (`value_key`)
/// and the truth (`truth_value_key`), on the clock of a model trained on
/// rows every second (a route's `resample`): every window is scored against
/// the truth of its ticks, exactly. A message without the truth's key has
/// no truth, and is no fault (a device's message at night, its inverter
/// off): nothing refused; its input is translated all the same. A truth
/// that is no number is refused, said and counted. The message's one
/// `unit`, the input's, says nothing of the truth's: not refused for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_with_both_channels_is_input_and_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut cfg) = on_rows_clock(dir.path(), |m| {
        (m["input_unit"], m["output_unit"]) = ("W/m²".into(), "kW".into());
    });
    let r = &mut cfg.routes[0];
    (r.input, r.truth) = ("station.*".into(), Some("station.*".into()));
    (r.value_key, r.truth_value_key) = (Some("poa".into()), Some("ac_kw".into()));
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut translated = client.subscribe("translated.>").await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    client.flush().await.unwrap();
    let second = 1_000_000_000i64;
    let first_tick = (pipeline::wire::now_ns() / second - 3_600) as u64;
    let at = |k: u64| (first_tick + k) as i64 * second - 100_000_000;
    let (ticks, lost) = (60u64, 30u64);
    for k in 0..=ticks {
        let mut m = serde_json::json!({ "poa": input_at(k), "ts": at(k), "unit": "W/m2" });
        if k != lost {
            m["ac_kw"] = truth_at(k).into();
        }
        let json = m.to_string();
        client.publish("station.s0", json.into()).await.unwrap();
    }
    client.flush().await.unwrap();
    let windows = (ticks - W + 1) as usize;
    let out = collect(&mut translated, windows, translation).await;
    let (stats, _, _) = scored_but_over(&client, &out, first_tick, lost, truth_at).await;
    assert_eq!(stats["truth_refused"], 0, "{stats}");
    assert_quiet(&mut errors, Duration::from_millis(200)).await;
    let json = serde_json::json!({ "poa": 0.5, "ac_kw": "n/a", "ts": at(ticks + 1) });
    client
        .publish("station.s0", json.to_string().into())
        .await
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), errors.next()).await;
    let payload = m.unwrap().unwrap().payload;
    let e = event(&payload);
    assert!(e.detail.starts_with("truth: "), "{e:?}");
    // In the message's format: JSON for a JSON message, as the docs say.
    assert_eq!(payload.first(), Some(&b'{'), "{e:?}");
    // A message of the input alone that says the truth's unit is in the
    // wrong one: refused.
    let json = serde_json::json!({ "poa": 0.5, "unit": "kW", "ts": at(ticks + 2) });
    client
        .publish("station.s0", json.to_string().into())
        .await
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), errors.next()).await;
    let e = event(&m.unwrap().unwrap().payload);
    assert!(
        e.detail
            .starts_with("its samples are in \"kW\", the model reads \"W/m²\""),
        "{e:?}"
    );
    assert_eq!(route_stats(&client).await["truth_refused"], 1);
    svc.shutdown().await;
}

/// A server, and a route of a model trained on rows every second read on a
/// clock of that step (a route's `resample`), its model in `dir`, its
/// metrics edited by `edit`.
fn on_rows_clock(
    dir: &Path,
    edit: impl FnOnce(&mut serde_json::Value),
) -> (NatsServer, pipeline::config::ServeConfig) {
    let model = dir.join("rows.safetensors");
    common::metrics_copy(
        &manifest().join("models/sin-cos.safetensors"),
        &model,
        |m| {
            m["time_step_s"] = serde_json::json!(1.0);
            edit(m);
        },
    );
    let mut cfg = config();
    (cfg.routes[0].model, cfg.routes[0].resample) = (Some(model), Some(1.0));
    (NatsServer::start(), cfg)
}

/// [`scored_as`] the truth of each tick but `lost`, which found none.
async fn scored_but_over(
    client: &Client,
    out: &[Translation],
    first_tick: u64,
    lost: u64,
    truth: impl Fn(u64) -> f32,
) -> (serde_json::Value, Vec<Translation>, f64) {
    let truth_of = |k: u64| (k != lost).then(|| truth(k));
    scored_as(client, out, first_tick, truth_of).await
}

/// A meter that reports every tick (a little early) on a route that reads
/// a joined model (trained on a file `pipeline join` held the input of on
/// the output's clock), its input held 10 ticks (a route's max_gap): the
/// meter silent for six ticks (an inverter at dusk) has no truth from the
/// tick after its last reading on, as the joined rows had none; its last
/// reading is not scored against for as long as the input is held (a tick
/// and a half at most, here one tick).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_meter_of_a_joined_model_is_no_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut cfg) = on_rows_clock(dir.path(), |m| {
        m["joined"] = serde_json::json!({"resample_s": 1.0, "max_gap_s": 3.0});
    });
    let r = &mut cfg.routes[0];
    r.max_gap = Some(10.0);
    (r.input, r.truth) = ("station.*".into(), Some("meter.*".into()));
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut translated = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    let second = 1_000_000_000i64;
    let first_tick = (pipeline::wire::now_ns() / second - 3_600) as u64;
    let at = |k: u64| (first_tick + k) as i64 * second - 100_000_000;
    let ticks = 70u64;
    let silent = 30..36u64;
    for k in 0..=ticks {
        let m = serde_json::json!({ "value": input_at(k), "ts": at(k) });
        client
            .publish("station.s0", m.to_string().into())
            .await
            .unwrap();
        if !silent.contains(&k) {
            let m = serde_json::json!({ "value": truth_at(k), "ts": at(k) });
            client
                .publish("meter.s0", m.to_string().into())
                .await
                .unwrap();
        }
    }
    client.flush().await.unwrap();
    let windows = (ticks - W + 1) as usize;
    let out = collect(&mut translated, windows, translation).await;
    // Tick 30 reads the reading of 1.1 s before (tick 29's); 31 to 35 none.
    let truth_of = |k: u64| match k {
        30 => Some(truth_at(29)),
        k if silent.contains(&k) => None,
        k => Some(truth_at(k)),
    };
    let (stats, scored, _) = scored_as(&client, &out, first_tick, truth_of).await;
    assert!(!scored.is_empty() && scored.len() < windows, "{stats}");
    svc.shutdown().await;
}

/// Asserts that the route scored every window of `out` (ticks counted from
/// `first_tick`) whose ticks all have a truth (`truth_of`) against it,
/// exactly, and found none for the others; the route's stats, the windows
/// scored and their MSE.
async fn scored_as(
    client: &Client,
    out: &[Translation],
    first_tick: u64,
    truth_of: impl Fn(u64) -> Option<f32>,
) -> (serde_json::Value, Vec<Translation>, f64) {
    let k_of = |seq: u64| seq - first_tick;
    let across = |t: &&Translation| (k_of(t.seq)..k_of(t.seq) + W).any(|k| truth_of(k).is_none());
    let (unscored, scored): (Vec<&Translation>, Vec<&Translation>) = out.iter().partition(across);
    let scored: Vec<Translation> = scored.into_iter().cloned().collect();
    let want = mse_against(&scored, |seq| truth_of(k_of(seq)).unwrap_or(f32::NAN));
    let stats = settled_stats(client, scored.len()).await;
    let c = &stats["compare"];
    let windows = &c["live_vs_truth"]["windows"];
    assert_eq!(windows, scored.len() as u64, "{stats}");
    assert_eq!(c["unmatched"], unscored.len() as u64, "{stats}");
    let r = &c["live_vs_truth"];
    let got = r["sum_sq"].as_f64().unwrap() / r["values"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-6 * want, "{got} vs {want}");
    (stats, scored, want)
}

/// `$SRV.STATS` of the route once its live comparison is over `want`
/// windows (or after two seconds).
async fn settled_stats(client: &Client, want: usize) -> serde_json::Value {
    let got = settled(|| compared_windows(client, "live_vs_truth"), want).await;
    let stats = route_stats(client).await;
    assert!(got >= Some(want as u64), "{got:?}: {stats}");
    stats
}
