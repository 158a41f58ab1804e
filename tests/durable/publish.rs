//! `pipeline publish --jetstream`: each sample stored once, and each
//! stream's samples in order, through a server restart.

use super::*;

/// The input stream `publish` writes into (the service would make it).
async fn samples_stream(js: &jetstream::Context) {
    (js.create_stream(jetstream::stream::Config {
        name: "SAMPLES".into(),
        subjects: vec!["samples.>".into()],
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }))
    .await
    .unwrap();
}

/// `pipeline publish --jetstream` stores every sample in the input stream
/// with its message id: publishing the same rows again stores nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_into_jetstream_stores_each_sample_once() {
    let bed = Bed::new().await;
    let js = &bed.js;
    samples_stream(js).await;
    for _ in 0..2 {
        let out = common::pipeline()
            .args(["publish", "--jetstream", "--nats", &bed.url])
            .args(["--streams", "3", "--stream", "j", "--rate", "0"])
            .args(["--count", "40", "--batch", "4"])
            .output()
            .unwrap();
        common::succeeded(&out);
    }
    let mut stream = js.get_stream("SAMPLES").await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    assert_eq!(state.messages, 3 * 10, "each message stored once");
    let first = stream.get_raw_message(1).await.unwrap();
    let id = first
        .headers
        .get(async_nats::header::NATS_MESSAGE_ID)
        .map(|v| v.to_string());
    assert_eq!(id.as_deref(), Some("samples.j-0:0"));
}

/// The server killed and restarted while 60 streams are published flat
/// out: every sample is stored exactly once and each stream's samples in
/// seq order. (With 256 publishes in flight regardless of stream, a sample
/// lost in the restart was sent again after later ones of its stream were
/// stored; the service then dropped it as out of order.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_into_jetstream_keeps_each_streams_order_across_a_server_restart() {
    let mut bed = Bed::new().await;
    samples_stream(&bed.js).await;
    let (streams, count) = (60, 4000);
    let mut publish = tokio::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["publish", "--jetstream", "--nats", &bed.url])
        .args([
            "--streams",
            &streams.to_string(),
            "--stream",
            "r",
            "--rate",
            "0",
        ])
        .args(["--count", &count.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        publish.try_wait().unwrap().is_none(),
        "published before the restart: lengthen it"
    );
    bed.server.restart();
    let out = tokio::time::timeout(Duration::from_secs(120), publish.wait_with_output())
        .await
        .expect("publish did not finish")
        .unwrap();
    common::succeeded(&out);

    let js = jetstream_client(&bed.url).await;
    let stream = js.get_stream("SAMPLES").await.unwrap();
    let consumer = stream
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut next: HashMap<String, u64> = HashMap::new();
    let total = streams * count as usize;
    let mut messages = consumer.messages().await.unwrap();
    for read in 0..total {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .unwrap_or_else(|_| {
                let state = stream.cached_info().state.clone();
                panic!("fewer samples stored than published: {read} of {total} read, {state:?}")
            })
            .unwrap()
            .unwrap();
        let seq = pipeline::wire::decode_samples(&m.payload).unwrap().seq;
        let expected = next.entry(m.subject.to_string()).or_insert(0);
        assert_eq!(seq, Some(*expected), "{} stored out of order", m.subject);
        *expected += 1;
    }
    assert_eq!(next.len(), streams);
    let state = stream.cached_info().state.clone();
    let stored = js
        .get_stream("SAMPLES")
        .await
        .unwrap()
        .cached_info()
        .state
        .messages;
    assert_eq!(
        stored, total as u64,
        "each sample stored once (before: {state:?})"
    );
}

/// Publishing into JetStream a subject no stream stores while something
/// subscribes to it over core NATS (a route's truth channel): the sample
/// goes to the subscriber and no acknowledgement ever comes. `publish`
/// says so and stops at once (it sent one sample and waited in silence
/// for a minute and more, twenty timeouts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_into_jetstream_a_subject_nothing_stores_is_refused_at_once() {
    let bed = Bed::new().await;
    samples_stream(&bed.js).await;
    let (_core, _truth) = bed.subscribed("truth.>").await;
    let started = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["publish", "--jetstream", "--nats", &bed.url])
        .args([
            "--prefix", "truth", "--stream", "t", "--rate", "0", "--count", "5",
        ])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("publish still waiting after 60 s")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("truth.t: no JetStream stream stores this subject")
            && stderr.contains("publish it without --jetstream"),
        "{stderr}"
    );
    // One acknowledgement's wait (5 s), not twenty.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}
