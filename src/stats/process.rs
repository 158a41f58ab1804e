//! The standard `process_*` metrics of a `/metrics` scrape, read from
//! `/proc/self`.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

/// The standard `process_*` metrics (the names every Prometheus client
/// library exports), from `/proc/self` on Linux; absent elsewhere.
#[derive(Debug)]
pub(super) struct Process {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    start_time_seconds: f64,
    threads: u64,
    open_fds: u64,
}

/// The kernel's `USER_HZ`: the unit of `/proc` CPU times, 100 on every
/// Linux architecture's user ABI.
const TICKS_PER_SEC: f64 = 100.0;
const PAGE_BYTES: u64 = 4096;

impl Process {
    pub(super) fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces), from
        // field 3 (state) on: see proc(5).
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())?;
        Some(Process {
            cpu_seconds: (field(14)? + field(15)?) as f64 / TICKS_PER_SEC,
            threads: field(20)?,
            start_time_seconds: boot as f64 + field(22)? as f64 / TICKS_PER_SEC,
            virtual_bytes: field(23)?,
            resident_bytes: field(24)? * PAGE_BYTES,
            open_fds: std::fs::read_dir("/proc/self/fd").ok()?.count() as u64,
        })
    }

    pub(super) fn encode(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        enc.encode_descriptor(
            "process_cpu",
            "Total user and system CPU time spent.",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?
        .encode_counter::<NoLabelSet, _, f64>(&self.cpu_seconds, None)?;
        enc.encode_descriptor(
            "process_start_time",
            "Start time of the process since the Unix epoch.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?
        .encode_gauge(&self.start_time_seconds)?;
        let gauges: [(&str, &str, Option<Unit>, u64); 4] = [
            (
                "process_resident_memory",
                "Resident memory size.",
                Some(Unit::Bytes),
                self.resident_bytes,
            ),
            (
                "process_virtual_memory",
                "Virtual memory size.",
                Some(Unit::Bytes),
                self.virtual_bytes,
            ),
            ("process_threads", "OS threads.", None, self.threads),
            (
                "process_open_fds",
                "Open file descriptors.",
                None,
                self.open_fds,
            ),
        ];
        for (name, help, unit, v) in gauges {
            enc.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?
                .encode_gauge(&v)?;
        }
        Ok(())
    }
}
