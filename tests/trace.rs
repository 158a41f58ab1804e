//! W3C trace context: a `traceparent` header on a sample message is carried
//! to the translation of the window that message completes, and to the
//! error event it causes; one that is not a valid trace context is not.

mod common;

use std::time::Duration;

use async_nats::HeaderMap;
use common::nats::NatsServer;
use common::sample;
use common::service::{Svc, W, config, input_at};
use futures::StreamExt;
use pipeline::wire::{ErrorEvent, ErrorKind, Translation};

const A: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const B: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
/// An all-zero trace id: invalid, so ignored.
const ZERO: &str = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";

fn traceparent(m: &async_nats::Message) -> Option<String> {
    let h = m.headers.as_ref()?;
    h.get("traceparent").map(|v| v.as_str().to_string())
}

async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("timed out")
        .expect("subscription ended")
}

async fn carried_through(durable: bool) {
    let server = NatsServer::start();
    let mut cfg = config();
    if durable {
        cfg.durable = Some(Default::default());
    }
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    // In durable mode too, the stored outputs reach core subscribers.
    let mut out = client.subscribe("translated.t").await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    client.flush().await.unwrap();
    let header = |t: &str| {
        let mut h = HeaderMap::new();
        h.insert("traceparent", t);
        h
    };
    // Windows 0..=3 are completed by samples W-1..=W+2.
    for seq in 0..W + 3 {
        let payload = sample(seq, input_at(seq)).into();
        let trace = match seq {
            s if s == W - 1 => Some(A),
            s if s == W + 1 => Some(B),
            s if s == W + 2 => Some(ZERO),
            _ => None,
        };
        match trace {
            Some(t) => {
                client
                    .publish_with_headers("samples.t", header(t), payload)
                    .await
            }
            None => client.publish("samples.t", payload).await,
        }
        .unwrap();
    }
    // A JSON message that breaks the contract: a JSON event, traced.
    client
        .publish_with_headers("samples.t", header(B), r#"{"seq":"x","value":1}"#.into())
        .await
        .unwrap();
    client.flush().await.unwrap();

    let mut got = Vec::new();
    for _ in 0..4 {
        let m = next(&mut out).await;
        got.push((
            Translation::decode(&m.payload).unwrap().seq,
            traceparent(&m),
        ));
    }
    let want = [
        (0, Some(A.to_string())),
        (1, None),
        (2, Some(B.to_string())),
        (3, None),
    ];
    assert_eq!(got, want, "durable: {durable}");
    let e = next(&mut errors).await;
    assert_eq!(traceparent(&e).as_deref(), Some(B));
    assert_eq!(
        e.payload.first(),
        Some(&b'{'),
        "a JSON message gets a JSON event"
    );
    let event = ErrorEvent::decode(&e.payload).unwrap();
    assert_eq!(
        (event.kind, event.stream.as_str()),
        (ErrorKind::Malformed, "t")
    );
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_is_carried_in_core_mode() {
    carried_through(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_is_carried_in_durable_mode() {
    carried_through(true).await;
}
