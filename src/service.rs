//! `pipeline serve`: NATS subjects in, translated windows out.
//!
//! Data flows one way, through bounded channels, so a slow stage pushes back
//! on the one before it instead of growing memory:
//!
//! ```text
//! subscription ─▶ ingest (decode, per-stream windows) ─▶ batcher (a batch per free compute thread)
//!   ─▶ compute threads (model, off the async runtime) ─▶ publisher (in batch order) ─▶ sink
//!                      └─▶ observer (shadow model's outputs, comparisons with truth)
//! ```
//!
//! The modules, one job each:
//! - `route`: a route's config and models (live, shadow, previous) and the
//!   swaps (reload, shadow, promote, rollback);
//! - `ingest`: the hot path, subscription → stream windows → batcher;
//! - `engine`: batcher, compute threads and the one publisher, over a sink
//!   that is core NATS or JetStream; both modes start it the same way;
//! - `observe`: shadow outputs and running comparisons, beside the pipeline;
//! - `events`: error events and connection events;
//! - `requests`: the `pipeline` NATS service's endpoints and SIGHUP;
//! - `durable`: durable mode's units (JetStream in, checkpoints, exactly once).
//!
//! On shutdown, ingest takes every message the server had already sent
//! (see `ingest`), then each stage finishes what it holds and closes its
//! channel, and the client is flushed: nothing accepted is dropped.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

mod captured;
mod durable;
mod engine;
mod events;
mod ingest;
mod observe;
mod requests;
mod route;
#[cfg(unix)]
mod sighup;
#[cfg(test)]
mod testing;

pub use crate::nats::{Connection, barrier, connect, connect_with};
pub use captured::captured;
pub use durable::consumer_name;
#[cfg(unix)]
pub use sighup::{ignore_sighup, listen_for_sighup};

use crate::config::ServeConfig;
use crate::error::{Error, Result};
use crate::stats::{Stats, watched};
use engine::{BatchLimits, Compute, Sink};
use events::Reporter;
use ingest::{Ingest, IngestLimits};

/// Name and version of the NATS service (`$SRV.*`).
pub const SERVICE_NAME: &str = "pipeline";
pub const TRANSLATE_SUBJECT: &str = "pipeline.translate";
/// Control endpoint: reload a route's model (see `requests::reload_routes`).
pub const RELOAD_SUBJECT: &str = "pipeline.reload";
/// Control endpoint: set or clear a route's shadow model.
pub const SHADOW_SUBJECT: &str = "pipeline.shadow";
/// Control endpoint: make a route's shadow its live model.
pub const PROMOTE_SUBJECT: &str = "pipeline.promote";
/// Control endpoint: put a route's previous live model back.
pub const ROLLBACK_SUBJECT: &str = "pipeline.rollback";
/// How long stopping waits for the server to take the last writes.
const SHUTDOWN_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the service until `shutdown` resolves, then drains and returns.
pub async fn run(
    conn: Connection,
    config: ServeConfig,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let loaded = route::load_routes(&config)?;
    let routes: Vec<Arc<route::Route>> = loaded.iter().map(|(r, _)| r.clone()).collect();
    let Connection { client, events } = conn;
    let reporter = Reporter {
        client: client.clone(),
        subject: config.errors.as_str().into(),
        stats: stats.clone(),
        last_log: Arc::default(),
        route: None,
    };
    // Bumped on every disconnect: durable units start again from their
    // checkpoints, since deliveries in flight may have been lost with it.
    let (epoch_tx, epoch) = watch::channel(0u64);
    let events_task = tokio::spawn(events::watch_events(events, reporter.clone(), epoch_tx));

    // Exports a span per batch while held (cargo feature `otel`).
    let telemetry = crate::telemetry::start(config.otlp_endpoint.as_deref())?;
    let (compute, compute_threads) = Compute::start(config.compute_threads, stats.clone())?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    // Where /metrics is bound (port 0 picks a free one), for the log and the
    // service's `$SRV.INFO` metadata.
    let mut metrics_bound = None;
    if let Some(addr) = &config.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            let what = format!("metrics_addr {addr}: {e}");
            // A port held by another process for now may be free on the next
            // try (exit 1: systemd restarts); any other refusal (no such
            // address, a privileged port) will not be (78: it stops).
            match e.kind() {
                std::io::ErrorKind::AddrInUse => Error::Io(std::io::Error::new(e.kind(), what)),
                _ => Error::Config(what),
            }
        })?;
        let bound = listener.local_addr().map_err(Error::Io)?;
        tracing::info!(addr = %bound, "metrics and health on http");
        metrics_bound = Some(advertised(bound, &client));
        let for_metrics = routes.clone();
        let state = crate::metrics::MetricsState {
            stats: stats.clone(),
            routes: Arc::new(move || route::infos(&for_metrics)),
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
    let batching = BatchLimits {
        queue: config.queue,
        slots: config.compute_threads * 4,
        max_batch: config.max_batch,
        max_wait: config.max_wait(),
    };
    let owned: Vec<u32> = config
        .partitions
        .as_ref()
        .map(|p| p.owned.clone())
        .unwrap_or_default();
    // Observers outlive the compute threads (they publish shadow results).
    let (finish_tx, finish_rx) = watch::channel(false);
    let mut observers = Vec::new();
    for (route, rx) in loaded {
        let truth = match &route.cfg.truth {
            Some(t) => {
                Some(subscribe_all(&client, &crate::window::subscriptions(t, &owned)).await?)
            }
            None => None,
        };
        let parts = observe::ObserverParts {
            client: client.clone(),
            reporter: reporter.clone(),
            truth,
            limits,
        };
        observers.push(tokio::spawn(observe::observe(
            route,
            rx,
            parts,
            finish_rx.clone(),
        )));
    }
    // Core mode: one ingest and engine per route, for the service's life.
    if config.durable.is_none() {
        for route in &routes {
            let sub = subscribe_all(&client, &config.subscriptions(&route.cfg)).await?;
            let sink = Sink::Core(client.clone());
            let (jobs, engine) = engine::spawn(
                route.clone(),
                compute.clone(),
                sink,
                stats.clone(),
                &batching,
            );
            tasks.extend(engine);
            let state = Ingest::new(route.clone(), jobs, reporter.clone(), limits);
            let name = format!("route {:?} ingest", route.cfg.pair);
            let task = ingest::ingest(sub, state, stop_rx.clone());
            tasks.push(tokio::spawn(watched(stats.clone(), name, task)));
        }
        // Streams a durable run left on this service's subjects.
        let (client, config) = (client.clone(), config.clone());
        tokio::spawn(async move {
            for why in captured::captured(&client, &config).await {
                tracing::warn!("{why}");
            }
        });
    }

    // Durable mode: one unit per route and owned partition, each starting
    // its own engine per attempt; a unit that cannot go on stops the service.
    let (fatal_tx, mut fatal_rx) = mpsc::channel::<Error>(1);
    if let Some(cfg) = &config.durable {
        let durable::Setup {
            js,
            kv,
            units,
            batched,
        } = durable::setup_with_retry(&client, &config, cfg, &routes).await?;
        let shared = Arc::new(durable::Shared {
            js,
            kv,
            batched,
            cfg: cfg.clone(),
            instance: cfg.instance_name(),
            stats: stats.clone(),
            reporter: reporter.clone(),
            compute: compute.clone(),
            limits,
            batching,
            epoch: epoch.clone(),
        });
        tracing::info!(instance = %shared.instance, units = units.len(), "durable units");
        for unit in units {
            let (shared, stop, fatal) = (shared.clone(), stop_rx.clone(), fatal_tx.clone());
            let name = format!("durable unit {}", unit.key);
            let stats = shared.stats.clone();
            tasks.push(tokio::spawn(watched(stats, name, async move {
                if let Err(e) = durable::run_unit(shared, unit, stop).await {
                    let _ = fatal.send(e).await;
                }
            })));
        }
    }
    drop(fatal_tx);

    let requests = if config.service {
        Some(tokio::spawn(
            requests::serve_requests(
                client.clone(),
                crate::config::instance_name(
                    config.durable.as_ref().and_then(|d| d.instance.clone()),
                ),
                routes.clone(),
                compute.clone(),
                stats.clone(),
                metrics_bound,
                stop_rx.clone(),
            )
            .await?,
        ))
    } else {
        None
    };
    // From here the compute threads end once every engine and request is done.
    drop(compute);
    #[cfg(unix)]
    tasks.push(tokio::spawn(sighup::reload_on_sighup(
        routes.clone(),
        stats.clone(),
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
    let _ = finish_tx.send(true);
    for o in observers {
        let _ = o.await;
    }
    // Every batch is recorded: flush the spans (off the async threads).
    if let Some(t) = telemetry {
        let _ = tokio::task::spawn_blocking(move || t.stop()).await;
    }
    // Bounded: with the server gone a flush waits for a reconnection that
    // may never come, and a service asked to stop must stop.
    // A service that never reached a server received nothing to answer.
    let never_connected = client.server_info().server_id.is_empty();
    let flushed = if never_connected {
        Ok(())
    } else {
        match tokio::time::timeout(SHUTDOWN_FLUSH, client.flush()).await {
            Ok(flushed) => flushed.map_err(|e| format!("{e}")),
            Err(_) => Err(format!(
                "no server within {} s; {}",
                SHUTDOWN_FLUSH.as_secs(),
                if config.durable.is_some() {
                    // Acked only once stored: the samples stay in the input
                    // stream, and the next owner translates them again.
                    "translations not yet stored are computed again from the checkpoint by the \
                     instance that takes the units over: none is lost"
                } else {
                    "what was not yet written to it is lost"
                }
            )),
        }
    };
    events_task.abort();
    flushed.map_err(|e| Error::Nats(format!("flush on shutdown: {e}")))?;
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

/// One subscription over several subjects (a route's partitions).
async fn subscribe_all(client: &async_nats::Client, subjects: &[String]) -> Result<Inputs> {
    let mut subs = tokio_stream::StreamMap::with_capacity(subjects.len());
    for (i, subject) in subjects.iter().enumerate() {
        let sub = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| Error::Nats(format!("cannot subscribe to {subject}: {e}")))?;
        subs.insert(i, sub);
    }
    Ok(Inputs(subs))
}

/// A route's subscriptions read as one stream of messages. (Unlike
/// `futures`' `SelectAll`, which allocates a node per message taken,
/// `StreamMap` polls its streams in place.)
pub(crate) struct Inputs(tokio_stream::StreamMap<usize, async_nats::Subscriber>);

impl Inputs {
    /// The messages each subscription holds now, taken without waiting,
    /// for the shutdown drain: what arrives after the call is left, so the
    /// drain ends however fast a publisher goes on sending.
    pub(crate) fn take_buffered(&mut self) -> Vec<async_nats::Message> {
        let mut taken = Vec::new();
        for sub in self.0.values_mut() {
            for _ in 0..sub.buffered() {
                match ingest::ready(sub) {
                    Some(m) => taken.push(m),
                    None => break,
                }
            }
        }
        taken
    }

    /// Whether any of the subscriptions holds more than 7/8 of what the
    /// client buffers for it (57,344 of 65,536 messages): past that, a
    /// route that cannot keep up sheds windows rather than let the client
    /// drop samples (see [`ingest::WhenFull`]). Up to it, ingest waits
    /// and a burst loses nothing; the last eighth is the room it needs to
    /// notice (asked for every window that finds the queue full, a wait
    /// lasts until the batcher takes its next batch). Any subscription:
    /// one ingest task reads all of a route's.
    pub(crate) fn nearly_full(&self) -> bool {
        self.0.values().any(|s| {
            let capacity = s.buffer_capacity();
            s.buffered() > capacity - capacity.div_ceil(8)
        })
    }
}

impl futures::Stream for Inputs {
    type Item = async_nats::Message;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|m| m.map(|(_, m)| m))
    }
}

/// Where others can scrape `/metrics` bound at `bound`: bound to every
/// interface (`0.0.0.0:9464`, as in a container), the address NATS sees
/// this client at (a pod's IP), since `0.0.0.0` names no host to a reader
/// of `$SRV.INFO` or `pipeline status`.
fn advertised(bound: std::net::SocketAddr, client: &async_nats::Client) -> std::net::SocketAddr {
    if !bound.ip().is_unspecified() {
        return bound;
    }
    match client.server_info().client_ip.parse::<std::net::IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, bound.port()),
        Err(_) => bound,
    }
}
