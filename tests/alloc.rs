//! Allocations on the hot path, counted by a counting global allocator (its
//! own test binary, so no other test shares the count): the whole process,
//! service and a NATS client at both ends, in steady state, against what
//! the client alone allocates for the same messages.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use async_nats::Subject;
use common::nats::NatsServer;
use common::service::{Svc, W, config, input_at};
use futures::StreamExt;
use pipeline::wire::SamplesOut;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const STREAMS: usize = 100;

/// Sends `rounds` samples to every stream (payloads encoded beforehand, so
/// the sender allocates nothing per message) and waits for `expect`
/// translations. Returns the allocations the process made meanwhile.
async fn round(
    client: &async_nats::Client,
    sub: &mut async_nats::Subscriber,
    subjects: &[Subject],
    seqs: std::ops::Range<u64>,
    expect: usize,
) -> u64 {
    let payloads: Vec<Vec<bytes::Bytes>> = seqs
        .clone()
        .map(|seq| {
            let msg = SamplesOut {
                seq,
                value: Some(input_at(seq)),
                values: None,
                ts: Some(1),
            };
            let bytes = bytes::Bytes::from(msg.encode());
            vec![bytes; subjects.len()]
        })
        .collect();
    let before = ALLOCATIONS.load(Relaxed);
    let receive = async {
        let mut n = 0;
        while n < expect {
            match tokio::time::timeout(Duration::from_secs(20), sub.next()).await {
                Ok(Some(_)) => n += 1,
                _ => panic!("timed out with {n} of {expect} translations"),
            }
        }
    };
    let send = async {
        for per_seq in &payloads {
            for (subject, payload) in subjects.iter().zip(per_seq) {
                client
                    .publish(subject.clone(), payload.clone())
                    .await
                    .unwrap();
            }
        }
        client.flush().await.unwrap();
    };
    tokio::join!(send, receive);
    ALLOCATIONS.load(Relaxed) - before
}

/// The NATS client's own allocations per message sent and received (it
/// copies each received subject), measured the same way: the client sends
/// the same burst to itself, no service involved.
async fn client_floor(client: &async_nats::Client) -> f64 {
    let mut sub = client.subscribe("echo.>").await.unwrap();
    client.flush().await.unwrap();
    let subjects: Vec<Subject> = (0..STREAMS)
        .map(|i| Subject::from(format!("echo.s{i}")))
        .collect();
    let n = STREAMS * 100;
    round(client, &mut sub, &subjects, 0..100, n).await;
    round(client, &mut sub, &subjects, 100..200, n).await as f64 / n as f64
}

/// In steady state (every stream seen, every buffer grown), the pipeline
/// itself allocates nothing per window: decoding, the window, the batch,
/// the model, encoding and publishing reuse their buffers. What the whole
/// process allocates per window is compared with what the NATS client
/// alone does for the two messages a window takes (a sample in, a
/// translation out) at each end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_allocates_nothing_per_window_beyond_the_client() {
    let server = NatsServer::start();
    let svc = Svc::start(&server.url(), config()).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let floor = client_floor(&client).await;
    let mut sub = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    let subjects: Vec<Subject> = (0..STREAMS)
        .map(|i| Subject::from(format!("samples.s{i}")))
        .collect();
    // Warm up: every stream's first windows (its table entry, the buffers).
    let warm = 2 * W;
    round(
        &client,
        &mut sub,
        &subjects,
        0..warm,
        STREAMS * (W as usize + 1),
    )
    .await;
    // Then the same burst as the one measured, so every queue and pool has
    // reached its high-water mark (growth to it is not a per-window cost).
    let rounds = 100u64;
    let windows = STREAMS * rounds as usize;
    round(&client, &mut sub, &subjects, warm..warm + rounds, windows).await;
    let next = warm + rounds;
    let allocations = round(&client, &mut sub, &subjects, next..next + rounds, windows).await;
    let per_window = allocations as f64 / windows as f64;
    let own = per_window - 2.0 * floor;
    eprintln!(
        "{allocations} allocations for {windows} windows: {per_window:.3} per window; \
         the client alone {floor:.3} per message; the pipeline's own {own:.3} per window"
    );
    // One allocation per window anywhere in the pipeline would add 1.0; what
    // remains is growth of queues the two bursts shape differently (tokio's
    // channel blocks), a oneshot per batch and one arena block per few
    // hundred messages: 0.18-0.22 here.
    assert!(own < 0.5, "{own:.3} allocations per window");
    svc.shutdown().await;
}
