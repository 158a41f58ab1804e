//! The configuration's tests: parsing, defaults, limits and messages.

use super::*;

/// Durations as strings with units under the short names, numbers in
/// the suffixed keys' units as before; both names at once, a bad unit or
/// a negative value is refused.
#[test]
fn durations_are_strings_with_units_or_numbers() {
    let route = "[[route]]\npair = 'x'\n";
    let c = ServeConfig::from_toml(
        &format!(
            "max_wait = '2ms'\nidle_timeout = '10m'\n[durable]\nlease = '15s'\n\
             checkpoint_interval = '0.25s'\nduplicate_window = '5m'\n{route}"
        ),
        Path::new("x"),
    )
    .unwrap();
    assert_eq!((c.max_wait_ms, c.idle_timeout_s), (2.0, 600.0));
    let d = c.durable.unwrap();
    assert_eq!(
        (d.lease_s, d.checkpoint_ms, d.duplicate_window_s),
        (15.0, 250, 300.0)
    );
    let c = ServeConfig::from_toml(
        &format!("max_wait_ms = 3\nidle_timeout_s = 4.5\n{route}"),
        Path::new("x"),
    )
    .unwrap();
    assert_eq!((c.max_wait_ms, c.idle_timeout_s), (3.0, 4.5));
    // A number in quotes under a key with its unit in its name is in
    // that unit (it was read as seconds: checkpoint_ms = "200" was 200 s).
    let c = ServeConfig::from_toml(
        &format!(
            "max_wait_ms = '3'\nidle_timeout_s = ' 4.5 '\n[durable]\ncheckpoint_ms = '200'\n{route}"
        ),
        Path::new("x"),
    )
    .unwrap();
    assert_eq!((c.max_wait_ms, c.idle_timeout_s), (3.0, 4.5));
    assert_eq!(c.durable.unwrap().checkpoint_ms, 200);
    for bad in [
        "max_wait = '2 parsecs'",
        "max_wait = '-1s'",
        "max_wait = 1\nmax_wait_ms = 1",
        "max_wait_ms = 'x5'",
        "max_wait_ms = '5 5'",
    ] {
        let e = ServeConfig::from_toml(&format!("{bad}\n{route}"), Path::new("x"));
        assert!(e.is_err(), "{bad}");
    }
}

/// A route's `max_gap` takes a duration with its unit, or 0 (off); a
/// bare number is refused as the top-level short names are; it comes
/// back from its serialised form (flags over the file go through it).
#[test]
fn a_routes_max_gap_says_its_unit() {
    let route = |v: &str| {
        ServeConfig::from_toml(&format!("[[route]]\npair = 'x'\n{v}"), Path::new("x"))
            .map(|c| c.routes[0].max_gap)
    };
    assert_eq!(route("max_gap = '30m'").unwrap(), Some(1800.0));
    assert_eq!(route("max_gap = 0").unwrap(), Some(0.0));
    assert_eq!(route("").unwrap(), None);
    let e = route("max_gap = 30").unwrap_err().to_string();
    assert!(e.contains("no unit"), "{e}");
    assert!(route("max_gap = '-1s'").is_err());
    assert!(route("max_gap = '30'").is_err());
    let mut c = ServeConfig::with_routes(vec![
        serde_json::from_value(serde_json::json!({ "pair": "x", "max_gap": "1.5s" })).unwrap(),
    ]);
    c.models_dir = PathBuf::from("m");
    let back: ServeConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
    assert_eq!(back.routes[0].max_gap, Some(1.5));
}

#[test]
fn a_full_config_parses_and_unknown_keys_are_rejected() {
    let text = r#"
        nats = "nats://10.0.0.1:4222"
        max_batch = 64
        [[route]]
        pair = "sin-cos"
        [[route]]
        pair = "damped"
        input = "plant.*.temp"
        output = "out.damped"
        stride = 4
    "#;
    let c = ServeConfig::from_toml(text, Path::new("x.toml")).unwrap();
    assert_eq!(c.max_batch, 64);
    assert_eq!(c.max_wait_ms, 0.0);
    assert_eq!(c.routes[0].input, "samples.>");
    assert_eq!(c.routes[1].stride, 4);
    assert_eq!(
        c.model_path(&c.routes[1]),
        PathBuf::from("models/damped.safetensors")
    );

    let e = ServeConfig::from_toml("max_bach = 3\n[[route]]\npair='x'", Path::new("x.toml"));
    assert!(e.unwrap_err().to_string().contains("max_bach"));
    let e = ServeConfig::from_toml("[[route]]\npair='x'\ncolor=1", Path::new("x.toml"));
    assert!(e.unwrap_err().to_string().contains("color"));
}

/// Errors name keys as a person writes them: which key is zero, a
/// duration by its short name, a route by its number, and the keys a
/// table takes without figment's doubled quotes.
#[test]
fn errors_name_the_keys_as_written() {
    let e = |text: &str| {
        ServeConfig::from_toml(text, Path::new("x.toml"))
            .unwrap_err()
            .to_string()
    };
    let route = "[[route]]\npair = 'sin-cos'\n";
    let m = e(&format!("queue = 0\n{route}"));
    assert!(
        m.contains("queue must be at least 1") && !m.contains("max_batch"),
        "{m}"
    );
    let m = e(&format!("max_wait = '1h'\n{route}"));
    assert!(
        m.contains("max_wait 3600000 ms must be from 0 to 1000 ms"),
        "{m}"
    );
    let m = e(&format!("[durable]\nlease = '0s'\n{route}"));
    assert!(
        m.contains("durable.lease 0 s must be longer than two checkpoint"),
        "{m}"
    );
    let m = e(&format!("[durable]\nleese = '1s'\n{route}"));
    assert!(
        m.contains("unknown key `leese`; the keys here are `input_stream`, `output_stream`")
            && !m.contains("``"),
        "{m}"
    );
    let m = e("[[route]]\ninput = 'x.>'\n");
    assert!(m.contains("route 1: missing field `pair`"), "{m}");
}

#[test]
fn durable_section_defaults_and_limits() {
    let base = "[[route]]\npair = 'sin-cos'\n";
    let c = ServeConfig::from_toml(&format!("[durable]\n{base}"), Path::new("x")).unwrap();
    let d = c.durable.unwrap();
    assert_eq!(d, DurableConfig::default());
    assert_eq!((d.input_stream.as_str(), d.checkpoint_ms), ("SAMPLES", 200));
    assert!(
        ServeConfig::from_toml(base, Path::new("x"))
            .unwrap()
            .durable
            .is_none()
    );
    for bad in [
        "duplicate_window_s = 60",
        "input_stream = 'A.B'",
        "lease_s = 0.1",
        "max_ack_pending = 1",
        "checkpoint_ms = 0",
        "replicas = 0",
        "colour = 1",
    ] {
        let text = format!("[durable]\n{bad}\n{base}");
        assert!(
            ServeConfig::from_toml(&text, Path::new("x")).is_err(),
            "{bad} accepted"
        );
    }
}

/// An empty name anywhere is passed over, not taken.
#[test]
fn empty_instance_names_fall_back() {
    assert_eq!(instance_name(Some("a".into())), "a");
    let fallback = instance_name(None);
    assert!(!fallback.is_empty());
    assert_eq!(instance_name(Some("  ".into())), fallback);
}

#[test]
fn invalid_values_are_refused() {
    for text in [
        "",
        "[[route]]\npair='a'\nstride=0",
        "[[route]]\npair='a'\ninput='samples'",
        "[[route]]\npair='a'\n[[route]]\npair='b'",
        "max_wait_ms=-1\n[[route]]\npair='a'",
        "max_wait='2s'\n[[route]]\npair='a'",
        "[durable]\ncheckpoint_interval='0ms'\n[[route]]\npair='a'",
        "[durable]\ninstance=' '\n[[route]]\npair='a'",
        "[[route]]\npair='a'\noutput='a b'",
        "otlp_endpoint='collector:4318'\n[[route]]\npair='a'",
    ] {
        assert!(
            ServeConfig::from_toml(text, Path::new("t")).is_err(),
            "{text:?}"
        );
    }
}

#[test]
fn secrets_are_masked_and_auth_methods_checked() {
    let c = ServeConfig::from_toml(
        "[auth]\nuser = 'svc'\npassword = 'hunter2'\n[[route]]\npair = 'sin-cos'",
        Path::new("t"),
    )
    .unwrap();
    let json = serde_json::to_string(&c).unwrap();
    assert!(
        !json.contains("hunter2") && json.contains("********"),
        "{json}"
    );
    assert!(!format!("{c:?}").contains("hunter2"));
    assert_eq!(redact_url("nats://u:pw@h:4222"), "nats://***@h:4222");
    assert_eq!(
        redact_url("nats://h:4222,tls://a:b@g"),
        "nats://h:4222,tls://***@g"
    );
    for text in [
        "[auth]\ntoken = 't'\nuser = 'u'\npassword = 'p'\n[[route]]\npair = 'a'",
        "[auth]\nuser = 'u'\n[[route]]\npair = 'a'",
        "[auth]\ntls_cert_file = 'c.pem'\n[[route]]\npair = 'a'",
    ] {
        assert!(
            ServeConfig::from_toml(text, Path::new("t")).is_err(),
            "{text}"
        );
    }
}

#[test]
fn partitions_and_inputs_must_agree() {
    let route = "[[route]]\npair = 'sin-cos'\ninput = 'part.{partition}.>'\n";
    let ok = format!("[partitions]\ncount = 4\nowned = [0, 3]\n{route}");
    let c = ServeConfig::from_toml(&ok, Path::new("t")).unwrap();
    assert_eq!(c.subscriptions(&c.routes[0]), vec!["part.0.>", "part.3.>"]);
    for bad in [
        route.to_string(), // token, no partitions
        "[partitions]\ncount = 4\nowned = [0]\n[[route]]\npair = 'a'".into(), // partitions, no token
        format!("[partitions]\ncount = 4\nowned = [4]\n{route}"),             // out of range
        format!("[partitions]\ncount = 4\nowned = []\n{route}"),
        format!("[partitions]\ncount = 4\nowned = [0, 0]\n{route}"), // twice
    ] {
        assert!(
            ServeConfig::from_toml(&bad, Path::new("t")).is_err(),
            "{bad}"
        );
    }
}

/// A route's `value_key` names the key its senders' sample is under; a key
/// the sample map uses for something else cannot be it.
#[test]
fn a_routes_value_key_is_another_key_than_the_maps_own() {
    let route = |v: &str| {
        let c = ServeConfig::from_toml(&format!("[[route]]\npair = 'x'\n{v}"), Path::new("x"))?;
        c.validate().map(|()| c.routes[0].value_key.clone())
    };
    assert_eq!(
        route("value_key = 'temperature'").unwrap().as_deref(),
        Some("temperature")
    );
    assert_eq!(route("").unwrap(), None);
    for bad in ["seq", "ts", "values", "unit", " ", "ts.x"] {
        let e = route(&format!("value_key = '{bad}'"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot name the sample"), "{bad}: {e}");
    }
    // The truth's key, likewise; and only where the route reads a truth.
    let truth = |v: &str| route(&format!("truth = 'truth.>'\ntruth_value_key = '{v}'"));
    assert!(truth("ac_kw").is_ok());
    let e = truth("seq").unwrap_err().to_string();
    assert!(e.contains("truth_value_key \"seq\" cannot name"), "{e}");
    let e = route("truth_value_key = 'ac_kw'").unwrap_err().to_string();
    assert!(e.contains("the route reads no truth"), "{e}");
}

/// `[route.deviation]` takes its defaults (4 windows, both sides,
/// `deviations`), needs the route's truth, a threshold above 0, at least
/// one window, and a subject no route reads (its events would come back
/// as samples).
#[test]
fn a_routes_deviation_watch_is_checked() {
    let parse = |extra: &str| {
        ServeConfig::from_toml(
            &format!(
                "[[route]]\npair = 'x'\ninput = 'in.>'\ntruth = 'truth.>'\n{extra}\n\
                 [[route]]\npair = 'y'\ninput = 'other.*'\noutput = 'y'\n"
            ),
            Path::new("x"),
        )
        .and_then(|c| c.validate().map(|()| c))
    };
    let c = parse("[route.deviation]").unwrap();
    assert_eq!(c.routes[0].deviation, Some(DeviationConfig::default()));
    assert_eq!(
        (
            DeviationConfig::default().windows,
            DeviationConfig::default().side
        ),
        (4, Side::Both)
    );
    let c = parse(
        "[route.deviation]\nthreshold = 12.5\nwindows = 8\nside = 'below'\nsubject = 'alerts.pv'",
    )
    .unwrap();
    let d = c.routes[0].deviation.clone().unwrap();
    assert_eq!(
        (d.threshold, d.windows, d.side, d.subject.as_str()),
        (Some(12.5), 8, Side::Below, "alerts.pv")
    );
    for (extra, says) in [
        (
            "[route.deviation]\nthreshold = 0",
            "threshold 0 must be a number above 0",
        ),
        ("[route.deviation]\nthreshold = -3", "threshold -3 must be"),
        (
            "[route.deviation]\nwindows = 0",
            "windows 0 must be from 1 to 1000",
        ),
        (
            "[route.deviation]\nwindows = 1000000",
            "windows 1000000 must be from 1 to 1000",
        ),
        ("[route.deviation]\nside = 'under'", "unknown variant"),
        (
            "[route.deviation]\nsubject = 'in'",
            "deviation subject \"in\" overlaps \"in.>\"",
        ),
        (
            "[route.deviation]\nsubject = 'truth'",
            "overlaps \"truth.>\"",
        ),
        (
            "[route.deviation]\nsubject = 'other'",
            "overlaps \"other.*\", which route \"y\" reads",
        ),
        ("[route.deviation]\nsubject = 'a..b'", "deviation subject"),
        (
            "[route.deviation]\nsubject = 'y'",
            "overlaps route \"y\"'s output \"y\"",
        ),
        (
            "[route.deviation]\nsubject = 'translated'",
            "output \"translated\": events and",
        ),
        (
            "[route.deviation]\nsubject = 'shadow'",
            "shadow output \"shadow\"",
        ),
    ] {
        let e = parse(extra).unwrap_err().to_string();
        assert!(e.contains(says), "{extra}: {e}");
    }
    let e = ServeConfig::from_toml("[[route]]\npair = 'x'\n[route.deviation]\n", Path::new("x"))
        .and_then(|c| c.validate())
        .unwrap_err()
        .to_string();
    assert!(e.contains("deviation: needs the route's truth"), "{e}");
    // Two routes' events: subjects of their own, or refused.
    let two = |second: &str| {
        ServeConfig::from_toml(
            &format!(
                "[[route]]\npair = 'ps'\ninput = 'ps.>'\noutput = 'out-ps'\ntruth = 'tps.>'\n\
                 [route.deviation]\n[[route]]\npair = 'sb'\ninput = 'sb.>'\noutput = 'out-sb'\n\
                 truth = 'tsb.>'\n[route.deviation]\n{second}"
            ),
            Path::new("x"),
        )
        .and_then(|c| c.validate())
    };
    let e = two("").unwrap_err().to_string();
    assert!(
        e.contains("give each route its own (subject = \"deviations-sb\")"),
        "{e}"
    );
    assert!(two("subject = 'deviations-sb'").is_ok());
}
