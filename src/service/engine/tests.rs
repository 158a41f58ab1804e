//! The batcher on paused time: when batches go, and what they hold.

use super::*;
use crate::format;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::OwnedSemaphorePermit;

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
        live: true,
        enqueued: Instant::now(),
        trace: None,
    }
}

/// A batcher over `threads` compute permits, its input, its output and
/// the slots it hands the publisher; with `lone`, computing a lone window
/// of an idle route itself.
#[allow(clippy::type_complexity)]
fn start_batcher(
    threads: usize,
    max_batch: usize,
    max_wait: Duration,
    lone: bool,
) -> (
    mpsc::Sender<Job>,
    mpsc::Receiver<ComputeJob>,
    mpsc::Receiver<oneshot::Receiver<Done>>,
    Arc<tokio::sync::Semaphore>,
) {
    let (compute, compute_rx) = test_compute(threads);
    let (jobs_tx, slots_rx) = spawn_batcher(&compute, max_batch, max_wait, lone);
    (jobs_tx, compute_rx, slots_rx, compute.free)
}

/// `threads` compute permits and places in line, and the queue a compute
/// thread would read (no thread: the test takes the batches).
fn test_compute(threads: usize) -> (Compute, mpsc::Receiver<ComputeJob>) {
    let (tx, rx) = mpsc::channel(8);
    let compute = Compute {
        tx,
        free: Arc::new(tokio::sync::Semaphore::new(threads)),
        ahead: Arc::new(tokio::sync::Semaphore::new(threads)),
        on_task: Arc::new(lone::OnTask::new(Arc::default())),
        queued: Arc::default(),
    };
    (compute, rx)
}

/// Runs `test`. Paused time moves on when every task waits, so a batch or
/// window that never goes fails the test (saying `what`) instead of hanging it.
async fn within_a_minute(test: impl Future<Output = ()>, what: &str) {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect(what);
}

/// Another route's batcher on the same compute threads.
fn spawn_batcher(
    compute: &Compute,
    max_batch: usize,
    max_wait: Duration,
    lone: bool,
) -> (mpsc::Sender<Job>, mpsc::Receiver<oneshot::Receiver<Done>>) {
    let (jobs_tx, jobs_rx) = mpsc::channel(64);
    let (slots_tx, slots_rx) = mpsc::channel(8);
    let model = tiny_model();
    tokio::spawn(batcher(
        jobs_rx,
        move || (model.clone(), None, Arc::default()),
        Arc::default(),
        compute.clone(),
        Outlet {
            slots: slots_tx,
            publisher: None,
        },
        max_batch,
        max_wait,
        lone,
    ));
    (jobs_tx, slots_rx)
}

fn seqs(b: &ComputeJob) -> Vec<u64> {
    b.jobs.iter().map(|j| j.seq).collect()
}

/// Idle, a window goes to compute at once (no time passes); while the
/// only compute thread is busy, windows gather, and go together the
/// moment it is free, up to `max_batch`.
#[tokio::test(start_paused = true)]
async fn batches_go_at_once_when_idle_and_gather_while_busy() {
    let (jobs_tx, mut compute_rx, _slots, _free) = start_batcher(1, 4, Duration::ZERO, false);
    let t0 = Instant::now();
    jobs_tx.send(job(0)).await.unwrap();
    let first = compute_rx.recv().await.unwrap();
    assert_eq!(seqs(&first), vec![0]);
    assert_eq!(Instant::now(), t0, "no wait when a thread is free");

    // The thread is busy with `first` (it holds the only permit).
    for s in 1..=3 {
        jobs_tx.send(job(s)).await.unwrap();
    }
    tokio::time::advance(Duration::from_millis(50)).await;
    assert!(compute_rx.try_recv().is_err(), "nothing goes while busy");
    drop(first); // done: the permit comes back
    let b = compute_rx.recv().await.unwrap();
    assert_eq!(seqs(&b), vec![1, 2, 3], "together");
    drop(b);
    for s in 4..=9 {
        jobs_tx.send(job(s)).await.unwrap();
    }
    let b = compute_rx.recv().await.unwrap();
    assert_eq!(seqs(&b), vec![4, 5, 6, 7], "one batch of max_batch");
    drop(b);
    let b = compute_rx.recv().await.unwrap();
    assert_eq!(seqs(&b), vec![8, 9], "the rest at once");
    drop(b);

    // Closing the input ends the batcher.
    drop(jobs_tx);
    assert!(compute_rx.recv().await.is_none());
}

/// While every thread is busy, a batch that reaches `max_batch` goes at
/// once to wait in line (one place per thread), so that the thread starts
/// on it as soon as it is done, without waiting for the batcher; a partial
/// batch, or a full one with the line taken, waits for a free thread.
#[tokio::test(start_paused = true)]
async fn a_full_batch_waits_in_line_while_every_thread_is_busy() {
    let test = async {
        let (jobs_tx, mut compute_rx, _slots, free) = start_batcher(1, 4, Duration::ZERO, false);
        let is_threads = |b: &ComputeJob| Arc::ptr_eq(b.permit.semaphore(), &free);
        jobs_tx.send(job(0)).await.unwrap();
        let first = compute_rx.recv().await.unwrap();
        assert!(is_threads(&first), "a thread's permit");

        let t0 = Instant::now();
        for s in 1..=4 {
            jobs_tx.send(job(s)).await.unwrap();
        }
        let in_line = compute_rx.recv().await.unwrap();
        assert_eq!(seqs(&in_line), vec![1, 2, 3, 4]);
        assert_eq!(Instant::now(), t0, "no wait for the thread");
        assert!(!is_threads(&in_line), "a place in line");

        // The line is taken: the next full batch waits, and so does a partial one.
        for s in 5..=9 {
            jobs_tx.send(job(s)).await.unwrap();
        }
        tokio::time::advance(Duration::from_millis(50)).await;
        assert!(compute_rx.try_recv().is_err(), "nothing more while busy");
        drop(in_line); // its place comes back; the thread is still busy
        let b = compute_rx.recv().await.unwrap();
        assert_eq!(seqs(&b), vec![5, 6, 7, 8], "the next full batch takes it");
        assert!(!is_threads(&b));
        tokio::time::advance(Duration::from_millis(50)).await;
        assert!(compute_rx.try_recv().is_err(), "a partial batch waits");
        drop(first);
        let b = compute_rx.recv().await.unwrap();
        assert_eq!(seqs(&b), vec![9], "for a free thread");
        assert!(is_threads(&b));
    };
    within_a_minute(test, "a batch never went").await;
}

/// Routes share the compute threads fairly: a route that keeps filling
/// full batches takes the places in line, but a quiet route's partial
/// batch, waiting for a free thread since before, gets the next one.
#[tokio::test(start_paused = true)]
async fn a_busy_routes_full_batches_do_not_starve_another_route() {
    let test = async {
        let (compute, mut compute_rx) = test_compute(1);
        let (busy, _busy_slots) = spawn_batcher(&compute, 2, Duration::ZERO, false);
        let (quiet, _quiet_slots) = spawn_batcher(&compute, 2, Duration::ZERO, false);
        let settle = || tokio::time::advance(Duration::from_millis(1));
        busy.send(job(0)).await.unwrap();
        let computing = compute_rx.recv().await.unwrap();
        for s in 1..=4 {
            busy.send(job(s)).await.unwrap();
        }
        let mut in_line = compute_rx.recv().await.unwrap();
        assert_eq!(seqs(&in_line), vec![1, 2]);
        settle().await; // the busy route's [3, 4] waits for a thread or a place
        quiet.send(job(100)).await.unwrap();
        settle().await; // the quiet route's window waits for a thread
        assert!(compute_rx.try_recv().is_err());

        // The thread goes on to the batch in line; the busy route keeps
        // filling batches and taking the places in line as they come back.
        for round in 0..3u64 {
            drop(in_line);
            in_line = compute_rx.recv().await.unwrap();
            assert_eq!(in_line.jobs.len(), 2, "a full batch");
            busy.send(job(10 + 2 * round)).await.unwrap();
            busy.send(job(11 + 2 * round)).await.unwrap();
            settle().await;
            assert!(compute_rx.try_recv().is_err(), "nothing else goes");
        }
        // The first batch is done: its thread's permit goes to the quiet
        // route, which asked for one first.
        drop(computing);
        let next = compute_rx.recv().await.unwrap();
        assert_eq!(seqs(&next), vec![100]);
    };
    within_a_minute(test, "a batch never went").await;
}

/// A batch as the compute threads get it, and where its result goes.
fn compute_job(seq: u64, permit: OwnedSemaphorePermit) -> (ComputeJob, oneshot::Receiver<Done>) {
    compute_job_of(job(seq), permit)
}

fn compute_job_of(job: Job, permit: OwnedSemaphorePermit) -> (ComputeJob, oneshot::Receiver<Done>) {
    let (done, rx) = oneshot::channel();
    let batch = ComputeJob {
        model: tiny_model(),
        counters: Arc::default(),
        observer: None,
        jobs: vec![job],
        out: Vec::new(),
        done,
        permit,
    };
    (batch, rx)
}

/// A compute thread given a batch and one waiting in line computes both
/// in order and, idle again, has given back both permits.
#[test]
fn a_compute_thread_gives_back_every_permit() {
    use tokio::sync::Semaphore;
    let free = Arc::new(Semaphore::new(1));
    let ahead = Arc::new(Semaphore::new(1));
    let (tx, rx) = mpsc::channel(2);
    let (a, a_done) = compute_job(0, free.clone().try_acquire_owned().unwrap());
    let (b, b_done) = compute_job(1, ahead.clone().try_acquire_owned().unwrap());
    assert!(tx.try_send(a).is_ok() && tx.try_send(b).is_ok());
    let thread = std::thread::spawn({
        let rx = Arc::new(std::sync::Mutex::new(rx));
        move || compute::compute_loop(rx, Arc::default(), Arc::default(), 0)
    });
    assert_eq!(a_done.blocking_recv().unwrap().jobs[0].seq, 0);
    assert_eq!(b_done.blocking_recv().unwrap().jobs[0].seq, 1);
    drop(tx);
    thread.join().unwrap();
    assert_eq!(
        (free.available_permits(), ahead.available_permits()),
        (1, 1)
    );
}

/// A shadow model runs on spare compute only: with nothing waiting, a
/// batch's shadow is computed; with its route's queue an eighth full, or a
/// batch waiting in line for a thread, the comparison is dropped and
/// counted (before, the shadow always ran first, and under load live
/// windows were shed).
#[test]
fn a_shadow_yields_to_live_work() {
    for watches in [false, true] {
        shadow_yields(watches);
    }
}

/// [`a_shadow_yields_to_live_work`] on a route that watches each stream's
/// deviation, or not.
fn shadow_yields(watches: bool) {
    use tokio::sync::Semaphore;
    // A permit per batch: the thread drops a batch's permit only after it
    // answered, so one permit raced the next batch's taking it (the
    // batcher's accounting is not under test here).
    let free = Arc::new(Semaphore::new(3));
    let (tx, rx) = mpsc::channel(2);
    let (observed_tx, mut observed) = mpsc::channel(4);
    let compare = Arc::new(crate::service::observe::Compare::default());
    // The route's queue: 8 places, so one window waiting is an eighth.
    let (route_tx, _route_rx) = mpsc::channel::<Job>(8);
    let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let observed_job = |seq| {
        let (mut batch, done) = compute_job(seq, free.clone().try_acquire_owned().unwrap());
        batch.observer = Some(Observer {
            shadow: Some(tiny_model()),
            tx: observed_tx.clone(),
            compare: compare.clone(),
            generation: 0,
            watches,
            truth: false,
            backlog: Some(route_tx.downgrade()),
        });
        (batch, done)
    };
    let thread = std::thread::spawn({
        let (rx, queued) = (Arc::new(std::sync::Mutex::new(rx)), queued.clone());
        move || compute::compute_loop(rx, queued, Arc::default(), 0)
    });
    let mut shadowed = |seq| {
        let (batch, done) = observed_job(seq);
        tx.blocking_send(batch).unwrap();
        assert_eq!(done.blocking_recv().unwrap().jobs[0].seq, seq);
        observed.blocking_recv().unwrap().shadow.is_some()
    };
    assert!(shadowed(0), "nothing waits: the shadow runs");
    // A window waits in the route's queue.
    route_tx.try_send(job(9)).unwrap();
    let (b, b_done) = observed_job(1);
    tx.blocking_send(b).unwrap();
    assert_eq!(b_done.blocking_recv().unwrap().jobs[0].seq, 1);
    // The route's queue empty, but a batch in line behind this one (both
    // counted as `Compute::send` counts them; the thread takes this one).
    queued.fetch_add(2, Relaxed);
    drop(_route_rx);
    let (c, c_done) = observed_job(2);
    tx.blocking_send(c).unwrap();
    assert_eq!(c_done.blocking_recv().unwrap().jobs[0].seq, 2);
    drop(tx);
    thread.join().unwrap();
    // Where the route watches deviation, batches 1 and 2 reach the
    // observer unshadowed and out of the comparisons; else not at all.
    if watches {
        for seq in [1, 2] {
            let o = observed.try_recv().unwrap();
            assert_eq!(
                (o.windows[0].1, o.shadow.is_some(), o.compared),
                (seq, false, false)
            );
        }
    }
    assert!(
        observed.try_recv().is_err(),
        "no comparison of batches 1 and 2"
    );
    assert_eq!(compare.snapshot().dropped, 2);
}

/// With two threads, a second window goes while the first is computed.
#[tokio::test(start_paused = true)]
async fn a_second_free_thread_takes_the_next_window_at_once() {
    let (jobs_tx, mut compute_rx, _slots, free) = start_batcher(2, 8, Duration::ZERO, false);
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
    let (jobs_tx, mut compute_rx, mut slots_rx, _free) = start_batcher(4, 4, max_wait, false);

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

/// A lone window of an idle route is computed by the batcher itself (its
/// result in the slot, nothing sent to the threads, no time passing), with
/// the model's own output; a window right behind another, or one that had
/// to wait for a thread, goes to the threads as before.
#[tokio::test(start_paused = true)]
async fn a_lone_window_of_an_idle_route_is_computed_on_the_batcher() {
    let test = async {
        let (jobs_tx, mut compute_rx, mut slots_rx, free) =
            start_batcher(1, 4, Duration::ZERO, true);
        let model = tiny_model();
        let lone = |seq: u64| Job {
            input: vec![0.1, -0.2, 0.3, seq as f32 / 10.0],
            ..job(seq)
        };
        // The result, or None if it was not computed here (within a second).
        let computed_here = async |slots: &mut mpsc::Receiver<oneshot::Receiver<Done>>| {
            let slot = slots.recv().await.unwrap();
            tokio::time::timeout(Duration::from_secs(1), slot)
                .await
                .ok()
                .map(Result::unwrap)
        };
        let t0 = Instant::now();
        jobs_tx.send(lone(0)).await.unwrap();
        let done = computed_here(&mut slots_rx)
            .await
            .expect("computed on the batcher");
        assert_eq!(Instant::now(), t0, "no wait");
        assert_eq!(done.jobs.iter().map(|j| j.seq).collect::<Vec<_>>(), vec![0]);
        let want = model.fast.translate_rows(&lone(0).input).unwrap();
        assert_eq!(done.outputs.unwrap(), want, "the model's own output");
        assert!(
            compute_rx.try_recv().is_err(),
            "nothing went to the threads"
        );
        assert_eq!(free.available_permits(), 1, "the permit is back");

        // Right behind it (the route is not idle): to the threads.
        jobs_tx.send(lone(1)).await.unwrap();
        let b = compute_rx.recv().await.unwrap();
        assert_eq!(seqs(&b), vec![1]);
        slots_rx.recv().await.unwrap(); // its slot
        drop(b);

        // Idle again, but every thread busy: it waits, then goes to them.
        tokio::time::advance(lone::IDLE_GAP * 2).await;
        let busy = free.clone().acquire_owned().await.unwrap();
        jobs_tx.send(lone(2)).await.unwrap();
        tokio::task::yield_now().await;
        drop(busy);
        let b = compute_rx.recv().await.unwrap();
        assert_eq!(seqs(&b), vec![2]);
        slots_rx.recv().await.unwrap(); // its slot
        drop(b);

        // Idle with a free thread: on the batcher again.
        tokio::time::advance(lone::IDLE_GAP * 2).await;
        jobs_tx.send(lone(3)).await.unwrap();
        let done = computed_here(&mut slots_rx)
            .await
            .expect("computed on the batcher");
        assert_eq!(done.jobs[0].seq, 3);
        assert!(compute_rx.try_recv().is_err());
    };
    within_a_minute(test, "a window went nowhere").await;
}

/// A window computed on the batcher while an earlier batch is still on a
/// thread takes its place behind that batch: the publisher reads result
/// slots in the order batches were formed.
#[tokio::test(start_paused = true)]
async fn a_window_computed_on_the_batcher_waits_its_turn_behind_a_thread() {
    let test = async {
        let (jobs_tx, mut compute_rx, mut slots_rx, _free) =
            start_batcher(2, 4, Duration::ZERO, true);
        jobs_tx.send(job(0)).await.unwrap(); // quiet route: on the batcher
        let first = slots_rx.recv().await.unwrap().await.unwrap();
        assert_eq!(first.jobs[0].seq, 0);
        jobs_tx.send(job(1)).await.unwrap(); // right behind: to a thread
        let on_thread = compute_rx.recv().await.unwrap();
        assert_eq!(seqs(&on_thread), vec![1]);
        tokio::time::advance(lone::IDLE_GAP * 2).await;
        jobs_tx.send(job(2)).await.unwrap(); // quiet, a thread free: here
        let mut second = slots_rx.recv().await.unwrap();
        let mut third = slots_rx.recv().await.unwrap();
        let done = (&mut third).await.unwrap();
        assert_eq!(done.jobs[0].seq, 2, "computed while 1 is on its thread");
        assert!(second.try_recv().is_err(), "1 is not done yet");
        assert!(compute_rx.try_recv().is_err());
        // The thread finishes 1: its slot, ahead of 2's, completes.
        let ComputeJob {
            jobs, model, done, ..
        } = on_thread;
        let now = Instant::now();
        let _ = done.send(Done {
            jobs,
            model,
            outputs: Ok(Vec::new()),
            started: now,
            computed: now,
        });
        assert_eq!(second.await.unwrap().jobs[0].seq, 1);
    };
    within_a_minute(test, "a window went nowhere").await;
}

/// One model call on an async task at a time, in the whole service: a
/// second route's lone window goes to the threads meanwhile.
#[test]
fn one_call_on_a_task_at_a_time() {
    let on_task = lone::OnTask::new(Arc::default());
    let model = tiny_model();
    let first = on_task.slot(&model);
    assert!(first.is_some());
    assert!(on_task.slot(&model).is_none(), "taken");
    drop(first);
    assert!(on_task.slot(&model).is_some(), "free again");
}

mod results;
