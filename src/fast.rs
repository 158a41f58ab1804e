//! The fast inference path in the model's physical units: the numeric
//! kernel ([`pipeline_kernel::FastModel`]: SIMD, on AVX2 one fused kernel per
//! step) wrapped with the model file's scaling, applied to the input before
//! the encoder and to the output after the dense head (identity: skipped),
//! and a residual model's linear skip, added in between.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use pipeline_kernel::kernel_name;

use crate::error::{Error, Result};
use crate::scaling::Scaling;
use crate::skip::Skip;

/// The fast path's model: the kernel's, reading and writing physical units.
#[derive(Debug, Clone)]
pub struct FastModel {
    kernel: pipeline_kernel::FastModel,
    scaling: Scaling,
    /// A residual model's linear skip (network units).
    skip: Option<Skip>,
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
            skip: None,
        })
    }

    /// The same model reading and writing physical units through `scaling`.
    pub fn with_scaling(mut self, scaling: Scaling) -> Self {
        self.scaling = scaling;
        self
    }

    /// The same model with a linear skip (a residual model), or without;
    /// the skip must be of the model's window.
    pub fn with_skip(mut self, skip: Option<Skip>) -> Result<Self> {
        crate::skip::check_window(skip.as_ref(), self.window())?;
        self.skip = skip;
        Ok(self)
    }

    pub fn window(&self) -> usize {
        self.kernel.window()
    }

    pub fn hidden(&self) -> usize {
        self.kernel.hidden()
    }

    /// Translates `input` (`[B, W]` row-major, physical units) into `out`
    /// (same shape and units). Allocates nothing once `s` has grown to the
    /// batch (the service calls it on every batch).
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
        if let Some(skip) = &self.skip {
            skip.add(input, out);
        }
        self.scaling.output.denormalise(out);
        Ok(())
    }

    /// Convenience: allocates the output and scratch.
    pub fn translate_rows(&self, input: &[f32]) -> Result<Vec<f32>> {
        let mut out = vec![0f32; input.len()];
        self.translate_into(input, &mut out, &mut Scratch::default())?;
        Ok(out)
    }

    /// [`translate_rows`](Self::translate_rows) for many windows (a
    /// recording's held-out part: hundreds of thousands), on `threads`
    /// threads, [`CHUNK_WINDOWS`] per call, `progress(done)` after each.
    /// One call over all of them held a scaled copy of every window and the
    /// kernel's state for all at once, and said nothing for half a minute.
    pub fn translate_windows(
        &self,
        input: &[f32],
        threads: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<f32>> {
        let w = self.window().max(1);
        let mut out = vec![0f32; input.len()];
        let chunk = CHUNK_WINDOWS * w;
        let mut jobs: Vec<(&[f32], &mut [f32])> =
            input.chunks(chunk).zip(out.chunks_mut(chunk)).collect();
        let per = jobs.len().div_ceil(threads.max(1)).max(1);
        let done = AtomicUsize::new(0);
        // Reported under a lock, and only upwards: two threads' counts may
        // reach the lock in either order.
        let shown = Mutex::new(0usize);
        let run = |share: Vec<(&[f32], &mut [f32])>| -> Result<()> {
            let mut scratch = Scratch::default();
            for (x, y) in share {
                self.translate_into(x, y, &mut scratch)?;
                let now = done.fetch_add(x.len() / w, Ordering::Relaxed) + x.len() / w;
                if let Ok(mut shown) = shown.lock()
                    && now > *shown
                {
                    *shown = now;
                    progress(now);
                }
            }
            Ok(())
        };
        std::thread::scope(|s| {
            let mut handles = Vec::new();
            while jobs.len() > per {
                let share = jobs.split_off(jobs.len() - per);
                handles.push(s.spawn(|| run(share)));
            }
            let mine = run(std::mem::take(&mut jobs));
            handles.into_iter().try_for_each(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Data("a scoring thread panicked".into())))
            })?;
            mine
        })?;
        Ok(out)
    }
}

/// Windows per kernel call in [`FastModel::translate_windows`].
pub const CHUNK_WINDOWS: usize = 2048;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaling::Affine;

    /// Chunked over threads, the translations are one call's, bit for bit,
    /// and the progress reaches every window.
    #[test]
    fn many_windows_on_threads_translate_as_one_call() {
        let (hidden, window, n) = (8, 24, 2 * CHUNK_WINDOWS + 77);
        let scaling = Scaling {
            input: Affine {
                center: 3.0,
                scale: 2.0,
            },
            ..Scaling::IDENTITY
        };
        let model = FastModel::new(&crate::train::init_params(hidden, 1), hidden, window)
            .unwrap()
            .with_scaling(scaling);
        let mut rng = crate::rng::Rng::new(9);
        let input: Vec<f32> = (0..n * window).map(|_| rng.normal() as f32).collect();
        let most = AtomicUsize::new(0);
        let progress = |done: usize| {
            most.fetch_max(done, Ordering::Relaxed);
        };
        for threads in [1, 2, 3] {
            most.store(0, Ordering::Relaxed);
            let many = model.translate_windows(&input, threads, &progress).unwrap();
            assert_eq!(
                many,
                model.translate_rows(&input).unwrap(),
                "{threads} threads"
            );
            assert_eq!(most.load(Ordering::Relaxed), n);
        }
        assert!(
            model
                .translate_windows(&[], 2, &progress)
                .unwrap()
                .is_empty()
        );
    }
}
