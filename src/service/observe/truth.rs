//! A truth message: its samples matched to the windows they are the truth
//! of (by `seq`, or on the route's clock), or refused with an error event
//! (another channel's unit, a missing-value code, a malformed message).

use super::{Route, Truths};
use crate::service::events::{Origin, Reporter};
use crate::service::ingest::unlike_unit;
use crate::service::route::Code;
use crate::wire::{self, DecodeError, ErrorKind};

/// Refusals after which a route that has taken no truth message warns
/// that its watch sees nothing.
const BLIND_AFTER: u64 = 20;

/// A truth message refused: counted, said (an error event), and where the
/// route's first [`BLIND_AFTER`] were all refused and none taken, warned of
/// once: its truth MSE and deviation watch see nothing, which no alert on
/// deviations would show.
async fn refuse(
    route: &Route,
    reporter: &Reporter,
    origin: Origin<'_>,
    kind: ErrorKind,
    key: &str,
    subject: &str,
    detail: String,
) {
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    let n = route.counters.truth_refused.fetch_add(1, relaxed) + 1;
    if blind(n, route.counters.truth_taken.load(relaxed)) {
        tracing::warn!(
            pair = %route.cfg.pair,
            "the route's first {n} truth messages were refused and no window has been scored \
             against its truth: its truth MSE and deviation watch see nothing (the last: {detail}; \
             counted in pipeline_truth_refused_total)"
        );
    }
    // (In the message's format, as an input's refusal is: JSON for JSON.)
    reporter
        .report_from(origin, kind, key, subject, detail)
        .await
}

/// Whether the `refused`-th refusal says the watch is blind: the
/// [`BLIND_AFTER`]-th, where no truth message was taken before it.
fn blind(refused: u64, any_taken: bool) -> bool {
    refused == BLIND_AFTER && !any_taken
}

/// A truth message taken (matched, or waiting for its windows).
fn taken(route: &Route) {
    (route.counters.truth_taken).store(true, std::sync::atomic::Ordering::Relaxed);
}

pub(super) async fn message(
    route: &Route,
    reporter: &Reporter,
    truths: &mut Truths,
    msg: async_nats::Message,
) {
    let origin = Origin::of(&msg);
    let subject = msg.subject.as_str();
    let Some(pattern) = route.truth_pattern.as_ref() else {
        return;
    };
    let key = match pattern.key(subject) {
        Ok(k) => k,
        Err(e) => {
            let detail = format!("truth subject {subject:?}: {e}");
            return refuse(
                route,
                reporter,
                origin,
                ErrorKind::BadSubject,
                "",
                subject,
                detail,
            )
            .await;
        }
    };
    let clock = route.resample().map(|r| r.truth_clock());
    let mut values = Vec::new();
    let key_of = route.cfg.truth_value_key.as_deref();
    let decoded = wire::decode_samples_named(&msg.payload, &mut values, key_of, "truth_value_key");
    // Another channel's readings scored as this one's would be a deviation
    // of every stream (flow in m³/h against °C).
    let unlike = decoded.as_ref().ok().and_then(|h| {
        let unit = h.unit?;
        let (writes, column) = unlike_unit(route, unit.as_str(), true, &msg.payload)?;
        Some((h.time_ns, unit, writes, column))
    });
    if let Some((ts, unit, writes, column)) = unlike {
        if clock.is_some() {
            truths.end_held(&key, ts);
        }
        let why = format!(
            "truth: its samples are in {:?}, the model writes {writes:?} (its training column \
             {column:?}): not scored; send the route's output channel as its truth, in \
             {writes:?} (converted, where it is that channel in another unit)",
            unit.as_str()
        );
        return refuse(
            route,
            reporter,
            origin,
            ErrorKind::InvalidValue,
            &key,
            subject,
            why,
        )
        .await;
    }
    match decoded {
        Ok(wire::SampleHeader {
            seq, time_ns: ts, ..
        }) => match (route.missing_code(&values, true), seq, clock) {
            // Scored against, a lost frame written as 0 would count as a
            // reading the model missed (on a clock, it ends the value held).
            (
                Some(Code {
                    index: i,
                    value: code,
                    recorded,
                }),
                _,
                _,
            ) => {
                let which = match seq {
                    Some(seq) => format!("sample {i} (seq {})", seq + i as u64),
                    None => format!("sample {i}"),
                };
                if seq.is_none() && clock.is_some() {
                    truths.end_held(&key, ts);
                }
                let what = match recorded {
                    true => "what the model's training recording wrote for a missing sample",
                    false => {
                        "a device's error code by its form, far outside the output the model \
                              was trained on"
                    }
                };
                let detail = format!("truth: {which} is {code}, {what}: not scored against");
                refuse(
                    route,
                    reporter,
                    origin,
                    ErrorKind::InvalidValue,
                    &key,
                    subject,
                    detail,
                )
                .await
            }
            (None, Some(seq), _) => {
                taken(route);
                truths.add_truth(&key, seq, &values, &route.compare)
            }
            // A meter's readings as they change, read on the route's clock.
            (None, None, Some(clock)) => {
                match truths.add_changes(&key, clock, ts, &values, &route.compare) {
                    Ok(_) => taken(route),
                    Err((kind, detail)) => {
                        refuse(route, reporter, origin, kind, &key, subject, detail).await
                    }
                }
            }
            // Truth is matched to windows by seq: one the sender does not
            // number has nothing to be matched by.
            (None, None, None) => {
                // A bridge's readings (ts, no seq) of both channels: on a
                // clock, each tick is one instant of input and truth.
                // Held as long as the model's rows spanned a gap: a meter
                // silent longer (an inverter at night) has no value then.
                let gaps = (route.time_gaps()).filter(|g| g.step_ns > 0);
                let clock = gaps.map_or(
                    "serve --resample STEP (a route's resample)".to_string(),
                    |g| {
                        let flag = |ns: i64| crate::config::duration_flag(ns as f64 / 1e9);
                        format!(
                            "serve --resample {} (the model's step) --max-gap {} (a reading held \
                             as long as its training rows spanned a gap)",
                            flag(g.step_ns),
                            flag(g.max_gap_ns)
                        )
                    },
                );
                let detail = format!(
                    "truth: a truth message must carry `seq` (the seq of the sample it is the \
                     truth of): it is matched to windows by it. Readings stamped with `ts` and \
                     no seq, of the input and the truth, are matched on a clock: {clock}"
                );
                refuse(
                    route,
                    reporter,
                    origin,
                    ErrorKind::Malformed,
                    &key,
                    subject,
                    detail,
                )
                .await
            }
        },
        Err(DecodeError::Malformed(d)) => {
            // `unavailable`: a meter on a clock has no value from then on.
            if clock.is_some() {
                truths.end_held(&key, wire::stamp_of(&msg.payload));
            }
            // One device's message of both channels, read as input too,
            // without the truth's key (irradiance at night, the inverter
            // off): no truth then, which is no fault of the message.
            if d.starts_with("has neither") && route.pattern.key(subject).is_ok() {
                return;
            }
            refuse(
                route,
                reporter,
                origin,
                ErrorKind::Malformed,
                &key,
                subject,
                format!("truth: {d}"),
            )
            .await
        }
        Err(DecodeError::InvalidValue(d)) => {
            if clock.is_some() {
                truths.end_held(&key, wire::stamp_of(&msg.payload));
            }
            refuse(
                route,
                reporter,
                origin,
                ErrorKind::InvalidValue,
                &key,
                subject,
                format!("truth: {d}"),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    /// The watch is said blind once: at the 20th refusal, where no truth
    /// was taken before it (not where truths were taken and are waiting
    /// for their windows).
    #[test]
    fn a_watch_is_said_blind_once_where_no_truth_was_taken() {
        assert!(super::blind(super::BLIND_AFTER, false));
        assert!(!super::blind(super::BLIND_AFTER, true));
        assert!(!super::blind(super::BLIND_AFTER - 1, false));
        assert!(!super::blind(super::BLIND_AFTER + 1, false));
    }
}
