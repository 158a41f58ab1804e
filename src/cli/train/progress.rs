//! What a long `retrain` or `eval` shows while it works: the progress bars,
//! and what a Ctrl-C does.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pipeline::train;

/// A bar over the epochs of a built-in pair's training.
pub(crate) fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] epoch {pos}/{len}  {msg}  ({elapsed_precise}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// A bar over the windows a model translates to be scored (hundreds of
/// thousands in a long recording's held-out part: tens of seconds).
pub(crate) fn scoring_bar(windows: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(windows as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "scoring  [{bar:24}] {pos}/{len} windows  ({elapsed_precise}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// A bar over a budget's fraction (0–1000) for budgeted training.
pub(crate) fn budget_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {msg}  ({elapsed_precise}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Set once training is over, for what a Ctrl-C then says.
pub(crate) static TRAINED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The first Ctrl-C ends training at its next step as a spent budget does
/// (the best weights so far written, with the report and figures); a
/// second one quits at once (exit 130), as before.
pub(crate) fn stop_on_ctrl_c() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            if TRAINED.load(std::sync::atomic::Ordering::Relaxed) {
                eprintln!(
                    "\ntraining is over: scoring the model and writing it (Ctrl-C again to quit \
                     without writing it)"
                );
            } else {
                eprintln!(
                    "\nstopping at the next step: the best weights so far will be written \
                     (Ctrl-C again to quit without them)"
                );
            }
            train::STOP.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = tokio::signal::ctrl_c().await;
            std::process::exit(130);
        });
    });
}
