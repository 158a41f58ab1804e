//! Handing a message's completed windows on to the route's batcher, and
//! what a full queue does to them (see [`WhenFull`]).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Ingest, WhenFull};

impl Ingest {
    /// Hands the windows completed on to the batcher: how many, or `None`
    /// when it is gone (the service is stopping).
    pub(super) async fn dispatch(&mut self, when_full: WhenFull<'_>) -> Option<u64> {
        let (mut sent, mut shed) = (0, 0);
        for job in self.completed.drain(..) {
            let job = match self.jobs.try_send(job) {
                Ok(()) => {
                    sent += 1;
                    continue;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => break,
                Err(mpsc::error::TrySendError::Full(job)) => job,
            };
            match when_full {
                WhenFull::ShedIf(nearly_full) if nearly_full() => {
                    self.route.buffers.give_window(job.input);
                    shed += 1;
                }
                // Back-pressure: waits while the batcher's queue is full.
                _ => match self.jobs.send(job).await {
                    Ok(()) => sent += 1,
                    Err(_) => break,
                },
            }
        }
        if shed > 0 {
            self.count_shed(shed);
        }
        // The batcher is gone (the service is stopping): say so, once the
        // windows shed before are counted.
        if self.jobs.is_closed() {
            return None;
        }
        Some(sent)
    }

    /// Counts windows shed, and says so at most once a second.
    fn count_shed(&mut self, n: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.reporter.stats.windows_shed.fetch_add(n, Relaxed);
        self.route.counters.windows_shed.fetch_add(n, Relaxed);
        let (since, last) = &mut self.shed;
        *since += n;
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            tracing::warn!(
                route = %self.route.cfg.pair,
                windows = *since,
                "windows shed since the last report: the route cannot keep up (queue full, \
                 subscription nearly full)"
            );
            *since = 0;
            *last = Some(now);
        }
    }
}
