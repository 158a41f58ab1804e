//! `publish`'s messages and stamps, `tail`'s scoring and plot.

use super::*;

/// A recording whose two channels are both `rows`, with gaps in time before
/// rows `gaps` and no recorded times.
fn rows_of(rows: Vec<Option<f32>>, gaps: &[u64]) -> Signal {
    Signal::Recorded {
        input: rows.clone().into(),
        output: rows.into(),
        gaps: gaps.into(),
        times: [].into(),
    }
}

/// The messages `publish` sends: (first seq, samples).
fn messages(signal: &Signal, start: u64, end: Option<u64>, batch: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut next = start;
    while let Some((seq, n)) = next_message(signal, next, end, batch) {
        out.push((seq, n));
        next = seq + n;
    }
    out
}

/// A window over a gap in the recording's time (rows 9 and 10 apart
/// in time) is not scored; one that starts or ends at the gap is.
#[test]
fn a_window_across_a_gap_in_time_has_no_truth() {
    let rows: Vec<Option<f32>> = (0..30).map(|i| Some(i as f32)).collect();
    let signal = rows_of(rows, &[10]);
    let at = |seq| Translation {
        stream: "s".into(),
        seq,
        values: vec![0.0; 4],
        pair: "p".into(),
        model: "m".into(),
        ts: None,
        unit: None,
    };
    let opts = |recording: Option<Signal>, by_stream: HashMap<String, Signal>| TailOptions {
        subject: "translated.>".into(),
        count: None,
        duration: None,
        truth: true,
        recording,
        by_stream,
        print_every: 0,
        plot: None,
        y_label: None,
    };
    let one = opts(Some(signal.clone()), HashMap::new());
    for (seq, scored) in [(0, true), (6, true), (7, false), (9, false), (10, true)] {
        let truth = truth_of(&at(seq), &one);
        assert_eq!(truth.is_some(), scored, "seq {seq}");
    }
    assert_eq!(truth_of(&at(10), &one), Some(vec![10.0, 11.0, 12.0, 13.0]));
    // A file of several devices: each stream against its own rows, by key;
    // a stream the file does not name has no truth.
    let other = rows_of((0..30).map(|i| Some(-(i as f32))).collect(), &[]);
    let by_stream = HashMap::from([("s".to_string(), other), ("t".to_string(), signal)]);
    let fleet = opts(None, by_stream);
    assert_eq!(
        truth_of(&at(10), &fleet),
        Some(vec![-10.0, -11.0, -12.0, -13.0])
    );
    let t = Translation {
        stream: "t".into(),
        ..at(7)
    };
    assert_eq!(truth_of(&t, &fleet), None, "across t's gap");
    let u = Translation {
        stream: "u".into(),
        ..at(0)
    };
    assert_eq!(truth_of(&u, &fleet), None);
}

#[test]
fn skipped_rows_leave_gaps_and_no_message_spans_one() {
    // Rows 3, 10 and 11 were skipped (a bad cell), and the last row.
    let input: Vec<Option<f32>> = (0..14)
        .map(|i| (![3, 10, 11, 13].contains(&i)).then_some(i as f32))
        .collect();
    let signal = rows_of(input, &[]);
    let end = signal.samples();
    assert_eq!(end, Some(14));
    assert_eq!(
        messages(&signal, 0, end, 4),
        [(0, 3), (4, 4), (8, 2), (12, 1)]
    );
    assert_eq!(
        messages(&signal, 0, end, 1).len(),
        10,
        "one message per row kept"
    );
    // Starting on a skipped row, or past the end.
    assert_eq!(messages(&signal, 10, end, 8), [(12, 1)]);
    assert_eq!(messages(&signal, 14, end, 8), []);
    assert_eq!(messages(&signal, 99, end, 8), []);
    // A count ends it early.
    assert_eq!(messages(&signal, 0, Some(6), 4), [(0, 3), (4, 2)]);
}

/// A recording read with a time column, from a file: a row skipped for a
/// bad cell (row 2), a two-hour gap before row 5, dates `at` gives.
fn recorded(dir: &std::path::Path, at: impl Fn(usize) -> String) -> Signal {
    let mut csv = String::from("time,x\n");
    for row in 0..8usize {
        let x = if row == 2 {
            "n/a".to_string()
        } else {
            row.to_string()
        };
        csv.push_str(&format!("{},{x}\n", at(row)));
    }
    let path = dir.join("r.csv");
    std::fs::write(&path, csv).unwrap();
    let opts = crate::recording::CsvOptions {
        input: "x".parse().unwrap(),
        output: "x".parse().unwrap(),
        time: vec!["time".parse().unwrap()],
        skip_bad_rows: true,
        ..Default::default()
    };
    Signal::recorded(&crate::recording::Recording::read(&path, &opts).unwrap())
}

/// Minutes from the start, with two hours more from row 5 on.
fn minutes(row: usize) -> f64 {
    60.0 * row as f64 + if row >= 5 { 7_200.0 } else { 0.0 }
}

/// A recording's dates are sent as they are, each message stamped with
/// its first row's time; no message spans the gap in time (nor the
/// skipped row), so the service sees the jump between two messages.
#[test]
fn a_recordings_dates_stamp_its_messages_and_no_message_spans_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    // 2026-01-01T00:00:00Z is 1,767,225,600 s after the epoch.
    let signal = recorded(dir.path(), |row| {
        let m = minutes(row) as u64;
        format!("2026-01-01T{:02}:{:02}:00Z", m / 3600, m / 60 % 60)
    });
    assert_eq!(
        messages(&signal, 0, signal.samples(), 4),
        [(0, 2), (3, 2), (5, 3)]
    );
    let stamps = Stamps::new(&signal, Some(0), signal.samples(), &[]);
    for row in [0u64, 3, 5, 7] {
        let want = (1_767_225_600.0 + minutes(row as usize)) as i64 * 1_000_000_000;
        assert_eq!(stamps.ts(&signal, row), want, "row {row}");
    }
}

/// A replay of an export that runs up to today: its first rows are old,
/// its last ones from the last 7 days, which the service and `tail` take
/// for times of publication: found (and warned of), not only the first row.
#[test]
fn a_recording_that_runs_into_the_last_week_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let signal = recorded(dir.path(), |row| {
        let m = minutes(row) as u64;
        format!("2026-01-01T{:02}:{:02}:00Z", m / 3600, m / 60 % 60)
    });
    let at = |s: f64| (s * 1e9) as i64;
    // A day after row 7, every row is recent; 7 days and 30 s after row
    // 4, rows 0–4 are older, row 5 (two hours on) is not; 8 days after
    // row 7, none is.
    let row7 = 1_767_225_600.0 + minutes(7);
    let recent = |now: f64| Stamps::first_recent(&signal, Some(0), signal.samples(), at(now));
    assert_eq!(recent(row7 + 86_400.0), Some(0));
    assert_eq!(
        recent(1_767_225_600.0 + minutes(4) + 7.0 * 86_400.0 + 30.0),
        Some(5)
    );
    assert_eq!(recent(row7 + 8.0 * 86_400.0), None);
}

/// A time that is no date (seconds from a run's start) counts from the
/// first date `ts` reads (2001-09-09T01:46:40Z), its steps kept: the same
/// stamps every run, none taken for a time of publication.
#[test]
fn a_recordings_run_time_counts_from_2001() {
    let dir = tempfile::tempdir().unwrap();
    let signal = recorded(dir.path(), |row| format!("{}", minutes(row)));
    let stamps = Stamps::new(&signal, Some(3), signal.samples(), &[]);
    let at = |row| stamps.ts(&signal, row);
    let from_2001 = |row: usize| (1e9 + minutes(row)) as i64 * 1_000_000_000;
    for row in [0, 3, 4, 5, 7] {
        assert_eq!(at(row as u64), from_2001(row), "row {row}");
    }
    assert_eq!(crate::stats::latency_at(at(3), now_ns()), None);
    assert_eq!(
        crate::window::stamp_ns(at(3)),
        at(3),
        "read as ns by the service"
    );
}

/// A date with milliseconds is sent to the µs, its steps exact: an f64 of
/// ns would be off by up to a few hundred ns, and a route whose `max_gap`
/// is the step would restart at a quarter of the rows.
#[test]
fn a_date_with_milliseconds_keeps_its_steps_exact() {
    let dir = tempfile::tempdir().unwrap();
    let signal = recorded(dir.path(), |row| {
        format!("2026-01-01T00:00:{:06.3}Z", 0.001 * row as f64 + 1.0)
    });
    let stamps = Stamps::new(&signal, Some(0), signal.samples(), &[]);
    for row in [0u64, 3, 4, 5, 6] {
        let step = stamps.ts(&signal, row + 1) - stamps.ts(&signal, row);
        assert_eq!(step, 1_000_000, "row {row} to the next");
    }
}

/// `--speed`: each message waits until its row's time since the first
/// row sent, over the speed, has passed (the two-hour gap too); without
/// recorded times, the rate paces it.
#[tokio::test(start_paused = true)]
async fn a_recording_plays_at_its_own_pace_times_the_speed() {
    let dir = tempfile::tempdir().unwrap();
    let signal = recorded(dir.path(), |row| format!("{}", minutes(row)));
    let opts = PublishOptions {
        signal: signal.clone(),
        streams: vec!["s".into()],
        prefix: "samples".into(),
        rate: 200.0,
        speed: Some(60.0),
        count: None,
        batch: 1,
        start_seq: 0,
        jetstream: false,
        unit: None,
    };
    let start = tokio::time::Instant::now();
    let mut pace = Pace::new(&opts, Some(0));
    for row in [0u64, 1, 3, 4, 5, 7] {
        pace.wait(&signal, row).await;
        let waited = start.elapsed().as_secs_f64();
        let due = minutes(row as usize) / 60.0;
        assert!(
            (waited - due).abs() < 1e-3,
            "row {row}: {waited} s, due {due} s"
        );
    }
    let pair = PublishOptions {
        signal: Signal::Pair(pairs::find("sin-cos").unwrap()),
        ..opts
    };
    assert!(matches!(Pace::new(&pair, Some(0)), Pace::Rate(_)));
}

/// Without a time column, or for a pair's curve, a message is stamped
/// with the time it is sent.
#[test]
fn without_recorded_times_a_message_is_stamped_now() {
    let rows: Vec<Option<f32>> = (0..4).map(|i| Some(i as f32)).collect();
    let plain = rows_of(rows, &[]);
    let pair = Signal::Pair(pairs::find("sin-cos").unwrap());
    for signal in [plain, pair] {
        let before = now_ns();
        let ts = Stamps::new(&signal, Some(0), signal.samples(), &[]).ts(&signal, 2);
        assert!((before..=now_ns()).contains(&ts));
    }
}

#[test]
fn a_pair_is_endless_unless_counted() {
    let signal = Signal::Pair(pairs::find("sin-cos").unwrap());
    assert_eq!(messages(&signal, 5, Some(15), 4), [(5, 4), (9, 4), (13, 2)]);
    assert_eq!(next_message(&signal, 1 << 40, None, 3), Some((1 << 40, 3)));
}

/// A stream served by a model trained on a recording (its pair is no
/// built-in one) plots its translation without a truth to draw (it
/// failed with "unknown pair"); with a built-in pair, the curves too.
#[test]
fn a_stream_without_a_known_curve_still_plots() {
    let dir = tempfile::tempdir().unwrap();
    let windows: Vec<Translation> = (0..3)
        .map(|k| Translation {
            stream: "r".into(),
            seq: 24 * k,
            values: (0..24).map(|i| (i as f32 * 0.1).sin() * 1e3).collect(),
            pair: "heating-plant".into(),
            model: "m".into(),
            ts: None,
            unit: None,
        })
        .collect();
    let path = dir.path().join("r.png");
    figure::plot_stream(&path, &windows, None, "heat flow [W]").unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    let sin_cos: Vec<Translation> = windows
        .into_iter()
        .map(|t| Translation {
            pair: "sin-cos".into(),
            ..t
        })
        .collect();
    figure::plot_stream(&dir.path().join("s.png"), &sin_cos, None, "value").unwrap();
}

/// `tail`'s line for a window with its truth says which way the truth is
/// off the translation, on average over the window.
#[test]
fn a_windows_line_says_which_way_the_truth_is_off() {
    let t = Translation {
        stream: "wr01".into(),
        seq: 7,
        values: vec![100.0, 90.0],
        pair: "pv".into(),
        model: "m".into(),
        ts: None,
        unit: None,
    };
    let line = describe(&t, Some(&[1.0, 1.0]), None);
    assert!(
        line.contains("mse 8.86e3  truth − translation -94.0000 mean"),
        "{line}"
    );
    assert!(!describe(&t, None, None).contains("truth"));
}

/// `tail --every N` prints every N-th translation of each stream: one
/// stream's burst does not crowd another's out.
#[test]
fn every_nth_translation_of_each_stream() {
    let mut every = Every::new(3);
    let printed: Vec<bool> = ["a", "a", "a", "a", "b", "a", "b", "b", "b"]
        .iter()
        .map(|s| every.take(s))
        .collect();
    assert_eq!(
        printed,
        [true, false, false, true, true, false, false, false, true]
    );
    assert!(!Every::new(0).take("a"));
}
