//! Per-stream sliding windows, and the subject → stream-key mapping.
//!
//! A window never spans a gap: when `seq` jumps forward the window restarts
//! from the new sample. Samples at or before the last accepted `seq` are
//! dropped (out of order / duplicate). With a [`TimeGaps`] rule, a jump in
//! the messages' time stamps restarts it too, as training split the
//! recording where its time column jumped.

/// The last W samples of one stream, contiguous in memory.
///
/// Samples are appended to a buffer of 2W; when it is full the last W − 1
/// move to the front. Every window is then a plain slice (no ring-buffer
/// copy) at an amortised cost of one move per W samples.
#[derive(Debug, Clone)]
pub struct StreamWindow {
    buf: Vec<f32>,
    window: usize,
    /// Samples accepted since the last reset (the run length).
    run: u64,
    /// The next seq expected; `None` before the first sample.
    next_seq: Option<u64>,
    /// The last time-stamped message: (seq of its first sample, `ts`).
    last_ts: Option<(u64, i64)>,
    /// Where the stream's sampling step is next judged from: (seq, time in
    /// ns) of a stamped sample of this run (see [`Self::judge_rate`]).
    rate_from: Option<(u64, i64)>,
    /// The stream's step over its last judged span against the model's
    /// (`TimeGaps::step_ns`), when outside [`RATE_BAND`].
    off_rate: Option<f64>,
    /// The latest `ts` (ns) of a message taken, whatever the route's time
    /// rule: a publisher whose count starts again at 0 shows by its time.
    newest_ts: Option<i64>,
    /// Its last message carried no `seq` (the service counted it): a
    /// refused one (an `unavailable`, a NaN) is a hole the count cannot
    /// show, so it restarts the window (see [`Self::refused`]).
    unnumbered: bool,
    /// Its changes read on the route's clock, where the route has one
    /// (see [`hold`]).
    pub hold: hold::Hold,
}

/// How far a stream's sampling step may lie from the training recording's
/// (as a ratio) before its windows count as sampled at another rate: a
/// model fitted to a 1 s step reads a window of samples 2 s or 0.5 s apart
/// as a signal twice as fast or slow, which its translations do not say.
pub const RATE_BAND: std::ops::RangeInclusive<f64> = (2.0 / 3.0)..=1.5;

/// When two samples are too far apart in time to share a window: the
/// route's model was trained on a recording split where its time column
/// jumped by more than `max_gap_ns` or went back, so the service splits a
/// stream the same way, by the messages' `ts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeGaps {
    /// The longest step between two samples that one window may hold (ns).
    pub max_gap_ns: i64,
    /// The recording's step between samples (ns; 0: unknown). A message's
    /// `ts` is its first sample's: the samples between two stamped
    /// messages are taken to be this far apart.
    pub step_ns: i64,
}

/// A message's `ts` in ns: one in seconds, milliseconds or microseconds
/// since the epoch (`time.time()`, `Date.now()`), told by its size as a
/// recording's time column is, is taken as such (dates from 2001 on; ns
/// in an i64 end in 2262, past which a stamp stays as it is).
pub fn stamp_ns(ts: i64) -> i64 {
    let per_unit = match ts {
        1_000_000_000..10_000_000_000 => 1_000_000_000,
        1_000_000_000_000..10_000_000_000_000 => 1_000_000,
        1_000_000_000_000_000..10_000_000_000_000_000 => 1_000,
        _ => 1,
    };
    ts.checked_mul(per_unit).unwrap_or(ts)
}

/// Below this a `ts` is no time since the epoch in any unit (before 1990
/// read as seconds, the coarsest): a test bench's clock, seconds since its
/// start (a battery cycler's `Test_Time(s)`, as a recording's time column
/// that small is read), not nanoseconds of January 1970.
pub const SINCE_START: i64 = 631_152_000;
/// [`SINCE_START`] as a float.
pub const SINCE_START_F: f64 = SINCE_START as f64;

/// A message's `ts` as a route's time rule takes it (ns): [`stamp_ns`],
/// and a positive one under [`SINCE_START`] as seconds since a start, so
/// that a rest of a minute is a minute, not 60 ns (a float's fraction was
/// cut: whole seconds). Only its gaps count: no latency is taken from it.
pub fn rule_ns(ts: i64) -> i64 {
    match ts {
        1..SINCE_START => ts * 1_000_000_000,
        _ => stamp_ns(ts),
    }
}

impl TimeGaps {
    /// The rule a route serving a model takes: its `max_gap` (seconds; 0:
    /// none), else the gap the model's training recording was split at
    /// (`retrain --max-gap`, or three times the recording's median step,
    /// as `retrain` splits by default), when it was read with a time column
    /// (the model's metrics record `reading.max_gap_s` or `time_step_s`).
    /// A gap under 1 ns is none.
    pub fn of(max_gap: Option<f64>, metrics: Option<&serde_json::Value>) -> Option<Self> {
        let positive = |v: &serde_json::Value| v.as_f64().filter(|s| s.is_finite() && *s > 0.0);
        let step = metrics.and_then(|m| positive(&m["time_step_s"]));
        let trained = || {
            let recorded = metrics.and_then(|m| positive(&m["reading"]["max_gap_s"]));
            recorded.or(step.map(|s| 3.0 * s))
        };
        let max_gap = match max_gap {
            Some(g) => g,
            None => trained()?,
        };
        // Seconds to ns; `as` saturates (a gap of centuries is no gap).
        let ns = |s: f64| (s * 1e9) as i64;
        let max_gap_ns = ns(max_gap);
        (max_gap_ns > 0).then(|| Self {
            max_gap_ns,
            step_ns: step.map_or(0, ns),
        })
    }

    /// How long a route with this rule (`None`: none) keeps a quiet stream:
    /// twice such a gap, however short `idle` (its `idle_timeout`) is. A
    /// window spans a shorter pause in `ts`, as in training, and messages
    /// may arrive later than their stamps say (a logger uploading its
    /// readings in bunches); a meter read every 15 minutes would otherwise
    /// be forgotten between two readings under the default 10 minutes.
    pub fn quiet_kept(gaps: Option<Self>, idle: std::time::Duration) -> std::time::Duration {
        let gap = gaps.map_or(std::time::Duration::ZERO, |g| {
            std::time::Duration::from_nanos(g.max_gap_ns.unsigned_abs()).saturating_mul(2)
        });
        idle.max(gap)
    }
}

/// A jump in time between two messages of a stream (see [`TimeGaps`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeGap {
    /// The first new sample, after the jump.
    pub seq: u64,
    /// The first seq of the earlier time-stamped message.
    pub after_seq: u64,
    /// `ts` of this message less `ts` of that one (negative: time went back).
    pub elapsed_ns: i64,
}

/// A stream's window as a checkpoint stores it (see [`StreamWindow::save`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedWindow {
    pub next_seq: Option<u64>,
    pub run: u64,
    pub tail: Vec<f32>,
    /// The last time-stamped message (absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<(u64, i64)>,
    /// Its sender numbers nothing (absent: it does).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unnumbered: bool,
    /// Its value held on the route's clock (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<hold::Hold>,
}

/// What one message did to a stream.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    /// Samples accepted.
    pub accepted: usize,
    /// Samples dropped because their seq was not after the last one.
    pub out_of_order: usize,
    /// First forward jump seen: (expected seq, received seq).
    pub gap: Option<(u64, u64)>,
    /// A jump in time before the message (no jump in `seq`).
    pub time_gap: Option<TimeGap>,
    /// Windows completed.
    pub windows: usize,
    /// The windows completed come from a stream sampled at another rate
    /// than the model's training recording: its step over the model's
    /// (see [`RATE_BAND`]).
    pub off_rate: Option<f64>,
}

impl StreamWindow {
    pub fn new(window: usize) -> Self {
        Self {
            buf: Vec::with_capacity(2 * window),
            window,
            run: 0,
            next_seq: None,
            last_ts: None,
            rate_from: None,
            off_rate: None,
            newest_ts: None,
            unnumbered: false,
            hold: hold::Hold::default(),
        }
    }

    /// W, the samples of one window.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Whether its last message carried no `seq`.
    pub fn unnumbered(&self) -> bool {
        self.unnumbered
    }

    /// Notes whether the message taken now carried its own `seq`.
    pub fn numbered(&mut self, numbered: bool) {
        self.unnumbered = !numbered;
    }

    /// A message of the stream was refused: a stream whose sender numbers
    /// nothing starts its window over (the count goes on), since the next
    /// sample does not follow the last as the count would say; a numbered
    /// stream shows the hole by its next seq.
    pub fn refused(&mut self) {
        // A stream read on a clock shows the hole by its ticks' numbers.
        if self.unnumbered && self.hold == hold::Hold::default() {
            self.reset();
        }
    }

    /// Starts the stream over where its publisher restarted its count: a
    /// message of seq 0 (or 1) after later seqs, stamped later than any before (a
    /// gateway or logger restarted; a replay of old messages is stamped as
    /// before, and stays out of order), or stamped back on a clock since a
    /// start (a cycler's next test: its `Data_Point` and `Test_Time` both
    /// begin again). Returns the seq expected until then. Without it every
    /// sample would be dropped as out of order until the stream went idle.
    /// `ts`: the time rule's ns ([`rule_ns`]).
    pub fn recount(&mut self, seq: u64, ts: Option<i64>) -> Option<u64> {
        // (From 1 too: a cycler's `Data_Point` counts from 1.)
        let back = self
            .next_seq
            .is_some_and(|n| (seq == 0 && n > 0) || (seq == 1 && n > 2));
        let since_start = |t: i64| t < SINCE_START.saturating_mul(1_000_000_000);
        let later = matches!((ts, self.newest_ts),
            (Some(t), Some(t0)) if t > t0 || (since_start(t) && since_start(t0) && t < t0));
        if ts > self.newest_ts && (!back || later) {
            self.newest_ts = ts;
        }
        if !(back && later) {
            return None;
        }
        let expected = self.next_seq.take();
        self.reset();
        self.last_ts = None;
        expected
    }

    /// Starts a stream read on a clock over where its sender's time went
    /// back further than a value is held (a clock set back): it awaits no
    /// tick of the time it had reached, or every change would be dropped
    /// as earlier until its time caught up.
    pub fn restart_clock(&mut self) {
        self.next_seq = None;
        self.reset();
        self.last_ts = None;
        self.hold = hold::Hold::default();
    }

    /// Starts the stream over where its hold is of another clock than the
    /// route's (`clock`; `None`: it reads none now), as after a swap to a
    /// model read at another step: its ticks' numbers are of the old one.
    /// Returns whether it did.
    pub fn on_clock(&mut self, clock: Option<&hold::Clock>) -> bool {
        if self.hold.on(clock) {
            return false;
        }
        // The value held goes on being held, its ticks numbered anew.
        let kept = clock.map(|c| self.hold.rebased(c));
        self.restart_clock();
        self.hold = kept.unwrap_or_default();
        true
    }

    /// The seq the stream expects next.
    pub fn next_seq(&self) -> Option<u64> {
        self.next_seq
    }

    /// What a checkpoint must hold to continue this stream exactly: the
    /// next seq, the run length (stride alignment) and the last W − 1
    /// samples (all a future window needs of the past).
    pub fn save(&self) -> SavedWindow {
        let keep = self.buf.len().min(self.window.saturating_sub(1));
        SavedWindow {
            next_seq: self.next_seq,
            run: self.run,
            tail: self.buf[self.buf.len() - keep..].to_vec(),
            last_ts: self.last_ts,
            unnumbered: self.unnumbered,
            hold: (self.hold != hold::Hold::default()).then_some(self.hold),
        }
    }

    /// The window [`save`](Self::save) described, for a model of window
    /// `window`. A checkpoint written with another W still restores: a
    /// longer tail is cut to the W − 1 samples this W needs; a shorter one
    /// (too few for this W) restarts the run from the samples kept, so the
    /// next window comes once W are in hand. A tail longer than its run,
    /// or a run longer than the stream (corrupt), is refused.
    pub fn restore(window: usize, saved: &SavedWindow) -> Result<Self, String> {
        let keep = saved.tail.len();
        if keep as u64 > saved.run || saved.run > saved.next_seq.unwrap_or(0) {
            return Err(format!(
                "saved window of {keep} samples, run {} and next seq {:?} is inconsistent",
                saved.run, saved.next_seq
            ));
        }
        let need = window.saturating_sub(1);
        let tail = &saved.tail[keep.saturating_sub(need)..];
        let mut w = Self::new(window);
        w.buf.extend_from_slice(tail);
        w.run = if (tail.len() as u64) < saved.run.min(need as u64) {
            tail.len() as u64
        } else {
            saved.run
        };
        w.next_seq = saved.next_seq;
        w.last_ts = saved.last_ts;
        w.unnumbered = saved.unnumbered;
        w.hold = saved.hold.unwrap_or_default();
        Ok(w)
    }

    fn push(&mut self, v: f32) {
        if self.buf.len() == 2 * self.window {
            let keep = self.window - 1;
            let from = self.buf.len() - keep;
            self.buf.copy_within(from.., 0);
            self.buf.truncate(keep);
        }
        self.buf.push(v);
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.run = 0;
        self.rate_from = None;
        self.off_rate = None;
    }

    /// Judges the stream's sampling step against the model's (`step_ns`;
    /// 0: unknown) from the stamped sample `first` at `at` (ns): over spans
    /// of at least W samples of one run, so a live clock's jitter evens out
    /// and one span's step covers a window's worth.
    fn judge_rate(&mut self, first: u64, at: i64, step_ns: i64) {
        let Some((s0, t0)) = self.rate_from else {
            self.rate_from = Some((first, at));
            return;
        };
        let n = first.saturating_sub(s0);
        if step_ns <= 0 || n < self.window as u64 {
            return;
        }
        let step = (i128::from(at) - i128::from(t0)) as f64 / n as f64;
        let ratio = step / step_ns as f64;
        self.off_rate = (!RATE_BAND.contains(&ratio)).then_some(ratio);
        self.rate_from = Some((first, at));
    }

    /// Records a message's stamp; restarts the window when its first new
    /// sample lies too far in time from the last stamped one (a message
    /// that overlaps what came before is judged where its new part starts).
    /// A seq gap restarts the window anyway, and is what is said.
    fn stamp(&mut self, seq: u64, len: usize, ts: i64, gaps: TimeGaps) -> Option<TimeGap> {
        let end = seq.saturating_add(len as u64);
        let first = self.next_seq.map_or(seq, |next| next.max(seq));
        if first >= end {
            return None; // nothing new in it
        }
        let step = i128::from(gaps.step_ns);
        let at = i128::from(ts) + i128::from(first - seq) * step;
        let at = at.clamp(i64::MIN.into(), i64::MAX.into()) as i64;
        let last = self.last_ts.replace((first, at));
        let Some((s0, t0)) = last.filter(|&(s0, _)| s0 < first) else {
            self.judge_rate(first, at, gaps.step_ns);
            return None;
        };
        if self.next_seq != Some(first) {
            return None; // a seq gap: the window restarts, judged anew
        }
        let elapsed = i128::from(at) - i128::from(t0);
        let (n, max) = (i128::from(first - s0), i128::from(gaps.max_gap_ns));
        let jumped = if step > 0 {
            // The samples in between at the recording's step: what is left
            // is the step before the first new sample.
            elapsed - (n - 1) * step > max
        } else {
            // No step known (a model trained without a time column, given
            // a `max_gap`): the samples are taken as evenly spread.
            elapsed > n * max
        };
        if elapsed >= 0 && !jumped {
            self.judge_rate(first, at, gaps.step_ns);
            return None;
        }
        self.reset();
        self.rate_from = Some((first, at));
        Some(TimeGap {
            seq: first,
            after_seq: s0,
            elapsed_ns: elapsed.clamp(i64::MIN.into(), i64::MAX.into()) as i64,
        })
    }

    /// Accepts samples `values[i]` = sample `seq + i`. For every window
    /// completed (every `stride`-th sample once W are in hand), calls
    /// `emit(first_seq, window)`. The caller has checked that `seq +
    /// values.len()` does not overflow.
    pub fn accept(
        &mut self,
        seq: u64,
        values: &[f32],
        stride: u64,
        emit: impl FnMut(u64, &[f32]),
    ) -> Outcome {
        self.accept_at(seq, values, None, stride, emit)
    }

    /// [`accept`](Self::accept) for a message stamped `ts` (its first
    /// sample's time in ns, [`rule_ns`] of its `ts`), under a route's
    /// [`TimeGaps`] rule: a message whose
    /// first sample comes later than the rule allows after the last stamped
    /// one, or earlier than it, restarts the window (`Outcome::time_gap`).
    pub fn accept_at(
        &mut self,
        seq: u64,
        values: &[f32],
        time: Option<(i64, TimeGaps)>,
        stride: u64,
        mut emit: impl FnMut(u64, &[f32]),
    ) -> Outcome {
        let mut out = Outcome::default();
        if let Some((ts, gaps)) = time {
            out.time_gap = self.stamp(seq, values.len(), ts, gaps);
        } else {
            // An unstamped message: what came before it in time is unknown.
            self.last_ts = None;
            self.rate_from = None;
            self.off_rate = None;
        }
        let w = self.window as u64;
        for (i, &v) in values.iter().enumerate() {
            let s = seq + i as u64;
            match self.next_seq {
                Some(next) if s < next => {
                    out.out_of_order += 1;
                    continue;
                }
                Some(next) if s > next => {
                    out.gap.get_or_insert((next, s));
                    self.reset();
                }
                _ => {}
            }
            self.push(v);
            self.next_seq = Some(s + 1);
            self.run += 1;
            out.accepted += 1;
            if self.run >= w && (self.run - w).is_multiple_of(stride.max(1)) {
                let first = s + 1 - w;
                emit(first, &self.buf[self.buf.len() - self.window..]);
                out.windows += 1;
            }
        }
        out.off_rate = self.off_rate.filter(|_| out.windows > 0);
        out
    }
}

/// A subscription pattern split into tokens, to recover the stream key: the
/// part of a subject that the pattern's wildcards matched.
#[derive(Debug, Clone)]
pub struct SubjectPattern {
    tokens: Vec<String>,
}

/// Placeholder for the partition number in a partitioned input subject.
pub const PARTITION_TOKEN: &str = "{partition}";

/// The subjects to subscribe to for `pattern`: one per owned partition when
/// it holds [`PARTITION_TOKEN`], else the pattern itself.
pub fn subscriptions(pattern: &str, owned: &[u32]) -> Vec<String> {
    if pattern.contains(PARTITION_TOKEN) {
        owned
            .iter()
            .map(|p| pattern.replace(PARTITION_TOKEN, &p.to_string()))
            .collect()
    } else {
        vec![pattern.to_string()]
    }
}

/// Longest stream key accepted (bytes); longer ones are `bad_subject`.
pub const MAX_KEY_LEN: usize = 256;

impl SubjectPattern {
    /// Parses a NATS subscription subject such as `samples.>` or `plant.*.temp`.
    /// It must contain at least one wildcard (otherwise there is no key). A
    /// `{partition}` token (partitioned inputs, `part.{partition}.>`) matches
    /// one token that is not part of the key.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let tokens: Vec<String> = pattern.split('.').map(str::to_string).collect();
        if tokens
            .iter()
            .any(|t| t.is_empty() || t.contains(char::is_whitespace))
        {
            return Err(format!("invalid subject pattern {pattern:?}"));
        }
        if let Some(pos) = tokens.iter().position(|t| t == ">")
            && pos != tokens.len() - 1
        {
            return Err(format!("`>` must be the last token in {pattern:?}"));
        }
        if !tokens.iter().any(|t| t == "*" || t == ">") {
            return Err(format!(
                "input subject {pattern:?} has no wildcard, so no stream key (try {pattern}.>)"
            ));
        }
        Ok(Self { tokens })
    }

    /// The stream key of `subject`, or why it has none.
    pub fn key(&self, subject: &str) -> Result<String, String> {
        let mut key = String::new();
        self.key_into(subject, &mut key)?;
        Ok(key)
    }

    /// [`SubjectPattern::key`] into a reused buffer (the hot path: no
    /// allocation once `key` has grown to the longest key).
    pub fn key_into(&self, subject: &str, key: &mut String) -> Result<(), String> {
        key.clear();
        let mut parts = subject.split('.');
        // Byte offset of the next part (past the end when there is none).
        let mut at = 0;
        let push = |key: &mut String, part: &str| {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(part);
        };
        for (i, t) in self.tokens.iter().enumerate() {
            if t == ">" {
                if at > subject.len() {
                    return Err("nothing after the prefix".into());
                }
                push(key, &subject[at..]);
                break;
            }
            let part = parts.next();
            at += part.map_or(0, |p| p.len() + 1);
            match (t.as_str(), part) {
                ("*", Some(part)) => push(key, part),
                (PARTITION_TOKEN, Some(_)) => {}
                ("*" | PARTITION_TOKEN, None) => return Err("too few tokens".into()),
                (lit, part) if part != Some(lit) => {
                    return Err(format!(
                        "does not match the input pattern at token {}",
                        i + 1
                    ));
                }
                _ => {}
            }
            if i == self.tokens.len() - 1 && parts.next().is_some() {
                return Err("token count does not match the input pattern".into());
            }
        }
        validate_key(key)
    }
}

/// A key becomes part of an output subject: it must be one or more
/// non-empty tokens without wildcards, whitespace or control characters.
pub fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("empty stream key".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Err(format!("stream key longer than {MAX_KEY_LEN} bytes"));
    }
    if key.split('.').any(str::is_empty) {
        return Err("stream key has an empty token".into());
    }
    if let Some(c) = key
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '*' || *c == '>')
    {
        return Err(format!("stream key contains {c:?}"));
    }
    Ok(())
}

pub mod hold;

#[cfg(test)]
mod tests;
