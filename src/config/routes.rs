//! A route with every default, the routes' own checks, and those between
//! routes: a sample subject two routes' inputs both match, or an output
//! subject two routes both write, is refused before anything starts.

use super::{RouteConfig, ShadowConfig, defaults};
use crate::error::{Error, Result};

impl RouteConfig {
    /// A route for `pair` with every default, as a config file's
    /// `[[route]]` with only `pair` gives: `samples.>` in, `translated` out.
    pub fn new(pair: &str) -> Self {
        Self {
            pair: pair.into(),
            model: None,
            input: defaults::input(),
            output: defaults::output(),
            stride: defaults::stride(),
            window: None,
            shadow: ShadowConfig::default(),
            output_format: Default::default(),
            truth: None,
            deviation: None,
            max_gap: None,
            resample: None,
            value_key: None,
            truth_value_key: None,
        }
    }
}

/// Whether some subject matches both NATS patterns (`*` one token, `>` one
/// or more at the end; a partition token is one token).
pub(crate) fn overlap(a: &str, b: &str) -> bool {
    let token = |t: &'_ str| -> String {
        if t.contains(crate::window::PARTITION_TOKEN) {
            "*".into()
        } else {
            t.into()
        }
    };
    let (mut x, mut y) = (a.split('.').map(token), b.split('.').map(token));
    loop {
        match (x.next(), y.next()) {
            (Some(p), Some(q)) if p == ">" || q == ">" => return true,
            (Some(p), Some(q)) if p == q || p == "*" || q == "*" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The subjects a route writes under `prefix`: `<prefix>.<stream key>`,
/// the key the input's wildcards' match (one token per `*`, one or more
/// for `>`). With a partition token, any key (its place in it is not
/// assumed).
fn written(prefix: &str, input: &str) -> String {
    if input.contains(crate::window::PARTITION_TOKEN) {
        return format!("{prefix}.>");
    }
    let mut pattern = prefix.to_string();
    for token in input.split('.') {
        match token {
            "*" => pattern.push_str(".*"),
            ">" => pattern.push_str(".>"),
            _ => {}
        }
    }
    pattern
}

/// Whether two routes' outputs (prefixes, with their inputs) could write
/// one subject.
pub(crate) fn outputs_overlap((a, a_in): (&str, &str), (b, b_in): (&str, &str)) -> bool {
    overlap(&written(a, a_in), &written(b, b_in))
}

/// Routes whose inputs overlap (core mode takes them: each translates every
/// sample both match): what to say of each pair, so that one configured
/// by mistake is seen.
pub fn shared_inputs(routes: &[RouteConfig]) -> Vec<String> {
    let mut said = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        for o in routes[..i].iter().filter(|o| overlap(&o.input, &r.input)) {
            said.push(format!(
                "routes {:?} and {:?} read overlapping inputs ({:?}, {:?}): each translates every \
                 sample both match, into {:?} and {:?}",
                o.pair, r.pair, o.input, r.input, o.output, r.output
            ));
        }
    }
    said
}

/// Routes whose truth subjects overlap: each is scored against samples
/// sent for both (right only where both translate into one channel; the
/// truth carries no channel, only its stream key). What to say of each.
pub fn shared_truths(routes: &[RouteConfig]) -> Vec<String> {
    let mut said = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        for o in &routes[..i] {
            // (One message's channels under keys of their own are not
            // one truth: a cycler's `voltage_v` and `temp_c`.)
            let own_keys = matches!((&o.truth_value_key, &r.truth_value_key),
                (Some(x), Some(y)) if x != y);
            if let (Some(a), Some(b)) = (&o.truth, &r.truth)
                && overlap(a, b)
                && !own_keys
            {
                said.push(format!(
                    "routes {:?} and {:?} take truth from overlapping subjects ({a:?}, {b:?}): a \
                     truth sample for one is scored against the other's translations too, right \
                     only where both translate into one channel; give each its own",
                    o.pair, r.pair
                ));
            }
        }
    }
    said
}

/// The routes' rules; `durable`: in durable mode, where each route's
/// samples are stored in a stream of its own.
pub(super) fn validate(routes: &[RouteConfig], durable: bool) -> Result<()> {
    let bad = |m: String| Err(Error::Config(m));
    for (i, r) in routes.iter().enumerate() {
        let n = i + 1;
        // (`ts.x` would take the top-level `ts` for the path's first step.)
        let keys = [
            ("value_key", &r.value_key),
            ("truth_value_key", &r.truth_value_key),
        ];
        for (name, key) in keys {
            if let Some(k) = key
                && (k.trim().is_empty()
                    || ["seq", "values", "ts", "unit"].contains(&k.split('.').next().unwrap_or(k)))
            {
                return bad(format!(
                    "route {n}: {name} {k:?} cannot name the sample: it is empty or another \
                     key of the sample map (seq, values, ts, unit)"
                ));
            }
        }
        if r.truth_value_key.is_some() && r.truth.is_none() {
            return bad(format!(
                "route {n}: truth_value_key names the key of a truth map, and the route reads \
                 no truth (truth = \"SUBJECT\")"
            ));
        }
        if r.stride == 0 {
            return bad(format!("route {n}: stride must be ≥ 1"));
        }
        crate::window::SubjectPattern::parse(&r.input)
            .map_err(|e| Error::Config(format!("route {n}: {e}")))?;
        crate::window::validate_key(&r.output)
            .map_err(|e| Error::Config(format!("route {n}: output prefix: {e}")))?;
        crate::window::validate_key(&r.shadow.output)
            .map_err(|e| Error::Config(format!("route {n}: shadow output prefix: {e}")))?;
        if r.shadow.output == r.output {
            return bad(format!(
                "route {n}: the shadow's output {:?} is the live output",
                r.output
            ));
        }
        if let Some(t) = &r.truth {
            crate::window::SubjectPattern::parse(t)
                .map_err(|e| Error::Config(format!("route {n}: truth: {e}")))?;
        }
        if let Some(d) = &r.deviation {
            d.validate(n, r.truth.as_deref())?;
            // An event on a subject a route reads would come back as a
            // sample (or a truth) of a stream named after the event's.
            let events = written(&d.subject, &r.input);
            // One stream key's events from two routes on one subject could
            // be told apart by their `pair` only.
            for o in &routes[..i] {
                if let Some(od) = &o.deviation
                    && outputs_overlap((&d.subject, &r.input), (&od.subject, &o.input))
                {
                    return bad(format!(
                        "route {n} ({:?}): deviation subject {:?} overlaps route {:?}'s {:?}: one \
                         stream key's events from both would share a subject; give each route \
                         its own (subject = \"deviations-{}\")",
                        r.pair, d.subject, o.pair, od.subject, r.pair
                    ));
                }
            }
            for o in routes {
                // Nor share a subject with translations (in durable mode,
                // the output stream would store them as such).
                for (out, kind) in [(&o.output, "output"), (&o.shadow.output, "shadow output")] {
                    if outputs_overlap((&d.subject, &r.input), (out, &o.input)) {
                        return bad(format!(
                            "route {n} ({:?}): deviation subject {:?} overlaps route {:?}'s \
                             {kind} {out:?}: events and translations would share subjects",
                            r.pair, d.subject, o.pair
                        ));
                    }
                }
                let read = [Some(&o.input), o.truth.as_ref()];
                if let Some(s) = read.into_iter().flatten().find(|s| overlap(&events, s)) {
                    return bad(format!(
                        "route {n} ({:?}): deviation subject {:?} overlaps {s:?}, which route \
                         {:?} reads: its events would come back as samples",
                        r.pair, d.subject, o.pair
                    ));
                }
            }
        }
        for (j, o) in routes[..i].iter().enumerate() {
            // In core mode a sample both match goes to both, each route
            // translating it with its model into its own output (a current
            // into a cell's voltage and its temperature); in durable mode
            // each route's consumer filters its own subjects of the input
            // stream, one sample stored once, read by one.
            if durable && overlap(&o.input, &r.input) {
                return bad(format!(
                    "route {n} ({:?}): input {:?} overlaps route {} ({:?})'s input {:?}: in \
                     durable mode each route's unit reads its own subjects of the input stream, \
                     which must not overlap; serve such routes in core mode (each translates \
                     every sample both match), or publish to a subject each",
                    r.pair,
                    r.input,
                    j + 1,
                    o.pair,
                    o.input
                ));
            }
            // Two routes' translations of one stream key on one subject
            // cannot be told apart by subject, and in durable mode share a
            // message id, so one of each pair is dropped as a duplicate.
            // Shadow outputs count when both routes configure a shadow (the
            // default `shadow` is every route's).
            let both_shadowed = o.shadow.model.is_some() && r.shadow.model.is_some();
            let pairs = [
                (&o.output, "output", &r.output, "output"),
                (&o.shadow.output, "shadow output", &r.output, "output"),
                (&o.output, "output", &r.shadow.output, "shadow output"),
            ]
            .into_iter()
            .chain(both_shadowed.then_some((
                &o.shadow.output,
                "shadow output",
                &r.shadow.output,
                "shadow output",
            )));
            for (theirs, their_kind, ours, our_kind) in pairs {
                if outputs_overlap((theirs, &o.input), (ours, &r.input)) {
                    return bad(format!(
                        "route {n} ({:?}): {our_kind} {ours:?} overlaps route {} ({:?})'s \
                         {their_kind} {theirs:?}: translations of one stream key from both would \
                         share a subject; give each route an output of its own",
                        r.pair,
                        j + 1,
                        o.pair
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two routes scored against one truth subject tree are said; their
    /// own truths, or one without, are not.
    #[test]
    fn shared_truth_subjects_are_said() {
        let with = |pair: &str, truth: Option<&str>| RouteConfig {
            truth: truth.map(str::to_string),
            ..RouteConfig::new(pair)
        };
        let said = shared_truths(&[with("a", Some("truth.>")), with("b", Some("truth.x.>"))]);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with("routes \"a\" and \"b\" take truth"),
            "{said:?}"
        );
        assert!(shared_truths(&[with("a", Some("ta.>")), with("b", Some("tb.>"))]).is_empty());
        assert!(shared_truths(&[with("a", Some("truth.>")), with("b", None)]).is_empty());
        // One message's two channels, each route its own key: not one truth.
        let keyed = |pair: &str, key: &str| RouteConfig {
            truth_value_key: Some(key.into()),
            ..with(pair, Some("cycler.*"))
        };
        assert!(shared_truths(&[keyed("v", "voltage_v"), keyed("t", "temp_c")]).is_empty());
        assert_eq!(
            shared_truths(&[keyed("v", "volts"), keyed("t", "volts")]).len(),
            1
        );
    }

    #[test]
    fn subjects_overlap_as_nats_matches_them() {
        assert!(overlap("samples.>", "samples.d.>"));
        assert!(overlap("samples.*", "samples.x"));
        assert!(overlap("a.*.c", "a.b.*"));
        assert!(overlap("samples.{partition}.>", "samples.3.x"));
        assert!(!overlap("samples.>", "damped.>"));
        assert!(!overlap("samples.*", "samples.x.y"));
        assert!(!overlap("samples", "samples.>"));
        let any = |p| (p, "samples.>");
        assert!(outputs_overlap(any("translated"), any("translated")));
        assert!(outputs_overlap(any("translated"), any("translated.b")));
        assert!(!outputs_overlap(
            any("translated"),
            any("translated-damped")
        ));
        // Keys of one token each: `translated.X` never meets `translated.d.K`.
        assert!(!outputs_overlap(
            ("translated", "plant.*"),
            ("translated.d", "damped.*")
        ));
        assert!(outputs_overlap(
            ("translated", "plant.*"),
            ("translated", "damped.*")
        ));
        assert!(outputs_overlap(("t", "a.{partition}.*"), ("t.x", "b.*")));
    }

    /// Overlapping inputs, or outputs two routes share, are refused naming
    /// both routes; routes apart pass.
    #[test]
    fn routes_that_share_subjects_are_refused() {
        let route = |pair: &str, input: &str, output: &str| RouteConfig {
            pair: pair.into(),
            model: None,
            input: input.into(),
            output: output.into(),
            stride: 1,
            window: None,
            shadow: Default::default(),
            output_format: Default::default(),
            truth: None,
            deviation: None,
            max_gap: None,
            resample: None,
            value_key: None,
            truth_value_key: None,
        };
        let apart = [
            route("sin-cos", "samples.>", "translated"),
            route("damped", "damped.>", "translated-damped"),
        ];
        assert!(validate(&apart, false).is_ok());
        // One input, two outputs: each route translates every sample, in
        // core mode; in durable mode two input streams cannot share it.
        let inputs = [
            route("sin-cos", "samples.>", "translated"),
            route("damped", "samples.d.>", "translated-damped"),
        ];
        assert!(validate(&inputs, false).is_ok());
        let said = shared_inputs(&inputs);
        assert!(
            said.len() == 1
                && said[0].starts_with("routes \"sin-cos\" and \"damped\" read overlapping inputs"),
            "{said:?}"
        );
        assert!(shared_inputs(&apart).is_empty());
        let e = validate(&inputs, true).unwrap_err().to_string();
        assert!(
            e.contains("overlaps route 1 (\"sin-cos\")'s input \"samples.>\": in durable mode"),
            "{e}"
        );
        let outputs = [
            route("sin-cos", "samples.>", "translated"),
            route("damped", "damped.>", "translated.d"),
        ];
        let e = validate(&outputs, false).unwrap_err().to_string();
        assert!(e.contains("output \"translated.d\" overlaps"), "{e}");
        let mut shadowed = apart.clone();
        shadowed[1].output = "shadow".into();
        shadowed[1].shadow.output = "shadow-damped".into();
        let e = validate(&shadowed, false).unwrap_err().to_string();
        assert!(e.contains("shadow output \"shadow\""), "{e}");
        // Both routes shadowed under the default prefix: their shadows'
        // translations would share subjects; one shadowed is fine.
        let mut shadows = apart.clone();
        shadows[0].shadow.model = Some("a.safetensors".into());
        assert!(validate(&shadows, false).is_ok());
        shadows[1].shadow.model = Some("b.safetensors".into());
        let e = validate(&shadows, false).unwrap_err().to_string();
        assert!(
            e.contains("shadow output \"shadow\" overlaps route 1"),
            "{e}"
        );
    }
}
