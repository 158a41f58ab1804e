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

    /// Writes protocol operations as they are, on a connection of its own,
    /// and waits until the server has read them.
    pub fn send_raw(&self, ops: &[u8]) {
        let mut raw = RawConnection::open(self.port);
        raw.send(ops);
        raw.flush();
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

/// A plain-protocol connection, for what official clients refuse to send.
/// It subscribes to nothing, so the server only ever sends it PING and PONG.
pub struct RawConnection {
    stream: std::net::TcpStream,
    /// One reader for the connection's life: a fresh one per read could
    /// swallow a server PING that arrived behind a PONG.
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl RawConnection {
    pub fn open(port: u16) -> Self {
        use std::io::Write;
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut raw = Self { stream, reader };
        let info = raw.read_line();
        assert!(info.starts_with("INFO "), "{info}");
        raw.stream
            .write_all(b"CONNECT {\"verbose\":false,\"headers\":true}\r\n")
            .unwrap();
        raw
    }

    fn read_line(&mut self) -> String {
        use std::io::BufRead;
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    pub fn send(&mut self, ops: &[u8]) {
        use std::io::Write;
        self.stream.write_all(ops).unwrap();
    }

    /// A PING/PONG round trip: everything sent before it has been read (and
    /// routed) by the server. Answers the server's own PINGs on the way.
    pub fn flush(&mut self) {
        use std::io::Write;
        self.stream.write_all(b"PING\r\n").unwrap();
        loop {
            match self.read_line().as_str() {
                "PONG\r\n" => return,
                "PING\r\n" => self.stream.write_all(b"PONG\r\n").unwrap(),
                other => panic!("unexpected from the server: {other:?}"),
            }
        }
    }
}

/// One `PUB` (or, with a header block, `HPUB`) operation as raw bytes, so a
/// test can send what official clients refuse to: subjects that are not
/// UTF-8, header blocks that do not parse. `subject` goes on the line as it
/// is: "subject reply" gives the message a reply subject.
pub fn raw_pub(subject: &[u8], headers: Option<&[u8]>, body: &[u8]) -> Vec<u8> {
    let (verb, lengths) = match headers {
        None => ("PUB", body.len().to_string()),
        Some(h) => ("HPUB", format!("{} {}", h.len(), h.len() + body.len())),
    };
    let mut op = format!("{verb} ").into_bytes();
    op.extend_from_slice(subject);
    op.extend_from_slice(format!(" {lengths}\r\n").as_bytes());
    op.extend_from_slice(headers.unwrap_or_default());
    op.extend_from_slice(body);
    op.extend_from_slice(b"\r\n");
    op
}
