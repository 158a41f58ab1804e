//! The windows' and stream keys' tests.

use super::*;

fn run(
    w: &mut StreamWindow,
    seq: u64,
    vals: &[f32],
    stride: u64,
) -> (Outcome, Vec<(u64, Vec<f32>)>) {
    let mut got = Vec::new();
    let o = w.accept(seq, vals, stride, |s, win| got.push((s, win.to_vec())));
    (o, got)
}

#[test]
fn stride_one_emits_every_sample_after_the_first_w() {
    let mut w = StreamWindow::new(3);
    let vals: Vec<f32> = (0..10).map(|v| v as f32).collect();
    let (o, got) = run(&mut w, 100, &vals, 1);
    assert_eq!(o.windows, 8);
    assert_eq!(got[0], (100, vec![0.0, 1.0, 2.0]));
    assert_eq!(got[7], (107, vec![7.0, 8.0, 9.0]));
    // Windows keep coming across message boundaries and buffer wraps.
    let (_, got) = run(&mut w, 110, &[10.0], 1);
    assert_eq!(got, vec![(108, vec![8.0, 9.0, 10.0])]);
}

#[test]
fn stride_n_and_gaps() {
    let mut w = StreamWindow::new(4);
    let vals: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let (_, got) = run(&mut w, 0, &vals, 3);
    let starts: Vec<u64> = got.iter().map(|g| g.0).collect();
    assert_eq!(starts, vec![0, 3, 6]);
    // Gap: seq 20 instead of 12. The window restarts; no window spans it.
    let (o, got) = run(&mut w, 20, &[20.0, 21.0, 22.0], 3);
    assert_eq!(o.gap, Some((12, 20)));
    assert!(got.is_empty());
    let (_, got) = run(&mut w, 23, &[23.0], 3);
    assert_eq!(got, vec![(20, vec![20.0, 21.0, 22.0, 23.0])]);
}

#[test]
fn duplicates_and_old_samples_are_dropped() {
    let mut w = StreamWindow::new(2);
    run(&mut w, 5, &[5.0, 6.0], 1);
    let (o, got) = run(&mut w, 6, &[6.5], 1);
    assert_eq!((o.out_of_order, o.accepted), (1, 0));
    assert!(got.is_empty());
    // Overlapping message: the old part is dropped, the new part used.
    let (o, got) = run(&mut w, 5, &[0.0, 0.0, 7.0], 1);
    assert_eq!((o.out_of_order, o.accepted, o.gap), (2, 1, None));
    assert_eq!(got, vec![(6, vec![6.0, 7.0])]);
}

/// A publisher that starts its count again (seq 0, stamped later than any
/// message before) starts the stream over; seq 0 again with an old stamp
/// (a replay, a redelivery) or none is out of order, as before.
#[test]
fn a_publisher_restarting_its_count_starts_the_stream_over() {
    let sec = 1_000_000_000i64;
    let t0 = 1_800_000_000 * sec;
    let mut w = StreamWindow::new(2);
    for seq in 0..10u64 {
        assert_eq!(w.recount(seq, Some(t0 + seq as i64 * sec)), None);
        run(&mut w, seq, &[seq as f32], 1);
    }
    // Replayed with its old stamps, or without any: dropped.
    assert_eq!(w.recount(0, Some(t0)), None);
    assert_eq!(w.recount(0, None), None);
    let (o, _) = run(&mut w, 0, &[0.0], 1);
    assert_eq!((o.out_of_order, o.accepted), (1, 0));
    // Restarted 2 s later (stamps in seconds, as time.time() gives them).
    assert_eq!(w.recount(0, Some(rule_ns(t0 / sec + 11))), Some(10));
    let (o, got) = run(&mut w, 0, &[0.5], 1);
    assert_eq!((o.accepted, o.gap, got.len()), (1, None, 0));
    let (_, got) = run(&mut w, 1, &[1.5], 1);
    assert_eq!(got, vec![(0, vec![0.5, 1.5])]);
    // Later messages of the new count go on as any.
    assert_eq!(w.recount(2, Some(t0 + 13 * sec)), None);

    // A cycler's next test: seq and its clock since the start both begin
    // again (in core NATS, which redelivers nothing; seq 0 not stamped
    // back stays dropped).
    let mut w = StreamWindow::new(2);
    for seq in 0..10u64 {
        assert_eq!(w.recount(seq, Some(rule_ns(100 + seq as i64))), None);
        run(&mut w, seq, &[seq as f32], 1);
    }
    assert_eq!(w.recount(0, Some(rule_ns(109))), None);
    assert_eq!(w.recount(0, Some(rule_ns(1))), Some(10));
    // Its own Data_Point counts from 1.
    let mut w = StreamWindow::new(2);
    for seq in 1..10u64 {
        assert_eq!(w.recount(seq, Some(rule_ns(100 + seq as i64))), None);
        run(&mut w, seq, &[seq as f32], 1);
    }
    assert_eq!(w.recount(1, Some(rule_ns(2))), Some(10));
}

#[test]
fn windows_match_a_naive_reference_for_any_chunking() {
    // Property-style: random chunking, random gaps, compare with a naive model.
    let mut rng = crate::rng::Rng::new(11);
    for _ in 0..200 {
        let (win, stride) = (1 + rng.below(6), 1 + rng.below(4) as u64);
        let mut w = StreamWindow::new(win);
        let mut naive: Vec<(u64, f32)> = Vec::new();
        let (mut seq, mut got, mut want) = (0u64, Vec::new(), Vec::new());
        for _ in 0..30 {
            if rng.below(8) == 0 {
                seq += 1 + rng.below(5) as u64; // gap
                naive.clear();
            }
            let n = 1 + rng.below(5);
            let vals: Vec<f32> = (0..n).map(|i| (seq + i as u64) as f32).collect();
            for (i, &v) in vals.iter().enumerate() {
                naive.push((seq + i as u64, v));
                if naive.len() >= win && ((naive.len() - win) as u64).is_multiple_of(stride) {
                    let tail = &naive[naive.len() - win..];
                    want.push((tail[0].0, tail.iter().map(|x| x.1).collect::<Vec<_>>()));
                }
            }
            w.accept(seq, &vals, stride, |s, x| got.push((s, x.to_vec())));
            seq += n as u64;
        }
        assert_eq!(got, want);
    }
}

/// A window saved at any point and restored continues exactly as the
/// original: same windows, same stride alignment, same gap handling.
#[test]
fn saved_and_restored_windows_continue_exactly() {
    let mut rng = crate::rng::Rng::new(5);
    for _ in 0..200 {
        let (win, stride) = (1 + rng.below(6), 1 + rng.below(3) as u64);
        // `original` is never saved; `restored` is rebuilt from a save
        // at a random step. Both must emit the same windows throughout.
        let mut original = StreamWindow::new(win);
        let mut restored = StreamWindow::new(win);
        let save_at = rng.below(20);
        let mut seq = rng.below(3) as u64;
        for step in 0..20 {
            if step == save_at {
                let saved = restored.save();
                assert!(saved.tail.len() < win.max(2));
                restored = StreamWindow::restore(win, &saved).unwrap();
                assert_eq!(restored.save(), saved);
            }
            if rng.below(9) == 0 {
                seq += 2;
            }
            let n = 1 + rng.below(4);
            let vals: Vec<f32> = (0..n).map(|_| rng.below(100) as f32).collect();
            let (mut want, mut got) = (Vec::new(), Vec::new());
            original.accept(seq, &vals, stride, |s, x| want.push((s, x.to_vec())));
            restored.accept(seq, &vals, stride, |s, x| got.push((s, x.to_vec())));
            assert_eq!(got, want);
            seq += vals.len() as u64;
        }
    }
    // (next_seq, run, why it cannot be restored)
    for (next, run, why) in [
        (9, 2, "tail longer than the run"),
        (3, 5, "run longer than the stream"),
    ] {
        let bad = SavedWindow {
            next_seq: Some(next),
            run,
            tail: vec![0.0; 3],
            last_ts: None,
            unnumbered: false,
            hold: None,
        };
        assert!(StreamWindow::restore(4, &bad).is_err(), "{why}");
    }

    // Written with W = 5 (tail of 4), restored with W = 3 and W = 8.
    let mut w5 = StreamWindow::new(5);
    let vals: Vec<f32> = (0..10).map(|v| v as f32).collect();
    run(&mut w5, 0, &vals, 1);
    let saved = w5.save();
    let mut w3 = StreamWindow::restore(3, &saved).unwrap();
    let (_, got) = run(&mut w3, 10, &[10.0], 1);
    assert_eq!(
        got,
        vec![(8, vec![8.0, 9.0, 10.0])],
        "smaller W: windows at once"
    );
    let mut w8 = StreamWindow::restore(8, &saved).unwrap();
    let (_, got) = run(&mut w8, 10, &[10.0, 11.0, 12.0], 1);
    assert!(got.is_empty(), "larger W: not enough samples yet");
    let (_, got) = run(&mut w8, 13, &[13.0], 1);
    assert_eq!(got, vec![(6, (6..14).map(|v| v as f32).collect())]);
}

/// Feeds one stamped message under `gaps`; what it did and emitted.
fn at(
    w: &mut StreamWindow,
    seq: u64,
    vals: &[f32],
    ts: Option<i64>,
    gaps: TimeGaps,
) -> (Outcome, Vec<u64>) {
    let mut got = Vec::new();
    let time = ts.map(|t| (t, gaps));
    let o = w.accept_at(seq, vals, time, 1, |s, _| got.push(s));
    (o, got)
}

/// A jump in `ts` past the rule's gap restarts the window, as a jump in
/// `seq` does; so does time going back. The samples of a message of
/// several are taken one step apart; a seq gap is said as that alone.
#[test]
fn a_jump_in_time_restarts_the_window() {
    let gaps = TimeGaps {
        max_gap_ns: 30,
        step_ns: 10,
    };
    let mut w = StreamWindow::new(3);
    for i in 0..3 {
        at(&mut w, i, &[0.0], Some(10 * i as i64), gaps);
    }
    // 30 after the last: within the gap, a window.
    let (o, got) = at(&mut w, 3, &[0.0], Some(50), gaps);
    assert_eq!((o.time_gap, got), (None, vec![1]));
    // 31 after it: the window restarts, nothing is emitted until W
    // samples after the jump are in hand.
    let (o, got) = at(&mut w, 4, &[0.0], Some(81), gaps);
    let jump = TimeGap {
        seq: 4,
        after_seq: 3,
        elapsed_ns: 31,
    };
    assert_eq!((o.time_gap, got, o.accepted), (Some(jump), vec![], 1));
    let (_, got) = at(&mut w, 5, &[0.0, 0.0], Some(91), gaps);
    assert_eq!(got, vec![4]);

    // Five samples stamped 200 (seq 7..=11), the next message at seq 12:
    // its first sample is 4 steps after 200 + 30 at most.
    at(&mut w, 7, &[0.0; 5], Some(200), gaps);
    let (o, got) = at(&mut w, 12, &[0.0], Some(270), gaps);
    assert_eq!((o.time_gap, got), (None, vec![10]));
    let (o, _) = at(&mut w, 13, &[0.0], Some(301), gaps);
    assert_eq!(o.time_gap.map(|g| g.elapsed_ns), Some(31));

    // Time going back restarts the window too, as training splits there.
    at(&mut w, 14, &[0.0; 3], Some(311), gaps);
    let (o, got) = at(&mut w, 17, &[0.0], Some(300), gaps);
    assert_eq!(o.time_gap.map(|g| g.elapsed_ns), Some(-11));
    assert!(got.is_empty());

    // A jump in both: the seq gap is what is said.
    let (o, _) = at(&mut w, 30, &[0.0], Some(10_000), gaps);
    assert_eq!((o.gap, o.time_gap), (Some((18, 30)), None));

    // A duplicate with an old stamp changes nothing.
    at(&mut w, 31, &[0.0], Some(10_010), gaps);
    let (o, _) = at(&mut w, 30, &[0.0], Some(0), gaps);
    assert_eq!((o.out_of_order, o.time_gap), (1, None));
    let (o, got) = at(&mut w, 32, &[0.0], Some(10_020), gaps);
    assert_eq!((o.time_gap, got), (None, vec![30]));

    // An unstamped message: the next stamp has nothing to be judged
    // against, so it starts the reckoning again.
    at(&mut w, 33, &[0.0], None, gaps);
    let (o, got) = at(&mut w, 34, &[0.0], Some(99_999), gaps);
    assert_eq!((o.time_gap, got), (None, vec![32]));
    let (o, _) = at(&mut w, 35, &[0.0], Some(99_999 + 31), gaps);
    assert!(o.time_gap.is_some());
}

/// A stream stamped at another step than the model's: judged over spans
/// of W samples of a run (a live clock's jitter evens out), its windows
/// say so from the first span on; a run at the model's step, or within
/// the band, does not; a restart judges anew.
#[test]
fn a_stream_sampled_at_another_rate_is_told() {
    let gaps = TimeGaps {
        max_gap_ns: 3_000,
        step_ns: 1_000,
    };
    let off = |w: &mut StreamWindow, from: u64, n: u64, step: i64, jitter: bool| {
        let mut seen = Vec::new();
        for s in from..from + n {
            let wobble = if jitter && s % 3 == 0 { step / 4 } else { 0 };
            let ts = s as i64 * step + wobble;
            let (o, _) = at(w, s, &[0.0], Some(ts), gaps);
            seen.push(o.off_rate);
        }
        seen
    };
    // At the model's step (a quarter step late every third sample): never
    // off.
    let mut w = StreamWindow::new(4);
    assert!(off(&mut w, 0, 20, 1_000, true).iter().all(Option::is_none));
    // At twice it: windows are told once a span of W samples is judged
    // (the first sample starts the span, the fifth closes it), with the ratio.
    let mut w = StreamWindow::new(4);
    let seen = off(&mut w, 0, 12, 2_000, false);
    assert_eq!(seen[..4], [None; 4], "{seen:?}");
    assert!(seen[4..].iter().all(|r| *r == Some(2.0)), "{seen:?}");
    // Faster: a 0.4 step (one fifth of the max gap, so no restart).
    let mut w = StreamWindow::new(4);
    let seen = off(&mut w, 0, 8, 400, false);
    assert_eq!(seen[7], Some(0.4), "{seen:?}");
    // Within the band (1.4): not told.
    let mut w = StreamWindow::new(4);
    assert!(off(&mut w, 0, 12, 1_400, false).iter().all(Option::is_none));
    // A seq gap restarts the run and its judging: told again only once a
    // new span is judged, and not at all if the rate is now right.
    let mut w = StreamWindow::new(4);
    off(&mut w, 0, 8, 2_000, false);
    let seen = off(&mut w, 100, 8, 1_000, false);
    assert!(seen.iter().all(Option::is_none), "{seen:?}");
    // Unstamped messages say nothing of the rate.
    let mut w = StreamWindow::new(4);
    off(&mut w, 0, 8, 2_000, false);
    let mut got = Vec::new();
    let o = w.accept_at(8, &[0.0], None, 1, |s, _| got.push(s));
    assert_eq!((o.off_rate, got), (None, vec![5]));
}

/// A message that overlaps what came before is judged where its new
/// part starts; with no step known, a message's samples are taken as
/// spread evenly up to the next one; stamps in seconds, milliseconds or
/// microseconds since the epoch are taken as such.
#[test]
fn overlaps_unknown_steps_and_other_units_are_judged_too() {
    let gaps = TimeGaps {
        max_gap_ns: 30,
        step_ns: 10,
    };
    let mut w = StreamWindow::new(3);
    at(&mut w, 0, &[0.0; 30], Some(0), gaps);
    // Seq 25..55 stamped 250 + 1000: its new part (30..) is 1000 late.
    let (o, got) = at(&mut w, 25, &[0.0; 30], Some(1_250), gaps);
    let jump = o.time_gap.unwrap();
    assert_eq!((jump.seq, jump.after_seq, o.out_of_order), (30, 0, 5));
    assert_eq!(got.first(), Some(&30));
    // Contiguous in time: no restart.
    let (o, _) = at(&mut w, 55, &[0.0; 5], Some(1_550), gaps);
    assert_eq!(o.time_gap, None);

    // No step known: 24 samples a message, 600 apart, a gap of 2,700.
    let unknown = TimeGaps {
        max_gap_ns: 2_700,
        step_ns: 0,
    };
    let mut w = StreamWindow::new(3);
    for k in 0..4u64 {
        let (o, _) = at(
            &mut w,
            24 * k,
            &[0.0; 24],
            Some(24 * 600 * k as i64),
            unknown,
        );
        assert_eq!(o.time_gap, None, "message {k}");
    }
    let (o, _) = at(&mut w, 96, &[0.0], Some(24 * 600 * 4 + 24 * 2_700), unknown);
    assert!(o.time_gap.is_some());

    // Seconds, milliseconds, microseconds since the epoch; nanoseconds
    // and anything else as they are.
    let s = 1_764_320_000i64;
    assert_eq!(stamp_ns(s), s * 1_000_000_000);
    assert_eq!(stamp_ns(s * 1_000), s * 1_000_000_000);
    assert_eq!(stamp_ns(s * 1_000_000), s * 1_000_000_000);
    assert_eq!(stamp_ns(s * 1_000_000_000), s * 1_000_000_000);
    for other in [0, 12, -5, 99_999_999_999, 9_999_999_999, i64::MAX] {
        assert_eq!(stamp_ns(other), other);
    }
    // The time rule's: a number too small to be a time since the epoch in
    // any unit is seconds since a start (a test bench's clock).
    assert_eq!(rule_ns(2_106), 2_106_000_000_000);
    assert_eq!(rule_ns(SINCE_START - 1), (SINCE_START - 1) * 1_000_000_000);
    for stamp in [s, s * 1_000, SINCE_START, 0, -5] {
        assert_eq!(rule_ns(stamp), stamp_ns(stamp));
    }
}

/// The last stamp is part of a checkpoint: a restored stream judges
/// the next message as the original does; a checkpoint written before
/// stamps were kept restores without one.
#[test]
fn the_last_stamp_survives_a_checkpoint() {
    let gaps = TimeGaps {
        max_gap_ns: 5,
        step_ns: 1,
    };
    let mut w = StreamWindow::new(2);
    at(&mut w, 0, &[0.0, 0.0], Some(100), gaps);
    let saved = w.save();
    assert_eq!(saved.last_ts, Some((0, 100)));
    let mut back = StreamWindow::restore(2, &saved).unwrap();
    for w in [&mut w, &mut back] {
        let (o, got) = at(w, 2, &[0.0], Some(107), gaps);
        assert_eq!((o.time_gap.map(|g| g.after_seq), got), (Some(0), vec![]));
    }
    #[derive(serde::Serialize)]
    struct Old {
        next_seq: Option<u64>,
        run: u64,
        tail: Vec<f32>,
    }
    let old = Old {
        next_seq: Some(3),
        run: 3,
        tail: vec![1.0],
    };
    let read: SavedWindow = rmp_serde::from_slice(&rmp_serde::to_vec_named(&old).unwrap()).unwrap();
    assert_eq!((read.last_ts, read.run), (None, 3));
}

#[test]
fn stream_keys() {
    let p = SubjectPattern::parse("samples.>").unwrap();
    assert_eq!(p.key("samples.plant1.pump3").unwrap(), "plant1.pump3");
    assert!(p.key("samples").is_err());
    assert!(p.key("other.x").is_err());
    let p = SubjectPattern::parse("plant.*.temp").unwrap();
    assert_eq!(p.key("plant.a7.temp").unwrap(), "a7");
    assert!(p.key("plant.a7.temp.x").is_err());
    assert!(p.key("plant.a7.pressure").is_err());
    assert!(SubjectPattern::parse("samples").is_err());
    assert!(SubjectPattern::parse("a.>.b").is_err());
    assert!(validate_key("a b").is_err());
    assert!(validate_key(&"x".repeat(300)).is_err());
    assert!(validate_key("a..b").is_err());
    assert!(validate_key("ok.key-1_2").is_ok());
    // Partitioned input: the partition token is matched but not in the key.
    let p = SubjectPattern::parse("part.{partition}.>").unwrap();
    assert_eq!(p.key("part.3.pump7").unwrap(), "pump7");
    assert_eq!(
        subscriptions("part.{partition}.>", &[0, 3]),
        vec!["part.0.>", "part.3.>"]
    );
    assert_eq!(subscriptions("samples.>", &[0, 3]), vec!["samples.>"]);
}

/// The reused-buffer form gives what a fresh key would, whatever the
/// buffer held before, errors included.
#[test]
fn keys_into_a_reused_buffer() {
    let cases = [
        ("samples.>", "samples.a.b.c", Ok("a.b.c")),
        ("samples.>", "samples.", Err(())),
        ("samples.>", "samples", Err(())),
        ("s.*.x.>", "s.k.x.y.z", Ok("k.y.z")),
        ("s.*.x.>", "s.k.y.z", Err(())),
        ("s.*.*", "s.a.b", Ok("a.b")),
        ("s.*.*", "s.a", Err(())),
        ("s.*.*", "s.a.b.c", Err(())),
        ("part.{partition}.*.>", "part.1.a.b", Ok("a.b")),
        ("plant.*.temp", "plant..temp", Err(())),
    ];
    let mut buf = String::from("left over from an earlier key");
    for (pattern, subject, want) in cases {
        let p = SubjectPattern::parse(pattern).unwrap();
        let got = p.key_into(subject, &mut buf).map(|()| buf.as_str());
        assert_eq!(got.map_err(|_| ()), want, "{pattern} {subject}");
        assert_eq!(
            p.key(subject).ok().as_deref(),
            want.ok(),
            "{pattern} {subject}"
        );
    }
}

/// The rule a route takes: its own max_gap over the model's record (0:
/// none), the recorded split (`retrain --max-gap`) over three steps, none
/// for a model whose recording had no time column, nor for a gap under 1 ns.
#[test]
fn time_gaps_of_a_route_and_its_model() {
    use serde_json::json;
    let of = |g: Option<f64>, m: serde_json::Value| {
        TimeGaps::of(g, (!m.is_null()).then_some(&m)).map(|t| (t.max_gap_ns, t.step_ns))
    };
    let s = 1_000_000_000;
    assert_eq!(of(None, json!(null)), None);
    assert_eq!(of(None, json!({"time_step_s": 1.0})), Some((3 * s, s)));
    let split = json!({"time_step_s": 1.0, "reading": {"max_gap_s": 5.0}});
    assert_eq!(of(None, split.clone()), Some((5 * s, s)));
    assert_eq!(of(Some(90.0), split), Some((90 * s, s)));
    assert_eq!(of(Some(90.0), json!(null)), Some((90 * s, 0)));
    assert_eq!(
        of(Some(60.0), json!({"time_step_s": 600.0})),
        Some((60 * s, 600 * s))
    );
    assert_eq!(of(Some(0.0), json!({"time_step_s": 1.0})), None);
    assert_eq!(of(None, json!({"time_step_s": null})), None);
    assert_eq!(of(None, json!({"reading": {"max_gap_s": 1e-10}})), None);
}

/// A refused message restarts the window of a stream whose sender numbers
/// nothing (the count goes on), not a numbered one's (its next seq shows
/// the hole); a checkpoint keeps which it is.
#[test]
fn a_refusal_restarts_only_an_unnumbered_streams_window() {
    // Windows completed by samples `from..from + n`.
    let feed = |w: &mut StreamWindow, from: u64, n: u64| {
        let values: Vec<f32> = (from..from + n).map(|s| s as f32).collect();
        w.accept(from, &values, 1, |_, _| {}).windows
    };
    let mut unnumbered = StreamWindow::new(4);
    unnumbered.numbered(false);
    feed(&mut unnumbered, 0, 3);
    let saved = unnumbered.save();
    assert!(saved.unnumbered);
    let mut restored = StreamWindow::restore(4, &saved).unwrap();
    restored.refused();
    assert_eq!(feed(&mut restored, 3, 3), 0, "restarted at 3");
    assert_eq!(restored.next_seq(), Some(6));
    let mut numbered = StreamWindow::new(4);
    numbered.numbered(true);
    feed(&mut numbered, 0, 3);
    numbered.refused();
    assert_eq!(
        feed(&mut numbered, 3, 1),
        1,
        "a numbered stream's window goes on"
    );
    assert!(!numbered.save().unnumbered);
}
