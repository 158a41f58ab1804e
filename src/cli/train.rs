//! `retrain` and `eval`: recipes, recordings, progress bars and reports.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use pipeline::data::Dataset;
use pipeline::format::{self, Metadata};
use pipeline::train::{self, TrainData};
use pipeline::{eval, report};

mod args;
pub(crate) mod csv;
mod memory;
mod model;
mod progress;
pub(crate) mod reading;

pub(crate) use args::missing_code;
pub(crate) use csv::{
    CsvArgs, RecordingArgs, Scored, data_line, file_id as csv_file_id, identity_warning,
    input_not_time, slow_error, unit,
};

use super::Usage;
use super::eval::print_metrics;
pub(crate) use args::RetrainArgs;
#[cfg(test)]
use args::window_len;
use args::{RecipeName, mark_residual, recipe_from_args, residual_skip, writable_model_path};
pub(crate) use model::{ModelArgs, load_model};
pub(crate) use progress::scoring_bar;
use progress::{TRAINED, budget_bar, progress_bar, stop_on_ctrl_c};

pub(crate) fn retrain(models_dir: &Path, a: RetrainArgs) -> Result<()> {
    stop_on_ctrl_c();
    let recipe = recipe_from_args(&a, RecipeName::Default)?;
    let data = match &a.pair {
        Some(id) => Dataset::pair(id, recipe.window)?,
        None => {
            return Err(
                Usage("say what to train on: --pair NAME or --data FILE.csv".into()).into(),
            );
        }
    };
    let data_name = data.name.clone();
    let out = match (&a.out, &a.pair) {
        (Some(o), _) => o.clone(),
        (None, Some(id)) => models_dir.join(format!("{id}.safetensors")),
        (None, None) => return Err(Usage("--out FILE is required".into()).into()),
    };
    writable_model_path(&out)?;

    tracing::info!(
        data = %data_name, recipe = %recipe.name, epochs = recipe.epochs, batch = recipe.batch,
        hidden = recipe.hidden, window = recipe.window, seed = recipe.seed, "training"
    );
    let bar = progress_bar(recipe.epochs as u64);
    bar.set_prefix(data_name.clone());
    let quiet_log_every = (recipe.epochs / 10).max(1);
    let started = Instant::now();
    // A pair's values are the network's: the map of its grid windows, as is.
    let skip = residual_skip(&a, &data.fixed, &pipeline::scaling::Scaling::IDENTITY)?;
    let trained = train::train(
        &recipe,
        &TrainData {
            fixed: data.fixed.clone(),
            pair: data.pair,
            scaling: pipeline::scaling::Scaling::IDENTITY,
            skip,
        },
        |s| {
            bar.set_position(s.epoch as u64);
            bar.set_message(format!("loss {:.3e}  lr {:.1e}", s.loss, s.lr));
            // Without a terminal the bar is hidden: log a few lines instead.
            if bar.is_hidden() && (s.epoch % quiet_log_every == 0 || s.epoch == s.epochs) {
                tracing::info!(
                    "epoch {}/{} loss {:.3e} lr {:.1e}",
                    s.epoch,
                    s.epochs,
                    s.loss,
                    s.lr
                );
            }
        },
    )?;
    bar.finish_and_clear();
    TRAINED.store(true, std::sync::atomic::Ordering::Relaxed);
    let train_seconds = started.elapsed().as_secs_f64();

    let (metrics, translated) =
        eval::evaluate(&trained.model, &data.fixed, data.pair, eval::EVAL_SEED)?;
    let created = format::now_rfc3339();
    let mut meta = Metadata {
        pair: Some(data_name.clone()),
        window: Some(recipe.window),
        recipe: Some(serde_json::to_value(&recipe)?),
        metrics: Some(serde_json::to_value(&metrics)?),
        created: Some(created.clone()),
        scaling: None,
    };
    mark_residual(&mut meta, &trained.model);
    let id = format::save(&out, &trained.tensors, recipe.hidden, recipe.window, &meta)?;
    let (json_path, loss_png) = report::write_training_report(
        &out,
        &report::TrainingReport {
            model: out.display().to_string(),
            model_id: &id,
            data: &data_name,
            recipe: &recipe,
            metrics: &metrics,
            train_seconds,
            created: &created,
            history: &trained.history,
        },
    )?;
    let fig = report::companion(&out, "translation.png");
    report::translation_figure(&fig, &data, metrics.ar_mse_grid, &translated)?;
    println!("model      {} (id {id})", out.display());
    // What ran, not what the recipe planned: a step or time budget, or
    // Ctrl-C, may end it in an earlier epoch.
    let epochs = trained.history.last().map_or(0, |h| h.epoch);
    println!(
        "trained    {} optimiser step(s), {} in {train_seconds:.1} s",
        trained.steps,
        match trained.stop {
            train::Stop::Epochs => format!("{epochs} epoch(s)"),
            // A budget replaces the recipe's epochs.
            train::Stop::Steps => format!("into epoch {epochs}: the step budget spent"),
            train::Stop::Time => format!("into epoch {epochs}: the time budget spent"),
            _ if recipe.steps.is_some() || recipe.time_budget_s.is_some() => {
                format!("stopped in epoch {epochs}")
            }
            _ => format!(
                "stopped in epoch {epochs} of the recipe's {}",
                recipe.epochs
            ),
        }
    );
    print_metrics(&metrics);
    println!("report     {}", json_path.display());
    println!("figures    {}, {}", loss_png.display(), fig.display());
    Ok(())
}

/// `retrain --data`: train on recordings, judged against the baselines on
/// the held-out part of each file.
pub(crate) fn retrain_recordings(a: RetrainArgs, threads: Option<usize>) -> Result<()> {
    use pipeline::fit;
    a.rec.check()?;
    stop_on_ctrl_c();
    let recipe = recipe_from_args(&a, RecipeName::Recording)?;
    if recipe.random_windows_per_epoch > 0 {
        return Err(Usage(
            "recordings have no curve to draw random-phase windows from: drop --random-windows"
                .into(),
        )
        .into());
    }
    let Some(out) = a.out.clone() else {
        return Err(Usage("--out FILE is required with --data".into()).into());
    };
    writable_model_path(&out)?;
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    a.rec.say_large_files();
    let mut prepared = fit::prepare(
        &a.rec.data,
        &a.rec.csv.options(),
        a.rec.validate.unwrap_or(fit::DEFAULT_VALIDATE),
        recipe.window,
    )?;
    csv::devices_in_turn(&a.rec.csv, &prepared.recordings)?;
    let files: Vec<_> = prepared.recordings.iter().map(|f| &f.recording).collect();
    let excluded = pipeline::recording::across_files(&a.rec.csv.exclude, &files);
    if let Some(w) = excluded.map_err(|e| anyhow::anyhow!(pipeline::Error::Data(e)))? {
        eprintln!("WARNING: {w}");
    }
    for f in &prepared.recordings {
        input_not_time(&a.rec.csv, &f.recording)?;
    }
    let first = prepared.recordings.first().map(|f| &f.recording);
    for (i, f) in prepared.recordings.iter().enumerate() {
        let before = i.checked_sub(1).map(|b| &prepared.recordings[b]);
        println!("{}", data_line(f, Scored::Training, before));
        let unlike = first
            .as_ref()
            .and_then(|a| csv::unlike_first(a, &f.recording));
        // Files at other rates: the model records the first's step, and
        // reads the others' windows as faster or slower signals.
        let rate = (first.and_then(|a| a.time_step))
            .filter(|&t| {
                f.recording
                    .time_step
                    .is_some_and(|s| !(0.9..=1.1).contains(&(s / t)))
            })
            .and_then(|t| f.recording.other_rate(t, recipe.window, None))
            .map(|w| format!("{w} (the first file's step, which the model records)"));
        let warnings = identity_warning(&f.recording)
            .into_iter()
            .chain(unlike)
            .chain(rate);
        for w in warnings.chain(f.warnings.iter().cloned()) {
            eprintln!("WARNING: {}: {w}", f.recording.source());
        }
    }
    // No time column named, but one looks like it: windows span any gap.
    if let Some(hint) = csv::time_hint(&prepared.recordings, &a.rec.csv.options()) {
        println!("hint       {hint}");
    }
    let scaling = fit::fit_scaling(&prepared, a.scale)?;
    if !scaling.is_identity() {
        // Seven significant digits whatever the size (`0.000058` was all
        // a channel in the 1e-5 range kept).
        let n = |x: f64| {
            if x != 0.0 && !(0.01..1e7).contains(&x.abs()) {
                format!("{x:.6e}")
            } else {
                format!("{x:.6}")
            }
        };
        println!(
            "scaling    {}: input (x − {}) / {}, output (y − {}) / {}",
            format!("{:?}", scaling.method).to_lowercase(),
            n(scaling.input.center),
            n(scaling.input.scale),
            n(scaling.output.center),
            n(scaling.output.scale)
        );
    }
    memory::step_fits(&recipe, prepared.train.len())?;
    tracing::info!(
        train_windows = prepared.train.len(), validation_windows = prepared.valid.len(),
        recipe = %recipe.name, steps = ?recipe.steps, time_budget_s = ?recipe.time_budget_s,
        batch = recipe.batch, hidden = recipe.hidden, window = recipe.window, seed = recipe.seed,
        threads, "training"
    );
    let bar = budget_bar();
    bar.set_prefix("training");
    let started = Instant::now();
    let scaled = !scaling.is_identity();
    let skip = residual_skip(&a, &prepared.train, &scaling)?;
    let trained = fit::train(&mut prepared, &scaling, skip, &recipe, threads, |s| {
        bar.set_position((s.progress * 1000.0) as u64);
        // In the network's units (the table after is in the channel's).
        let val = s.val_ar_mse.map_or(String::new(), |v| {
            format!(
                "  val AR MSE {v:.3e}{}",
                if scaled { " (scaled)" } else { "" }
            )
        });
        bar.set_message(format!(
            "step {}  loss {:.3e}{val}  lr {:.1e}",
            s.step, s.loss, s.lr
        ));
        if bar.is_hidden() && s.step.is_multiple_of(recipe.eval_every * 5) {
            tracing::info!("step {} loss {:.3e}{val}", s.step, s.loss);
        }
    })?;
    bar.finish_and_clear();
    TRAINED.store(true, std::sync::atomic::Ordering::Relaxed);
    let train_seconds = started.elapsed().as_secs_f64();

    let fast = pipeline::fast::FastModel::new(
        &train::params(&trained.tensors)?,
        recipe.hidden,
        recipe.window,
    )?
    .with_scaling(scaling)
    .with_skip(trained.model.skip().cloned())?;
    let bar = scoring_bar(prepared.scored().len());
    let progress = |done: usize| bar.set_position(done as u64);
    let run = fit::Scoring {
        threads,
        progress: &progress,
    };
    let mut scored = fit::score(&prepared, &fast, &run)?;
    bar.finish_and_clear();
    fit::parts::by_recording(&mut prepared, &mut scored);
    // Its budget spent with the last measurement the best: more would help.
    scored.comparison.still_improving =
        matches!(
            trained.stop,
            train::Stop::Steps | train::Stop::Time | train::Stop::Epochs
        ) && trained.best.is_some_and(|(step, _)| step == trained.steps);
    scored.comparison.fill_suspected = prepared.recordings.iter().any(|f| f.fill_suspected);
    scored.comparison.output_spikes = prepared.recordings.iter().any(|f| f.output_spikes);
    scored.comparison.residual = trained.model.skip().is_some();
    let ranges = fit::Ranges::of_training(&prepared);
    let beyond = ranges
        .filter(|_| scored.comparison.held_out)
        .and_then(|r| scored.against(&r, prepared.scored(), "the held-out part", "training saw"));
    let c = &scored.comparison;
    let created = format::now_rfc3339();
    let first = &prepared.recordings[0].recording;
    // The model's name (a route serving it is called by it): the file's stem.
    let name = out
        .file_stem()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    if pipeline::pairs::find(&name).is_ok() {
        eprintln!(
            "WARNING: the model is named {name:?} after its file, as a built-in pair is: `serve \
             --pair {name}` loads it, and `tail --truth` without --data scores it against that \
             pair's curve; a file name of its own avoids both"
        );
    }
    // The clock `pipeline join` held the input on, which `serve` reads it
    // on (the joined files' first line).
    // (Read on a clock of its own, `--resample`, the model is served on
    // that one: the join's is not recorded.)
    let (joined, other_clocks) = match a.rec.csv.resample {
        Some(_) => (None, None),
        None => reading::joined_clock(&a.rec.data),
    };
    if let Some(w) = other_clocks {
        eprintln!("WARNING: {w}");
    }
    if let Some(c) = joined {
        let flag = pipeline::config::duration_flag;
        eprintln!(
            "the input was held on the output's clock by pipeline join (the file's first line): \
             the model records it, and serve reads its input so (--resample {}{})",
            flag(c.resample_s),
            c.max_gap_s
                .map_or(String::new(), |h| format!(" --max-gap {}", flag(h)))
        );
    }
    let mut meta = Metadata {
        pair: Some(name),
        window: Some(recipe.window),
        recipe: Some(serde_json::to_value(&recipe)?),
        metrics: Some(serde_json::json!({
            "validation": c,
            // Each file once (a file of several streams is one recording
            // per stream).
            "data": a.rec.data.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
            // The files' contents, so that `eval` knows them under any path.
            "data_ids": a.rec.data.iter().filter_map(|d| csv::file_id(d)).collect::<Vec<_>>(),
            // The devices of files of several (`--stream-column`): `eval`
            // says which it scores that training never saw, and which not.
            "streams": fit::parts::streams(&prepared),
            "input": first.input_name,
            "output": first.output_name,
            // Their units, where a file says them (`serve` refuses
            // samples that say another).
            "input_unit": prepared.recordings.iter().find_map(|f| f.recording.input_unit()),
            "output_unit": prepared.recordings.iter().find_map(|f| f.recording.output_unit()),
            "header": first.header,
            // What `eval` reads the recordings with by default.
            "reading": reading::recorded(&csv::CsvArgs {
                // The order the dates showed, for a later file that may not.
                date_order: a.rec.csv.date_order.or_else(|| {
                    prepared.recordings.iter().find_map(|f| f.recording.date_order)
                }),
                max_gap: (a.rec.csv.max_gap).or_else(|| {
                    reading::logger_hold(prepared.recordings.iter().map(|f| f.recording.held_s))
                }),
                ..a.rec.csv.clone()
            }),
            // Joined on the output's clock: `serve` reads the input on it.
            "joined": joined,
            // What `eval` holds out by default: the same rows.
            "validate": prepared.validate,
            // And the sampling interval it expects (the first file's).
            "time_step_s": prepared.recordings.iter().find_map(|f| f.recording.time_step),
            // Read on a clock: how often the input changed, per tick (the
            // first file's), which `serve` tells a sped-up replay by.
            "changes_per_tick": prepared.recordings.iter().find_map(|f| f.recording.changes_per_tick),
            // Where `eval` finds these training rows in another file.
            "training_rows": prepared
                .recordings
                .iter()
                .map(|f| {
                    let (train, valid) = f.recording.split(prepared.validate);
                    fit::seen::TrainingRows::of(&train, &valid, recipe.window)
                        .spanning(&f.recording.row_times)
                })
                .collect::<Vec<_>>(),
            // What `eval` on a later recording compares its held-out part with.
            "ranges": ranges,
            // And the baselines it compares the model with there.
            "baselines": scored.baselines.to_record(),
        })),
        created: Some(created.clone()),
        scaling: Some(scaling),
    };
    mark_residual(&mut meta, &trained.model);
    let id = format::save(&out, &trained.tensors, recipe.hidden, recipe.window, &meta)?;
    let report = fit::FitReport {
        model: out.display().to_string(),
        model_id: &id,
        data: &prepared.recordings,
        validate: prepared.validate,
        validation: c,
        verdict: c.verdict(),
        beyond_training: beyond.clone(),
        slow_error: slow_error(c, recipe.window, &prepared),
        scaling: &scaling,
        recipe: &recipe,
        threads,
        steps: trained.steps,
        stop: trained.stop,
        best_step: trained.best.map(|b| b.0),
        train_seconds,
        created: &created,
        history: &trained.history,
    };
    let files = fit::write_report(&out, &report, &prepared, &scored)?;
    println!(
        "trained    {} step{} in {train_seconds:.1} s on {threads} thread(s), {}{}",
        trained.steps,
        if trained.steps == 1 { "" } else { "s" },
        trained.stop,
        trained.best.map_or(String::new(), |(s, _)| format!(
            "; kept the weights of step {s}"
        ))
    );
    print!("{}", c.table(unit(&prepared)));
    let on = prepared.scored();
    let newest = (c.held_out).then(|| {
        pipeline::eval::newest_line(
            &on.target,
            &scored.model,
            &scored.linear,
            on.window,
            unit(&prepared),
        )
    });
    for line in fit::parts::lines(&prepared)
        .into_iter()
        .chain(newest.flatten())
    {
        println!("{line}");
    }
    println!("verdict    {}", c.verdict());
    // What `serve --deviation` would say of the held-out windows, with the
    // threshold this model will carry (3 × this held-out RMSE).
    if c.held_out && c.model.mse > 0.0 {
        let rmse = c.model.mse.sqrt();
        let on = prepared.scored();
        let parts = fit::parts::counts(&prepared);
        let watch = pipeline::config::DeviationConfig::default();
        let t = pipeline::config::RMSE_MULTIPLE * rmse;
        let mut r =
            pipeline::deviation::replay(&watch, t, &parts, on.window, &scored.model, &on.target);
        r.locate(&|part, k| fit::parts::window_end(&prepared, part, k));
        r.step_s = (prepared.recordings.iter()).find_map(|f| f.recording.time_step);
        let whence = format!(
            "{} × this held-out RMSE {}",
            pipeline::config::RMSE_MULTIPLE,
            pipeline::eval::significant(rmse)
        );
        println!("watch      {}", r.line(&whence, unit(&prepared)));
    }
    if let Some(why) = &beyond {
        println!("WARNING    {why}");
    }
    let on = prepared.scored();
    let past = (ranges.filter(|_| c.held_out))
        .and_then(|r| r.translations_beyond(on, &scored.model, unit(&prepared)));
    if let Some(why) = &past {
        println!("WARNING    {why}");
    }
    if let Some(why) = &report.slow_error {
        println!("WARNING    {why}");
    }
    // The held-out part chose the weights kept: the best of several
    // measurements on it leans optimistic, which a later recording does not.
    let measured = trained
        .history
        .iter()
        .filter(|h| h.val_ar_mse.is_some())
        .count();
    // Several files, each one's last rows held out: no file was unseen
    // (a model of three patients scored 96.6% below the map on their
    // tails and 52% above it on a fourth).
    let split = (prepared.recordings.iter())
        .filter(|f| f.validation_rows > 0)
        .count();
    if split > 1 && c.held_out {
        println!(
            "note       held out: the last rows of each of the {split} recordings, so each was \
             trained on too; how the model does on another (a patient, a unit, a site it never \
             saw) only `pipeline eval --data` on such a file says"
        );
    }
    if trained.best.is_some() && measured > 1 && c.held_out {
        println!(
            "note       the weights kept did best on the held-out part among {measured} \
             measurements, so its scores lean optimistic; `pipeline eval --data` on a later \
             recording scores the model on rows that chose nothing"
        );
    }
    if scored.baselines.to_record().is_none() {
        println!(
            "note       the baselines of a {}-sample window are not stored in the model file \
             (the linear map alone is {}² coefficients): `pipeline eval` of a new recording \
             fits them on that recording's first part",
            recipe.window, recipe.window
        );
    }
    println!("model      {} (id {id})", out.display());
    println!("report     {}", files[0].display());
    println!(
        "figures    {}",
        files[1..]
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if a.strict && !c.worth_serving {
        eprintln!(
            "error: --strict: the model is not worth serving: it must beat both baselines, with \
             an error below the held-out signal's own variance (NMSE < 1), and do better than \
             its own mean in most streams of a fleet; see the verdict"
        );
        std::process::exit(2);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
