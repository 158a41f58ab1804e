//! A stored sink's acknowledgements: the publisher hands each batch's
//! publish acks here and goes on publishing; the acker awaits them in
//! order and reports how far the route's output is stored.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use async_nats::jetstream::context::PublishAckFuture;
use tokio::sync::{mpsc, watch};

use super::Progress;
use super::fast_ingest;
use crate::stats::{RouteCounters, Stats};

/// What the acker settles, in publish order.
pub(super) enum Settle {
    /// A batch's acknowledgements and its windows' `ts`.
    Batch(Vec<PublishAckFuture>, Vec<Option<i64>>),
    /// A batch published as one fast-ingest batch: its id (where its
    /// acknowledgement comes), and its windows' `ts`.
    Fast(fast_ingest::Inbox, Vec<Option<i64>>),
    /// Publishing stopped: everything after the last settled batch is lost.
    Failed(String),
}

/// Awaits a stored sink's acknowledgements batch by batch, in order, and
/// reports the count stored; the first failure stops it.
pub(super) async fn acker(
    mut rx: mpsc::Receiver<Settle>,
    give_back: Option<mpsc::Sender<fast_ingest::Inbox>>,
    progress: watch::Sender<Progress>,
    stats: Arc<Stats>,
    route: Arc<RouteCounters>,
) {
    while let Some(settle) = rx.recv().await {
        let (n, dupes, stamps) = match settle {
            Settle::Batch(acks, stamps) => {
                let acks = acks.into_iter().map(std::future::IntoFuture::into_future);
                match futures::future::try_join_all(acks).await {
                    Ok(a) => {
                        let dupes = a.iter().filter(|a| a.duplicate).count() as u64;
                        (a.len() as u64, dupes, stamps)
                    }
                    Err(e) => {
                        let why = format!("publish not acknowledged: {e}");
                        return progress.send_modify(|p| p.failed = Some(why));
                    }
                }
            }
            Settle::Fast(mut inbox, stamps) => {
                let n = stamps.len() as u64;
                match fast_ingest::stored(&mut inbox, n).await {
                    Ok(s) => {
                        // Its batch is done: the id may carry another.
                        if let Some(g) = &give_back {
                            let _ = g.try_send(inbox);
                        }
                        (n, if s.all_duplicates { n } else { 0 }, stamps)
                    }
                    Err(why) => return progress.send_modify(|p| p.failed = Some(why)),
                }
            }
            Settle::Failed(why) => return progress.send_modify(|p| p.failed = Some(why)),
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
