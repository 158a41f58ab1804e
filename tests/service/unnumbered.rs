//! Senders that number nothing: a bare number in text (an MQTT sensor's
//! payload, `nats pub samples.x 21.5`), a JSON array, a map without `seq`.
//! The service counts their samples in arrival order and, without `ts`,
//! times them by their arrival.

use super::*;

/// 40 samples of the sin curve as each kind of sender writes them: the
/// same windows and translations as the numbered stream's, a decimal comma
/// refused (a JSON event, the sender wrote text) without touching the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_their_sender_does_not_number_are_counted_in_arrival_order() {
    let (_server, svc, client, mut errors, mut out) = started(config()).await;
    let text = |v: f32| bytes::Bytes::from(v.to_string());
    send_curve(&client, "numbered", 0..40).await;
    for seq in 0..40 {
        client
            .publish("samples.bare", text(input_at(seq)))
            .await
            .unwrap();
    }
    for first in (0..40).step_by(10) {
        let values: Vec<f32> = (first..first + 10).map(input_at).collect();
        let json = serde_json::json!({ "values": values }).to_string();
        client.publish("samples.array", json.into()).await.unwrap();
    }
    // Unnumbered first, then numbered on from where the count got.
    for seq in 0..40 {
        if seq < 20 {
            client
                .publish("samples.mixed", text(input_at(seq)))
                .await
                .unwrap();
        } else {
            send(&client, "mixed", seq, &[input_at(seq)]).await;
        }
    }
    client
        .publish("samples.comma", "21,5".into())
        .await
        .unwrap();
    client.flush().await.unwrap();

    let per_stream = (40 - W + 1) as usize;
    let got = collect(&mut out, 4 * per_stream, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let of =
        |stream: &str| -> Vec<&Translation> { got.iter().filter(|t| t.stream == stream).collect() };
    let numbered = of("numbered");
    assert_eq!(numbered.len(), per_stream);
    for stream in ["bare", "array", "mixed"] {
        let these = of(stream);
        let seqs: Vec<u64> = these.iter().map(|t| t.seq).collect();
        assert_eq!(seqs, (0..per_stream as u64).collect::<Vec<_>>(), "{stream}");
        for (t, n) in these.iter().zip(&numbered) {
            assert_eq!(t.values, n.values, "{stream} seq {}", t.seq);
        }
    }
    let m = tokio::time::timeout(Duration::from_secs(10), errors.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        m.payload.first(),
        Some(&b'{'),
        "a JSON event for a text sender"
    );
    let e = event(&m.payload);
    assert_eq!((e.kind, e.stream.as_str()), (ErrorKind::Malformed, "comma"));
    assert!(e.detail.contains("decimal comma"), "{}", e.detail);
    assert_quiet(&mut errors, Duration::from_millis(200)).await;
    let snap = svc.stats.snapshot();
    assert_eq!((snap.samples_in, snap.errors["malformed"]), (160, 1));
    svc.shutdown().await;
}

/// On a route that splits by time, a sender's samples without `ts` are
/// timed by their arrival: a pause longer than the gap restarts the window
/// (with a `time_gap` event), as a numbered and stamped stream's would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_restarts_the_window_of_samples_without_seq_or_ts() {
    let mut cfg = config();
    cfg.routes[0].max_gap = Some(0.25);
    let (_server, svc, client, mut errors, mut out) = started(cfg).await;
    let burst = async |seqs: std::ops::Range<u64>| {
        for seq in seqs {
            let v = bytes::Bytes::from(input_at(seq).to_string());
            client.publish("samples.sensor", v).await.unwrap();
        }
        client.flush().await.unwrap();
    };
    burst(0..30).await;
    let before = collect(&mut out, 7, translation).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    burst(30..60).await;
    let after = collect(&mut out, 7, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let seqs: Vec<u64> = before.iter().chain(&after).map(|t| t.seq).collect();
    assert_eq!(seqs, (0..7).chain(30..37).collect::<Vec<_>>());
    let e = collect(&mut errors, 1, event).await.remove(0);
    assert_eq!((e.kind, e.stream.as_str()), (ErrorKind::TimeGap, "sensor"));
    assert!(e.detail.contains("seq 30 is"), "{}", e.detail);
    svc.shutdown().await;
}

/// An MQTT sensor (Python's paho-mqtt) publishing bare numbers at QoS 1 to
/// nats-server's MQTT listener: `samples/greenhouse/t1` is the NATS subject
/// `samples.greenhouse.t1`, translated as a numbered stream of the same
/// values is; an MQTT client subscribed to `translated/greenhouse/t1`
/// reads each translation as JSON (a route with `output_format = "json"`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_sensor_publishing_bare_numbers_is_translated() {
    let dir = tempfile::tempdir().unwrap();
    let (conf, log) = (dir.path().join("mqtt.conf"), dir.path().join("server.log"));
    // MQTT needs a server name (and JetStream, which the helper enables).
    std::fs::write(
        &conf,
        "server_name: greenhouse\nmqtt { host: 127.0.0.1, port: -1 }\n",
    )
    .unwrap();
    let server =
        NatsServer::start_with(&["-c", conf.to_str().unwrap(), "-l", log.to_str().unwrap()]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mqtt_port = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let said = "Listening for MQTT clients on mqtt://127.0.0.1:";
        if let Some(port) = text
            .lines()
            .find_map(|l| l.split_once(said).map(|(_, p)| p.trim().to_string()))
        {
            break port;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no MQTT listener: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut cfg = config();
    cfg.routes[0].output_format = pipeline::wire::Format::Json;
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut out = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    send_curve(&client, "numbered", 0..40).await;
    client.flush().await.unwrap();

    let per_stream = (40 - W + 1) as usize;
    let values: Vec<String> = (0..40).map(|s| input_at(s).to_string()).collect();
    let run = tokio::process::Command::new(processes::python())
        .arg(manifest().join("tests/interop/mqtt.py"))
        .args([
            &mqtt_port,
            "samples/greenhouse/t1",
            "translated/greenhouse/t1",
        ])
        .arg(per_stream.to_string())
        .args(&values)
        .output();
    let run = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the MQTT sensor timed out")
        .unwrap();
    assert!(
        run.status.success(),
        "MQTT sensor failed (paho-mqtt is installed by `make test`): {}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );

    let got = collect(&mut out, 2 * per_stream, translation).await;
    let of =
        |stream: &str| -> Vec<&Translation> { got.iter().filter(|t| t.stream == stream).collect() };
    let (sensor, numbered) = (of("greenhouse.t1"), of("numbered"));
    assert_eq!(sensor.len(), per_stream, "{got:?}");
    for (t, n) in sensor.iter().zip(&numbered) {
        assert_eq!((t.seq, &t.values), (n.seq, &n.values));
    }
    // The MQTT side read every translation of its topic, as JSON.
    let said: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let seqs: Vec<u64> = (0..per_stream as u64).collect();
    assert_eq!(
        (&said["published"], &said["seqs"]),
        (&40.into(), &seqs.into()),
        "{said}"
    );
    let first: Translation = serde_json::from_value(said["first"].clone()).unwrap();
    assert_eq!(first.values, sensor[0].values);
    svc.shutdown().await;
}

/// Zigbee2MQTT's way: each device's state as one JSON object on
/// `zigbee2mqtt/<device>`, the reading under its quantity's name. A route
/// with `value_key = "temperature"` on `zigbee2mqtt.*` translates it as a
/// numbered stream of the same values; the bridge's own messages
/// (`zigbee2mqtt/bridge/state`) are not on the route's subjects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devices_reading_is_taken_under_the_routes_value_key() {
    let server = NatsServer::start();
    let mut cfg = config();
    cfg.routes[0].value_key = Some("temperature".into());
    let mut numbered = route("sin-cos");
    (numbered.input, numbered.output) = ("numbered.*".into(), "translated-numbered".into());
    cfg.routes[0].input = "zigbee2mqtt.*".into();
    cfg.routes.push(numbered);
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut out = client.subscribe("translated.>").await.unwrap();
    let mut reference = client.subscribe("translated-numbered.>").await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    client.flush().await.unwrap();
    client
        .publish("zigbee2mqtt.bridge.state", r#"{"state":"online"}"#.into())
        .await
        .unwrap();
    for seq in 0..40 {
        let state = serde_json::json!({
            "battery": 97, "humidity": 40.5, "linkquality": 120,
            "temperature": input_at(seq), "voltage": 2995,
        });
        let subject = "zigbee2mqtt.greenhouse_t1";
        client
            .publish(subject, state.to_string().into())
            .await
            .unwrap();
        let msg = sample(seq, input_at(seq));
        client.publish("numbered.t1", msg.into()).await.unwrap();
    }
    // A device whose state has no temperature: refused, its numbers named.
    let door = r#"{"contact":true,"battery":100}"#;
    client
        .publish("zigbee2mqtt.door", door.into())
        .await
        .unwrap();
    client.flush().await.unwrap();

    let per_stream = (40 - W + 1) as usize;
    let got = collect(&mut out, per_stream, translation).await;
    let want = collect(&mut reference, per_stream, translation).await;
    for (t, n) in got.iter().zip(&want) {
        assert_eq!(
            (t.stream.as_str(), t.seq, &t.values),
            ("greenhouse_t1", n.seq, &n.values)
        );
    }
    let e = collect(&mut errors, 1, event).await.remove(0);
    assert_eq!((e.kind, e.stream.as_str()), (ErrorKind::Malformed, "door"));
    assert!(
        e.detail
            .contains(r#"has neither `temperature` nor `values` (its numbers are under "battery""#),
        "{}",
        e.detail
    );
    assert_quiet(&mut errors, Duration::from_millis(200)).await;
    svc.shutdown().await;
}

/// An unnumbered message after a numbered one at the end of u64 has no seq
/// left: refused (it overflowed the count: a panic in a debug build).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unnumbered_sample_after_the_last_seq_is_refused() {
    let (_server, svc, client, mut errors, _out) = started(config()).await;
    send(&client, "end", u64::MAX - 1, &[0.5]).await;
    client.publish("samples.end", "0.5".into()).await.unwrap();
    client.flush().await.unwrap();
    let e = collect(&mut errors, 1, event).await.remove(0);
    assert_eq!((e.kind, e.stream.as_str()), (ErrorKind::Malformed, "end"));
    assert!(e.detail.contains("the end of u64"), "{}", e.detail);
    svc.shutdown().await;
}

/// Home Assistant's state objects, forwarded as they are (a Node-RED flow,
/// its WebSocket API): the reading is a string under `state`. A route with
/// `value_key = "state"` translates it as a numbered stream of the same
/// values; `"unavailable"` is refused, said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_written_as_a_string_is_a_sample() {
    let mut cfg = config();
    cfg.routes[0].value_key = Some("state".into());
    let (_server, svc, client, mut errors, mut out) = started(cfg).await;
    for seq in 0..30 {
        let numbered = serde_json::json!({"seq": seq, "state": input_at(seq)});
        client
            .publish("samples.numbered", numbered.to_string().into())
            .await
            .unwrap();
        let state = serde_json::json!({
            "entity_id": "sensor.gh1_air_temperature",
            "state": input_at(seq).to_string(),
            "attributes": {"unit_of_measurement": "°C"},
        });
        client
            .publish("samples.ha", state.to_string().into())
            .await
            .unwrap();
    }
    let word = serde_json::json!({"entity_id": "sensor.x", "state": "unavailable"});
    client
        .publish("samples.word", word.to_string().into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let got = collect(&mut out, 14, translation).await;
    let of =
        |stream: &str| -> Vec<&Translation> { got.iter().filter(|t| t.stream == stream).collect() };
    let (ha, numbered) = (of("ha"), of("numbered"));
    assert_eq!(ha.len(), 7);
    for (h, n) in ha.iter().zip(&numbered) {
        assert_eq!((h.seq, &h.values), (n.seq, &n.values));
    }
    let e = collect(&mut errors, 1, event).await.remove(0);
    assert_eq!((e.kind, e.stream.as_str()), (ErrorKind::Malformed, "word"));
    assert!(
        e.detail.contains("\"unavailable\" is not a number"),
        "{}",
        e.detail
    );
    svc.shutdown().await;
}
