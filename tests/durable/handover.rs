//! A rolling restart: an owner stopped with SIGTERM hands its unit to a
//! standby at once, not after the lease a crashed owner costs.

use super::*;

/// The lease is a minute, so a standby that took over within seconds was
/// handed the unit; every window is still stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_owner_hands_its_unit_to_a_standby_at_once() {
    let bed = Bed::new().await;
    let js = &bed.js;
    let (mut owner, standby) = bed.owner_and_standby("60s").await;

    let publisher = tokio::spawn(publish_all(js.clone(), STANDARD));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    signal(&owner.child, "-TERM");
    let stopped = Instant::now();
    let status = owner.child.wait().unwrap();
    assert!(status.success(), "SIGTERM: {status}");
    let logs_of = [owner.log.clone(), standby.log.clone()];
    assert!(
        std::fs::read_to_string(&owner.log)
            .unwrap()
            .contains("released"),
        "{}",
        logs(&logs_of)
    );
    // A sixth of the lease: what a standby that waited for it cannot do.
    assert!(
        wait_for_line(
            &standby.log,
            "its owner stopped and released it",
            Duration::from_secs(10)
        )
        .await,
        "the standby did not take the released unit:\n{}",
        logs(&logs_of)
    );
    eprintln!("taken over {:?} after SIGTERM", stopped.elapsed());
    // Counted, on the one instance left.
    let reply = (js.client().request("$SRV.STATS.pipeline", "".into()))
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    let data = pipeline::fleet::endpoint_data(&stats, "translate").unwrap();
    assert_eq!(data["durable_takeovers"], 1, "{data}");
    // Named as `--instance` named it (`pipeline status` prints it).
    assert_eq!(data["instance"], "standby", "{data}");
    let line = &pipeline::fleet::describe_stats(&stats)[0];
    assert!(
        line.starts_with("standby ") && line.ends_with("units: sin-cos.all owning"),
        "{line}"
    );
    publisher.await.unwrap();
    let outputs = read_outputs(js, STANDARD, &logs_of).await;
    check_exactly_once(&outputs, STANDARD);
}
