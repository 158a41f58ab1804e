//! A real `nats-server` for tests: free port, temp store, killed on drop
//! (after nats.rs's `nats-server` helper crate).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    store: tempfile::TempDir,
    extra: Vec<String>,
}

/// The server binary: `$PIPELINE_NATS_SERVER`, the project's `.venv` (where
/// `make test` installs it), or `nats-server` on PATH.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("PIPELINE_NATS_SERVER") {
        return PathBuf::from(p);
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/nats-server");
    if local.exists() {
        return local;
    }
    if let Some(p) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("nats-server"))
            .find(|p| p.exists())
    }) {
        return p;
    }
    panic!("nats-server not found: run `make test`, which installs it into .venv/");
}

impl NatsServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts with extra command-line arguments.
    pub fn start_with(extra: &[&str]) -> Self {
        let store = tempfile::tempdir().unwrap();
        let mut s = NatsServer {
            child: None,
            port: 0,
            store,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.spawn(None);
        s
    }

    fn spawn(&mut self, port: Option<u16>) {
        let ports_dir = self.store.path().join("ports");
        std::fs::create_dir_all(&ports_dir).unwrap();
        let port_arg = port.map_or("-1".to_string(), |p| p.to_string());
        let child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
            .arg(self.store.path().join("js"))
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let ports_file = ports_dir.join(format!("nats-server_{}.ports", child.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        self.port = loop {
            if let Ok(text) = std::fs::read_to_string(&ports_file)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                && let Some(url) = v["nats"][0].as_str()
                && let Some(p) = url.rsplit(':').next().and_then(|p| p.parse().ok())
            {
                break p;
            }
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        };
        // Ready when it accepts connections.
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server not accepting");
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
    }

    /// Publishes `body` on a subject given as raw bytes, over the plain
    /// protocol (official clients refuse a subject that is not UTF-8, so
    /// only a raw connection can send one), and waits for the server's PONG.
    pub fn publish_raw(&self, subject: &[u8], body: &[u8]) {
        use std::io::{Read, Write};
        let mut raw = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut info = [0u8; 4096];
        let _ = raw.read(&mut info).unwrap();
        let mut wire = b"CONNECT {\"verbose\":false}\r\nPUB ".to_vec();
        wire.extend_from_slice(subject);
        wire.extend_from_slice(format!(" {}\r\n", body.len()).as_bytes());
        wire.extend_from_slice(body);
        wire.extend_from_slice(b"\r\nPING\r\n");
        raw.write_all(&wire).unwrap();
        let mut pong = [0u8; 6];
        raw.read_exact(&mut pong).unwrap();
        assert_eq!(&pong, b"PONG\r\n");
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the server and starts a new one on the same port.
    pub fn restart(&mut self) {
        let port = self.port;
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.spawn(Some(port));
            if self.port == port {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "could not restart on port {port}"
            );
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
