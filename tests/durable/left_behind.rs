//! A durable run leaves `SAMPLES` and `TRANSLATED` without limits; a core
//! service started after it on the same subjects says so (they go on
//! storing every sample and translation it handles), with what to do.

use super::*;
use common::service::{Svc, config, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_service_names_the_streams_a_durable_run_left_on_its_subjects() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let core = config();
    // No stream yet: nothing to say.
    assert_eq!(
        pipeline::service::captured(&client, &core).await,
        Vec::<String>::new()
    );
    let mut durable = config();
    durable.durable = Some(pipeline::config::DurableConfig::default());
    Svc::start(&server.url(), durable).await.shutdown().await;

    // Core mode on the same subjects: its samples are stored all the same.
    let svc = Svc::start(&server.url(), core.clone()).await;
    for seq in 0..5 {
        send(&client, "left", seq, &[0.5]).await;
    }
    client.flush().await.unwrap();
    let js = jetstream::new(client.clone());
    let samples = || async {
        js.get_stream("SAMPLES")
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .clone()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while samples().await.state.messages < 5 {
        assert!(
            Instant::now() < deadline,
            "SAMPLES never stored the core samples"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let said = pipeline::service::captured(&client, &core).await;
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(
        said[0].starts_with(
            "JetStream stream SAMPLES stores route \"sin-cos\"'s input (samples.>: 5 message(s)"
        ) && said[0].contains("kept without limit")
            && said[0].contains("nats stream rm SAMPLES"),
        "{said:#?}"
    );
    assert!(
        said[1].starts_with(
            "JetStream stream TRANSLATED stores route \"sin-cos\"'s translations (translated.>:"
        ) && said[1].contains("Nats-Msg-Id"),
        "{said:#?}"
    );
    // Bounded, it says how.
    let mut cfg = samples().await.config;
    cfg.max_age = Duration::from_secs(7 * 86_400);
    js.update_stream(cfg).await.unwrap();
    let said = pipeline::service::captured(&client, &core).await;
    assert!(said[0].contains("kept up to max age"), "{said:#?}");
    svc.shutdown().await;
}

/// The input stream removed and made again under a unit's checkpoint (what
/// a core service's advice, `nats stream rm SAMPLES`, could lead to): the
/// unit stops (78) instead of skipping the new stream's first samples up to
/// the checkpoint's seq without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_past_a_recreated_input_stream_stops_the_unit() {
    use super::units::{exits_78, poll, serve_and_publish};
    let bed = Bed::new().await;
    let load = Load {
        streams: 2,
        samples: 40,
    };
    let svc = serve_and_publish(&bed, load).await;
    let js = &bed.js;
    let kv = poll(&svc.log, async || {
        js.get_key_value("PIPELINE_CHECKPOINTS").await.ok()
    })
    .await;
    poll(&svc.log, async || {
        let head = kv.get("sin-cos.all").await.unwrap()?;
        let head: serde_json::Value = rmp_serde::from_slice(&head).unwrap();
        (head["stream_seq"].as_u64() == Some(80)).then_some(())
    })
    .await;
    svc.kill();
    bed.js.delete_stream("SAMPLES").await.unwrap();
    let mut svc = Service::start(&bed.url, bed.dir.path(), 1);
    let text = exits_78(&mut svc).await;
    assert!(
        text.contains("it is at SAMPLES seq 80, past the stream's last message (0)")
            && text.contains("removed and made again"),
        "{text}"
    );
}
