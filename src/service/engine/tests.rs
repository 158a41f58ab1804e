//! The batcher on paused time: when batches go, and what they hold.

use super::*;
use crate::format;

fn tiny_model() -> Arc<LoadedModel> {
    let params = crate::train::init_params(3, 0);
    let tensors = format::tensor_specs(3)
        .into_iter()
        .map(|(name, shape)| {
            let t = candle_core::Tensor::from_vec(
                params[&name].clone(),
                shape,
                &candle_core::Device::Cpu,
            );
            (name, t.unwrap())
        })
        .collect();
    let bytes = format::to_bytes(&tensors, 3, 4, &format::Metadata::default()).unwrap();
    Arc::new(format::load_bytes(&bytes, std::path::Path::new("tiny"), None).unwrap())
}

fn job(seq: u64) -> Job {
    Job {
        stream: "s".into(),
        seq,
        input: vec![0.0; 4],
        ts: None,
        enqueued: Instant::now(),
        trace: None,
    }
}

/// A batcher over `threads` compute permits, its input, its output and
/// the slots it hands the publisher.
#[allow(clippy::type_complexity)]
fn start_batcher(
    threads: usize,
    max_batch: usize,
    max_wait: Duration,
) -> (
    mpsc::Sender<Job>,
    mpsc::Receiver<ComputeJob>,
    mpsc::Receiver<oneshot::Receiver<Done>>,
    Arc<tokio::sync::Semaphore>,
) {
    let (jobs_tx, jobs_rx) = mpsc::channel(64);
    let (compute_tx, compute_rx) = mpsc::channel(8);
    let (slots_tx, slots_rx) = mpsc::channel(8);
    let free = Arc::new(tokio::sync::Semaphore::new(threads));
    let compute = Compute {
        tx: compute_tx,
        free: free.clone(),
    };
    let model = tiny_model();
    tokio::spawn(batcher(
        jobs_rx,
        move || (model.clone(), None, Arc::default()),
        Arc::default(),
        compute,
        slots_tx,
        max_batch,
        max_wait,
    ));
    (jobs_tx, compute_rx, slots_rx, free)
}

fn seqs(b: &ComputeJob) -> Vec<u64> {
    b.jobs.iter().map(|j| j.seq).collect()
}

/// Idle, a window goes to compute at once (no time passes); while the
/// only compute thread is busy, windows gather, and go together the
/// moment it is free, up to `max_batch`.
#[tokio::test(start_paused = true)]
async fn batches_go_at_once_when_idle_and_gather_while_busy() {
    let (jobs_tx, mut compute_rx, _slots, _free) = start_batcher(1, 4, Duration::ZERO);
    let t0 = Instant::now();
    jobs_tx.send(job(0)).await.unwrap();
    let first = compute_rx.recv().await.unwrap();
    assert_eq!(seqs(&first), vec![0]);
    assert_eq!(Instant::now(), t0, "no wait when a thread is free");

    // The thread is busy with `first` (it holds the only permit).
    for s in 1..=6 {
        jobs_tx.send(job(s)).await.unwrap();
    }
    tokio::time::advance(Duration::from_millis(50)).await;
    assert!(compute_rx.try_recv().is_err(), "nothing goes while busy");
    drop(first); // done: the permit comes back
    let b = compute_rx.recv().await.unwrap();
    assert_eq!(seqs(&b), vec![1, 2, 3, 4], "one batch of max_batch");
    drop(b);
    let b = compute_rx.recv().await.unwrap();
    assert_eq!(seqs(&b), vec![5, 6], "the rest at once");
    drop(b);

    // Closing the input ends the batcher.
    drop(jobs_tx);
    assert!(compute_rx.recv().await.is_none());
}

/// With two threads, a second window goes while the first is computed.
#[tokio::test(start_paused = true)]
async fn a_second_free_thread_takes_the_next_window_at_once() {
    let (jobs_tx, mut compute_rx, _slots, free) = start_batcher(2, 8, Duration::ZERO);
    jobs_tx.send(job(0)).await.unwrap();
    let a = compute_rx.recv().await.unwrap();
    jobs_tx.send(job(1)).await.unwrap();
    let b = compute_rx.recv().await.unwrap();
    assert_eq!((seqs(&a), seqs(&b)), (vec![0], vec![1]));
    assert_eq!(free.available_permits(), 0);
    drop((a, b));
    assert_eq!(
        free.available_permits(),
        2,
        "permits come back with the batches"
    );
}

/// With `max_wait` > 0 (an opt-in upper bound for fuller batches), on
/// paused time: a batch goes when full, or when its oldest window has
/// waited `max_wait`, not before.
#[tokio::test(start_paused = true)]
async fn batches_go_when_full_or_when_the_oldest_has_waited() {
    let max_wait = Duration::from_millis(2);
    let (jobs_tx, mut compute_rx, mut slots_rx, _free) = start_batcher(4, 4, max_wait);

    // Full batch: goes at once, without any time passing.
    for s in 0..4 {
        jobs_tx.send(job(s)).await.unwrap();
    }
    let b = compute_rx.recv().await.unwrap();
    assert_eq!(
        b.jobs.iter().map(|j| j.seq).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(
        slots_rx.try_recv().is_ok(),
        "its result slot went to the publisher first"
    );

    // Two windows: nothing until 2 ms after the first one.
    let t0 = Instant::now();
    jobs_tx.send(job(10)).await.unwrap();
    tokio::time::advance(Duration::from_millis(1)).await;
    jobs_tx.send(job(11)).await.unwrap();
    tokio::task::yield_now().await;
    assert!(compute_rx.try_recv().is_err(), "sent before max_wait");
    let b = compute_rx.recv().await.unwrap();
    assert_eq!(b.jobs.len(), 2);
    let waited = Instant::now().duration_since(t0);
    assert!(
        waited >= max_wait && waited < max_wait + Duration::from_millis(1),
        "{waited:?}"
    );

    // Closing the input flushes nothing more and ends the batcher.
    drop(jobs_tx);
    assert!(compute_rx.recv().await.is_none());
}
