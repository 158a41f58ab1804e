//! Partitioned scale-out on a real 3-node nats-server cluster (core mode):
//! the servers partition `samples.*` into `part.P.*`; three `pipeline`
//! instances, one per node, each own one partition. Every window is produced
//! exactly once, each stream by one instance; when a node dies, its
//! instance reconnects to another node and carries on.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::{Node, monitor, routed_peers};
use futures::StreamExt;
use pipeline::config::{Partitions, RouteConfig, ServeConfig};
use pipeline::stats::Stats;
use pipeline::wire::{SamplesOut, Translation};

const PARTITIONS: u32 = 3;

/// The cluster tests run one at a time: two 3-node clusters and six
/// instances at once overload a 2-core machine.
static CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

/// Waits until node `http` routes `subject` to at least one subscriber.
async fn wait_for_interest(http: u16, subject: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while monitor(http, &format!("/subsz?test={subject}"))
        .and_then(|v| v["num_matches"].as_u64())
        .is_none_or(|n| n == 0)
    {
        assert!(
            Instant::now() < deadline,
            "no interest in {subject} on a node"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Three clustered nodes with the partition mapping.
fn cluster(dir: &std::path::Path) -> Vec<Node> {
    // One route connection per peer (`pool_size: -1`, no route pooling), so
    // a subscription's interest and the messages for it cross between two
    // nodes on the same connection: once a node shows the interest, what it
    // routes reaches the subscriber.
    common::cluster::start(dir, |i, ports| {
        let routes: Vec<String> = ports
            .routes
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        format!(
            "listen: 127.0.0.1:{}\nserver_name: n{i}\nhttp: 127.0.0.1:{}\n\
             jetstream {{ store_dir: \"{}\" }}\n\
             cluster {{ name: pipeline, listen: 127.0.0.1:{}, routes: [{}], pool_size: -1 }}\n\
             mappings = {{ \"samples.*\": \"part.{{{{partition({PARTITIONS},1)}}}}.{{{{wildcard(1)}}}}\" }}\n",
            ports.client,
            ports.http,
            ports.store.display(),
            ports.route,
            routes.join(", ")
        )
    })
}

/// One copy of the shipped model per instance (other metadata, same
/// weights), so a window's model id names the instance that made it.
/// `request`'s answer, retried for a while: after a node loss the cluster
/// is still settling, and a JetStream API request may time out (seen once
/// in `make test`).
async fn settled<T, E: std::fmt::Display, F: std::future::IntoFuture<Output = Result<T, E>>>(
    what: &str,
    mut request: impl FnMut() -> F,
) -> T {
    for _ in 0..10 {
        match request().await {
            Ok(v) => return v,
            Err(e) => eprintln!("{what}: {e}; retrying"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    match request().await {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Three copies of sin-cos whose ids tell them apart: a model's id is of
/// what it computes, so each has its output shifted by a negligible
/// `i`·1e-6 (no test here compares values).
fn model_copies(dir: &std::path::Path) -> Vec<(PathBuf, String)> {
    use pipeline::scaling::{Affine, ScaleMethod, Scaling};
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    (0..3)
        .map(|i| {
            let path = dir.join(format!("m{i}.safetensors"));
            let scaling = Scaling {
                method: ScaleMethod::Standard,
                input: Affine::IDENTITY,
                output: Affine {
                    center: f64::from(i) * 1e-6,
                    scale: 1.0,
                },
            };
            let id =
                pipeline::format::set_scaling(&models.join("sin-cos.safetensors"), &path, scaling)
                    .unwrap();
            (path, id)
        })
        .collect()
}

fn input_at(seq: u64, stream: u64) -> f32 {
    let p = pipeline::pairs::find("sin-cos").unwrap();
    (p.input)(p.stream_x(seq + stream)) as f32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_a_cluster_serve_each_stream_exactly_once() {
    let _one_at_a_time = CLUSTER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path());
    let url = |i: usize| format!("nats://127.0.0.1:{}", nodes[i].client_port);

    // One instance per node and partition. Each gets its own copy of the
    // model (see `model_copies`), so its id names the instance.
    let mut instances = Vec::new();
    let copies = model_copies(dir.path());
    let ids: Vec<String> = copies.iter().map(|c| c.1.clone()).collect();
    for (i, (path, _)) in (0u32..).zip(copies) {
        let mut cfg = ServeConfig::with_routes(vec![RouteConfig {
            model: Some(path),
            input: "part.{partition}.>".into(),
            ..common::service::route("sin-cos")
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
    // Interest crosses the cluster's routes asynchronously: the partitions'
    // on the publisher's node, the watcher's on the instances' nodes (core
    // NATS drops what no one is subscribed to yet).
    let http0 = nodes[0].http_port;
    wait_for_partitions(http0).await;
    for n in &nodes {
        wait_for_interest(n.http_port, "translated.probe").await;
    }
    publish(0, 30).await;
    let expected = (streams * 7) as usize;
    let mut got: Vec<Translation> = Vec::new();
    while got.len() < expected {
        match tokio::time::timeout(Duration::from_secs(15), sub.next()).await {
            Ok(Some(m)) => got.push(Translation::decode(&m.payload).unwrap()),
            _ => panic!(
                "{} of {expected} windows; per instance (messages in, windows out, errors, reconnects): {:?}; \
                 per node (routes, translated interest): {:?}",
                got.len(),
                instances
                    .iter()
                    .map(|i| {
                        let s = i.2.snapshot();
                        (
                            s.messages_in,
                            s.windows_out,
                            s.errors.values().sum::<u64>(),
                            s.reconnects,
                        )
                    })
                    .collect::<Vec<_>>(),
                nodes
                    .iter()
                    .map(|n| (
                        routed_peers(n.http_port),
                        monitor(n.http_port, "/subsz?test=translated.probe")
                            .and_then(|v| v["num_matches"].as_u64())
                    ))
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

/// A durable instance as a real process (so it can be `kill -9`ed).
struct Instance {
    child: Child,
}

impl Instance {
    fn start(urls: &str, model: &std::path::Path, partition: u32, log: &std::path::Path) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(["serve", "--pair", "sin-cos", "--no-service", "--durable"])
            .args(["--replicas", "3", "--checkpoint-interval", "50ms"])
            .args(["--partitions", &PARTITIONS.to_string()])
            .args(["--partition", &partition.to_string()])
            .args(["--instance", &format!("instance-{partition}")])
            .arg("--model")
            .arg(model)
            .args(["--nats", urls])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Instance { child }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Durable mode on the cluster: replicated streams, one consumer and one
/// checkpoint per partition. Instance 1 is `kill -9`ed and restarted, and
/// a nats-server node dies, while samples flow; every window is still
/// stored exactly once, each stream by one instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_partitions_survive_an_instance_kill_and_a_node_loss() {
    use async_nats::jetstream::{self, consumer, message::PublishMessage};
    let _one_at_a_time = CLUSTER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path());
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("nats://127.0.0.1:{}", n.client_port))
        .collect();
    let copies = model_copies(dir.path());
    let log = |i: usize, n: usize| dir.path().join(format!("instance-{i}-{n}.log"));
    // Each instance starts on its own node, with the others as fall-backs.
    let seeds = |i: usize| {
        let mut u = urls.clone();
        u.rotate_left(i);
        u.join(",")
    };
    let mut instances: Vec<Instance> = (0..3)
        .map(|i| Instance::start(&seeds(i), &copies[i].0, i as u32, &log(i, 0)))
        .collect();
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(
            urls.join(",")
                .split(',')
                .map(str::to_string)
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    let js = jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(30);
    while js.get_stream("TRANSLATED").await.is_err() {
        if Instant::now() > deadline {
            for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
                if e.file_name().to_string_lossy().ends_with(".log") {
                    eprintln!("{}", std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
            panic!("the streams were never created");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let streams = 300u64;
    let samples = 60u64;
    let publisher = {
        let js = js.clone();
        tokio::spawn(async move {
            for seq in 0..samples {
                let deadline = Instant::now() + Duration::from_secs(60);
                // Retry a round until stored (a node may be down); the
                // message ids make a retried sample harmless.
                loop {
                    let mut acks = Vec::new();
                    for s in 0..streams {
                        let body = SamplesOut {
                            seq,
                            value: Some(input_at(seq, s)),
                            values: None,
                            ts: None,
                        };
                        let msg = PublishMessage::build()
                            .payload(body.encode().into())
                            .message_id(format!("s{s}:{seq}"));
                        if let Ok(ack) = js.send_publish(format!("samples.s{s}"), msg).await {
                            acks.push(ack.into_future());
                        }
                    }
                    let stored = futures::future::join_all(acks).await;
                    if stored.len() == streams as usize && stored.iter().all(Result::is_ok) {
                        break;
                    }
                    assert!(Instant::now() < deadline, "cannot publish seq {seq}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };
    // kill -9 instance 1 once it has a checkpoint with samples in it (a
    // fixed wait let a slow start be killed before its first one, and the
    // restart then started afresh), and restart it: it resumes its
    // partition.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let head = match js.get_key_value("PIPELINE_CHECKPOINTS").await {
            Ok(kv) => kv.get("sin-cos.p1").await.ok().flatten(),
            Err(_) => None,
        };
        let seq = head
            .and_then(|b| rmp_serde::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["stream_seq"].as_u64());
        if seq.is_some_and(|s| s > 0) {
            break;
        }
        assert!(Instant::now() < deadline, "instance 1 wrote no checkpoint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let killed = std::mem::replace(
        &mut instances[1],
        Instance::start(&seeds(1), &copies[1].0, 1, &log(1, 1)),
    );
    drop(killed);
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Node 2 dies; its instance moves to another node.
    drop(nodes.remove(2));
    publisher.await.unwrap();

    let expected = streams * (samples - 23);
    let out = {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let n = match js.get_stream("TRANSLATED").await {
                Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
                Err(_) => 0,
            };
            if n >= expected {
                break;
            }
            let logs: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect();
            assert!(
                Instant::now() < deadline,
                "TRANSLATED holds {n} of {expected}\n{}",
                logs.join("\n---\n")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        settled("reading the output stream", || js.get_stream("TRANSLATED")).await
    };
    let info = settled("reading its state", || out.get_info()).await;
    assert_eq!(info.state.messages, expected, "late duplicates");
    let reader = settled("creating the reader", || {
        out.create_consumer(consumer::pull::OrderedConfig::default())
    })
    .await;
    let mut messages = reader.messages().await.unwrap();
    let ids: Vec<&String> = copies.iter().map(|c| &c.1).collect();
    let mut seen = HashSet::new();
    let mut owner: HashMap<String, String> = HashMap::new();
    for _ in 0..expected {
        let m = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let t = Translation::decode(&m.payload).unwrap();
        assert!(
            seen.insert((t.stream.clone(), t.seq)),
            "duplicate {} {}",
            t.stream,
            t.seq
        );
        assert!(ids.contains(&&t.model));
        let o = owner
            .entry(t.stream.clone())
            .or_insert_with(|| t.model.clone());
        assert_eq!(o, &t.model, "stream {} served by two instances", t.stream);
    }
    assert_eq!(owner.len(), streams as usize);
    let used: HashSet<&String> = owner.values().collect();
    assert_eq!(used.len(), 3, "every instance serves some streams");
    // The restarted instance resumed its partition from its checkpoint.
    let text = std::fs::read_to_string(log(1, 1)).unwrap();
    let resumed = text
        .lines()
        .find(|l| l.contains("resuming from checkpoint"));
    eprintln!("restarted instance 1: {resumed:?}");
    assert!(
        resumed.is_some_and(|l| l.contains("unit=sin-cos.p1")),
        "{text}"
    );
}
