//! The scored recording's input against the model's training input: the
//! same channel in other units (a decimal convention misread, mV for V),
//! another period of it, or a steadier stretch of it.

use pipeline::scaling::Affine;

/// Whether `seen` (the input scored: centre ± spread) is unlike `expects`
/// (the model's training input), and what to say; `None` where they agree.
/// `true`: an input unlike training's (the verdict points at it first).
pub(super) fn unlike(seen: Affine, expects: Affine) -> Option<(bool, String)> {
    if !pipeline::format::other_units(seen, expects) {
        return None;
    }
    // Centres a few spreads apart with spreads alike are another period of
    // the same channel (April after a winter); units and decimal
    // separators are off by factors, or far more.
    let apart = (seen.center - expects.center).abs() / expects.scale.abs();
    let ratio = (seen.scale / expects.scale).abs();
    // A steadier stretch of the same channel (a ship at a steady speed)
    // keeps training's level with a narrower spread; a factor of units
    // scales the level with the spread.
    let level = seen.center / expects.center;
    let same_level =
        expects.center.abs() < 0.1 * expects.scale.abs() || (0.5..=2.0).contains(&level);
    let steady = apart <= 3.0 && (0.02..0.25).contains(&ratio) && same_level;
    let why = if apart <= 3.0 && (0.25..=4.0).contains(&ratio) {
        format!(
            "{apart:.1} training spreads apart: a period unlike training's (another season, \
             another load)? The model extrapolates where the input leaves what it was trained \
             on; the baselines below face the same"
        )
    } else if steady {
        format!(
            "a steadier stretch than training's (its spread {ratio:.2} of training's, at \
             training's level): one operating state of the same channel, most likely, which \
             weighs every error more in the NMSE (its variance is smaller); judge by the RMSE, \
             and against the baselines"
        )
    } else {
        "other units, or a misread decimal separator (--decimal)?".into()
    };
    let said = format!(
        "the recording's input is around {}, the model expects {}: {why}",
        pipeline::eval::around(seen.center, seen.scale),
        pipeline::eval::around(expects.center, expects.scale)
    );
    // (A steadier stretch lies within what training saw.)
    Some((!steady, said))
}
