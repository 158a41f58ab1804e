//! `pipeline serve`: NATS subjects in, translated windows out.
//!
//! Data flows one way, through bounded channels, so a slow stage pushes back
//! on the one before it instead of growing memory:
//!
//! ```text
//! subscription ─▶ ingest (decode, per-stream windows) ─▶ batcher (a batch per free compute thread)
//!   ─▶ compute threads (model, off the async runtime) ─▶ publisher (in batch order) ─▶ NATS
//! ```
//!
//! There is one ingest, batcher and publisher task per route; the compute
//! threads are shared. The publisher receives each batch's result slot in the
//! order batches were formed, so per-stream outputs stay in `seq` order even
//! with several compute threads. On shutdown, ingest takes every message the
//! server had already sent (see [`ingest`]), then each stage finishes what it
//! holds and closes its channel, and the client is flushed: nothing accepted
//! is dropped.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{Client, Event, Subscriber};
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

mod durable;
mod requests;

use crate::nats::{ClientFlag, client_flag};
pub use crate::nats::{Connection, barrier, connect, connect_with};
pub use durable::consumer_name;

use crate::config::{RouteConfig, ServeConfig};
use crate::error::{Error, Result};
use crate::format::{self, LoadedModel};
use crate::stats::Stats;
use crate::window::{StreamWindow, SubjectPattern};
use crate::wire::{self, DecodeError, ErrorEvent, ErrorKind, Translation};

/// Name and version of the NATS service (`$SRV.*`).
pub const SERVICE_NAME: &str = "pipeline";
pub const TRANSLATE_SUBJECT: &str = "pipeline.translate";
/// Control endpoint: reload a route's model (see `requests::answer_reload`).
pub const RELOAD_SUBJECT: &str = "pipeline.reload";

/// One window on its way through the pipeline.
struct Job {
    stream: Arc<str>,
    seq: u64,
    input: Vec<f32>,
    ts: Option<i64>,
    enqueued: Instant,
    /// `Some` for a `pipeline.translate` request: the answer (and the id of
    /// the model that computed it) goes here instead of to the output subject.
    reply: Option<oneshot::Sender<(Vec<f32>, String)>>,
}

/// A batch for the compute threads.
struct ComputeJob {
    model: Arc<LoadedModel>,
    jobs: Vec<Job>,
    done: oneshot::Sender<Done>,
    /// One of the compute threads' permits, given back when the batch is done.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// The shared compute threads: a queue of whole batches, and one permit per
/// thread, so a batcher knows whether a thread is free right now.
#[derive(Clone)]
struct Compute {
    tx: mpsc::Sender<ComputeJob>,
    free: Arc<tokio::sync::Semaphore>,
}

struct Done {
    jobs: Vec<Job>,
    /// The model that computed this batch (a reload may swap the route's).
    model: Arc<LoadedModel>,
    outputs: Result<Vec<f32>>,
    /// When the compute thread finished it (for the publish stage's time).
    computed: Instant,
}

/// What every stage of one route shares.
struct Route {
    cfg: RouteConfig,
    /// The model file the route loads (and reloads) by default.
    path: std::path::PathBuf,
    /// The model serving now. A reload swaps the `Arc`: batches already
    /// formed keep the model they were formed with.
    model: std::sync::RwLock<Arc<LoadedModel>>,
    /// W: fixed for the route's life (stream windows are this long).
    window: usize,
    pattern: SubjectPattern,
}

impl Route {
    fn current(&self) -> Arc<LoadedModel> {
        match self.model.read() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A window's translation: its subject and message.
    fn output(&self, job: &Job, values: &[f32], model: &str) -> (String, Vec<u8>) {
        let t = Translation {
            stream: job.stream.to_string(),
            seq: job.seq,
            values: values.to_vec(),
            pair: self.cfg.pair.clone(),
            model: model.to_string(),
            ts: job.ts,
        };
        (format!("{}.{}", self.cfg.output, job.stream), t.encode())
    }

    /// Loads and checks `path` (default: the route's model file), then swaps
    /// it in. On any error the old model keeps serving.
    fn reload(&self, path: Option<&std::path::Path>) -> Result<Arc<LoadedModel>> {
        let path = path.unwrap_or(&self.path);
        let new = format::load(path, self.cfg.window)?;
        if new.model.window() != self.window {
            return Err(Error::Config(format!(
                "{}: window {} does not match the route's {}",
                path.display(),
                new.model.window(),
                self.window
            )));
        }
        let new = Arc::new(new);
        match self.model.write() {
            Ok(mut m) => *m = new.clone(),
            Err(poisoned) => *poisoned.into_inner() = new.clone(),
        }
        tracing::info!(pair = %self.cfg.pair, model = %path.display(), id = %new.id, "model reloaded");
        Ok(new)
    }
}

/// Publishes error events, counts them, and logs them at most once per
/// second per kind (a flood of bad input must not become a flood of logs).
#[derive(Clone)]
struct Reporter {
    client: Client,
    subject: Arc<str>,
    stats: Arc<Stats>,
    last_log: Arc<Mutex<HashMap<ErrorKind, (std::time::Instant, u64)>>>,
}

impl Reporter {
    async fn report(&self, kind: ErrorKind, stream: &str, subject: &str, detail: String) {
        self.stats.error(kind);
        self.log(kind, stream, &detail);
        let event = ErrorEvent {
            stream: stream.to_string(),
            subject: subject.to_string(),
            kind,
            detail,
        };
        if self
            .client
            .publish(self.subject.to_string(), event.encode().into())
            .await
            .is_err()
        {
            self.stats
                .publish_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn log(&self, kind: ErrorKind, stream: &str, detail: &str) {
        let now = std::time::Instant::now();
        let Ok(mut map) = self.last_log.lock() else {
            return;
        };
        let entry = map.entry(kind).or_insert((now - Duration::from_secs(2), 0));
        if now.duration_since(entry.0) >= Duration::from_secs(1) {
            let suppressed = std::mem::take(&mut entry.1);
            entry.0 = now;
            tracing::warn!(%kind, stream, suppressed, "{detail}");
        } else {
            entry.1 += 1;
        }
    }
}

/// Loads every route's model and checks the routes. Fails before anything
/// is subscribed, so a bad model file is a clear start-up error.
fn load_routes(config: &ServeConfig) -> Result<Vec<Arc<Route>>> {
    config.validate()?;
    config
        .routes
        .iter()
        .map(|r| {
            let path = config.model_path(r);
            let model = format::load(&path, r.window)?;
            let pattern = SubjectPattern::parse(&r.input).map_err(Error::Config)?;
            tracing::info!(
                pair = %r.pair, model = %model.path.display(), id = %model.id,
                input = %r.input, output = %r.output, window = model.model.window(),
                "route"
            );
            Ok(Arc::new(Route {
                cfg: r.clone(),
                path,
                window: model.model.window(),
                model: std::sync::RwLock::new(Arc::new(model)),
                pattern,
            }))
        })
        .collect()
}

/// Runs the service until `shutdown` resolves, then drains and returns.
pub async fn run(
    conn: Connection,
    config: ServeConfig,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let routes = load_routes(&config)?;
    let Connection { client, events } = conn;
    let reporter = Reporter {
        client: client.clone(),
        subject: config.errors.as_str().into(),
        stats: stats.clone(),
        last_log: Arc::default(),
    };
    // Bumped on every disconnect: durable units start again from their
    // checkpoints, since deliveries in flight may have been lost with it.
    let (epoch_tx, epoch) = watch::channel(0u64);
    let events_task = tokio::spawn(watch_events(events, reporter.clone(), epoch_tx));

    // Compute threads: whole batches, never on the async runtime.
    let (compute_tx, compute_rx) = mpsc::channel::<ComputeJob>(config.compute_threads * 2);
    let compute_tx = Compute {
        tx: compute_tx,
        free: Arc::new(tokio::sync::Semaphore::new(config.compute_threads)),
    };
    let compute_rx = Arc::new(Mutex::new(compute_rx));
    let compute_threads: Vec<std::thread::JoinHandle<()>> = (0..config.compute_threads)
        .map(|i| {
            let rx = compute_rx.clone();
            let stats = stats.clone();
            std::thread::Builder::new()
                .name(format!("compute-{i}"))
                .spawn(move || compute_loop(rx, stats))
                .map_err(Error::Io)
        })
        .collect::<Result<_>>()?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    if let Some(addr) = &config.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Config(format!("metrics_addr {addr}: {e}")))?;
        tracing::info!(addr = %listener.local_addr().map_err(Error::Io)?, "metrics and health on http");
        let for_metrics = routes.clone();
        let state = crate::metrics::MetricsState {
            stats: stats.clone(),
            models: Arc::new(move || {
                for_metrics
                    .iter()
                    .map(|r| (r.cfg.pair.clone(), r.current().id.clone()))
                    .collect()
            }),
            client: client.clone(),
        };
        tasks.push(tokio::spawn(crate::metrics::serve(
            listener,
            state,
            stop_rx.clone(),
        )));
    }
    let limits = IngestLimits {
        max_streams: config.max_streams,
        idle_timeout: config.idle_timeout(),
    };
    let mut job_senders = Vec::new();
    for route in &routes {
        let mut subs = Vec::new();
        let subjects = match config.durable {
            None => config.subscriptions(&route.cfg),
            Some(_) => Vec::new(),
        };
        for subject in subjects {
            let sub = client
                .subscribe(subject.clone())
                .await
                .map_err(|e| Error::Nats(format!("cannot subscribe to {subject}: {e}")))?;
            subs.push(sub);
        }
        // In durable mode the route's input comes through its units; this
        // batcher and publisher only serve `pipeline.translate` requests.
        let sub = (config.durable.is_none()).then(|| futures::stream::select_all(subs));
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(config.queue);
        let (slots_tx, slots_rx) =
            mpsc::channel::<oneshot::Receiver<Done>>(config.compute_threads * 4);
        let source = route.clone();
        tasks.push(tokio::spawn(batcher(
            jobs_rx,
            move || source.current(),
            compute_tx.clone(),
            slots_tx,
            config.max_batch,
            config.max_wait(),
        )));
        tasks.push(tokio::spawn(publisher(
            slots_rx,
            route.clone(),
            client.clone(),
            stats.clone(),
        )));
        if let Some(sub) = sub {
            let state = Ingest::new(route.clone(), jobs_tx.clone(), reporter.clone(), limits);
            tasks.push(tokio::spawn(ingest(sub, state, stop_rx.clone())));
        }
        job_senders.push(jobs_tx);
    }

    // Durable mode: one unit per route and owned partition, each with its
    // own batcher and publisher; a unit that cannot go on stops the service.
    let (fatal_tx, mut fatal_rx) = mpsc::channel::<Error>(1);
    if let Some(cfg) = &config.durable {
        let (js, kv, units) = durable::setup_with_retry(&client, &config, cfg, &routes).await?;
        let shared = Arc::new(durable::Shared {
            js,
            kv,
            cfg: cfg.clone(),
            instance: cfg.instance_name(),
            stats: stats.clone(),
            reporter: reporter.clone(),
            compute: compute_tx.clone(),
            limits,
            queue: config.queue,
            slots: config.compute_threads * 4,
            max_batch: config.max_batch,
            max_wait: config.max_wait(),
            epoch: epoch.clone(),
        });
        tracing::info!(instance = %shared.instance, units = units.len(), "durable units");
        for unit in units {
            let (shared, stop, fatal) = (shared.clone(), stop_rx.clone(), fatal_tx.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = durable::run_unit(shared, unit, stop).await {
                    let _ = fatal.send(e).await;
                }
            }));
        }
    }
    drop(fatal_tx);
    drop(compute_tx);

    let requests = if config.service {
        Some(tokio::spawn(
            requests::serve_requests(
                client.clone(),
                routes.clone(),
                job_senders.clone(),
                stats.clone(),
                stop_rx.clone(),
            )
            .await?,
        ))
    } else {
        None
    };
    drop(job_senders);
    #[cfg(unix)]
    tasks.push(tokio::spawn(requests::reload_on_sighup(
        routes.clone(),
        stop_rx.clone(),
    )));
    tracing::info!(routes = routes.len(), "serving");

    let fatal = tokio::select! {
        _ = shutdown => None,
        Some(e) = fatal_rx.recv() => Some(e),
    };
    tracing::info!("shutting down: draining subscriptions and in-flight windows");
    let _ = stop_tx.send(true);
    if let Some(r) = requests {
        let _ = r.await;
    }
    for t in tasks {
        let _ = t.await;
    }
    // Every stage has finished; the compute threads see their channel closed.
    let _ = tokio::task::spawn_blocking(move || {
        for t in compute_threads {
            let _ = t.join();
        }
    })
    .await;
    client
        .flush()
        .await
        .map_err(|e| Error::Nats(format!("flush on shutdown: {e}")))?;
    events_task.abort();
    let s = stats.snapshot();
    tracing::info!(
        samples = s.samples_in,
        windows = s.windows_out,
        batches = s.batches,
        mean_batch = format!("{:.1}", s.mean_batch_size),
        "stopped"
    );
    match fatal {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn watch_events(
    mut events: mpsc::Receiver<Event>,
    reporter: Reporter,
    epoch: watch::Sender<u64>,
) {
    let mut was_disconnected = false;
    while let Some(event) = events.recv().await {
        match event {
            Event::SlowConsumer(sid) => {
                // The client dropped messages for this subscription: samples
                // lost here surface as `gap`s on their streams too.
                reporter
                    .report(
                        ErrorKind::SlowConsumer,
                        "",
                        "",
                        format!(
                            "subscription {sid} is a slow consumer: the client dropped messages"
                        ),
                    )
                    .await;
            }
            Event::Disconnected => {
                was_disconnected = true;
                epoch.send_modify(|e| *e += 1);
                tracing::warn!("disconnected from NATS; reconnecting");
            }
            Event::Connected => {
                if was_disconnected {
                    reporter
                        .stats
                        .reconnects
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!("reconnected to NATS");
                }
                was_disconnected = false;
            }
            other => tracing::warn!("NATS: {other}"),
        }
    }
}

#[derive(Clone, Copy)]
struct IngestLimits {
    max_streams: usize,
    idle_timeout: Duration,
}

struct StreamEntry {
    /// The key again, shared with every job of the stream (no per-window copy).
    key: Arc<str>,
    window: StreamWindow,
    last_seen: Instant,
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
async fn ingest(
    mut sub: futures::stream::SelectAll<Subscriber>,
    mut ingest: Ingest,
    mut stop: watch::Receiver<bool>,
) {
    let mut sweep = tokio::time::interval(ingest.sweep_every());
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            msg = sub.next() => match msg {
                Some(m) => {
                    if !ingest.handle(m).await {
                        return;
                    }
                }
                None => break,
            },
            _ = sweep.tick() => ingest.evict_idle(),
        }
    }
    if let Err(e) = barrier(&ingest.reporter.client).await {
        tracing::warn!(
            "stopping {}: {e}; messages in flight may be lost",
            ingest.route.cfg.input
        );
    }
    while let Some(Some(m)) = sub.next().now_or_never() {
        if !ingest.handle(m).await {
            return;
        }
    }
    drop(sub);
    ingest.finish();
}

/// One route's stream table and the hot path over it. Owned by one task,
/// so per-sample work takes no lock.
struct Ingest {
    route: Arc<Route>,
    jobs: mpsc::Sender<Job>,
    reporter: Reporter,
    limits: IngestLimits,
    streams: HashMap<Arc<str>, StreamEntry>,
    /// Windows completed by the current message (reused).
    completed: Vec<(u64, Vec<f32>)>,
    /// Windows handed to the batcher so far (durable mode waits until the
    /// publisher has stored this many before it checkpoints).
    sent: u64,
}

impl Ingest {
    fn new(
        route: Arc<Route>,
        jobs: mpsc::Sender<Job>,
        reporter: Reporter,
        limits: IngestLimits,
    ) -> Self {
        Self {
            route,
            jobs,
            reporter,
            limits,
            streams: HashMap::new(),
            completed: Vec::new(),
            sent: 0,
        }
    }

    /// Every stream's window, for a checkpoint.
    fn save(&self) -> Vec<(String, crate::window::SavedWindow)> {
        self.streams
            .iter()
            .map(|(k, e)| (k.to_string(), e.window.save()))
            .collect()
    }

    /// Restores the stream table from a checkpoint.
    fn restore(&mut self, saved: &[(String, crate::window::SavedWindow)]) -> Result<()> {
        let now = Instant::now();
        for (key, w) in saved {
            let window = StreamWindow::restore(self.route.window, w)
                .map_err(|e| Error::Config(format!("checkpoint of stream {key:?}: {e}")))?;
            let key: Arc<str> = key.as_str().into();
            let entry = StreamEntry {
                key: key.clone(),
                window,
                last_seen: now,
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

    fn sweep_every(&self) -> Duration {
        (self.limits.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(10))
    }

    fn evict_idle(&mut self) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = Instant::now();
        let before = self.streams.len();
        let idle = self.limits.idle_timeout;
        self.streams
            .retain(|_, e| now.duration_since(e.last_seen) < idle);
        let evicted = (before - self.streams.len()) as u64;
        if evicted > 0 {
            let stats = &self.reporter.stats;
            stats.streams_evicted.fetch_add(evicted, Relaxed);
            stats.streams_active.fetch_sub(evicted, Relaxed);
            tracing::debug!(evicted, "idle streams evicted");
        }
    }

    fn finish(self) {
        let n = self.streams.len() as u64;
        self.reporter
            .stats
            .streams_active
            .fetch_sub(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Handles one message. Returns false when the pipeline behind is gone.
    async fn handle(&mut self, msg: async_nats::Message) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let reporter = &self.reporter;
        let stats = &reporter.stats;
        stats.messages_in.fetch_add(1, Relaxed);
        let subject = msg.subject.as_str();
        let flag = client_flag(&msg);
        if flag == Some(ClientFlag::SubjectNotUtf8) {
            let detail = format!("subject {subject:?} (as received, lossily): not valid UTF-8");
            reporter
                .report(ErrorKind::BadSubject, "", subject, detail)
                .await;
            return true;
        }
        let key = match self.route.pattern.key(subject) {
            Ok(k) => k,
            Err(e) => {
                reporter
                    .report(
                        ErrorKind::BadSubject,
                        "",
                        subject,
                        format!("subject {subject:?}: {e}"),
                    )
                    .await;
                return true;
            }
        };
        if let Some(flag) = flag {
            // The framing was the publisher's too: do not trust the payload.
            reporter
                .report(
                    ErrorKind::Malformed,
                    &key,
                    subject,
                    flag.reason().to_string(),
                )
                .await;
            return true;
        }
        if let Some(status) = msg.status {
            // The server sends status messages to inboxes, never on a
            // subject we subscribe to: this line was written by a publisher.
            let detail = format!("a NATS status line ({status}) in a sample message");
            reporter
                .report(ErrorKind::Malformed, &key, subject, detail)
                .await;
            return true;
        }
        let samples = match wire::decode_samples(&msg.payload) {
            Ok(s) => s,
            Err(DecodeError::Malformed(d)) => {
                reporter
                    .report(ErrorKind::Malformed, &key, subject, d)
                    .await;
                return true;
            }
            Err(DecodeError::InvalidValue(d)) => {
                reporter
                    .report(ErrorKind::InvalidValue, &key, subject, d)
                    .await;
                return true;
            }
        };
        let now = Instant::now();
        if !self.streams.contains_key(key.as_str()) {
            if self.streams.len() >= self.limits.max_streams {
                let detail = format!(
                    "{} streams are live (max_streams); new stream refused",
                    self.streams.len()
                );
                reporter
                    .report(ErrorKind::TooManyStreams, &key, subject, detail)
                    .await;
                return true;
            }
            stats.streams_active.fetch_add(1, Relaxed);
            let k: Arc<str> = key.as_str().into();
            let window = StreamWindow::new(self.route.window);
            self.streams.insert(
                k.clone(),
                StreamEntry {
                    key: k,
                    window,
                    last_seen: now,
                },
            );
        }
        let Some(entry) = self.streams.get_mut(key.as_str()) else {
            return true;
        };
        entry.last_seen = now;
        let stream = entry.key.clone();
        let completed = &mut self.completed;
        completed.clear();
        let outcome = entry.window.accept(
            samples.seq,
            &samples.values,
            self.route.cfg.stride,
            |first, win| completed.push((first, win.to_vec())),
        );
        let next = entry.window.next_seq().unwrap_or(0);
        stats.samples_in.fetch_add(outcome.accepted as u64, Relaxed);
        if let Some((expected, got)) = outcome.gap {
            let detail = format!("expected seq {expected}, got {got}: window restarted");
            reporter.report(ErrorKind::Gap, &key, subject, detail).await;
        }
        if outcome.out_of_order > 0 {
            let detail = format!(
                "{} sample(s) from seq {} dropped: not after the last accepted (next expected {next})",
                outcome.out_of_order, samples.seq
            );
            reporter
                .report(ErrorKind::OutOfOrder, &key, subject, detail)
                .await;
        }
        for (first, input) in self.completed.drain(..) {
            let job = Job {
                stream: stream.clone(),
                seq: first,
                input,
                ts: samples.ts,
                enqueued: Instant::now(),
                reply: None,
            };
            // Back-pressure: waits while the batcher's queue is full.
            if self.jobs.send(job).await.is_err() {
                return false;
            }
            self.sent += 1;
        }
        true
    }
}

/// Groups one route's windows into batches without waiting when idle: a
/// batch goes as soon as a compute thread is free, with every window queued
/// by then (up to `max_batch`); windows that arrive while every thread is
/// busy gather into the next batch. So one window alone goes at once, and
/// under load batches grow to what keeps the threads fed (Triton's dynamic
/// batcher, Clipper's adaptive batching). `max_wait` > 0 additionally holds
/// a batch up to that long for it to fill (fuller batches for a little
/// latency). Each batch takes the route's model as it is when the batch
/// goes, so a reload applies from the next batch on.
async fn batcher(
    mut jobs: mpsc::Receiver<Job>,
    model: impl Fn() -> Arc<LoadedModel>,
    compute: Compute,
    slots: mpsc::Sender<oneshot::Receiver<Done>>,
    max_batch: usize,
    max_wait: Duration,
) {
    let max_batch = max_batch.max(1);
    while let Some(first) = jobs.recv().await {
        let deadline = first.enqueued + max_wait;
        let mut batch = Vec::with_capacity(max_batch);
        batch.push(first);
        let mut open = take_queued(&mut jobs, &mut batch, max_batch);
        while open && !max_wait.is_zero() && batch.len() < max_batch {
            match tokio::time::timeout_at(deadline, jobs.recv()).await {
                Ok(Some(j)) => {
                    batch.push(j);
                    open = take_queued(&mut jobs, &mut batch, max_batch);
                }
                Ok(None) => open = false,
                Err(_) => break,
            }
        }
        // A free compute thread; until one is, keep gathering windows.
        let acquire = compute.free.clone().acquire_owned();
        tokio::pin!(acquire);
        let permit = loop {
            tokio::select! {
                biased;
                p = &mut acquire => break p,
                j = jobs.recv(), if open && batch.len() < max_batch => match j {
                    Some(j) => batch.push(j),
                    None => open = false,
                },
            }
        };
        let Ok(permit) = permit else {
            return; // the service is stopping: the semaphore is closed
        };
        let (done_tx, done_rx) = oneshot::channel();
        // The slot goes to the publisher first, so results are published in
        // the order batches were formed whichever thread finishes first.
        if slots.send(done_rx).await.is_err() {
            return;
        }
        let job = ComputeJob {
            model: model(),
            jobs: batch,
            done: done_tx,
            _permit: permit,
        };
        if compute.tx.send(job).await.is_err() {
            return;
        }
    }
}

/// Moves every window already queued into `batch` (up to `max`) without
/// waiting. Returns false when the queue is closed.
fn take_queued(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, max: usize) -> bool {
    while batch.len() < max {
        match jobs.try_recv() {
            Ok(j) => batch.push(j),
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
    true
}

/// A compute thread: takes whole batches and runs the model.
fn compute_loop(rx: Arc<Mutex<mpsc::Receiver<ComputeJob>>>, stats: Arc<Stats>) {
    let mut input = Vec::new();
    let mut scratch = crate::fast::Scratch::default();
    loop {
        let job = match rx.lock() {
            Ok(mut rx) => rx.blocking_recv(),
            Err(_) => return,
        };
        let Some(ComputeJob {
            model,
            jobs,
            done,
            _permit,
        }) = job
        else {
            return;
        };
        let started = Instant::now();
        let queued: Duration = jobs
            .iter()
            .map(|j| started.duration_since(j.enqueued))
            .sum();
        input.clear();
        for j in &jobs {
            input.extend_from_slice(&j.input);
        }
        let mut out = vec![0f32; input.len()];
        let outputs = model
            .fast
            .translate_into(&input, &mut out, &mut scratch)
            .map(|()| out);
        stats.batch(jobs.len(), queued, started.elapsed());
        let _ = done.send(Done {
            jobs,
            model,
            outputs,
            computed: Instant::now(),
        });
    }
}

/// Publishes one route's results in batch order.
async fn publisher(
    mut slots: mpsc::Receiver<oneshot::Receiver<Done>>,
    route: Arc<Route>,
    client: Client,
    stats: Arc<Stats>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let w = route.window;
    while let Some(slot) = slots.recv().await {
        let Ok(Done {
            jobs,
            model,
            outputs,
            computed,
        }) = slot.await
        else {
            tracing::error!("a compute thread died; its batch is lost");
            continue;
        };
        let outputs = match outputs {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(windows = jobs.len(), "model failed on a batch: {e}");
                stats.publish_failures.fetch_add(jobs.len() as u64, Relaxed);
                continue;
            }
        };
        for (job, values) in jobs.into_iter().zip(outputs.chunks_exact(w)) {
            if let Some(reply) = job.reply {
                let _ = reply.send((values.to_vec(), model.id.clone()));
                continue;
            }
            let (subject, payload) = route.output(&job, values, &model.id);
            match client.publish(subject, payload.into()).await {
                Ok(()) => {
                    stats.windows_out.fetch_add(1, Relaxed);
                    stats.observe_end_to_end(job.ts);
                }
                Err(e) => {
                    stats.publish_failures.fetch_add(1, Relaxed);
                    tracing::warn!("publish failed: {e}");
                }
            }
        }
        stats
            .publish_seconds
            .observe(computed.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_model() -> Arc<LoadedModel> {
        let params = crate::train::init_params(3, 0);
        let tensors = format::tensor_specs(3)
            .into_iter()
            .map(|(name, shape)| {
                let t = candle_core::Tensor::from_vec(
                    params[&name].clone(),
                    shape,
                    &candle_core::Device::Cpu,
                );
                (name, t.unwrap())
            })
            .collect();
        let bytes = format::to_bytes(&tensors, 3, 4, &format::Metadata::default()).unwrap();
        Arc::new(format::load_bytes(&bytes, std::path::Path::new("tiny"), None).unwrap())
    }

    fn job(seq: u64) -> Job {
        Job {
            stream: "s".into(),
            seq,
            input: vec![0.0; 4],
            ts: None,
            enqueued: Instant::now(),
            reply: None,
        }
    }

    /// A batcher over `threads` compute permits, its input, its output and
    /// the slots it hands the publisher.
    #[allow(clippy::type_complexity)]
    fn start_batcher(
        threads: usize,
        max_batch: usize,
        max_wait: Duration,
    ) -> (
        mpsc::Sender<Job>,
        mpsc::Receiver<ComputeJob>,
        mpsc::Receiver<oneshot::Receiver<Done>>,
        Arc<tokio::sync::Semaphore>,
    ) {
        let (jobs_tx, jobs_rx) = mpsc::channel(64);
        let (compute_tx, compute_rx) = mpsc::channel(8);
        let (slots_tx, slots_rx) = mpsc::channel(8);
        let free = Arc::new(tokio::sync::Semaphore::new(threads));
        let compute = Compute {
            tx: compute_tx,
            free: free.clone(),
        };
        let model = tiny_model();
        tokio::spawn(batcher(
            jobs_rx,
            move || model.clone(),
            compute,
            slots_tx,
            max_batch,
            max_wait,
        ));
        (jobs_tx, compute_rx, slots_rx, free)
    }

    fn seqs(b: &ComputeJob) -> Vec<u64> {
        b.jobs.iter().map(|j| j.seq).collect()
    }

    /// Idle, a window goes to compute at once (no time passes); while the
    /// only compute thread is busy, windows gather, and go together the
    /// moment it is free, up to `max_batch`.
    #[tokio::test(start_paused = true)]
    async fn batches_go_at_once_when_idle_and_gather_while_busy() {
        let (jobs_tx, mut compute_rx, _slots, _free) = start_batcher(1, 4, Duration::ZERO);
        let t0 = Instant::now();
        jobs_tx.send(job(0)).await.unwrap();
        let first = compute_rx.recv().await.unwrap();
        assert_eq!(seqs(&first), vec![0]);
        assert_eq!(Instant::now(), t0, "no wait when a thread is free");

        // The thread is busy with `first` (it holds the only permit).
        for s in 1..=6 {
            jobs_tx.send(job(s)).await.unwrap();
        }
        tokio::time::advance(Duration::from_millis(50)).await;
        assert!(compute_rx.try_recv().is_err(), "nothing goes while busy");
        drop(first); // done: the permit comes back
        let b = compute_rx.recv().await.unwrap();
        assert_eq!(seqs(&b), vec![1, 2, 3, 4], "one batch of max_batch");
        drop(b);
        let b = compute_rx.recv().await.unwrap();
        assert_eq!(seqs(&b), vec![5, 6], "the rest at once");
        drop(b);

        // Closing the input ends the batcher.
        drop(jobs_tx);
        assert!(compute_rx.recv().await.is_none());
    }

    /// With two threads, a second window goes while the first is computed.
    #[tokio::test(start_paused = true)]
    async fn a_second_free_thread_takes_the_next_window_at_once() {
        let (jobs_tx, mut compute_rx, _slots, free) = start_batcher(2, 8, Duration::ZERO);
        jobs_tx.send(job(0)).await.unwrap();
        let a = compute_rx.recv().await.unwrap();
        jobs_tx.send(job(1)).await.unwrap();
        let b = compute_rx.recv().await.unwrap();
        assert_eq!((seqs(&a), seqs(&b)), (vec![0], vec![1]));
        assert_eq!(free.available_permits(), 0);
        drop((a, b));
        assert_eq!(
            free.available_permits(),
            2,
            "permits come back with the batches"
        );
    }

    /// With `max_wait` > 0 (an opt-in upper bound for fuller batches), on
    /// paused time: a batch goes when full, or when its oldest window has
    /// waited `max_wait`, not before.
    #[tokio::test(start_paused = true)]
    async fn batches_go_when_full_or_when_the_oldest_has_waited() {
        let max_wait = Duration::from_millis(2);
        let (jobs_tx, mut compute_rx, mut slots_rx, _free) = start_batcher(4, 4, max_wait);

        // Full batch: goes at once, without any time passing.
        for s in 0..4 {
            jobs_tx.send(job(s)).await.unwrap();
        }
        let b = compute_rx.recv().await.unwrap();
        assert_eq!(
            b.jobs.iter().map(|j| j.seq).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert!(
            slots_rx.try_recv().is_ok(),
            "its result slot went to the publisher first"
        );

        // Two windows: nothing until 2 ms after the first one.
        let t0 = Instant::now();
        jobs_tx.send(job(10)).await.unwrap();
        tokio::time::advance(Duration::from_millis(1)).await;
        jobs_tx.send(job(11)).await.unwrap();
        tokio::task::yield_now().await;
        assert!(compute_rx.try_recv().is_err(), "sent before max_wait");
        let b = compute_rx.recv().await.unwrap();
        assert_eq!(b.jobs.len(), 2);
        let waited = Instant::now().duration_since(t0);
        assert!(
            waited >= max_wait && waited < max_wait + Duration::from_millis(1),
            "{waited:?}"
        );

        // Closing the input flushes nothing more and ends the batcher.
        drop(jobs_tx);
        assert!(compute_rx.recv().await.is_none());
    }
}
