//! The `pipeline` NATS service's endpoints: `pipeline.translate` (one
//! window, straight to a route's batcher, answered with its translation),
//! `pipeline.reload` (load and check a model file, then swap it in), the
//! `$SRV` discovery and stats the async-nats service gives, and SIGHUP.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use async_nats::Client;
use async_nats::service::ServiceExt;
use futures::StreamExt;
use tokio::sync::watch;

use super::engine::Compute;
use super::route::Route;
use super::{
    PROMOTE_SUBJECT, RELOAD_SUBJECT, ROLLBACK_SUBJECT, SERVICE_NAME, SHADOW_SUBJECT,
    TRANSLATE_SUBJECT,
};
use crate::error::{Error, Result};
use crate::nats::{ClientFlag, client_flag};
use crate::stats::Stats;
use crate::wire::{self, TranslationRef};

/// Starts the `pipeline` NATS service and returns its request loop.
pub(super) async fn serve_requests(
    client: Client,
    name: String,
    routes: Vec<Arc<Route>>,
    compute: Compute,
    stats: Arc<Stats>,
    metrics: Option<std::net::SocketAddr>,
    mut stop: watch::Receiver<bool>,
) -> Result<impl Future<Output = ()>> {
    let for_handler = (stats.clone(), routes.clone(), metrics, name.clone());
    let pairs: Vec<String> = routes.iter().map(|r| r.cfg.pair.clone()).collect();
    let mut metadata = HashMap::new();
    // Metadata is fixed for the service's life (ADR-32): the routes' pairs.
    // Model ids change with every reload or promotion, so they live in the
    // `$SRV.STATS` data (`routes`).
    metadata.insert("pairs".to_string(), pairs.join(","));
    metadata.insert("instance".to_string(), name.clone());
    metadata.insert("revision".to_string(), crate::REVISION.to_string());
    // Where to scrape this instance (`nats micro info pipeline` shows it).
    if let Some(addr) = metrics {
        metadata.insert("metrics_addr".to_string(), addr.to_string());
    }
    let service = client
        .service_builder()
        .description("Translates numeric signal windows with a seq2seq LSTM")
        .metadata(metadata)
        .stats_handler(move |endpoint, _| {
            // Each endpoint reports what concerns it (the library adds its
            // request, error and timing figures): `translate`, the
            // service's counters and each route's models and figures; the
            // control endpoints, the models they act on.
            let (stats, routes, metrics, name) = &for_handler;
            let infos = super::route::infos(routes);
            if endpoint != "translate" {
                let models: Vec<_> = infos
                    .iter()
                    .map(|r| serde_json::json!({"pair": r.pair, "model": r.model, "shadow": r.shadow}))
                    .collect();
                return serde_json::json!({ "routes": models });
            }
            let mut data = serde_json::to_value(stats.snapshot()).unwrap_or_default();
            if let Some(map) = data.as_object_mut() {
                map.insert("routes".into(), serde_json::to_value(infos).unwrap_or_default());
                // Its name (`--instance`, else the host's): ids change
                // with every restart.
                map.insert("instance".into(), name.clone().into());
                // Where to scrape it, beside its figures (`pipeline status`).
                if let Some(addr) = metrics {
                    map.insert("metrics_addr".into(), addr.to_string().into());
                }
            }
            data
        })
        .start(SERVICE_NAME, env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| Error::Nats(format!("cannot start the NATS service: {e}")))?;
    // Translations go to one instance (the default queue group); control
    // requests to every instance: each is in a queue group of its own, so a
    // reload or promotion reaches the whole fleet (`pipeline reload`
    // collects one answer from each).
    let id = service.info().await.id;
    // Control answers name the instance and its service id.
    let who = format!("{name} {id}");
    let add = |name: &'static str, subject: &'static str, fleet: bool| {
        let mut builder = service.endpoint_builder().name(name);
        if fleet {
            builder = builder.queue_group(format!("pipeline-{id}"));
        }
        async move {
            builder
                .add(subject)
                .await
                .map_err(|e| Error::Nats(format!("cannot add {subject}: {e}")))
        }
    };
    let mut endpoint = add("translate", TRANSLATE_SUBJECT, false).await?;
    let mut reload = add("reload", RELOAD_SUBJECT, true).await?;
    let mut shadow = add("shadow", SHADOW_SUBJECT, true).await?;
    let mut promote = add("promote", PROMOTE_SUBJECT, true).await?;
    let mut rollback = add("rollback", ROLLBACK_SUBJECT, true).await?;
    Ok(async move {
        // Control requests are answered in turn (they are rare and each
        // swaps models), in a loop of their own: a model file slow to read
        // holds up neither translations nor stopping.
        let mut control_stop = stop.clone();
        let control = async {
            loop {
                let (control, kind) = tokio::select! {
                    _ = control_stop.changed() => break,
                    r = reload.next() => (r, Control::Reload),
                    r = shadow.next() => (r, Control::Shadow),
                    r = promote.next() => (r, Control::Promote),
                    r = rollback.next() => (r, Control::Rollback),
                };
                let Some(r) = control else { break };
                if !answerable(&r.message) {
                    continue;
                }
                let answer = match refuse_flagged(&r.message) {
                    Err(e) => Err(e),
                    Ok(()) => tokio::select! {
                        _ = control_stop.changed() => break,
                        a = answer_control(kind, &r.message.payload, &routes, &who, &stats) => a,
                    },
                };
                let _ = r.respond(answer).await;
            }
        };
        // Translations run concurrently.
        let translate = async {
            let mut inflight = tokio::task::JoinSet::new();
            loop {
                let r = tokio::select! {
                    _ = stop.changed() => break,
                    r = endpoint.next() => r,
                };
                let Some(r) = r else { break };
                if !answerable(&r.message) {
                    continue;
                }
                stats
                    .requests
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (routes, compute) = (routes.clone(), compute.clone());
                inflight.spawn(async move {
                    let answer = match refuse_flagged(&r.message) {
                        Err(e) => Err(e),
                        Ok(()) => answer_request(&r.message.payload, &routes, &compute).await,
                    };
                    let _ = r.respond(answer).await;
                });
                while inflight.try_join_next().is_some() {}
            }
            // Answer what was already asked before the compute threads go.
            while inflight.join_next().await.is_some() {}
        };
        tokio::join!(control, translate);
        drop((endpoint, reload, shadow, promote, rollback));
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
    compute: &Compute,
) -> std::result::Result<bytes::Bytes, async_nats::service::error::Error> {
    let (values, pair) =
        wire::decode_request(payload).map_err(|e| service_error(400, e.to_string()))?;
    let route =
        find_route(routes, pair.as_deref()).map_err(|e| service_error(404, e.to_string()))?;
    let w = route.window;
    if values.len() != w {
        return Err(service_error(
            400,
            format!("expected {w} values, got {}", values.len()),
        ));
    }
    let model = route.current();
    let values = compute
        .one(model.clone(), route.counters.clone(), values)
        .await
        .map_err(|e| service_error(500, format!("the model failed on this window: {e}")))?;
    let t = TranslationRef {
        stream: "",
        seq: 0,
        values: &values,
        pair: &route.cfg.pair,
        model: &model.id,
        ts: None,
        unit: model.output_unit.as_deref(),
    };
    // The answer comes in the request's format.
    let format = if wire::is_json_object(payload) {
        wire::Format::Json
    } else {
        wire::Format::Msgpack
    };
    let mut out = Vec::new();
    t.encode_as(format, &mut out);
    Ok(out.into())
}

/// Refuses a shadow on `route` where another route's shadow, set now,
/// writes subjects `route`'s would (the default `shadow` prefix is every
/// route's): their translations of one stream key would share a subject,
/// as the configuration refuses for shadows it sets.
fn shadow_output_free(routes: &[Arc<Route>], route: &Route) -> Result<()> {
    use crate::config::routes::outputs_overlap;
    let ours = (route.cfg.shadow.output.as_str(), route.cfg.input.as_str());
    let taken = routes.iter().find(|o| {
        let theirs = (o.cfg.shadow.output.as_str(), o.cfg.input.as_str());
        o.cfg.pair != route.cfg.pair
            && o.serving().shadow.is_some()
            && outputs_overlap(theirs, ours)
    });
    match taken {
        Some(o) => Err(Error::Request(format!(
            "route {:?} shadows now, and its shadow output {:?} overlaps route {:?}'s {:?}: \
             translations of one stream key from both would share a subject; stop its shadow \
             first, or give each route a shadow output of its own ([route.shadow] output)",
            o.cfg.pair, o.cfg.shadow.output, route.cfg.pair, route.cfg.shadow.output
        ))),
        None => Ok(()),
    }
}

/// The route serving `pair`, or the first route when no pair is named.
fn find_route<'a>(routes: &'a [Arc<Route>], pair: Option<&str>) -> Result<&'a Arc<Route>> {
    match pair {
        None => routes
            .first()
            .ok_or_else(|| Error::Request("no routes".into())),
        Some(p) => routes
            .iter()
            .find(|r| r.cfg.pair == p)
            .ok_or_else(|| no_route(routes, p)),
    }
}

/// The route a shadow or promote request changes: the one named, or the
/// only one. On an instance of several routes a request naming none is
/// refused (it changed the first route, whichever model it named).
fn control_route<'a>(routes: &'a [Arc<Route>], pair: Option<&str>) -> Result<&'a Arc<Route>> {
    if pair.is_none() && routes.len() > 1 {
        let served: Vec<String> = routes.iter().map(|r| format!("{:?}", r.cfg.pair)).collect();
        return Err(Error::Request(format!(
            "this instance serves {} routes ({}): name one with \"pair\"",
            routes.len(),
            served.join(", ")
        )));
    }
    find_route(routes, pair)
}

/// A request for a pair no route serves: the error names the ones that are.
fn no_route(routes: &[Arc<Route>], pair: &str) -> Error {
    let served: Vec<String> = routes.iter().map(|r| format!("{:?}", r.cfg.pair)).collect();
    Error::NoRoute {
        pair: pair.to_string(),
        served: served.join(", "),
    }
}

/// The control endpoints.
#[derive(Debug, Clone, Copy)]
enum Control {
    Reload,
    Shadow,
    Promote,
    Rollback,
}

/// A control request: `{"pair": optional, "model": optional path,
/// "force": optional bool}`, as
/// MessagePack or JSON (so `nats req pipeline.promote '{"pair":"x"}'` works).
/// An empty payload is `{}`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlRequest {
    #[serde(default)]
    pair: Option<String>,
    #[serde(default)]
    model: Option<std::path::PathBuf>,
    /// Serve a model trained on another channel or in other units all the
    /// same.
    #[serde(default)]
    force: bool,
    /// The request was JSON (the answer is too).
    #[serde(skip)]
    json: bool,
}

/// What a control request looks like, for its errors.
const CONTROL_FORM: &str = r#"send {"pair": "…", "model": "/path/m.safetensors", "force": false} (all optional), or nothing"#;

impl ControlRequest {
    fn decode(payload: &[u8]) -> std::result::Result<Self, String> {
        match payload.iter().find(|b| !b.is_ascii_whitespace()) {
            None => Ok(Self::default()),
            Some(b'{') => serde_json::from_slice(payload)
                .map(|r: Self| Self { json: true, ..r })
                .map_err(|e| format!("{e}; {CONTROL_FORM}")),
            // Not `{`: MessagePack, or text that is neither (`garbage` read
            // as MessagePack is a small integer, and serde's message about
            // that says nothing useful).
            Some(_) => rmp_serde::from_slice(payload).map_err(|e| {
                format!("neither a JSON object nor a MessagePack map ({e}); {CONTROL_FORM}")
            }),
        }
    }
}

/// An answer in the request's format: JSON for JSON, else MessagePack.
fn answer<T: serde::Serialize>(v: &T, json: bool) -> Vec<u8> {
    if json {
        serde_json::to_vec(v).unwrap_or_default()
    } else {
        rmp_serde::to_vec_named(v).unwrap_or_default()
    }
}

/// What a reload did: (pair, new model id) per route reloaded.
#[derive(Debug, serde::Serialize)]
pub(super) struct Reloaded {
    pub reloaded: Vec<(String, String)>,
    /// The answering instance: its name and service id (`$SRV.PING`).
    instance: String,
    /// What the operator should know about the models put in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// A route's models after a shadow, promote or rollback request.
#[derive(Debug, serde::Serialize)]
struct Models {
    pair: String,
    live: String,
    shadow: Option<String>,
    /// What a rollback would put back.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<String>,
    instance: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// Reloads routes (all, or the one serving `pair`), each from its model
/// file or from `path` (the answer's `instance` left empty).
/// Routes are independent: the first failure stops the reload and is
/// reported; routes before it keep their new model, the failing one and
/// those after it keep their old one.
pub(super) fn reload_routes(
    routes: &[Arc<Route>],
    pair: Option<&str>,
    path: Option<&std::path::Path>,
    force: bool,
    stats: &Stats,
) -> Result<Reloaded> {
    let chosen: Vec<&Arc<Route>> = match pair {
        Some(p) => {
            vec![find_route(routes, Some(p))?]
        }
        None if path.is_some() && routes.len() > 1 => {
            return Err(Error::Request(
                "a model file for several routes is ambiguous: name the pair".into(),
            ));
        }
        None => routes.iter().collect(),
    };
    let mut reloaded = Vec::new();
    let mut warnings = Vec::new();
    for r in chosen {
        let before = r.serving().generation;
        let checked = r.reload(path, force)?;
        // The model already live, again, is no change.
        if r.serving().generation != before {
            stats.model_changes.fetch_add(1, Relaxed);
        }
        reloaded.push((r.cfg.pair.clone(), checked.model.id.clone()));
        warnings.extend(checked.warnings);
        warnings.extend(r.until_sighup(&checked.model));
    }
    Ok(Reloaded {
        reloaded,
        instance: String::new(),
        warnings,
    })
}

async fn answer_control(
    kind: Control,
    payload: &[u8],
    routes: &[Arc<Route>],
    instance: &str,
    stats: &Arc<Stats>,
) -> std::result::Result<bytes::Bytes, async_nats::service::error::Error> {
    let req = ControlRequest::decode(payload).map_err(|e| {
        let kind = format!("{kind:?}").to_lowercase();
        service_error(400, format!("not a {kind} request: {e}"))
    })?;
    let json = req.json;
    let routes = routes.to_vec();
    let who = instance.to_string();
    let instance = who.clone();
    let counts = stats.clone();
    // Loading a model reads and checks a file: off the async runtime.
    let done = tokio::task::spawn_blocking(move || {
        let models = |r: &Route, s: super::route::Serving, warnings| Models {
            pair: r.cfg.pair.clone(),
            live: s.live.id.clone(),
            shadow: s.shadow.map(|m| m.id.clone()),
            previous: s.previous.map(|m| m.id.clone()),
            instance: instance.clone(),
            warnings,
        };
        let (pair, path) = (req.pair.as_deref(), req.model.as_deref());
        let force = match req.force {
            true => super::route::Force::Yes,
            false => super::route::Force::No,
        };
        match kind {
            Control::Reload => {
                let done = reload_routes(&routes, pair, path, req.force, &counts)?;
                let instance = instance.clone();
                Ok(answer(&Reloaded { instance, ..done }, json))
            }
            Control::Shadow => {
                let r = control_route(&routes, pair)?;
                if path.is_some() {
                    shadow_output_free(&routes, r)?;
                }
                let before = r.serving().generation;
                let (s, warnings) = r.set_shadow(path, force)?;
                if s.generation != before {
                    counts.model_changes.fetch_add(1, Relaxed);
                }
                Ok(answer(&models(r, s, warnings), json))
            }
            Control::Rollback => {
                if req.model.is_some() {
                    return Err(Error::Request(
                        "rollback takes no model: it puts back the one the last change of the \
                         live model replaced (to serve a file, reload it: pipeline.reload)"
                            .into(),
                    ));
                }
                let r = control_route(&routes, pair)?;
                let (s, mut warnings) = r.rollback(force)?;
                warnings.extend(r.until_sighup(&s.live));
                counts.model_changes.fetch_add(1, Relaxed);
                Ok(answer(&models(r, s, warnings), json))
            }
            Control::Promote => {
                if req.model.is_some() {
                    return Err(Error::Request(
                        "promote takes no model: set it as the shadow first (pipeline.shadow)"
                            .into(),
                    ));
                }
                let r = control_route(&routes, pair)?;
                // The comparison restarts with the swap: read it before.
                let worse = worse_against_truth(&r.compare.snapshot());
                let (s, mut warnings) = r.promote(force)?;
                warnings.extend(worse);
                warnings.extend(r.until_sighup(&s.live));
                counts.model_changes.fetch_add(1, Relaxed);
                Ok(answer(&models(r, s, warnings), json))
            }
        }
    })
    .await
    .map_err(|e| service_error(500, e.to_string()))?;
    match done {
        Ok(answer) => Ok(answer.into()),
        Err(e) => {
            stats.model_changes_refused.fetch_add(1, Relaxed);
            let kind = format!("{kind:?}").to_lowercase();
            tracing::warn!("{kind} refused, the models serving are unchanged: {e}");
            let code = match e {
                Error::NoRoute { .. } => 404,
                _ => 422,
            };
            // Which instance (an error answer has no body to say it in).
            Err(service_error(code, format!("{who}: {e}")))
        }
    }
}

/// What to tell an operator promoting a shadow that scored worse than the
/// live model against the truth channel (promoted all the same: the
/// operator may know better, a later stretch of signal, say).
fn worse_against_truth(c: &crate::stats::CompareSnapshot) -> Option<String> {
    let (live, shadow) = (c.live_vs_truth.mse()?, c.shadow_vs_truth.mse()?);
    (shadow > live).then(|| {
        format!(
            "the shadow scored worse than the live model against the truth: MSE {shadow:.4e} \
             against {live:.4e} on {} window(s); promoted all the same",
            c.shadow_vs_truth.windows
        )
    })
}
