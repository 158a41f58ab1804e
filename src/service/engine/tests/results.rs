//! What becomes of a batch's result: published by the batcher itself or by
//! the publisher task, in order; failed, when the model call panics.

use super::*;

/// A panic in the model call fails that batch (its result an error naming
/// the panic, which the publisher counts) and the compute thread goes on:
/// the next batch is computed, and both permits are back. Before, the
/// thread ended, and with one thread nothing was computed again.
#[test]
fn a_panic_in_the_model_fails_its_batch_and_the_thread_goes_on() {
    use tokio::sync::Semaphore;
    let free = Arc::new(Semaphore::new(2));
    let (tx, rx) = mpsc::channel(2);
    let poison = Job {
        stream: compute::PANIC_STREAM.into(),
        ..job(0)
    };
    let (a, a_done) = compute_job_of(poison, free.clone().try_acquire_owned().unwrap());
    let (b, b_done) = compute_job(1, free.clone().try_acquire_owned().unwrap());
    assert!(tx.try_send(a).is_ok() && tx.try_send(b).is_ok());
    let thread = std::thread::spawn({
        let rx = Arc::new(std::sync::Mutex::new(rx));
        move || compute::compute_loop(rx, Arc::default(), Arc::default(), 0)
    });
    let failed = a_done.blocking_recv().expect("a result, not a dead thread");
    match failed.outputs {
        Err(crate::Error::ModelPanicked { reason, .. }) => {
            assert!(reason.contains("no windows"), "{reason}")
        }
        other => panic!("the panic as the batch's error, got {other:?}"),
    }
    let next = b_done.blocking_recv().expect("the thread goes on");
    assert_eq!(next.jobs[0].seq, 1);
    let want = next.model.fast.translate_rows(&job(1).input).unwrap();
    assert_eq!(next.outputs.unwrap(), want);
    drop(tx);
    thread
        .join()
        .expect("the thread ends when its queue closes");
    assert_eq!(free.available_permits(), 2);
}

/// The same on the batcher's own task: a lone window whose model call
/// panics gets an error result, and the call on a task is free again (its
/// lock not poisoned) for the route's next lone window.
#[tokio::test(start_paused = true)]
async fn a_panic_in_a_model_call_on_the_batcher_fails_only_its_window() {
    let test = async {
        let (jobs_tx, _compute_rx, mut slots_rx, _free) = start_batcher(1, 4, Duration::ZERO, true);
        let poison = Job {
            stream: compute::PANIC_STREAM.into(),
            ..job(0)
        };
        jobs_tx.send(poison).await.unwrap();
        let failed = slots_rx.recv().await.unwrap().await.unwrap();
        assert!(matches!(
            failed.outputs,
            Err(crate::Error::ModelPanicked { .. })
        ));
        tokio::time::advance(lone::IDLE_GAP * 2).await;
        jobs_tx.send(job(1)).await.unwrap();
        let done = slots_rx.recv().await.unwrap().await.unwrap();
        assert_eq!(done.jobs[0].seq, 1);
        assert!(done.outputs.is_ok(), "computed on the batcher again");
    };
    within_a_minute(test, "the batcher stopped").await;
}

/// A lone window the batcher computed goes to the client from the batcher
/// itself when no batch waits to be published (no result slot); while an
/// earlier batch is still on a thread, it takes its slot behind that batch
/// instead, and the publisher task publishes both, in order.
#[tokio::test(start_paused = true)]
async fn a_lone_window_is_published_by_the_batcher_unless_a_batch_waits_ahead() {
    let test = async {
        let route = crate::service::testing::sin_cos_route();
        // The client never connects, so it refuses every publish, which the
        // publisher counts as a failure: what this test looks at is who
        // handed each translation to the client, and when.
        let client = crate::service::testing::unconnected_client().await;
        let stats = Arc::new(Stats::default());
        let shared = Shared::new(Publisher::new(
            route.clone(),
            Out::Core(client),
            stats.clone(),
        ));
        let (compute, mut compute_rx) = test_compute(2);
        let (jobs_tx, jobs_rx) = mpsc::channel(64);
        let (slots_tx, mut slots_rx) = mpsc::channel(8);
        let source = route.clone();
        tokio::spawn(batcher(
            jobs_rx,
            move || (source.current(), None, source.counters.clone()),
            Arc::default(),
            compute.clone(),
            Outlet {
                slots: slots_tx,
                publisher: Some(shared.clone()),
            },
            16,
            Duration::ZERO,
            true,
        ));
        let window = |seq: u64| Job {
            input: (0..24).map(|i| ((seq + i) as f32 * 0.3).sin()).collect(),
            ..job(seq)
        };
        let published = || stats.windows_out.load(Relaxed) + stats.publish_failures.load(Relaxed);

        // Quiet route, a thread free, nothing waiting: published here.
        jobs_tx.send(window(0)).await.unwrap();
        // (Yielding, not sleeping: time must not pass, or the next window
        // would find the route quiet again.)
        for _ in 0..1000 {
            if published() == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(
            slots_rx.try_recv().is_err(),
            "no slot: the batcher published it"
        );
        assert_eq!(published(), 1, "handed to the client");
        assert!(
            compute_rx.try_recv().is_err(),
            "nothing went to the threads"
        );

        // Right behind it: to a thread, its result slot to the publisher.
        jobs_tx.send(window(1)).await.unwrap();
        let on_thread = compute_rx.recv().await.unwrap();
        assert_eq!(seqs(&on_thread), vec![1]);
        let first = slots_rx.recv().await.unwrap();

        // Quiet again, a thread free, but 1 waits to be published: 2 is
        // computed here and queued behind it, not published.
        tokio::time::advance(lone::IDLE_GAP * 2).await;
        jobs_tx.send(window(2)).await.unwrap();
        let second = slots_rx.recv().await.unwrap();
        assert_eq!(published(), 1, "2 did not overtake 1");

        // The publisher task takes both slots, in order, once 1 is done.
        let (fwd_tx, fwd_rx) = mpsc::channel(8);
        fwd_tx.send(first).await.unwrap();
        fwd_tx.send(second).await.unwrap();
        drop(fwd_tx);
        let publishing = tokio::spawn(publisher(fwd_rx, shared.clone()));
        tokio::task::yield_now().await;
        assert_eq!(published(), 1, "nothing before 1 is done");
        let ComputeJob {
            model,
            counters,
            jobs,
            out,
            done,
            ..
        } = on_thread;
        let (mut input, mut scratch) = (Vec::new(), crate::fast::Scratch::default());
        let result = compute::run(
            model,
            &counters,
            jobs,
            out,
            &mut input,
            &mut scratch,
            &stats,
        );
        let _ = done.send(result);
        publishing.await.unwrap();
        assert_eq!(published(), 3);
    };
    within_a_minute(test, "a window was never published").await;
}
