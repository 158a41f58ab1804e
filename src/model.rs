//! The seq2seq LSTM: encoder, decoder, dense head; teacher-forced and
//! autoregressive forward passes on candle tensors.
//!
//! Parameter names and shapes are PyTorch's for a module with `nn.LSTM`
//! children `encoder` / `decoder` and an `nn.Linear` child `dense` (see
//! [`crate::format`]). Gate order is i, f, g, o, as in candle-nn.

use candle_core::{DType, Device, Tensor};
use candle_nn::rnn::{LSTMConfig, LSTMState, RNN};
use candle_nn::{LSTM, Linear, Module, VarBuilder};

use crate::error::{Error, Result};
use crate::scaling::Scaling;
use crate::skip::Skip;

/// Largest batch one model call takes; longer inputs are processed in chunks.
pub const MAX_BATCH: usize = 256;

/// The encoder-decoder. Cheap to clone (tensors are reference counted).
#[derive(Debug, Clone)]
pub struct Seq2Seq {
    encoder: LSTM,
    decoder: LSTM,
    dense: Linear,
    hidden: usize,
    window: usize,
    /// Physical units ↔ the network's, applied by [`Seq2Seq::translate_rows`]
    /// (the tensor passes work in the network's units, as training does).
    scaling: Scaling,
    /// A residual model's linear skip, added by [`Seq2Seq::translate_rows`]
    /// (the tensor passes are the network alone: what training fits).
    skip: Option<Skip>,
}

impl Seq2Seq {
    /// Builds the model from a var builder holding `encoder.*`, `decoder.*`
    /// and `dense.*` (loaded tensors, or a training `VarMap`).
    pub fn new(vb: VarBuilder, hidden: usize, window: usize) -> Result<Self> {
        if hidden == 0 || window == 0 {
            return Err(Error::Shape(format!(
                "hidden ({hidden}) and window ({window}) must be positive"
            )));
        }
        // Weights always come from the builder (a file or our own seeded
        // initialiser), so candle's init hints are never used.
        let cfg = LSTMConfig::default();
        let encoder = candle_nn::lstm(1, hidden, cfg, vb.pp("encoder"))?;
        let decoder = candle_nn::lstm(1, hidden, cfg, vb.pp("decoder"))?;
        let dense = candle_nn::linear(hidden, 1, vb.pp("dense"))?;
        Ok(Self {
            encoder,
            decoder,
            dense,
            hidden,
            window,
            scaling: Scaling::IDENTITY,
            skip: None,
        })
    }

    /// The same model with `translate_rows` reading and writing physical units.
    pub fn with_scaling(mut self, scaling: Scaling) -> Self {
        self.scaling = scaling;
        self
    }

    /// The same model with a linear skip (a residual model), or without;
    /// the skip must be of the model's window.
    pub fn with_skip(mut self, skip: Option<Skip>) -> Result<Self> {
        crate::skip::check_window(skip.as_ref(), self.window)?;
        self.skip = skip;
        Ok(self)
    }

    /// A residual model's skip.
    pub fn skip(&self) -> Option<&Skip> {
        self.skip.as_ref()
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    pub fn window(&self) -> usize {
        self.window
    }

    fn check_input(&self, t: &Tensor) -> Result<usize> {
        match t.dims() {
            [b, w] if *w == self.window && *b > 0 => Ok(*b),
            dims => Err(Error::Shape(format!(
                "expected [batch, {}], got {dims:?}",
                self.window
            ))),
        }
    }

    /// Runs the encoder over `input` `[B, W]` and returns its final (h, c).
    fn encode(&self, input: &Tensor) -> Result<LSTMState> {
        let batch = self.check_input(input)?;
        let mut state = self.encoder.zero_state(batch)?;
        for t in 0..self.window {
            state = self.encoder.step(&input.narrow(1, t, 1)?, &state)?;
        }
        Ok(state)
    }

    /// Teacher-forced pass (training): decoder step t reads `decoder_input[:, t]`.
    /// `[B, W]`, `[B, W]` → `[B, W]`.
    pub fn forward_teacher(&self, input: &Tensor, decoder_input: &Tensor) -> Result<Tensor> {
        let mut state = self.encode(input)?;
        self.check_input(decoder_input)?;
        let mut hs = Vec::with_capacity(self.window);
        for t in 0..self.window {
            state = self.decoder.step(&decoder_input.narrow(1, t, 1)?, &state)?;
            hs.push(state.h.clone());
        }
        // One dense call over all steps: [B, W, H] → [B, W, 1] → [B, W].
        let hs = Tensor::stack(&hs, 1)?;
        Ok(self.dense.forward(&hs)?.squeeze(2)?)
    }

    /// Autoregressive translation (inference): step 0 reads 0, each later step
    /// reads the previous prediction. `[B, W]` → `[B, W]`. The network alone,
    /// in its units: a residual model's skip is added by `translate_rows`.
    pub fn translate(&self, input: &Tensor) -> Result<Tensor> {
        let mut state = self.encode(input)?;
        let batch = input.dim(0)?;
        let mut y = Tensor::zeros((batch, 1), DType::F32, input.device())?;
        let mut ys = Vec::with_capacity(self.window);
        for _ in 0..self.window {
            state = self.decoder.step(&y, &state)?;
            y = self.dense.forward(&state.h)?;
            ys.push(y.clone());
        }
        Ok(Tensor::cat(&ys, 1)?)
    }

    /// Translates row-major windows `[n, W]` given as a flat slice, in
    /// batches of at most [`MAX_BATCH`], in physical units (the model's
    /// scaling applied on the way in and out, a residual model's skip added
    /// in between). Returns `[n, W]` row-major.
    pub fn translate_rows(&self, input: &[f32]) -> Result<Vec<f32>> {
        if !input.len().is_multiple_of(self.window) {
            return Err(Error::Shape(format!(
                "{} values is not a whole number of {}-sample windows",
                input.len(),
                self.window
            )));
        }
        let mut out = Vec::with_capacity(input.len());
        let mut chunk_buf = Vec::new();
        for chunk in input.chunks(MAX_BATCH * self.window) {
            let n = chunk.len() / self.window;
            let chunk = if self.scaling.input.is_identity() {
                chunk
            } else {
                chunk_buf.clear();
                chunk_buf.extend_from_slice(chunk);
                self.scaling.input.normalise(&mut chunk_buf);
                &chunk_buf[..]
            };
            let x = Tensor::from_slice(chunk, (n, self.window), &Device::Cpu)?;
            let from = out.len();
            out.extend(self.translate(&x)?.flatten_all()?.to_vec1::<f32>()?);
            if let Some(skip) = &self.skip {
                skip.add(chunk, &mut out[from..]);
            }
        }
        self.scaling.output.denormalise(&mut out);
        Ok(out)
    }
}
