//! Everything in `deploy/` that can be checked here is: nats-server configs
//! pass `nats-server -t`, the cluster configs form a cluster, and every
//! pipeline config parses with the service's own loader.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use pipeline::config::ServeConfig;

fn deploy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

#[test]
fn nats_server_configs_are_valid() {
    let dir = deploy().join("nats");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("conf") {
            continue;
        }
        let out = Command::new(common::nats::binary())
            .arg("-t")
            .arg("-c")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        n += 1;
    }
    assert_eq!(n, 5, "single, partitioned, and 3 cluster nodes");
}

#[test]
fn the_cluster_configs_form_a_cluster() {
    // Same configs, with free ports and temp stores so tests do not collide;
    // `start` waits until every node routes to both others.
    let tmp = tempfile::tempdir().unwrap();
    let nodes = common::cluster::start(tmp.path(), |i, ports| {
        let node = ["a", "b", "c"][i];
        let mut conf =
            std::fs::read_to_string(deploy().join(format!("nats/cluster-{node}.conf"))).unwrap();
        for (old, new) in [(4222, ports.client), (8222, ports.http)] {
            conf = conf.replace(
                &format!("127.0.0.1:{}", old + i as u16),
                &format!("127.0.0.1:{new}"),
            );
        }
        for (k, port) in ports.routes.iter().enumerate() {
            conf = conf.replace(&format!(":{}", 6222 + k), &format!(":{port}"));
        }
        conf.replace(
            &format!("/tmp/pipeline-nats-{node}"),
            ports.store.to_str().unwrap(),
        )
    });
    assert_eq!(nodes.len(), 3);
}

/// The TOML block of a Kubernetes ConfigMap (`pipeline.toml: |`).
fn configmap_toml(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("pipeline.toml: |").unwrap();
    text[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn pipeline_configs_parse() {
    ServeConfig::load(&deploy().join("pipeline.toml")).unwrap();
    let k8s = deploy().join("k8s/configmap.yaml");
    let c = ServeConfig::from_toml(&configmap_toml(&k8s), &k8s).unwrap();
    assert_eq!(c.metrics_addr.as_deref(), Some("0.0.0.0:9464"));
    // The probes and the scrape annotation use the port the config serves.
    let sts = std::fs::read_to_string(deploy().join("k8s/statefulset.yaml")).unwrap();
    assert!(sts.contains("containerPort: 9464") && sts.contains("path: /readyz"));
    assert_eq!(c.durable.as_ref().map(|d| d.replicas), Some(3));
    // The pods' partition count is the config's, and there is one pod per partition.
    let count = c.partitions.as_ref().unwrap().count;
    assert!(
        sts.contains(&format!("--partitions {count}"))
            && sts.contains(&format!("replicas: {count}"))
    );
}

/// The commented `[durable]` block of the example config, uncommented,
/// parses and documents the real defaults.
#[test]
fn the_example_durable_block_shows_the_defaults() {
    let text = std::fs::read_to_string(deploy().join("pipeline.toml")).unwrap();
    let block: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "# [durable]")
        .take_while(|l| l.starts_with("# "))
        .map(|l| &l[2..])
        .collect();
    assert!(block.len() > 5, "no [durable] block in pipeline.toml");
    let toml = format!("{}\n[[route]]\npair = \"sin-cos\"\n", block.join("\n"));
    let c = ServeConfig::from_toml(&toml, Path::new("pipeline.toml")).unwrap();
    let mut d = c.durable.unwrap();
    assert_eq!(d.instance.take().as_deref(), Some("pipeline-0"));
    assert_eq!(d.dead_letter_stream.take().as_deref(), Some("DEADLETTER"));
    assert_eq!(d, pipeline::config::DurableConfig::default());
}

/// Every `pipeline_*` name in `text` (histogram series named by their base).
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("pipeline_") {
        let start = i + at;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &text[start..end];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.insert(base.to_string());
        i = end;
    }
    names
}

/// The Grafana dashboard and the alert rules query only metrics the service
/// exports (rendered here with a route that has a shadow and a truth channel,
/// and a durable unit).
#[test]
fn the_dashboard_and_alerts_name_only_exported_metrics() {
    let stats = pipeline::stats::Stats::default();
    stats.unit("p.p0", Some(pipeline::stats::UnitState::Retrying));
    let mut route = pipeline::stats::RouteInfo {
        pair: "p".into(),
        model: "m".into(),
        shadow: Some("s".into()),
        ..Default::default()
    };
    route.compare.shadow_vs_live.add(&[1.0], &[0.0]);
    route.compare.live_vs_truth.add(&[1.0], &[0.0]);
    route.compare.shadow_vs_truth.add(&[1.0], &[0.0]);
    let exported = metric_names(&stats.render_prometheus(&[route]));
    assert!(
        exported.contains("pipeline_end_to_end_seconds"),
        "{exported:?}"
    );

    let dashboard =
        std::fs::read_to_string(deploy().join("grafana/pipeline-dashboard.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let panels = json["panels"].as_array().unwrap();
    assert!(panels.len() >= 8);
    for p in panels {
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| e.contains("pipeline_")),
                "{t}"
            );
        }
    }
    let alerts = std::fs::read_to_string(deploy().join("prometheus/alerts.yml")).unwrap();
    for (what, text) in [("dashboard", &dashboard), ("alerts", &alerts)] {
        let used = metric_names(text);
        assert!(used.len() >= 5, "{what}: {used:?}");
        let unknown: Vec<_> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{what} names metrics the service does not export: {unknown:?}"
        );
    }
    assert_eq!(
        alerts.matches("- alert:").count(),
        alerts.matches("expr:").count()
    );
}
