//! `pipeline serve` against a real nats-server, one module per concern:
//! sample streams, the service's lifecycle (eviction, shutdown, restarts),
//! requests and reload, real processes and a Python client, metrics and
//! health, authentication, time stamps. One test binary (built
//! once), its files split by concern.

use crate::common;

mod auth;
mod clock;
mod held;
mod joined;
mod lifecycle;
mod metrics;
mod missing;
mod overload;
mod processes;
mod requests;
mod shared;
mod streams;
mod time;
mod unnumbered;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use common::nats::{NatsServer, raw_pub};
use common::sample;
use common::service::*;
use futures::StreamExt;
use pipeline::config::RouteConfig;
use pipeline::stats::Stats;
use pipeline::wire::{ErrorKind, Translation};
use tokio::sync::oneshot;

/// A server, the service with `cfg`, a client, and its subscriptions to
/// error events and translations, in place before anything is sent.
async fn started(
    cfg: pipeline::config::ServeConfig,
) -> (
    NatsServer,
    Svc,
    Client,
    async_nats::Subscriber,
    async_nats::Subscriber,
) {
    let server = NatsServer::start();
    let svc = Svc::start(&server.url(), cfg).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let errors = client.subscribe("pipeline.errors").await.unwrap();
    let out = client.subscribe("translated.>").await.unwrap();
    client.flush().await.unwrap();
    (server, svc, client, errors, out)
}
