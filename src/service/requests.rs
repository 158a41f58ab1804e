//! The `pipeline` NATS service's endpoints: `pipeline.translate` (one
//! window, straight to a route's batcher, answered with its translation),
//! `pipeline.reload` (load and check a model file, then swap it in), the
//! `$SRV` discovery and stats the async-nats service gives, and SIGHUP.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_nats::Client;
use async_nats::service::ServiceExt;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::{Job, RELOAD_SUBJECT, Route, SERVICE_NAME, TRANSLATE_SUBJECT};
use crate::error::{Error, Result};
use crate::nats::{ClientFlag, client_flag};
use crate::stats::Stats;
use crate::wire::{self, Translation};

/// Starts the `pipeline` NATS service and returns its request loop.
pub(super) async fn serve_requests(
    client: Client,
    routes: Vec<Arc<Route>>,
    senders: Vec<mpsc::Sender<Job>>,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) -> Result<impl Future<Output = ()>> {
    let stats_for_handler = stats.clone();
    let pairs: Vec<String> = routes.iter().map(|r| r.cfg.pair.clone()).collect();
    let mut metadata = HashMap::new();
    metadata.insert("pairs".to_string(), pairs.join(","));
    metadata.insert(
        "models".to_string(),
        routes
            .iter()
            .map(|r| r.current().id.clone())
            .collect::<Vec<_>>()
            .join(","),
    );
    let service = client
        .service_builder()
        .description("Translates numeric signal windows with a seq2seq LSTM")
        .metadata(metadata)
        .stats_handler(move |_endpoint, _| {
            serde_json::to_value(stats_for_handler.snapshot()).unwrap_or_default()
        })
        .start(SERVICE_NAME, env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| Error::Nats(format!("cannot start the NATS service: {e}")))?;
    let mut endpoint = service
        .endpoint_builder()
        .name("translate")
        .add(TRANSLATE_SUBJECT)
        .await
        .map_err(|e| Error::Nats(format!("cannot add {TRANSLATE_SUBJECT}: {e}")))?;
    let mut reload = service
        .endpoint_builder()
        .name("reload")
        .add(RELOAD_SUBJECT)
        .await
        .map_err(|e| Error::Nats(format!("cannot add {RELOAD_SUBJECT}: {e}")))?;
    Ok(async move {
        let mut inflight = tokio::task::JoinSet::new();
        loop {
            let request = tokio::select! {
                _ = stop.changed() => break,
                r = reload.next() => {
                    if let Some(r) = r.filter(|r| answerable(&r.message)) {
                        let answer = match refuse_flagged(&r.message) {
                            Err(e) => Err(e),
                            Ok(()) => answer_reload(&r.message.payload, &routes).await,
                        };
                        let _ = r.respond(answer).await;
                    }
                    continue;
                }
                r = endpoint.next() => match r {
                    Some(r) if answerable(&r.message) => r,
                    Some(_) => continue,
                    None => break,
                },
            };
            stats
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let routes = routes.clone();
            let senders = senders.clone();
            inflight.spawn(async move {
                let answer = match refuse_flagged(&request.message) {
                    Err(e) => Err(e),
                    Ok(()) => answer_request(&request.message.payload, &routes, &senders).await,
                };
                let _ = request.respond(answer).await;
            });
            while inflight.try_join_next().is_some() {}
        }
        // Answer what was already asked before the windows' senders go.
        while inflight.join_next().await.is_some() {}
        drop(endpoint);
        drop(reload);
        let _ = service.stop().await;
    })
}

/// A request the client could not parse whole (see [`client_flag`]) is
/// answered with a 400 saying why, like any other bad request.
fn refuse_flagged(
    msg: &async_nats::Message,
) -> std::result::Result<(), async_nats::service::error::Error> {
    match client_flag(msg) {
        Some(flag) => Err(service_error(400, flag.reason())),
        None => Ok(()),
    }
}

/// Whether a request can be answered: a reply subject that was not UTF-8
/// reached us converted (U+FFFD), so answering it would go to a different
/// subject, one somebody else may be listening on.
fn answerable(msg: &async_nats::Message) -> bool {
    let ok = client_flag(msg) != Some(ClientFlag::ReplyNotUtf8);
    if !ok {
        tracing::warn!(subject = %msg.subject, "request with a reply subject that is not UTF-8: not answered");
    }
    ok
}

fn service_error(code: usize, status: impl Into<String>) -> async_nats::service::error::Error {
    async_nats::service::error::Error {
        status: status.into(),
        code,
    }
}

async fn answer_request(
    payload: &[u8],
    routes: &[Arc<Route>],
    senders: &[mpsc::Sender<Job>],
) -> std::result::Result<bytes::Bytes, async_nats::service::error::Error> {
    let (values, pair) =
        wire::decode_request(payload).map_err(|e| service_error(400, e.to_string()))?;
    let idx = match &pair {
        None => 0,
        Some(p) => routes
            .iter()
            .position(|r| &r.cfg.pair == p)
            .ok_or_else(|| service_error(404, format!("no route serves pair {p:?}")))?,
    };
    let route = &routes[idx];
    let w = route.window;
    if values.len() != w {
        return Err(service_error(
            400,
            format!("expected {w} values, got {}", values.len()),
        ));
    }
    let (tx, rx) = oneshot::channel();
    let job = Job {
        stream: "".into(),
        seq: 0,
        input: values,
        ts: None,
        enqueued: Instant::now(),
        reply: Some(tx),
    };
    senders[idx]
        .send(job)
        .await
        .map_err(|_| service_error(503, "shutting down"))?;
    let (values, model) = rx
        .await
        .map_err(|_| service_error(500, "the model failed on this window"))?;
    let t = Translation {
        stream: String::new(),
        seq: 0,
        values,
        pair: route.cfg.pair.clone(),
        model,
        ts: None,
    };
    Ok(t.encode().into())
}

/// A `pipeline.reload` request: `{"pair": optional, "model": optional path}`.
#[derive(Debug, Default, serde::Deserialize)]
struct ReloadRequest {
    #[serde(default)]
    pair: Option<String>,
    #[serde(default)]
    model: Option<std::path::PathBuf>,
}

/// What a reload did: (pair, new model id) per route reloaded.
#[derive(Debug, serde::Serialize)]
struct Reloaded {
    reloaded: Vec<(String, String)>,
}

/// Reloads routes (all, or the one serving `pair`), each from its model
/// file or from `path`. Routes are independent: the first failure stops the
/// reload and is reported; routes before it keep their new model, the
/// failing one and those after it keep their old one.
fn reload_routes(
    routes: &[Arc<Route>],
    pair: Option<&str>,
    path: Option<&std::path::Path>,
) -> Result<Vec<(String, String)>> {
    let chosen: Vec<&Arc<Route>> = match pair {
        Some(p) => {
            let r = routes
                .iter()
                .find(|r| r.cfg.pair == p)
                .ok_or_else(|| Error::Config(format!("no route serves pair {p:?}")))?;
            vec![r]
        }
        None if path.is_some() && routes.len() > 1 => {
            return Err(Error::Config(
                "a model file for several routes is ambiguous: name the pair".into(),
            ));
        }
        None => routes.iter().collect(),
    };
    chosen
        .into_iter()
        .map(|r| r.reload(path).map(|m| (r.cfg.pair.clone(), m.id.clone())))
        .collect()
}

async fn answer_reload(
    payload: &[u8],
    routes: &[Arc<Route>],
) -> std::result::Result<bytes::Bytes, async_nats::service::error::Error> {
    let req: ReloadRequest = if payload.is_empty() {
        ReloadRequest::default()
    } else {
        rmp_serde::from_slice(payload)
            .map_err(|e| service_error(400, format!("not a reload request: {e}")))?
    };
    let routes = routes.to_vec();
    let done = tokio::task::spawn_blocking(move || {
        reload_routes(&routes, req.pair.as_deref(), req.model.as_deref())
    })
    .await
    .map_err(|e| service_error(500, e.to_string()))?;
    match done {
        Ok(reloaded) => Ok(rmp_serde::to_vec_named(&Reloaded { reloaded })
            .unwrap_or_default()
            .into()),
        Err(e) => {
            tracing::warn!("reload refused, the old model keeps serving: {e}");
            Err(service_error(422, e.to_string()))
        }
    }
}

/// Reloads every route from its model file on SIGHUP.
#[cfg(unix)]
pub(super) async fn reload_on_sighup(routes: Vec<Arc<Route>>, mut stop: watch::Receiver<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload through pipeline.reload instead");
        return;
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            s = hup.recv() => if s.is_none() { return },
        }
        let routes = routes.clone();
        match tokio::task::spawn_blocking(move || reload_routes(&routes, None, None)).await {
            Ok(Ok(done)) => tracing::info!(?done, "SIGHUP: models reloaded"),
            Ok(Err(e)) => {
                tracing::warn!("SIGHUP: reload refused, the old model keeps serving: {e}")
            }
            Err(e) => tracing::warn!("SIGHUP: reload failed: {e}"),
        }
    }
}
