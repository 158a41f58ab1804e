//! Dead letters (durable mode, `dead_letter_stream`): every input message
//! refused whole is kept, payload as sent and error in headers, exactly
//! once; good streams are unaffected.

use crate::common;

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use common::nats::NatsServer;
use common::sample;
use common::service::{Svc, W, config, input_at};
use futures::StreamExt;
use pipeline::wire::Translation;

async fn stored_publish(js: &jetstream::Context, subject: &str, payload: Vec<u8>) {
    js.publish(subject.to_string(), payload.into())
        .await
        .unwrap()
        .await
        .unwrap();
}

/// Everything in `stream`, in order (waits until `n` are there).
async fn read_all(js: &jetstream::Context, stream: &str, n: usize) -> Vec<jetstream::Message> {
    let consumer = js
        .get_stream(stream)
        .await
        .unwrap()
        .create_consumer(consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut got = Vec::new();
    while got.len() < n {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .unwrap_or_else(|_| panic!("{} of {n} messages in {stream}", got.len()))
            .unwrap()
            .unwrap();
        got.push(m);
    }
    got
}

fn header(m: &jetstream::Message, name: &str) -> String {
    let h = m.headers.as_ref().expect("headers");
    h.get(name)
        .unwrap_or_else(|| panic!("no {name} in {h:?}"))
        .as_str()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_messages_are_kept_as_dead_letters() {
    refused_messages_kept(false).await;
}

/// A plain subscriber of the dead-letter subjects that answers each
/// message (a request-reply framework, an echo) writes into the service's
/// acknowledgement inbox: that must neither fail the unit (it would refuse
/// the same message again on every retry) nor store a letter twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_kept_once_though_a_subscriber_answers_them() {
    refused_messages_kept(true).await;
}

async fn refused_messages_kept(answered: bool) {
    let server = NatsServer::start();
    let mut cfg = config();
    cfg.durable = Some(pipeline::config::DurableConfig {
        dead_letter_stream: Some("DEADLETTER".into()),
        ..Default::default()
    });
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut answers = client.subscribe("pipeline.deadletter.>").await.unwrap();
    let answerer = client.clone();
    let answering = tokio::spawn(async move {
        while let Some(m) = answers.next().await {
            if let (true, Some(reply)) = (answered, m.reply) {
                answerer.publish(reply, "thanks".into()).await.unwrap();
            }
        }
    });
    client.flush().await.unwrap();
    let svc = Svc::start(&server.url(), cfg).await;
    let js = jetstream::new(client.clone());

    let junk = b"\xc1 not a sample".to_vec();
    let nan = sample(5, f32::NAN);
    for seq in 0..W + 1 {
        stored_publish(&js, "samples.good", sample(seq, input_at(seq))).await;
        if seq == 3 {
            stored_publish(&js, "samples.bad", junk.clone()).await;
        }
        if seq == 7 {
            stored_publish(&js, "samples.bad", nan.clone()).await;
        }
    }
    // The good stream's two windows, stored once each.
    let out = read_all(&js, "TRANSLATED", 2).await;
    let seqs: Vec<u64> = out
        .iter()
        .map(|m| Translation::decode(&m.payload).unwrap().seq)
        .collect();
    assert_eq!(seqs, [0, 1]);

    let dead = read_all(&js, "DEADLETTER", 2).await;
    let input = js.get_stream("SAMPLES").await.unwrap();
    for (m, kind, payload) in [
        (&dead[0], "malformed", &junk),
        (&dead[1], "invalid_value", &nan),
    ] {
        assert_eq!(m.subject.as_str(), format!("pipeline.deadletter.{kind}"));
        assert_eq!(header(m, "Pipeline-Error-Kind"), kind);
        assert_eq!(header(m, "Pipeline-Subject"), "samples.bad");
        assert_eq!(header(m, "Pipeline-Stream"), "bad");
        assert!(!header(m, "Pipeline-Error-Detail").is_empty());
        assert_eq!(&m.payload.to_vec(), payload, "the payload as it was sent");
        // The headers point back at the input message.
        let seq: u64 = header(m, "Pipeline-Input-Seq").parse().unwrap();
        let original = input.get_raw_message(seq).await.unwrap();
        assert_eq!(&original.payload.to_vec(), payload);
    }
    // Exactly these two: nothing else arrives, and no attempt failed.
    assert_eq!(svc.stats.durable_restarts.load(Relaxed), 0);
    answering.abort();
    svc.shutdown().await;
    let mut dead = js.get_stream("DEADLETTER").await.unwrap();
    assert_eq!(dead.info().await.unwrap().state.messages, 2);
}
