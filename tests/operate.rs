//! The `pipeline` binary as an operator meets it: `config check`, JSON
//! logs, exit codes a service manager understands, and connecting the way
//! the `nats` CLI does.

use crate::common;

use common::pipeline;

#[test]
fn config_check_prints_the_effective_config_or_says_what_is_wrong() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = pipeline()
        .current_dir(root)
        .args(["config", "check", "deploy/pipeline.toml"])
        .output()
        .unwrap();
    common::succeeded(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["route"].as_array().unwrap().len(), 2);
    assert_eq!(v["max_batch"], 256);
    assert_eq!(v["route"][0]["stride"], 1, "defaults filled in");
    // A route's flags with a file are refused, as `serve` refuses them
    // (`--max-gap` was taken and dropped).
    for flag in [["--max-gap", "20m"], ["--output-format", "json"]] {
        let out = pipeline()
            .current_dir(root)
            .args(["config", "check", "deploy/pipeline.toml"])
            .args(flag)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag:?}");
    }

    // PIPELINE_MODELS_DIR (or --models-dir) overrides the file's models_dir:
    // from another folder the file's relative "models" is not found, the
    // variable's absolute path is.
    let elsewhere = tempfile::tempdir().unwrap();
    let config = root.join("deploy/pipeline.toml");
    let run = |env: Option<&std::path::Path>| {
        let mut c = pipeline();
        c.current_dir(elsewhere.path())
            .args(["config", "check"])
            .arg(&config);
        c.env_remove("PIPELINE_MODELS_DIR");
        if let Some(dir) = env {
            c.env("PIPELINE_MODELS_DIR", dir);
        }
        c.output().unwrap()
    };
    assert!(!run(None).status.success());
    let out = run(Some(&root.join("models")));
    common::succeeded(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["models_dir"], root.join("models").to_str().unwrap());

    // Flags > PIPELINE_* environment > file > defaults, each value saying
    // where it came from; the flag beats the variable for models_dir too.
    let out = pipeline()
        .current_dir(elsewhere.path())
        .args(["config", "check"])
        .arg(&config)
        .args([
            "--max-wait",
            "3ms",
            "--durable",
            "--lease",
            "4s",
            "--models-dir",
        ])
        .arg(root.join("models"))
        .env("PIPELINE_MAX_BATCH", "64")
        .env("PIPELINE_MAX_WAIT", "1ms")
        .env("PIPELINE_MODELS_DIR", "/nonexistent")
        .env("NATS_URL", "nats://bob:secret@127.0.0.1:4999")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The connection as it will be made, the secret masked.
    assert_eq!(v["nats"], "nats://***@127.0.0.1:4999", "{v}");
    assert_eq!(v["max_batch"], 64);
    assert_eq!(v["max_wait_ms"], 3.0);
    assert_eq!(v["durable"]["lease_s"], 4.0);
    assert_eq!(v["models_dir"], root.join("models").to_str().unwrap());
    let origin = |key: &str| {
        stderr
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} in {stderr}"))
            .to_string()
    };
    for (key, from) in [
        ("max_batch", "env PIPELINE_MAX_BATCH"),
        ("max_wait", "flag --max-wait"),
        ("durable.lease", "flag --lease"),
        ("models_dir", "flag --models-dir"),
        ("durable.input_stream", "default"),
    ] {
        assert!(origin(key).ends_with(from), "{key} from {from}: {stderr}");
    }
    // Durations as the README and deploy/pipeline.toml write them.
    for (key, value) in [("max_wait", "\"3ms\""), ("durable.lease", "\"4s\"")] {
        let line = origin(key);
        assert_eq!(line.split_whitespace().nth(2), Some(value), "{line}");
    }
    assert!(origin("queue").contains("file "), "{stderr}");
    // A durable-mode flag adjusts the file's `[durable]` table without
    // `--durable`; with no such table it is refused, naming the flag.
    let with_durable = elsewhere.path().join("durable.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &with_durable,
        format!("{text}\n[durable]\ninstance = \"a\"\n"),
    )
    .unwrap();
    let check = |file: &std::path::Path| {
        pipeline()
            .current_dir(elsewhere.path())
            .args(["config", "check"])
            .arg(file)
            .args(["--lease", "5s", "--models-dir"])
            .arg(root.join("models"))
            .output()
            .unwrap()
    };
    let out = check(&with_durable);
    common::succeeded(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            v["durable"]["lease_s"].clone(),
            v["durable"]["instance"].clone()
        ),
        (5.0.into(), "a".into())
    );
    let out = check(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("--lease is a durable-mode setting"),
        "{stderr}"
    );
    // A bad value names its key and its source.
    let out = pipeline()
        .current_dir(root)
        .args(["config", "check", "deploy/pipeline.toml"])
        .env("PIPELINE_MAX_BATCH", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("max_batch") && stderr.contains("PIPELINE_MAX_BATCH"),
        "{stderr}"
    );

    // A config file `config check` refuses, naming what is wrong.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let refused = |toml: &str, says: &str| {
        std::fs::write(&bad, toml).unwrap();
        let out = pipeline()
            .args(["config", "check"])
            .arg(&bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{toml}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{toml}: {stderr}");
    };
    refused("max_bach = 3\n[[route]]\npair = \"sin-cos\"\n", "max_bach");
    // A route whose model file is missing is caught too.
    refused(
        "[[route]]\npair = \"sin-cos\"\nmodel = \"/nonexistent.safetensors\"\n",
        "cannot read model file",
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = pipeline()
        .env("RUST_LOG", "info")
        .args([
            "--log-format",
            "json",
            "retrain",
            "--pair",
            "damped",
            "--epochs",
            "1",
        ])
        .args(["--hidden", "4", "--random-windows", "8", "--out"])
        .arg(dir.path().join("m.safetensors"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let logs = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{l}");
    }
}

#[test]
fn configuration_errors_exit_78_so_systemd_stops_restarting() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "no_such_key = 1\n[[route]]\npair = 'sin-cos'\n").unwrap();
    let missing = dir.path().join("missing.safetensors");
    let out = dir.path().join("m.safetensors");
    let short = dir.path().join("short.csv");
    std::fs::write(&short, "t,a\n0,1.5\n1,2.5\n").unwrap();
    for args in [
        vec!["serve", "--config", bad.to_str().unwrap()],
        // A recording that is not there, like a model file that is not.
        vec![
            "retrain",
            "--data",
            "/nonexistent.csv",
            "--out",
            out.to_str().unwrap(),
        ],
        // Replaying from a row the recording does not have.
        vec![
            "publish",
            "--data",
            short.to_str().unwrap(),
            "--input",
            "a",
            "--start-seq",
            "2",
        ],
        vec!["serve", "--config", "/nonexistent/pipeline.toml"],
        vec!["translate", "--model", missing.to_str().unwrap()],
        vec!["eval", "--pair", "no-such-pair"],
        vec!["serve", "--pair", "no-such-pair"],
    ] {
        let out = pipeline().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {stderr}");
        // The cause once (it was printed twice: in the message and again
        // as the error's source).
        assert!(stderr.matches("os error").count() <= 1, "{stderr}");
        // A pair that is neither built in nor in the models directory says
        // where the pairs are listed.
        if args.contains(&"no-such-pair") {
            assert!(stderr.contains("pipeline pairs"), "{args:?}: {stderr}");
        }
    }
    // A usage error is 2 (anything else 1: `a_busy_metrics_port_exits_1…`),
    // found before any file is read.
    for args in [
        vec!["serve", "--no-such-flag"],
        vec!["serve"],
        vec!["config", "check"],
        vec![
            "retrain",
            "--data",
            "/nonexistent.csv",
            "--steps",
            "0",
            "--out",
            "m",
        ],
        vec![
            "retrain",
            "--data",
            "/nonexistent.csv",
            "--validate",
            "1",
            "--out",
            "m",
        ],
        // A hidden size past what trains (memory without end, once).
        vec![
            "retrain",
            "--data",
            "/nonexistent.csv",
            "--hidden",
            "100000",
            "--out",
            "m",
        ],
    ] {
        let out = pipeline().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    }
    // A flag another one makes necessary is a usage error too.
    let out = pipeline()
        .args(["retrain", "--data", "/nonexistent.csv"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--out FILE is required"), "{stderr}");
}

/// A metrics port another process holds is worth a retry (exit 1, so
/// systemd restarts it), not a configuration that cannot work (78 stops it
/// for good).
#[test]
fn a_busy_metrics_port_exits_1_for_a_restart() {
    let server = common::nats::NatsServer::start();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = pipeline()
        .args(["serve", "--pair", "sin-cos", "--nats", &server.url()])
        .args(["--metrics-addr", &addr])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("metrics_addr {addr}")), "{stderr}");
}

/// `publish`, `tail` and `bench` connect as `serve` does and as the `nats`
/// CLI does: `NATS_*` variables, flags, or a `nats` context file; without
/// credentials a secured server refuses them, and no secret is printed.
#[test]
fn every_subcommand_connects_the_way_the_nats_cli_does() {
    let server = common::nats::NatsServer::start_with(&["--user", "svc", "--pass", "hunter2"]);
    let url = server.url();
    let publish = |extra: &[&str], env: &[(&str, &str)]| {
        let mut c = pipeline();
        c.env_remove("NATS_URL");
        c.args(["publish", "--count", "3", "--rate", "0", "--stream", "e"]);
        c.args(extra);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // The variables the nats CLI reads.
    let out = publish(
        &[],
        &[
            ("NATS_URL", &url),
            ("NATS_USER", "svc"),
            ("NATS_PASSWORD", "hunter2"),
        ],
    );
    common::succeeded(&out);
    // Flags, with the nats CLI's names.
    let out = publish(
        &["--server", &url, "--user", "svc", "--password", "hunter2"],
        &[],
    );
    common::succeeded(&out);
    // A context file, as `nats context save` writes it.
    let home = tempfile::tempdir().unwrap();
    let contexts = home.path().join("nats/context");
    std::fs::create_dir_all(&contexts).unwrap();
    let ctx = serde_json::json!({"description": "", "url": url, "user": "svc", "password": "hunter2",
        "token": "", "creds": "", "nkey": "", "cert": "", "key": "", "ca": "", "nsc": ""});
    std::fs::write(contexts.join("lab.json"), ctx.to_string()).unwrap();
    let xdg = home.path().to_str().unwrap();
    let out = publish(&["--context", "lab"], &[("XDG_CONFIG_HOME", xdg)]);
    common::succeeded(&out);
    // The selected context applies without --context.
    std::fs::write(home.path().join("nats/context.txt"), "lab").unwrap();
    let out = publish(&[], &[("XDG_CONFIG_HOME", xdg)]);
    common::succeeded(&out);
    // No credentials: refused, and said so; a wrong password is not shown.
    let out = publish(&["--nats", &url], &[("XDG_CONFIG_HOME", "/nonexistent")]);
    assert!(!out.status.success());
    let out = publish(
        &["--nats", &url, "--user", "svc"],
        &[
            ("NATS_PASSWORD", "wrong-secret"),
            ("XDG_CONFIG_HOME", "/nonexistent"),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect") && !err.contains("wrong-secret"),
        "{err}"
    );
    // --help lists the variables but not their values.
    let help = pipeline()
        .args(["tail", "--help"])
        .env("NATS_PASSWORD", "hunter2")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("NATS_PASSWORD") && text.contains("--context"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

/// A replay stopped half way (Ctrl-C, SIGTERM) says how far it came and the
/// `--start-seq` that goes on from there; it said only "stopped".
#[test]
fn a_stopped_publish_says_where_to_go_on() {
    let server = common::nats::NatsServer::start();
    let child = pipeline()
        .args([
            "publish",
            "--nats",
            &server.url(),
            "--stream",
            "s",
            "--rate",
            "50",
        ])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Long enough for a start on a loaded machine; the count is checked
    // loosely, the line exactly.
    let out = common::interrupt_after(child, std::time::Duration::from_secs(3));
    common::succeeded(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("stopped"))
        .unwrap_or_default();
    let field = |name: &str| -> u64 {
        let at = line
            .find(&format!("{name}="))
            .unwrap_or_else(|| panic!("{name} in {line}"));
        let digits = &line[at + name.len() + 1..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        digits[..end].parse().unwrap()
    };
    let (samples, next) = (field("samples_per_stream"), field("next_seq"));
    // A pair's curve from seq 0, 50 a second for 3 s (the start-up aside).
    assert!((1..=160).contains(&samples), "{line}");
    assert_eq!(next, samples, "{line}");
    assert!(
        line.contains(&format!("--start-seq {next} goes on")),
        "{line}"
    );
}

/// A SIGHUP while `serve` starts (here: still waiting for its server, as
/// after systemd's `start` with a `reload` right behind) does not end it:
/// it died with "Hangup" (exit 129, a clean stop to systemd) until the
/// reload task listened, once connected and loaded.
#[test]
fn a_sighup_while_starting_does_not_end_the_service() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = pipeline()
        .args(["serve", "--pair", "sin-cos"])
        .args(["--nats", &format!("nats://127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let still = child.try_wait().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(still, None, "serve ended on a SIGHUP while starting");
}
