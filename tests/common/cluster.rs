//! A real 3-node `nats-server` cluster for tests, on free ports, killed on
//! drop. A route needs its peers' ports before they start, so the ports are
//! picked up front (free when picked, but another process may take one
//! before its node binds it): a node that cannot bind, or a cluster whose
//! routes do not form, is started again on fresh ports.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The ports of one node, and of every node's route listener.
pub struct Ports {
    pub client: u16,
    pub http: u16,
    pub route: u16,
    /// Every node's route port, this node's included.
    pub routes: Vec<u16>,
    /// A JetStream store folder of this node's own, fresh on every attempt.
    pub store: PathBuf,
}

pub struct Node {
    child: Child,
    pub client_port: u16,
    pub http_port: u16,
}

impl Node {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` distinct free ports. The listeners are all held until every port is
/// picked: one at a time, the system may hand out a port just released.
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// A monitoring endpoint's JSON, if the node answers.
pub fn monitor(http: u16, path: &str) -> Option<serde_json::Value> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()
}

/// Distinct peers this node has a route to (with route pooling a peer has
/// several route connections, so `num_routes` alone overcounts).
pub fn routed_peers(http: u16) -> Option<usize> {
    let v = monitor(http, "/routez")?;
    let peers: HashSet<&str> = v["routes"]
        .as_array()?
        .iter()
        .filter_map(|r| r["remote_id"].as_str())
        .collect();
    Some(peers.len())
}

/// Starts three nodes, node `i` from the config `conf(i, ports)` returns,
/// and waits until each routes to both others. Node `i`'s config and log
/// are `n{i}.conf` and `n{i}.log` in `dir`.
pub fn start(dir: &Path, conf: impl Fn(usize, &Ports) -> String) -> Vec<Node> {
    const ATTEMPTS: usize = 4;
    let mut failures = Vec::new();
    for attempt in 0..ATTEMPTS {
        match try_start(dir, attempt, &conf) {
            Ok(nodes) => return nodes,
            Err(logs) => failures.push(logs),
        }
    }
    panic!(
        "the cluster did not form in {ATTEMPTS} attempts\n{}",
        failures.join("\n")
    );
}

fn try_start(
    dir: &Path,
    attempt: usize,
    conf: &impl Fn(usize, &Ports) -> String,
) -> Result<Vec<Node>, String> {
    let ports = free_ports(9);
    let (client, rest) = ports.split_at(3);
    let (route, http) = rest.split_at(3);
    let mut nodes: Vec<Node> = (0..3)
        .map(|i| {
            let text = conf(
                i,
                &Ports {
                    client: client[i],
                    http: http[i],
                    route: route[i],
                    routes: route.to_vec(),
                    store: dir.join(format!("attempt-{attempt}/js{i}")),
                },
            );
            let path = dir.join(format!("n{i}.conf"));
            std::fs::write(&path, text).unwrap();
            let log = std::fs::File::create(dir.join(format!("n{i}.log"))).unwrap();
            let child = Command::new(super::nats::binary())
                .arg("-c")
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            Node {
                child,
                client_port: client[i],
                http_port: http[i],
            }
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if http
            .iter()
            .all(|p| routed_peers(*p).is_some_and(|n| n >= 2))
        {
            return Ok(nodes);
        }
        // A node that exited (a port taken under it) never joins.
        let exited = nodes
            .iter_mut()
            .any(|n| n.child.try_wait().ok().flatten().is_some());
        if exited || Instant::now() >= deadline {
            drop(nodes);
            let logs: Vec<String> = (0..3)
                .map(|i| {
                    let log = std::fs::read_to_string(dir.join(format!("n{i}.log")));
                    format!("--- n{i}:\n{}", log.unwrap_or_default())
                })
                .collect();
            return Err(logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
