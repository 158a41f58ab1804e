//! The hot path: one route's subscription → decoded samples → per-stream
//! windows → the engine's batcher. The stream table is owned by one task,
//! so per-sample work takes no lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::engine::Job;
use super::events::{Origin, Reporter, TraceParent};
use super::route::Route;
use crate::error::Result;
use crate::nats::{ClientFlag, barrier, client_flag};
use crate::window::StreamWindow;
use crate::wire::{self, DecodeError, ErrorKind};

/// The most one gap in `seq` adds to `pipeline_samples_skipped_total`.
const MAX_SKIPPED: u64 = 1 << 20;

#[derive(Debug, Clone, Copy)]
pub(super) struct IngestLimits {
    pub max_streams: usize,
    pub idle_timeout: Duration,
}

impl IngestLimits {
    /// The limits for one route: a route that restarts windows at gaps in
    /// time keeps a quiet stream twice as long as such a gap
    /// ([`TimeGaps::quiet_kept`]), however short `idle_timeout` is.
    pub fn for_route(self, route: &Route) -> Self {
        Self {
            idle_timeout: crate::window::TimeGaps::quiet_kept(route.time_gaps(), self.idle_timeout),
            ..self
        }
    }
}

pub(super) struct StreamEntry {
    /// The key again, shared with every job of the stream (no per-window copy).
    key: Arc<str>,
    window: StreamWindow,
    last_seen: Instant,
    /// How fast its changes come, on a route that reads them on a clock.
    pace: clocked::Pace,
}

/// What a completed window does when its route's queue to the batcher is
/// full: the model is behind.
#[derive(Clone, Copy)]
pub(super) enum WhenFull<'a> {
    /// Wait for room (back-pressure). Durable mode always waits: the
    /// backlog stays in the input stream. So does the shutdown drain.
    Wait,
    /// Core mode: drop the window when this says the subscription is
    /// nearly full (asked for each window that finds the queue full),
    /// counted (`pipeline_windows_shed_total`) and logged once a second;
    /// wait otherwise, so a burst that leaves the buffer under that loses
    /// nothing. Waiting on would fill the buffer, and the client then
    /// drops samples, each of which restarts its stream's window, costing
    /// that stream up to a window's length of translations (a 2,000-stream
    /// run over the model's capacity delivered 35,600 windows/s of its
    /// 56,100 that way, 40% of the windows lost). Shedding whole windows
    /// keeps taking every sample, so the model stays busy and every window
    /// after is whole.
    ShedIf(&'a (dyn Fn() -> bool + Sync)),
}

/// Reads one route's subscription until stopped, then takes what the server
/// had already sent and returns.
///
/// Why not `Subscriber::drain`: async-nats forgets a draining subscription
/// before the server's last messages for it have arrived, losing them (and
/// its `flush` only flushes our socket, it is no round trip). Instead a
/// [`barrier`] message goes through the server and back: when it arrives,
/// every message the server routed to us before it is in the subscription's
/// buffer. Those are processed, then the subscription is dropped.
pub(super) async fn ingest(
    mut sub: super::Inputs,
    mut ingest: Ingest,
    mut stop: watch::Receiver<bool>,
) {
    let mut sweep = tokio::time::interval(ingest.sweep_every());
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Reads the ticks of streams timed by their arrival while none of the
    // route's messages comes (see `clocked`).
    let clock = tokio::time::sleep(ingest.next_clock_read());
    tokio::pin!(clock);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            msg = sub.next() => match msg {
                Some(m) => {
                    let nearly_full = || sub.nearly_full();
                    let when_full = WhenFull::ShedIf(&nearly_full);
                    if let Handled::Stopped = ingest.handle(&m, when_full).await {
                        return;
                    }
                }
                None => break,
            },
            _ = sweep.tick() => {
                let nearly_full = || sub.nearly_full();
                if ingest.evict_idle(WhenFull::ShedIf(&nearly_full)).await.is_none() {
                    return;
                }
            }
            () = &mut clock => {
                let nearly_full = || sub.nearly_full();
                let when_full = WhenFull::ShedIf(&nearly_full);
                if ingest.read_clock(wire::now_ns(), when_full).await.is_none() {
                    return;
                }
                clock.as_mut().reset(Instant::now() + ingest.next_clock_read());
            }
        }
    }
    // Disconnected, the server holds nothing more for us (core NATS keeps
    // no messages for a client that is gone), and a round trip would only
    // wait for its time-out.
    let connected =
        ingest.reporter.client.connection_state() == async_nats::connection::State::Connected;
    if connected && let Err(e) = barrier(&ingest.reporter.client).await {
        tracing::warn!(
            "stopping {}: {e}; messages in flight may be lost",
            ingest.route.cfg.input
        );
    }
    // What the subscriptions hold now, and no more: a publisher that goes
    // on sending would otherwise keep the drain from ending.
    for m in sub.take_buffered() {
        if let Handled::Stopped = ingest.handle(&m, WhenFull::Wait).await {
            return;
        }
    }
    drop(sub);
    ingest.finish();
}

/// The stream's next item if it is already buffered, without waiting.
///
/// Why `unconstrained`: tokio's channels (a subscription is one) answer
/// `Pending` to a task that has spent its cooperative budget (128 polls),
/// buffered items or not; a plain `now_or_never` then reads as "nothing
/// left" and the shutdown drain dropped what the server had sent (seen in
/// CI: 9 of 40 messages after a run of windows had spent the budget).
pub(super) fn ready<S: futures::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    tokio::task::unconstrained(stream.next())
        .now_or_never()
        .flatten()
}

/// One route's stream table and the hot path over it. Owned by one task,
/// so per-sample work takes no lock.
pub(super) struct Ingest {
    pub route: Arc<Route>,
    jobs: mpsc::Sender<Job>,
    pub reporter: Reporter,
    limits: IngestLimits,
    streams: HashMap<Arc<str>, StreamEntry>,
    /// Windows completed by the current message, or read off the clock,
    /// to hand on (reused).
    completed: Vec<Job>,
    /// Ticks of a held value, as samples (reused).
    ticks: Vec<f32>,
    /// The route's clock (its step, ns) has been read up to (not
    /// including) this tick (see [`clocked`]).
    clock_read: Option<(i64, i64)>,
    /// The current message's stream key and samples (reused).
    key: String,
    values: Vec<f32>,
    /// Durable mode: the message is one an earlier attempt handled already
    /// (replayed from the checkpoint): its messages and samples are not
    /// counted in again.
    pub replaying: bool,
    /// A stream whose publisher starts its count again at 0 (stamped later)
    /// starts over (core NATS; see [`StreamWindow::recount`]).
    pub recount: bool,
    /// Durable mode: when JetStream stored the message (ns since the
    /// epoch), the time of a sample its sender neither numbered nor
    /// stamped; core NATS: `None` (the time it is read).
    pub stored_at: Option<i64>,
    /// Windows shed since the last log line about it, and when that was.
    shed: (u64, Option<Instant>),
}

impl Ingest {
    pub fn new(
        route: Arc<Route>,
        jobs: mpsc::Sender<Job>,
        reporter: Reporter,
        limits: IngestLimits,
    ) -> Self {
        Self {
            reporter: reporter.for_route(&route.counters),
            limits,
            route,
            jobs,
            streams: HashMap::new(),
            completed: Vec::new(),
            ticks: Vec::new(),
            clock_read: None,
            key: String::new(),
            values: Vec::new(),
            replaying: false,
            recount: true,
            stored_at: None,
            shed: (0, None),
        }
    }

    /// Every stream's window, for a checkpoint.
    pub fn save(&self) -> Vec<(String, crate::window::SavedWindow)> {
        self.streams
            .iter()
            .map(|(k, e)| (k.to_string(), e.window.save()))
            .collect()
    }

    /// Restores the stream table from a checkpoint; the error says which
    /// stream's saved window is inconsistent.
    pub fn restore(
        &mut self,
        saved: &[(String, crate::window::SavedWindow)],
    ) -> Result<(), String> {
        let now = Instant::now();
        for (key, w) in saved {
            let window = StreamWindow::restore(self.route.window, w)
                .map_err(|e| format!("stream {key:?}: {e}"))?;
            let key: Arc<str> = key.as_str().into();
            let entry = StreamEntry {
                key: key.clone(),
                window,
                last_seen: now,
                pace: clocked::Pace::default(),
            };
            if self.streams.insert(key, entry).is_none() {
                self.reporter
                    .stats
                    .streams_active
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// The limits as the route's live model has them now (its time rule
    /// follows the model: a quiet stream is kept twice its gap).
    fn limits(&self) -> IngestLimits {
        self.limits.for_route(&self.route)
    }

    pub fn sweep_every(&self) -> Duration {
        (self.limits().idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(10))
    }

    /// Forgets the streams quiet past the idle time-out, a held value's
    /// ticks read first: the windows handed on, or `None` when the batcher
    /// is gone.
    pub async fn evict_idle(&mut self, when_full: WhenFull<'_>) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        let now = Instant::now();
        let before = self.streams.len();
        let idle = self.limits().idle_timeout;
        // In durable mode a stream whose sender numbers nothing is kept: its
        // count is its translations' ids, and a replay from the checkpoint
        // must count as the first reading did, which forgetting it by the
        // wall clock would not.
        let durable = !self.recount;
        let keep = |e: &StreamEntry| {
            now.duration_since(e.last_seen) < idle
                || (durable && (e.window.unnumbered() || e.window.hold.holds()))
        };
        let ticked = self.read_holds(|e| !keep(e), when_full).await?;
        self.streams.retain(|_, e| keep(e));
        let evicted = (before - self.streams.len()) as u64;
        if evicted > 0 {
            let stats = &self.reporter.stats;
            stats.streams_evicted.fetch_add(evicted, Relaxed);
            stats.streams_active.fetch_sub(evicted, Relaxed);
            tracing::debug!(evicted, "idle streams evicted");
        }
        Some(ticked)
    }

    pub fn finish(self) {
        let n = self.streams.len() as u64;
        self.reporter
            .stats
            .streams_active
            .fetch_sub(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Handles one message: the windows it completed and handed on, or why
    /// it was refused whole (reported already), or that the pipeline
    /// behind is gone.
    pub async fn handle(&mut self, msg: &async_nats::Message, when_full: WhenFull<'_>) -> Handled {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.replaying {
            self.reporter.stats.messages_in.fetch_add(1, Relaxed);
        }
        let origin = Origin::of(msg);
        // The service's time, on a route that reads changes on a clock:
        // streams timed by their arrival have their ticks to it read first
        // (see `clocked`).
        let (mut ticked, mut now) = (0, 0);
        // (The route's clock read once per message: one lock.)
        let clock = self.clock();
        if clock.is_some() {
            now = self.stored_at.unwrap_or_else(crate::wire::now_ns);
            let Some(n) = self.read_clock(now, when_full).await else {
                return Handled::Stopped;
            };
            ticked = n;
        }
        match self.admit(msg, origin, clock, when_full).await {
            Ok(Some(n)) => Handled::Windows(ticked + n),
            Ok(None) => Handled::Stopped,
            Err(r) => {
                if let Some(e) = self.streams.get_mut(r.stream.as_str()) {
                    if e.window.hold.holds() {
                        // Where its `ts` says when it came (not ahead of
                        // the service's time, nor before the value held),
                        // there: a replay's too. A reading refused for its
                        // stamp alone ends nothing.
                        let hold = &mut e.window.hold;
                        let stamped = wire::stamp_of(&msg.payload);
                        let at = stamped.filter(|&t| t <= now && hold.since(t));
                        let lag = hold.lag_ns;
                        if !wire::bad_stamp_only(&msg.payload) {
                            hold.end(at.or(lag.map(|l| now.saturating_sub(l))));
                        }
                    } else {
                        e.window.refused();
                    }
                }
                let subject = msg.subject.as_str();
                (self.reporter)
                    .report_from(origin, r.kind, &r.stream, subject, r.detail.clone())
                    .await;
                Handled::Refused(r, ticked)
            }
        }
    }

    /// Checks a message and feeds its samples to the stream's window (its
    /// changes on the route's `clock`, if it has one and they carry no
    /// `seq`): `Ok(Some(windows))`, `Ok(None)` when the pipeline is gone,
    /// or why the message is refused whole.
    async fn admit(
        &mut self,
        msg: &async_nats::Message,
        origin: Origin<'_>,
        clock: Option<crate::window::hold::Clock>,
        when_full: WhenFull<'_>,
    ) -> Result<Option<u64>, Rejection> {
        use std::sync::atomic::Ordering::Relaxed;
        let reporter = &self.reporter;
        let stats = &reporter.stats;
        let subject = msg.subject.as_str();
        let refuse = |kind, stream: &str, detail| Rejection {
            kind,
            stream: stream.to_string(),
            detail,
        };
        let flag = client_flag(msg);
        if flag == Some(ClientFlag::SubjectNotUtf8) {
            let detail = format!("subject {subject:?} (as received, lossily): not valid UTF-8");
            return Err(refuse(ErrorKind::BadSubject, "", detail));
        }
        let key = match self.route.pattern.key_into(subject, &mut self.key) {
            Ok(()) => self.key.as_str(),
            Err(e) => {
                let detail = format!("subject {subject:?}: {e}");
                return Err(refuse(ErrorKind::BadSubject, "", detail));
            }
        };
        if let Some(flag) = flag {
            // The framing was the publisher's too: do not trust the payload.
            return Err(refuse(ErrorKind::Malformed, key, flag.reason().to_string()));
        }
        if let Some(status) = msg.status {
            // The server sends status messages to inboxes, never on a
            // subject we subscribe to: this line was written by a publisher.
            let detail = format!("a NATS status line ({status}) in a sample message");
            return Err(refuse(ErrorKind::Malformed, key, detail));
        }
        let value_key = self.route.cfg.value_key.as_deref();
        let samples = match wire::decode_samples_keyed(&msg.payload, &mut self.values, value_key) {
            Ok(s) => {
                // (Changes read on a clock: where their stamps are live,
                // see `clocked`; a replay's are its recording's times.)
                if clock.is_none() || s.seq.is_some() {
                    self.route.counters.observe_receive(s.ts);
                }
                let payload = &msg.payload;
                if let Some(why) = s
                    .unit
                    .and_then(|u| other_unit(&self.route, u.as_str(), payload))
                {
                    return Err(refuse(ErrorKind::InvalidValue, key, why));
                }
                if let Some(code) = self.route.missing_code(&self.values, false) {
                    let why = said::no_reading(code, s.seq);
                    return Err(refuse(ErrorKind::InvalidValue, key, why));
                }
                s
            }
            Err(DecodeError::Malformed(d)) => return Err(refuse(ErrorKind::Malformed, key, d)),
            Err(DecodeError::InvalidValue(d)) => {
                return Err(refuse(ErrorKind::InvalidValue, key, d));
            }
        };
        let now = Instant::now();
        if !self.streams.contains_key(key) {
            if self.streams.len() >= self.limits.max_streams {
                let detail = format!(
                    "{} streams are live (max_streams); new stream refused",
                    self.streams.len()
                );
                return Err(refuse(ErrorKind::TooManyStreams, key, detail));
            }
            stats.streams_active.fetch_add(1, Relaxed);
            let k: Arc<str> = key.into();
            let window = StreamWindow::new(self.route.window);
            self.streams.insert(
                k.clone(),
                StreamEntry {
                    key: k,
                    window,
                    last_seen: now,
                    pace: clocked::Pace::default(),
                },
            );
        }
        // A sensor's changes, on a route that reads them on a clock.
        let clock = clock.filter(|_| samples.seq.is_none());
        let Some(entry) = self.streams.get_mut(key) else {
            return Ok(Some(0));
        };
        entry.last_seen = now;
        let was_numbered = entry.window.next_seq().is_some() && !entry.window.unnumbered();
        entry.window.numbered(samples.seq.is_some());
        let stream = entry.key.clone();
        let trace = origin.traceparent.map(TraceParent::new);
        // A stream read on the clock that is not now (its samples carry
        // `seq`, or a model without a clock serves), or one numbered by its
        // sender that sends changes now: its count is of the other kind,
        // so it starts over.
        let over = if clock.is_none() || samples.seq.is_some() {
            entry.window.on_clock(None).then_some(match samples.seq {
                Some(_) => "its samples carry seq now: windowed as they come, not on the clock",
                None => "the route reads samples as they come now (a model without --resample)",
            })
        } else {
            was_numbered.then(|| entry.window.restart_clock()).map(
                |()| "its sender numbers nothing now: its changes are read on the route's clock",
            )
        };
        if let Some(why) = over {
            let detail = format!("{why}; the stream starts over");
            (reporter.report_from(origin, ErrorKind::TimeGap, key, subject, detail)).await;
        }
        if let Some(clock) = clock {
            let (ts, ingest) = (samples.time_ns, self);
            return (ingest.take_changes(&stream, clock, ts, trace, origin, subject, when_full))
                .await;
        }
        let completed = &mut self.completed;
        let buffers = &self.route.buffers;
        completed.clear();
        // A publisher that restarted its count (seq 0 again, later `ts`).
        let recounted = samples
            .seq
            .filter(|_| self.recount)
            .map(|seq| entry.window.recount(seq, samples.time_ns));
        if let (Some(expected), Some(seq)) = (recounted.flatten(), samples.seq) {
            let detail = format!(
                "seq went back to {seq} after {} with later time stamps: the publisher \
                 restarted its count; window restarted",
                expected.saturating_sub(1)
            );
            reporter
                .report_from(origin, ErrorKind::Gap, key, subject, detail)
                .await;
        }
        // A sender that numbers nothing (an MQTT sensor's bare `21.5`) is
        // counted here: its samples follow the stream's last. Nor does it
        // stamp them: their time is the message's arrival (in durable mode
        // the time JetStream stored it, the same on every replay), so a
        // pause still restarts a window on a route that splits by time.
        let seq = (samples.seq).unwrap_or_else(|| entry.window.next_seq().unwrap_or(0));
        if seq.checked_add(self.values.len() as u64).is_none() {
            // An unnumbered message after a numbered one at the end of u64.
            let detail =
                format!("the stream's count is at seq {seq}, the end of u64: no seq is left");
            return Err(refuse(ErrorKind::Malformed, key, detail));
        }
        let arrival = || self.stored_at.unwrap_or_else(crate::wire::now_ns);
        let ts = samples
            .time_ns
            .or_else(|| samples.seq.is_none().then(arrival));
        let time = ts.zip(self.route.time_gaps());
        let outcome = entry.window.accept_at(
            seq,
            &self.values,
            time,
            self.route.cfg.stride,
            |first, win| {
                completed.push(Job {
                    stream: stream.clone(),
                    seq: first,
                    input: buffers.window(win),
                    ts: samples.ts,
                    live: true,
                    enqueued: Instant::now(),
                    trace: trace.clone(),
                });
            },
        );
        let next = entry.window.next_seq().unwrap_or(0);
        if !self.replaying {
            stats.samples_in.fetch_add(outcome.accepted as u64, Relaxed);
            (self.route.counters.samples_in).fetch_add(outcome.accepted as u64, Relaxed);
        }
        if let Some((expected, got)) = outcome.gap {
            if !self.replaying {
                // A jump past what any loss could be (a sender restarted
                // at a clock's seq) counts as that much, not as its size.
                let skipped = got.saturating_sub(expected).min(MAX_SKIPPED);
                stats.samples_skipped.fetch_add(skipped, Relaxed);
            }
            let detail = format!("expected seq {expected}, got {got}: window restarted");
            reporter
                .report_from(origin, ErrorKind::Gap, key, subject, detail)
                .await;
        }
        if let Some(jump) = outcome.time_gap {
            let since_start = crate::window::SINCE_START.saturating_mul(1_000_000_000);
            let since_start = ts.is_some_and(|t| (0..since_start).contains(&t));
            let detail = time_gap_detail(jump, self.route.time_gaps(), since_start);
            reporter
                .report_from(origin, ErrorKind::TimeGap, key, subject, detail)
                .await;
        }
        if let Some(ratio) = outcome.off_rate.filter(|_| !self.replaying) {
            off_rate(&self.route, &stream, seq, ratio, outcome.windows);
        }
        if ts.is_none() && outcome.windows > 0 && !self.replaying {
            unstamped(&self.route, &stream, outcome.windows);
        }
        if outcome.out_of_order > 0 {
            let detail = format!(
                "{} sample(s) from seq {} dropped: not after the last accepted (next expected {next})",
                outcome.out_of_order, seq
            );
            reporter
                .report_from(origin, ErrorKind::OutOfOrder, key, subject, detail)
                .await;
        }
        Ok(self.dispatch(when_full).await)
    }
}

/// What became of one message.
pub(super) enum Handled {
    /// Accepted (or partly: gaps and out-of-order samples are reported);
    /// this many windows were handed on.
    Windows(u64),
    /// Refused whole, and reported; this many windows were handed on
    /// before it (ticks of streams read on the clock).
    Refused(Rejection, u64),
    /// The pipeline behind is gone (the service is stopping).
    Stopped,
}

/// Why a message was refused whole.
#[derive(Debug, Clone)]
pub(super) struct Rejection {
    pub kind: ErrorKind,
    /// The stream key, when the subject yielded one.
    pub stream: String,
    pub detail: String,
}

mod clocked;
mod hand_on;
mod said;
pub(super) use said::unlike_unit;
use said::{off_rate, other_unit, time_gap_detail, unstamped};

#[cfg(test)]
mod tests;
