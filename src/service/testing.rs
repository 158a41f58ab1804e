//! What the service's unit tests share: the shipped sin-cos route, and a
//! client that never connects.

use std::sync::Arc;

use super::route::{Route, load_routes};
use crate::config::{RouteConfig, ServeConfig};

/// The shipped sin-cos model's route, with the default settings.
pub(super) fn sin_cos_route() -> Arc<Route> {
    let mut config = ServeConfig::with_routes(vec![RouteConfig::new("sin-cos")]);
    config.models_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let (route, _observed) = load_routes(&config).unwrap().remove(0);
    route
}

/// A client with no server: it queues nothing it could not send, and
/// refuses every publish (its max_payload is 0 until a server's INFO says
/// otherwise).
pub(super) async fn unconnected_client() -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect("nats://127.0.0.1:1")
        .await
        .unwrap()
}
