//! What a model file says of the recordings it was trained on: the files,
//! the fraction held out, the columns (`eval` reads and scores by them).

use std::path::{Path, PathBuf};

use pipeline::format::Metadata;
use pipeline::recording::Column;

/// The fraction a model trained on recordings held out, and the files it
/// was trained on (models from before it was recorded: `None`).
pub(super) fn trained_validate(meta: &Metadata) -> Option<(f64, Trained)> {
    let m = meta.metrics.as_ref()?;
    let v = m.get("validate")?.as_f64()?;
    let files = strings(m, "data").into_iter().map(PathBuf::from).collect();
    Some((
        v,
        Trained {
            files,
            ids: strings(m, "data_ids"),
        },
    ))
}

/// A list of strings in a model's metrics (none where it has none).
fn strings(metrics: &serde_json::Value, key: &str) -> Vec<String> {
    let list = metrics.get(key).and_then(|d| d.as_array());
    (list.into_iter().flatten())
        .filter_map(|f| f.as_str().map(String::from))
        .collect()
}

/// The recordings a model was trained on: their paths as given then, and
/// their contents' ids (models from before ids were recorded have none).
pub(super) struct Trained {
    pub(super) files: Vec<PathBuf>,
    ids: Vec<String>,
}

impl Trained {
    pub(super) fn is_empty(&self) -> bool {
        self.files.is_empty() && self.ids.is_empty()
    }

    /// Whether `path` (its content id `id`) is one of them: the same content (whatever its name or
    /// the directory `eval` runs in), or the same file.
    pub(super) fn includes(&self, path: &Path, id: Option<&str>) -> bool {
        self.files.iter().any(|f| same_file(path, f))
            || id.is_some_and(|id| self.ids.iter().any(|i| i == id))
    }
}

/// The same file, whether named alike or resolving to one path.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (a.canonicalize(), b.canonicalize()),
            (Ok(x), Ok(y)) if x == y
        )
}

/// The devices a model was trained on, of files of several devices
/// (`--stream-column`), in the order of their names (none recorded before).
pub(super) fn trained_streams(meta: &Metadata) -> Vec<String> {
    (meta.metrics.as_ref()).map_or_else(Vec::new, |m| strings(m, "streams"))
}

/// The columns a model was trained on, from its metrics (`retrain --data`
/// records their names): by name when the file had a header, else by index
/// (named `column N`; models without `header` are read the same way).
pub(super) fn trained_columns(meta: &Metadata) -> Option<(Column, Column)> {
    let m = meta.metrics.as_ref()?;
    let header = m.get("header").and_then(|h| h.as_bool());
    let column = |key: &str| -> Option<Column> {
        let name = m.get(key)?.as_str()?;
        let index = name.strip_prefix("column ").and_then(|i| i.parse().ok());
        match (header, index) {
            (Some(true), _) | (None, None) => Some(Column::Name(name.to_string())),
            (_, index) => index.map(Column::Index),
        }
    };
    Some((column("input")?, column("output")?))
}

/// The channels of `rec` that are not the ones the model (`meta`) was
/// trained on, by name: (`input` or `output`, trained, here).
pub(super) fn other_columns<'a>(
    meta: &'a Metadata,
    rec: &'a pipeline::recording::Recording,
) -> Vec<(&'static str, &'a str, &'a str)> {
    let m = meta.metrics.as_ref();
    [("input", &rec.input_name), ("output", &rec.output_name)]
        .into_iter()
        .filter_map(|(what, theirs)| {
            let trained = m?.get(what)?.as_str()?;
            let same = pipeline::eval::same_channel(trained, theirs);
            (!same).then_some((what, trained, theirs.as_str()))
        })
        .collect()
}

/// What retrain judged of a model it would not serve, said again by
/// `eval`: such a model scores well on another period now and then (one
/// trained across a re-zeroed gauge did), and its held-out RMSE sets the
/// watch's threshold, unless one is `given`.
pub(super) fn rejected(loaded: &pipeline::LoadedModel, given: bool) -> Option<String> {
    let why = loaded.baseline_warning()?;
    let watch = match given {
        true => "",
        false => {
            "; the deviation watch's threshold is 3 times its held-out RMSE there, so a fault \
             whose mean is smaller than 3 times that error goes unseen"
        }
    };
    Some(format!("{why}{watch}"))
}
