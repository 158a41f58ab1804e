//! Promotion and rollback: a model swapped in or back between two batches,
//! no window lost or computed twice, in core and in durable (exactly-once)
//! mode, and the fleet commands that do it on every instance.

use super::*;

/// Every window once, computed whole by one model, the switch happening
/// once per stream: old model before, new model after, never back.
fn check_promotion(
    got: &HashMap<(String, u64), (String, Vec<f32>)>,
    streams: &[&str],
    seqs: u64,
    old: &LoadedModel,
    new: &LoadedModel,
    new_from: u64,
) {
    for s in streams {
        let mut switched = false;
        for seq in 0..seqs - W + 1 {
            let (model, values) = got
                .get(&(s.to_string(), seq))
                .unwrap_or_else(|| panic!("window {s}/{seq} lost"));
            let m = if *model == new.id {
                switched = true;
                new
            } else {
                assert_eq!(*model, old.id, "unknown model");
                assert!(
                    !switched,
                    "{s}/{seq}: back to the old model after the new one"
                );
                assert!(
                    seq < new_from,
                    "{s}/{seq}: the old model after the promotion answered"
                );
                old
            };
            assert!(max_diff(values, &expected(m, seq)) <= 1e-5, "{s}/{seq}");
        }
        assert!(switched, "{s}: never switched");
    }
}

/// A service with two compute threads (so batches overlap a swap), a
/// client, and its subscription to the translations.
async fn two_threads(server: &NatsServer) -> (Svc, Client, async_nats::Subscriber) {
    let mut cfg = config();
    cfg.compute_threads = 2;
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let translated = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    (svc, client, translated)
}

/// The streams [`swap_midway`] sends, their samples, and the sample after
/// which the swap is asked for.
const STREAMS: [&str; 3] = ["a", "b", "c"];
const HALF: u64 = 50;
const N: u64 = 100;

/// Sends `STREAMS` their first `HALF` samples, asks `subject` for a swap,
/// sends the rest: every window translated (none more), and the answer.
async fn swap_midway(
    client: &Client,
    translated: &mut async_nats::Subscriber,
    subject: &str,
) -> (
    HashMap<(String, u64), (String, Vec<f32>)>,
    serde_json::Value,
) {
    let send_all = |seqs: std::ops::Range<u64>| async move {
        for seq in seqs {
            for s in STREAMS {
                send(client, s, seq, &[input_at(seq)]).await;
            }
        }
    };
    send_all(0..HALF).await;
    let answer = control(client, subject, serde_json::json!({})).await;
    send_all(HALF..N).await;
    let windows = STREAMS.len() * (N - W + 1) as usize;
    let all = collect(translated, windows, translation).await;
    assert_quiet(translated, Duration::from_millis(300)).await;
    (by_window(&all), answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_swaps_the_shadow_in_without_losing_or_doubling_a_window() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (candidate_path, live, shadow) = models(dir.path());
    let (svc, client, mut translated) = two_threads(&server).await;

    // No shadow yet: promote is refused, and says why.
    let reply = client
        .request("pipeline.promote", "{}".into())
        .await
        .unwrap();
    assert_service_error(&reply, "422", "no shadow");
    // The live model as its own shadow, and its promotion: done, and said.
    let itself = serde_json::json!({ "pair": "sin-cos", "model": live.path });
    let answer = control(&client, "pipeline.shadow", itself).await;
    assert_eq!(answer["shadow"], live.id.as_str());
    let said = answer["warnings"].to_string();
    assert!(
        said.contains("serves live") && said.contains("compared with itself"),
        "{answer}"
    );
    let answer = control(&client, "pipeline.promote", serde_json::json!({})).await;
    assert_eq!(answer["live"], live.id.as_str());
    assert!(
        answer["warnings"].to_string().contains("nothing changes"),
        "{answer}"
    );
    // Shadow it (MessagePack request, as the Rust and Python clients send).
    let req = rmp_serde::to_vec_named(&serde_json::json!({
        "pair": "sin-cos", "model": candidate_path,
    }))
    .unwrap();
    let reply = client.request("pipeline.shadow", req.into()).await.unwrap();
    assert!(reply.headers.is_none(), "{:?}", reply.headers);
    let answer: serde_json::Value = rmp_serde::from_slice(&reply.payload).unwrap();
    assert_eq!(answer["shadow"], shadow.id.as_str());
    assert_eq!(answer["live"], live.id.as_str());

    // Three streams under way, promotion in the middle of them.
    let (got, answer) = swap_midway(&client, &mut translated, "pipeline.promote").await;
    assert_eq!(answer["live"], shadow.id.as_str());
    assert_eq!(answer["shadow"], serde_json::Value::Null);
    // Windows completed by samples sent after the promotion's answer are
    // the new model's.
    check_promotion(&got, &STREAMS, N, &live, &shadow, HALF - W + 1);
    // Each model's translations counted by its id, as the messages say (a
    // model that translated none, where the promotion came first, none).
    let by_model = |id: &str| got.values().filter(|(m, _)| m == id).count() as u64;
    let counted: Vec<serde_json::Value> = [live.id.as_str(), shadow.id.as_str()]
        .into_iter()
        .map(|id| (id, by_model(id)))
        .filter(|(_, n)| *n > 0)
        .map(|(id, n)| serde_json::json!([id, n]))
        .collect();
    let stats = route_stats(&client).await;
    assert_eq!(
        stats["model_windows"],
        serde_json::json!(counted),
        "{stats}"
    );
    svc.shutdown().await;
}

/// A rollback puts back the model a promotion replaced, between two
/// batches, under traffic: no window lost or doubled. A second rollback
/// undoes the first; with nothing to put back, one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_puts_the_previous_model_back_without_losing_or_doubling_a_window() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (candidate_path, live, shadow) = models(dir.path());
    let (svc, client, mut translated) = two_threads(&server).await;

    // Nothing to put back yet; and a rollback names no model.
    let reply = client
        .request("pipeline.rollback", "{}".into())
        .await
        .unwrap();
    assert_service_error(&reply, "422", "no previous model to roll back to");
    let named = serde_json::json!({ "model": candidate_path });
    let reply = client
        .request("pipeline.rollback", named.to_string().into())
        .await
        .unwrap();
    assert_service_error(&reply, "422", "rollback takes no model");
    // Promoting the candidate keeps the model it replaces.
    let body = serde_json::json!({ "model": candidate_path });
    control(&client, "pipeline.shadow", body).await;
    let answer = control(&client, "pipeline.promote", serde_json::json!({})).await;
    assert_eq!(answer["live"], shadow.id.as_str());
    assert_eq!(answer["previous"], live.id.as_str());
    assert_eq!(route_stats(&client).await["previous"], live.id.as_str());

    // Three streams under way, the rollback in the middle of them.
    let (got, answer) = swap_midway(&client, &mut translated, "pipeline.rollback").await;
    assert_eq!(answer["live"], live.id.as_str());
    assert_eq!(answer["previous"], shadow.id.as_str());
    assert_eq!(answer["shadow"], serde_json::Value::Null);
    // The configured model is back: nothing to warn of.
    assert!(answer.get("warnings").is_none(), "{answer}");
    // Windows completed by samples sent after the rollback's answer are
    // the earlier model's again.
    check_promotion(&got, &STREAMS, N, &shadow, &live, HALF - W + 1);

    // A second rollback undoes the first, and says the model it puts in
    // lasts until a SIGHUP or restart.
    let body = serde_json::json!({ "pair": "sin-cos" });
    let answer = control(&client, "pipeline.rollback", body).await;
    assert_eq!(answer["live"], shadow.id.as_str());
    assert_eq!(answer["previous"], live.id.as_str());
    assert!(
        answer["warnings"]
            .to_string()
            .contains("until the next SIGHUP"),
        "{answer}"
    );
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_mode_stays_exactly_once_across_a_promotion() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (candidate_path, live, shadow) = models(dir.path());
    let mut cfg = config();
    cfg.durable = Some(Default::default());
    cfg.routes[0].shadow.model = Some(candidate_path);
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let publish = |stream: &'static str, seq: u64| {
        let js = js.clone();
        async move {
            let msg = SamplesOut {
                seq,
                value: Some(input_at(seq)),
                values: None,
                ts: None,
            };
            js.send_publish(
                format!("samples.{stream}"),
                async_nats::jetstream::message::PublishMessage::build()
                    .payload(msg.encode().into())
                    .message_id(format!("{stream}:{seq}")),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
    };
    let streams = ["a", "b"];
    let (half, n) = (40u64, 80u64);
    for seq in 0..half {
        for s in streams {
            publish(s, seq).await;
        }
    }
    control(
        &client,
        "pipeline.promote",
        serde_json::json!({"pair": "sin-cos"}),
    )
    .await;
    for seq in half..n {
        for s in streams {
            publish(s, seq).await;
        }
    }
    // Read the output stream whole: each window stored once, under an id
    // that does not name the model.
    let windows = streams.len() * (n - W + 1) as usize;
    let consumer = js
        .get_stream("TRANSLATED")
        .await
        .unwrap()
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut got = Vec::new();
    while got.len() < windows {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .unwrap_or_else(|_| panic!("{} of {windows} windows stored", got.len()))
            .unwrap()
            .unwrap();
        let t = Translation::decode(&m.payload).unwrap();
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .unwrap();
        assert_eq!(id.as_str(), format!("{}:{}", m.subject, t.seq));
        got.push(t);
    }
    check_promotion(&by_window(&got), &streams, n, &live, &shadow, half - W + 1);
    let info = js
        .get_stream("TRANSLATED")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.state.messages, windows as u64, "nothing more stored");
    svc.shutdown().await;
}

/// `pipeline shadow|promote|reload|status` (the real binary) reach every
/// instance: two services on one server each answer once and each swaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_commands_reach_every_instance() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (candidate_path, live, shadow) = models(dir.path());
    let a = Svc::start(&server.url(), config()).await;
    let b = Svc::start(&server.url(), config()).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let url = server.url();
    let cli = |args: Vec<String>| cli(&url, args);
    // The live and shadow ids of every instance, from `pipeline status`.
    let status = || async {
        let (ok, out, err) = cli(vec!["status".into(), "--json".into()]).await;
        assert_eq!(ok, Some(0), "{err}");
        let mut ids: Vec<(String, String)> = out
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                // Every endpoint's data names the models (in no fixed order).
                let r = &v["endpoints"][0]["data"]["routes"][0];
                (r["model"].to_string(), r["shadow"].to_string())
            })
            .collect();
        ids.sort();
        ids
    };
    let q = |s: &str| format!("\"{s}\"");
    let both = |l: &str, s: &str| vec![(l.to_string(), s.to_string()); 2];

    let (ok, out, err) = cli(vec![
        "shadow".into(),
        "--model".into(),
        candidate_path.display().to_string(),
    ])
    .await;
    assert_eq!(ok, Some(0), "{out}{err}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok")).count(),
        2,
        "{out}"
    );
    assert_eq!(status().await, both(&q(&live.id), &q(&shadow.id)));

    let (ok, out, err) = cli(vec!["promote".into()]).await;
    assert_eq!(ok, Some(0), "{out}{err}");
    assert_eq!(status().await, both(&q(&shadow.id), "null"));

    // Promote again: nothing to promote anywhere, so it fails, saying why.
    let (ok, out, err) = cli(vec!["promote".into()]).await;
    assert_eq!(ok, Some(78), "every instance refused");
    assert_eq!(out.matches("no shadow").count(), 2, "{out}");
    assert!(err.contains("2 of 2"), "{err}");

    let (ok, out, err) = cli(vec!["reload".into()]).await;
    assert_eq!(ok, Some(0), "{out}{err}");
    assert_eq!(status().await, both(&q(&live.id), "null"));

    // Roll the reload back everywhere: the promoted model serves again.
    let (ok, out, err) = cli(vec!["rollback".into()]).await;
    assert_eq!(ok, Some(0), "{out}{err}");
    assert_eq!(
        out.matches(&format!("\"previous\":{}", q(&live.id)))
            .count(),
        2,
        "{out}"
    );
    assert_eq!(status().await, both(&q(&shadow.id), "null"));

    // Translations still go to one instance only.
    let window: Vec<f64> = (0..W).map(|s| input_at(s) as f64).collect();
    let req = rmp_serde::to_vec_named(&serde_json::json!({ "values": window })).unwrap();
    let replies = pipeline::fleet::gather(
        &client,
        "pipeline.translate",
        req,
        usize::MAX,
        Duration::from_millis(500),
    )
    .await
    .unwrap();
    assert_eq!(replies.len(), 1);
    a.shutdown().await;
    b.shutdown().await;
}
