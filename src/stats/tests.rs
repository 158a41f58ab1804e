use super::*;

/// A unit that stands by shows no lag: it has no consumer, and the lag
/// it had as owner would keep `PipelineDurableLagging` firing.
#[test]
fn a_standby_reports_no_consumer_lag() {
    let stats = Stats::default();
    stats.unit("sin-cos.all", Some(UnitState::Owning));
    stats.unit_pending("sin-cos.all").store(52_800, Relaxed);
    assert_eq!(stats.pending().get("sin-cos.all"), Some(&52_800));
    stats.unit("sin-cos.all", Some(UnitState::StandingBy));
    assert_eq!(stats.pending().get("sin-cos.all"), None);
}

/// A task that panics fails `/healthz` for good (a dead ingest task
/// otherwise leaves its route silent with every check green), and a
/// publisher's `ts` of `i64::MIN` is no time, not an overflow.
#[tokio::test]
async fn a_panicked_task_fails_health() {
    let stats = Arc::new(Stats::default());
    watched(stats.clone(), "route \"a\" ingest".into(), async {}).await;
    assert_eq!(stats.health(Duration::from_secs(1)), Ok(()));
    let task = tokio::spawn(watched(stats.clone(), "route \"b\" ingest".into(), async {
        panic!("bad sample");
    }));
    assert!(task.await.is_ok(), "the panic is caught");
    assert_eq!(
        stats.health(Duration::from_secs(1)),
        Err("route \"b\" ingest panicked: restart the service".into())
    );
    assert!(seconds_since(i64::MIN) > 1e9, "{}", seconds_since(i64::MIN));
    assert_eq!(seconds_since(i64::MAX), 0.0);
}

/// `/healthz` fails while a compute thread is on one batch past the
/// limit, recovers when it finishes, and fails for good once a thread
/// has stopped.
#[test]
fn health_follows_the_compute_heartbeats() {
    let s = Stats::default();
    let (a, b) = (s.compute_thread(0), s.compute_thread(1));
    assert_eq!(s.health(Duration::ZERO), Ok(()), "idle threads");
    a.busy();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(s.health(Duration::from_secs(10)), Ok(()), "busy, not stuck");
    let err = s.health(Duration::from_millis(1)).unwrap_err();
    assert!(
        err.contains("compute thread 0 has been on one batch"),
        "{err}"
    );
    a.idle();
    assert_eq!(s.health(Duration::from_millis(1)), Ok(()));
    drop(StopOnDrop(b));
    let err = s.health(Duration::from_secs(10)).unwrap_err();
    assert_eq!(err, "compute thread 1 has stopped");
}
