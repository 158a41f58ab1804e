//! Connecting: user/password, token, TLS with a private CA, and a broker that is not there yet.

use super::*;

/// Runs one window through a service that authenticates with `auth`.
async fn translate_once(url: &str, auth: pipeline::config::NatsAuth, probe: &Client) {
    let mut cfg = config();
    cfg.auth = auth.clone();
    let conn = pipeline::service::connect_with(url, &auth, false)
        .await
        .unwrap();
    let stats = Arc::new(Stats::default());
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(pipeline::service::run(conn, cfg, stats, async {
        let _ = rx.await;
    }));
    wait_ready(probe).await;
    let mut sub = probe.subscribe("translated.auth").await.unwrap();
    probe.flush().await.unwrap();
    wait_ready(probe).await;
    send_curve(probe, "auth", 0..24).await;
    probe.flush().await.unwrap();
    assert_eq!(collect(&mut sub, 1, translation).await[0].seq, 0);
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticates_with_user_password_and_token_and_hides_secrets() {
    use pipeline::config::NatsAuth;
    let server = NatsServer::start_with(&["--user", "svc", "--pass", "hunter2"]);
    let probe = async_nats::ConnectOptions::with_user_and_password("svc".into(), "hunter2".into())
        .connect(server.url())
        .await
        .unwrap();
    let auth = NatsAuth {
        user: Some("svc".into()),
        password: Some("hunter2".into()),
        ..Default::default()
    };
    translate_once(&server.url(), auth, &probe).await;
    let wrong = NatsAuth {
        user: Some("svc".into()),
        password: Some("wrong-secret".into()),
        ..Default::default()
    };
    let err = pipeline::service::connect_with(&server.url(), &wrong, false)
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(!msg.contains("wrong-secret"), "{msg}");
    let with_creds = server.url().replace("nats://", "nats://svc:wrong-secret@");
    let err = pipeline::service::connect(&with_creds, false)
        .await
        .err()
        .unwrap();
    assert!(!err.to_string().contains("wrong-secret"), "{err}");

    let server = NatsServer::start_with(&["--auth", "s3cret-token"]);
    let probe = async_nats::ConnectOptions::with_token("s3cret-token".into())
        .connect(server.url())
        .await
        .unwrap();
    let auth = NatsAuth {
        token: Some("s3cret-token".into()),
        ..Default::default()
    };
    translate_once(&server.url(), auth, &probe).await;
}

/// A private CA and a certificate for 127.0.0.1 signed by it, in `dir`:
/// (CA, server certificate, server key) paths.
fn private_ca(dir: &std::path::Path) -> (String, String, String) {
    let d = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        common::succeeded(&out);
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        &d("ca.key"),
        "-out",
        &d("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &d("server.key"),
        "-out",
        &d("server.csr"),
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &d("server.csr"),
        "-CA",
        &d("ca.pem"),
        "-CAkey",
        &d("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &d("ext.cnf"),
        "-out",
        &d("server.pem"),
    ]);
    (d("ca.pem"), d("server.pem"), d("server.key"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_over_tls_with_a_private_ca() {
    use pipeline::config::NatsAuth;
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(dir.path());
    let server = NatsServer::start_with(&["--tls", "--tlscert", &cert, "--tlskey", &key]);
    let url = format!("tls://127.0.0.1:{}", server.port);
    let probe = async_nats::ConnectOptions::new()
        .add_root_certificates(ca.clone().into())
        .require_tls(true)
        .connect(&url)
        .await
        .unwrap();
    let auth = NatsAuth {
        tls_ca_file: Some(ca.into()),
        ..Default::default()
    };
    translate_once(&url, auth, &probe).await;
    // Without the CA the server's certificate is not trusted.
    let err = pipeline::service::connect(&url, false).await.err();
    assert!(err.is_some(), "connected over TLS without trusting the CA");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_waits_for_an_unreachable_broker_and_says_so() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    // A port with no server yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    // Stopped before any server came, it has nothing to drain or flush:
    // a clean stop (it waited 5 s for a round trip, then 5 s for a flush,
    // and exited 1 with "flush on shutdown").
    let mut child = super::processes::spawn_serve(&url, &[]);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = Vec::new();
    while let Some(l) = lines.next_line().await.unwrap() {
        let waiting = l.contains("NATS unreachable; retrying");
        said.push(l);
        if waiting {
            break;
        }
    }
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    while let Some(l) = lines.next_line().await.unwrap() {
        said.push(l);
    }
    let status = child.wait().await.unwrap();
    let said = said.join("\n");
    assert!(status.success(), "{said}");
    assert!(
        !said.contains("flush on shutdown") && !said.contains("may be lost"),
        "{said}"
    );
    // Once more, and this time a server comes.
    let mut child = super::processes::spawn_serve(&url, &[]);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let said = async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if l.contains("NATS unreachable; retrying") {
                return;
            }
        }
        panic!("serve exited");
    };
    tokio::time::timeout(Duration::from_secs(20), said)
        .await
        .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    // The server comes up on that port: the service connects and serves.
    let mut server = NatsServer::start();
    server.stop();
    server.port = port;
    server.restart();
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("translated.late").await.unwrap();
    client.flush().await.unwrap();
    wait_ready(&client).await;
    send_curve(&client, "late", 0..24).await;
    client.flush().await.unwrap();
    assert_eq!(collect(&mut sub, 1, translation).await[0].seq, 0);
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(status.unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

/// NATS JWTs signed with NKeys, as `nsc` writes them, for an operator-mode
/// server and a `.creds` file.
mod jwt {
    use data_encoding::BASE64URL_NOPAD as B64;

    pub fn encode(signer: &nkeys::KeyPair, subject: &str, nats: serde_json::Value) -> String {
        let header = B64.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let claims = serde_json::json!({
            "jti": format!("TEST{}", subject.get(..12).unwrap_or(subject)),
            "iat": 1_700_000_000,
            "iss": signer.public_key(),
            "name": "test",
            "sub": subject,
            "nats": nats,
        });
        let body = B64.encode(claims.to_string().as_bytes());
        let signature = signer.sign(format!("{header}.{body}").as_bytes()).unwrap();
        format!("{header}.{body}.{}", B64.encode(&signature))
    }

    /// An operator-mode server config trusting one account, and a `.creds`
    /// file for a user of that account.
    pub fn operator_setup() -> (String, String) {
        let operator = nkeys::KeyPair::new_operator();
        let account = nkeys::KeyPair::new_account();
        let user = nkeys::KeyPair::new_user();
        let op_jwt = encode(
            &operator,
            &operator.public_key(),
            serde_json::json!({"type": "operator", "version": 2}),
        );
        let unlimited = serde_json::json!({"subs": -1, "data": -1, "payload": -1, "imports": -1,
            "exports": -1, "wildcards": true, "conn": -1, "leaf": -1});
        let acc_jwt = encode(
            &operator,
            &account.public_key(),
            serde_json::json!({"limits": unlimited, "type": "account", "version": 2}),
        );
        // JetStream needs a system account.
        let system = nkeys::KeyPair::new_account();
        let sys_jwt = encode(
            &operator,
            &system.public_key(),
            serde_json::json!({"limits": unlimited, "type": "account", "version": 2}),
        );
        let user_jwt = encode(
            &account,
            &user.public_key(),
            serde_json::json!({"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                "type": "user", "version": 2}),
        );
        let (acc, sys) = (account.public_key(), system.public_key());
        let server = format!(
            "operator: {op_jwt}\nsystem_account: {sys}\nresolver: MEMORY\n\
             resolver_preload: {{\n  {acc}: {acc_jwt}\n  {sys}: {sys_jwt}\n}}\n"
        );
        let creds = format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().unwrap()
        );
        (server, creds)
    }
}

/// Every credential kind the `nats` CLI knows, from the command line: a
/// token, an NKey seed, a `.creds` file (JWT), and TLS with a private CA,
/// each by its `NATS_*` variable and by its flag, for `publish`; `tail`,
/// `bench` and `serve` with one each. Without them each server refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_credential_kind_works_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let user = nkeys::KeyPair::new_user();
    std::fs::write(path("user.nk"), user.seed().unwrap()).unwrap();
    std::fs::write(
        path("nkey.conf"),
        format!(
            "authorization {{ users = [ {{ nkey: {} }} ] }}\n",
            user.public_key()
        ),
    )
    .unwrap();
    let (operator_conf, creds) = jwt::operator_setup();
    std::fs::write(path("operator.conf"), operator_conf).unwrap();
    std::fs::write(path("user.creds"), creds).unwrap();
    let (ca, cert, key) = private_ca(dir.path());

    let token = NatsServer::start_with(&["--auth", "t0ken-secret"]);
    let nkey = NatsServer::start_with(&["-c", &path("nkey.conf")]);
    let jwt = NatsServer::start_with(&["-c", &path("operator.conf")]);
    let tls = NatsServer::start_with(&["--tls", "--tlscert", &cert, "--tlskey", &key]);
    let tls_url = format!("tls://127.0.0.1:{}", tls.port);

    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"));
        c.env("RUST_LOG", "warn").env_remove("NATS_URL");
        c.env("XDG_CONFIG_HOME", "/nonexistent");
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let publish = ["publish", "--count", "2", "--rate", "0", "--stream", "a"];
    let ok = |out: std::process::Output, what: &str| {
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{what}: {err}");
        err
    };
    let cases: [(&str, &str, &str, &str); 4] = [
        (&token.url(), "NATS_TOKEN", "--token", "t0ken-secret"),
        (&nkey.url(), "NATS_NKEY", "--nkey", &path("user.nk")),
        (&jwt.url(), "NATS_CREDS", "--creds", &path("user.creds")),
        (&tls_url, "NATS_CA", "--tlsca", &ca),
    ];
    for (url, var, flag, value) in cases {
        let by_var = run(&publish, &[("NATS_URL", url), (var, value)]);
        let err = ok(by_var, &format!("publish with {var}"));
        assert!(!err.contains("t0ken-secret"), "{err}");
        let mut with_flag = publish.to_vec();
        with_flag.extend(["--server", url, flag, value]);
        ok(run(&with_flag, &[]), &format!("publish with {flag}"));
        let mut bare = publish.to_vec();
        bare.extend(["--server", url]);
        assert!(
            !run(&bare, &[]).status.success(),
            "{url} let publish in without {flag}"
        );
    }
    // tail (with a .creds file) connects and listens until its time is up.
    let out = run(
        &["tail", "--duration", "200ms", "--server", &jwt.url()],
        &[("NATS_CREDS", &path("user.creds"))],
    );
    ok(out, "tail with NATS_CREDS");
    // bench with an NKey: the whole path, a service and a publisher.
    let models = manifest().join("models");
    let out = run(
        &[
            "bench",
            "--server",
            &nkey.url(),
            "--nkey",
            &path("user.nk"),
            "--streams",
            "2",
            "--rate",
            "50",
            "--duration",
            "1s",
            "--json",
            "--models-dir",
            models.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "bench with --nkey: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["loss"], 0, "{report}");
    assert!(report["windows_received"].as_u64().unwrap() > 0, "{report}");
    // serve, given a .creds file by its variable, answers $SRV.PING there.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["serve", "--pair", "sin-cos", "--models-dir"])
        .arg(manifest().join("models"))
        .env("NATS_URL", jwt.url())
        .env("NATS_CREDS", path("user.creds"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let probe = async_nats::ConnectOptions::with_credentials_file(path("user.creds"))
        .await
        .unwrap()
        .connect(jwt.url())
        .await
        .unwrap();
    wait_ready(&probe).await;
    let _ = child.kill().await;
}
