//! When `publish` sends each message: as fast as it can, at a rate, or at
//! a recording's own pace.

use std::time::Duration;

use super::{PublishOptions, Signal};

/// When [`publish`] sends each message: as fast as it can, at a rate, or
/// at the recording's own pace (see [`PublishOptions::speed`]).
pub(super) enum Pace {
    Free,
    Rate(tokio::time::Interval),
    Recorded {
        start: tokio::time::Instant,
        /// The first row's time, seconds.
        t0: f64,
        speed: f64,
    },
}

impl Pace {
    /// The longest wait for one message: a recording's times are finite,
    /// not bounded, and a deadline past the clock's range would panic.
    const LONGEST_S: f64 = 1e9;

    pub(super) fn new(opts: &PublishOptions, first: Option<u64>) -> Self {
        let t0 = first.and_then(|seq| opts.signal.time_at(seq));
        match (opts.speed, t0) {
            (Some(speed), Some(t0)) if speed > 0.0 && speed.is_finite() => Pace::Recorded {
                start: tokio::time::Instant::now(),
                t0,
                speed,
            },
            _ if opts.rate > 0.0 => {
                let every = opts.batch.max(1) as f64 / opts.rate;
                let mut t = tokio::time::interval(Duration::from_secs_f64(every));
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                Pace::Rate(t)
            }
            _ => Pace::Free,
        }
    }

    /// Waits until message `seq` is due (at once when its row's time lies
    /// before the first's: a recording's clock set back).
    pub(super) async fn wait(&mut self, signal: &Signal, seq: u64) {
        match self {
            Pace::Free => {}
            Pace::Rate(t) => {
                t.tick().await;
            }
            Pace::Recorded { start, t0, speed } => {
                if let Some(t) = signal.time_at(seq) {
                    let after = ((t - *t0) / *speed).clamp(0.0, Self::LONGEST_S);
                    tokio::time::sleep_until(*start + Duration::from_secs_f64(after)).await;
                }
            }
        }
    }
}
