//! Partitioned scale-out on a real 3-node nats-server cluster (core mode):
//! the servers partition `samples.*` into `part.P.*`; three `pipeline`
//! instances, one per node, each own one partition. Every window is produced
//! exactly once, each stream by one instance; when a node dies, its
//! instance reconnects to another node and carries on.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use pipeline::config::{Partitions, RouteConfig, ServeConfig};
use pipeline::stats::Stats;
use pipeline::wire::{SamplesOut, Translation};

const PARTITIONS: u32 = 3;

struct Node {
    child: Child,
    client_port: u16,
    http_port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn monitor(http: u16, path: &str) -> Option<serde_json::Value> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()
}

fn routez(http: u16) -> Option<u64> {
    monitor(http, "/routez")?["num_routes"].as_u64()
}

/// Waits until node `http` sees interest in every partition (the instances'
/// subscriptions have crossed the cluster's routes).
async fn wait_for_partitions(http: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = (0..PARTITIONS).all(|p| {
            monitor(http, &format!("/subsz?test=part.{p}.probe"))
                .and_then(|v| v["num_matches"].as_u64())
                .is_some_and(|n| n >= 1)
        });
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "partitions never all had a subscriber"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Three clustered nodes with the partition mapping.
fn cluster(dir: &std::path::Path) -> Vec<Node> {
    let client: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let route: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let http: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let routes: Vec<String> = route
        .iter()
        .map(|p| format!("nats-route://127.0.0.1:{p}"))
        .collect();
    let nodes: Vec<Node> = (0..3)
        .map(|i| {
            let conf = format!(
                "listen: 127.0.0.1:{}\nserver_name: n{i}\nhttp: 127.0.0.1:{}\n\
                 jetstream {{ store_dir: \"{}\" }}\n\
                 cluster {{ name: pipeline, listen: 127.0.0.1:{}, routes: [{}] }}\n\
                 mappings = {{ \"samples.*\": \"part.{{{{partition({PARTITIONS},1)}}}}.{{{{wildcard(1)}}}}\" }}\n",
                client[i],
                http[i],
                dir.join(format!("js{i}")).display(),
                route[i],
                routes.join(", ")
            );
            let path = dir.join(format!("n{i}.conf"));
            std::fs::write(&path, conf).unwrap();
            let child = Command::new(common::nats::binary())
                .arg("-c")
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
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
    while !http.iter().all(|p| routez(*p).is_some_and(|n| n >= 2)) {
        assert!(Instant::now() < deadline, "cluster did not form");
        std::thread::sleep(Duration::from_millis(100));
    }
    nodes
}

fn input_at(seq: u64, stream: u64) -> f32 {
    let p = pipeline::pairs::find("sin-cos").unwrap();
    (p.input)(p.stream_x(seq + stream)) as f32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_a_cluster_serve_each_stream_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path());
    let url = |i: usize| format!("nats://127.0.0.1:{}", nodes[i].client_port);

    // One instance per node and partition. Each gets its own copy of the
    // model (other metadata, same weights), so its id names the instance.
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let bytes = std::fs::read(models.join("sin-cos.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut instances = Vec::new();
    let mut ids = Vec::new();
    for i in 0..3u32 {
        let mut meta = header.metadata().clone().unwrap();
        meta.insert("created".into(), format!("instance-{i}"));
        let path = dir.path().join(format!("m{i}.safetensors"));
        std::fs::write(
            &path,
            safetensors::serialize(st.tensors(), Some(meta)).unwrap(),
        )
        .unwrap();
        ids.push(pipeline::format::load(&path, None).unwrap().id);
        let mut cfg = ServeConfig::with_routes(vec![RouteConfig {
            pair: "sin-cos".into(),
            model: Some(path),
            input: "part.{partition}.>".into(),
            output: "translated".into(),
            stride: 1,
            window: None,
        }]);
        cfg.partitions = Some(Partitions {
            count: PARTITIONS,
            owned: vec![i],
        });
        cfg.service = false;
        let conn = pipeline::service::connect(&url(i as usize), false)
            .await
            .unwrap();
        let stats = Arc::new(Stats::default());
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(pipeline::service::run(conn, cfg, stats.clone(), async {
            let _ = rx.await;
        }));
        instances.push((stop, task, stats));
    }
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 3);

    let publisher = async_nats::connect(url(0)).await.unwrap();
    let watcher = async_nats::connect(url(2)).await.unwrap();
    let mut sub = watcher.subscribe("translated.>").await.unwrap();
    watcher.flush().await.unwrap();
    let streams = 300u64;
    let publish = |from: u64, to: u64| {
        let publisher = publisher.clone();
        async move {
            for seq in from..to {
                for s in 0..streams {
                    let msg = SamplesOut {
                        seq,
                        value: Some(input_at(seq, s)),
                        values: None,
                        ts: None,
                    };
                    publisher
                        .publish(format!("samples.s{s}"), msg.encode().into())
                        .await
                        .unwrap();
                }
            }
            publisher.flush().await.unwrap();
        }
    };
    // Interest crosses the cluster's routes asynchronously.
    let http0 = nodes[0].http_port;
    wait_for_partitions(http0).await;
    publish(0, 30).await;
    let expected = (streams * 7) as usize;
    let mut got: Vec<Translation> = Vec::new();
    while got.len() < expected {
        match tokio::time::timeout(Duration::from_secs(15), sub.next()).await {
            Ok(Some(m)) => got.push(Translation::decode(&m.payload).unwrap()),
            _ => panic!(
                "{} of {expected} windows; messages in per instance: {:?}",
                got.len(),
                instances
                    .iter()
                    .map(|i| i.2.snapshot().messages_in)
                    .collect::<Vec<_>>()
            ),
        }
    }
    let check = |got: &[Translation], per_stream: usize| -> HashMap<String, String> {
        let mut seen = HashSet::new();
        let mut owner: HashMap<String, String> = HashMap::new();
        for t in got {
            assert!(
                seen.insert((t.stream.clone(), t.seq)),
                "duplicate {} {}",
                t.stream,
                t.seq
            );
            let o = owner
                .entry(t.stream.clone())
                .or_insert_with(|| t.model.clone());
            assert_eq!(o, &t.model, "stream {} served by two instances", t.stream);
        }
        assert_eq!(owner.len(), streams as usize);
        let mut per: HashMap<&String, usize> = HashMap::new();
        for t in got {
            *per.entry(&t.stream).or_default() += 1;
        }
        assert!(
            per.values().all(|n| *n == per_stream),
            "a stream is missing windows"
        );
        owner
    };
    let owner = check(&got, 7);
    let used: HashSet<&String> = owner.values().collect();
    assert_eq!(used.len(), 3, "every instance serves some streams");
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), sub.next()).await {
        panic!("an extra window: {:?}", Translation::decode(&m.payload));
    }

    // Node 1 dies: its instance reconnects to another node and carries on.
    drop(nodes.remove(1));
    let deadline = Instant::now() + Duration::from_secs(20);
    while instances[1]
        .2
        .reconnects
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(Instant::now() < deadline, "instance 1 did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_partitions(http0).await;
    publish(30, 40).await;
    let expected = (streams * 10) as usize;
    let mut more = Vec::new();
    while more.len() < expected {
        match tokio::time::timeout(Duration::from_secs(15), sub.next()).await {
            Ok(Some(m)) => more.push(Translation::decode(&m.payload).unwrap()),
            _ => panic!("after the node died: {} of {expected} windows", more.len()),
        }
    }
    let after = check(&more, 10);
    assert_eq!(after, owner, "streams keep their instance");
    for (stop, task, _) in instances {
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }
}
