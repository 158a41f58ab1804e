//! SIGHUP: reloads every route from its model file, as `systemctl reload`
//! (the unit's `ExecReload`) asks; listened for from the start of `serve`.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::watch;

use super::requests::reload_routes;
use super::route::Route;
use crate::stats::Stats;

/// SIGHUP, listened for from the start of `serve` ([`listen_for_sighup`]).
static EARLY_HUP: std::sync::Mutex<Option<tokio::signal::unix::Signal>> =
    std::sync::Mutex::new(None);

/// Takes SIGHUP from now on (call inside the runtime, first thing in
/// `serve`). Its default action ends the process, and the reload task
/// listens only once the models are loaded and the service connected: a
/// SIGHUP before (systemd's `reload` right after `start`, the unit's
/// `ExecReload`) killed the service, exit 129, which systemd takes for a
/// clean stop. One that comes meanwhile reloads once the service is up.
pub fn listen_for_sighup() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(hup) => *EARLY_HUP.lock().unwrap_or_else(|p| p.into_inner()) = Some(hup),
        Err(e) => tracing::warn!("cannot listen for SIGHUP: {e}"),
    }
}

/// Ignores SIGHUP until [`listen_for_sighup`] takes it: called first thing
/// in `main` for `serve`, before the async runtime exists, so that only the
/// program's loading is left unguarded. A SIGHUP ignored meanwhile is
/// lost, which costs nothing: the models are read after it.
pub fn ignore_sighup() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler
    // code; nothing else in the process has set SIGHUP's yet.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

/// Reloads every route from its model file on SIGHUP.
pub(super) async fn reload_on_sighup(
    routes: Vec<Arc<Route>>,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let early = EARLY_HUP.lock().unwrap_or_else(|p| p.into_inner()).take();
    let Some(mut hup) = early.or_else(|| signal(SignalKind::hangup()).ok()) else {
        tracing::warn!("cannot listen for SIGHUP; reload through pipeline.reload instead");
        return;
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            s = hup.recv() => if s.is_none() { return },
        }
        let (routes, counts) = (routes.clone(), stats.clone());
        let reload = move || reload_routes(&routes, None, None, false, &counts);
        match tokio::task::spawn_blocking(reload).await {
            Ok(Ok(done)) => {
                let models: Vec<String> = (done.reloaded.iter())
                    .map(|(pair, id)| format!("{pair}={id}"))
                    .collect();
                tracing::info!(models = %models.join(","), "SIGHUP: models reloaded")
            }
            Ok(Err(e)) => {
                stats.model_changes_refused.fetch_add(1, Relaxed);
                tracing::warn!("SIGHUP: reload refused, the old model keeps serving: {e}")
            }
            Err(e) => tracing::warn!("SIGHUP: reload failed: {e}"),
        }
    }
}
