//! The NATS service endpoints: `pipeline.translate`, `$SRV` discovery, and hot reload.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_and_service_discovery() {
    let server = NatsServer::start();
    let mut cfg = config();
    cfg.routes.push(RouteConfig {
        input: "damped.>".into(),
        output: "translated-damped".into(),
        ..route("damped")
    });
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();

    let window: Vec<f64> = (0..W).map(|s| input_at(s) as f64).collect();
    let req = rmp_serde::to_vec_named(&serde_json::json!({ "values": window })).unwrap();
    let reply = client
        .request("pipeline.translate", req.into())
        .await
        .unwrap();
    assert!(reply.headers.is_none(), "no error headers on success");
    let t = translation(&reply.payload);
    assert_eq!(t.pair, "sin-cos", "default route");
    let direct =
        pipeline::format::load(&manifest().join("models/sin-cos.safetensors"), None).unwrap();
    let want = direct
        .fast
        .translate_rows(&window.iter().map(|v| *v as f32).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(t.values, want);

    let req = rmp_serde::to_vec_named(&serde_json::json!({ "values": window, "pair": "damped" }))
        .unwrap();
    let t = translation(
        &client
            .request("pipeline.translate", req.into())
            .await
            .unwrap()
            .payload,
    );
    assert_eq!(t.pair, "damped");

    // A JSON request (what `nats req` sends) gets the same translation, in JSON.
    let req = serde_json::json!({ "values": window }).to_string();
    let reply = client
        .request("pipeline.translate", req.into())
        .await
        .unwrap();
    assert_eq!(reply.payload.first(), Some(&b'{'), "a JSON answer");
    assert_eq!(translation(&reply.payload).values, want);

    for (body, code, says) in [
        (serde_json::json!({ "values": [1.0, 2.0] }), "400", ""),
        (
            serde_json::json!({ "values": window, "pair": "nope" }),
            "404",
            // Not "invalid configuration: …": the request is what is wrong.
            "no route serves pair \"nope\" (this instance serves \"sin-cos\", \"damped\")",
        ),
        (serde_json::json!({ "nothing": 1 }), "400", ""),
    ] {
        let req = rmp_serde::to_vec_named(&body).unwrap();
        let reply = client
            .request("pipeline.translate", req.into())
            .await
            .unwrap();
        assert_service_error(&reply, code, says);
        let text = reply.headers.as_ref().unwrap().get("Nats-Service-Error");
        assert!(
            !text.unwrap().as_str().contains("configuration"),
            "{text:?}"
        );
    }

    let info: serde_json::Value = serde_json::from_slice(
        &client
            .request("$SRV.INFO.pipeline", "".into())
            .await
            .unwrap()
            .payload,
    )
    .unwrap();
    assert_eq!(info["name"], "pipeline");
    // Endpoints come in no particular order.
    let subjects: Vec<&str> = info["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert!(subjects.contains(&"pipeline.translate") && subjects.contains(&"pipeline.reload"));
    assert_eq!(info["metadata"]["pairs"], "sin-cos,damped");

    // Stats include our counters.
    send_curve(&client, "st", 0..30).await;
    client.flush().await.unwrap();
    for _ in 0..100 {
        if svc.stats.snapshot().windows_out == 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats: serde_json::Value = serde_json::from_slice(
        &client
            .request("$SRV.STATS.pipeline", "".into())
            .await
            .unwrap()
            .payload,
    )
    .unwrap();
    let translate = stats["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == "pipeline.translate")
        .unwrap()
        .clone();
    let data = &translate["data"];
    assert_eq!(data["samples_in"], 30);
    assert_eq!(data["windows_out"], 7);
    assert!(data["batches"].as_u64().unwrap() >= 1);
    assert!(data["mean_batch_size"].as_f64().unwrap() >= 1.0);
    assert_eq!(data["errors"]["malformed"], 0);
    assert!(translate["num_requests"].as_u64().unwrap() >= 5);
    // A control endpoint reports the models it acts on, not the counters.
    let reload = pipeline::fleet::endpoint_data(&stats, "reload").unwrap();
    assert_eq!(reload["routes"][0]["pair"], "sin-cos", "{reload}");
    assert!(reload["routes"][0]["model"].is_string(), "{reload}");
    assert!(reload.get("samples_in").is_none(), "{reload}");
    // On two routes, shadow, promote and rollback name their pair: without
    // one they are refused (they changed the first route, whatever model
    // was named).
    let damped = manifest().join("models/damped.safetensors");
    for (subject, body) in [
        ("pipeline.shadow", serde_json::json!({ "model": damped })),
        ("pipeline.shadow", serde_json::json!({})),
        ("pipeline.promote", serde_json::json!({})),
        ("pipeline.rollback", serde_json::json!({})),
    ] {
        let reply = client
            .request(subject, body.to_string().into())
            .await
            .unwrap();
        assert_service_error(
            &reply,
            "422",
            "serves 2 routes (\"sin-cos\", \"damped\"): name one",
        );
    }
    let body = serde_json::json!({ "model": damped, "pair": "damped" });
    let reply = client
        .request("pipeline.shadow", body.to_string().into())
        .await
        .unwrap();
    assert!(reply.headers.is_none(), "{:?}", reply.headers);
    let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(answer["pair"], "damped", "{answer}");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_swaps_the_model_and_a_bad_file_keeps_the_old_one() {
    let server = NatsServer::start();
    let svc = Svc::start(&server.url(), config()).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("translated.hot").await.unwrap();
    client.flush().await.unwrap();
    let models = manifest().join("models");
    let sin = pipeline::format::load(&models.join("sin-cos.safetensors"), None).unwrap();
    let damped = pipeline::format::load(&models.join("damped.safetensors"), None).unwrap();

    send_curve(&client, "hot", 0..24).await;
    client.flush().await.unwrap();
    let before = collect(&mut sub, 1, translation).await;
    assert_eq!(before[0].model, sin.id);

    // Swap in another model file (same window) for the sin-cos route.
    let req = rmp_serde::to_vec_named(&serde_json::json!({
        "pair": "sin-cos",
        "model": models.join("damped.safetensors"),
    }))
    .unwrap();
    let reply = client.request("pipeline.reload", req.into()).await.unwrap();
    assert!(reply.headers.is_none(), "{:?}", reply.headers);
    let v: serde_json::Value = rmp_serde::from_slice(&reply.payload).unwrap();
    assert_eq!(v["reloaded"][0][1], damped.id.as_str());
    send_curve(&client, "hot", 24..25).await;
    client.flush().await.unwrap();
    let after = collect(&mut sub, 1, translation).await;
    assert_eq!(
        (after[0].seq, after[0].model.as_str()),
        (1, damped.id.as_str())
    );
    let window: Vec<f32> = (1..25).map(input_at).collect();
    assert_eq!(
        after[0].values,
        damped.fast.translate_rows(&window).unwrap()
    );

    // A corrupt file and an incompatible one are refused; damped keeps serving.
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.safetensors");
    std::fs::write(&corrupt, b"garbage").unwrap();
    let short = dir.path().join("short.safetensors");
    let bytes = std::fs::read(models.join("sin-cos.safetensors")).unwrap();
    // The same weights declared with a 12-sample window.
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    meta.insert("window".into(), "12".into());
    std::fs::write(
        &short,
        safetensors::serialize(st.tensors(), Some(meta)).unwrap(),
    )
    .unwrap();
    for (path, needle) in [(&corrupt, "not a safetensors file"), (&short, "window 12")] {
        let req = rmp_serde::to_vec_named(&serde_json::json!({"pair": "sin-cos", "model": path}))
            .unwrap();
        let reply = client.request("pipeline.reload", req.into()).await.unwrap();
        assert_service_error(&reply, "422", needle);
    }
    send_curve(&client, "hot", 25..26).await;
    client.flush().await.unwrap();
    assert_eq!(collect(&mut sub, 1, translation).await[0].model, damped.id);

    // Text that is neither JSON nor MessagePack says what a request is.
    let reply = client
        .request("pipeline.reload", "garbage".into())
        .await
        .unwrap();
    assert_service_error(
        &reply,
        "400",
        "not a reload request: neither a JSON object nor a MessagePack map",
    );

    // An unknown pair is not found on a control endpoint too, as on translate.
    let req = serde_json::to_vec(&serde_json::json!({"pair": "nope"})).unwrap();
    let reply = client.request("pipeline.reload", req.into()).await.unwrap();
    assert_service_error(&reply, "404", "no route serves pair \"nope\"");

    // An empty request reloads every route from its configured file.
    let reply = client.request("pipeline.reload", "".into()).await.unwrap();
    let v: serde_json::Value = rmp_serde::from_slice(&reply.payload).unwrap();
    assert_eq!(v["reloaded"][0][1], sin.id.as_str());
    send_curve(&client, "hot", 26..27).await;
    client.flush().await.unwrap();
    assert_eq!(collect(&mut sub, 1, translation).await[0].model, sin.id);
    svc.shutdown().await;
}

/// Shadows set by requests on two routes whose shadow outputs would share
/// subjects (the default `shadow` prefix, inputs ending in `>`): the second
/// is refused, as the configuration refuses it, and serves once the first
/// stops or where the route has a shadow output of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_routes_shadows_on_one_subject_are_refused() {
    let server = NatsServer::start();
    let mut cfg = config();
    let damped = RouteConfig {
        input: "damped.>".into(),
        output: "translated-damped".into(),
        ..route("damped")
    };
    cfg.routes.push(damped.clone());
    let mut own = RouteConfig {
        input: "own.>".into(),
        output: "translated-own".into(),
        ..route("damped")
    };
    own.pair = "own".into();
    own.model = Some(manifest().join("models/damped.safetensors"));
    own.shadow.output = "shadow-own".into();
    cfg.routes.push(own);
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let model = manifest().join("models/sin-cos.safetensors");
    let shadow = async |pair: &str, with: bool| {
        let req = match with {
            true => serde_json::json!({"pair": pair, "model": model}),
            false => serde_json::json!({"pair": pair}),
        };
        let reply = (client.request("pipeline.shadow", req.to_string().into()))
            .await
            .unwrap();
        let error = reply
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Service-Error").map(|v| v.as_str().to_string()));
        error.unwrap_or_default()
    };
    assert_eq!(shadow("sin-cos", true).await, "");
    let refused = shadow("damped", true).await;
    assert!(
        refused.contains("route \"sin-cos\" shadows now")
            && refused.contains("[route.shadow] output"),
        "{refused}"
    );
    // Its own shadow output: no overlap.
    assert_eq!(shadow("own", true).await, "");
    // The first one's shadow stopped: the second may shadow.
    assert_eq!(shadow("sin-cos", false).await, "");
    assert_eq!(shadow("damped", true).await, "");
    svc.shutdown().await;
}

/// `tail` says which models translated what it saw: after a reload, the
/// new model from its first window on (an operator's check that the swap
/// took, and where); after a rollback, the first one again, as a run of
/// its own (it was merged into the first run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_says_from_which_window_a_reloaded_model_serves() {
    let server = NatsServer::start();
    let svc = Svc::start(&server.url(), config()).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("translated.swap").await.unwrap();
    client.flush().await.unwrap();
    let tail = tail_in_background(&client, "translated.swap", 7 + 30 + 20).await;
    send_curve(&client, "swap", 0..30).await;
    client.flush().await.unwrap();
    collect(&mut sub, 7, translation).await;
    let damped = manifest().join("models/damped.safetensors");
    let req = serde_json::json!({"pair": "sin-cos", "model": damped});
    let reply = (client.request("pipeline.reload", req.to_string().into()))
        .await
        .unwrap();
    assert!(reply.headers.is_none(), "{:?}", reply.headers);
    send_curve(&client, "swap", 30..60).await;
    client.flush().await.unwrap();
    collect(&mut sub, 30, translation).await;
    let reply = (client.request("pipeline.rollback", "{}".into()))
        .await
        .unwrap();
    assert!(reply.headers.is_none(), "{:?}", reply.headers);
    send_curve(&client, "swap", 60..80).await;
    client.flush().await.unwrap();
    let seen = tail.await.unwrap().unwrap();
    let load = |f: &str| {
        pipeline::format::load(&manifest().join(f), None)
            .unwrap()
            .id
    };
    let models: Vec<(String, u64, (String, u64))> = (seen.models.iter())
        .map(|m| (m.model.clone(), m.windows, m.first.clone()))
        .collect();
    assert_eq!(
        models,
        [
            (load("models/sin-cos.safetensors"), 7, ("swap".into(), 0)),
            (load("models/damped.safetensors"), 30, ("swap".into(), 7)),
            (load("models/sin-cos.safetensors"), 20, ("swap".into(), 37)),
        ]
    );
    assert_eq!((seen.repeated, seen.out_of_order, seen.missing), (0, 0, 0));
    svc.shutdown().await;
}
