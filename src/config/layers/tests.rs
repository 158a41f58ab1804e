//! The layers' tests: precedence, names, origins, refusals.

use super::*;

const FILE: &str = r#"
max_batch = 32
max_wait = "3ms"
[durable]
lease = "20s"
input_stream = "IN"
[[route]]
pair = "sin-cos"
"#;

fn env(pairs: &[(&str, &str)]) -> Layer {
    Layer::env(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
}

/// The unit-suffixed names of durations are read too; other
/// `PIPELINE_*` names are listed as ignored, but for those read
/// elsewhere or set by Kubernetes.
#[test]
fn the_environment_reads_both_duration_names_and_lists_what_it_ignores() {
    let layer = env(&[
        ("PIPELINE_MAX_WAIT_MS", "4"),
        ("PIPELINE_IDLE_TIMEOUT_S", "60"),
        ("PIPELINE_MAX_BATCHES", "64"),
        ("PIPELINE_NATS", "nats://elsewhere:4222"),
        ("PIPELINE_INSTANCE", "a"),
        ("PIPELINE_NATS_TOKEN", "t"),
        ("PIPELINE_NATS_URL", "nats://never-read:4222"),
        ("PIPELINE_SERVICE_HOST", "10.0.0.1"),
        ("PIPELINE_PORT_9090_TCP", "tcp://10.0.0.1:9090"),
    ]);
    assert_eq!(
        layer.ignored(),
        ["PIPELINE_MAX_BATCHES", "PIPELINE_NATS", "PIPELINE_NATS_URL"]
    );
    let why = ignored_warning(layer.ignored()).unwrap();
    assert!(
        why.contains("PIPELINE_MAX_BATCH,") && why.contains("NATS_URL"),
        "{why}"
    );
    let r = resolve([file(), layer]).unwrap();
    assert_eq!((r.config.max_wait_ms, r.config.idle_timeout_s), (4.0, 60.0));
    assert_eq!(r.origin("max_wait_ms"), "env PIPELINE_MAX_WAIT[_MS]");
    assert_eq!(ignored_warning(&[]), None);
}

fn file() -> Layer {
    Layer::file(FILE, Path::new("p.toml")).unwrap()
}

/// flags > environment > file > defaults, key by key, whichever name a
/// duration was written under; tables merge, and each value says
/// where it came from.
#[test]
fn later_layers_win_key_by_key_and_say_so() {
    let flags = Layer::flags(serde_json::json!({
        "max_wait_ms": 1.0,
        "durable": {"lease_s": 5.0},
    }))
    .unwrap();
    let r = resolve([
        file(),
        env(&[
            ("PIPELINE_MAX_BATCH", "64"),
            ("PIPELINE_MAX_WAIT", "7ms"),
            ("PIPELINE_IDLE_TIMEOUT", "30s"),
            ("PIPELINE_NATS_TOKEN", "not a config key"),
            ("HOME", "/root"),
        ]),
        flags,
    ])
    .unwrap();
    let c = &r.config;
    assert_eq!(c.max_batch, 64, "env over file");
    assert_eq!(c.max_wait_ms, 1.0, "flag over env over file");
    assert_eq!(c.idle_timeout_s, 30.0, "env over default");
    let d = c.durable.as_ref().unwrap();
    assert_eq!(d.lease_s, 5.0, "flag over file in a table");
    assert_eq!(d.input_stream, "IN", "the file's other keys stay");
    assert_eq!(c.queue, super::super::defaults::queue());

    assert_eq!(r.origin("max_batch"), "env PIPELINE_MAX_BATCH");
    assert_eq!(r.origin("idle_timeout_s"), "env PIPELINE_IDLE_TIMEOUT[_S]");
    assert_eq!(r.origin("max_wait_ms"), "flag --max-wait");
    assert_eq!(r.origin("durable.lease_s"), "flag --lease");
    assert_eq!(r.origin("durable.input_stream"), "file p.toml");
    assert_eq!(r.origin("route[0].pair"), "file p.toml");
    assert_eq!(r.origin("queue"), "default");
    let all = r.settings();
    let row = |k: &str| all.iter().find(|(key, ..)| key == k).cloned().unwrap();
    assert_eq!(row("max_batch").1, "64");
    // Durations under the names the README documents, with their units.
    assert_eq!(row("durable.lease").1, "\"5s\"");
    assert_eq!(row("durable.lease").2, "flag --lease");
    assert_eq!(row("max_wait").1, "\"1ms\"");
    assert_eq!(row("idle_timeout").2, "env PIPELINE_IDLE_TIMEOUT[_S]");
    assert_eq!(row("durable.checkpoint_interval").2, "default");
    assert_eq!(row("durable.duplicate_window").2, "default");
    assert!(
        all.iter()
            .all(|(k, ..)| !k.ends_with("_ms") && !k.ends_with("_s")),
        "{all:?}"
    );
    assert_eq!(row("route[0].pair").1, "\"sin-cos\"");
    assert_eq!(row("durable.output_stream").2, "default");
    // A route's fields its list does not write are defaults.
    assert_eq!(row("route[0].stride").2, "default");
    assert_eq!(row("route[0].output_format").2, "default");
}

/// Without the file's key the environment's applies; a layer that
/// writes both names of one duration is refused, as is a bad value,
/// with the key and its source named.
#[test]
fn conflicts_and_bad_values_are_named() {
    let both = Layer::file("max_wait = 1\nmax_wait_ms = 2\n", Path::new("x.toml"));
    let e = both.err().unwrap().to_string();
    assert!(e.contains("max_wait") && e.contains("x.toml"), "{e}");

    let e = resolve([file(), env(&[("PIPELINE_MAX_BATCH", "lots")])])
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("max_batch") && e.contains("env PIPELINE_MAX_BATCH"),
        "{e}"
    );

    let e = resolve([Layer::file(
        "max_bach = 3\n[[route]]\npair = \"a\"\n",
        Path::new("y.toml"),
    )
    .unwrap()])
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("max_bach"), "{e}");

    // A bad duration is named as it may have been written (the error
    // itself carries only the unit-suffixed key).
    for (text, name) in [
        ("max_wait = \"2 parsecs\"\n", "max_wait (max_wait_ms)"),
        (
            "[durable]\nlease = \"forever\"\n",
            "durable.lease (durable.lease_s)",
        ),
    ] {
        let layer = Layer::file(
            &format!("{text}[[route]]\npair = \"a\"\n"),
            Path::new("z.toml"),
        );
        let e = resolve([layer.unwrap()]).err().unwrap().to_string();
        assert!(e.contains(name), "{e}");
    }

    // A duration under its short name needs a unit (but 0): `max_wait = 5`
    // was 5 ms where `idle_timeout = 5` was 5 s and `"5"` 5 s under either.
    for (layer, hint) in [
        (
            Layer::file("max_wait = 5\n", Path::new("u.toml")),
            "`max_wait = 5` has no unit: write `max_wait = \"5ms\"`",
        ),
        (
            Layer::file("[durable]\nlease = \"2.5\"\n", Path::new("u.toml")),
            "`lease = 2.5` in [durable] has no unit: write `lease = \"2.5s\"`",
        ),
        (
            Layer::env([("PIPELINE_IDLE_TIMEOUT".to_string(), "30".to_string())]),
            "environment: `PIPELINE_IDLE_TIMEOUT=30` has no unit: write `PIPELINE_IDLE_TIMEOUT=30s` \
             (or another unit: 30ms, …), or `PIPELINE_IDLE_TIMEOUT_S=30`",
        ),
    ] {
        let Err(e) = layer else {
            panic!("accepted: {hint}")
        };
        assert!(e.to_string().contains(hint), "{e}");
    }
    for text in [
        "max_wait = 0\n",
        "max_wait = \"0\"\n",
        "max_wait_ms = 5\nidle_timeout_s = 30\n",
        "max_wait = \"5ms\"\nidle_timeout = \"30 s\"\n",
    ] {
        let layer = Layer::file(
            &format!("{text}[[route]]\npair = \"a\"\n"),
            Path::new("v.toml"),
        );
        assert!(resolve([layer.unwrap()]).is_ok(), "{text}");
    }

    // Validation runs on the merged result: a flag can break a good file.
    let zero = Layer::flags(serde_json::json!({"max_batch": 0})).unwrap();
    assert!(resolve([file(), zero]).is_err());
}
