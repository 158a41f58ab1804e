//! What ingest says about a stream's samples beside taking them: windows
//! at another rate or unstamped, a unit the model does not read, and what a
//! time gap event tells.

use super::Route;
use crate::window::{TimeGap, TimeGaps};

/// The unit the live model reads (`output`: writes) and its training
/// column, where a message says another `unit`; `None` where they agree or
/// the model does not know its unit.
pub(in crate::service) fn unlike_unit(
    route: &Route,
    unit: &str,
    output: bool,
    payload: &[u8],
) -> Option<(String, String)> {
    let model = route.current();
    let (theirs, side, other) = match output {
        false => (model.input_unit.as_deref()?, "input", &model.output_unit),
        true => (model.output_unit.as_deref()?, "output", &model.input_unit),
    };
    // One message that holds both channels (a route's `truth_value_key`)
    // has one `unit`: the other channel's says nothing of this one's. Only
    // where the message holds the other's value: a message of one channel
    // saying the other's unit is in the wrong one.
    let the_others = (route.cfg.truth_value_key.is_some())
        .then_some(other.as_deref())
        .flatten()
        .is_some_and(|o| crate::eval::same_unit(unit, o))
        && holds_the_other(route, output, payload);
    (!crate::eval::same_unit(unit, theirs) && !the_others).then(|| {
        let column = (model.meta.metrics.as_ref())
            .and_then(|m| m.get(side)?.as_str().map(str::to_string))
            .unwrap_or_default();
        (theirs.to_string(), column)
    })
}

/// Whether `payload` holds the other channel's value than the one read
/// (`output`: the truth is read; its other is the input's `value_key`).
fn holds_the_other(route: &Route, output: bool, payload: &[u8]) -> bool {
    let key = match output {
        false => route.cfg.truth_value_key.as_deref(),
        true => route.cfg.value_key.as_deref(),
    };
    let mut values = Vec::new();
    crate::wire::decode_samples_named(payload, &mut values, key, "value_key").is_ok()
}

/// Why a sample that is no reading is refused: a code the model's
/// training recording wrote for a missing sample, or one by its form far
/// outside what it was trained on (`seq`: the message's first sample's).
pub(super) fn no_reading(code: crate::service::route::Code, seq: Option<u64>) -> String {
    let (i, v) = (code.index, code.value);
    let at = seq.map_or(String::new(), |s| format!(" (seq {})", s + i as u64));
    match code.recorded {
        true => format!(
            "sample {i}{at} is {v}, what the model's training recording wrote for a missing \
             sample (retrain --missing {v}): refused as a NaN is, not translated as a reading"
        ),
        false => format!(
            "sample {i}{at} is {v}, a device's error code by its form, far outside the input the \
             model was trained on: refused as a NaN is, not translated as a reading (retrain \
             --missing {v} records it as the recording's code for a missing sample)"
        ),
    }
}

/// Why a sample message whose `unit` says `unit` is refused: the live
/// model reads another (its training recording named it).
pub(super) fn other_unit(route: &Route, unit: &str, payload: &[u8]) -> Option<String> {
    let (reads, column) = unlike_unit(route, unit, false, payload)?;
    Some(format!(
        "its samples are in {unit:?}, the model reads {reads:?} (its training column \
         {column:?}): not translated; convert them, or serve a model trained in {unit:?}"
    ))
}

/// Counts a stream's windows sampled at another step than the model's
/// (`ratio`: its step over the model's), and says so once per stream:
/// translated all the same, as a window out of range is (a rate may be
/// changed on purpose), but a model reads such a window as a faster or
/// slower signal, which its translations do not say.
pub(super) fn off_rate(route: &Route, stream: &str, seq: u64, ratio: f64, windows: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    let counters = &route.counters;
    counters.input_off_rate.fetch_add(windows as u64, Relaxed);
    let Some(n) = (counters.off_rate_warned).first_time(&route.current().id, stream) else {
        return;
    };
    let step_s = route.time_gaps().map_or(0.0, |g| g.step_ns as f64 / 1e9);
    let span = crate::recording::time::span;
    let (part, pace) = if ratio >= 1.0 {
        (
            format!("{}×", times(ratio)),
            format!("{} times as fast", times(ratio)),
        )
    } else {
        let k = times(1.0 / ratio);
        (format!("1/{k} of"), format!("{k} times as slow"))
    };
    let mend = mend_rate(ratio, step_s, route.resample().is_some());
    tracing::warn!(
        pair = %route.cfg.pair, stream, seq,
        "a stream's ts says its samples come {} apart, {part} the step of the recording the \
         route's model was trained on ({}): the model reads its windows as a signal {pace}. \
         {mend} (Counted in pipeline_input_off_rate_total; {}.)",
        span(step_s * ratio),
        span(step_s),
        crate::stats::Said::how(n),
    );
}

/// What mends a stream at another rate than the model's step (`ratio`:
/// its step over `step_s`), on a route that reads samples without seq on a
/// clock (`on_clock`) or not.
pub(super) fn mend_rate(ratio: f64, step_s: f64, on_clock: bool) -> String {
    let clock = crate::config::duration_flag(step_s);
    // Far faster than any sensor the model could be meant for: stamps of
    // when a replay sent the samples, most likely. Otherwise a sensor's own
    // rate: read on the model's clock, each tick takes the latest sample, as
    // `pipeline join` read a logger's input on the output logger's clock
    // (the rows the model learnt).
    if ratio < 0.01 {
        "If these are the times a replay sent them (publish --data without --time-column), \
         stamp the recording's own times instead (--time-column): the windows' time gaps need \
         them too."
            .to_string()
    } else if on_clock {
        "The route reads samples without seq on its clock: send this stream's without seq, each \
         with its ts, and each tick reads its latest."
            .to_string()
    } else {
        format!(
            "Read it on the model's clock (serve --resample {clock}, a route's resample = \
             \"{clock}\"): each tick its latest sample, as pipeline join read an input beside an \
             output logged at another rate (samples with ts and without seq), or train on its own."
        )
    }
}

/// A stream read on the clock whose changes come `per_s` a second: where
/// that is over ten times as often as the model's training input changed
/// and several per tick of the route's `clock` (each tick reads only the
/// last), said once per stream: a recording's values sent faster than real
/// time, stamped with when they were sent (or not at all), read so make a
/// window only every 24 ticks of the service's time, far fewer than the
/// recording has, without a word.
pub(super) fn sped_up(route: &Route, stream: &str, per_s: f64, clock: &crate::window::hold::Clock) {
    let Some(trained) = route.resample().and_then(|r| r.trained_changes_per_s) else {
        return;
    };
    let step_s = clock.step_ns as f64 / 1e9;
    let Some((ratio, per_tick)) = crowded(per_s, trained, step_s) else {
        return;
    };
    let counters = &route.counters;
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    (counters.input_too_fast).fetch_add(u64::from(super::clocked::Pace::OVER), relaxed);
    let Some(n) = (counters.sped_up_warned).first_time(&route.current().id, stream) else {
        return;
    };
    let span = crate::recording::time::span;
    tracing::warn!(
        pair = %route.cfg.pair, stream,
        "a stream's changes come {} apart, {}× as often as the input of the recording the \
         route's model was trained on (every {}), {} per tick of the route's clock (every {}): \
         each tick reads only the last. If these are a recording's values sent faster than real \
         time with the times they were sent (or none), stamp each with its recorded time \
         (`ts`, publish --time-column): its ticks are read by those ({}).",
        span(1.0 / per_s),
        times(ratio),
        span(1.0 / trained),
        times(per_tick),
        span(step_s),
        crate::stats::Said::how(n),
    );
}

/// Changes `per_s` a second where the model's input changed `trained` a
/// second, on a clock of `step_s`: how many times as often, and how many
/// per tick, where that is over ten times and several per tick.
pub(super) fn crowded(per_s: f64, trained: f64, step_s: f64) -> Option<(f64, f64)> {
    let (ratio, per_tick) = (per_s / trained, per_s * step_s);
    (ratio >= 10.0 && per_tick >= 2.0).then_some((ratio, per_tick))
}

/// Windows of a stream without `ts` on a route with a time rule: counted,
/// and said once per route (its gaps and rate go unchecked otherwise unsaid).
pub(super) fn unstamped(route: &Route, stream: &str, windows: usize) {
    let Some(gaps) = route.time_gaps() else {
        return;
    };
    let (counters, relaxed) = (&route.counters, std::sync::atomic::Ordering::Relaxed);
    counters.input_unstamped.fetch_add(windows as u64, relaxed);
    if counters.unstamped_warned.swap(true, relaxed) {
        return;
    }
    let rate = match gaps.step_ns {
        1.. => " nor judged for their rate against the model's step",
        _ => "",
    };
    tracing::warn!(
        pair = %route.cfg.pair, stream,
        "a stream's messages carry no `ts`: its windows are translated, but not restarted where \
         its samples jump in time (over {}){rate}; stamp each message with its first sample's \
         time (counted in pipeline_input_unstamped_total; said once per route)",
        crate::recording::time::span(gaps.max_gap_ns as f64 / 1e9),
    );
}

/// `2`, `2.5`, `0.67`, `300000`: a ratio to two decimals (whole above
/// 100), no trailing zeros.
pub(super) fn times(x: f64) -> String {
    if x >= 100.0 {
        return format!("{x:.0}");
    }
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What a `time_gap` event says: how far the first new sample's `ts` lies
/// from the last stamped one's, against the route's gap (to the ns where
/// the rounded figures would read alike).
/// `since_start`: the message's `ts` was read as seconds since a start
/// (under [`crate::window::SINCE_START`]).
pub(super) fn time_gap_detail(jump: TimeGap, gaps: Option<TimeGaps>, since_start: bool) -> String {
    let span = |ns: i64| crate::recording::time::span(ns.unsigned_abs() as f64 / 1e9);
    let (elapsed, side) = match jump.elapsed_ns {
        e if e < 0 => (span(e), "before"),
        e => (span(e), "after"),
    };
    let limit = gaps.map_or_else(String::new, |g| {
        let limit = span(g.max_gap_ns);
        if jump.elapsed_ns < 0 {
            // Any step back restarts the window, whatever max_gap says.
            " (the time went back: a clock set back, or local times repeating an hour as \
             daylight saving time ends?)"
                .to_string()
        } else if limit == elapsed {
            format!(
                " (max_gap {limit}: {} ns against {} ns)",
                jump.elapsed_ns, g.max_gap_ns
            )
        } else {
            format!(" (max_gap {limit})")
        }
    });
    // Consecutive samples a few gaps apart: a stream sampled at another
    // rate (every 5 s into a model of 1 s) restarts at every sample, and
    // says so only here (no window is ever translated, none counted).
    let rate = gaps
        .filter(|g| {
            let e = jump.elapsed_ns;
            jump.seq == jump.after_seq + 1 && g.step_ns > 0 && e > 0 && e / 4 <= g.max_gap_ns
        })
        .map_or(String::new(), |g| {
            format!(
                "; if the stream's samples come that far apart, it is sampled at another rate \
                 than the model's step ({}) and every sample restarts its window: read it on the \
                 model's clock (samples without seq: serve --resample {}, a route's resample), or \
                 train on its own (once in a while, it is more likely a publisher held up that \
                 long, its samples stamped when sent: stamp them when sampled)",
                span(g.step_ns),
                crate::config::duration_flag(g.step_ns as f64 / 1e9)
            )
        });
    // A clock since a start in ms read as seconds: each step a thousand.
    let ms = gaps
        .filter(|g| {
            let ratio = jump.elapsed_ns as f64 / g.step_ns.max(1) as f64;
            since_start && g.step_ns > 0 && (300.0..3000.0).contains(&ratio)
        })
        .map_or("", |_| {
            "; its ts are read as seconds since a start (a number under 631152000): if they are \
             milliseconds (a device's millis() since boot), send seconds (ts / 1000)"
        });
    format!(
        "ts of seq {} is {elapsed} {side} that of seq {}{limit}: window restarted{rate}{ms}",
        jump.seq, jump.after_seq
    )
}
