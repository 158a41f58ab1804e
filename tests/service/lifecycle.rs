//! A service's life around its streams: idle eviction, shutdown with windows in flight, a server
//! restart, and hostile framing from a raw connection.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_are_evicted() {
    let server = NatsServer::start();
    let mut cfg = config();
    cfg.idle_timeout_s = 0.2;
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    let mut sub = client.subscribe("translated.idle").await.unwrap();
    client.flush().await.unwrap();
    send_curve(&client, "idle", 0..20).await;
    client.flush().await.unwrap();
    // Poll the stats until the stream is gone (idle 0.2 s, swept every 50 ms).
    let mut evicted = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let s = svc.stats.snapshot();
        if s.streams_evicted == 1 && s.streams_active == 0 {
            evicted = true;
            break;
        }
    }
    assert!(evicted, "stream not evicted: {:?}", svc.stats.snapshot());
    // The stream comes back later at seq 100: a fresh stream, not a gap.
    send_curve(&client, "idle", 100..124).await;
    client.flush().await.unwrap();
    let got = collect(&mut sub, 1, translation).await;
    assert_eq!(got[0].seq, 100);
    assert_quiet(&mut errors, Duration::from_millis(200)).await;
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_publishes_everything_in_flight() {
    let server = NatsServer::start();
    let mut cfg = config();
    cfg.max_wait_ms = 50.0; // windows sit in the batcher when the stop comes
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    let (streams, n) = (40u64, 100u64);
    for st in 0..streams {
        let vals: Vec<f32> = (0..n).map(input_at).collect();
        send(&client, &format!("s{st}"), 0, &vals).await;
    }
    // A round trip: the server has routed every sample to the service.
    wait_ready(&client).await;
    // Stop at once: the samples are in the service's buffers or the server's.
    svc.shutdown().await;
    let expected = (streams * (n - W + 1)) as usize;
    let got = collect(&mut sub, expected, translation).await;
    assert_eq!(got.len(), expected);
    assert_quiet(&mut sub, Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carries_on_after_the_server_restarts() {
    let mut server = NatsServer::start();
    let svc = Svc::start(&server.url(), config()).await;
    let url = server.url();
    {
        let client = async_nats::connect(&url).await.unwrap();
        let mut sub = client.subscribe("translated.r").await.unwrap();
        client.flush().await.unwrap();
        send_curve(&client, "r", 0..30).await;
        client.flush().await.unwrap();
        collect(&mut sub, 7, translation).await;
    }
    server.restart();
    // A new client after the restart; the service reconnects by itself.
    let client = async_nats::connect(&url).await.unwrap();
    let mut sub = client.subscribe("translated.r").await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    client.flush().await.unwrap();
    wait_ready(&client).await;
    // Samples 30..40 were "lost in the outage": the stream continues at 40.
    send_curve(&client, "r", 40..70).await;
    client.flush().await.unwrap();
    let gap = collect(&mut errors, 1, event).await;
    assert_eq!(gap[0].kind, ErrorKind::Gap);
    assert!(
        gap[0].detail.contains("expected seq 30, got 40"),
        "{}",
        gap[0].detail
    );
    let got = collect(&mut sub, 7, translation).await;
    assert_eq!(got[0].seq, 40);
    assert_eq!(got[6].seq, 46);
    assert!(svc.stats.snapshot().reconnects >= 1);
    svc.shutdown().await;
}

/// Framing no official client would send, from a raw connection: a subject
/// that is not UTF-8 and header blocks that do not parse (a lone CR in a
/// value panicked the unpatched client's connection task and silently ended
/// every subscription). Each is reported with its own event, the connection
/// stays up, and the good stream's windows go on without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_framing_is_reported_without_dropping_the_connection() {
    let server = NatsServer::start();
    let svc = Svc::start(&server.url(), config()).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut errors = client.subscribe("pipeline.errors").await.unwrap();
    let mut sub = client.subscribe("translated.u").await.unwrap();
    client.flush().await.unwrap();
    send_curve(&client, "u", 0..30).await;
    client.flush().await.unwrap();
    assert_eq!(collect(&mut sub, 7, translation).await[0].seq, 0);

    let body = sample(0, 1.0);
    let bad_headers: [&[u8]; 4] = [
        b"NATS/1.0\r\nX: a\rb\r\n\r\n",
        b"NATS/1.0\r\nno colon here\r\n\r\n",
        b"NATS/1.0\r\nX: \xff\r\n\r\n",
        b"NATS/1.0 abc\r\n\r\n",
    ];
    let mut ops = raw_pub(b"samples.\xff\xfe", None, &body);
    for h in bad_headers {
        ops.extend(raw_pub(b"samples.h", Some(h), &body));
    }
    ops.extend(raw_pub(b"samples.\xc3", Some(b"NATS/1.0\r\n\r\n"), &body));
    // A status line is the server's to write, never a publisher's.
    ops.extend(raw_pub(b"samples.st", Some(b"NATS/1.0 503\r\n\r\n"), &body));
    // A reply subject that is not UTF-8.
    ops.extend(raw_pub(b"samples.r in.\xff", None, &body));
    server.send_raw(&ops);

    let events = collect(&mut errors, 8, event).await;
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            ErrorKind::BadSubject,
            ErrorKind::Malformed,
            ErrorKind::Malformed,
            ErrorKind::Malformed,
            ErrorKind::Malformed,
            ErrorKind::BadSubject,
            ErrorKind::Malformed,
            ErrorKind::Malformed,
        ],
        "{events:?}"
    );
    assert!(events[0].subject.contains('\u{FFFD}'), "{events:?}");
    assert!(events[0].detail.contains("not valid UTF-8"), "{events:?}");
    assert_eq!(events[1].stream, "h");
    assert!(
        events[1].detail.contains("invalid header value"),
        "{events:?}"
    );

    assert!(events[6].detail.contains("status line (503"), "{events:?}");
    assert_eq!(events[7].stream, "r");
    assert!(
        events[7]
            .detail
            .contains("reply subject is not valid UTF-8"),
        "{events:?}"
    );

    // A request with such headers is refused with a 400 saying why.
    let mut replies = client.subscribe("_INBOX.hostile").await.unwrap();
    client.flush().await.unwrap();
    let request = rmp_serde::to_vec_named(&serde_json::json!({ "values": vec![0.5; 24] })).unwrap();
    let headers: &[u8] = b"NATS/1.0\r\nX: a\rb\r\n\r\n";
    let op = raw_pub(
        b"pipeline.translate _INBOX.hostile",
        Some(headers),
        &request,
    );
    server.send_raw(&op);
    let reply = tokio::time::timeout(Duration::from_secs(10), replies.next())
        .await
        .expect("a reply")
        .unwrap();
    assert_service_error(&reply, "400", "invalid headers");
    // One whose reply subject is not UTF-8 is not answered: the converted
    // subject (U+FFFD) is somebody else's.
    let mut stray = client.subscribe("_INBOX.\u{FFFD}").await.unwrap();
    client.flush().await.unwrap();
    server.send_raw(&raw_pub(b"pipeline.translate _INBOX.\xff", None, &request));
    assert_quiet(&mut stray, Duration::from_millis(500)).await;

    send_curve(&client, "u", 30..60).await;
    client.flush().await.unwrap();
    let got = collect(&mut sub, 30, translation).await;
    let seqs: Vec<u64> = got.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, (7..37).collect::<Vec<_>>(), "no window lost");
    let snap = svc.stats.snapshot();
    assert_eq!(snap.reconnects, 0, "the connection stayed up");
    assert_eq!(snap.errors["bad_subject"], 2);
    assert_eq!(snap.errors["malformed"], 6);
    svc.shutdown().await;
}
