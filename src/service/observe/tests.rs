use super::*;
use crate::wire::ErrorKind;

fn truths(w: usize) -> Truths {
    Truths {
        w,
        limits: IngestLimits {
            max_streams: 2,
            idle_timeout: std::time::Duration::from_secs(60),
        },
        streams: HashMap::new(),
        pending: 0,
        deviations: None,
        map: None,
    }
}

fn pending(seq: u64, live: &[f32]) -> Pending {
    Pending {
        seq,
        ts: None,
        compared: true,
        live: live.to_vec(),
        shadow: Some(vec![0.0; live.len()]),
        map: None,
        generation: 0,
    }
}

/// A window is scored once all W of its truth samples are in, whichever
/// arrives first; the means are of squared differences per value.
#[test]
fn windows_meet_their_truth_in_either_order() {
    let c = Compare::default();
    let mut t = truths(2);
    // Window first, truth after (in two messages).
    t.add_window("a", pending(10, &[1.0, 2.0]), &c);
    t.add_truth("a", 10, &[1.0], &c);
    assert_eq!(c.snapshot().live_vs_truth.windows, 0, "half its truth");
    t.add_truth("a", 11, &[4.0, 5.0], &c);
    let s = c.snapshot();
    assert_eq!(s.live_vs_truth.windows, 1);
    assert_eq!(s.live_vs_truth.mse(), Some((0.0 + 4.0) / 2.0));
    assert_eq!(s.shadow_vs_truth.mse(), Some((1.0 + 16.0) / 2.0));
    // Truth first, window after.
    t.add_window("a", pending(11, &[4.0, 5.0]), &c);
    let s = c.snapshot();
    assert_eq!(s.live_vs_truth.windows, 2);
    assert_eq!(s.live_vs_truth.mse(), Some(4.0 / 4.0));
    assert_eq!(s.unmatched, 0);
}

/// Truth that has gone (a gap restarted the buffer past the window)
/// makes the window unmatched, counted; a stream beyond `max_streams`
/// is not tracked, also counted.
#[test]
fn lost_truth_and_too_many_streams_are_counted() {
    let c = Compare::default();
    let mut t = truths(2);
    t.add_window("a", pending(0, &[1.0, 1.0]), &c);
    t.add_truth("a", 5, &[1.0, 1.0, 1.0], &c);
    assert_eq!(c.snapshot().unmatched, 1);
    t.add_window("b", pending(0, &[1.0, 1.0]), &c);
    t.add_window("c", pending(0, &[1.0, 1.0]), &c);
    assert_eq!(c.snapshot().unmatched, 2);
    assert_eq!(t.streams.len(), 2);
    // Overlapping truth keeps the first values and appends the rest;
    // truth before the next window (seq 1, once window 0 is scored) goes.
    t.add_truth("b", 0, &[1.0, 9.0], &c);
    t.add_truth("b", 1, &[7.0, 1.0], &c);
    assert_eq!(
        (t.streams["b"].base, &t.streams["b"].values),
        (1, &[9.0, 1.0].into())
    );
    assert_eq!(c.snapshot().live_vs_truth.mse(), Some(64.0 / 2.0));
}

/// Truth published seconds before its input, or the input seconds
/// before its truth (two publishers started by hand at 500 samples/s),
/// still meets every window; what is scored is let go.
#[test]
fn seconds_between_input_and_truth_still_score_every_window() {
    let w = 24;
    for truth_first in [true, false] {
        let c = Compare::default();
        let mut t = truths(w);
        let truth = |t: &mut Truths, seqs: std::ops::Range<u64>| {
            for s in seqs {
                t.add_truth("a", s, &[s as f32], &c);
            }
        };
        let windows = |t: &mut Truths, seqs: std::ops::Range<u64>| {
            for s in seqs {
                let live: Vec<f32> = (s..s + w as u64).map(|v| v as f32 + 1.0).collect();
                t.add_window("a", pending(s, &live), &c);
            }
        };
        // 1,000 samples (2 s) of one before the other, then both.
        let (n, lead) = (3_000u64, 1_000u64);
        if truth_first {
            truth(&mut t, 0..lead + w as u64);
            windows(&mut t, 0..lead);
        } else {
            windows(&mut t, 0..lead);
            truth(&mut t, 0..lead + w as u64);
        }
        truth(&mut t, lead + w as u64..n + w as u64);
        windows(&mut t, lead..n);
        let s = c.snapshot();
        assert_eq!(
            (s.live_vs_truth.windows, s.unmatched),
            (n, 0),
            "truth first: {truth_first}"
        );
        assert_eq!(s.live_vs_truth.mse(), Some(1.0));
        assert_eq!((t.pending, t.streams["a"].pending.len()), (0, 0));
        assert!(
            t.streams["a"].values.len() <= w,
            "{}",
            t.streams["a"].values.len()
        );
    }
}

/// Truth with holes (a historian's bad cells: every 100th sample
/// missing) published ahead of its input: every window whose truth is
/// whole is scored, on either side of each hole, and only those across
/// one are unmatched. (Each hole used to drop the truth held before it,
/// and with it every window not yet in: 76 of 380 scored.)
#[test]
fn a_truth_count_started_again_is_scored_from_there() {
    let c = Compare::default();
    let mut t = truths(2);
    for seq in 0..50u64 {
        t.add_truth("a", seq, &[1.0], &c);
        t.add_window("a", pending(seq, &[1.0, 1.0]), &c);
    }
    // Windows 49 and 50, whose truth the old count never completes,
    // then both counts start again at 0.
    t.add_window("a", pending(50, &[1.0, 1.0]), &c);
    let before = c.snapshot();
    t.add_truth("a", 0, &[3.0, 3.0], &c);
    t.add_window("a", pending(0, &[1.0, 1.0]), &c);
    let s = c.snapshot();
    assert_eq!(s.live_vs_truth.windows, before.live_vs_truth.windows + 1);
    assert_eq!((s.unmatched - before.unmatched, t.pending), (2, 0));
    assert_eq!(s.live_vs_truth.sum_sq, before.live_vs_truth.sum_sq + 8.0);
}

#[test]
fn truth_with_holes_ahead_of_the_input_scores_every_whole_window() {
    let (w, n) = (24usize, 500u64);
    let c = Compare::default();
    let mut t = truths(w);
    for s in (0..n).filter(|s| s % 100 != 99) {
        t.add_truth("a", s, &[s as f32], &c);
    }
    for s in 0..=n - w as u64 {
        let live: Vec<f32> = (s..s + w as u64).map(|v| v as f32 + 2.0).collect();
        t.add_window("a", pending(s, &live), &c);
    }
    let whole = (0..=n - w as u64)
        .filter(|s| !(*s..s + w as u64).any(|v| v % 100 == 99))
        .count() as u64;
    // The last window waits for truth 499, a hole not known as one yet.
    let s = c.snapshot();
    assert_eq!(
        (s.live_vs_truth.windows, s.unmatched, t.pending),
        (whole, n - w as u64 - whole, 1)
    );
    assert_eq!(whole, 380);
    assert_eq!(s.live_vs_truth.mse(), Some(4.0));
    // Truth that comes late fills its hole: a window waiting across it
    // is scored.
    t.add_window("a", pending(n, &[2.0; 24]), &c);
    t.add_truth("a", n + 1, &[0.0; 10], &c);
    t.add_truth("a", n, &[0.0], &c);
    let before = c.snapshot().live_vs_truth.windows;
    t.add_truth("a", n + 11, &[0.0; 13], &c);
    assert_eq!(c.snapshot().live_vs_truth.windows, before + 1);
    // A hole longer than the buffer still starts again.
    t.add_truth("a", 10 * n, &[1.0], &c);
    assert_eq!(t.streams["a"].base, 10 * n);
}

#[test]
fn resets_restart_the_means_not_the_counters() {
    let c = Compare::default();
    c.update(|s| {
        s.shadow_vs_live.add(&[1.0], &[0.0]);
        s.shadow_published = 3;
    });
    c.dropped(2);
    c.unmatched(4);
    c.reset(1);
    let s = c.snapshot();
    assert_eq!(s.shadow_vs_live, Running::default());
    assert_eq!((s.shadow_published, s.dropped), (3, 2));
    // The counter goes on; the count beside the means starts again.
    assert_eq!((s.unmatched, s.unmatched_now), (4, 0));
    c.unmatched(1);
    assert_eq!((c.snapshot().unmatched, c.snapshot().unmatched_now), (5, 1));
    // A window the models before the reset computed, scored after it
    // (its truth came late): not in the new models' means.
    let mut t = truths(2);
    t.add_window("a", pending(0, &[1.0, 1.0]), &c);
    t.add_truth("a", 0, &[3.0, 3.0], &c);
    assert_eq!(c.snapshot().live_vs_truth.windows, 0);
    let mut now = pending(1, &[1.0, 1.0]);
    now.generation = 1;
    t.add_window("a", now, &c);
    t.add_truth("a", 2, &[3.0], &c);
    assert_eq!(c.snapshot().live_vs_truth.windows, 1);
}

/// A meter's changes on a clock (a replay's: stamps long past): each tick
/// takes the value held then; one stamped before the value held is
/// dropped, said; one far back starts the meter's truth over.
#[test]
fn a_meters_changes_are_read_on_the_clock() {
    use crate::window::hold::Clock;
    let c = Compare::default();
    let mut t = truths(2);
    let s = 1_000_000_000;
    // Tick k is 2026-03-01T13:00:00Z + k s; seq is the tick's number.
    let (t0, k0) = (1_772_370_000 * s, 1_772_370_000u64);
    let clock = Clock {
        step_ns: s,
        max_hold_ns: 10 * s,
        phase_ns: 0,
    };
    assert_eq!(
        t.add_changes("a", clock, Some(t0 + 10 * s), &[5.0], &c),
        Ok(())
    );
    assert_eq!(
        t.add_changes("a", clock, Some(t0 + 12 * s + 1), &[6.0], &c),
        Ok(())
    );
    // Ticks 10 and 11 hold 5; 12 is read by the next change.
    t.add_window("a", pending(k0 + 10, &[5.0, 7.0]), &c);
    assert_eq!(c.snapshot().live_vs_truth.mse(), Some(4.0 / 2.0));
    let (kind, why) = t
        .add_changes("a", clock, Some(t0 + 12 * s), &[9.0], &c)
        .unwrap_err();
    assert_eq!(kind, ErrorKind::OutOfOrder, "{why}");
    // Two values one step apart from 14 s: tick 13 holds 6, 14 is 1.
    assert_eq!(
        t.add_changes("a", clock, Some(t0 + 14 * s), &[1.0, 2.0], &c),
        Ok(())
    );
    t.add_window("a", pending(k0 + 13, &[6.0, 1.0]), &c);
    assert_eq!(c.snapshot().live_vs_truth.windows, 2);
    assert_eq!(c.snapshot().live_vs_truth.mse(), Some(4.0 / 4.0));
    // An hour back: the meter's clock set back, its truth starts over.
    let back = t0 + 14 * s - 3_600 * s;
    assert_eq!(t.add_changes("a", clock, Some(back), &[3.0], &c), Ok(()));
    assert_eq!(t.streams["a"].hold.held_at(), Some(back));
}

/// A live meter's value held without bound is read as time passes, but
/// that reading does not keep its stream from being forgotten once no
/// message or window of it comes for the idle time-out.
#[test]
fn a_held_meter_nothing_sends_is_forgotten() {
    use crate::window::hold::Clock;
    let c = Compare::default();
    let mut t = truths(2);
    t.limits.idle_timeout = std::time::Duration::from_millis(50);
    let clock = Clock {
        step_ns: 10_000_000,
        max_hold_ns: i64::MAX,
        phase_ns: 0,
    };
    // A bare reading, timed by its arrival.
    assert_eq!(t.add_changes("a", clock, None, &[5.0], &c), Ok(()));
    let first = t.streams["a"].values.len();
    std::thread::sleep(std::time::Duration::from_millis(60));
    t.read_all_held(clock, &c);
    assert!(t.streams["a"].values.len() > first, "its ticks are read");
    t.evict_idle(&c);
    assert!(t.streams.is_empty(), "forgotten all the same");
}

/// The deviation events of `t`, counted in `c`.
fn take(t: &mut Truths, c: &Compare) -> Vec<crate::wire::DeviationEvent> {
    let mut events = Vec::new();
    c.update(|s| events = t.deviations.as_mut().unwrap().take(s));
    events
}

/// A deviation watch on the route: a window the comparisons do not take
/// (a batch a shadow could not run on) is still watched; a deviating
/// stream whose windows go on without truth is stopped, and one forgotten
/// is stopped too, each said once.
#[test]
fn deviation_is_watched_on_every_window_and_stopped_when_unjudged() {
    use crate::config::{DeviationConfig, Side};
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/sin-cos.safetensors");
    let model = crate::format::load(&path, None).unwrap();
    let c = Compare::default();
    let mut t = truths(2);
    let cfg = DeviationConfig {
        threshold: Some(1.0),
        windows: 1,
        side: Side::Both,
        ..Default::default()
    };
    let mut d = Deviations::new(cfg, "p");
    assert!(d.follow(0, &model));
    t.deviations = Some(d);
    let uncompared = Pending {
        compared: false,
        ..pending(0, &[1.0, 1.0])
    };
    t.add_window("a", uncompared, &c);
    t.add_truth("a", 0, &[4.0, 4.0], &c);
    let events = take(&mut t, &c);
    assert_eq!(events.len(), 1, "watched");
    assert_eq!(events[0].state, crate::wire::DeviationState::Begin);
    assert_eq!(c.snapshot().live_vs_truth.windows, 0, "not compared");
    assert_eq!(c.snapshot().deviating, 1);
    // Windows go on, truth does not: stopped after the idle time-out.
    t.limits.idle_timeout = std::time::Duration::from_millis(30);
    std::thread::sleep(std::time::Duration::from_millis(40));
    t.add_window("a", pending(2, &[1.0, 1.0]), &c);
    t.evict_idle(&c);
    let events = take(&mut t, &c);
    let said: Vec<_> = events.iter().map(|e| (e.state, e.reason.clone())).collect();
    assert_eq!(
        said,
        vec![(
            crate::wire::DeviationState::Stopped,
            Some("no truth".to_string())
        )]
    );
    assert_eq!(c.snapshot().deviating, 0);
    t.evict_idle(&c);
    assert!(take(&mut t, &c).is_empty(), "once");
    // A window only watched whose truth never comes is no unmatched one
    // of the comparisons; a compared one is.
    std::thread::sleep(std::time::Duration::from_millis(40));
    t.evict_idle(&c); // "a" and its window go
    let before = c.snapshot().unmatched;
    let watched = Pending {
        compared: false,
        ..pending(50, &[1.0, 1.0])
    };
    t.add_window("b", watched, &c);
    t.add_window("b", pending(51, &[1.0, 1.0]), &c);
    std::thread::sleep(std::time::Duration::from_millis(40));
    t.evict_idle(&c);
    assert_eq!(c.snapshot().unmatched, before + 1);
}
