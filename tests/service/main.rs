//! `pipeline serve` against a real nats-server, one module per concern:
//! sample streams, the service's lifecycle (eviction, shutdown, restarts),
//! requests and reload, real processes and a Python client, metrics and
//! health, authentication, time stamps. One test binary (built
//! once), its files split by concern.

use crate::common;

mod auth;
mod lifecycle;
mod metrics;
mod overload;
mod processes;
mod requests;
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
