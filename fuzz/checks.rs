//! The invariants the fuzz targets check, in one copy: included with
//! `#[path]` by `fuzz/fuzz_targets/*.rs` and by `tests/fuzz_regressions.rs`
//! (which replays the `wire` corpus and the saved crashes under `cargo test`).
//!
//! Every check panics when an invariant does not hold; that is what libFuzzer
//! reports as a crash and what makes the regression test fail.

use pipeline::window::{Outcome, SavedWindow, StreamWindow};
use pipeline::wire::{
    self, DecodeError, ErrorEvent, MAX_VALUES_PER_MESSAGE, Samples, SamplesOut, Translation,
};

/// W for the windows the `wire` target pushes decoded samples through (the
/// seed models' window).
pub const WIRE_WINDOW: usize = 24;

/// Runs `data` through every decoder in `pipeline::wire`, checks what each
/// promises on success, and pushes decoded samples through a
/// [`StreamWindow`] checked against [`Reference`]. The last input byte picks
/// the stride (0..=7; 0 is the degenerate stride `accept` treats as 1).
pub fn check_wire(data: &[u8]) {
    let stride = data.last().map_or(1, |b| u64::from(b % 8));
    let is_map = matches!(data.first(), Some(0x80..=0x8f | 0xde | 0xdf));
    // A JSON object, a bare number or a JSON array: all text.
    let is_text = std::str::from_utf8(data).is_ok();

    match wire::decode_samples(data) {
        Ok(s) => {
            assert!(
                is_map || is_text,
                "decode_samples accepted a payload that is neither a map nor text"
            );
            check_samples(&s);
            check_samples_round_trip(&s);
            check_samples_through_window(&s, stride);
        }
        Err(e) => {
            if !is_map && !is_text {
                assert!(
                    matches!(e, DecodeError::Malformed(_)),
                    "a payload neither a map nor text must be `malformed`, got {e:?}"
                );
            }
        }
    }

    match wire::decode_request(data) {
        Ok((values, _pair)) => {
            assert!(
                is_map,
                "decode_request accepted a payload that is not a map"
            );
            assert_all_finite(&values, "decode_request");
        }
        Err(e) => {
            if !is_map {
                assert!(
                    matches!(e, DecodeError::Malformed(_)),
                    "a non-map request must be `malformed`, got {e:?}"
                );
            }
        }
    }

    // Outputs: whatever decodes must encode (non-empty: `encode` hides a
    // failure as an empty Vec) and decode back to the same bytes.
    if let Ok(t) = Translation::decode(data) {
        let bytes = t.encode();
        assert!(!bytes.is_empty(), "Translation::encode failed for {t:?}");
        let back = Translation::decode(&bytes).expect("an encoded Translation decodes");
        assert_eq!(back.encode(), bytes, "Translation round trip changed {t:?}");
    }
    if let Ok(e) = ErrorEvent::decode(data) {
        let bytes = e.encode();
        assert!(!bytes.is_empty(), "ErrorEvent::encode failed for {e:?}");
        let back = ErrorEvent::decode(&bytes).expect("an encoded ErrorEvent decodes");
        assert_eq!(back, e, "ErrorEvent round trip");
    }
}

/// What `decode_samples` promises about a message it accepts.
pub fn check_samples(s: &Samples) {
    assert!(!s.values.is_empty(), "decoded an empty sample message");
    assert!(
        s.values.len() <= MAX_VALUES_PER_MESSAGE,
        "{} values decoded (at most {MAX_VALUES_PER_MESSAGE})",
        s.values.len()
    );
    assert!(
        s.seq
            .is_none_or(|seq| seq.checked_add(s.values.len() as u64).is_some()),
        "seq {:?} + {} values overflows u64",
        s.seq,
        s.values.len()
    );
    assert_all_finite(&s.values, "decode_samples");
}

fn assert_all_finite(values: &[f32], who: &str) {
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        panic!("{who} returned non-finite value {v} at index {i}");
    }
}

/// What a sender writes for these samples (`value` for one sample and
/// `values` for any number) decodes to the same samples.
fn check_samples_round_trip(s: &Samples) {
    // What a sender numbers nothing for is not what `pipeline publish` writes.
    let Some(seq) = s.seq else {
        return;
    };
    let mut forms = vec![SamplesOut {
        seq,
        value: None,
        values: Some(&s.values),
        ts: s.ts,
    }];
    if let [v] = s.values[..] {
        forms.push(SamplesOut {
            seq,
            value: Some(v),
            values: None,
            ts: s.ts,
        });
    }
    for out in forms {
        let bytes = out.encode();
        let back = wire::decode_samples(&bytes)
            .unwrap_or_else(|e| panic!("sender encoding of {out:?} does not decode: {e}"));
        assert_eq!(&back, s, "sender encoding round trip");
    }
}

/// Pushes decoded samples through a fresh window as the service would, then
/// replays them (all out of order), continues them (contiguous) and repeats
/// them after a one-sample gap, each time against [`Reference`].
fn check_samples_through_window(s: &Samples, stride: u64) {
    let n = s.values.len() as u64;
    let mut w = StreamWindow::new(WIRE_WINDOW);
    let mut r = Reference::new(WIRE_WINDOW);
    // The service numbers an unnumbered message of a new stream from 0.
    let seq = s.seq.unwrap_or(0);

    let o = accept_and_compare(&mut w, &mut r, seq, &s.values, stride);
    assert_eq!(
        (o.accepted, o.out_of_order, o.gap),
        (s.values.len(), 0, None),
        "a fresh window accepts every sample"
    );

    let o = accept_and_compare(&mut w, &mut r, seq, &s.values, stride);
    assert_eq!(
        (o.accepted, o.out_of_order, o.windows, o.gap),
        (0, s.values.len(), 0, None),
        "a replayed message is all out of order"
    );

    // The caller's contract: seq + len does not overflow.
    let Some(next) = seq.checked_add(n).filter(|x| x.checked_add(n).is_some()) else {
        return;
    };
    let o = accept_and_compare(&mut w, &mut r, next, &s.values, stride);
    assert_eq!(
        (o.accepted, o.out_of_order, o.gap),
        (s.values.len(), 0, None),
        "a contiguous continuation is accepted"
    );

    let end = next + n;
    let Some(after_gap) = end.checked_add(1).filter(|x| x.checked_add(n).is_some()) else {
        return;
    };
    let o = accept_and_compare(&mut w, &mut r, after_gap, &s.values, stride);
    assert_eq!(o.gap, Some((end, after_gap)), "a forward jump is a gap");
}

/// A window, as it must be: a naive model of `StreamWindow` that keeps the
/// current run (the samples since the last gap) and emits its last W samples
/// every `stride`-th sample once W are in hand.
pub struct Reference {
    window: usize,
    next: Option<u64>,
    /// Samples in the current run.
    run: u64,
    /// The last `window` samples of the current run: (seq, value).
    tail: std::collections::VecDeque<(u64, f32)>,
}

/// An emitted window: first seq and the W values (as bits, so NaN compares).
pub type Emitted = (u64, Vec<u32>);

impl Reference {
    pub fn new(window: usize) -> Self {
        assert!(window > 0, "W ≥ 1 (the service never builds a 0 window)");
        Self {
            window,
            next: None,
            run: 0,
            tail: Default::default(),
        }
    }

    pub fn accept(&mut self, seq: u64, values: &[f32], stride: u64) -> (Outcome, Vec<Emitted>) {
        let mut out = Outcome::default();
        let mut emitted = Vec::new();
        for (i, &v) in values.iter().enumerate() {
            let s = seq + i as u64;
            if let Some(next) = self.next {
                if s < next {
                    out.out_of_order += 1;
                    continue;
                }
                if s > next {
                    out.gap.get_or_insert((next, s));
                    self.run = 0;
                    self.tail.clear();
                }
            }
            self.next = Some(s + 1);
            self.run += 1;
            self.tail.push_back((s, v));
            if self.tail.len() > self.window {
                self.tail.pop_front();
            }
            out.accepted += 1;
            let w = self.window as u64;
            if self.run >= w && (self.run - w).is_multiple_of(stride.max(1)) {
                emitted.push((
                    self.tail[0].0,
                    self.tail.iter().map(|x| x.1.to_bits()).collect(),
                ));
                out.windows += 1;
            }
        }
        (out, emitted)
    }
}

/// `w.accept(...)` and `r.accept(...)` on the same message: same outcome,
/// same windows, plus the invariants every emitted window must meet.
/// The caller keeps `seq + values.len()` within u64 (`accept`'s contract).
pub fn accept_and_compare(
    w: &mut StreamWindow,
    r: &mut Reference,
    seq: u64,
    values: &[f32],
    stride: u64,
) -> Outcome {
    let before = w.next_seq();
    let mut got: Vec<Emitted> = Vec::new();
    let o = w.accept(seq, values, stride, |first, win| {
        got.push((first, win.iter().map(|v| v.to_bits()).collect()))
    });
    let (want_o, want) = r.accept(seq, values, stride);

    assert_eq!(
        o.accepted + o.out_of_order,
        values.len(),
        "every sample is accepted or out of order: {o:?}"
    );
    assert_eq!(o.windows, got.len(), "Outcome::windows counts the emits");
    if o.accepted > 0 {
        let last = w.next_seq().expect("a stream that accepted has a next seq") - 1;
        assert!(
            last >= seq && last - seq < values.len() as u64,
            "next_seq {last} + 1 not in this message"
        );
        for (first, win) in &got {
            assert_eq!(win.len(), r.window, "window length is W");
            assert!(
                first + r.window as u64 - 1 <= last,
                "window at {first} ends after the last accepted seq {last}"
            );
        }
    } else {
        assert_eq!(
            w.next_seq(),
            before,
            "a message with nothing accepted changes nothing"
        );
        assert!(got.is_empty(), "windows without an accepted sample");
    }
    assert_eq!(o, want_o, "outcome differs from the reference");
    assert_eq!(got, want, "windows differ from the reference");
    assert_eq!(w.next_seq(), r.next, "next_seq differs from the reference");
    o
}

/// A window restored from an arbitrary checkpoint (another build's, another
/// W's, or corrupt): whatever `restore` accepts must take messages without
/// panicking, emit windows of W samples, and account for every sample.
/// Messages are (seq, values, stride); ones that break `accept`'s contract
/// (seq + len overflows) are skipped. Returns whether `restore` accepted.
pub fn check_restored_window(
    window: usize,
    saved: &SavedWindow,
    messages: &[(u64, Vec<f32>, u64)],
) -> bool {
    let Ok(mut w) = StreamWindow::restore(window, saved) else {
        return false;
    };
    for (seq, values, stride) in messages {
        if seq.checked_add(values.len() as u64).is_none() {
            continue;
        }
        let mut emitted = 0;
        let o = w.accept(*seq, values, *stride, |first, win| {
            assert_eq!(win.len(), window, "window at {first} is not W long");
            emitted += 1;
        });
        assert_eq!(o.accepted + o.out_of_order, values.len(), "{o:?}");
        assert_eq!(o.windows, emitted, "{o:?}");
    }
    true
}

/// The NATS protocol parser of our patched async-nats
/// (`vendor/async-nats/PATCHES.md`), which reads what publishers send:
/// `data` as raw server bytes must parse or be refused, never panic or loop
/// (a loop is a libFuzzer timeout); and `data` shaped into one `MSG` or
/// `HMSG` frame must come out as exactly that message, flagged when and only
/// when its subject is not UTF-8.
pub fn check_nats_parser(data: &[u8]) {
    let _ = async_nats::connection::parse_server_bytes(data);

    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(first & 0x3f).min(rest.len());
    let (subject, rest) = rest.split_at(n);
    // A subject is one argument: no separators, no line breaks.
    let mut subject: Vec<u8> = subject
        .iter()
        .map(|&b| {
            if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                b'x'
            } else {
                b
            }
        })
        .collect();
    if subject.is_empty() {
        subject.push(b's');
    }
    let with_headers = first & 0x80 != 0;
    let header_len = if with_headers {
        rest.first().map_or(0, |&b| usize::from(b)).min(rest.len())
    } else {
        0
    };
    let mut frame = Vec::new();
    if with_headers {
        frame.extend_from_slice(b"HMSG ");
        frame.extend_from_slice(&subject);
        frame.extend_from_slice(format!(" 1 {header_len} {}\r\n", rest.len()).as_bytes());
    } else {
        frame.extend_from_slice(b"MSG ");
        frame.extend_from_slice(&subject);
        frame.extend_from_slice(format!(" 1 {}\r\n", rest.len()).as_bytes());
    }
    frame.extend_from_slice(rest);
    frame.extend_from_slice(b"\r\n");

    let ops = async_nats::connection::parse_server_bytes(&frame)
        .unwrap_or_else(|e| panic!("a well-framed message was refused: {e}"));
    assert_eq!(ops.len(), 1, "one frame, one operation");
    let msg = ops[0].as_ref().expect("a message");
    assert_eq!(&msg.payload[..], &rest[header_len..], "payload");
    assert_eq!(msg.subject.as_str(), String::from_utf8_lossy(&subject));
    let not_utf8 = std::str::from_utf8(&subject).is_err();
    let flagged_subject = msg.description.as_deref()
        == Some(&*format!(
            "{}{}",
            async_nats::connection::FLAG_PREFIX,
            async_nats::connection::NOT_UTF8_SUBJECT
        ));
    assert_eq!(
        not_utf8, flagged_subject,
        "flagged iff the subject is not UTF-8"
    );
    if msg.description.is_some() && msg.status.is_none() {
        assert!(
            msg.description
                .as_deref()
                .is_some_and(|d| d.starts_with(async_nats::connection::FLAG_PREFIX)),
            "a description without a status is a flag"
        );
    }
}
