//! Durable mode's setup: the input and output streams, the checkpoint
//! bucket, and the units this instance runs, with every name (consumer, KV
//! key, filter) made in one place.

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::{self, kv, stream};
use tokio::time::Instant;

use crate::config::{DurableConfig, ServeConfig};
use crate::error::{Error, Result};
use crate::service::route::Route;

/// One route (and partition) in durable mode.
pub(in crate::service) struct Unit {
    pub(in crate::service) route: Arc<Route>,
    /// KV key of the checkpoint, e.g. `sin-cos.p3` or `sin-cos.all`.
    pub(in crate::service) key: String,
    /// Durable consumer name.
    pub(in crate::service) consumer: String,
    /// The consumer's filter subjects.
    pub(in crate::service) filter: Vec<String>,
}

/// The durable consumer of a route's pair (and partition) on the input
/// stream: one name, used by the service and by whoever waits for it.
pub fn consumer_name(pair: &str, partition: Option<u32>) -> String {
    let pair = token(pair);
    match partition {
        Some(p) => format!("pipeline_{pair}_p{p}"),
        None => format!("pipeline_{pair}"),
    }
}

/// Names may only hold letters, digits, `-` and `_` (consumer names and KV
/// key tokens); anything else in a pair name becomes `_`.
pub(super) fn token(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// [`setup`], retried with back-off while JetStream is not answering
/// (servers starting, a cluster still electing its leader).
pub(in crate::service) async fn setup_with_retry(
    client: &Client,
    config: &ServeConfig,
    cfg: &DurableConfig,
    routes: &[Arc<Route>],
) -> Result<(jetstream::Context, kv::Store, Vec<Unit>)> {
    let mut backoff = Duration::from_millis(250);
    let started = Instant::now();
    loop {
        match setup(client, config, cfg, routes).await {
            Err(Error::Nats(e))
                if [
                    "timed out",
                    "no responders",
                    "unavailable",
                    "not enabled",
                    "leader",
                ]
                .iter()
                .any(|t| e.contains(t)) =>
            {
                tracing::warn!(
                    waited = ?started.elapsed(),
                    "JetStream is not answering yet ({e}); retrying in {backoff:?}"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// Creates (or finds) the input and output streams and the checkpoint
/// bucket, and lists the units this instance runs.
async fn setup(
    client: &Client,
    config: &ServeConfig,
    cfg: &DurableConfig,
    routes: &[Arc<Route>],
) -> Result<(jetstream::Context, kv::Store, Vec<Unit>)> {
    let js = jetstream::new(client.clone());
    let nats = |what: &str| {
        let what = what.to_string();
        move |e: String| Error::Nats(format!("{what}: {e}"))
    };
    let mut inputs: Vec<String> = routes
        .iter()
        .map(|r| r.cfg.input.replace(crate::window::PARTITION_TOKEN, "*"))
        .collect();
    inputs.dedup();
    let outputs: Vec<String> = routes
        .iter()
        .map(|r| format!("{}.>", r.cfg.output))
        .collect();
    let input = js
        .get_or_create_stream(stream::Config {
            name: cfg.input_stream.clone(),
            subjects: inputs,
            storage: stream::StorageType::File,
            num_replicas: cfg.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| nats(&format!("input stream {}", cfg.input_stream))(e.to_string()))?;
    let want_dupes = Duration::from_secs_f64(cfg.duplicate_window_s);
    let mut output = js
        .get_or_create_stream(stream::Config {
            name: cfg.output_stream.clone(),
            subjects: outputs,
            storage: stream::StorageType::File,
            duplicate_window: want_dupes,
            num_replicas: cfg.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| nats(&format!("output stream {}", cfg.output_stream))(e.to_string()))?;
    let dupes = output
        .info()
        .await
        .map(|i| i.config.duplicate_window)
        .unwrap_or(want_dupes);
    if dupes < Duration::from_secs(120) {
        tracing::warn!(
            stream = %cfg.output_stream, ?dupes,
            "the output stream's duplicate window is under 2 minutes: replays after a long outage may duplicate"
        );
    }
    if let Some(name) = &cfg.dead_letter_stream {
        js.get_or_create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![super::dead_letter::SUBJECTS.into()],
            storage: stream::StorageType::File,
            duplicate_window: want_dupes,
            num_replicas: cfg.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| nats(&format!("dead-letter stream {name}"))(e.to_string()))?;
    }
    let kv = match js.get_key_value(&cfg.checkpoint_bucket).await {
        Ok(kv) => kv,
        Err(_) => js
            .create_key_value(kv::Config {
                bucket: cfg.checkpoint_bucket.clone(),
                history: 1,
                storage: stream::StorageType::File,
                num_replicas: cfg.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                nats(&format!("checkpoint bucket {}", cfg.checkpoint_bucket))(e.to_string())
            })?,
    };
    tracing::info!(
        input = %input.cached_info().config.name, output = %cfg.output_stream,
        bucket = %cfg.checkpoint_bucket, "durable mode"
    );
    let owned: Vec<Option<u32>> = match &config.partitions {
        Some(p) => p.owned.iter().map(|o| Some(*o)).collect(),
        None => vec![None],
    };
    let mut units = Vec::new();
    for route in routes {
        for part in &owned {
            let pair = token(&route.cfg.pair);
            let consumer = consumer_name(&route.cfg.pair, *part);
            let (key, filter) = match part {
                Some(p) => (
                    format!("{pair}.p{p}"),
                    crate::window::subscriptions(&route.cfg.input, &[*p]),
                ),
                None => (format!("{pair}.all"), vec![route.cfg.input.clone()]),
            };
            units.push(Unit {
                route: route.clone(),
                key,
                consumer,
                filter,
            });
        }
    }
    Ok((js, kv, units))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe() {
        assert_eq!(token("sin-cos"), "sin-cos");
        assert_eq!(token("a.b c*"), "a_b_c_");
    }
}
