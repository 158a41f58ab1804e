//! Where each setting comes from. Four layers, later over earlier, merged
//! by `figment` (the same merge for `serve` and `config check`):
//!
//! 1. defaults (the `serde` defaults of [`ServeConfig`]);
//! 2. the config file (`--config FILE`);
//! 3. the environment: `PIPELINE_<KEY>` for the top-level keys in [`ENV_KEYS`]
//!    (`PIPELINE_MAX_BATCH=64`, `PIPELINE_MAX_WAIT=2ms` or `_MS=2`); other
//!    `PIPELINE_*` names are listed by [`Layer::ignored`] (a typo would
//!    otherwise change nothing, silently);
//! 4. command-line flags.
//!
//! Tables merge key by key (`--lease 5s` keeps the file's other `[durable]`
//! keys); a list (`[[route]]`) is replaced whole. Where the connection and
//! its credentials come from is decided separately, by [`crate::connect`]:
//! credentials must be taken whole from one source, never mixed.
//!
//! Each layer is put in canonical form before merging: a duration may be
//! written under its short name (`max_wait = "2ms"`) or its unit-suffixed
//! one (`max_wait_ms = 2`), and a later layer must replace the value
//! whichever name each used.

use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::ServeConfig;
use crate::error::{Error, Result};

/// The top-level keys the environment may set, as `PIPELINE_<KEY>`
/// (upper case). Routes, partitions and `[durable]` are structured; they
/// come from the file or flags.
pub const ENV_KEYS: [&str; 11] = [
    "errors",
    "max_batch",
    "max_wait",
    "compute_threads",
    "queue",
    "max_streams",
    "idle_timeout",
    "service",
    "models_dir",
    "metrics_addr",
    "otlp_endpoint",
];

/// Short duration names and the keys they stand for, per table.
const ALIASES: [(&str, &str, &str); 5] = [
    ("", "max_wait", "max_wait_ms"),
    ("", "idle_timeout", "idle_timeout_s"),
    ("durable", "checkpoint_interval", "checkpoint_ms"),
    ("durable", "lease", "lease_s"),
    ("durable", "duplicate_window", "duplicate_window_s"),
];

/// One layer's settings and how to name where a key came from.
#[derive(Clone)]
pub struct Layer {
    kind: Kind,
    data: Dict,
    /// `PIPELINE_*` variables that are no setting (environment only).
    ignored: Vec<String>,
}

#[derive(Clone, Debug)]
enum Kind {
    File(PathBuf),
    Env,
    Flags,
}

impl Layer {
    /// A TOML config file's text (`path` names it in messages).
    pub fn file(text: &str, path: &Path) -> Result<Self> {
        let data: Dict =
            toml::from_str(text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Self::new(Kind::File(path.to_path_buf()), data)
    }

    /// The `PIPELINE_*` variables among `vars` (the process's:
    /// `std::env::vars()`). A value is read as a number or boolean when it
    /// looks like one, else as text.
    pub fn env(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut data = Dict::new();
        let mut ignored = Vec::new();
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("PIPELINE_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            // A duration under its unit-suffixed name, as in the file.
            let long = ALIASES.iter().any(|(t, _, l)| t.is_empty() && *l == key);
            if ENV_KEYS.contains(&key.as_str()) || long {
                data.insert(key, env_value(value.trim()));
            } else if !read_elsewhere(&key) {
                ignored.push(name);
            }
        }
        ignored.sort();
        let mut layer = Self::new(Kind::Env, data)?;
        layer.ignored = ignored;
        Ok(layer)
    }

    /// The `PIPELINE_*` variables [`Layer::env`] found that set nothing,
    /// for a warning.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// Settings given on the command line, as the config file would write
    /// them (for example `{"max_batch": 64, "durable": {"lease": "5s"}}`).
    pub fn flags(settings: serde_json::Value) -> Result<Self> {
        let data: Dict = serde_json::from_value(settings)
            .map_err(|e| Error::Config(format!("command-line settings: {e}")))?;
        Self::new(Kind::Flags, data)
    }

    fn new(kind: Kind, mut data: Dict) -> Result<Self> {
        for (table, short, long) in ALIASES {
            let dict = if table.is_empty() {
                Some(&mut data)
            } else {
                match data.get_mut(table) {
                    Some(Value::Dict(_, d)) => Some(d),
                    _ => None,
                }
            };
            let Some(dict) = dict else { continue };
            if let Some(v) = dict.remove(short) {
                let at = if table.is_empty() {
                    String::new()
                } else {
                    format!(" in [{table}]")
                };
                if dict.contains_key(long) {
                    return Err(Error::Config(format!(
                        "{}: both `{short}` and `{long}`{at}: keep one",
                        kind.name()
                    )));
                }
                if let Some(bare) = without_unit(&v) {
                    // `max_wait = 5` read as 5 ms but `idle_timeout = 5` as
                    // 5 s, and `"5"` as 5 s under either: refused rather
                    // than guessed.
                    let unit = &long[long.rfind('_').map_or(0, |i| i + 1)..];
                    let other = if unit == "ms" { "s" } else { "ms" };
                    let why = match kind {
                        // As the variable is written.
                        Kind::Env => {
                            let (s, l) = (short.to_uppercase(), long.to_uppercase());
                            format!(
                                "`PIPELINE_{s}={bare}` has no unit: write `PIPELINE_{s}={bare}{unit}` \
                                 (or another unit: {bare}{other}, …), or `PIPELINE_{l}={bare}`, a \
                                 number in {unit}"
                            )
                        }
                        _ => format!(
                            "`{short} = {bare}`{at} has no unit: write `{short} = \"{bare}{unit}\"` \
                             (or another unit: \"{bare}{other}\", …), or `{long} = {bare}`, a number \
                             in {unit}"
                        ),
                    };
                    return Err(Error::Config(format!("{}: {why}", kind.name())));
                }
                dict.insert(long.to_string(), v);
            }
        }
        Ok(Self {
            kind,
            data,
            ignored: Vec::new(),
        })
    }
}

/// A duration under its short name given as a number, or as text with no
/// unit, other than zero (which needs none): the number as written.
fn without_unit(v: &Value) -> Option<String> {
    let text = match v {
        Value::Num(_, n) => match (n.to_u128(), n.to_i128()) {
            (Some(u), _) => u.to_string(),
            (_, Some(i)) => i.to_string(),
            _ => n.to_f64()?.to_string(),
        },
        Value::String(_, s) if !s.chars().any(|c| c.is_alphabetic()) => s.trim().to_string(),
        _ => return None,
    };
    // 0 needs no unit; text that is no number, a negative or a non-finite
    // number is left to the duration parser's own error.
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Some(text),
        _ => None,
    }
}

/// `PIPELINE_*` names read elsewhere (`PIPELINE_INSTANCE`, the deprecated
/// `PIPELINE_NATS_*` credentials, but no `PIPELINE_NATS_URL`), or that
/// Kubernetes sets for a Service named `pipeline` (`PIPELINE_SERVICE_HOST`,
/// `PIPELINE_PORT_9090_TCP`, …).
fn read_elsewhere(key: &str) -> bool {
    key == "instance"
        || super::auth::LEGACY_ENV
            .iter()
            .any(|name| name["PIPELINE_".len()..].eq_ignore_ascii_case(key))
        || key.starts_with("service_")
        || key == "port"
        || key.starts_with("port_")
}

/// What to tell an operator about `ignored` variables.
pub fn ignored_warning(ignored: &[String]) -> Option<String> {
    (!ignored.is_empty()).then(|| {
        let keys: Vec<String> = ENV_KEYS
            .iter()
            .map(|k| format!("PIPELINE_{}", k.to_ascii_uppercase()))
            .collect();
        format!(
            "ignored, as no such setting exists: {}; the environment sets {}, and \
             PIPELINE_INSTANCE (the server's URL and credentials: NATS_URL, NATS_USER, …)",
            ignored.join(", "),
            keys.join(", ")
        )
    })
}

/// A variable's value: a boolean or number when it reads as one (the
/// field's type then decides), else text.
fn env_value(s: &str) -> Value {
    if let Ok(b) = s.parse::<bool>() {
        Value::from(b)
    } else if let Ok(n) = s.parse::<u64>() {
        Value::from(n)
    } else if let Ok(n) = s.parse::<i64>() {
        Value::from(n)
    } else if let Ok(x) = s.parse::<f64>().map_err(drop).and_then(|x| {
        if s.bytes().any(|b| b.is_ascii_digit()) {
            Ok(x)
        } else {
            Err(())
        }
    }) {
        Value::from(x)
    } else {
        Value::from(s.to_string())
    }
}

impl Kind {
    fn name(&self) -> String {
        match self {
            Kind::File(p) => format!("config file {}", p.display()),
            Kind::Env => "environment".into(),
            Kind::Flags => "command line".into(),
        }
    }

    /// Where the setting at `path` (`["durable", "lease_s"]`) was written.
    fn place(&self, path: &[&str]) -> String {
        match self {
            Kind::File(p) => format!("file {}", p.display()),
            Kind::Env => {
                // Either name of a duration may have set it.
                let short = ALIASES
                    .iter()
                    .find(|(t, _, long)| t.is_empty() && path == [*long])
                    .map_or(path.join("_"), |(_, s, l)| {
                        format!("{s}[{}]", &l[s.len()..])
                    });
                format!("env PIPELINE_{}", short.to_ascii_uppercase())
            }
            Kind::Flags => format!("flag --{}", flag_name(path)),
        }
    }
}

/// The flag that sets a key (`serve`'s names, which differ for durations
/// and routes).
fn flag_name(path: &[&str]) -> String {
    match path {
        ["max_wait_ms"] => "max-wait".into(),
        ["idle_timeout_s"] => "idle-timeout".into(),
        ["service"] => "no-service".into(),
        ["partitions", ..] => "partitions/--partition".into(),
        ["route", ..] => "pair/--model/--input/… (the route)".into(),
        ["durable", "lease_s"] => "lease".into(),
        ["durable", "checkpoint_ms"] => "checkpoint-interval".into(),
        ["durable"] => "durable".into(),
        ["durable", k, ..] => k.replace('_', "-"),
        _ => path.join("-").replace('_', "-"),
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let kind = self.kind.clone();
        Metadata::named(self.kind.name())
            .interpolater(move |_: &Profile, path: &[&str]| kind.place(path))
    }

    fn data(&self) -> std::result::Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

/// The merged layers: the effective config, and where each value came from.
pub struct Resolved {
    pub config: ServeConfig,
    figment: Figment,
}

/// Merges `layers` (earliest first) over the defaults and checks the result.
pub fn resolve(layers: impl IntoIterator<Item = Layer>) -> Result<Resolved> {
    let figment = layers
        .into_iter()
        .fold(Figment::new(), |f, layer| f.merge(layer));
    let config: ServeConfig = figment.extract().map_err(|e| config_error(&e))?;
    config.validate()?;
    Ok(Resolved { config, figment })
}

/// A key as a person may have written it: a duration by both its names
/// (`max_wait (max_wait_ms)`), as either is accepted and the error carries
/// only the second.
fn key_name(path: &[String]) -> String {
    // A route by its number, as the other messages name it (`route 1`).
    if let [first, index, rest @ ..] = path
        && first == "route"
        && let Ok(i) = index.parse::<usize>()
    {
        let route = format!("route {}", i + 1);
        return match rest {
            [] => route,
            _ => format!("{route}: {}", rest.join(".")),
        };
    }
    let (table, key) = match path {
        [key] => ("", key.as_str()),
        [table, key] => (table.as_str(), key.as_str()),
        _ => return path.join("."),
    };
    let dotted = path.join(".");
    match ALIASES
        .iter()
        .find(|(t, _, long)| *t == table && *long == key)
    {
        Some(("", short, _)) => format!("{short} ({dotted})"),
        Some((t, short, _)) => format!("{t}.{short} ({dotted})"),
        None => dotted,
    }
}

/// figment's message, without its profile prefix (there are no profiles).
fn config_error(e: &figment::Error) -> Error {
    let mut msgs: Vec<String> = e
        .clone()
        .into_iter()
        .map(|one| {
            let mut m = match &one.kind {
                // figment's own quotes the list of keys, itself quoted.
                figment::error::Kind::UnknownField(found, keys) => format!(
                    "unknown key `{found}`; the keys here are {}",
                    keys.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                kind => kind.to_string(),
            };
            if !one.path.is_empty() {
                m = format!("{}: {m}", key_name(&one.path));
            }
            match one.metadata.as_ref() {
                Some(md) if !one.path.is_empty() => {
                    let path: Vec<&str> = one.path.iter().map(String::as_str).collect();
                    format!("{m} (from {})", md.interpolate(&Profile::Default, &path))
                }
                Some(md) => format!("{m} (from {})", md.name),
                None => m,
            }
        })
        .collect();
    msgs.dedup();
    Error::Config(msgs.join("; "))
}

impl Resolved {
    /// Where the value at `key` (`"max_batch"`, `"durable.lease_s"`) came
    /// from: `default`, `env PIPELINE_MAX_BATCH`, `flag --max-batch`, or the
    /// file and key.
    pub fn origin(&self, key: &str) -> String {
        // A route's fields come with their list, those it does not write
        // from their defaults.
        if let Some((index, field)) = key
            .strip_prefix("route[")
            .and_then(|rest| rest.split_once("]."))
        {
            let written = self.figment.find_value("route").ok().and_then(|list| {
                let Value::Array(_, routes) = list else {
                    return None;
                };
                routes
                    .get(index.parse::<usize>().ok()?)?
                    .find_ref(field)
                    .map(drop)
            });
            if written.is_none() {
                return "default".into();
            }
        }
        let key = if key.starts_with("route[") || key == "route" {
            "route"
        } else {
            key
        };
        match self.figment.find_metadata(key) {
            Some(md) => {
                let path: Vec<&str> = key.split('.').collect();
                md.interpolate(&Profile::Default, &path)
            }
            None => "default".into(),
        }
    }

    /// Every effective setting (secrets masked; unset options left out) as
    /// `(key, value, origin)`, by key; lists are indexed (`route[0].pair`).
    pub fn settings(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        if let Ok(v) = serde_json::to_value(&self.config) {
            flatten("", &v, &mut out);
        }
        out.into_iter()
            .map(|(k, v)| {
                let o = self.origin(&k);
                let (k, v) = documented(k, v);
                (k, v, o)
            })
            .collect()
    }
}

/// A duration setting under the name the README and `deploy/pipeline.toml`
/// use, its value with its unit (`durable.lease = "10s"` where the config
/// holds `durable.lease_s = 10.0`): what an operator reads is what they
/// would write. Other settings as they are.
fn documented(key: String, value: String) -> (String, String) {
    let (table, name) = key.rsplit_once('.').unwrap_or(("", &key));
    let Some((_, short, long)) = ALIASES.iter().find(|(t, _, l)| *t == table && *l == name) else {
        return (key, value);
    };
    let unit = long.rsplit_once('_').map_or("", |(_, unit)| unit);
    let number = value
        .parse::<f64>()
        .map_or(value.clone(), |n| n.to_string());
    let key = if table.is_empty() {
        short.to_string()
    } else {
        format!("{table}.{short}")
    };
    (key, format!("\"{number}{unit}\""))
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value as J;
    match v {
        J::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        J::Array(items) if items.iter().any(|i| i.is_object()) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), item, out);
            }
        }
        J::Null => {}
        _ => out.push((prefix.to_string(), v.to_string())),
    }
}

#[cfg(test)]
mod tests;
