//! `pipeline tail`: translations as they arrive, scored against the truth,
//! with what went missing, came twice or came late, and which models
//! translated them.

use anyhow::Result;

use super::nats::{TailArgs, recorded_signals};
use super::train::CsvArgs;
use super::train::csv::StreamColumn;
use crate::shutdown_signal;

pub(crate) async fn tail(a: TailArgs) -> Result<()> {
    let subject = match &a.stream {
        // A device's name with a space, as `publish --stream-column` keys
        // it (`WTG 03` is published as `WTG_03`); a `.`, `*` or `>` stays,
        // as in a key or pattern of one (`plant.*`).
        Some(s) => format!("{}.{}", a.output, s.replace(char::is_whitespace, "_")),
        None => format!("{}.>", a.output),
    };
    let client = (a.nats.connect().await?)
        .logging_events("translations published until it is back are not received (core NATS)");
    // The truth: the recording's column, or each stream's of a file of
    // several (`--stream-column`), by the key `publish` sent it under.
    let (recorded, devices) = match (&a.data, &a.truth_column) {
        (Some(path), Some(col)) => recorded_signals(
            path,
            &CsvArgs {
                input: Some(col.clone()),
                output: Some(col.clone()),
                delimiter: a.delimiter,
                skip_bad_rows: a.skip_bad_rows,
                missing: a.missing.clone(),
                decimal: a.decimal,
                time_column: a.time_column.clone(),
                max_gap: a.max_gap,
                date_order: None,
                time_zone: a.time_zone.clone(),
                skip_lines: a.skip_lines,
                stream_column: a.stream_column.clone().map(StreamColumn::Column),
                rows_of: a.rows_of.clone(),
                resample: a.resample,
                name_column: a.name_column.clone(),
                value_column: a.value_column.clone(),
                unbounded_holds: false,
                exclude: Vec::new(),
            },
        )?,
        _ => (Vec::new(), false),
    };
    let opts = pipeline::tools::TailOptions {
        subject,
        count: a.count,
        duration: a.duration,
        truth: a.truth,
        recording: recorded
            .iter()
            .find(|(key, _)| key.is_none())
            .map(|(_, s)| s.clone()),
        by_stream: (recorded.into_iter())
            .filter_map(|(key, s)| Some((key?, s)))
            .collect(),
        print_every: if a.quiet || a.json { 0 } else { a.every.max(1) },
        plot: a.plot.clone(),
        y_label: a.truth_column.as_ref().map(|c| match c {
            pipeline::recording::Column::Name(n) => n.clone(),
            pipeline::recording::Column::Index(i) => format!("column {i}"),
        }),
    };
    let s = pipeline::tools::tail(&client, &opts, shutdown_signal()).await?;
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
        return Ok(());
    }
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2} ms"));
    let missing = match s.missing {
        0 => String::new(),
        n => format!(
            ", {n} missing by seq (a recording's skipped rows, windows the service restarted at a \
             gap in time, or samples it dropped: see its pipeline_errors_total, and its error \
             events on pipeline.errors)"
        ),
    };
    let repeated = match s.repeated {
        0 => String::new(),
        n => format!(
            ", {n} received again (a stream and seq already received: a service restarted after \
             a crash publishes again what came since its last checkpoint; a durable output \
             stream keeps each once)"
        ),
    };
    let restarts = match s.restarts {
        0 => String::new(),
        n => format!(
            ", {n} count(s) started again (a seq back with later stamps: a publisher \
             restarted, which the service starts over)"
        ),
    };
    println!(
        "windows     {} from {} stream(s), {} out of order{repeated}{restarts}{missing}",
        s.windows, s.streams, s.out_of_order
    );
    // Which model translated them; after a swap, from which window on.
    if s.models.len() > 1 {
        const SAID: usize = 12;
        let mut runs: Vec<String> = (s.models.iter().take(SAID))
            .map(|m| {
                let (stream, seq) = &m.first;
                format!("{} {} windows from {stream} seq {seq}", m.model, m.windows)
            })
            .collect();
        let more = (s.models.len().saturating_sub(SAID)) as u64 + s.more_switches;
        if more > 0 {
            runs.push(format!(
                "… {more} more switches (models interleaved: instances serving different ones?)"
            ));
        }
        println!("models      {}", runs.join(", then "));
    }
    if s.windows_without_truth > 0 {
        eprintln!(
            "WARNING: {} window(s) of stream(s) {} not scored: the truth file names no such device \
             (by its --stream-column, as publish keys them)",
            s.windows_without_truth,
            pipeline::recording::listed(&s.streams_without_truth)
        );
    }
    // No window scored, and nothing above says why: their seqs are no
    // rows of the file (a route on a clock numbers its windows by their
    // tick since the epoch, not by a file's rows).
    if let Some(seq) = s
        .first_unscored_seq
        .filter(|_| s.scored == 0 && s.windows_without_truth == 0)
    {
        eprintln!(
            "WARNING: none of the {} window(s) was scored against --data: a window's seq is the \
             data row its truth begins at (row N is sample N, as publish --data numbers them), \
             and the first came at seq {seq}, past the file's rows or over a skipped one (a route \
             that reads a clock, serve --resample, numbers its windows by their tick since the \
             epoch: its truth is scored by the service, pipeline status)",
            s.windows
        );
    }
    if let Some(mse) = s.mse {
        let unscored = match s.windows - s.scored - s.windows_without_truth {
            0 => String::new(),
            n if a.time_column.is_empty() => {
                format!("; {n} not scored: a skipped row has no truth")
            }
            n => format!(
                "; {n} not scored: a skipped row has no truth, or a gap in time lies inside"
            ),
        };
        // In the translations' unit (their model's training column named
        // it), else the truth column's, when its name says it (`[kW]`).
        let column_unit = match &a.truth_column {
            Some(pipeline::recording::Column::Name(n)) => pipeline::eval::unit_of(n),
            _ => None,
        };
        if let (Some(theirs), Some(truth)) = (s.unit.as_deref(), column_unit)
            && !pipeline::eval::same_unit(theirs, truth)
        {
            eprintln!(
                "WARNING: the translations are in {theirs:?}, --truth-column's name says \
                 {truth:?}: is it the route's output column, in the model's units?"
            );
        }
        let unit = s.unit.as_deref().or(column_unit);
        let squared = unit.map_or(String::new(), |u| {
            format!(" {}", pipeline::eval::squared(u))
        });
        // Its root, in the column's own unit: what a reader compares with
        // the signal's size.
        let root = format!(
            "RMSE {}{}",
            pipeline::eval::significant(mse.sqrt()),
            unit.map_or(String::new(), |u| format!(" {u}"))
        );
        println!(
            "MSE         {mse:.3e}{squared}, {root}, against the {} ({} windows{unscored})",
            if a.data.is_some() {
                "recording's column"
            } else {
                "true curve"
            },
            s.scored
        );
        if let Some(nmse) = s.nmse {
            println!(
                "NMSE        {} (the MSE over the truth's variance in these windows: 0 exact, 1 \
                 what its own mean would score)",
                pipeline::eval::significant(nmse)
            );
        }
        // Each device's, from a file of several.
        if !s.by_stream.is_empty() {
            let width = (s.by_stream.iter())
                .map(|b| b.stream.chars().count())
                .max()
                .unwrap_or(0);
            println!(
                "by stream   {:<width$} {:>8} {:>11} {:>8}",
                "", "windows", "MSE", "NMSE"
            );
            let fig = |v: Option<f64>| v.map_or("-".to_string(), pipeline::eval::significant);
            for b in &s.by_stream {
                println!(
                    "            {:<width$} {:>8} {:>11} {:>8}",
                    b.stream,
                    b.windows,
                    b.mse.map_or("-".to_string(), |m| format!("{m:.3e}")),
                    fig(b.nmse)
                );
            }
        }
        match s.further_than_the_mean(a.data.is_some()) {
            // The likelier cause, warned of as the file was read.
            Some(_) if devices => eprintln!(
                "WARNING: the translations are further from the truth than its own mean (NMSE \
                 {}): the truth file's rows look like several devices' read as one (see above); \
                 give tail the --stream-column publish was given",
                pipeline::eval::significant(s.nmse.unwrap_or(f64::NAN))
            ),
            Some(why) => {
                // What the service counted of windows its model was not
                // made for (another rate, other units) comes first.
                // At most 1.5 s: a server away must not hold tail's exit.
                let wait = std::time::Duration::from_millis(500);
                let ask = pipeline::fleet::stats_all(&client, wait);
                let limit = std::time::Duration::from_millis(1500);
                let stats = tokio::time::timeout(limit, ask)
                    .await
                    .ok()
                    .and_then(|r| r.ok());
                let models: Vec<&str> = s.models.iter().map(|m| m.model.as_str()).collect();
                let said = stats.and_then(|st| pipeline::fleet::input_trouble(&st, &models));
                if let Some(first) = said {
                    eprintln!("WARNING: {first}");
                }
                eprintln!("WARNING: {why}")
            }
            None => {}
        }
    }
    match (s.latency_ms_p50, s.recorded_times) {
        (None, 0) if s.windows > 0 => {
            println!("latency     - (the samples carried no `ts`)")
        }
        (None, n) if n > 0 => println!(
            "latency     - (the samples' `ts` are no plausible times of publication: a \
             recording's own, as `publish --time-column` sends, or clocks out of step)"
        ),
        _ => println!(
            "latency     p50 {}  p99 {}  max {} (sample published → translation received)",
            ms(s.latency_ms_p50),
            ms(s.latency_ms_p99),
            ms(s.latency_ms_max)
        ),
    }
    if let (n @ 1.., Some(max)) = (s.stamps_ahead, s.ahead_ms_max) {
        println!(
            "            {n} window(s) stamped after they came (up to {max:.2} ms): the \
             publisher's clock runs ahead of this host's, and their latency is read as 0 \
             (sync both clocks, NTP or chrony)"
        );
    }
    if s.windows == 0 {
        println!(
            "none came   on {}.{} (a route writing under another prefix is read with --output, \
             its `output`): is a service serving this input, and do the samples reach it? Its \
             error events (`nats sub pipeline.errors`) say what it refused or restarted: a \
             `time_gap` for each message when they come further apart than its model's max_gap",
            a.output,
            a.stream.as_deref().unwrap_or(">")
        );
    }
    if let Some(p) = &a.plot {
        println!("figure      {}", p.display());
    }
    Ok(())
}
