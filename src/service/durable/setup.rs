//! Durable mode's setup: the input and output streams, the checkpoint
//! bucket, and the units this instance runs, with every name (consumer, KV
//! key, filter) made in one place.

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::{
    AccountError, AccountErrorKind, CreateKeyValueError, CreateKeyValueErrorKind,
    CreateStreamError, CreateStreamErrorKind,
};
use async_nats::jetstream::{self, kv, stream};
use tokio::time::Instant;

use crate::config::{DurableConfig, ServeConfig};
use crate::error::{Error, Result};
use crate::service::route::Route;

/// What durable mode runs on.
pub(in crate::service) struct Setup {
    pub js: jetstream::Context,
    pub kv: kv::Store,
    pub units: Vec<Unit>,
    /// Whether the output stream takes fast-ingest batches.
    pub batched: bool,
}

/// One route (and partition) in durable mode.
pub(in crate::service) struct Unit {
    pub(in crate::service) route: Arc<Route>,
    /// KV key of the checkpoint, e.g. `sin-cos.p3` or `sin-cos.all`.
    pub(in crate::service) key: String,
    /// Durable consumer name.
    pub(in crate::service) consumer: String,
    /// The consumer's filter subjects: the route's input, and its clock.
    pub(in crate::service) filter: Vec<String>,
    /// Where the unit stores the messages that read a quiet route's clock,
    /// where the input stream takes them.
    pub(in crate::service) clock: Option<String>,
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
/// (servers starting, a cluster still electing its leader): errors the
/// client classifies as transient, by kind and JetStream error code.
pub(in crate::service) async fn setup_with_retry(
    client: &Client,
    config: &ServeConfig,
    cfg: &DurableConfig,
    routes: &[Arc<Route>],
) -> Result<Setup> {
    let mut backoff = Duration::from_millis(250);
    let started = Instant::now();
    loop {
        match setup(client, config, cfg, routes).await {
            Ok(done) => return Ok(done),
            Err(e) if e.retry == RetryHint::Transient => {
                tracing::warn!(
                    waited = ?started.elapsed(),
                    "JetStream is not answering yet ({e}); retrying in {backoff:?}"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(Error::Nats(e.to_string())),
        }
    }
}

/// Whether trying the same thing again can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::service) enum RetryHint {
    /// JetStream is not answering yet, or not with a leader: wait and retry.
    Transient,
    /// The request itself is wrong (a name, a conflicting stream, limits):
    /// retrying cannot help.
    Permanent,
}

/// A setup step that failed: what it was doing, the client's error, and
/// whether to retry.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {detail}")]
pub(in crate::service) struct SetupError {
    what: String,
    detail: String,
    retry: RetryHint,
}

impl SetupError {
    fn new(what: String, e: &dyn std::error::Error, transient: bool) -> Self {
        let retry = if transient {
            RetryHint::Transient
        } else {
            RetryHint::Permanent
        };
        Self {
            what,
            detail: e.to_string(),
            retry,
        }
    }

    fn stream(what: String, e: &CreateStreamError) -> Self {
        Self::new(what, e, stream_transient(&e.kind()))
    }

    fn bucket(what: String, e: &CreateKeyValueError) -> Self {
        Self::new(what, e, bucket_transient(e))
    }
}

/// JetStream's codes for "not now": a cluster without a leader or quorum
/// yet, JetStream still starting.
fn transient_code(code: ErrorCode) -> bool {
    [
        ErrorCode::CLUSTER_NOT_AVAILABLE,
        ErrorCode::CLUSTER_NOT_LEADER,
        ErrorCode::CLUSTER_NOT_ACTIVE,
        ErrorCode::CLUSTER_INCOMPLETE,
        ErrorCode::CLUSTER_NO_PEERS,
        ErrorCode::CLUSTER_NOT_ASSIGNED,
        ErrorCode::JETSTREAM_NOT_ENABLED,
        ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT,
    ]
    .contains(&code)
}

fn stream_transient(kind: &CreateStreamErrorKind) -> bool {
    match kind {
        CreateStreamErrorKind::TimedOut | CreateStreamErrorKind::JetStreamUnavailable => true,
        CreateStreamErrorKind::JetStream(e) => transient_code(e.error_code()),
        _ => false,
    }
}

/// A bucket's creation fails with the stream creation or account query
/// under it as its source: classify that.
fn bucket_transient(e: &CreateKeyValueError) -> bool {
    use std::error::Error as _;
    match e.kind() {
        CreateKeyValueErrorKind::TimedOut => true,
        CreateKeyValueErrorKind::JetStream | CreateKeyValueErrorKind::BucketCreate => {
            let source = e.source();
            if let Some(s) = source.and_then(|s| s.downcast_ref::<CreateStreamError>()) {
                return stream_transient(&s.kind());
            }
            match source
                .and_then(|s| s.downcast_ref::<AccountError>())
                .map(|a| a.kind())
            {
                Some(AccountErrorKind::TimedOut | AccountErrorKind::JetStreamUnavailable) => true,
                Some(AccountErrorKind::JetStream(e)) => transient_code(e.error_code()),
                _ => false,
            }
        }
        _ => false,
    }
}

/// The input stream's subjects: every route's input (a partition token
/// as `*`).
fn inputs_wanted(routes: &[Arc<Route>]) -> Vec<String> {
    let mut inputs: Vec<String> = routes
        .iter()
        .map(|r| r.cfg.input.replace(crate::window::PARTITION_TOKEN, "*"))
        .collect();
    inputs.dedup();
    inputs
}

/// Whether the input stream takes the units' clock messages, made to
/// where a route reads changes on a clock. Not taken (a stream an operator
/// made that the service may not change, another's subjects in the way):
/// said, and a quiet route's ticks wait for its next sample, as before.
async fn clock_taken(
    js: &jetstream::Context,
    input: &mut jetstream::stream::Stream,
    cfg: &DurableConfig,
    routes: &[Arc<Route>],
) -> std::result::Result<bool, SetupError> {
    let subjects = super::clock::subjects(&cfg.input_stream);
    // (As the stream is now: the routes' subjects may have been added just
    // before, which an update from the info first read would drop.)
    let what = || format!("input stream {}", cfg.input_stream);
    let info = input
        .info()
        .await
        .map_err(|e| SetupError::new(what(), &e, true))?;
    if info.config.subjects.iter().any(|h| covers(h, &subjects)) {
        return Ok(true);
    }
    if !routes.iter().any(|r| r.resample().is_some()) {
        return Ok(false);
    }
    match cover(js, input, std::slice::from_ref(&subjects)).await {
        Ok(()) => Ok(true),
        Err(e) if stream_transient(&e.kind()) => Err(SetupError::stream(what(), &e)),
        Err(e) => {
            tracing::warn!(
                stream = %cfg.input_stream,
                "the input stream does not take {subjects} ({e}): a quiet sensor's ticks on a \
                 route that reads a clock wait for the route's next sample"
            );
            Ok(false)
        }
    }
}

/// The output stream's subjects: every route's output prefix.
fn outputs_wanted(routes: &[Arc<Route>]) -> Vec<String> {
    let mut outputs: Vec<String> = routes
        .iter()
        .map(|r| format!("{}.>", r.cfg.output))
        .collect();
    outputs.dedup();
    outputs
}

/// Adds to a stream found already the subjects it does not cover. A route
/// added to the configuration after the stream was made would otherwise
/// have its samples never stored (the unit waits on them forever, without a
/// word) or its translations never acknowledged. Subjects are only added,
/// never removed: another configuration may still use them.
async fn cover(
    js: &jetstream::Context,
    stream: &jetstream::stream::Stream,
    wanted: &[String],
) -> std::result::Result<(), CreateStreamError> {
    let mut config = stream.cached_info().config.clone();
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|w| !config.subjects.iter().any(|have| covers(have, w)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        stream = %config.name, had = ?config.subjects, adding = ?missing,
        "the stream does not take every subject the service reads (a route added since it was \
         made, or the clock messages of a route that reads changes on a clock): adding them"
    );
    config.subjects.extend(missing.into_iter().cloned());
    js.update_stream(&config).await.map(|_| ())
}

/// Whether every subject `subject` (a filter itself) matches is matched by
/// `filter`: NATS wildcards, `*` one token, `>` one or more at the end.
fn covers(filter: &str, subject: &str) -> bool {
    let (mut f, mut s) = (filter.split('.'), subject.split('.'));
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(t)) if t != ">" => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
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
) -> std::result::Result<Setup, SetupError> {
    let js = jetstream::new(client.clone());
    let outputs = outputs_wanted(routes);
    // (Made afresh, with its clock subjects where a route reads a clock.)
    let mut made_with = inputs_wanted(routes);
    if routes.iter().any(|r| r.resample().is_some()) {
        made_with.push(super::clock::subjects(&cfg.input_stream));
    }
    let mut input = js
        .get_or_create_stream(stream::Config {
            name: cfg.input_stream.clone(),
            subjects: made_with,
            storage: stream::StorageType::File,
            num_replicas: cfg.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| SetupError::stream(format!("input stream {}", cfg.input_stream), &e))?;
    cover(&js, &input, &inputs_wanted(routes))
        .await
        .map_err(|e| SetupError::stream(format!("input stream {}", cfg.input_stream), &e))?;
    let clocked = clock_taken(&js, &mut input, cfg, routes).await?;
    let want_dupes = Duration::from_secs_f64(cfg.duplicate_window_s);
    let mut output = js
        .get_or_create_stream(stream::Config {
            name: cfg.output_stream.clone(),
            subjects: outputs.clone(),
            storage: stream::StorageType::File,
            duplicate_window: want_dupes,
            num_replicas: cfg.replicas,
            // Fast-ingest batches (nats-server 2.14+): one acknowledgement
            // per published batch (see `engine::fast_ingest`).
            allow_batch_publish: true,
            ..Default::default()
        })
        .await
        .map_err(|e| SetupError::stream(format!("output stream {}", cfg.output_stream), &e))?;
    cover(&js, &output, &outputs)
        .await
        .map_err(|e| SetupError::stream(format!("output stream {}", cfg.output_stream), &e))?;
    let (dupes, batched) = output
        .info()
        .await
        .map(|i| (i.config.duplicate_window, i.config.allow_batch_publish))
        .unwrap_or((want_dupes, false));
    if !batched {
        tracing::info!(
            stream = %cfg.output_stream,
            "the output stream does not allow batched publishing (created without it, or a \
             server before 2.14): every translation is acknowledged on its own, which is slower"
        );
    }
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
        .map_err(|e| SetupError::stream(format!("dead-letter stream {name}"), &e))?;
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
                SetupError::bucket(format!("checkpoint bucket {}", cfg.checkpoint_bucket), &e)
            })?,
    };
    tracing::info!(
        input = %input.cached_info().config.name, output = %cfg.output_stream,
        bucket = %cfg.checkpoint_bucket, batched, "durable mode"
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
            let (key, mut filter) = match part {
                Some(p) => (
                    format!("{pair}.p{p}"),
                    crate::window::subscriptions(&route.cfg.input, &[*p]),
                ),
                None => (format!("{pair}.all"), vec![route.cfg.input.clone()]),
            };
            let clock = clocked.then(|| super::clock::subject(&cfg.input_stream, &key));
            filter.extend(clock.clone());
            units.push(Unit {
                route: route.clone(),
                key,
                consumer,
                filter,
                clock,
            });
        }
    }
    Ok(Setup {
        js,
        kv,
        units,
        batched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Retries follow the client's error kinds and JetStream's codes, not
    /// message text: not answering, timed out or leaderless is transient,
    /// a wrong request is not, also under a bucket's creation.
    #[test]
    fn setup_errors_say_whether_to_retry() {
        let js_error = |code: u64| -> jetstream::Error {
            serde_json::from_value(serde_json::json!({
                "code": 503, "err_code": code, "description": "from the server"
            }))
            .unwrap()
        };
        let stream = |kind| SetupError::stream("s".into(), &CreateStreamError::new(kind)).retry;
        use CreateStreamErrorKind as K;
        use RetryHint::{Permanent, Transient};
        assert_eq!(stream(K::TimedOut), Transient);
        assert_eq!(stream(K::JetStreamUnavailable), Transient);
        assert_eq!(stream(K::JetStream(js_error(10008))), Transient);
        assert_eq!(stream(K::JetStream(js_error(10009))), Transient);
        assert_eq!(
            stream(K::JetStream(js_error(10065))),
            Permanent,
            "subjects overlap"
        );
        assert_eq!(stream(K::InvalidStreamName), Permanent);
        let bucket = |e: CreateKeyValueError| SetupError::bucket("b".into(), &e).retry;
        use CreateKeyValueErrorKind as B;
        let under = |k| CreateStreamError::new(k);
        assert_eq!(bucket(CreateKeyValueError::new(B::TimedOut)), Transient);
        assert_eq!(
            bucket(CreateKeyValueError::with_source(
                B::BucketCreate,
                under(K::JetStreamUnavailable)
            )),
            Transient
        );
        assert_eq!(
            bucket(CreateKeyValueError::with_source(
                B::BucketCreate,
                under(K::JetStream(js_error(10047)))
            )),
            Permanent,
            "storage resources exceeded"
        );
        let account = AccountError::new(AccountErrorKind::JetStreamUnavailable);
        assert_eq!(
            bucket(CreateKeyValueError::with_source(B::JetStream, account)),
            Transient
        );
        assert_eq!(
            bucket(CreateKeyValueError::new(B::InvalidStoreName)),
            Permanent
        );
    }

    #[test]
    fn subject_filters_cover_what_they_match() {
        for (filter, subject, want) in [
            ("samples.>", "samples.>", true),
            ("samples.>", "samples.*", true),
            ("samples.>", "samples.a.b", true),
            ("samples.>", "samples", false),
            ("samples.>", "damped.>", false),
            ("samples.*", "samples.a", true),
            ("samples.*", "samples.*", true),
            ("samples.*", "samples.>", false),
            ("samples.*", "samples.a.b", false),
            ("a.*.c", "a.*.c", true),
            ("a.b.c", "a.b.c", true),
            ("a.b.c", "a.*.c", false),
            ("a.b", "a.b.c", false),
            (">", "anything.at.all", true),
        ] {
            assert_eq!(covers(filter, subject), want, "{filter} ⊇ {subject}");
        }
    }

    #[test]
    fn names_are_made_safe() {
        assert_eq!(token("sin-cos"), "sin-cos");
        assert_eq!(token("a.b c*"), "a_b_c_");
    }
}
