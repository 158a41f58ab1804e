//! Replays the `wire` fuzz target's corpus (`fuzz/corpus/wire/`) and the saved
//! crashing inputs (`tests/fuzz_regressions/`, if any) through the same checks
//! as the fuzz target: the invariants live in one copy, `fuzz/checks.rs`.
//! See `fuzz/README.md` for running the fuzzers themselves.

use std::path::{Path, PathBuf};

use pipeline::window::SavedWindow;

#[path = "../fuzz/checks.rs"]
mod checks;

fn inputs(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// A `.hex` file holds the input as hex digits (whitespace ignored); any
/// other file is the raw input.
fn load(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "hex") {
        let digits: Vec<u8> = bytes
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        digits
            .chunks(2)
            .map(|pair| {
                let s = std::str::from_utf8(pair).expect("hex digits");
                u8::from_str_radix(s, 16)
                    .unwrap_or_else(|e| panic!("{}: bad hex {s:?}: {e}", path.display()))
            })
            .collect()
    } else {
        bytes
    }
}

fn replay(files: &[PathBuf], check: fn(&[u8])) {
    for path in files {
        let data = load(path);
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("fuzz input {} fails the checks", path.display());
        }
    }
}

/// Replays a target's committed corpus (at least `min` inputs).
fn replay_corpus(target: &str, min: usize, check: fn(&[u8])) {
    let files = inputs(&format!("fuzz/corpus/{target}"));
    assert!(
        files.len() >= min,
        "fuzz/corpus/{target}/ holds {} inputs; expected the committed corpus",
        files.len()
    );
    replay(&files, check);
}

#[test]
fn wire_corpus_passes_the_fuzz_checks() {
    replay_corpus("wire", 8, checks::check_wire);
}

#[test]
fn saved_crashes_pass_the_fuzz_checks() {
    replay(&inputs("tests/fuzz_regressions"), checks::check_wire);
}

#[test]
fn nats_parser_corpus_passes_the_fuzz_checks() {
    replay_corpus("nats_parser", 6, checks::check_nats_parser);
}

/// Hostile frames, op by op: a subject that is not UTF-8 and a header value
/// with a lone CR arrive as flagged messages, and a bare `-ERR` is an error
/// op; nothing panics and parsing goes on.
#[test]
fn the_patched_parser_delivers_hostile_frames_flagged() {
    let data = b"MSG samples.\xff 1 2\r\nhi\r\n\
                 HMSG s 1 20 22\r\nNATS/1.0\r\nX: a\rb\r\n\r\nhi\r\n\
                 -ERR\r\n";
    let ops = async_nats::connection::parse_server_bytes(data).unwrap();
    assert_eq!(ops.len(), 3, "{ops:?}");
    let first = ops[0].as_ref().unwrap();
    assert_eq!(first.subject.as_str(), "samples.\u{FFFD}");
    assert_eq!(
        first.description.as_deref(),
        Some("client: subject is not valid UTF-8")
    );
    let second = ops[1].as_ref().unwrap();
    assert_eq!(&second.payload[..], b"hi");
    assert_eq!(
        second.description.as_deref(),
        Some("client: invalid headers: invalid header value")
    );
    assert!(ops[2].is_none(), "-ERR");
}

/// The checks can fail: samples the decoder must never return are caught.
#[test]
#[should_panic(expected = "non-finite")]
fn checks_catch_a_non_finite_sample() {
    checks::check_samples(&pipeline::wire::Samples {
        seq: Some(0),
        values: vec![1.0, f32::NAN],
        ts: None,
    });
}

#[test]
#[should_panic(expected = "overflows")]
fn checks_catch_a_seq_overflow() {
    checks::check_samples(&pipeline::wire::Samples {
        seq: Some(u64::MAX),
        values: vec![1.0],
        ts: None,
    });
}

/// The window checks compare against the reference model: a window that
/// emits a different slice than the reference is caught.
#[test]
#[should_panic(expected = "differ from the reference")]
fn checks_catch_a_wrong_window() {
    let mut w = pipeline::window::StreamWindow::new(3);
    let mut r = checks::Reference::new(3);
    checks::accept_and_compare(&mut w, &mut r, 0, &[1.0, 2.0, 3.0], 1);
    // Feed the reference a different message than the window.
    let mut r2 = checks::Reference::new(3);
    r2.accept(0, &[1.0, 2.0, 9.0], 1);
    checks::accept_and_compare(&mut w, &mut r2, 3, &[4.0], 1);
}

// Crashes found by the `checkpoint` fuzz target. The raw inputs (in the
// target's `arbitrary` encoding) are in tests/fuzz_regressions/checkpoint/ and
// replay with `cargo fuzz run checkpoint FILE` (see fuzz/README.md); here they
// are written out as the values they decode to. Either fix is fine for these
// tests: `restore` refusing the checkpoint, or accepting it and going on
// without panicking.

/// crash-598d4806c414887bdac2d14b5cc290bb28163535: a tail shorter than
/// min(run, W − 1). `restore` accepts it, and the first window then slices
/// `buf[buf.len() - W..]` with buf.len() < W (window.rs, `accept`):
/// "attempt to subtract with overflow" (an out-of-range slice in release).
#[test]
fn restore_with_a_short_tail_does_not_panic() {
    let saved = SavedWindow {
        next_seq: None,
        run: 2_005_511_432_340_612,
        tail: vec![],
        last_ts: None,
        unnumbered: false,
        hold: None,
    };
    checks::check_restored_window(5, &saved, &[(25_523_285_556_985_978, vec![0.0], 0)]);
}

/// The same bug, reached without corruption: a checkpoint written with
/// W = 2 (tail of 1 sample, run 5) read back after a restart with W = 4
/// (e.g. a model with a longer window).
#[test]
fn restore_with_a_larger_window_does_not_panic() {
    let mut w = pipeline::window::StreamWindow::new(2);
    w.accept(0, &[0.0, 1.0, 2.0, 3.0, 4.0], 1, |_, _| {});
    let saved = w.save();
    assert_eq!((saved.run, saved.tail.len()), (5, 1));
    checks::check_restored_window(4, &saved, &[(5, vec![5.0, 6.0, 7.0, 8.0], 1)]);
}

/// crash-c804864541572aabbe9e10feff6844a72332fe8b: run = u64::MAX (more
/// samples than seqs before `next_seq`, impossible for a real stream), then
/// one sample: `self.run += 1` overflows (a panic with overflow checks, a
/// silent wrap to 0 in release).
#[test]
fn restore_with_an_impossible_run_does_not_panic() {
    let saved = SavedWindow {
        next_seq: None,
        run: u64::MAX,
        tail: vec![],
        last_ts: None,
        unnumbered: false,
        hold: None,
    };
    checks::check_restored_window(
        1,
        &saved,
        &[
            (15_827_146_625_534_394_368, vec![3.8e-44], 7),
            (0, vec![], 0),
        ],
    );
}

/// A checkpoint as `save` writes it restores and goes on (the check itself
/// is not vacuous: `restore` accepts this one).
#[test]
fn restore_of_a_saved_window_goes_on() {
    let mut w = pipeline::window::StreamWindow::new(4);
    w.accept(10, &[0.0, 1.0, 2.0, 3.0, 4.0], 1, |_, _| {});
    let saved = w.save();
    assert!(checks::check_restored_window(
        4,
        &saved,
        &[(15, vec![5.0, 6.0], 2), (3, vec![1.0], 1)]
    ));
}
