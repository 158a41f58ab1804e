//! A rolling restart: an owner stopped with SIGTERM hands its unit to a
//! standby at once, not after the lease a crashed owner costs; a restart
//! says when it serves another model than the last checkpoint's.

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

/// A model put in at run time (here a reload) is not in the configuration:
/// after a `kill -9`, the restarted service serves the configured model
/// again, and says so (it said nothing: the grid operator found the
/// promoted model gone from the translations' ids alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_says_the_model_put_in_at_run_time_is_not_kept() {
    let bed = Bed::new().await;
    let (url, dir, js) = (&bed.url, bed.dir.path(), &bed.js);
    let first = Service::start(url, dir, 0);
    wait_for_stream(js, "SAMPLES").await;
    let mut logs_of = vec![first.log.clone()];
    let load = Load {
        streams: 1,
        samples: 40,
    };
    publish_seqs(js.clone(), load, 0..20).await;
    let other = manifest().join("models/damped.safetensors");
    let req = serde_json::json!({ "pair": "sin-cos", "model": other }).to_string();
    let reply = js
        .client()
        .request("pipeline.reload", req.into())
        .await
        .unwrap();
    assert!(reply.headers.is_none(), "{:?}", reply.headers);
    publish_seqs(js.clone(), load, 20..40).await;
    wait_for_stored(js, 17, Duration::from_secs(30), &logs_of).await;
    // A checkpoint after the reload (every 50 ms), then the crash.
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.kill();
    let again = Service::start(url, dir, 1);
    logs_of.push(again.log.clone());
    let damped = pipeline::format::load(&other, None).unwrap();
    let said = format!("the last checkpoint was written while model {}", damped.id);
    assert!(
        wait_for_line(&again.log, &said, Duration::from_secs(20)).await,
        "{}",
        logs(&logs_of)
    );
    let text = std::fs::read_to_string(&again.log).unwrap_or_default();
    assert!(text.contains("pipeline reload --model"), "{text}");
}
