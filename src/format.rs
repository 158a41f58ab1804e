//! The model file: a safetensors file with PyTorch's tensor names and shapes,
//! plus our `__metadata__` (format version, pair, window, hidden size, the
//! recipe that trained it, the metrics it reached, creation time).
//!
//! A tensors-only file (a PyTorch export, or a Keras model converted with
//! `weight_ih = kernel.T`, `weight_hh = recurrent_kernel.T`, `bias_ih = bias`,
//! `bias_hh = 0`) loads too: H comes from the shapes, W defaults to 24, and
//! the scaling is the identity (`pipeline set-scaling` adds one).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::Seq2Seq;
use crate::scaling::Scaling;
use crate::skip::{self, Skip};

mod compare;
mod metadata;
pub use compare::other_units;
pub use metadata::Metadata;

/// Value of the `format` metadata key that marks our files.
pub const FORMAT_NAME: &str = "pipeline.seq2seq";
/// Highest version this build reads. Version 2 adds `scaling`, version 3
/// a residual model's linear skip (the tensors `skip.weight`, `skip.bias`);
/// each file is written as the lowest version that holds it, so older
/// builds keep reading what they can (and refuse a scaled file, or a
/// residual one, instead of serving it in the wrong units or without its
/// skip).
pub const FORMAT_VERSION: u32 = 3;
/// The seed's window length, used when a file does not say.
pub const DEFAULT_WINDOW: usize = 24;
/// The longest window a model may have: ten seconds of a 1 kHz signal. Every
/// stream holds its window and every batch row one, so a file's (or a flag's)
/// absurd window must be refused, not allocated.
pub const MAX_WINDOW: usize = 10_000;
/// The seed's hidden size, the default for training.
pub const DEFAULT_HIDDEN: usize = 75;

/// Every tensor of the model, in file order, with its shape for hidden size `h`.
pub fn tensor_specs(h: usize) -> Vec<(String, Vec<usize>)> {
    let mut specs = Vec::with_capacity(10);
    for lstm in ["encoder", "decoder"] {
        specs.push((format!("{lstm}.weight_ih_l0"), vec![4 * h, 1]));
        specs.push((format!("{lstm}.weight_hh_l0"), vec![4 * h, h]));
        specs.push((format!("{lstm}.bias_ih_l0"), vec![4 * h]));
        specs.push((format!("{lstm}.bias_hh_l0"), vec![4 * h]));
    }
    specs.push(("dense.weight".into(), vec![1, h]));
    specs.push(("dense.bias".into(), vec![1]));
    specs
}

/// A model loaded from a file, with what the file said about it.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// The reference path (candle-nn LSTMs).
    pub model: Seq2Seq,
    /// The fast path over the same weights (what `translate` and `serve` run).
    pub fast: crate::fast::FastModel,
    pub meta: Metadata,
    /// Hash of the weights, the window and the scaling (16 hex digits):
    /// identifies what the model computes, not the file's bytes.
    pub id: String,
    pub path: PathBuf,
    /// The units of the channels it reads and writes, where its training
    /// recording said them (a units row, or the column's name: `Temp
    /// [°F]`): a sample saying another unit is refused, each translation
    /// says its own.
    pub input_unit: Option<String>,
    pub output_unit: Option<String>,
    /// The values its training recording wrote for a missing sample
    /// (`retrain --missing -9999`): a live sample equal to one is refused,
    /// as a NaN is, rather than translated as a reading.
    pub missing: Vec<f32>,
}

/// A stable id of `bytes` (16 hex digits): FNV-1a, 64 bit, not a security
/// measure. `retrain` records its recordings' ids, so that `eval` knows a
/// file it was trained on under any name.
pub fn content_id(bytes: &[u8]) -> String {
    let mut h = Fnv::default();
    h.write(bytes);
    h.hex()
}

/// FNV-1a, 64 bit, fed in parts.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// A model's id: a hash of what decides its outputs (every weight, as f32,
/// a residual model's skip among them, the window and the scaling), not of the file's bytes. Two runs that
/// train the same weights give the same id, whenever they ran and whatever
/// the file is called; a change of weights or units gives another.
fn model_id(
    specs: &[(String, Vec<usize>)],
    params: &HashMap<String, Vec<f32>>,
    window: usize,
    scaling: Scaling,
) -> String {
    let mut h = Fnv::default();
    for (name, _) in specs {
        h.write(name.as_bytes());
        for v in params.get(name).map_or(&[][..], Vec::as_slice) {
            h.write(&v.to_le_bytes());
        }
    }
    h.write(&(window as u64).to_le_bytes());
    for a in [scaling.input, scaling.output] {
        h.write(&a.center.to_le_bytes());
        h.write(&a.scale.to_le_bytes());
    }
    h.hex()
}

fn candle_dtype(dtype: Dtype) -> Option<DType> {
    match dtype {
        Dtype::F32 => Some(DType::F32),
        Dtype::F64 => Some(DType::F64),
        Dtype::F16 => Some(DType::F16),
        Dtype::BF16 => Some(DType::BF16),
        _ => None,
    }
}

/// Loads and checks a model file. `window` overrides the file's window
/// (needed for a tensors-only file whose W is not 24).
pub fn load(path: &Path, window: Option<usize>) -> Result<LoadedModel> {
    use std::io::Read;
    let io = |cause| Error::ModelIo {
        path: path.to_path_buf(),
        cause,
    };
    // Checked before opening: opening a pipe waits for a writer (a reload
    // request would hang the control endpoints), and reading a device such
    // as /dev/zero never ends.
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(Error::ModelFormat {
            path: path.to_path_buf(),
            reason: "not a regular file (a directory, a device or a pipe)".into(),
        });
    }
    if meta.len() > MAX_MODEL_BYTES {
        return Err(Error::ModelFormat {
            path: path.to_path_buf(),
            reason: format!(
                "{} bytes: larger than any model this service loads ({MAX_MODEL_BYTES})",
                meta.len()
            ),
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded again, in case the file grows after the check.
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_MODEL_BYTES).read_to_end(&mut bytes))
        .map_err(io)?;
    load_bytes(&bytes, path, window)
}

/// The largest model file read (1 GiB; a model of 75 units is ~190 KB).
pub const MAX_MODEL_BYTES: u64 = 1 << 30;

/// [`load`] from bytes already in memory; `path` is only used in messages.
pub fn load_bytes(bytes: &[u8], path: &Path, window: Option<usize>) -> Result<LoadedModel> {
    let bad = |reason: String| Error::ModelFormat {
        path: path.to_path_buf(),
        reason,
    };
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let meta = match header.metadata() {
        Some(map) => Metadata::from_map(map, path)?,
        None => Metadata::default(),
    };

    let hidden = hidden_size(&st, path)?;
    // Our metadata's `hidden` (another tool's is ignored) must be the
    // tensors': a file whose two disagree was written wrong somewhere.
    let ours = header
        .metadata()
        .as_ref()
        .filter(|m| m.get("format").is_none_or(|f| f == FORMAT_NAME));
    if let Some(said) = ours.and_then(|m| m.get("hidden"))
        && said.trim().parse::<usize>().ok() != Some(hidden)
    {
        return Err(bad(format!(
            "metadata `hidden` {said:?} disagrees with the tensors' hidden size {hidden}"
        )));
    }

    let mut specs = tensor_specs(hidden);
    let mut tensors = HashMap::with_capacity(specs.len() + 2);
    let mut params = HashMap::with_capacity(specs.len() + 2);
    let read = |name: &str, shape: &[usize]| -> Result<(Tensor, Vec<f32>)> {
        let view = st.tensor(name).map_err(|_| Error::TensorMissing {
            path: path.to_path_buf(),
            tensor: name.to_string(),
            expected: shape.to_vec(),
        })?;
        if view.shape() != shape {
            return Err(Error::TensorShape {
                path: path.to_path_buf(),
                tensor: name.to_string(),
                expected: shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let dtype = candle_dtype(view.dtype()).ok_or_else(|| {
            bad(format!(
                "tensor `{name}` has dtype {:?}; expected F32 (F64, F16 and BF16 are converted)",
                view.dtype()
            ))
        })?;
        let t = Tensor::from_raw_buffer(view.data(), dtype, shape, &Device::Cpu)?
            .to_dtype(DType::F32)?;
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(bad(format!(
                "tensor `{name}` contains NaN or infinite values (or ones beyond f32's range)"
            )));
        }
        Ok((t, values))
    };
    for (name, shape) in &specs {
        let (t, values) = read(name, shape)?;
        tensors.insert(name.clone(), t);
        params.insert(name.clone(), values);
    }

    let window = match (window, meta.window) {
        (Some(w), Some(m)) if w != m => {
            tracing::warn!(
                file_window = m,
                window = w,
                "window overridden; the model was trained on {m}"
            );
            w
        }
        (Some(w), _) => w,
        (None, Some(m)) => m,
        (None, None) => DEFAULT_WINDOW,
    };
    if !(1..=MAX_WINDOW).contains(&window) {
        return Err(bad(format!(
            "a window of {window} samples: this build serves windows of 1 to {MAX_WINDOW}"
        )));
    }
    let skip = read_skip(&st, window, &read, &bad)?;
    if let Some(skip) = &skip {
        // Part of what the model computes: in its id, as every weight is.
        for (name, shape) in Skip::specs(window) {
            let values = match name.as_str() {
                skip::WEIGHT => skip.weight(),
                _ => skip.bias(),
            };
            params.insert(name.clone(), values.to_vec());
            specs.push((name, shape));
        }
    }
    let extra: Vec<&str> = st
        .names()
        .into_iter()
        .filter(|n| !params.contains_key(*n))
        .collect();
    if !extra.is_empty() {
        return Err(bad(format!(
            "unexpected tensors {extra:?} (a single-layer encoder/decoder/dense model has exactly \
             {}, and a residual one `{}` and `{}` besides)",
            tensor_specs(hidden).len(),
            skip::WEIGHT,
            skip::BIAS
        )));
    }
    let scaling = meta.scaling.unwrap_or(Scaling::IDENTITY);
    // The dense head reads h = o·tanh(c), each |h| < 1: its outputs are
    // bounded by Σ|w| + |b|, in physical units times the scale plus the
    // centre. Weights and scaling whose bound passes f32's range would
    // translate into ±inf (`null` in JSON), so the file is refused here.
    let head = |name: &str| {
        params
            .get(name)
            .map_or(0.0, |v| v.iter().map(|x| x.abs() as f64).sum::<f64>())
    };
    // A residual model's skip grows with its input: bounded here for
    // inputs within a million spreads of their centre.
    let largest = |v: &mut dyn Iterator<Item = f64>| v.fold(0.0, f64::max);
    let skip_reach = params.get(skip::WEIGHT).map_or(0.0, |w| {
        let rows = w.chunks(window.max(1));
        1e6 * largest(&mut rows.map(|r| r.iter().map(|x| x.abs() as f64).sum::<f64>()))
    }) + (params.get(skip::BIAS))
        .map_or(0.0, |b| largest(&mut b.iter().map(|x| x.abs() as f64)));
    let reach = (head("dense.weight") + head("dense.bias") + skip_reach)
        * scaling.output.scale.abs()
        + scaling.output.center.abs();
    let input = scaling.input;
    if !(f64::from(f32::MIN_POSITIVE)..f64::from(f32::MAX)).contains(&input.scale)
        || input.center.abs() >= f64::from(f32::MAX)
    {
        return Err(bad(format!(
            "its input scaling (x − {}) / {} is outside f32's range, in which samples are scaled",
            input.center, input.scale
        )));
    }
    if reach >= f64::from(f32::MAX) {
        return Err(bad(format!(
            "its translations can reach ±{reach:.3e} (the dense head's Σ|w| + |b|, and a residual \
             model's skip for inputs within 1e6 spreads, times the output scale, plus its centre), \
             beyond f32's ±3.4e38: the weights or the output scaling are wrong"
        )));
    }
    let id = model_id(&specs, &params, window, scaling);
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let model = Seq2Seq::new(vb, hidden, window)?
        .with_scaling(scaling)
        .with_skip(skip.clone())?;
    let fast = crate::fast::FastModel::new(&params, hidden, window)?
        .with_scaling(scaling)
        .with_skip(skip)?;
    // Recorded by `retrain`; for older models, what the column names.
    let unit = |side: &str| {
        let m = meta.metrics.as_ref()?;
        (m.get(format!("{side}_unit").as_str())
            .and_then(|u| u.as_str()))
        .or_else(|| crate::eval::unit_of(m.get(side)?.as_str()?))
        .map(str::to_string)
    };
    let (input_unit, output_unit) = (unit("input"), unit("output"));
    let missing = (meta.metrics.as_ref())
        .and_then(|m| m["reading"]["missing"].as_array())
        .map(|codes| {
            codes
                .iter()
                .filter_map(|c| Some(c.as_f64()? as f32))
                .collect()
        })
        .unwrap_or_default();
    Ok(LoadedModel {
        model,
        fast,
        meta,
        id,
        path: path.to_path_buf(),
        input_unit,
        output_unit,
        missing,
    })
}

/// Reads a tensor of a file by name and expected shape, checked, as F32.
type ReadTensor<'a> = dyn Fn(&str, &[usize]) -> Result<(Tensor, Vec<f32>)> + 'a;

/// A residual model's skip, where the file has either of its tensors: then
/// both, of the model's window (`[W, W]` and `[W]`), finite.
fn read_skip(
    st: &SafeTensors,
    window: usize,
    read: &ReadTensor,
    bad: &dyn Fn(String) -> Error,
) -> Result<Option<Skip>> {
    let names = st.names();
    if !names.iter().any(|n| [skip::WEIGHT, skip::BIAS].contains(n)) {
        return Ok(None);
    }
    let [(wn, ws), (bn, bs)] = Skip::specs(window);
    let (_, weight) = read(&wn, &ws)?;
    let (_, bias) = read(&bn, &bs)?;
    Skip::new(window, weight, bias)
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}

/// H from the recurrent weight's shape, `[4H, H]`; a file whose weights
/// have another layout is told which tensor and how, rather than a later
/// tensor being blamed for an H read from a transposed one.
fn hidden_size(st: &SafeTensors, path: &Path) -> Result<usize> {
    let probe = "encoder.weight_hh_l0";
    let Ok(t) = st.tensor(probe) else {
        // A prefix some exports add (`model.encoder.weight_hh_l0`).
        let prefixed = st.names().into_iter().find(|n| n.ends_with(probe));
        if let Some(name) = prefixed {
            return Err(Error::ModelFormat {
                path: path.to_path_buf(),
                reason: format!(
                    "no tensor `{probe}`, but a `{name}`: name the tensors without the \
                     prefix (`{}`)",
                    name.trim_end_matches(probe)
                ),
            });
        }
        return Err(Error::TensorMissing {
            path: path.to_path_buf(),
            tensor: probe.into(),
            expected: vec![4 * DEFAULT_HIDDEN, DEFAULT_HIDDEN],
        });
    };
    match *t.shape() {
        [rows, h] if h > 0 && h.checked_mul(4) == Some(rows) => Ok(h),
        ref found => Err(Error::ModelFormat {
            path: path.to_path_buf(),
            reason: format!(
                "tensor `{probe}` has shape {found:?}, not [4H, H] for any H (PyTorch's \
                 layout; a [H, 4H] one is transposed, as Keras stores its recurrent kernel)"
            ),
        }),
    }
}

/// Serialises named F32 tensors with our metadata (as version 3 where they
/// hold a skip). Returns the file bytes.
pub fn to_bytes(
    tensors: &HashMap<String, Tensor>,
    hidden: usize,
    window: usize,
    meta: &Metadata,
) -> Result<Vec<u8>> {
    let mut specs = tensor_specs(hidden);
    // A residual model's skip (both tensors, or the missing one is said).
    let residual = [skip::WEIGHT, skip::BIAS]
        .iter()
        .any(|n| tensors.contains_key(*n));
    if residual {
        specs.extend(Skip::specs(window));
    }
    let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(specs.len());
    for (name, shape) in specs {
        let t = tensors
            .get(&name)
            .ok_or_else(|| Error::Shape(format!("tensor `{name}` missing from the model")))?;
        if t.dims() != shape.as_slice() {
            return Err(Error::Shape(format!(
                "tensor `{name}` has shape {:?}, expected {shape:?}",
                t.dims()
            )));
        }
        let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        data.push((name, shape, bytes));
    }
    let views = data
        .iter()
        .map(|(n, s, b)| Ok((n.as_str(), TensorView::new(Dtype::F32, s.clone(), b)?)))
        .collect::<std::result::Result<Vec<_>, safetensors::SafeTensorError>>()
        .map_err(|e| Error::Shape(e.to_string()))?;
    safetensors::serialize(views, Some(meta.to_map(hidden, window, residual)))
        .map_err(|e| Error::Shape(e.to_string()))
}

/// Writes a model file atomically (temp file + rename), creating the parent
/// folder. Returns the model's id (as [`load`] will say it).
pub fn save(
    path: &Path,
    tensors: &HashMap<String, Tensor>,
    hidden: usize,
    window: usize,
    meta: &Metadata,
) -> Result<String> {
    let bytes = to_bytes(tensors, hidden, window, meta)?;
    // Read back as a loader will: the id, and a check of what is written.
    let id = load_bytes(&bytes, path, Some(window))?.id;
    write_atomic(path, &bytes).map_err(|e| Error::ModelWrite {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(id)
}

/// Writes a copy of model file `src` to `dst` with `scaling` in its
/// metadata (how a tensors-only export gets its units); the weights are
/// unchanged (converted to F32). Returns the new model's id.
pub fn set_scaling(src: &Path, dst: &Path, scaling: Scaling) -> Result<String> {
    scaling.check()?;
    let loaded = load(src, None)?;
    let tensors = candle_core::safetensors::load(src, &Device::Cpu)?;
    let mut meta = Metadata {
        scaling: Some(scaling),
        ..loaded.meta
    };
    // Replacing the scaling a model was trained with changes what it
    // outputs: its recorded scores (`validation`) no longer hold. What it
    // records of its data (columns, reading, baselines, training rows) does.
    let old = loaded.meta.scaling.unwrap_or(Scaling::IDENTITY);
    let scored = (meta.metrics.as_ref()).is_some_and(|m| m.get("validation").is_some());
    if old != scaling && scored {
        tracing::warn!(
            model = %src.display(),
            "replacing the scaling the model was trained with (input (x − {}) / {}, output \
             (y − {}) / {}); its recorded scores no longer hold and are left out of the copy \
             (`pipeline eval` scores it again)",
            old.input.center, old.input.scale, old.output.center, old.output.scale
        );
        if let Some(Value::Object(m)) = meta.metrics.as_mut() {
            m.remove("validation");
        }
    }
    save(
        dst,
        &tensors,
        loaded.model.hidden(),
        loaded.model.window(),
        &meta,
    )
}

/// Writes `bytes` to `path` through a temporary sibling and a rename, so a
/// reader (or a crash) never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Current time as RFC 3339 UTC (seconds), without a date-time dependency.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = crate::recording::time::civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
