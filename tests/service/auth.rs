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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_over_tls_with_a_private_ca() {
    use pipeline::config::NatsAuth;
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
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
        dir.path().join("ext.cnf"),
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
    let server = NatsServer::start_with(&[
        "--tls",
        "--tlscert",
        &d("server.pem"),
        "--tlskey",
        &d("server.key"),
    ]);
    let url = format!("tls://127.0.0.1:{}", server.port);
    let probe = async_nats::ConnectOptions::new()
        .add_root_certificates(d("ca.pem").into())
        .require_tls(true)
        .connect(&url)
        .await
        .unwrap();
    let auth = NatsAuth {
        tls_ca_file: Some(d("ca.pem").into()),
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
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["serve", "--pair", "sin-cos", "--nats", &url, "--models-dir"])
        .arg(manifest().join("models"))
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
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
