use super::*;

/// Ticks every 10 ns, a value held at most 35 ns.
const CLOCK: Clock = Clock {
    step_ns: 10,
    max_hold_ns: 35,
    phase_ns: 0,
};

fn run(first: u64, len: u64, value: f32) -> Option<Run> {
    Some(Run { first, len, value })
}

/// Each tick reads the latest change at or before it, as `retrain
/// --resample` reads a recording; a change exactly on a tick is that
/// tick's value.
#[test]
fn a_tick_reads_the_latest_change_at_or_before_it() {
    let mut h = Hold::default();
    assert_eq!(h.change(&CLOCK, 1.0, 3, None), Ok(None));
    // Ticks 1 and 2 (10, 20) held 1.0; tick 3 (30) is the new value's.
    assert_eq!(h.change(&CLOCK, 2.0, 30, None), Ok(run(1, 2, 1.0)));
    assert_eq!(h.change(&CLOCK, 3.0, 41, None), Ok(run(3, 2, 2.0)));
    // Two changes between ticks: the later one is read.
    assert_eq!(h.change(&CLOCK, 4.0, 45, None), Ok(None));
    assert_eq!(h.read(&CLOCK, 61), run(5, 2, 4.0));
    assert_eq!(h.read(&CLOCK, 61), None, "a tick is read once");
}

/// A value is held `max_hold_ns` at most: the ticks past it have no value,
/// and the next change starts a later run (its window restarts).
#[test]
fn a_hold_ends_after_the_longest_a_value_is_held() {
    let mut h = Hold::default();
    assert_eq!(h.change(&CLOCK, 1.0, 5, None), Ok(None));
    // Held to 40 (5 + 35): ticks 1..=4.
    assert_eq!(h.read(&CLOCK, 1_000), run(1, 4, 1.0));
    assert!(!h.holds());
    assert_eq!(h.change(&CLOCK, 2.0, 200, None), Ok(None));
    assert_eq!(h.read(&CLOCK, 221), run(20, 3, 2.0));
}

/// A refused message ends the hold where it came: the ticks before it
/// keep the value, none after it until the next change.
#[test]
fn a_refusal_ends_the_hold_where_it_came() {
    let mut h = Hold::default();
    assert_eq!(h.change(&CLOCK, 1.0, 0, Some(0)), Ok(None));
    h.end(Some(25));
    assert_eq!(h.read(&CLOCK, 100), run(0, 3, 1.0));
    assert_eq!(h.change(&CLOCK, 2.0, 28, Some(0)), Ok(None));
    assert_eq!(h.read(&CLOCK, 41), run(3, 2, 2.0));
    // A sender's stamps: the refusal's time is not known, so the hold ends
    // at its change.
    let mut h = Hold::default();
    assert_eq!(h.change(&CLOCK, 1.0, 10, None), Ok(None));
    h.end(None);
    assert_eq!(h.read(&CLOCK, 100), run(1, 1, 1.0));
}

/// A change stamped before the one held is dropped; one stamped after it
/// but before ticks already read applies from the next tick.
#[test]
fn an_earlier_change_is_dropped_and_a_late_one_applies_from_the_next_tick() {
    let mut h = Hold::default();
    assert_eq!(h.change(&CLOCK, 1.0, 10, Some(0)), Ok(None));
    assert_eq!(
        h.change(&CLOCK, 0.5, 9, Some(0)),
        Err(Earlier { held_at: 10 })
    );
    assert_eq!(h.read(&CLOCK, 31), run(1, 3, 1.0));
    assert_eq!(h.change(&CLOCK, 2.0, 15, Some(0)), Ok(None));
    assert_eq!(h.read(&CLOCK, 41), run(4, 1, 2.0));
}

/// A second, in ns.
const S: i64 = 1_000_000_000;

/// The clock's ticks are multiples of its step from the epoch; a route's
/// `resample` beats the model's, 0 turns it off, and the hold is the
/// route's `max_gap`, else the model's, else none (as training held).
#[test]
fn the_clock_is_the_models_unless_the_route_says_otherwise() {
    assert_eq!(
        (CLOCK.tick_from(0), CLOCK.tick_from(1), CLOCK.tick_from(10)),
        (0, 1, 1)
    );
    assert_eq!(CLOCK.tick_from(-5), 0);
    let m = serde_json::json!({"reading": {"resample_s": 60.0, "max_gap_s": 900.0}});
    let c = Resample::of(None, None, Some(&m)).unwrap().clock();
    assert_eq!(
        (c.step_ns, c.max_hold_ns),
        (60_000_000_000, 900_000_000_000)
    );
    let c = Resample::of(Some(10.0), Some(30.0), Some(&m)).unwrap();
    assert_eq!(c.clock().max_hold_ns, 30_000_000_000);
    assert_eq!(Resample::of(Some(0.0), None, Some(&m)), None);
    let plain = serde_json::json!({"reading": {"resample_s": null}});
    assert_eq!(Resample::of(None, None, Some(&plain)), None);
    let unbounded = serde_json::json!({"reading": {"resample_s": 60.0}});
    let c = Resample::of(None, None, Some(&unbounded)).unwrap().clock();
    assert_eq!(c.max_hold_ns, i64::MAX, "held as training held it");
    assert_eq!(c.live_ns(), 120_000_000_000);
    // A model trained on rows every 15 min (two loggers' files joined on
    // the output's clock), read here on that clock: the route's max_gap
    // bounds a hold (join prints the one it joined with), the model's
    // --max-gap where it was given one, else none (a sensor that sends on
    // change holds its value until the next).
    let rows = serde_json::json!({"time_step_s": 900.0, "reading": {"resample_s": null}});
    let c = Resample::of(Some(900.0), None, Some(&rows))
        .unwrap()
        .clock();
    assert_eq!((c.step_ns, c.max_hold_ns), (900 * S, i64::MAX));
    let c = Resample::of(Some(900.0), Some(10_800.0), Some(&rows)).unwrap();
    assert_eq!(c.clock().max_hold_ns, 10_800 * S);
    let split = serde_json::json!({"time_step_s": 900.0, "reading": {"max_gap_s": 3_600.0}});
    let c = Resample::of(Some(900.0), None, Some(&split))
        .unwrap()
        .clock();
    assert_eq!(c.max_hold_ns, 3_600 * S);
    // Its truth is held as its input (a meter that reports on change beside
    // a logger's rows), as is a model's trained on a clock.
    let r = Resample::of(Some(900.0), Some(10_800.0), Some(&rows)).unwrap();
    assert_eq!(r.truth_clock(), r.clock());
    let r = Resample::of(None, None, Some(&m)).unwrap();
    assert_eq!(r.truth_clock(), r.clock());
    // One whose training file says the clock it was joined on (`join`'s
    // first line, recorded): read on it without being told, held as the
    // join held the input (not the --max-gap its rows were split at); a
    // route's resample and max_gap still decide, and resample = 0 reads
    // samples as they come.
    let joined = serde_json::json!({"time_step_s": 900.0, "reading": {"max_gap_s": 3_600.0},
        "joined": {"resample_s": 900.0, "max_gap_s": 1_350.0}});
    assert!(Resample::joined(Some(&joined)) && !Resample::joined(Some(&split)));
    let c = Resample::of(None, None, Some(&joined)).unwrap().clock();
    assert_eq!((c.step_ns, c.max_hold_ns), (900 * S, 1_350 * S));
    // Its truth, a reading a row as the joined rows were, is held a tick
    // and a half at most, whatever the input's hold.
    let r = Resample::of(Some(900.0), Some(10_800.0), Some(&joined)).unwrap();
    assert_eq!(r.truth_clock().max_hold_ns, 1_350 * S);
    assert_eq!(r.clock().max_hold_ns, 10_800 * S);
    let c = Resample::of(Some(300.0), Some(600.0), Some(&joined)).unwrap();
    assert_eq!((c.step_s, c.max_hold_s), (300.0, Some(600.0)));
    assert_eq!(Resample::of(Some(0.0), None, Some(&joined)), None);
    // Its output's rows 7 min into each step: the ticks lie there, on the
    // route's resample too where it is that step, not on another step.
    let mut off = joined.clone();
    off["joined"]["phase_s"] = serde_json::json!(420.0);
    let c = Resample::of(None, None, Some(&off)).unwrap().clock();
    assert_eq!((c.phase_ns, c.at(2)), (420 * S, 2_220 * S));
    assert_eq!(
        Resample::of(Some(900.0), None, Some(&off)).unwrap().clock(),
        c
    );
    let other = Resample::of(Some(300.0), None, Some(&off)).unwrap();
    assert_eq!(other.clock().phase_ns, 0);
    assert_eq!(
        Resample::of(None, None, Some(&off))
            .unwrap()
            .truth_clock()
            .phase_ns,
        420 * S
    );
    // Trained on a clock of its own (retrain --resample on the joined
    // file): that one.
    let both = serde_json::json!({"reading": {"resample_s": 60.0, "max_gap_s": 900.0},
        "joined": {"resample_s": 900.0, "max_gap_s": 1_350.0}});
    let c = Resample::of(None, None, Some(&both)).unwrap();
    assert_eq!((c.step_s, c.max_hold_s), (60.0, Some(900.0)));
    assert!(!Resample::joined(Some(&both)));
    // Nor does the joined phase apply to it at the joined step: its ticks
    // are the epoch's, as retrain --resample read them.
    let mut both = both;
    (both["reading"]["resample_s"], both["joined"]["phase_s"]) = (900.0.into(), 420.0.into());
    let c = Resample::of(None, None, Some(&both)).unwrap().clock();
    assert_eq!((c.step_ns, c.phase_ns), (900 * S, 0));
}

/// A hold survives a checkpoint as it was.
#[test]
fn a_hold_is_saved_and_restored_whole() {
    let mut h = Hold::default();
    assert_eq!(h.change(&CLOCK, 1.5, 12, Some(0)), Ok(None));
    h.end(Some(33));
    let text = serde_json::to_string(&h).unwrap();
    let back: Hold = serde_json::from_str(&text).unwrap();
    assert_eq!(back, h);
    let bytes = rmp_serde::to_vec_named(&h).unwrap();
    assert_eq!(rmp_serde::from_slice::<Hold>(&bytes).unwrap(), h);
    assert_eq!(serde_json::to_string(&Hold::default()).unwrap(), "{}");
}

/// A stream's window carries its hold through a checkpoint.
#[test]
fn a_streams_checkpoint_keeps_its_hold() {
    let mut w = crate::window::StreamWindow::new(4);
    assert_eq!(w.hold.change(&CLOCK, 2.5, 7, Some(0)), Ok(None));
    let saved = w.save();
    assert!(saved.hold.is_some());
    let back = crate::window::StreamWindow::restore(4, &saved).unwrap();
    assert_eq!(back.hold, w.hold);
    // A stream read on no clock saves none.
    assert_eq!(crate::window::StreamWindow::new(4).save().hold, None);
}

/// One read takes at most `MAX_RUN` ticks: the rest of a long hold is
/// read by the next, or cut by a change (a gap in the ticks).
#[test]
fn a_long_hold_is_read_in_parts() {
    let clock = Clock {
        step_ns: 1,
        max_hold_ns: 3 * MAX_RUN,
        phase_ns: 0,
    };
    let mut h = Hold::default();
    assert_eq!(h.change(&clock, 1.0, 0, Some(0)), Ok(None));
    let len = MAX_RUN as u64;
    assert_eq!(h.read(&clock, i64::MAX), run(0, len, 1.0));
    assert_eq!(h.read(&clock, i64::MAX), run(len, len, 1.0));
    assert!(h.holds());
    // A change cuts what is left.
    assert_eq!(
        h.change(&clock, 2.0, 10 * MAX_RUN, Some(0)),
        Ok(run(2 * len, len, 1.0))
    );
    assert_eq!(h.read(&clock, 10 * MAX_RUN + 2), run(10 * len, 2, 2.0));
}

/// A hold knows the step its ticks are numbered on.
#[test]
fn a_hold_is_on_the_clock_it_was_taken_on() {
    let mut h = Hold::default();
    let other = |step_ns, phase_ns| Clock {
        step_ns,
        phase_ns,
        ..CLOCK
    };
    assert!(h.on(None) && h.on(Some(&CLOCK)));
    assert_eq!(h.change(&CLOCK, 1.0, 3, None), Ok(None));
    assert!(
        h.on(Some(&CLOCK))
            && h.on(Some(&Clock {
                max_hold_ns: 5,
                ..CLOCK
            }))
    );
    assert!(!h.on(Some(&other(20, 0))) && !h.on(None));
    // Ticks of the same step that lie elsewhere in it are another clock's.
    assert!(!h.on(Some(&other(10, 3))));
}

/// A clock whose ticks lie `phase` into each step: tick k at k × step +
/// phase, read as on the epoch's grid shifted by it.
#[test]
fn a_clocks_ticks_lie_at_its_phase() {
    let c = Clock {
        phase_ns: 7,
        ..CLOCK
    };
    assert_eq!((c.at(0), c.at(1), c.at(-1)), (7, 17, -3));
    assert_eq!((c.tick_from(7), c.tick_from(8), c.tick_from(6)), (0, 1, 0));
    assert_eq!(
        (c.tick_until(16), c.tick_until(17), c.tick_until(6)),
        (0, 1, -1)
    );
    // A change at 8 is read from tick 1 (17) on, held 35 ns: to 43, tick 3.
    let mut h = Hold::default();
    assert_eq!(h.change(&c, 1.0, 8, Some(0)), Ok(None));
    assert_eq!(h.read(&c, 100), run(1, 3, 1.0));
    // Rebased on the epoch's grid, its next tick (4, at 47) is 5 there.
    let mut h = Hold::default();
    assert_eq!(h.change(&c, 2.0, 8, Some(0)), Ok(None));
    assert_eq!(h.read(&c, 40), run(1, 3, 2.0));
    let h = h.rebased(&CLOCK);
    assert!(h.on(Some(&CLOCK)) && !h.on(Some(&c)));
    assert_eq!(
        h.clone().read(&CLOCK, 100),
        None,
        "held to 43: no tick after 40 within it"
    );
}

/// A clock whose hold reads nothing of some changes, or more than a read
/// takes, or that training did not bound, is said.
#[test]
fn a_clock_an_operator_should_know_of_is_said() {
    let idle = std::time::Duration::from_secs(600);
    let of = |step_s: f64, hold: Option<f64>| {
        Resample {
            step_s,
            max_hold_s: hold,
            trained_changes_per_s: None,
            truth_per_tick: false,
            phase_s: 0.0,
        }
        .warnings(idle, None)
    };
    assert!(of(60.0, Some(900.0)).is_empty());
    let short = of(60.0, Some(30.0));
    assert!(
        short.len() == 1 && short[0].contains("under a tick and a half"),
        "{short:?}"
    );
    let long = of(0.001, Some(600.0));
    assert!(
        long.len() == 1 && long[0].contains("65536 ticks"),
        "{long:?}"
    );
    let trained = serde_json::json!({"reading": {"resample_s": 60.0}});
    let other = Resample {
        step_s: 1.0,
        max_hold_s: Some(5.0),
        trained_changes_per_s: None,
        truth_per_tick: false,
        phase_s: 0.0,
    }
    .warnings(idle, Some(&trained));
    assert!(
        other.len() == 1 && other[0].contains("60× slower"),
        "{other:?}"
    );
    // Said of any hold without a bound, in the model's words where it was
    // trained on a clock without --max-gap.
    let any = of(60.0, None);
    assert!(
        any.len() == 1 && any[0].contains("neither the route's max_gap"),
        "{any:?}"
    );
    let unbounded = Resample {
        step_s: 60.0,
        max_hold_s: None,
        trained_changes_per_s: None,
        truth_per_tick: false,
        phase_s: 0.0,
    }
    .warnings(idle, Some(&trained));
    assert!(
        unbounded.len() == 1 && unbounded[0].contains("until it is forgotten (10.0 min without"),
        "{unbounded:?}"
    );
}

/// The service's time is read on a grid of a tenth of a second that
/// divides the step (the step where it is finer or none does).
#[test]
fn the_grid_divides_the_step() {
    let clock = |step_ns| Clock {
        step_ns,
        max_hold_ns: i64::MAX,
        phase_ns: 0,
    };
    assert_eq!(clock(60_000_000_000).grid_ns(), 100_000_000);
    assert_eq!(clock(1_100_000_000).grid_ns(), 100_000_000);
    assert_eq!(clock(20_000_000).grid_ns(), 20_000_000);
    assert_eq!(clock(1_000_000_007).grid_ns(), 1_000_000_007);
    assert_eq!(clock(250_000_000).grid_ns(), 62_500_000);
    assert_eq!(clock(1_250_000_000).grid_ns(), 78_125_000);
    let g = clock(i64::MAX).grid_ns();
    assert_eq!(i64::MAX % g, 0);
    assert_eq!(clock(1).grid_ns(), 1);
    let c = clock(1_000_000_000);
    assert_eq!((c.cell(0), c.cell(1), c.cell(100_000_000)), (0, 1, 1));
}

/// A hold rebased on another clock keeps its value, its ticks numbered
/// anew from its change.
#[test]
fn a_rebased_hold_keeps_its_value() {
    let mut h = Hold::default();
    assert_eq!(h.change(&CLOCK, 1.0, 25, Some(0)), Ok(None));
    assert_eq!(h.read(&CLOCK, 41), run(3, 2, 1.0));
    let fine = Clock {
        step_ns: 5,
        max_hold_ns: 35,
        phase_ns: 0,
    };
    let mut h = h.rebased(&fine);
    assert!(h.on(Some(&fine)) && !h.on(Some(&CLOCK)));
    // From the first time not yet read (50): nothing is read twice.
    assert_eq!(h.read(&fine, 41), None);
    assert_eq!(h.read(&fine, 61), run(10, 3, 1.0));
}
