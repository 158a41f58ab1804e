//! Every window exactly once through `kill -9`s of the service (3, and 50
//! in `make test-long`), a nats-server restart, and a checkpoint that spans
//! several KV chunks.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_three_times_every_window_exactly_once() {
    // Three moments within the ~5 s of publishing, at least 300 ms apart so
    // every restarted process lives long enough to have resumed (a process
    // killed while still loading cannot log that it did).
    let mut rng = pipeline::rng::Rng::new(seed());
    let moments: Vec<u64> = (0..3)
        .map(|i| 300 + 1300 * i + rng.below(1000) as u64)
        .collect();
    // Each restart resumed from a checkpoint taken by the killed process.
    let (resumed, logs) = kill_9_at(STANDARD, &moments, true).await;
    assert_eq!(resumed, 3);
    // The service created the output stream, so its translations went out
    // as fast-ingest batches: the path just proven exactly once.
    let all = logs.concat();
    assert!(all.contains("batched=true"), "{all}");
    assert!(!all.contains("batched=false"), "{all}");
}

/// What a plain NATS subscriber of the output subjects receives in durable
/// mode: every translation once, and nothing else (a fast batch's commit
/// must not reach it as a message of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_subscribers_of_the_output_see_every_translation_and_nothing_else() {
    let bed = Bed::new().await;
    let (_plain, mut sub) = bed.plain_output().await;
    let svc = bed.serve(0, "test-instance").await;
    let publisher = tokio::spawn(publish_all(bed.js.clone(), STANDARD));
    let mut got = Vec::with_capacity(STANDARD.expected());
    while got.len() < STANDARD.expected() {
        let next = tokio::time::timeout(Duration::from_secs(30), sub.next()).await;
        let m = next.unwrap_or_else(|_| {
            panic!(
                "{} received; {}",
                got.len(),
                logs(std::slice::from_ref(&svc.log))
            )
        });
        got.push(m.unwrap());
    }
    publisher.await.unwrap();
    // Anything more (an empty commit, a replay) would arrive now.
    let more = tokio::time::timeout(Duration::from_secs(1), sub.next()).await;
    assert!(
        more.is_err(),
        "one message too many: {:?}",
        more.ok().flatten()
    );
    check_exactly_once(&got, STANDARD);
    let text = std::fs::read_to_string(&svc.log).unwrap();
    assert!(text.contains("batched=true"), "{text}");
}

/// Plain subscribers see each translation's reply subject, and a client
/// that answers every message writes into the service's reply inboxes:
/// text, another batch's acknowledgement, an echo. None of it may fail a
/// batch (no restart) or settle one (every window still stored once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_answering_translations_neither_fails_nor_settles_batches() {
    answering_subscriber(true).await;
}

/// The same, on an output stream without batching, where each translation
/// is acknowledged on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_answering_translations_neither_fails_nor_settles_acks() {
    answering_subscriber(false).await;
}

async fn answering_subscriber(batched: bool) {
    let bed = Bed::new().await;
    if !batched {
        bed.output_without_batching().await;
    }
    let (plain, mut sub) = bed.plain_output().await;
    let answerer = tokio::spawn(async move {
        let forged = r#"{"stream":"TRANSLATED","seq":1,"batch":"not-yours","count":1}"#;
        let mut answered = 0u64;
        while let Some(m) = sub.next().await {
            let Some(reply) = m.reply else { continue };
            let body = match answered % 3 {
                0 => "thanks".into(),
                1 => forged.into(),
                _ => m.payload,
            };
            plain.publish(reply, body).await.unwrap();
            answered += 1;
        }
    });
    let svc = bed.serve(0, "test-instance").await;
    publish_all(bed.js.clone(), STANDARD).await;
    let log = std::slice::from_ref(&svc.log);
    let outputs = read_outputs(&bed.js, STANDARD, log).await;
    check_exactly_once(&outputs, STANDARD);
    answerer.abort();
    let text = std::fs::read_to_string(&svc.log).unwrap();
    assert!(text.contains(&format!("batched={batched}")), "{text}");
    assert!(text.contains("skipped a reply"), "{text}");
    assert!(
        !text.contains("resuming from the last checkpoint in"),
        "{text}"
    );
}

/// An output stream an operator created without `allow_batched` (or one
/// from an earlier version): every translation is acknowledged on its own,
/// and a `kill -9` still loses and duplicates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_stream_without_batching_is_acknowledged_per_window_exactly_once() {
    let bed = Bed::new().await;
    let (url, dir, js) = (&bed.url, bed.dir.path(), &bed.js);
    bed.output_without_batching().await;
    let svc = bed.serve(0, "test-instance").await;
    let publisher = tokio::spawn(publish_all(js.clone(), STANDARD));
    let log = std::slice::from_ref(&svc.log);
    wait_for_stored(js, 2_000, Duration::from_secs(60), log).await;
    let first = svc.kill();
    let svc = Service::start(url, dir, 1);
    publisher.await.unwrap();
    let logs_of = [first, svc.log.clone()];
    let outputs = read_outputs(js, STANDARD, &logs_of).await;
    check_exactly_once(&outputs, STANDARD);
    let text = std::fs::read_to_string(&svc.log).unwrap();
    assert!(text.contains("batched=false"), "{}", logs(&logs_of));
}

/// An operator turns `allow_batched` off on the output stream while the
/// service runs: batches are refused, the attempt resumes from its
/// checkpoint publishing per translation, and every window is still
/// stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_turned_off_mid_run_every_window_exactly_once() {
    let bed = Bed::new().await;
    let js = &bed.js;
    let svc = bed.serve(0, "test-instance").await;
    let publisher = tokio::spawn(publish_all(js.clone(), STANDARD));
    let log = std::slice::from_ref(&svc.log);
    wait_for_stored(js, 2_000, Duration::from_secs(60), log).await;
    let mut config = js
        .get_stream("TRANSLATED")
        .await
        .unwrap()
        .cached_info()
        .config
        .clone();
    assert!(config.allow_batch_publish);
    config.allow_batch_publish = false;
    js.update_stream(config).await.unwrap();
    publisher.await.unwrap();
    let outputs = read_outputs(js, STANDARD, log).await;
    check_exactly_once(&outputs, STANDARD);
    let text = std::fs::read_to_string(&svc.log).unwrap();
    assert!(text.contains("batching changed"), "{text}");
}

/// The long version (`make test-long`; CI skips it): 50 kills at random
/// moments 250–850 ms apart while about a minute of input is published.
/// Some restarted processes are killed before they have resumed; every
/// window must still be stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long (about 2 minutes): make test-long"]
async fn kill_9_fifty_times_every_window_exactly_once() {
    const LONG: Load = Load {
        streams: 20,
        samples: 4000,
    };
    let mut rng = pipeline::rng::Rng::new(seed());
    let mut at = 0;
    let moments: Vec<u64> = (0..50)
        .map(|_| {
            at += 250 + rng.below(600) as u64;
            at
        })
        .collect();
    let (resumed, _) = kill_9_at(LONG, &moments, false).await;
    eprintln!("{resumed} of 50 restarted processes resumed from a checkpoint before their kill");
    assert!(resumed > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_restart_mid_run_every_window_exactly_once() {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let js = jetstream_client(&url).await;
    let svc = Service::start(&url, dir.path(), 0);
    wait_for_stream(&js, "SAMPLES").await;

    let publisher = tokio::spawn(publish_all(js.clone(), STANDARD));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart();
    publisher.await.unwrap();
    let outputs = read_outputs(&js, STANDARD, std::slice::from_ref(&svc.log)).await;
    check_exactly_once(&outputs, STANDARD);
}

/// 2,500 streams: the checkpoint's windows span three KV chunks (1,000
/// streams each). A `kill -9` in the middle: the restarted service restores
/// every chunk and every window is still stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_of_thousands_of_streams_span_chunks_and_survive_kill_9() {
    let load = Load {
        streams: 2_500,
        samples: 40,
    };
    let bed = Bed::new().await;
    let (url, dir, js) = (&bed.url, &bed.dir, &bed.js);
    let svc = bed.serve(0, "test-instance").await;
    let publisher = tokio::spawn(publish_all(js.clone(), load));
    // Kill once windows are flowing (every stream has its first 24 samples).
    let log = std::slice::from_ref(&svc.log);
    wait_for_stored(js, 5_001, Duration::from_secs(60), log).await;
    let first = svc.kill();
    let svc = Service::start(url, dir.path(), 1);
    publisher.await.unwrap();
    let logs_of = [first, svc.log.clone()];
    let outputs = read_outputs(js, load, &logs_of).await;
    check_exactly_once(&outputs, load);
    let text = std::fs::read_to_string(&svc.log).unwrap();
    let resumed = text
        .lines()
        .find(|l| l.contains("resuming from checkpoint"));
    eprintln!("{}", resumed.unwrap_or_default());
    assert!(
        resumed.is_some_and(|l| l.contains("streams=2500")),
        "{}",
        logs(&logs_of)
    );
    let kv = js.get_key_value("PIPELINE_CHECKPOINTS").await.unwrap();
    let head: serde_json::Value =
        rmp_serde::from_slice(&kv.get("sin-cos.all").await.unwrap().unwrap()).unwrap();
    assert_eq!(head["chunks"].as_array().unwrap().len(), 3, "{head}");
}
