use super::*;

fn sin_cos() -> LoadedModel {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/sin-cos.safetensors");
    crate::format::load(&path, None).unwrap()
}

fn cfg(threshold: Option<f64>, windows: usize, side: Side) -> DeviationConfig {
    DeviationConfig {
        threshold,
        windows,
        side,
        ..Default::default()
    }
}

/// A watch over windows of W = 2 under `cfg`, the model's generation 0.
fn watching(cfg: DeviationConfig) -> (Deviations, Watch) {
    let mut d = Deviations::new(cfg, "p");
    assert!(d.follow(0, &sin_cos()));
    (d, Watch::default())
}

/// A window at `seq` whose truth lies `by` above its translation.
fn window(d: &mut Deviations, w: &mut Watch, seq: u64, by: f32) {
    let live = [1.0, 3.0];
    let truth = [1.0 + by, 3.0 + by];
    let s = Scored {
        seq,
        ts: Some(seq as i64),
        live: &live,
        truth: &truth,
    };
    d.scored(w, "a", 2, s);
}

fn states(events: &[DeviationEvent]) -> Vec<(DeviationState, u64)> {
    events.iter().map(|e| (e.state, e.seq)).collect()
}

/// Without a threshold, 3 × the model's held-out RMSE (a recording's
/// validation MSE first, a synthetic pair's random windows' otherwise);
/// a threshold set wins; neither: no rule, said why.
#[test]
fn the_threshold_is_set_or_three_held_out_rmses() {
    let mut m = sin_cos();
    let ar = m.meta.metrics.as_ref().unwrap()["ar_mse_random"]
        .as_f64()
        .unwrap();
    let r = Rule::of(&cfg(None, 4, Side::Both), &m).unwrap();
    assert!((r.threshold - 3.0 * ar.sqrt()).abs() < 1e-12, "{r:?}");
    assert_eq!(
        Rule::of(&cfg(Some(2.5), 4, Side::Both), &m)
            .unwrap()
            .threshold,
        2.5
    );
    if let Some(serde_json::Value::Object(o)) = m.meta.metrics.as_mut() {
        o.insert(
            "validation".into(),
            serde_json::json!({"model": {"mse": 4.0, "nmse": 0.1}, "held_out": true}),
        );
    }
    assert_eq!(
        Rule::of(&cfg(None, 4, Side::Both), &m).unwrap().threshold,
        6.0
    );
    // Scored on its own training rows (`--validate 0`): not taken.
    if let Some(serde_json::Value::Object(o)) = m.meta.metrics.as_mut() {
        o.insert(
            "validation".into(),
            serde_json::json!({"model": {"mse": 4.0}, "held_out": false, "never_seen": false}),
        );
        o.remove("ar_mse_random");
    }
    assert!(Rule::of(&cfg(None, 4, Side::Both), &m).is_err());
    m.meta.metrics = None;
    let why = Rule::of(&cfg(None, 4, Side::Both), &m).unwrap_err();
    assert!(
        why.contains("no held-out error") && why.contains("threshold"),
        "{why}"
    );
    assert!(Rule::of(&cfg(Some(1.0), 4, Side::Both), &m).is_ok());
}

/// A deviation begins where the mean over the last windows sharing no
/// sample passes the threshold (overlapping windows are not counted
/// twice), and ends back within half of it, not before.
#[test]
fn a_deviation_begins_past_the_threshold_and_ends_within_half() {
    let (mut d, mut w) = watching(cfg(Some(1.0), 2, Side::Both));
    let mut c = CompareSnapshot::default();
    window(&mut d, &mut w, 0, 0.0);
    window(&mut d, &mut w, 2, 1.5);
    // Mean 0.75 over windows 0 and 2; window 3 overlaps 2 and is not taken.
    window(&mut d, &mut w, 3, 9.0);
    assert!(d.take(&mut c).is_empty());
    window(&mut d, &mut w, 4, 1.5); // windows 2 and 4: mean 1.5
    let e = d.take(&mut c);
    assert_eq!(states(&e), vec![(DeviationState::Begin, 4)]);
    assert_eq!(
        (e[0].mean_difference, e[0].threshold, e[0].windows),
        (1.5, 1.0, 2)
    );
    assert_eq!(
        (e[0].stream.as_str(), e[0].pair.as_str(), e[0].ts),
        ("a", "p", Some(4))
    );
    assert_eq!(e[0].model, sin_cos().id);
    let s = c.clone();
    assert_eq!((s.deviations, s.deviating), (1, 1));
    assert_eq!(s.deviating_streams, vec![("a".to_string(), 1.5)]);
    // 0.8, then 0.6: over half the threshold, still deviating.
    window(&mut d, &mut w, 6, 0.1);
    window(&mut d, &mut w, 8, 1.1);
    assert!(d.take(&mut c).is_empty());
    let named = c.clone().deviating_streams;
    assert!(
        named.len() == 1 && (named[0].1 - 0.6).abs() < 1e-6,
        "{named:?}"
    );
    window(&mut d, &mut w, 10, -0.2); // 0.45
    let e = d.take(&mut c);
    assert_eq!(states(&e), vec![(DeviationState::End, 10)]);
    let s = c.clone();
    assert_eq!((s.deviations, s.deviating), (1, 0));
    assert!(s.deviating_streams.is_empty());
}

/// A gain changed (a bearing seizing: the error swings with the input,
/// through 0): the mean comes back within half the threshold while each
/// window's own mean lies far beyond it; the deviation does not end until
/// no window's mean lies beyond twice the threshold.
#[test]
fn a_deviation_whose_error_swings_through_zero_does_not_end() {
    let (mut d, mut w) = watching(cfg(Some(1.0), 2, Side::Both));
    let mut c = CompareSnapshot::default();
    window(&mut d, &mut w, 0, 3.0);
    window(&mut d, &mut w, 2, 3.0);
    assert_eq!(states(&d.take(&mut c)), vec![(DeviationState::Begin, 2)]);
    for (seq, by) in [(4, -3.0), (6, 3.0), (8, -3.0)] {
        window(&mut d, &mut w, seq, by); // means 0, each window's 3 away
    }
    assert!(d.take(&mut c).is_empty(), "no end while the error stays");
    assert_eq!(c.clone().deviating, 1);
    window(&mut d, &mut w, 10, 0.5); // mean -1.25
    window(&mut d, &mut w, 12, 0.1); // mean 0.3, each window's within
    assert_eq!(states(&d.take(&mut c)), vec![(DeviationState::End, 12)]);
}

/// `below` counts only a truth under its translation, `above` only over;
/// `both` either.
#[test]
fn a_side_counts_one_sign() {
    for (side, by, begins) in [
        (Side::Below, 2.0, false),
        (Side::Below, -2.0, true),
        (Side::Above, -2.0, false),
        (Side::Above, 2.0, true),
        (Side::Both, -2.0, true),
    ] {
        let (mut d, mut w) = watching(cfg(Some(1.0), 1, side));
        window(&mut d, &mut w, 0, by);
        let e = d.take(&mut CompareSnapshot::default());
        assert_eq!(e.len(), usize::from(begins), "{side:?} {by}");
    }
}

/// A window behind the last one taken (out of order: batches of two
/// compute threads) is skipped, one far behind starts the count afresh; a
/// model change starts every mean again; a deviating stream whose watch
/// stops is said to have stopped, once.
#[test]
fn counts_started_again_models_changed_and_watches_stopped() {
    let (mut d, mut w) = watching(cfg(Some(1.0), 2, Side::Both));
    let mut c = CompareSnapshot::default();
    window(&mut d, &mut w, 5000, 5.0);
    window(&mut d, &mut w, 4990, 0.0); // out of order: skipped
    window(&mut d, &mut w, 5024, 5.0);
    assert_eq!(states(&d.take(&mut c)), vec![(DeviationState::Begin, 5024)]);
    window(&mut d, &mut w, 0, 0.0); // its count started again: a mean of one
    window(&mut d, &mut w, 24, 0.0);
    assert_eq!(states(&d.take(&mut c)), vec![(DeviationState::End, 24)]);
    window(&mut d, &mut w, 48, 5.0); // 0 and 5: a mean of 2.5
    assert_eq!(states(&d.take(&mut c)), vec![(DeviationState::Begin, 48)]);
    // A newer model: means start again; an older batch changes nothing.
    assert!(!d.follow(0, &sin_cos()));
    assert!(d.judges(0) && !d.judges(1));
    assert!(d.follow(1, &sin_cos()));
    assert!(d.judges(1) && !d.judges(0));
    Deviations::restart(&mut w);
    window(&mut d, &mut w, 96, 0.0);
    assert!(
        d.take(&mut c).is_empty(),
        "one window of the new model is no mean"
    );
    assert!(!w.unjudged_for(std::time::Duration::from_secs(60)));
    assert!(
        w.unjudged_for(std::time::Duration::ZERO),
        "deviating, judged before now"
    );
    d.stop("a", &mut w, "forgotten");
    let e = d.take(&mut c);
    assert_eq!(states(&e), vec![(DeviationState::Stopped, 96)]);
    assert_eq!(
        (e[0].mean_difference, e[0].reason.as_deref()),
        (2.5, Some("forgotten"))
    );
    let s = c.clone();
    assert_eq!((s.deviating, s.deviations_stopped), (0, 1));
    assert!(
        !w.unjudged_for(std::time::Duration::ZERO),
        "no longer deviating"
    );
    d.stop("a", &mut w, "forgotten");
    assert!(d.take(&mut c).is_empty(), "said once");
}

/// A model that gives no threshold stops the watch (the last rule is
/// kept for what is said of streams deviating under it).
#[test]
fn a_model_without_a_threshold_stops_the_watch() {
    let (mut d, mut w) = watching(cfg(None, 1, Side::Both));
    let mut c = CompareSnapshot::default();
    window(&mut d, &mut w, 0, 1.0);
    assert_eq!(d.take(&mut c).len(), 1);
    let mut bare = sin_cos();
    bare.meta.metrics = None;
    assert!(d.follow(1, &bare));
    assert!(d.rule().is_none() && !d.judges(1));
    window(&mut d, &mut w, 2, 0.0);
    assert!(d.take(&mut c).is_empty());
    d.stop("a", &mut w, "no threshold");
    let e = d.take(&mut c);
    assert_eq!(states(&e), vec![(DeviationState::Stopped, 0)]);
    assert_eq!(e[0].reason.as_deref(), Some("no threshold"));
    assert_eq!(c.clone().deviating, 0);
}

/// The events read back in both formats.
#[test]
fn events_read_back_in_both_formats() {
    let (mut d, mut w) = watching(cfg(Some(1.0), 1, Side::Both));
    window(&mut d, &mut w, 0, -3.0);
    let e = d.take(&mut CompareSnapshot::default()).remove(0);
    for format in [crate::wire::Format::Json, crate::wire::Format::Msgpack] {
        let bytes = e.encode_as(format);
        assert_eq!(DeviationEvent::decode(&bytes).unwrap(), e);
    }
    let json: serde_json::Value =
        serde_json::from_slice(&e.encode_as(crate::wire::Format::Json)).unwrap();
    assert_eq!(json["state"], "begin");
    assert_eq!(json["mean_difference"], -3.0);
    assert!(json.get("reason").is_none());
}

/// Windows longer than the restart distance (W = 2,000) are judged: the
/// next window taken is W on, not a restart; and every window that meets
/// its truth, taken or not, keeps a deviating stream watched (on a slow
/// clock the windows taken are hours apart).
#[test]
fn long_windows_are_judged_and_skipped_windows_keep_the_watch() {
    let (mut d, mut w) = watching(cfg(Some(1.0), 2, Side::Both));
    let c = &mut CompareSnapshot::default();
    let (live, truth) = ([0.0f32, 0.0], [5.0f32, 5.0]);
    let judge = |d: &mut Deviations, w: &mut Watch, seq: u64| {
        let s = Scored {
            seq,
            ts: None,
            live: &live,
            truth: &truth,
        };
        d.scored(w, "a", 2_000, s);
    };
    for seq in [0, 1, 2, 1_999, 2_000] {
        judge(&mut d, &mut w, seq);
    }
    assert_eq!(states(&d.take(c)), vec![(DeviationState::Begin, 2_000)]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(w.unjudged_for(std::time::Duration::from_millis(10)));
    judge(&mut d, &mut w, 2_001); // overlaps the last taken: skipped
    assert!(!w.unjudged_for(std::time::Duration::from_millis(10)));
    assert!(d.take(c).is_empty());
}

/// `eval`'s line says the watch's span in time where the recording has a
/// time step (4 windows of 4 rows of 15 minutes: four hours), and where
/// the first deviation's window ends, as located.
#[test]
fn the_replay_line_says_the_span_in_time_and_where_it_began() {
    let cfg = cfg(None, 4, Side::Both);
    let (w, n) = (4, 100);
    let truth: Vec<f32> = (0..w * n)
        .map(|i| if i >= 40 * w { 5.0 } else { 0.0 })
        .collect();
    let pred = vec![0.0f32; w * n];
    let mut r = replay(&cfg, 1.0, &[("a.csv".into(), n)], w, &pred, &truth);
    assert_eq!(r.first_begun, vec![("a.csv".to_string(), 40)]);
    r.locate(&|part, k| (part == 0).then(|| format!("data row {}", k + 3)));
    r.step_s = Some(900.0);
    let line = r.line("given", None);
    assert!(
        line.contains("(4 rows each, sharing none, 4.0 h in all)")
            && line.contains(
                "it begins on a.csv's window ending at data row 43 and is on to its last window"
            )
            && line.contains("the largest mean, 5.000 on a.csv (to data row 55)"),
        "{line}"
    );
    // Two faults, the first over: each deviation with where it ends.
    let truth: Vec<f32> = (0..w * n)
        .map(|i| {
            if (40 * w..60 * w).contains(&i) || i >= 80 * w {
                5.0
            } else {
                0.0
            }
        })
        .collect();
    let mut r = replay(&cfg, 1.0, &[("a.csv".into(), n)], w, &pred, &truth);
    r.locate(&|part, k| (part == 0).then(|| format!("data row {}", k + 3)));
    let ends: Vec<Option<u64>> = r.spans.iter().map(|s| s.end).collect();
    assert_eq!(
        r.spans.iter().map(|s| s.begin).collect::<Vec<_>>(),
        [40, 80]
    );
    assert!(
        matches!(ends[..], [Some(e), None] if e > 60 && e < 80),
        "{ends:?}"
    );
    assert_eq!(r.deviations.len(), 2);
    let line = r.line("given", None);
    let end = ends[0].unwrap() + 3;
    assert!(
        line.contains(&format!(
            "they begin on the windows ending at data row 43 (to data row {end}); data row 83 \
             (to the last window)"
        )),
        "{line}"
    );
}
