//! `publish`, `tail`, and the fleet commands (`reload`, `shadow`, `promote`,
//! `status`): the subcommands that talk to NATS, and how they connect.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use pipeline::pairs;

use super::train::CsvArgs;
use crate::shutdown_signal;
pub(crate) use recorded::recorded_signals;
use recorded::{read_streams, stream_key};

#[derive(Args)]
pub(crate) struct ControlArgs {
    #[command(flatten)]
    pub(crate) nats: NatsArgs,
    /// The route (default: every route for reload; for shadow, promote and
    /// rollback the only one, an instance of several refusing without it).
    #[arg(long)]
    pub(crate) pair: Option<String>,
    /// Model file, as the instances see it (a path that exists here is sent
    /// absolute); not for promote or rollback.
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    /// Serve a model trained on another input channel or in other units
    /// than the live one all the same (refused without it: the route's
    /// input would be nonsense to it).
    #[arg(long)]
    pub(crate) force: bool,
    /// How long to wait for the answers.
    #[arg(long, default_value = "5s", value_parser = pipeline::config::parse_duration)]
    pub(crate) wait: std::time::Duration,
}

#[derive(Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) nats: NatsArgs,
    /// Print each instance's `$SRV.STATS` as JSON (one line each).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct NatsArgs {
    /// NATS server URL(s), comma-separated [default: the context's or config's, or
    /// nats://127.0.0.1:4222].
    #[arg(long = "nats", visible_alias = "server", env = "NATS_URL")]
    pub(crate) url: Option<String>,
    /// A `nats` CLI context (~/.config/nats/context/NAME.json) [default: the one
    /// `nats context select` chose, if any].
    #[arg(long, env = "NATS_CONTEXT")]
    pub(crate) context: Option<String>,
    /// User name (with --password).
    #[arg(long, env = "NATS_USER")]
    pub(crate) user: Option<String>,
    /// Password (with --user); never logged or printed. Prefer the
    /// variable: a flag shows in the process list.
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    pub(crate) password: Option<String>,
    /// An authentication token; never logged or printed. Prefer the
    /// variable: a flag shows in the process list.
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// A credentials file (JWT and NKey seed).
    #[arg(long, env = "NATS_CREDS")]
    pub(crate) creds: Option<PathBuf>,
    /// A file holding an NKey seed.
    #[arg(long, env = "NATS_NKEY")]
    pub(crate) nkey: Option<PathBuf>,
    /// Client certificate (PEM), with --tlskey.
    #[arg(long, env = "NATS_CERT")]
    pub(crate) tlscert: Option<PathBuf>,
    /// The client certificate's private key (PEM), with --tlscert.
    #[arg(long, env = "NATS_KEY")]
    pub(crate) tlskey: Option<PathBuf>,
    /// CA certificate(s) to trust (PEM); implies TLS.
    #[arg(long, env = "NATS_CA")]
    pub(crate) tlsca: Option<PathBuf>,
}

impl NatsArgs {
    pub(crate) fn flags(&self) -> pipeline::connect::ConnectFlags {
        pipeline::connect::ConnectFlags {
            url: self.url.clone(),
            context: self.context.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            token: self.token.clone(),
            creds: self.creds.clone(),
            nkey: self.nkey.clone(),
            tls_cert: self.tlscert.clone(),
            tls_key: self.tlskey.clone(),
            tls_ca: self.tlsca.clone(),
        }
    }

    /// Connects as every subcommand does (see `pipeline::connect`).
    pub(crate) async fn connect(&self) -> Result<pipeline::service::Connection> {
        let (url, auth, origin) =
            pipeline::connect::resolve(&self.flags(), None, &Default::default())?;
        tracing::debug!(nats = %pipeline::config::redact_url(&url), "{origin}");
        Ok(pipeline::service::connect_with(&url, &auth, false).await?)
    }
}

#[derive(Args)]
pub(crate) struct PublishArgs {
    #[command(flatten)]
    pub(crate) nats: NatsArgs,
    /// Pair whose input curve to publish.
    #[arg(long, default_value = "sin-cos")]
    pub(crate) pair: String,
    /// Publish a recording's input column instead (row N is sample N; it
    /// ends after the last row). With --time-column, each message carries
    /// its first row's recorded time as `ts` (a date from 2001 on as it is;
    /// seconds from a run's start counted from 2001-09-09T01:46:40Z) and
    /// none spans a gap in time, so a route with a max_gap restarts its
    /// windows at the recording's gaps (with --batch N and a model trained
    /// without --time-column, which knows no time step, the service takes a
    /// message's samples as evenly spread since the one before and misses a
    /// gap under N × max_gap); latency figures take no stamp over 7 days old.
    #[arg(long, value_name = "FILE")]
    pub(crate) data: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) csv: CsvArgs,
    /// Stream key (repeat for several). With --stream-column, each device
    /// of the file goes under its own name instead.
    #[arg(long, default_value = "demo", conflicts_with = "stream_column")]
    pub(crate) stream: Vec<String>,
    /// Publish N streams `<stream>-0 … <stream>-(N-1)` instead.
    #[arg(long, conflicts_with = "stream_column")]
    pub(crate) streams: Option<usize>,
    /// Subject prefix.
    #[arg(long, default_value = "samples")]
    pub(crate) prefix: String,
    /// Samples per second per stream (0 = flat out).
    #[arg(long, default_value_t = 200.0)]
    pub(crate) rate: f64,
    /// With --data and --time-column: play the recording at its own pace,
    /// this many times faster (600: ten-minute rows one a second; 1: as it
    /// was recorded), its gaps in time waited out at the same speed, instead
    /// of at --rate.
    #[arg(long, requires_all = ["data", "time_column"], conflicts_with = "rate", value_parser = speed)]
    pub(crate) speed: Option<f64>,
    /// Samples per stream, then stop (default: until Ctrl-C). With --data,
    /// rows from --start-seq: a row skipped (--skip-bad-rows) counts, as
    /// the seq it would have had.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Samples per message.
    #[arg(long, default_value_t = 1)]
    pub(crate) batch: usize,
    /// Sequence number of the first sample.
    #[arg(long, default_value_t = 0)]
    pub(crate) start_seq: u64,
    /// Publish into JetStream, for a service in durable mode: each message
    /// with `Nats-Msg-Id: <subject>:<seq>`, acknowledged by the stream (sent
    /// again when not, e.g. across a server restart), so none is lost.
    #[arg(long)]
    pub(crate) jetstream: bool,
}

#[derive(Args)]
pub(crate) struct TailArgs {
    #[command(flatten)]
    pub(crate) nats: NatsArgs,
    /// Only this stream.
    #[arg(long)]
    pub(crate) stream: Option<String>,
    /// Output subject prefix.
    #[arg(long, default_value = "translated")]
    pub(crate) output: String,
    /// Stop after N translations.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// Stop after this long (e.g. 5s).
    #[arg(long, value_parser = pipeline::config::parse_duration)]
    pub(crate) duration: Option<std::time::Duration>,
    /// Show the error against the true curve (streams from `pipeline publish`).
    #[arg(long)]
    pub(crate) truth: bool,
    /// With --truth: the recording the streams were published from
    /// (`publish --data`); its column --truth-column is the truth.
    #[arg(long, value_name = "FILE", requires_all = ["truth", "truth_column"])]
    pub(crate) data: Option<PathBuf>,
    /// The recording's output column: a header name or a 0-based index.
    #[arg(long, value_name = "COL")]
    pub(crate) truth_column: Option<pipeline::recording::Column>,
    /// The recording's field delimiter [default: sniffed].
    #[arg(long, value_parser = pipeline::recording::parse_delimiter)]
    pub(crate) delimiter: Option<u8>,
    /// The recording's decimal separator, `point` or `comma` [default: from
    /// the cells].
    #[arg(long, requires = "data", value_parser = pipeline::recording::Decimal::parse)]
    pub(crate) decimal: Option<pipeline::recording::Decimal>,
    /// Skip (and count) rows whose truth cell is not a number; windows that
    /// cover one are not scored.
    #[arg(long, requires = "data")]
    pub(crate) skip_bad_rows: bool,
    /// A number that stands for a missing truth value (-9999): such a cell
    /// is a bad cell, as an empty one (see --skip-bad-rows). Repeat for several.
    #[arg(long, requires = "data", value_name = "NUMBER", allow_hyphen_values = true,
          value_parser = super::train::missing_code)]
    pub(crate) missing: Vec<f32>,
    /// The recording's time column, as `retrain --time-column` read it:
    /// windows that span a gap in time (which training left out) are not
    /// scored. Twice for a date and a time of day in two columns.
    #[arg(long, requires = "data", value_name = "COL")]
    pub(crate) time_column: Vec<pipeline::recording::Column>,
    /// The zone of the time column's stamps written without an offset, as
    /// `retrain --time-zone` read them (Europe/Berlin).
    #[arg(long, requires = "time_column", value_name = "ZONE", allow_hyphen_values = true, value_parser = pipeline::recording::Zone::parse)]
    pub(crate) time_zone: Option<pipeline::recording::Zone>,
    /// With --time-column, the longest step that is not a gap (e.g. 5m)
    /// [default: three times the median step].
    #[arg(long, requires = "time_column", value_parser = pipeline::config::parse_duration_with_unit)]
    pub(crate) max_gap: Option<std::time::Duration>,
    /// Lines at the top of the recording that are no part of the table (a
    /// logger's preamble above the header).
    #[arg(long, requires = "data", value_name = "N")]
    pub(crate) skip_lines: Option<usize>,
    /// The recording's column naming each row's device (a file of several,
    /// as `publish --stream-column` sent it): each stream is scored against
    /// its own rows, by the key publish sent it under.
    #[arg(long, requires = "data", value_name = "COL")]
    pub(crate) stream_column: Option<pipeline::recording::Column>,
    /// For rows of several topics in one file, the column whose rows were
    /// published (`publish --rows-of`): the truth is each such row's latest
    /// truth value, and rows count as publish counted them.
    #[arg(long, requires = "data", value_name = "COL")]
    pub(crate) rows_of: Option<pipeline::recording::Column>,
    /// For a recording of changes, the clock `publish --resample` read it
    /// on (each value held until its next change).
    #[arg(long, requires_all = ["data", "time_column"], value_name = "DUR", value_parser = pipeline::config::parse_duration_with_unit)]
    pub(crate) resample: Option<std::time::Duration>,
    /// For one row per channel and change, the column naming the channel
    /// (`--truth-column` then names one) and, `--value-column`, the one
    /// holding its value (as `publish` read it).
    #[arg(long, requires_all = ["value_column", "resample"], value_name = "COL")]
    pub(crate) name_column: Option<pipeline::recording::Column>,
    /// With --name-column: the column holding each row's value (`state`).
    #[arg(long, requires = "name_column", value_name = "COL")]
    pub(crate) value_column: Option<pipeline::recording::Column>,
    /// Only print the summary.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Print only every N-th translation of each stream.
    #[arg(long, default_value_t = 1)]
    pub(crate) every: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Write a PNG of the first stream seen: its first eight windows that do
    /// not overlap, laid end to end, with the truth (--truth --data; a
    /// synthetic pair's input too). The whole run against its truth:
    /// `pipeline eval`'s figures.
    #[arg(long)]
    pub(crate) plot: Option<PathBuf>,
}

/// `--speed`: a finite number above 0.
fn speed(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!(
            "{s:?}: a speed is a number above 0 (600: ten-minute rows one a second)"
        )),
    }
}

/// What `publish --data` sends of one recording (a file, or one stream of
/// a file of several), and what it says of it (`say`: the first only).
fn recorded_input(
    r: &pipeline::recording::Recording,
    a: &PublishArgs,
    say: bool,
) -> (pipeline::tools::Signal, Option<String>) {
    // Each message carries its first row's recorded time (`ts`), and none
    // spans a gap: a route with a `max_gap` restarts its windows where
    // `retrain` and `eval` split the recording. Only the gaps between rows
    // this run sends.
    let end = a.count.map_or(u64::MAX, |c| a.start_seq.saturating_add(c));
    let sent: Vec<usize> = (r.time_gap_rows.iter().copied())
        .filter(|&row| row as u64 > a.start_seq && (row as u64) < end)
        .collect();
    if let (Some(time), Some(first), true) = (&r.time_name, sent.first(), say) {
        tracing::info!(
            time_column = %time,
            gaps = sent.len(),
            first_row = first,
            "messages carry their rows' recorded time (ts): a route with a max_gap (a model \
             trained with --time-column has one) restarts its windows at the {} gap(s) in time \
             among the rows sent{}, with a time_gap event each",
            sent.len(),
            r.stream.as_ref().map_or(String::new(), |s| format!(" of stream {s:?}"))
        );
    }
    // Stamps without a zone are read as UTC, as retrain reads them: said,
    // since each message's `ts` is then off by the zone's offset if they
    // are local; and a gap that is a clock change is said as retrain says it.
    if let (Some(time), true, true, None) = (&r.time_name, say, r.time_local, &r.time_zone) {
        tracing::warn!(
            time_column = %time,
            "its times have no zone and are read as UTC: if they are local, each message's ts is \
             off by the zone's offset (and a deviation event's with it); --time-zone names \
             theirs (Europe/Berlin)"
        );
        for gap in (r.time_gap_examples.iter()).filter(|g| g.contains("--time-zone")) {
            tracing::warn!("{gap}");
        }
    }
    if let (None, Some(hint), true) = (&r.time_name, &r.time_hint, say) {
        tracing::info!(
            "the recording seems to have a time column ({hint}): with it, messages carry their \
             rows' recorded time and the service restarts windows at the recording's gaps; \
             without it, they are stamped when sent, and a model trained with --time-column \
             restarts every window where messages come further apart than its max_gap (a slow \
             --rate)"
        );
    }
    if let (Some(devices), true) = (&r.stream_hint, say) {
        tracing::warn!("{devices}");
    }
    // The column's unit, where the file names it: each message says it,
    // and a service whose model reads another refuses it.
    let unit = r.input_unit().map(str::to_string);
    (pipeline::tools::Signal::recorded(r), unit)
}

pub(crate) async fn publish(a: PublishArgs) -> Result<()> {
    a.csv.check()?;
    // What each run of the publisher sends, and under which keys: the
    // pair's curve or the recording's input on every stream named, or with
    // --stream-column each of the file's streams under its own key.
    let mut sends: Vec<(pipeline::tools::Signal, Option<String>, Vec<String>)> = Vec::new();
    let named = match a.streams {
        Some(n) => (0..n).map(|i| format!("{}-{i}", a.stream[0])).collect(),
        None => a.stream.clone(),
    };
    match &a.data {
        // Only the input column is published: read no other, so that
        // --skip-bad-rows leaves out only rows whose input cell is bad.
        Some(path) => {
            if let Some(output) = &a.csv.output {
                tracing::warn!(
                    output = %output,
                    "publish sends only --input: --output is not read"
                );
            }
            // A bad cell in a row it will not send stops nothing.
            let end = a.count.map_or(usize::MAX, |c| {
                usize::try_from(a.start_seq.saturating_add(c)).unwrap_or(usize::MAX)
            });
            let start = usize::try_from(a.start_seq).unwrap_or(usize::MAX);
            let opts = pipeline::recording::CsvOptions {
                used_rows: Some(start..end),
                ..a.csv.input_only().options()
            };
            let all = read_streams(path, &opts)?;
            // Each device's key: two names written alike (`WTG 03` and
            // `WTG_03`) would be one stream, their samples mixed.
            let mut keyed: Vec<(String, &str)> = Vec::new();
            for (i, r) in all.iter().enumerate() {
                super::train::input_not_time(&a.csv, r)?;
                let (signal, unit) = recorded_input(r, &a, i == 0);
                let keys = match (stream_key(r)?, r.stream.as_deref()) {
                    (Some(key), Some(name)) => {
                        if let Some((_, other)) = keyed.iter().find(|(k, _)| *k == key) {
                            return Err(pipeline::Error::Data(format!(
                                "{}: devices {other:?} and {name:?} would both be published as \
                                 stream {key:?} (a space, `.`, `*` or `>` is written `_`): rename \
                                 one in the file",
                                path.display()
                            ))
                            .into());
                        }
                        keyed.push((key.clone(), name));
                        vec![key]
                    }
                    _ => named.clone(),
                };
                sends.push((signal, unit, keys));
            }
            if let (Some(first), false) = (all.first(), keyed.is_empty()) {
                let keys: Vec<String> = keyed.iter().map(|(k, _)| k.clone()).collect();
                let renamed = keyed.iter().filter(|(k, name)| k != name).count();
                tracing::info!(
                    streams = keyed.len(),
                    "the file's devices (by {:?}), each published under its own key: {}{}",
                    first.stream_column.as_deref().unwrap_or_default(),
                    pipeline::recording::listed(&keys),
                    match renamed {
                        0 => String::new(),
                        n => format!(" ({n} with `_` for a space, `.`, `*` or `>` in the name)"),
                    }
                );
            }
        }
        None => sends.push((
            pipeline::tools::Signal::Pair(pairs::find(&a.pair)?),
            None,
            named,
        )),
    }
    let rows = (sends.iter())
        .map(|(signal, ..)| signal.samples())
        .try_fold(0, |most: u64, rows| rows.map(|r| most.max(r)));
    if let Some(rows) = rows
        && a.start_seq >= rows
    {
        return Err(pipeline::Error::Data(format!(
            "--start-seq {} is past the recording's end: it has {rows} data rows (0 to {})",
            a.start_seq,
            rows.saturating_sub(1)
        ))
        .into());
    }
    let client = (a.nats.connect().await?).logging_events(
        "samples published until it is back are lost (core NATS; --jetstream keeps them)",
    );
    let runs: Vec<pipeline::tools::PublishOptions> = (sends.into_iter())
        .map(|(signal, unit, streams)| pipeline::tools::PublishOptions {
            signal,
            streams,
            prefix: a.prefix.clone(),
            rate: a.rate,
            speed: a.speed,
            count: a.count,
            batch: a.batch,
            start_seq: a.start_seq,
            jetstream: a.jetstream,
            unit,
        })
        .collect();
    let started = Instant::now();
    let streams: usize = runs.iter().map(|r| r.streams.len()).sum();
    let progress: Vec<pipeline::tools::Progress> =
        runs.iter().map(|_| Default::default()).collect();
    let sent = tokio::select! {
        r = pipeline::tools::publish_all(&client, &runs, &progress) => Some(r?),
        _ = shutdown_signal() => {
            client.flush().await.ok();
            None
        }
    };
    let seconds = format!("{:.1}", started.elapsed().as_secs_f64());
    // Streams of a file of several are at different rows when stopped:
    // going on from the least sends a few again, which the service drops.
    let next_seq = progress
        .iter()
        .map(|p| p.next_seq())
        .min()
        .unwrap_or(a.start_seq);
    match sent {
        None => tracing::info!(
            samples_per_stream = progress.iter().map(|p| p.samples()).max().unwrap_or(0),
            next_seq,
            streams,
            seconds,
            "stopped; --start-seq {next_seq} goes on from there{}",
            if a.jetstream {
                " (or a little before it: the last messages may not be acknowledged, and the \
                 stream drops a seq it holds, within its duplicate window)"
            } else {
                ""
            }
        ),
        Some(p) if rows.is_some() && p.iter().all(|p| p.samples == 0) => tracing::warn!(
            rows,
            start_seq = a.start_seq,
            skipped = p.iter().map(|p| p.skipped).sum::<u64>(),
            "nothing published: the recording has no row to send from --start-seq on"
        ),
        Some(p) if p.len() > 1 => tracing::info!(
            samples = p.iter().map(|p| p.samples).sum::<u64>(),
            skipped_rows = p.iter().map(|p| p.skipped).sum::<u64>(),
            streams,
            seconds,
            "published"
        ),
        Some(p) => tracing::info!(
            samples_per_stream = p.iter().map(|p| p.samples).max().unwrap_or(0),
            samples = p.iter().map(|p| p.samples).sum::<u64>(),
            skipped_rows = p.iter().map(|p| p.skipped).sum::<u64>(),
            streams,
            seconds,
            "published"
        ),
    }
    Ok(())
}

/// A control request to every instance; fails unless every one agreed.
pub(crate) async fn control(subject: &str, a: ControlArgs) -> Result<()> {
    let conn = a.nats.connect().await?;
    let model = a
        .model
        .as_ref()
        .map(|m| std::fs::canonicalize(m).unwrap_or_else(|_| m.clone()));
    let mut request = serde_json::Map::new();
    if let Some(p) = &a.pair {
        request.insert("pair".into(), p.clone().into());
    }
    if let Some(m) = &model {
        request.insert("model".into(), m.display().to_string().into());
    }
    if a.force {
        request.insert("force".into(), true.into());
    }
    let request = serde_json::Value::Object(request);
    let (replies, found) =
        pipeline::fleet::control_all(&conn.client, subject, &request, a.wait).await?;
    let unanswered = found - replies.len();
    let (mut done, mut refused) = (0, 0);
    // In a fleet split by pair, instances without the named route answer
    // 404: not a failure once an instance that has it did it.
    let (elsewhere, answers): (Vec<_>, Vec<_>) = replies
        .iter()
        .partition(|r| a.pair.is_some() && r.code == Some(404));
    for r in &answers {
        match &r.body {
            Ok(v) => {
                done += 1;
                println!("ok     {v}");
                let warnings = v["warnings"].as_array().into_iter().flatten();
                for w in warnings.filter_map(|w| w.as_str()) {
                    println!("warn   {w}");
                }
            }
            Err(e) => {
                refused += 1;
                println!("error  {e}");
            }
        }
    }
    for r in &elsewhere {
        match (done, &r.body) {
            (0, Err(e)) => println!("error  {e}"),
            (_, Err(e)) => println!("skip   {e}"),
            (_, Ok(_)) => {}
        }
    }
    let refused = refused + if done == 0 { elsewhere.len() } else { 0 };
    if refused + unanswered > 0 {
        let why = format!(
            "{} of {found} instance(s) did not do it ({} answered)",
            refused + unanswered,
            replies.len()
        );
        // Every instance answered, refusing: asking again will not help
        // (exit 78, as for a bad model file at start). Some did it and
        // some refused: the fleet now differs (1).
        if unanswered == 0 && done == 0 {
            return Err(pipeline::Error::Request(why).into());
        }
        bail!(why);
    }
    Ok(())
}

pub(crate) async fn status(a: StatusArgs) -> Result<()> {
    let conn = a.nats.connect().await?;
    let all = pipeline::fleet::stats_all(&conn.client, std::time::Duration::from_secs(2)).await?;
    if all.is_empty() {
        bail!("no pipeline instance answered $SRV.PING");
    }
    for s in &all {
        if a.json {
            println!("{s}");
        } else {
            for line in pipeline::fleet::describe_stats(s) {
                println!("{line}");
            }
        }
    }
    Ok(())
}

mod recorded;
