//! A model trained on two loggers' files joined on the output's clock
//! (`pipeline join`), served as `join` prints it, on the clock the joined
//! file's first line says and the model records (the output's step): the
//! input logger's faster samples, stamped and not numbered, read at each
//! tick of that clock as their latest, make the windows of the joined
//! rows' input, window for window.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_models_faster_input_is_read_as_join_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let ms = 1_000_000i64;
    let step = 3_000 * ms;
    // The loggers' files of an hour and a half ago (a replay: a tick is read
    // when a later sample comes): the input a row a second, its clock 0 to
    // 400 ms late; the output a row every 3 s, 1.2 s off the epoch's grid
    // and up to 99 ms later (a logger launched at another moment).
    let first_tick = pipeline::wire::now_ns() / step - 1_800;
    let t0 = first_tick * step;
    let ticks = 80i64;
    let input_ns = |k: i64| t0 + k * 1_000 * ms + (k * 137 % 400) * ms;
    let mut text = String::from("t_ms,x\n");
    for k in 0..3 * ticks + 3 {
        text += &format!("{},{:.4}\n", input_ns(k) / ms, input_at(k as u64));
    }
    let input = dir.path().join("in.csv");
    std::fs::write(&input, text).unwrap();
    let mut text = String::from("t_ms,y\n");
    for j in 0..=ticks {
        let late = (1_200 + j * 37 % 100) * ms;
        text += &format!(
            "{},{:.4}\n",
            (t0 + j * step + late) / ms,
            truth_at(j as u64)
        );
    }
    let output = dir.path().join("out.csv");
    std::fs::write(&output, text).unwrap();
    let options = pipeline::recording::CsvOptions {
        input: pipeline::recording::Column::Name("x".into()),
        output: pipeline::recording::Column::Name("y".into()),
        time: vec![pipeline::recording::Column::Name("t_ms".into())],
        ..Default::default()
    };
    let joined = pipeline::recording::join::join(&[input, output.clone()], &options).unwrap();
    let (serve, how) = joined.serve(&output).unwrap();
    assert!(
        serve.starts_with("pipeline serve --model ") && serve.ends_with("out.safetensors"),
        "{serve}"
    );
    // Held as the join held it (3 s), at least a tick and a half.
    assert!(
        how.contains("(--resample 3s --max-gap 4500ms, its ticks 1.298 s into each step"),
        "{how}"
    );
    // The joined rows' input, a row per tick of the output's clock, after
    // the line that says the clock.
    let clock = pipeline::recording::join::JoinClock::of_text(&joined.text).unwrap();
    // Its ticks at the output's rows, at or after each of 99 in 100.
    assert_eq!(clock.phase_s, Some(1.298));
    let text = String::from_utf8(joined.text.clone()).unwrap();
    let rows: Vec<f32> = text
        .lines()
        .skip(2)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(rows.len() as i64, ticks + 1);
    // The model: trained on rows every 3 s, with the clock the joined file
    // says, as `retrain` records it; the route sets none.
    let model = dir.path().join("joined.safetensors");
    common::metrics_copy(
        &manifest().join("models/sin-cos.safetensors"),
        &model,
        |m| {
            m["time_step_s"] = serde_json::json!(3.0);
            m["joined"] = serde_json::json!(clock);
        },
    );
    let mut cfg = config();
    cfg.routes[0].model = Some(model);
    assert_eq!(
        (cfg.routes[0].resample, cfg.routes[0].max_gap),
        (None, None)
    );
    let (_server, svc, client, mut errors, mut out) = started(cfg).await;
    // The input logger's samples as its bridge sends them (ts, no seq),
    // and the joined rows' input as a numbered stream, one per tick.
    for k in 0..3 * ticks + 3 {
        let value = format!("{:.4}", input_at(k as u64));
        let json = format!("{{\"value\": {value}, \"ts\": {}}}", input_ns(k));
        client.publish("samples.logger", json.into()).await.unwrap();
    }
    for (j, x) in rows.iter().enumerate() {
        let msg = pipeline::wire::SamplesOut {
            seq: (first_tick + j as i64) as u64,
            value: Some(*x),
            values: None,
            ts: Some(t0 + j as i64 * step),
        };
        client
            .publish("samples.rows", msg.encode().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let per_stream = (ticks + 1) as usize - W as usize + 1;
    let got = collect(&mut out, 2 * per_stream, translation).await;
    assert_quiet(&mut out, Duration::from_millis(300)).await;
    let of = |stream: &str| -> Vec<(u64, Vec<f32>)> {
        let mut t: Vec<_> = (got.iter().filter(|t| t.stream == stream))
            .map(|t| (t.seq, t.values.clone()))
            .collect();
        t.sort_by_key(|(seq, _)| *seq);
        t
    };
    let (logger, rows) = (of("logger"), of("rows"));
    assert_eq!(logger.len(), per_stream);
    assert_eq!(logger, rows, "the logger's windows are the joined rows'");
    assert_eq!(logger[0].0, first_tick as u64);
    // Nothing refused, nothing said of the logger's rate.
    assert_quiet(&mut errors, Duration::from_millis(100)).await;
    let route = &stats_data(&client).await["routes"][0];
    assert_eq!(route["input_off_rate"].as_u64(), Some(0), "{route}");
    svc.shutdown().await;
}
