//! `eval`'s watch line: what `serve --deviation` would say of the windows
//! scored, with the model's own threshold or the one given, so that false
//! alarms and margin show before serving.

use pipeline::config::DeviationConfig;
use pipeline::deviation::Replay;
use pipeline::fit::{self, Prepared, Scored};

use super::EvalArgs;
use crate::cli::serve::DeviationSide;

/// The replay and whence its threshold comes; `Err`: why there is none.
pub(super) type Watch = Result<(Replay, String), String>;

pub(super) fn replay(
    loaded: &pipeline::LoadedModel,
    prepared: &Prepared,
    scored: &Scored,
    a: &EvalArgs,
) -> Watch {
    let cfg = DeviationConfig {
        threshold: a.deviation,
        side: DeviationSide::side(a.deviation_side),
        windows: a
            .deviation_windows
            .unwrap_or(DeviationConfig::default().windows),
        ..Default::default()
    };
    let (t, whence) = cfg.threshold_for(loaded)?;
    let on = prepared.scored();
    let parts = fit::parts::counts(prepared);
    let mut r = pipeline::deviation::replay(&cfg, t, &parts, on.window, &scored.model, &on.target);
    r.locate(&|part, k| fit::parts::window_end(prepared, part, k));
    r.step_s = (prepared.recordings.iter()).find_map(|f| f.recording.time_step);
    Ok((r, whence))
}

/// The line people read (after `watch      `).
pub(super) fn line(watch: &Watch, held_out: bool, prepared: &Prepared) -> String {
    match watch {
        Ok((r, whence)) => {
            let line = r.line(whence, crate::cli::train::unit(prepared));
            // Windows the model was trained on lean its way.
            let seen = if held_out {
                ""
            } else {
                " (partly on windows it was trained on)"
            };
            format!("{line}{seen}")
        }
        Err(why) => format!("- ({why})"),
    }
}
