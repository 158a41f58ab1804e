//! `/metrics`: the counters in Prometheus' text format or OpenMetrics,
//! encoded by `prometheus-client` (names, escaping, `_total` suffixes,
//! histogram series). Each scrape reads the lock-free counters once into a
//! [`Scrape`] and hands that to the encoder as a collector.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::process::Process;
use super::{CompareSnapshot, ROUTE_HISTOGRAMS, RouteInfo, Running, Stats, UnitState};
use crate::wire::ErrorKind;

/// The two exposition formats a scraper may ask for (`Accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsFormat {
    /// `text/plain; version=0.0.4`, what Prometheus reads by default.
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl MetricsFormat {
    /// The format an `Accept` header asks for (Prometheus' text unless
    /// OpenMetrics is named).
    pub fn from_accept(accept: &str) -> Self {
        if accept.contains("application/openmetrics-text") {
            MetricsFormat::OpenMetrics
        } else {
            MetricsFormat::Prometheus
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            MetricsFormat::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            MetricsFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
        }
    }
}

impl Stats {
    /// The metrics in Prometheus' text format, with each route's models and
    /// comparisons.
    pub fn render_prometheus(&self, routes: &[RouteInfo]) -> String {
        self.render(routes, MetricsFormat::Prometheus)
    }

    pub fn render(&self, routes: &[RouteInfo], format: MetricsFormat) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape::read(self, routes)));
        let mut out = String::with_capacity(8192);
        let encoded = match format {
            MetricsFormat::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
            }
            MetricsFormat::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &registry)
            }
        };
        // Writing into a String cannot fail; the encoder only fails on
        // names it cannot write, which are all fixed here.
        if let Err(e) = encoded {
            tracing::warn!("metrics encoding: {e}");
        }
        out
    }
}

/// What one scrape reports, read once from [`Stats`].
#[derive(Debug)]
struct Scrape {
    /// (name without `_total`, help, value).
    counters: Vec<(&'static str, &'static str, u64)>,
    errors: Vec<(&'static str, u64)>,
    streams_active: u64,
    /// What `/healthz` says now.
    healthy: bool,
    nats_connected: bool,
    units: Vec<(String, UnitState)>,
    pending: std::collections::BTreeMap<String, u64>,
    routes: Vec<RouteInfo>,
    process: Option<Process>,
}

impl Scrape {
    fn read(s: &Stats, routes: &[RouteInfo]) -> Self {
        // Every counter is `pipeline_<field>`: one line each, name and help.
        macro_rules! counters {
            ($($field:ident: $help:literal,)*) => {
                vec![$((concat!("pipeline_", stringify!($field)), $help, s.$field.load(Relaxed))),*]
            };
        }
        let counters = counters! {
            messages_in: "Sample messages received.",
            samples_in: "Samples accepted into windows.",
            samples_skipped: "Samples never received: the seq numbers gaps skipped (a gap from 5 to 9 counts 4). What a slow consumer dropped shows here (its events count drops, not samples), as do rows a publisher left out and a sender that restarted at a later seq (one gap counts at most 1,048,576).",
            windows_out: "Translations published.",
            windows_shed: "Core mode: windows not translated because the route could not keep up (its queue to the model full and its subscription's buffer 7/8 full). Shedding whole windows keeps every stream's samples, so the windows after are complete; the client dropping samples instead would cost each stream a window's length of outputs.",
            batches: "Model calls.",
            requests: "pipeline.translate requests.",
            publish_failures: "Translations or events that could not be published (core mode: lost; durable mode: published again after the unit resumes from its checkpoint).",
            reconnects: "Reconnections to NATS.",
            streams_evicted: "Idle streams forgotten.",
            checkpoints: "Durable mode: window checkpoints written.",
            durable_restarts: "Durable mode: resumptions from the last checkpoint after an error.",
            duplicates: "Durable mode: replayed outputs the output stream already held (with fast-ingest batches, whole batches only).",
            durable_takeovers: "Durable mode: units taken over from another instance (released by a graceful stop, or after a lease without its checkpoints).",
            model_changes: "Models swapped in or out by reload, shadow, promote and rollback requests and SIGHUP, per route changed.",
            model_changes_refused: "Reload, shadow, promote and rollback requests and SIGHUPs refused (a bad model file, another channel, no shadow, nothing to roll back to): the models serving are unchanged.",
        };
        Scrape {
            counters,
            errors: ErrorKind::ALL
                .iter()
                .map(|k| (k.as_str(), s.errors_of(*k)))
                .collect(),
            streams_active: s.streams_active.load(Relaxed),
            healthy: s.health(super::STALL).is_ok(),
            nats_connected: !s.nats_disconnected.load(Relaxed),
            units: s.unit_states(),
            pending: s.pending(),
            routes: routes.to_vec(),
            process: Process::read(),
        }
    }
}

fn counter(m: &mut MetricEncoder, v: u64) -> fmt::Result {
    m.encode_counter::<NoLabelSet, _, u64>(&v, None)
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        for (name, help, v) in &self.counters {
            counter(
                &mut enc.encode_descriptor(name, help, None, MetricType::Counter)?,
                *v,
            )?;
        }
        let mut m = enc.encode_descriptor(
            "pipeline_errors",
            "Error events by kind.",
            None,
            MetricType::Counter,
        )?;
        for (kind, v) in &self.errors {
            counter(&mut m.encode_family(&[("kind", *kind)])?, *v)?;
        }
        enc.encode_descriptor(
            "pipeline_streams_active",
            "Streams with a live window.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&self.streams_active)?;
        // For alerts: a stuck compute thread or a dead task stops the
        // counters an alert would watch (ingest waits on a full queue).
        enc.encode_descriptor(
            "pipeline_healthy",
            "1 while /healthz passes: no compute thread stuck on one batch, no task panicked.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&u64::from(self.healthy))?;
        // An outage stops the counters the other alerts watch.
        enc.encode_descriptor(
            "pipeline_nats_connected",
            "1 while the client is connected to a NATS server (0: lost, reconnecting).",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&u64::from(self.nats_connected))?;
        let build = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", crate::REVISION),
            ("kernel", crate::fast::kernel_name()),
        ];
        enc.encode_descriptor(
            "pipeline_build_info",
            "The running build.",
            None,
            MetricType::Gauge,
        )?
        .encode_family(&build)?
        .encode_gauge(&1u64)?;
        self.encode_routes(&mut enc)?;
        if !self.units.is_empty() {
            let mut m = enc.encode_descriptor(
                "pipeline_durable_unit",
                "Durable units by state (1 for the state each is in).",
                None,
                MetricType::Gauge,
            )?;
            for (key, state) in &self.units {
                for s in UnitState::ALL {
                    m.encode_family(&[("unit", key.as_str()), ("state", s.as_str())])?
                        .encode_gauge(&u64::from(s == *state))?;
                }
            }
        }
        let mut m = enc.encode_descriptor(
            "pipeline_durable_consumer_pending",
            "Durable mode: messages of each unit's input not yet delivered to it (its lag), as of its last delivery.",
            None,
            MetricType::Gauge,
        )?;
        for (key, n) in &self.pending {
            m.encode_family(&[("unit", key.as_str())])?
                .encode_gauge(n)?;
        }
        for (i, (name, seconds, help)) in ROUTE_HISTOGRAMS.iter().enumerate() {
            let unit = seconds.then_some(Unit::Seconds);
            let mut m = enc.encode_descriptor(name, help, unit.as_ref(), MetricType::Histogram)?;
            for r in &self.routes {
                if let Some((sum, count, buckets)) = r.histograms.get(i) {
                    m.encode_family(&[("pair", r.pair.as_str())])?
                        .encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?;
                }
            }
        }
        if let Some(p) = &self.process {
            p.encode(&mut enc)?;
        }
        Ok(())
    }
}

impl Scrape {
    /// Per-route series: the models, the running MSEs (gauges: they restart
    /// when a route's models change) and the route's counts.
    fn encode_routes(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let mut m = enc.encode_descriptor(
            "pipeline_model_info",
            "The model each route serves.",
            None,
            MetricType::Gauge,
        )?;
        for r in &self.routes {
            let live = [
                ("pair", r.pair.as_str()),
                ("model", &r.model),
                ("role", "live"),
            ];
            m.encode_family(&live)?.encode_gauge(&1u64)?;
            if let Some(id) = &r.shadow {
                let shadow = [("pair", r.pair.as_str()), ("model", id), ("role", "shadow")];
                m.encode_family(&shadow)?.encode_gauge(&1u64)?;
            }
        }
        let mut m = enc.encode_descriptor(
            "pipeline_route_max_gap_seconds",
            "Where a stream's ts jumps by more than this, its window restarts (a time_gap error event), by route; no series: the route never splits.",
            None,
            MetricType::Gauge,
        )?;
        for r in &self.routes {
            if let Some(gap) = r.max_gap_s {
                m.encode_family(&[("pair", r.pair.as_str())])?
                    .encode_gauge(&gap)?;
            }
        }
        let mut m = enc.encode_descriptor(
            "pipeline_route_resample_seconds",
            "The step of the clock a sensor's changes (samples without seq) are read on, by route; no series: the route windows samples as they come.",
            None,
            MetricType::Gauge,
        )?;
        for r in &self.routes {
            if let Some(step) = r.resample_s {
                m.encode_family(&[("pair", r.pair.as_str())])?
                    .encode_gauge(&step)?;
            }
        }
        type Pick = fn(&CompareSnapshot) -> &Running;
        let mut m = enc.encode_descriptor(
            "pipeline_shadow_mse",
            "Running MSE of the shadow model against the live one (since the models last changed).",
            None,
            MetricType::Gauge,
        )?;
        for r in &self.routes {
            if let Some(mse) = r.compare.shadow_vs_live.mse() {
                m.encode_family(&[("pair", r.pair.as_str())])?
                    .encode_gauge(&mse)?;
            }
        }
        let mut m = enc.encode_descriptor(
            "pipeline_truth_mse",
            "Running MSE against the truth channel, by model role (since the models last changed); role linear_map: the live model's baseline its file records, on the same windows.",
            None,
            MetricType::Gauge,
        )?;
        // (`linear_map`: the live model's own baseline, which its file
        // records, on the windows live is scored on.)
        let roles: [(&str, Pick); 3] = [
            ("live", |c| &c.live_vs_truth),
            ("shadow", |c| &c.shadow_vs_truth),
            ("linear_map", |c| &c.map_vs_truth),
        ];
        for (role, pick) in roles {
            for r in &self.routes {
                if let Some(mse) = pick(&r.compare).mse() {
                    m.encode_family(&[("pair", r.pair.as_str()), ("role", role)])?
                        .encode_gauge(&mse)?;
                }
            }
        }
        // The mean's parts as counters since start (a model change starts
        // the running mean again, not these), so that a dashboard takes the
        // error over any range.
        let totals: [(&str, Pick); 3] = [
            ("live", |c| &c.live_vs_truth_total),
            ("shadow", |c| &c.shadow_vs_truth_total),
            ("linear_map", |c| &c.map_vs_truth_total),
        ];
        let mut m = enc.encode_descriptor(
            "pipeline_truth_squared_error",
            "Sum of squared differences between translation and truth, by model role, since the service started, whatever model served. RMSE over a range: sqrt(increase(pipeline_truth_squared_error_total[1h]) / increase(pipeline_truth_values_total[1h])).",
            None,
            MetricType::Counter,
        )?;
        // (Where a role's truth was scored: a route without a truth, or
        // without a shadow, has no series.)
        for (role, total) in totals {
            for r in (self.routes.iter()).filter(|r| total(&r.compare).values > 0) {
                (m.encode_family(&[("pair", r.pair.as_str()), ("role", role)])?)
                    .encode_counter::<NoLabelSet, _, u64>(&total(&r.compare).sum_sq, None)?;
            }
        }
        let mut m = enc.encode_descriptor(
            "pipeline_truth_values",
            "Output values scored against the truth, by model role, since the service started, whatever model served.",
            None,
            MetricType::Counter,
        )?;
        for (role, total) in totals {
            for r in (self.routes.iter()).filter(|r| total(&r.compare).values > 0) {
                let labels = [("pair", r.pair.as_str()), ("role", role)];
                counter(&mut m.encode_family(&labels)?, total(&r.compare).values)?;
            }
        }
        type Count = fn(&RouteInfo) -> u64;
        let counters: [(&str, &str, Count); 14] = [
            (
                "pipeline_route_samples_in",
                "Samples accepted into windows, by route.",
                |r| r.samples_in,
            ),
            (
                "pipeline_route_windows_out",
                "Translations published, by route.",
                |r| r.windows_out,
            ),
            (
                "pipeline_route_windows_shed",
                "Core mode: windows not translated because the route could not keep up (queue full, subscription 7/8 full), by route.",
                |r| r.windows_shed,
            ),
            (
                "pipeline_shadow_windows",
                "Shadow translations published.",
                |r| r.compare.shadow_published,
            ),
            (
                "pipeline_observer_dropped",
                "Batches not compared: not shadowed while live work was behind, or not taken by the observer in time (never lost for the live output).",
                |r| r.compare.dropped,
            ),
            (
                "pipeline_timestamps_ignored",
                "Messages whose ts was no plausible time of publication (over a minute ahead of this host's clock, over 7 days behind, read in ms, µs or ns by its size: made up, or a recording's own times; or in whole seconds, too coarse), kept out of the latency histograms.",
                |r| r.timestamps_ignored,
            ),
            (
                "pipeline_input_out_of_range",
                "Windows whose mean lies over 5 input scales (the training standard deviation) from the live model's input center: other units, another channel, or a state the model never saw. Translated all the same.",
                |r| r.input_out_of_range,
            ),
            (
                "pipeline_input_off_rate",
                "Windows of streams whose ts says they are sampled at another step than the model's training recording (over 1.5 times it, or under two thirds of it, over a window's span): a model reads them as a faster or slower signal. Translated all the same.",
                |r| r.input_off_rate,
            ),
            (
                "pipeline_truth_refused",
                "Truth messages refused (an error event each: another key, no seq on a route without a clock, another unit, a missing-value code): not scored against. Where it grows and pipeline_truth_mse does not move, the deviation watch sees nothing.",
                |r| r.truth_refused,
            ),
            (
                "pipeline_input_too_fast",
                "Changes of streams read on a clock that come over ten times as often as the model's training input changed, several per tick of the route's clock (each tick reads only the last): a recording's values sent faster than real time, stamped with when they were sent, most likely.",
                |r| r.input_too_fast,
            ),
            (
                "pipeline_input_unstamped",
                "Windows of streams whose messages carry no ts, on a route with a rule for gaps in time (its model trained with a time column, or a max_gap): they are not restarted at gaps in time, nor judged for their rate where the model knows its step. Translated all the same.",
                |r| r.input_unstamped,
            ),
            (
                "pipeline_truth_unmatched",
                "Windows whose truth did not arrive (or arrived too late) to be compared.",
                |r| r.compare.unmatched,
            ),
            (
                "pipeline_deviations",
                "Deviations begun: a stream's mean of truth - translation over its last windows passed the route's [route.deviation] threshold (a deviation event on its subject).",
                |r| r.compare.deviations,
            ),
            (
                "pipeline_deviation_watches_stopped",
                "Deviating streams whose watch stopped (forgotten when idle, their truth quiet, or a live model that gives no threshold): pipeline_streams_deviating drops without the deviation having ended.",
                |r| r.compare.deviations_stopped,
            ),
        ];
        for (name, help, get) in counters {
            let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            for r in &self.routes {
                counter(&mut m.encode_family(&[("pair", r.pair.as_str())])?, get(r))?;
            }
        }
        let mut m = enc.encode_descriptor(
            "pipeline_model_windows",
            "Translations handed to the output by each live model (its id, as pipeline_model_info and each translation's model say), by route: a swap shows as one model's series stopping and the next one's starting.",
            None,
            MetricType::Counter,
        )?;
        for r in &self.routes {
            for (model, n) in &r.model_windows {
                let labels = [("pair", r.pair.as_str()), ("model", model.as_str())];
                counter(&mut m.encode_family(&labels)?, *n)?;
            }
        }
        let mut m = enc.encode_descriptor(
            "pipeline_streams_deviating",
            "Streams whose truth deviates from their translation now (begun, not back within half the threshold), by route with [route.deviation].",
            None,
            MetricType::Gauge,
        )?;
        for r in &self.routes {
            m.encode_family(&[("pair", r.pair.as_str())])?
                .encode_gauge(&(r.compare.deviating as i64))?;
        }
        // By name, so that an alert says which: the first streams deviating
        // now (as `$SRV.STATS` names them; the gauge above counts them all).
        let mut m = enc.encode_descriptor(
            "pipeline_stream_deviation",
            "A stream deviating now: its last mean of truth - translation, in the output's units (the first 10 deviating streams of a route by name; pipeline_streams_deviating counts them all). Gone when the deviation ends.",
            None,
            MetricType::Gauge,
        )?;
        for r in &self.routes {
            for (stream, mean) in &r.compare.deviating_streams {
                m.encode_family(&[("pair", r.pair.as_str()), ("stream", stream.as_str())])?
                    .encode_gauge(mean)?;
            }
        }
        let mut m = enc.encode_descriptor(
            "pipeline_route_errors",
            "Error events of each route's messages, by kind (pipeline_errors_total also counts those of no route: a slow consumer).",
            None,
            MetricType::Counter,
        )?;
        for r in &self.routes {
            for (kind, v) in &r.errors {
                counter(
                    &mut m.encode_family(&[("pair", r.pair.as_str()), ("kind", kind)])?,
                    *v,
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
