//! Structured input for the window logic: a sequence of messages (seq
//! relative to what the stream expects, values, stride) run through
//! `StreamWindow` and a naive reference model (`fuzz/checks.rs`), with
//! checkpoints (`save`/`restore`) in between, plus
//! arbitrary subject patterns, subjects and keys through `SubjectPattern`,
//! `validate_key` and `subscriptions`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pipeline::window::{self, PARTITION_TOKEN, SavedWindow, StreamWindow, SubjectPattern};

/// Only the window half of the shared checks is used here.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

/// Where a message starts, relative to the stream's next expected seq.
#[derive(Arbitrary, Debug)]
enum Start {
    /// Exactly the next seq (contiguous).
    Next,
    /// `k` before it (overlap / duplicate / out of order).
    Back(u16),
    /// `k` after it (a gap when k > 0).
    Forward(u16),
    /// Anywhere, up to the top of the u64 range.
    At(u64),
}

#[derive(Arbitrary, Debug)]
struct Message {
    start: Start,
    values: Vec<f32>,
    stride: u8,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Accept(Message),
    /// `save` then `restore` (as a checkpoint does): the stream must go on
    /// exactly as if nothing happened.
    Checkpoint,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// W = 1 + window % 64.
    window: u8,
    ops: Vec<Op>,
    pattern: String,
    subjects: Vec<String>,
    owned: Vec<u32>,
}

fuzz_target!(|input: Input| {
    let w = 1 + usize::from(input.window % 64);
    let mut sw = StreamWindow::new(w);
    let mut r = checks::Reference::new(w);
    for op in &input.ops {
        let m = match op {
            Op::Accept(m) => m,
            Op::Checkpoint => {
                let saved = sw.save();
                sw = StreamWindow::restore(w, &saved)
                    .unwrap_or_else(|e| panic!("restoring {saved:?}: {e}"));
                // Compared as bits: a NaN sample is kept, but NaN != NaN.
                let bits = |s: &SavedWindow| {
                    let tail: Vec<u32> = s.tail.iter().map(|v| v.to_bits()).collect();
                    (s.next_seq, s.run, tail)
                };
                assert_eq!(bits(&sw.save()), bits(&saved), "save after restore");
                continue;
            }
        };
        let next = sw.next_seq().unwrap_or(0);
        let seq = match m.start {
            Start::Next => Some(next),
            Start::Back(k) => next.checked_sub(u64::from(k)),
            Start::Forward(k) => next.checked_add(u64::from(k)),
            Start::At(s) => Some(s),
        };
        // `accept`'s contract: seq + values.len() does not overflow
        // (decode_samples refuses such messages).
        let Some(seq) = seq.filter(|s| s.checked_add(m.values.len() as u64).is_some()) else {
            continue;
        };
        checks::accept_and_compare(&mut sw, &mut r, seq, &m.values, u64::from(m.stride));
    }

    check_subjects(&input);
});

fn check_subjects(input: &Input) {
    for s in input.subjects.iter().chain([&input.pattern]) {
        if window::validate_key(s).is_ok() {
            assert!(!s.is_empty() && s.len() <= window::MAX_KEY_LEN, "{s:?}");
            assert!(s.split('.').all(|t| !t.is_empty()), "{s:?}");
        }
    }

    // One subscription per owned partition, none still holding the token
    // (the replacement is digits, so it cannot form a new one).
    let subs = window::subscriptions(&input.pattern, &input.owned);
    if input.pattern.contains(PARTITION_TOKEN) {
        assert_eq!(subs.len(), input.owned.len());
        assert!(
            subs.iter().all(|s| !s.contains(PARTITION_TOKEN)),
            "{subs:?}"
        );
    } else {
        assert_eq!(subs, [input.pattern.as_str()]);
    }

    let Ok(p) = SubjectPattern::parse(&input.pattern) else {
        return;
    };
    let tokens: Vec<&str> = input.pattern.split('.').collect();
    assert!(
        tokens.iter().any(|t| *t == "*" || *t == ">"),
        "parsed without a wildcard"
    );
    assert!(tokens.iter().all(|t| !t.is_empty()));
    assert!(tokens[..tokens.len() - 1].iter().all(|t| *t != ">"));

    // Arbitrary subjects: a key, when there is one, is valid and made of
    // the subject's tokens.
    for s in &input.subjects {
        if let Ok(key) = p.key(s) {
            assert!(window::validate_key(&key).is_ok(), "key {key:?} of {s:?}");
            let parts: Vec<&str> = s.split('.').collect();
            assert!(
                key.split('.').all(|k| parts.contains(&k)),
                "key {key:?} of {s:?}"
            );
        }
    }

    // A subject built from the pattern (wildcards filled with the fuzzer's
    // tokens) has exactly the filled tokens as its key, when that key is a
    // valid one, and no key otherwise.
    let mut fill = input
        .subjects
        .iter()
        .filter(|t| !t.is_empty() && !t.contains('.'))
        .map(String::as_str)
        .cycle();
    let mut subject = Vec::new();
    let mut key = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match *t {
            "*" | ">" => {
                let Some(f) = fill.next() else { return };
                subject.push(f);
                key.push(f);
                if *t == ">" && i % 2 == 1 {
                    // `>` matches one or more tokens.
                    let Some(g) = fill.next() else { return };
                    subject.push(g);
                    key.push(g);
                }
            }
            PARTITION_TOKEN => subject.push("7"),
            lit => subject.push(lit),
        }
    }
    let (subject, key) = (subject.join("."), key.join("."));
    match (p.key(&subject), window::validate_key(&key)) {
        (Ok(got), Ok(())) => assert_eq!(got, key, "subject {subject:?}"),
        (Err(_), Err(_)) => {}
        (got, valid) => {
            panic!("subject {subject:?}: key {got:?}, expected {key:?} (valid: {valid:?})")
        }
    }
}
