//! Durable units among themselves and towards operators: a standby takes
//! over a frozen owner, which is fenced; hostile framing is acked without
//! blocking; requests and stats; owning/standing-by states; a checkpoint that
//! cannot be read back stops the service.

use super::*;

/// A standby (another instance name) waits while the owner checkpoints;
/// when the owner freezes (SIGSTOP) for longer than the lease it takes over
/// from the last checkpoint. When the old owner wakes up it cannot write
/// its checkpoint any more: it stops serving (exits, or stands by).
/// Every window is still stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_a_frozen_owner_and_the_owner_is_fenced() {
    frozen_owner(None).await;
}

/// The same, with the owner frozen for longer than the output stream's
/// duplicate window: the server would store twice what the old owner
/// computed before its pause, so it must publish none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_frozen_past_the_duplicate_window_publishes_nothing_twice() {
    // Longer than the takeover (a lease, then resuming from the last
    // checkpoint), or the new owner's own replay would be stored twice.
    frozen_owner(Some(Duration::from_secs(8))).await;
}

/// Freezes the owner until the standby has taken over and then `after`
/// longer than `dupes` (the output stream's duplicate window, when given;
/// 1 s when not), then wakes it: every window stored exactly once.
///
/// The owner is frozen with nothing of its own in flight (the first half of
/// the samples translated and stored), and the second half is published
/// while it is frozen: woken, it finds what was delivered to it meanwhile,
/// computes it, and must publish none of it. A freeze that lands while
/// translations are in the client's buffer can let them through past the
/// duplicate window (RELIABILITY.md): no fence a client applies reaches
/// bytes already handed over, so this test does not freeze there.
async fn frozen_owner(dupes: Option<Duration>) {
    let bed = Bed::new().await;
    let js = &bed.js;
    if let Some(window) = dupes {
        (js.create_stream(jetstream::stream::Config {
            name: "TRANSLATED".into(),
            subjects: vec!["translated.>".into()],
            duplicate_window: window,
            allow_batch_publish: true,
            ..Default::default()
        }))
        .await
        .unwrap();
    }
    // A lease of 3 s: with 1 s, a loaded 2-core machine (the whole suite
    // at four tests at a time, on a first-generation EPYC) kept the owner's
    // checkpoints more than a lease behind its outputs, and the two
    // instances took the unit from each other every second or two, so the
    // "owner" frozen was not always the one owning.
    let (mut owner, standby) = bed.owner_and_standby("3s").await;

    let half = STANDARD.samples / 2;
    publish_seqs(js.clone(), STANDARD, 0..half).await;
    let first = STANDARD.streams as u64 * (half - W + 1);
    wait_for_stored(js, first, Duration::from_secs(60), &[owner.log.clone()]).await;
    // Stored is not yet acknowledged: let the owner settle its last batch.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !owns(&owner.log) {
        assert!(Instant::now() < deadline, "{}", logs(&[owner.log.clone()]));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let standby_before = std::fs::read_to_string(&standby.log).unwrap().len();
    signal(&owner.child, "-STOP");
    let publisher = tokio::spawn(publish_seqs(js.clone(), STANDARD, half..STANDARD.samples));
    let taken = async {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let text = std::fs::read_to_string(&standby.log).unwrap_or_default();
            if text[standby_before..].contains("taking over") {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(taken.await, "{}", logs(std::slice::from_ref(&standby.log)));
    let frozen = dupes.map_or(Duration::from_secs(1), |d| d * 2);
    tokio::time::sleep(frozen).await;
    let before = std::fs::read_to_string(&owner.log).unwrap().len();
    signal(&owner.child, "-CONT");
    // The old owner finds it no longer owns the unit.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&owner.log).unwrap();
        let after = &text[before..];
        if after.contains("no longer owns") || after.contains("standing by") {
            let line = after
                .lines()
                .find(|l| l.contains("no longer owns") || l.contains("standing by"));
            eprintln!("old owner: {}", line.unwrap_or_default());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old owner carried on:\n{after}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Ok(Some(status)) = owner.child.try_wait() {
        assert!(!status.success(), "a fenced owner exits with an error");
    }
    publisher.await.unwrap();
    let outputs = read_outputs(js, STANDARD, &[owner.log.clone(), standby.log.clone()]).await;
    check_exactly_once(&outputs, STANDARD);
}

/// Whether an instance's log last says that it owns the unit.
fn owns(log: &std::path::Path) -> bool {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let word = |l: &str| {
        if l.contains("starting: no checkpoint yet") || l.contains("resuming from checkpoint") {
            Some(true)
        } else if ["standing by", "belongs to instance", "no longer owns"]
            .iter()
            .any(|n| l.contains(n))
        {
            Some(false)
        } else {
            None
        }
    };
    text.lines().rev().find_map(word).unwrap_or(false)
}

/// Messages stored under a subject that is not UTF-8, or with a header
/// block that does not parse (only a raw-protocol client can publish them):
/// the unpatched client dropped its connection on each delivery, so the unit
/// could never get past them. Now each is reported once, acked with the rest,
/// and every window of the good streams is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_framing_is_reported_and_acked_without_blocking_the_unit() {
    let bed = Bed::new().await;
    let (url, js) = (&bed.url, &bed.js);
    let client = async_nats::connect(&url).await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    client.flush().await.unwrap();
    let svc = bed.serve(0, "test-instance").await;

    let body = sample(0, 1.0);
    let mut ops = raw_pub(b"samples.\xff\xfe", None, &body);
    ops.extend(raw_pub(
        b"samples.h",
        Some(b"NATS/1.0\r\nX: a\rb\r\n\r\n"),
        &body,
    ));
    // A status line is the server's to write. Were one stored, the client
    // would take it for the server's (a 409 "Consumer Deleted" ends the
    // consumer) on every delivery; nats-server 2.15 strips it when it stores
    // the message, which is then sample 0 of stream "st": no event, no block.
    ops.extend(raw_pub(
        b"samples.st",
        Some(b"NATS/1.0 409 Consumer Deleted\r\nX: y\r\n\r\n"),
        &body,
    ));
    bed.server.send_raw(&ops);
    for seq in 0..30u64 {
        for s in 0..2 {
            let body = sample(seq, value(s, seq));
            js.publish(format!("samples.s{s}"), body.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    }
    let log = std::slice::from_ref(&svc.log);
    wait_for_stored(js, 2 * 7, Duration::from_secs(30), log).await;

    let mut kinds = Vec::new();
    for _ in 0..2 {
        let e = tokio::time::timeout(Duration::from_secs(10), errors.next())
            .await
            .unwrap_or_else(|_| panic!("an error event: {}", logs(log)))
            .unwrap();
        kinds.push(ErrorEvent::decode(&e.payload).unwrap().kind);
    }
    assert_eq!(kinds, [ErrorKind::BadSubject, ErrorKind::Malformed]);
    let third = tokio::time::timeout(Duration::from_millis(500), errors.next()).await;
    assert!(third.is_err(), "each reported once: {third:?}");

    // Everything is acked: the consumer's ack floor reaches the last message.
    let input = js.get_stream("SAMPLES").await.unwrap();
    let last = input.get_info().await.unwrap().state.last_sequence;
    assert_eq!(last, 63, "the hostile messages were stored");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c: consumer::PullConsumer = input.get_consumer("pipeline_sin-cos").await.unwrap();
        let floor = c.info().await.unwrap().ack_floor.stream_sequence;
        if floor == last {
            break;
        }
        assert!(Instant::now() < deadline, "ack floor {floor} of {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = std::fs::read_to_string(&svc.log).unwrap();
    assert!(
        !text.contains("may be lost"),
        "no dropped connection: {text}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stored(js).await, 2 * 7);
}

/// In durable mode the `pipeline` NATS service still answers
/// `pipeline.translate` (through the route's request path, not the units),
/// and `$SRV.STATS` reports the durable counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_stats_in_durable_mode() {
    let bed = Bed::new().await;
    let (url, js) = (&bed.url, &bed.js);
    let svc = bed.serve(0, "test-instance").await;
    for seq in 0..30u64 {
        let body = sample(seq, value(0, seq));
        js.publish("samples.s0", body.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    wait_for_stored(
        js,
        7,
        Duration::from_secs(20),
        std::slice::from_ref(&svc.log),
    )
    .await;
    assert_eq!(stored(js).await, 7);

    let client = async_nats::connect(&url).await.unwrap();
    let window: Vec<f64> = (0..W).map(|q| f64::from(value(3, q))).collect();
    let req = rmp_serde::to_vec_named(&serde_json::json!({ "values": window })).unwrap();
    let reply = client
        .request("pipeline.translate", req.into())
        .await
        .unwrap();
    let t = Translation::decode(&reply.payload).unwrap();
    let model =
        pipeline::format::load(&manifest().join("models/sin-cos.safetensors"), None).unwrap();
    let input: Vec<f32> = (0..W).map(|q| value(3, q)).collect();
    assert_eq!(t.values, model.fast.translate_rows(&input).unwrap());
    assert_eq!(t.model, model.id);

    // Checkpoints go every 200 ms: the windows can be stored before the
    // first one is written; and the service counts a window once it reads
    // the store's ack, after the stream holds it. So ask until both are
    // counted (or 10 s have passed).
    let deadline = Instant::now() + Duration::from_secs(10);
    let checkpoints = |stats: &serde_json::Value| {
        let data = pipeline::fleet::endpoint_data(stats, "translate").unwrap();
        let windows_out = data["windows_out"].as_u64().unwrap();
        data["checkpoints"].as_u64().unwrap() * u64::from(windows_out == 7)
    };
    let stats = loop {
        let reply = client
            .request("$SRV.STATS.pipeline", "".into())
            .await
            .unwrap();
        let stats: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
        if checkpoints(&stats) > 0 || Instant::now() > deadline {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let data = pipeline::fleet::endpoint_data(&stats, "translate").unwrap();
    assert_eq!(data["windows_out"], 7, "{stats}");
    assert!(data["checkpoints"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(data["duplicates"], 0, "{stats}");
    // Caught up: the unit's consumer has nothing left to deliver.
    assert_eq!(data["pending"]["sin-cos.all"], 0, "{stats}");
}

/// Durable units say what they do: the first instance owns the unit, a
/// second one with another name stands by; both are ready (`/readyz`
/// counts standing by as ready), and `/metrics` and `$SRV.STATS` say which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_units_report_owning_or_standing_by() {
    use pipeline::stats::UnitState;
    let server = NatsServer::start();
    let durable = |name: &str| {
        let mut cfg = common::service::config();
        cfg.durable = Some(pipeline::config::DurableConfig {
            instance: Some(name.into()),
            ..Default::default()
        });
        cfg
    };
    let a = common::service::Svc::start(&server.url(), durable("a")).await;
    let wait_for = |svc: &common::service::Svc, want: UnitState| {
        let stats = svc.stats.clone();
        async move {
            for _ in 0..200 {
                if stats.unit_states() == vec![("sin-cos.all".to_string(), want)] {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            panic!("never {want:?}: {:?}", stats.unit_states());
        }
    };
    wait_for(&a, UnitState::Owning).await;
    let b = common::service::Svc::start(&server.url(), durable("b")).await;
    wait_for(&b, UnitState::StandingBy).await;
    assert!(UnitState::Owning.ready() && UnitState::StandingBy.ready());
    assert!(!UnitState::Retrying.ready() && !UnitState::Starting.ready());
    let text = b.stats.render_prometheus(&[]);
    assert!(
        text.contains("pipeline_durable_unit{unit=\"sin-cos.all\",state=\"standing_by\"} 1"),
        "{text}"
    );
    assert!(text.contains("pipeline_durable_unit{unit=\"sin-cos.all\",state=\"owning\"} 0"));
    assert_eq!(a.stats.snapshot().units["sin-cos.all"], UnitState::Owning);
    b.shutdown().await;
    a.shutdown().await;
}

/// A checkpoint the service cannot read back (damaged, written by a newer
/// build, or naming a chunk that is gone) stops the service with exit status
/// 78 and a message naming the key, instead of starting over (which would
/// translate stored samples a second time) or retrying forever. Once the
/// key is deleted, the service starts over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_checkpoint_stops_the_service_with_status_78() {
    let bed = Bed::new().await;
    let (url, dir, js) = (&bed.url, &bed.dir, &bed.js);
    let svc = Service::start(url, dir.path(), 0);
    let kv = poll(&svc.log, async || {
        let kv = js.get_key_value("PIPELINE_CHECKPOINTS").await.ok()?;
        kv.get("sin-cos.all").await.unwrap().map(|_| kv)
    })
    .await;
    svc.kill();
    let head = |version: u32, chunks: &[&str]| {
        let head = serde_json::json!({
            "version": version, "owner": "test-instance", "stream_seq": 0,
            "generation": 1, "chunks": chunks,
        });
        rmp_serde::to_vec_named(&head).unwrap()
    };
    let cases = [
        (b"\xc1 not msgpack".to_vec(), "not readable"),
        (head(2, &[]), "format 2 (this build reads up to 1)"),
        (
            head(1, &["sin-cos.all.gone.1.0"]),
            "chunk sin-cos.all.gone.1.0 is missing",
        ),
    ];
    for (n, (value, reason)) in cases.into_iter().enumerate() {
        kv.put("sin-cos.all", value.into()).await.unwrap();
        let mut svc = Service::start(url, dir.path(), n + 1);
        let text = exits_78(&mut svc).await;
        let message = format!("error: checkpoint PIPELINE_CHECKPOINTS/sin-cos.all: {reason}");
        assert!(text.contains(&message), "no {message:?} in\n{text}");
        assert!(
            text.contains("to start over, delete the key and the unit's consumer"),
            "{text}"
        );
    }
    kv.delete("sin-cos.all").await.unwrap();
    let mut svc = Service::start(url, dir.path(), 9);
    let fresh = poll(&svc.log, async || kv.get("sin-cos.all").await.unwrap()).await;
    let fresh: serde_json::Value = rmp_serde::from_slice(&fresh).unwrap();
    let (version, generation) = (fresh["version"].as_u64(), fresh["generation"].as_u64());
    // (An idle unit renews its lease every third of it: a slow poll may
    // read the first renewal, generation 1.)
    assert_eq!(version, Some(1), "{fresh}");
    assert!(generation.is_some_and(|g| g <= 1), "{fresh}");
    let running = svc.child.try_wait().unwrap().is_none();
    assert!(running, "{}", logs(std::slice::from_ref(&svc.log)));
}

/// A checkpoint that existed and is gone (its key or its bucket deleted)
/// stops the unit with status 78 instead of starting from the input's first
/// sample, which stored every window a second time (a helper's walkthrough:
/// 14,770 windows twice, nothing logged). Deleting the consumer too is the
/// way to start over on purpose. A bucket deleted under a running service
/// stops it the same way (it retried reading forever, healthy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_checkpoint_stops_the_unit_instead_of_storing_everything_again() {
    let bed = Bed::new().await;
    let (url, dir, js) = (&bed.url, &bed.dir, &bed.js);
    let load = Load {
        streams: 2,
        samples: 40,
    };
    let svc = serve_and_publish(&bed, load).await;
    // Checkpointed past the samples and those acknowledged (the acks follow
    // the checkpoint's write: killed between the two, the consumer's floor
    // is below 80, which a run in CI once caught), then stopped.
    let kv = poll(&svc.log, async || {
        let kv = js.get_key_value("PIPELINE_CHECKPOINTS").await.ok()?;
        let head = kv.get("sin-cos.all").await.unwrap()?;
        let head: serde_json::Value = rmp_serde::from_slice(&head).unwrap();
        let input = js.get_stream("SAMPLES").await.ok()?;
        let acked = input.consumer_info("pipeline_sin-cos").await.ok()?;
        let acked = acked.ack_floor.stream_sequence;
        (head["stream_seq"].as_u64() == Some(80) && acked == 80).then_some(kv)
    })
    .await;
    svc.kill();
    let exits_lost = async |n: usize, why: &str| {
        let mut svc = Service::start(url, dir.path(), n);
        let text = exits_78(&mut svc).await;
        assert!(
            text.contains("checkpoint PIPELINE_CHECKPOINTS/sin-cos.all is lost: "),
            "{text}"
        );
        assert!(text.contains(why), "{text}");
        assert!(
            text.contains("nats consumer rm SAMPLES pipeline_sin-cos"),
            "{text}"
        );
    };
    kv.delete("sin-cos.all").await.unwrap();
    exits_lost(1, "acknowledged input up to stream seq 80").await;
    assert_eq!(
        stored(js).await,
        load.expected() as u64,
        "nothing stored again"
    );
    // On purpose: without the consumer, the unit starts over.
    let samples = js.get_stream("SAMPLES").await.unwrap();
    samples.delete_consumer("pipeline_sin-cos").await.unwrap();
    let mut svc = Service::start(url, dir.path(), 2);
    assert!(
        wait_for_line(
            &svc.log,
            "starting: no checkpoint yet",
            Duration::from_secs(30)
        )
        .await
    );
    // Running, its bucket deleted: it stops too.
    poll(&svc.log, async || {
        let head = kv.get("sin-cos.all").await.unwrap()?;
        let head: serde_json::Value = rmp_serde::from_slice(&head).unwrap();
        (head["stream_seq"].as_u64() == Some(80)).then_some(())
    })
    .await;
    js.delete_key_value("PIPELINE_CHECKPOINTS").await.unwrap();
    let text = exits_78(&mut svc).await;
    assert!(
        text.contains("its bucket was deleted while the unit ran"),
        "{text}"
    );
}

/// An output stream that refuses more (full, `discard new`): the unit
/// says why in its log (it said only "the batcher stopped") and retries;
/// once the limit is lifted every window is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_output_stream_is_named_and_resumed_from_when_lifted() {
    let bed = Bed::new().await;
    let (url, js) = (&bed.url, &bed.js);
    let full = jetstream::stream::Config {
        name: "TRANSLATED".into(),
        subjects: vec!["translated.>".into()],
        duplicate_window: Duration::from_secs(120),
        max_messages: 30,
        discard: jetstream::stream::DiscardPolicy::New,
        allow_batch_publish: true,
        ..Default::default()
    };
    js.create_stream(full.clone()).await.unwrap();
    let load = Load {
        streams: 2,
        samples: 300,
    };
    let svc = serve_and_publish(&bed, load).await;
    let said = "resuming from the last checkpoint";
    assert!(wait_for_line(&svc.log, said, Duration::from_secs(30)).await);
    let text = std::fs::read_to_string(&svc.log).unwrap();
    assert!(text.contains("publishing: "), "{text}");
    assert!(text.contains("maximum messages"), "{text}");
    assert!(!text.contains("the batcher stopped"), "{text}");
    assert_eq!(stored(js).await, 30);
    js.update_stream(jetstream::stream::Config {
        max_messages: -1,
        ..full
    })
    .await
    .unwrap();
    let outputs = read_outputs(js, load, std::slice::from_ref(&svc.log)).await;
    check_exactly_once(&outputs, load);
    // The retries replayed input from the checkpoint: counted in once.
    let reply = (async_nats::connect(url).await.unwrap())
        .request("$SRV.STATS.pipeline", "".into())
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    let data = pipeline::fleet::endpoint_data(&stats, "translate").unwrap();
    let sent = load.streams as u64 * load.samples;
    assert_eq!(data["samples_in"], sent, "{stats}");
    assert_eq!(data["messages_in"], sent, "{stats}");
    assert!(data["durable_restarts"].as_u64().unwrap() > 0, "{stats}");
}

/// Waits for the service to exit, checks that it exited with status 78,
/// and returns its log.
pub(super) async fn exits_78(svc: &mut Service) -> String {
    let log = svc.log.clone();
    let status = poll(&log, async || svc.child.try_wait().unwrap()).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(78), "{text}");
    text
}

/// A service started, and `load` published to its input stream.
pub(super) async fn serve_and_publish(bed: &Bed, load: Load) -> Service {
    let svc = Service::start(&bed.url, bed.dir.path(), 0);
    wait_for_stream(&bed.js, "SAMPLES").await;
    publish_all(bed.js.clone(), load).await;
    svc
}

/// Polls `probe` every 50 ms until it gives a value; after 30 s, fails with
/// the service's log.
pub(super) async fn poll<T>(log: &std::path::Path, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{}", logs(&[log.to_path_buf()]));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A route added to the configuration after the streams were made: the
/// service adds its input and output subjects to them. They used to stay as
/// they were, so its samples were never stored and its unit waited for them
/// forever, with nothing said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_added_later_gets_its_subjects_into_the_streams() {
    use common::service::{Svc, manifest, route};
    let server = NatsServer::start();
    let durable = |routes| {
        let mut cfg = pipeline::config::ServeConfig::with_routes(routes);
        cfg.models_dir = manifest().join("models");
        cfg.durable = Some(pipeline::config::DurableConfig::default());
        cfg
    };
    Svc::start(&server.url(), durable(vec![route("sin-cos")]))
        .await
        .shutdown()
        .await;
    let mut damped = route("damped");
    damped.input = "damped.>".into();
    damped.output = "damped_out".into();
    // It reads changes on a clock: its stream takes clock messages too,
    // added after its input (which that update must keep).
    damped.resample = Some(1.0);
    let svc = Svc::start(&server.url(), durable(vec![route("sin-cos"), damped])).await;
    let js = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let subjects = |name: &'static str| {
        let js = js.clone();
        async move {
            let mut s = js.get_stream(name).await.unwrap();
            s.info().await.unwrap().config.subjects.clone()
        }
    };
    assert_eq!(
        subjects("SAMPLES").await,
        ["samples.>", "damped.>", "pipeline.clock.SAMPLES.>"]
    );
    assert_eq!(
        subjects("TRANSLATED").await,
        ["translated.>", "damped_out.>"]
    );
    // A JetStream publish is acknowledged only by a stream that takes it.
    for seq in 0..30u64 {
        let body = sample(seq, seq as f32 * 0.01);
        let ack = js.publish("damped.d0", body.into()).await.unwrap();
        ack.await
            .expect("the input stream stores the new route's samples");
    }
    wait_for_stored(&js, 7, Duration::from_secs(20), &[]).await;
    let out = js.get_stream("TRANSLATED").await.unwrap();
    let last = out.get_last_raw_message_by_subject("damped_out.d0").await;
    assert_eq!(
        last.unwrap().sequence,
        7,
        "7 translations, all of damped.d0"
    );
    svc.shutdown().await;
}
