//! `pipeline eval`: a model against a pair's curves, or (`--data`) against
//! the held-out part of recordings beside the two baselines.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use pipeline::data::Dataset;
use pipeline::{eval, pairs, report};

use super::Usage;
use super::train::{ModelArgs, RecordingArgs, data_line, load_model};

mod against;
mod input;
mod seen;
mod trained;
mod watch;

use trained::{other_columns, trained_columns, trained_validate};

#[derive(Args)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// With --data: the model and both baselines on the held-out part.
    #[command(flatten)]
    pub(crate) rec: RecordingArgs,
    /// Print the metrics as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Where to write the figure (default `out/eval-<pair>.png`; for a
    /// recording, `out/eval-<model>-<recording>.png`).
    #[arg(long)]
    pub(crate) plot: Option<PathBuf>,
    /// Seed of the random-phase evaluation windows.
    #[arg(long, default_value_t = eval::EVAL_SEED)]
    pub(crate) seed: u64,
    /// With --data: score this model file too, on the same windows, and
    /// say whether its error is lower than the model's beyond chance (a
    /// candidate against the model serving, before a reload or a promote).
    #[arg(long, value_name = "FILE", requires = "data")]
    pub(crate) against: Option<PathBuf>,
    /// With --data: the threshold (output units) of the `watch` line, as
    /// `serve --deviation THRESHOLD` would judge these windows [default: 3 ×
    /// the model's held-out RMSE].
    #[arg(long, value_name = "THRESHOLD", requires = "data", value_parser = super::serve::threshold,
          allow_negative_numbers = true)]
    pub(crate) deviation: Option<f64>,
    /// With --data: the side of the `watch` line, as `serve --deviation-side`.
    #[arg(long, value_enum, requires = "data")]
    pub(crate) deviation_side: Option<super::serve::DeviationSide>,
    /// With --data: the windows the `watch` line's mean is over, as `serve
    /// --deviation-windows` [default: 4].
    #[arg(long, value_name = "N", requires = "data", value_parser = super::serve::deviation_windows)]
    pub(crate) deviation_windows: Option<usize>,
}

pub(crate) fn print_metrics(m: &eval::Metrics) {
    println!(
        "AR MSE     {:.3e} on {} grid windows",
        m.ar_mse_grid, m.grid_windows
    );
    if let Some(r) = m.ar_mse_random {
        println!(
            "AR MSE     {r:.3e} on {} random-phase windows",
            m.random_windows
        );
    }
    println!(
        "TF MSE     {:.3e} (teacher-forced, grid windows)",
        m.tf_mse_grid
    );
}

/// `eval --data`: the model (with its own scaling) and both baselines on
/// the held-out part of the recordings.
pub(crate) fn evaluate_recordings(loaded: &pipeline::LoadedModel, a: &EvalArgs) -> Result<()> {
    use pipeline::fit;
    // The reading flags and columns default to those the model was trained
    // with (then to sniffing, and to columns 0 and 1).
    // The reading flags are checked once training's are taken: a gap
    // without a time column may be for the one training used.
    a.rec.check_files()?;
    let challenger = (a.against.as_deref())
        .map(|p| against::load(p, loaded))
        .transpose()?;
    let (given, taken) =
        super::train::reading::as_trained(&a.rec.csv, loaded.meta.metrics.as_ref());
    given.check()?;
    if !taken.is_empty() {
        eprintln!(
            "reading the recording as the model was trained: {}",
            taken.join(" ")
        );
    }
    let mut csv = given.options();
    if let Some((input, output)) = trained_columns(&loaded.meta) {
        csv.input = given.input.clone().unwrap_or(input);
        csv.output = given.output.clone().unwrap_or(output);
    }
    // The rows the model was not trained on: by default the fraction it
    // was trained with; a larger one scores some of its training rows.
    let trained = trained_validate(&loaded.meta);
    let w = loaded.model.window();
    // Whether any file given is one the model was trained on (each file's
    // content id read once).
    let is_training: Vec<bool> = (a.rec.data.iter())
        .map(|d| {
            trained.as_ref().is_some_and(|(_, files)| {
                files.includes(d, super::train::csv_file_id(d).as_deref())
            })
        })
        .collect();
    let overlap = is_training.contains(&true);
    // A training file's held-out part and a new recording are scored two
    // ways (against baselines fitted on the file's first part; whole,
    // against the training baselines): mixed, the new one would be scored
    // only on its last part, by baselines fitted partly on its own rows.
    let recorded = fit::Baselines::recorded(loaded.meta.metrics.as_ref(), w).is_some();
    if overlap && is_training.contains(&false) && a.rec.validate.is_none() && recorded {
        let name = |t: bool| {
            let i = is_training.iter().position(|&x| x == t).unwrap_or(0);
            a.rec.data[i].display().to_string()
        };
        return Err(Usage(format!(
            "{} is a file the model was trained on and {} is not one by its bytes: eval them in \
             two runs (a new recording alone is scored whole, the honest test, with the rows it \
             shares with training found and left out; a training file on its held-out part), or \
             give --validate F to score the last part of each",
            name(true),
            name(false)
        ))
        .into());
    }
    // Recordings the model never saw are scored whole, against the
    // baselines fitted on its training data (stored with it): the honest
    // question for a new recording is how the model and those baselines do
    // on all of it, not how a baseline fitted on its first rows does.
    let unseen = match (&trained, a.rec.validate) {
        (Some((_, files)), None) if !files.is_empty() => (!overlap)
            .then(|| fit::Baselines::recorded(loaded.meta.metrics.as_ref(), w))
            .flatten(),
        _ => None,
    };
    // A new recording without stored baselines is split to fit them: on its
    // first part, not (as a model trained with --validate 0 would have it)
    // on every window they are scored on.
    let new_recording = matches!(&trained, Some((_, files)) if !files.is_empty()) && !overlap;
    let split_new = new_recording && unseen.is_none() && a.rec.validate.is_none();
    if split_new && w > fit::MAX_RECORDED_WINDOW {
        eprintln!(
            "the model file holds no baselines (not stored for windows over {} samples): each \
             recording is scored on its last part, against baselines fitted on the rest",
            fit::MAX_RECORDED_WINDOW
        );
    }
    let validate = match unseen {
        Some(_) => 0.0,
        None => a
            .rec
            .validate
            .or(trained.as_ref().map(|(v, _)| *v))
            .filter(|&v| v > 0.0 || !split_new)
            .unwrap_or(fit::DEFAULT_VALIDATE),
    };
    // Said on stderr as they come, and in --json's `warnings`.
    let mut warned: Vec<String> = Vec::new();
    a.rec.say_large_files();
    if let Some(why) = trained::rejected(loaded, a.deviation.is_some()) {
        warn(&mut warned, why);
    }
    // A stream column taken from training that this recording lacks (one
    // device's export scored by a model of several): read as one device's
    // (with the time column's fallback below too, where that fails).
    let taken_stream = a.rec.csv.stream_column.is_none() && csv.stream.is_some();
    let mut prepared = fit::prepare(&a.rec.data, &csv, validate, w);
    // The stream column itself missing (not the time column, which the
    // fallback below reads without).
    let missing = match &csv.stream {
        Some(pipeline::recording::Column::Name(n)) => format!("no column named {n:?}"),
        Some(pipeline::recording::Column::Index(i)) => format!("no column {i} (0-based)"),
        None => String::new(),
    };
    if let (Err(e), true) = (&prepared, taken_stream)
        && e.to_string().contains(&missing)
    {
        let column = csv.stream.take().map(|c| c.to_string()).unwrap_or_default();
        csv.one_stream = true;
        warn(
            &mut warned,
            format!(
                "the model was trained on several devices' rows (--stream-column {column}), \
                 which this recording has no column for: read as one device's"
            ),
        );
        if let Ok(read) = fit::prepare(&a.rec.data, &csv, validate, w) {
            prepared = Ok(read);
        }
    }
    let prepared = match prepared {
        // A time column taken from training that this recording lacks (or
        // cannot read): read it without one, and say so.
        Err(e) if !csv.time.is_empty() && a.rec.csv.time_column.is_empty() => {
            let without = pipeline::recording::CsvOptions {
                time: Vec::new(),
                max_gap: None,
                ..csv.clone()
            };
            let Ok(read) = fit::prepare(&a.rec.data, &without, validate, w) else {
                return Err(e.into());
            };
            // A column of this file that looks like time stamps: the way
            // to keep windows off its gaps.
            let hint = (read.recordings.iter())
                .find_map(|f| f.recording.time_hint.clone())
                .map_or(String::new(), |flags| {
                    format!(
                        "; {flags} looks like this file's time stamps: name it to split at its gaps"
                    )
                });
            warn(
                &mut warned,
                format!("{e}: read without the time column the model was trained with{hint}"),
            );
            read
        }
        r => r?,
    };
    super::train::csv::devices_in_turn(&given, &prepared.recordings)?;
    // Another sampling rate than training's: windows of another length in time.
    let trained_step = loaded.meta.metrics.as_ref().map(|m| &m["time_step_s"]);
    // The gap `serve` restarts windows at for this model, by default.
    let served_gap = pipeline::window::TimeGaps::of(None, loaded.meta.metrics.as_ref())
        .map(|g| g.max_gap_ns as f64 / 1e9);
    for f in &prepared.recordings {
        let other = trained_step
            .and_then(serde_json::Value::as_f64)
            .and_then(|t| f.recording.other_rate(t, w, served_gap));
        if let Some(why) = other {
            warn(&mut warned, format!("{}: {why}", f.recording.source()));
        }
    }
    let whole = unseen.is_some();
    let mut prepared = prepared;
    if whole {
        // Read with nothing held out, but every row is scored: none was a
        // training row, unless found below.
        for f in &mut prepared.recordings {
            (f.train_rows, f.validation_rows) = (0, f.recording.kept_rows());
        }
    }
    let found = whole && seen::leave_out_training_rows(&mut prepared, loaded, &a.rec.data)?;
    let bar = super::train::scoring_bar(prepared.scored().len());
    let progress = |done: usize| bar.set_position(done as u64);
    let run = fit::Scoring {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        progress: &progress,
    };
    let mut scored = match unseen {
        Some(baselines) => {
            eprintln!(
                "scoring every window{}; the baselines are those fitted on its training data \
                 (--validate F scores only their last part, with baselines fitted on the rest)",
                if found {
                    " the model was not trained on"
                } else {
                    ": the model never saw these recordings"
                }
            );
            let mut s = fit::score_with(&prepared, &loaded.fast, baselines, &run)?;
            // "unseen" unless some windows chose the weights.
            s.comparison.never_seen = prepared
                .recordings
                .iter()
                .all(|f| f.held_out_windows_found.is_none());
            s
        }
        None => fit::score(&prepared, &loaded.fast, &run)?,
    };
    bar.finish_and_clear();
    fit::parts::by_recording(&mut prepared, &mut scored);
    scored.comparison.fill_suspected = prepared.recordings.iter().any(|f| f.fill_suspected);
    scored.comparison.output_spikes = prepared.recordings.iter().any(|f| f.output_spikes);
    scored.comparison.residual = loaded.model.skip().is_some();
    let seen = trained.and_then(|(v, _)| (validate > v && overlap).then_some(v));
    if let Some(v) = seen {
        scored.comparison.held_out = false;
        warn(
            &mut warned,
            format!(
                "the model was trained with --validate {v} on this file: with --validate \
                 {validate} some scored rows were training rows, so the score is partly \
                 in-sample (leave --validate out to score the rows it never saw)"
            ),
        );
    }
    // The range the model was trained on (a model from before it was
    // recorded: this file's training part's).
    let recorded = fit::Ranges::recorded(loaded.meta.metrics.as_ref());
    let from = if recorded.is_some() {
        "training saw"
    } else {
        "of the recording's first part (the model records no training ranges)"
    };
    let what = if whole {
        "the recording"
    } else {
        "the held-out part"
    };
    let ranges = recorded.or_else(|| fit::Ranges::of_training(&prepared));
    let beyond = (ranges.filter(|_| scored.comparison.held_out))
        .and_then(|r| scored.against(&r, prepared.scored(), what, from));
    let unit = super::train::unit(&prepared);
    let past = (ranges.filter(|_| scored.comparison.held_out))
        .and_then(|r| r.translations_beyond(prepared.scored(), &scored.model, unit));
    if let Some(why) = past {
        warn(&mut warned, why);
    }
    let against = (challenger.as_ref())
        .map(|ch| {
            against::score(
                loaded,
                ch,
                &prepared,
                &scored,
                &a.rec.data,
                (whole, validate),
            )
        })
        .transpose()?;
    for why in against.iter().flat_map(|x| &x.warnings) {
        warn(&mut warned, why.clone());
    }
    let slow = super::train::slow_error(&scored.comparison, loaded.model.window(), &prepared);
    // Set where a warning below says the input is unlike training's.
    let mut unlike = false;
    // Named by the model and the (first) recording: an evaluation on
    // another file does not overwrite this one's.
    let plot = a.plot.clone().unwrap_or_else(|| {
        let stem = |p: &std::path::Path| p.file_stem().map(|s| s.to_string_lossy().into_owned());
        let model = stem(&loaded.path).unwrap_or_else(|| "validation".into());
        match a.rec.data.first().and_then(|d| stem(d)) {
            Some(data) => PathBuf::from(format!("out/eval-{model}-{data}.png")),
            None => PathBuf::from(format!("out/eval-{model}.png")),
        }
    });
    fit::validation_figure(&plot, &prepared, &scored)?;
    // Beside it: every scored window at a glance (`eval-x.png` → `eval-x.heldout.png`).
    let overview = plot.with_extension("heldout.png");
    fit::overview_figure(&overview, &prepared, &scored)?;
    for f in &prepared.recordings {
        for w in &f.warnings {
            eprintln!("WARNING: {}: {w}", f.recording.source());
        }
        // Another channel than the model's own (serving warns the same way
        // on a reload or a shadow): the scaling assumes other units.
        for (what, trained, theirs) in other_columns(&loaded.meta, &f.recording) {
            unlike = true;
            warn(
                &mut warned,
                format!(
                    "this model was trained on {what} {trained:?}, scored here on {theirs:?}: its \
                     scaling expects that channel's units"
                ),
            );
        }
    }
    // Devices trained on that the files have none of, or new to the model.
    let trained = trained::trained_streams(&loaded.meta);
    for why in fit::parts::unlike_trained(&trained, &fit::parts::streams(&prepared)) {
        warn(&mut warned, why);
    }
    // The same channel in other units (a decimal convention misread, a
    // recording in mV for a model in V): the model's scaling says.
    if let Some(expects) = loaded.meta.scaling.map(|s| s.input) {
        let inputs = prepared.recordings.iter().flat_map(|f| f.recording.input());
        let seen = pipeline::scaling::Affine::standard(inputs);
        if let Some((unlike_training, why)) = input::unlike(seen, expects) {
            unlike |= unlike_training;
            warn(&mut warned, why);
        }
    }
    scored.comparison.input_unlike_training = unlike;
    let watch = watch::replay(loaded, &prepared, &scored, a);
    let apart = watch::apart(&watch, &prepared, &scored);
    let c = &scored.comparison;
    if a.json {
        let on = prepared.scored();
        let newest = pipeline::eval::newest_rmse(&on.target, &scored.model, &scored.linear, on.window)
            .map(|[model, linear, all]| {
                serde_json::json!({"model_rmse": model, "linear_rmse": linear, "model_rmse_all_values": all})
            });
        let v = serde_json::json!({
            "model": loaded.path.display().to_string(),
            "model_id": loaded.id,
            "data": prepared.recordings,
            "validate": prepared.validate,
            "validation": c,
            "verdict": c.verdict(),
            "beyond_training": beyond,
            // Most of the error slower than a window: what it is made of.
            "slow_error": slow,
            // What stderr's WARNING lines said (each file's own are in `data`).
            "warnings": warned,
            // Scored whole: no file given is, or holds, training rows.
            "never_trained_on": whole && !found,
            "plot": plot.display().to_string(),
            "overview_plot": overview.display().to_string(),
            "against": against.as_ref().map(against::Against::json),
            "deviation_watch": watch.as_ref().ok().map(|(r, _)| r),
            "apart_from_deviations": apart.as_ref().map(watch::Apart::json),
            // Each window's newest value: what a live display shows.
            "newest": newest,
        });
        println!("{v}");
    } else {
        println!("model      {} (id {})", loaded.path.display(), loaded.id);
        for (i, f) in prepared.recordings.iter().enumerate() {
            let part = if whole {
                super::train::Scored::Whole
            } else {
                super::train::Scored::HeldOut
            };
            let before = i.checked_sub(1).map(|b| &prepared.recordings[b]);
            println!("{}", data_line(f, part, before));
        }
        let unit = super::train::unit(&prepared);
        print!("{}", c.table(unit));
        let on = prepared.scored();
        let newest =
            pipeline::eval::newest_line(&on.target, &scored.model, &scored.linear, on.window, unit);
        for line in fit::parts::lines(&prepared).into_iter().chain(newest) {
            println!("{line}");
        }
        // Where the windows of a fault decide it, said first.
        let decided = (apart.as_ref())
            .filter(|x| x.comparison.beats_baselines && !c.beats_baselines)
            .map_or(String::new(), |x| {
                format!(
                    "on every window, the watch's {} deviation(s) deciding it (apart from them the \
                     model beats both baselines, below): ",
                    x.deviations
                )
            });
        println!("verdict    {decided}{}", c.verdict());
        println!("watch      {}", watch::line(&watch, c.held_out, &prepared));
        if let Some(x) = &apart {
            let unit = super::train::unit(&prepared);
            println!("apart      {}", x.line(c.windows, unit));
        }
        if let Some(x) = &against {
            println!("against    {}", x.line(&c.model));
        }
        if let Some(why) = &beyond {
            println!("WARNING    {why}");
        }
        if let Some(why) = &slow {
            println!("WARNING    {why}");
        }
        // A training file's held-out part chose the weights kept (the
        // recording recipe keeps the step that did best on it), as retrain's
        // note says: the same caveat here.
        let recipe = loaded.meta.recipe.as_ref().and_then(|r| r.get("name"));
        if overlap && c.held_out && recipe.is_some_and(|n| n == "recording") {
            println!(
                "note       the held-out part of a training file chose the weights kept (the step \
                 that did best on it), so its scores lean optimistic; a later recording scores \
                 the model on rows that chose nothing"
            );
        }
        println!("figures    {}, {}", plot.display(), overview.display());
    }
    Ok(())
}

/// Says `why` on stderr now, and keeps it for `--json`; once (a file of
/// several devices would say the same of each).
fn warn(list: &mut Vec<String>, why: String) {
    if list.contains(&why) {
        return;
    }
    eprintln!("WARNING: {why}");
    list.push(why);
}

pub(crate) fn evaluate(models_dir: &Path, a: EvalArgs) -> Result<()> {
    let loaded = load_model(models_dir, &a.model)?;
    let w = loaded.model.window();
    if !a.rec.data.is_empty() {
        return evaluate_recordings(&loaded, &a);
    }
    let id = a
        .model
        .pair
        .clone()
        .or_else(|| loaded.meta.pair.clone())
        .context("which data? pass --pair NAME or --data FILE.csv")?;
    if pairs::find(&id).is_err()
        && let Some(m) = &loaded.meta.metrics
        && m.get("validation").is_some()
    {
        bail!(
            "`{id}` was trained on recordings ({}): pass --data FILE",
            m["data"]
        );
    }
    let data = Dataset::pair(&id, w)?;
    let name = data.name.clone();
    let (metrics, translated) = eval::evaluate(&loaded.model, &data.fixed, data.pair, a.seed)?;
    let plot = a.plot.unwrap_or_else(|| {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        PathBuf::from(format!("out/eval-{safe}.png"))
    });
    report::translation_figure(&plot, &data, metrics.ar_mse_grid, &translated)?;
    if a.json {
        let v = serde_json::json!({
            "model": loaded.path.display().to_string(),
            "model_id": loaded.id,
            "data": name,
            "metrics": metrics,
            "plot": plot.display().to_string(),
        });
        println!("{v}");
    } else {
        println!("model      {} (id {})", loaded.path.display(), loaded.id);
        println!("data       {name}");
        print_metrics(&metrics);
        println!("figure     {}", plot.display());
    }
    Ok(())
}
