//! A durable unit's hold on its checkpoint, as its publisher sees it.
//!
//! A standby takes a unit over once the owner's checkpoint has not moved
//! for a lease. An owner that was paused past that (a stopped process, a
//! suspended VM, a long stall) must not publish what it computed before the
//! pause: the new owner has already stored those windows again from the
//! last checkpoint, and once the output stream's duplicate window has
//! passed, the server would store them twice. So the publisher publishes
//! freely only while the unit's last confirmed hold is fresh (under half a
//! lease old); otherwise it first asks who owns the checkpoint now.
//!
//! A hold counts from when its checkpoint write was *sent*, never from its
//! answer: a standby starts its lease no earlier than the write landed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

/// Asks the checkpoint's owner: `Err(why)` when it is not this instance.
pub(in crate::service) type Verify =
    Box<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

pub(in crate::service) struct Lease {
    base: Instant,
    /// Nanoseconds after `base` when the last confirmed hold was sent;
    /// 0: none yet (the first translation asks).
    confirmed: AtomicU64,
    fresh_for: Duration,
    verify: Verify,
}

impl Lease {
    /// A hold that stays fresh for half of `lease`.
    pub fn new(lease: Duration, verify: Verify) -> Self {
        Lease {
            base: Instant::now(),
            confirmed: AtomicU64::new(0),
            fresh_for: lease / 2,
            verify,
        }
    }

    /// A checkpoint write sent at `sent` succeeded: the unit is held.
    pub fn confirm(&self, sent: Instant) {
        let ns = sent.saturating_duration_since(self.base).as_nanos();
        let ns = u64::try_from(ns).unwrap_or(u64::MAX).max(1);
        self.confirmed.fetch_max(ns, Relaxed);
    }

    fn fresh(&self) -> bool {
        let confirmed = self.confirmed.load(Relaxed);
        confirmed != 0
            && self
                .base
                .elapsed()
                .saturating_sub(Duration::from_nanos(confirmed))
                < self.fresh_for
    }

    /// Whether the unit may publish now: at once while the hold is fresh,
    /// else after asking who owns the checkpoint.
    pub async fn check(&self) -> Result<(), String> {
        if self.fresh() {
            return Ok(());
        }
        (self.verify)().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    fn lease(owned: bool) -> (Lease, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let count = asked.clone();
        let verify: Verify = Box::new(move || {
            count.fetch_add(1, Relaxed);
            Box::pin(async move {
                if owned {
                    Ok(())
                } else {
                    Err("owned by b".to_string())
                }
            })
        });
        (Lease::new(Duration::from_secs(10), verify), asked)
    }

    #[tokio::test(start_paused = true)]
    async fn asks_before_the_first_hold_and_after_half_a_lease() {
        let (l, asked) = lease(true);
        assert_eq!(l.check().await, Ok(()));
        assert_eq!(asked.load(Relaxed), 1, "no hold confirmed yet: asks");
        l.confirm(Instant::now());
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(l.check().await, Ok(()));
        assert_eq!(asked.load(Relaxed), 1, "fresh: publishes without asking");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(l.check().await, Ok(()));
        assert_eq!(asked.load(Relaxed), 2, "over half a lease: asks");
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_owner_that_lost_the_unit_does_not_publish() {
        let (l, _) = lease(false);
        l.confirm(Instant::now());
        assert_eq!(l.check().await, Ok(()));
        // Paused for longer than the lease: a standby has taken over.
        tokio::time::advance(Duration::from_secs(150)).await;
        assert_eq!(l.check().await, Err("owned by b".to_string()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_counts_from_when_its_write_was_sent() {
        let (l, asked) = lease(true);
        let sent = Instant::now();
        tokio::time::advance(Duration::from_secs(6)).await;
        // The answer came late: the hold is already over half a lease old.
        l.confirm(sent);
        assert_eq!(l.check().await, Ok(()));
        assert_eq!(asked.load(Relaxed), 1);
    }
}
