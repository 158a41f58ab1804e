use std::time::Duration;

use super::*;

/// A route's histograms, read as `/metrics` reads them.
fn route_of(pair: &str, c: &super::super::RouteCounters) -> RouteInfo {
    RouteInfo {
        pair: pair.into(),
        histograms: c.read_histograms(),
        ..Default::default()
    }
}

#[test]
fn histogram_buckets_are_cumulative_in_the_text_form() {
    let s = Stats::default();
    let c = super::super::RouteCounters::default();
    for v in [0.5, 2.0, 3.0, 100.0] {
        c.batch_size.observe(v);
    }
    let out = s.render_prometheus(&[route_of("p", &c)]);
    for line in [
        "pipeline_batch_size_bucket{pair=\"p\",le=\"1\"} 1\n",
        "pipeline_batch_size_bucket{pair=\"p\",le=\"4\"} 3\n",
        "pipeline_batch_size_bucket{pair=\"p\",le=\"+Inf\"} 4\n",
        "pipeline_batch_size_sum{pair=\"p\"} 105.5\n",
        "pipeline_batch_size_count{pair=\"p\"} 4\n",
    ] {
        assert!(out.contains(line), "{line} missing from {out}");
    }
}

/// The queue histogram counts windows (each its own wait), the compute
/// and batch-size histograms count batches; each route's histograms
/// carry its pair and only its own batches.
#[test]
fn queue_waits_are_observed_per_window_and_per_route() {
    let s = Stats::default();
    let (a, b) = (
        super::super::RouteCounters::default(),
        super::super::RouteCounters::default(),
    );
    let waits = [1e-4, 2e-4, 3e-3].map(Duration::from_secs_f64);
    s.batch(&a, waits.into_iter(), Duration::from_micros(50));
    s.batch(&b, [Duration::ZERO].into_iter(), Duration::from_micros(50));
    let text = s.render_prometheus(&[route_of("a", &a), route_of("b", &b)]);
    for line in [
        "pipeline_queue_seconds_count{pair=\"a\"} 3\n",
        "pipeline_compute_seconds_count{pair=\"a\"} 1\n",
        "pipeline_batch_size_count{pair=\"a\"} 1\n",
        "pipeline_queue_seconds_count{pair=\"b\"} 1\n",
    ] {
        assert!(text.contains(line), "{line} missing from {text}");
    }
    assert!((s.snapshot().mean_queue_us - 3.3e3 / 4.0).abs() < 1e-6);
}

#[test]
fn prometheus_text_has_every_error_kind() {
    let s = Stats::default();
    s.error(ErrorKind::Gap);
    let mut route = RouteInfo {
        pair: "sin-cos".into(),
        model: "abc".into(),
        shadow: Some("def".into()),
        errors: super::super::RouteCounters::default().read_errors(),
        ..Default::default()
    };
    route.compare.shadow_vs_live.add(&[1.0, 2.0], &[1.0, 0.0]);
    route.compare.shadow_published = 7;
    route.input_off_rate = 5;
    route.input_unstamped = 3;
    route.input_too_fast = 48;
    route.compare.deviations = 4;
    route.compare.deviating = 2;
    route.compare.deviating_streams = vec![("R12".into(), 4.75), ("R20".into(), -3.5)];
    let text = s.render_prometheus(&[route]);
    assert!(
        text.contains(
            "# TYPE pipeline_stream_deviation gauge\n\
             pipeline_stream_deviation{pair=\"sin-cos\",stream=\"R12\"} 4.75\n\
             pipeline_stream_deviation{pair=\"sin-cos\",stream=\"R20\"} -3.5\n"
        ),
        "{text}"
    );
    assert!(text.contains("pipeline_input_off_rate_total{pair=\"sin-cos\"} 5\n"));
    assert!(text.contains("pipeline_deviations_total{pair=\"sin-cos\"} 4\n"));
    assert!(text.contains(
        "# TYPE pipeline_streams_deviating gauge\npipeline_streams_deviating{pair=\"sin-cos\"} 2\n"
    ));
    assert!(text.contains("pipeline_input_too_fast_total{pair=\"sin-cos\"} 48\n"));
    assert!(
        text.contains("pipeline_input_unstamped_total{pair=\"sin-cos\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE pipeline_errors_total counter\n"),
        "{text}"
    );
    assert!(
        text.contains("pipeline_errors_total{kind=\"gap\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("pipeline_errors_total{kind=\"malformed\"} 0\n"));
    // Per route, every kind (the route here counted none).
    assert!(
        text.contains("pipeline_route_errors_total{pair=\"sin-cos\",kind=\"gap\"} 0\n"),
        "{text}"
    );
    assert!(text.contains("pipeline_model_info{pair=\"sin-cos\",model=\"abc\",role=\"live\"} 1"));
    assert!(text.contains("pipeline_model_info{pair=\"sin-cos\",model=\"def\",role=\"shadow\"} 1"));
    assert!(
        text.contains("pipeline_shadow_mse{pair=\"sin-cos\"} 2"),
        "{text}"
    );
    assert!(text.contains("pipeline_shadow_windows_total{pair=\"sin-cos\"} 7\n"));
    assert!(
        !text.contains("pipeline_truth_mse{"),
        "no truth compared yet"
    );
    assert!(
        !text.contains("pipeline_truth_values_total{"),
        "none scored: no series"
    );
    // The truth MSE's parts, as counters a dashboard takes any range of.
    let mut scored = RouteInfo {
        pair: "sin-cos".into(),
        ..Default::default()
    };
    scored
        .compare
        .live_vs_truth
        .add(&[1.0, 2.0, 3.0], &[1.0, 0.0, 0.0]);
    // (Since start: a model change resets the running mean, not these.)
    scored.compare.live_vs_truth_total = scored.compare.live_vs_truth;
    scored.compare.live_vs_truth = Default::default();
    scored.model_windows = vec![("aaa".into(), 3605), ("bbb".into(), 2206)];
    let text = s.render_prometheus(&[scored]);
    assert!(
        text.contains(
            "# TYPE pipeline_truth_squared_error_total counter\n\
             pipeline_truth_squared_error_total{pair=\"sin-cos\",role=\"live\"} 13.0\n"
        ) && text.contains("pipeline_truth_values_total{pair=\"sin-cos\",role=\"live\"} 3\n"),
        "{text}"
    );
    // Windows by the live model that translated them.
    assert!(
        text.contains(
            "pipeline_model_windows_total{pair=\"sin-cos\",model=\"aaa\"} 3605\n\
             pipeline_model_windows_total{pair=\"sin-cos\",model=\"bbb\"} 2206\n"
        ),
        "{text}"
    );
    assert!(
        !text.contains("pipeline_route_max_gap_seconds{"),
        "a route that never splits has no series"
    );
    let gaps = RouteInfo {
        pair: "meter".into(),
        max_gap_s: Some(2700.0),
        resample_s: Some(60.0),
        ..Default::default()
    };
    let with_gaps = s.render_prometheus(&[gaps]);
    assert!(
        with_gaps.contains("pipeline_route_max_gap_seconds{pair=\"meter\"} 2700")
            && with_gaps.contains("pipeline_route_resample_seconds{pair=\"meter\"} 60"),
        "{with_gaps}"
    );
    assert!(!text.contains("pipeline_route_resample_seconds{"), "{text}");
    assert!(!text.contains("# EOF"), "{text}");
    // The connection to NATS, as the client's events last said.
    assert!(text.contains("\npipeline_nats_connected 1\n"), "{text}");
    s.nats_disconnected.store(true, Relaxed);
    let text = s.render_prometheus(&[]);
    assert!(text.contains("\npipeline_nats_connected 0\n"), "{text}");
}

/// A durable unit's lag is a gauge labelled by unit; it goes when the
/// unit stops.
#[test]
fn consumer_lag_per_unit() {
    let s = Stats::default();
    s.unit("sin-cos.p1", Some(UnitState::Owning));
    s.unit_pending("sin-cos.p1").store(42, Relaxed);
    let text = s.render_prometheus(&[]);
    assert!(
        text.contains("pipeline_durable_consumer_pending{unit=\"sin-cos.p1\"} 42\n"),
        "{text}"
    );
    s.unit("sin-cos.p1", None);
    assert!(!s.render_prometheus(&[]).contains("unit=\"sin-cos.p1\""));
}

/// OpenMetrics when asked: the same series, units declared, `# EOF` last.
#[test]
fn openmetrics_when_the_scraper_asks() {
    let format = MetricsFormat::from_accept(
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    );
    assert_eq!(format, MetricsFormat::OpenMetrics);
    let s = Stats::default();
    s.windows_out.fetch_add(3, Relaxed);
    let text = s.render(&[], format);
    assert!(text.contains("pipeline_windows_out_total 3\n"), "{text}");
    // Two builds of one version are told apart by their commit.
    let revision = format!("revision=\"{}\"", crate::REVISION);
    assert!(
        text.contains(&revision) && !crate::REVISION.is_empty(),
        "{text}"
    );
    assert!(
        text.contains("# UNIT pipeline_queue_seconds seconds\n"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(MetricsFormat::from_accept("*/*"), MetricsFormat::Prometheus);
}

/// The process metrics every client library exports, read from /proc.
#[cfg(target_os = "linux")]
#[test]
fn process_metrics_are_exported() {
    let text = Stats::default().render_prometheus(&[]);
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} missing in {text}"))
    };
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("process_open_fds") >= 3.0);
    assert!(value("process_threads") >= 1.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let started = value("process_start_time_seconds");
    assert!(
        started <= now + 1.0 && started > now - 3600.0,
        "{started} vs {now}"
    );
    assert!(text.contains("process_cpu_seconds_total "), "{text}");
}
