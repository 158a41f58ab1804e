//! `eval` of a recording the model does not know by its bytes: the rows
//! it was trained on found there (by the windows stored with the model)
//! and left out, so the score is of rows it never saw.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::trained_validate;

/// Leaves out of `prepared`'s windows (all scored: files the model does not
/// know by their bytes) those holding rows found to be the model's training
/// rows (a copy of a training file with other line ends, the logger's file
/// grown since, an export of an overlapping period). Whether any were.
pub(super) fn leave_out_training_rows(
    prepared: &mut pipeline::fit::Prepared,
    loaded: &pipeline::LoadedModel,
    files: &[PathBuf],
) -> Result<bool> {
    use pipeline::fit::seen;
    let Some(stored) = seen::TrainingRows::recorded(loaded.meta.metrics.as_ref()) else {
        return Ok(false);
    };
    let w = loaded.model.window();
    let mut kept = pipeline::data::Windows::empty(w);
    let mut any = false;
    for f in &mut prepared.recordings {
        let r = &f.recording;
        let found = seen::find(r, &stored, w);
        if let Some(why) = (found.rows.is_empty())
            .then(|| seen::same_period(r, &stored))
            .flatten()
        {
            eprintln!("WARNING: {}: {why}", r.source());
        }
        if !found.rows.is_empty() {
            let rows: usize = found.rows.iter().map(|s| s.len()).sum();
            eprintln!(
                "NOTE: {}: {rows} of its {} rows (data rows {}) are, or may be, rows the model \
                 was trained on ({} of the windows stored with it are there): not scored",
                r.source(),
                r.data_rows(),
                spans(&found.rows),
                found.windows
            );
            f.training_rows_found = Some(rows);
            // The rows read among them (skipped rows are data rows too).
            let read = seen::rows_read(r, &found.rows);
            (f.train_rows, f.validation_rows) = (read, r.kept_rows() - read.min(r.kept_rows()));
            any = true;
            // After them, that file's held-out part: never trained on, but
            // it chose the weights, so its score is retrain's own.
            let chose = seen::windows_in(r, &found.rows, &found.held_out, w);
            if chose > 0 {
                eprintln!(
                    "NOTE: {}: {chose} of the windows scored have rows of the training file's \
                     held-out part (data rows {}), which chose the weights (early stopping, the \
                     best step kept): scored, but not as rows the model never saw",
                    r.source(),
                    spans(&found.held_out)
                );
                f.held_out_windows_found = Some(chose);
            }
        }
        let unseen = seen::unseen_windows(r, &found.rows, w);
        f.windows[0] = unseen.len();
        kept.extend(&unseen);
    }
    if any && kept.is_empty() {
        bail!(
            "no window of {} is one the model was not trained on: to score its held-out part, \
             give the file it was trained on ({})",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            trained_validate(&loaded.meta)
                .map(|(_, t)| t
                    .files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>())
                .unwrap_or_default()
                .join(", ")
        );
    }
    if any {
        prepared.train = kept;
    }
    Ok(any)
}

/// Data row ranges as a person reads them: `0–239, 400–459`.
pub(super) fn spans(ranges: &[std::ops::Range<usize>]) -> String {
    let spans: Vec<String> = ranges
        .iter()
        .map(|s| format!("{}–{}", s.start, s.end - 1))
        .collect();
    spans.join(", ")
}
