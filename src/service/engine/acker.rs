//! A stored sink's acknowledgements: the publisher hands each batch's
//! publish acks here and goes on publishing; the acker awaits them in
//! order and reports how far the route's output is stored.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use std::ops::Range;

use tokio::sync::{mpsc, watch};

use super::Progress;
use super::fast_ingest;
use super::per_message::AckReader;
use crate::stats::{RouteCounters, Stats};

/// What the acker settles, in publish order.
pub(super) enum Settle {
    /// A batch acknowledged translation by translation: their numbers
    /// (see `per_message`) and its windows' `ts`.
    Each(Range<u64>, Vec<Option<i64>>),
    /// A batch published as one fast-ingest batch: its id (where its
    /// acknowledgement comes), and its windows' `ts`.
    Fast(fast_ingest::Inbox, Vec<Option<i64>>),
    /// Publishing stopped: everything after the last settled batch is lost.
    /// Why, and how many translations it leaves unstored.
    Failed(String, u64),
}

/// Where the acker reads acknowledgements: the subscription of
/// per-translation acks, or (fast batches) where each batch's id goes back
/// once its ack is read.
pub(super) struct Readers {
    pub each: Option<AckReader>,
    pub give_back: Option<mpsc::Sender<fast_ingest::Inbox>>,
}

/// Awaits a stored sink's acknowledgements batch by batch, in order, and
/// reports the count stored; the first failure stops it.
pub(super) async fn acker(
    mut rx: mpsc::Receiver<Settle>,
    mut readers: Readers,
    progress: watch::Sender<Progress>,
    stats: Arc<Stats>,
    route: Arc<RouteCounters>,
) {
    // The attempt ends on the first failure (the unit resumes from its
    // checkpoint); what it leaves unstored counts as failed publications.
    let fail = |n: usize, why: String| {
        stats.publish_failures.fetch_add(n as u64, Relaxed);
        progress.send_modify(|p| p.failed = Some(why));
    };
    while let Some(settle) = rx.recv().await {
        let (n, dupes, stamps) = match settle {
            Settle::Each(batch, stamps) => {
                let settled = match &mut readers.each {
                    Some(reader) => reader.settle(batch).await,
                    None => Err("no subscription for acknowledgements".into()),
                };
                match settled {
                    Ok(dupes) => (stamps.len() as u64, dupes, stamps),
                    Err(e) => return fail(stamps.len(), format!("publish not acknowledged: {e}")),
                }
            }
            Settle::Fast(mut inbox, stamps) => {
                let n = stamps.len() as u64;
                match fast_ingest::stored(&mut inbox, n).await {
                    Ok(s) => {
                        // Its batch is done: the id may carry another.
                        if let Some(g) = &readers.give_back {
                            let _ = g.try_send(inbox);
                        }
                        (n, if s.all_duplicates { n } else { 0 }, stamps)
                    }
                    Err(why) => return fail(stamps.len(), why),
                }
            }
            Settle::Failed(why, n) => return fail(n as usize, why),
        };
        stats.windows_out.fetch_add(n - dupes, Relaxed);
        route.windows_out.fetch_add(n - dupes, Relaxed);
        stats.duplicates.fetch_add(dupes, Relaxed);
        for ts in stamps {
            route.observe_end_to_end(ts);
        }
        progress.send_modify(|p| p.stored += n);
    }
}

/// Says that a reply to a published message (a translation, a dead
/// letter) was skipped as not the server's acknowledgement: the first
/// time, then every time the count (`strays`) doubles.
pub(super) fn skipped(strays: u64, payload: &[u8]) {
    // An empty reply is a status of the server's (it sends one to pending
    // requests when it shuts down), not a subscriber answering.
    if payload.is_empty() {
        tracing::debug!(strays, "skipped an empty reply to a published message");
        return;
    }
    if strays.is_power_of_two() {
        let head = String::from_utf8_lossy(&payload[..payload.len().min(64)]);
        tracing::warn!(
            strays,
            "skipped a reply to a published message that is not the server's \
             acknowledgement (does a subscriber of the output answer messages?): {head:?}"
        );
    }
}
