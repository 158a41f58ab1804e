//! What a model file says about itself: the `__metadata__` map written and
//! read, each key checked on the way in.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::{FORMAT_NAME, FORMAT_VERSION, MAX_WINDOW};
use crate::error::{Error, Result};
use crate::scaling::Scaling;

/// What a model file says about itself (all optional in a tensors-only file).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    /// Pair id (`sin-cos`, …) or `csv:<file name>` for user data.
    pub pair: Option<String>,
    /// Window length W the model was trained for.
    pub window: Option<usize>,
    /// Training recipe (JSON object).
    pub recipe: Option<Value>,
    /// Metrics reached (JSON object).
    pub metrics: Option<Value>,
    /// Creation time, RFC 3339 UTC.
    pub created: Option<String>,
    /// Physical units ↔ the network's (absent: identity). JSON
    /// `{"method":"standard","input":{"center":…,"scale":…},"output":{…}}`.
    pub scaling: Option<Scaling>,
}

impl Metadata {
    /// The map written; `residual`: the file holds a skip. Its version is
    /// the lowest that holds it: a build of an older version refuses a
    /// file it would serve wrong, and keeps reading the others.
    pub(super) fn to_map(
        &self,
        hidden: usize,
        window: usize,
        residual: bool,
    ) -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert("format".into(), FORMAT_NAME.into());
        let scaling = self.scaling.filter(|s| !s.is_identity());
        let version = match (residual, scaling.is_some()) {
            (true, _) => "3",
            (false, true) => "2",
            (false, false) => "1",
        };
        m.insert("format_version".into(), version.into());
        if let Some(s) = scaling {
            // Serialising plain numbers cannot fail.
            m.insert(
                "scaling".into(),
                serde_json::to_string(&s).unwrap_or_default(),
            );
        }
        m.insert("hidden".into(), hidden.to_string());
        m.insert("window".into(), window.to_string());
        if let Some(p) = &self.pair {
            m.insert("pair".into(), p.clone());
        }
        if let Some(r) = &self.recipe {
            m.insert("recipe".into(), r.to_string());
        }
        if let Some(x) = &self.metrics {
            m.insert("metrics".into(), x.to_string());
        }
        if let Some(c) = &self.created {
            m.insert("created".into(), c.clone());
        }
        m
    }

    pub(super) fn from_map(map: &HashMap<String, String>, path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::ModelFormat {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(f) = map.get("format")
            && f != FORMAT_NAME
        {
            // Another tool's mark (`save_file(…, metadata={"format": "pt"})`,
            // transformers' `save_pretrained`): the file is read by its
            // tensors alone, as one without metadata.
            tracing::warn!(
                model = %path.display(),
                "metadata `format` is {f:?}, another tool's: its metadata is ignored and the \
                 file read by its tensors alone (`pipeline set-scaling` writes this tool's)"
            );
            return Ok(Self::default());
        }
        if let Some(v) = map.get("format_version") {
            let v: u32 = v
                .parse()
                .map_err(|_| bad(format!("metadata `format_version` {v:?} is not a number")))?;
            if v > FORMAT_VERSION {
                return Err(bad(format!(
                    "format version {v} is newer than this build reads ({FORMAT_VERSION})"
                )));
            }
        }
        let window = match map.get("window") {
            Some(w) => match w.parse::<usize>() {
                Ok(w) if (1..=MAX_WINDOW).contains(&w) => Some(w),
                _ => {
                    return Err(bad(format!(
                        "metadata `window` {w:?} is not a whole number from 1 to {MAX_WINDOW}"
                    )));
                }
            },
            None => None,
        };
        let json = |key: &str| -> Result<Option<Value>> {
            map.get(key)
                .map(|s| serde_json::from_str(s).map_err(|e| bad(format!("metadata `{key}`: {e}"))))
                .transpose()
        };
        let scaling = match map.get("scaling") {
            Some(text) => {
                let s: Scaling = serde_json::from_str(text)
                    .map_err(|e| bad(format!("metadata `scaling`: {e}")))?;
                s.check()
                    .map_err(|e| bad(format!("metadata `scaling`: {e}")))?;
                Some(s)
            }
            None => None,
        };
        let pair = map.get("pair").cloned();
        if let Some(p) = &pair
            && (p.trim().is_empty() || p.chars().any(char::is_control))
        {
            return Err(bad(format!(
                "metadata `pair` {p:?} is not a name (empty, or with control characters)"
            )));
        }
        Ok(Self {
            scaling,
            pair,
            window,
            recipe: json("recipe")?,
            metrics: json("metrics")?,
            created: map.get("created").cloned(),
        })
    }
}
