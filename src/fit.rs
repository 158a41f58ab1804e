//! Training on a user's recordings, judged honestly: read the CSV files,
//! split each chronologically (the last part held out, no window straddling
//! the cut), fit the scaling on the training part only, train with early
//! stopping on the held-out part, and score the model in physical units
//! against the two baselines ([`crate::baseline`]) on the same windows.
//!
//! `pipeline retrain --data` is [`prepare`] → [`train`] → [`score`] →
//! [`write`]; `pipeline eval --data` is [`prepare`] → [`score`] with the
//! model file's own scaling.

use std::path::PathBuf;

use serde::Serialize;

use crate::baseline::{LinearMap, MeanPredictor};
use crate::data::Windows;
use crate::error::{Error, Result};
use crate::eval::Comparison;
use crate::fast::FastModel;
use crate::recording::{self, CsvOptions, Recording, Segment};
use crate::scaling::{ScaleMethod, Scaling};
use crate::skip::Skip;
use crate::train::{EpochStats, Recipe, Stop, TrainData, Trained};
pub use ranges::Ranges;

/// Default held-out fraction (the last 20% of each file).
pub const DEFAULT_VALIDATE: f64 = 0.2;

/// The recordings, split and windowed, in physical units.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub recordings: Vec<FileSummary>,
    /// Windows entirely inside the training part of some file.
    pub train: Windows,
    /// Windows entirely inside the held-out part of some file.
    pub valid: Windows,
    /// The training part's samples (for fitting the scale and the mean).
    pub train_input: Vec<f32>,
    pub train_output: Vec<f32>,
    pub validate: f64,
}

/// What was read from one file, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    #[serde(flatten)]
    pub recording: Recording,
    pub train_rows: usize,
    pub validation_rows: usize,
    /// The file's data row (0-based, skipped rows counted) where the
    /// held-out part starts: `publish --start-seq` to replay it.
    pub validation_from_row: Option<usize>,
    /// What the user should know before trusting a model trained on it.
    pub warnings: Vec<String>,
    /// One of them is of a missing-value code or a logger's fill in a
    /// channel (see [`crate::eval::Comparison::fill_suspected`]).
    #[serde(skip)]
    pub fill_suspected: bool,
    /// One of them is of spikes in the output (see
    /// [`crate::eval::Comparison::output_spikes`]).
    #[serde(skip)]
    pub output_spikes: bool,
    /// `eval` on a file not known by its bytes: its rows found to be a
    /// model's training rows ([`seen::find`]), not scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training_rows_found: Option<usize>,
    /// And its windows scored that have rows of a training file's held-out
    /// part (which chose the weights).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_out_windows_found: Option<usize>,
    /// Its windows among the training and the held-out ones (in that
    /// order, as they lie in [`Prepared`]'s).
    #[serde(skip)]
    pub windows: [usize; 2],
    /// Its share of the score (see [`parts::by_recording`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scored: Option<parts::PartScore>,
}

/// Reads `files` and splits each at `1 − validate` of its rows.
pub fn prepare(
    files: &[PathBuf],
    csv: &CsvOptions,
    validate: f64,
    window: usize,
) -> Result<Prepared> {
    if files.is_empty() {
        return Err(Error::Data("no data files".into()));
    }
    if !(0.0..1.0).contains(&validate) {
        return Err(Error::Data(format!(
            "--validate must be in [0, 1), got {validate}"
        )));
    }
    let mut p = Prepared {
        recordings: Vec::new(),
        train: Windows::empty(window),
        valid: Windows::empty(window),
        train_input: Vec::new(),
        train_output: Vec::new(),
        validate,
    };
    // The order of day and month one file's dates show reads the others (a
    // file may lie within the first twelve days of its months): a file
    // refused before an order was known is read again with it.
    let mut csv = csv.clone();
    // A file of several devices' rows (a stream column) is one recording
    // per device, each split and held out as a file is.
    let mut read: Vec<Result<Vec<Recording>>> = Vec::with_capacity(files.len());
    for path in files {
        let rec = Recording::read_streams(path, &csv);
        if let Ok(r) = &rec {
            csv.date_order = csv.date_order.or(r.iter().find_map(|r| r.date_order));
        }
        read.push(rec);
    }
    if csv.date_order.is_some() {
        for (rec, path) in read.iter_mut().zip(files) {
            if rec.is_err() {
                *rec = Recording::read_streams(path, &csv);
            }
        }
    }
    // A channel named that is in another file given: two loggers' files,
    // one channel each (the closest name in this file was the other
    // channel, which a "did you mean" offered).
    for (rec, path) in read.iter_mut().zip(files) {
        if let Err(crate::error::Error::Data(why)) = rec {
            for c in [&csv.input, &csv.output] {
                if let Some(note) = elsewhere::note(c, why, path, files, &csv) {
                    elsewhere::no_guess(why);
                    why.push_str(&note);
                }
            }
        }
    }
    let read: Vec<Result<Recording>> = (read.into_iter())
        .flat_map(|r| match r {
            Ok(all) => all.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        })
        .collect();
    // Each file's training windows (for the overlap below) and held-out ones.
    let mut parts: Vec<(Windows, Windows)> = Vec::with_capacity(read.len());
    for rec in read {
        let rec = rec?;
        let (train, valid) = rec.split(validate);
        for s in &train {
            p.train_input.extend_from_slice(&s.input);
            p.train_output.extend_from_slice(&s.output);
        }
        parts.push((
            recording::windows(&train, window)?,
            recording::windows(&valid, window)?,
        ));
        // Scored: the held-out part, or every row where none is held out.
        let scored = if valid.is_empty() { &train } else { &valid };
        let (warnings, doubts) = channels::warnings(&rec, &train, scored, window);
        p.recordings.push(FileSummary {
            train_rows: train.iter().map(|s| s.len()).sum(),
            validation_rows: valid.iter().map(|s| s.len()).sum(),
            validation_from_row: valid.first().map(|s| s.start),
            warnings,
            fill_suspected: doubts.filled,
            output_spikes: doubts.output_spikes,
            training_rows_found: None,
            held_out_windows_found: None,
            windows: [0; 2],
            scored: None,
            recording: rec,
        });
    }
    // One device's channel orders of magnitude from the others', or in
    // another unit of temperature.
    let odd = magnitudes::outliers(&p.recordings);
    let said: Vec<usize> = odd.iter().map(|(i, _)| *i).collect();
    let units = magnitudes::temperatures(&p.recordings, &said);
    for (i, why) in odd.into_iter().chain(units) {
        p.recordings[i].warnings.push(why);
    }
    // Moved, not copied: a long recording's windows are most of the memory
    // a run takes (rows × window × 8 bytes).
    let notes = overlap::held_out(&mut parts);
    for (f, ((train, valid), note)) in parts.into_iter().zip(notes).enumerate() {
        p.recordings[f].windows = [train.len(), valid.len()];
        p.train.append(train);
        p.valid.append(valid);
        p.recordings[f].warnings.extend(note);
    }
    let rows: usize = p.recordings.iter().map(|r| r.recording.rows).sum();
    if p.train.is_empty() {
        let gaps: usize = p.recordings.iter().map(|r| r.recording.time_gaps).sum();
        let skipped: usize = p.recordings.iter().map(|r| r.recording.skipped).sum();
        // Rows enough, but never `window` of them in a row: skipped rows
        // and gaps cut them shorter than a window.
        let longest = p
            .recordings
            .iter()
            .flat_map(|r| r.recording.segments.iter().map(Segment::len))
            .max()
            .unwrap_or(0);
        let runs = if (skipped > 0 || gaps > 0) && rows >= 2 * window {
            format!(
                "; the longest run of rows with no skipped row or gap inside is {longest}, \
                 and a window needs {window} in a row ({skipped} row(s) skipped, {gaps} gap(s)): \
                 fill the missing cells, or train a smaller --window"
            )
        } else {
            String::new()
        };
        return Err(Error::Data(format!(
            "no training window of {window} samples: {rows} rows in all, {:.0}% held out{}{runs}",
            validate * 100.0,
            if gaps > 0 {
                format!(
                    ", split at {gaps} gap(s) in time (is --max-gap shorter than the time step?)"
                )
            } else {
                String::new()
            }
        )));
    }
    if validate > 0.0 && p.valid.is_empty() {
        // Below two windows' rows, no --validate leaves both parts one.
        let most = p
            .recordings
            .iter()
            .map(|r| r.recording.rows)
            .max()
            .unwrap_or(0);
        let advice = if most < 2 * window {
            format!(
                "a training and a held-out window need {} rows in one file, the longest has \
                 {most}: use more data (or a smaller --window)",
                2 * window
            )
        } else {
            "use more data or a larger --validate".into()
        };
        return Err(Error::Data(format!(
            "the held-out part ({}% of each file) holds no window of {window} samples; \
             {advice}",
            // 0.5%, not "0%".
            (validate * 1e5).round() / 1e3
        )));
    }
    Ok(p)
}

impl Prepared {
    /// The windows the comparison is made on: the held-out ones, or (with
    /// `--validate 0`) the training ones, which flatters every predictor.
    pub fn scored(&self) -> &Windows {
        if self.valid.is_empty() {
            &self.train
        } else {
            &self.valid
        }
    }
}

/// Trains on `p` (scaled by `scaling`, batch by batch) with `recipe`,
/// stopping early on the held-out windows; with a `skip` (`--residual`),
/// on what it leaves of the targets. The training windows are lent
/// to the run and given back: a copy of a long recording's (rows × window ×
/// 8 bytes) would double the memory it takes.
pub fn train(
    p: &mut Prepared,
    scaling: &Scaling,
    skip: Option<Skip>,
    recipe: &Recipe,
    threads: usize,
    progress: impl FnMut(&EpochStats),
) -> Result<Trained> {
    let window = p.train.window;
    let data = TrainData {
        fixed: std::mem::replace(&mut p.train, Windows::empty(window)),
        pair: None,
        scaling: *scaling,
        skip,
    };
    let trained = crate::train::train_validated(
        recipe,
        &data,
        (!p.valid.is_empty()).then_some(&p.valid),
        threads,
        progress,
    );
    p.train = data.fixed;
    trained
}

/// Predictions on the scored windows, for the comparison and the figure.
pub struct Scored {
    pub comparison: Comparison,
    pub model: Vec<f32>,
    pub linear: Vec<f32>,
    /// The baselines compared with, as fitted (stored with the model, so
    /// that `eval` on a recording it never saw compares with them).
    pub baselines: Baselines,
}

impl Scored {
    /// Compares the scored windows `on` with the training `ranges`: the
    /// warning to print when they go beyond them ([`Ranges::beyond`]), and
    /// the comparison's note of it for the verdict.
    pub fn against(
        &mut self,
        ranges: &Ranges,
        on: &Windows,
        what: &str,
        from: &str,
    ) -> Option<String> {
        let beyond = ranges.beyond(on, what, from);
        let mean = self.baselines.mean.predict(&on.input);
        let c = &mut self.comparison;
        c.beyond_training = beyond.is_some();
        // Within the range, does it beat what it loses to overall?
        c.wins_within_range = beyond
            .as_ref()
            .and_then(|_| ranges.errors_within(on, [&self.model, &self.linear, &mean]))
            .map(|[model, linear, mean]| {
                let lost_to = |b: &crate::eval::Score| c.model.mse >= b.mse;
                (!lost_to(&c.linear_baseline) || model < linear)
                    && (!lost_to(&c.mean_baseline) || model < mean)
            });
        beyond
    }
}

/// The longest window whose baselines a model file stores: the linear
/// map's W × W coefficients are JSON in the file's header, ~5 MB at 512,
/// and safetensors readers refuse a header over 100 MB (W ≈ 2,150).
pub const MAX_RECORDED_WINDOW: usize = 512;

/// The two baselines, fitted on a model's training windows.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Baselines {
    pub mean: MeanPredictor,
    pub linear: LinearMap,
}

impl Baselines {
    /// Fitted on `p`'s training part.
    pub fn fit(p: &Prepared) -> Result<Self> {
        Ok(Self {
            mean: MeanPredictor::fit(&p.train_output)?,
            linear: LinearMap::fit(&p.train)?,
        })
    }

    /// What a model file stores of them: all, up to windows of
    /// [`MAX_RECORDED_WINDOW`]; beyond it none (`eval` of a new recording
    /// then fits them on the recording's first part, as for older models).
    pub fn to_record(&self) -> Option<&Self> {
        (self.linear.window() <= MAX_RECORDED_WINDOW).then_some(self)
    }

    /// The baselines a model's metrics recorded (`None` for models from
    /// before they were, of another window, or damaged).
    pub fn recorded(metrics: Option<&serde_json::Value>, window: usize) -> Option<Self> {
        let b: Self = serde_json::from_value(metrics?.get("baselines")?.clone()).ok()?;
        (b.linear.window() == window && b.linear.is_sound() && b.mean.mean.is_finite()).then_some(b)
    }
}

/// How the model's translations of the scored windows are computed.
pub struct Scoring<'a> {
    /// Threads sharing the windows.
    pub threads: usize,
    /// Called with the windows translated so far.
    pub progress: &'a (dyn Fn(usize) + Sync),
}

/// Scores `model` (which applies its own scaling) and both baselines,
/// fitted on `p`'s training part, on the held-out windows, in physical
/// units.
pub fn score(p: &Prepared, model: &FastModel, run: &Scoring) -> Result<Scored> {
    let baselines = Baselines::fit(p)?;
    let mut scored = score_with(p, model, baselines, run)?;
    scored.comparison.held_out = !p.valid.is_empty();
    if !scored.comparison.held_out {
        tracing::warn!("--validate 0: the comparison is on the training windows (in-sample)");
    }
    Ok(scored)
}

/// Scores `model` and the given `baselines` on `p`'s scored windows (the
/// held-out ones, or all of them when none are held out).
pub fn score_with(
    p: &Prepared,
    model: &FastModel,
    baselines: Baselines,
    run: &Scoring,
) -> Result<Scored> {
    let on = p.scored();
    let pred = model.translate_windows(&on.input, run.threads, run.progress)?;
    let mean = baselines.mean.predict(&on.input);
    let linear = baselines.linear.predict(&on.input);
    let comparison = Comparison::new(on, &pred, &mean, &linear)?;
    Ok(Scored {
        comparison,
        model: pred,
        linear,
        baselines,
    })
}

/// The report written beside a model trained on recordings.
#[derive(Debug, Serialize)]
pub struct FitReport<'a> {
    pub model: String,
    pub model_id: &'a str,
    pub data: &'a [FileSummary],
    /// Fraction of each file held out (its last rows).
    pub validate: f64,
    /// Validation windows are stride 1 over the held-out rows.
    pub validation: &'a Comparison,
    /// One line: does the model beat both baselines.
    pub verdict: String,
    /// Where the held-out part goes beyond the training range
    /// ([`Ranges::beyond`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beyond_training: Option<String>,
    /// Where most of the model's error changes more slowly than its window
    /// (`eval::ErrorParts::warning`): what the verdict points at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_error: Option<String>,
    pub scaling: &'a Scaling,
    pub recipe: &'a Recipe,
    /// Threads that computed each mini-batch's gradient (with the seed, what
    /// makes a run reproducible).
    pub threads: usize,
    pub steps: usize,
    pub stop: Stop,
    /// The step whose weights were kept (the best validation MSE).
    pub best_step: Option<usize>,
    pub train_seconds: f64,
    pub created: &'a str,
    pub history: &'a [EpochStats],
}

/// Fits the scaling for `method` on the training part.
pub fn fit_scaling(p: &Prepared, method: ScaleMethod) -> Result<Scaling> {
    Scaling::fit(method, &p.train_input, &p.train_output)
}

mod channels;
mod elsewhere;
mod figures;
mod magnitudes;
mod overlap;
pub mod parts;
mod ranges;
pub mod seen;
pub use figures::{FIGURE_WINDOWS, overview_figure, validation_figure, write_report};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::Column;

    /// Files of US dates, the first within days 1 to 12 of its month: the
    /// second's `3/13/2026` tells the order, which reads the first too.
    #[test]
    fn one_files_dates_tell_the_order_for_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, day: u32| {
            let path = dir.path().join(name);
            let mut text = String::from("t,x,y\n");
            for i in 0..150 {
                text += &format!("3/{day}/2026 {}:{:02} PM,{i},{i}\n", 1 + i / 60, i % 60);
            }
            std::fs::write(&path, text).unwrap();
            path
        };
        let (early, late) = (file("early.csv", 2), file("late.csv", 13));
        let opts = CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            time: vec![Column::Name("t".into())],
            ..Default::default()
        };
        let p = prepare(&[early.clone(), late], &opts, 0.2, 24).unwrap();
        let orders: Vec<_> = p
            .recordings
            .iter()
            .map(|f| f.recording.date_order)
            .collect();
        assert_eq!(orders, [Some(recording::DateOrder::MonthFirst); 2]);
        assert_eq!(p.recordings[0].recording.path, early);
        // Alone, the early file cannot tell.
        let e = prepare(&[early], &opts, 0.2, 24).unwrap_err().to_string();
        assert!(e.contains("--date-order"), "{e}");
    }

    /// Rows enough, but cut by skipped rows into runs shorter than a
    /// window: the refusal names the longest run and what to do.
    #[test]
    fn runs_shorter_than_a_window_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("holes.csv");
        let mut text = String::from("x,y\n");
        for i in 0..200 {
            let cell = if i % 10 == 9 {
                String::new()
            } else {
                i.to_string()
            };
            text += &format!("{cell},{i}\n");
        }
        std::fs::write(&path, text).unwrap();
        let opts = CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            skip_bad_rows: true,
            ..Default::default()
        };
        let e = prepare(&[path], &opts, 0.2, 24).unwrap_err().to_string();
        assert!(
            e.contains("the longest run of rows with no skipped row or gap inside is 9")
                && e.contains("20 row(s) skipped")
                && e.contains("smaller --window"),
            "{e}"
        );
    }

    /// Baselines stored in a model file come back as fitted; a damaged
    /// entry (a cut matrix, a non-finite value, another window) is passed
    /// over, never indexed out of bounds.
    #[test]
    fn stored_baselines_are_checked_when_read_back() {
        let mut text = String::from("x,y\n");
        for i in 0..80 {
            text += &format!("{},{}\n", (i as f64 * 0.3).sin(), (i as f64 * 0.3).cos());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, text).unwrap();
        let opts = CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            ..Default::default()
        };
        let p = prepare(&[path], &opts, 0.2, 4).unwrap();
        let fitted = Baselines::fit(&p).unwrap();
        let stored = serde_json::json!({ "baselines": fitted });
        assert_eq!(Baselines::recorded(Some(&stored), 4), Some(fitted));
        assert_eq!(Baselines::recorded(Some(&stored), 5), None);
        let mut cut = stored.clone();
        cut["baselines"]["linear"]["b"] = serde_json::json!([1.0, 2.0]);
        assert_eq!(Baselines::recorded(Some(&cut), 4), None);
        let mut nan = stored;
        nan["baselines"]["linear"]["x_mean"][0] = serde_json::json!(null);
        assert_eq!(Baselines::recorded(Some(&nan), 4), None);
    }

    /// A long window's linear map is not stored: at 2,500 samples its JSON
    /// passed the 100 MB that safetensors allows a header, and `retrain`
    /// failed after training ("header too large").
    #[test]
    fn a_long_window_s_baselines_are_not_stored() {
        let fitted = |w: usize| {
            let t: Vec<f32> = (0..3 * w).map(|i| (i as f32 * 0.1).sin()).collect();
            let train = Windows::sliding(&t, &t, w).unwrap();
            Baselines {
                mean: MeanPredictor::fit(&train.target).unwrap(),
                linear: LinearMap::fit(&train).unwrap(),
            }
        };
        let at_limit = fitted(MAX_RECORDED_WINDOW);
        assert_eq!(at_limit.to_record(), Some(&at_limit));
        let stored = serde_json::json!({ "baselines": at_limit.to_record() });
        assert!(
            stored.to_string().len() < 10 << 20,
            "{} bytes",
            stored.to_string().len()
        );
        assert_eq!(
            Baselines::recorded(Some(&stored), MAX_RECORDED_WINDOW),
            Some(at_limit)
        );
        let over = fitted(MAX_RECORDED_WINDOW + 1);
        assert_eq!(over.to_record(), None);
        let stored = serde_json::json!({ "baselines": over.to_record() });
        assert_eq!(
            Baselines::recorded(Some(&stored), MAX_RECORDED_WINDOW + 1),
            None
        );
    }
}
