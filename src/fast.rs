//! The fast inference path in the model's physical units: the numeric
//! kernel ([`pipeline_kernel::FastModel`]: SIMD, on AVX2 one fused kernel per
//! step) wrapped with the model file's scaling, applied to the input before
//! the encoder and to the output after the dense head (identity: skipped).

use std::collections::HashMap;

pub use pipeline_kernel::kernel_name;

use crate::error::{Error, Result};
use crate::scaling::Scaling;

/// The fast path's model: the kernel's, reading and writing physical units.
#[derive(Debug, Clone)]
pub struct FastModel {
    kernel: pipeline_kernel::FastModel,
    scaling: Scaling,
}

/// Per-thread working memory; grows to the largest batch seen, then is reused.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    /// Normalised inputs (only when the model has an input scaling).
    x: Vec<f32>,
    kernel: pipeline_kernel::Scratch,
}

fn shape(e: pipeline_kernel::ShapeError) -> Error {
    Error::Shape(e.0)
}

impl FastModel {
    /// Builds from PyTorch-layout weights (names as in the model file).
    pub fn new(params: &HashMap<String, Vec<f32>>, hidden: usize, window: usize) -> Result<Self> {
        Ok(Self {
            kernel: pipeline_kernel::FastModel::new(params, hidden, window).map_err(shape)?,
            scaling: Scaling::IDENTITY,
        })
    }

    /// The same model reading and writing physical units through `scaling`.
    pub fn with_scaling(mut self, scaling: Scaling) -> Self {
        self.scaling = scaling;
        self
    }

    pub fn window(&self) -> usize {
        self.kernel.window()
    }

    pub fn hidden(&self) -> usize {
        self.kernel.hidden()
    }

    /// Translates `input` (`[B, W]` row-major, physical units) into `out`
    /// (same shape and units).
    pub fn translate_into(&self, input: &[f32], out: &mut [f32], s: &mut Scratch) -> Result<()> {
        let input = if self.scaling.input.is_identity() {
            input
        } else {
            s.x.clear();
            s.x.extend_from_slice(input);
            self.scaling.input.normalise(&mut s.x);
            &s.x[..]
        };
        self.kernel
            .translate_into(input, out, &mut s.kernel)
            .map_err(shape)?;
        self.scaling.output.denormalise(out);
        Ok(())
    }

    /// Convenience: allocates the output and scratch.
    pub fn translate_rows(&self, input: &[f32]) -> Result<Vec<f32>> {
        let mut out = vec![0f32; input.len()];
        self.translate_into(input, &mut out, &mut Scratch::default())?;
        Ok(out)
    }
}
