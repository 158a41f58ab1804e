//! Core mode beside JetStream streams that store its subjects. A durable
//! run creates `SAMPLES` and `TRANSLATED` without limits; they stay after
//! it, and go on storing every sample and every core-mode translation
//! published on their subjects: the disk fills, a durable unit started
//! later translates the stored samples first (a backlog the operator did
//! not mean), and stores again, under a `Nats-Msg-Id`, windows the core
//! run stored without one. Said once at start, with what to do.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::config::ServeConfig;

/// How long the check may take (a server without JetStream answers at
/// once; it never holds up serving: the caller runs it on a task).
const ASK_FOR: Duration = Duration::from_secs(2);

/// What to tell the operator of a core-mode service about the streams
/// that store its routes' input or output subjects.
pub async fn captured(client: &async_nats::Client, config: &ServeConfig) -> Vec<String> {
    let js = jetstream::new(client.clone());
    // Where a durable unit's checkpoints would be (core mode names none).
    let bucket = crate::config::DurableConfig::default().checkpoint_bucket;
    let mut said = Vec::new();
    let mut named = std::collections::HashSet::new();
    for r in &config.routes {
        let inputs = config.subscriptions(r).into_iter().map(|s| (s, true));
        let output = std::iter::once((format!("{}.>", r.output), false));
        for (subject, input) in inputs.chain(output) {
            let Some(info) = stored_in(&js, &subject).await else {
                continue;
            };
            let stream::Info {
                config: c, state, ..
            } = &info;
            // Once per stream (partitions subscribe to several subjects).
            if !named.insert((c.name.clone(), input)) {
                continue;
            }
            let kept = limits(c);
            let (name, pair) = (&c.name, &r.pair);
            let held = format!(
                "{} message(s), {}, {kept}",
                state.messages,
                size(state.bytes)
            );
            said.push(if input {
                format!(
                    "JetStream stream {name} stores route {pair:?}'s input ({subject}: {held}): \
                     every sample published to it is kept, and a durable unit started later \
                     translates those first, as a backlog. If no durable unit runs here again \
                     (a durable run left it), remove it with the units' checkpoints (`nats \
                     stream rm {name}`, `nats kv rm {bucket}`: a unit's checkpoint past a stream \
                     made anew stops the unit), or bound it (`nats stream edit {name} --max-age \
                     7d`)"
                )
            } else {
                format!(
                    "JetStream stream {name} stores route {pair:?}'s translations ({subject}: \
                     {held}): core mode publishes them without a Nats-Msg-Id, so a durable run \
                     over the same samples later stores those windows again beside them. If only \
                     durable mode should fill it (a durable run left it), remove it (`nats stream \
                     rm {name}`)"
                )
            });
        }
    }
    said
}

/// The stream that stores `subject`, if one does (and JetStream answers).
async fn stored_in(js: &jetstream::Context, subject: &str) -> Option<stream::Info> {
    let ask = async {
        let name = js.stream_by_subject(subject).await.ok()?;
        let mut s = js.get_stream(&name).await.ok()?;
        s.info().await.ok().cloned()
    };
    tokio::time::timeout(ASK_FOR, ask).await.ok().flatten()
}

/// A stream's limits, as `nats stream info` names them.
fn limits(c: &stream::Config) -> String {
    let mut l = Vec::new();
    if c.max_age > Duration::ZERO {
        l.push(format!(
            "max age {}",
            crate::recording::time::span(c.max_age.as_secs_f64())
        ));
    }
    if c.max_bytes > 0 {
        l.push(format!("max {:.1} MB", c.max_bytes as f64 / 1e6));
    }
    if c.max_messages > 0 {
        l.push(format!("max {} messages", c.max_messages));
    }
    match l.is_empty() {
        true => "kept without limit".into(),
        false => format!("kept up to {}", l.join(", ")),
    }
}

/// `812 B`, `5.2 kB`, `3.4 MB`, `1.2 GB`.
fn size(bytes: u64) -> String {
    match bytes as f64 {
        b if b < 1e3 => format!("{bytes} B"),
        b if b < 1e6 => format!("{:.1} kB", b / 1e3),
        b if b < 1e9 => format!("{:.1} MB", b / 1e6),
        b => format!("{:.1} GB", b / 1e9),
    }
}
