//! The model: embedding → L recurrent layers (dropout between them) → linear → softmax.
//!
//! Parameters live in one flat buffer (so clipping and the optimizer step are single calls)
//! under PyTorch's `state_dict` names (`embed.weight`, `rnn.weight_ih_l0`, …, `proj.bias`), so
//! weights are comparable with `nn.Embedding` + `nn.LSTM`/`nn.GRU`/`nn.RNN` + `nn.Linear`.
//! This file is the forward and backward passes; the parameter layout and initialisation are in
//! `model/params.rs`, the activations and the carried state in `model/workspace.rs`.

use std::sync::Arc;

use rnngym_gyms::{Features, TargetCoding};
use rnngym_kernels::{hash, Backend, Cell, Gemm, KernelError, Rows};

use crate::cell::{self, Input, LayerBufs, LayerParams};

mod lowp;
mod params;
mod workspace;

pub use lowp::{is_converted, LowpWeights};
pub use params::{param_count, ParamInfo};
use workspace::to_time_major;
pub use workspace::Workspace;

type KResult<T> = rnngym_kernels::Result<T>;

/// The sizes that define a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelDims {
    /// Recurrent cell type.
    pub cell: Cell,
    /// V: vocabulary size.
    pub vocab: usize,
    /// E: embedding size.
    pub embed: usize,
    /// H: hidden size.
    pub hidden: usize,
    /// L: recurrent layers.
    pub layers: usize,
    /// C: input ids per time step: the token, then one per extra feature channel (1 without
    /// input features). Layer 0 reads the C embeddings side by side, `C·E` wide.
    pub channels: usize,
    /// Rows of the embedding table: V for the tokens plus each feature channel's vocabulary.
    pub inputs: usize,
}

impl ModelDims {
    /// The dimensions of a model without input features (C = 1, V input rows).
    pub fn plain(cell: Cell, vocab: usize, embed: usize, hidden: usize, layers: usize) -> Self {
        ModelDims {
            cell,
            vocab,
            embed,
            hidden,
            layers,
            channels: 1,
            inputs: vocab,
        }
    }

    /// Adds feature channels of the given vocabulary sizes after the token's.
    pub fn with_channels(self, extra: &[usize]) -> Self {
        ModelDims {
            channels: 1 + extra.len(),
            inputs: self.vocab + extra.iter().sum::<usize>(),
            ..self
        }
    }

    /// Gate rows per layer: 4H (LSTM), 3H (GRU), H (RNN).
    pub fn gates(&self) -> usize {
        self.cell.gates_per_unit() * self.hidden
    }
}

/// Parameters (flat, on the device) plus their layout.
pub struct Model<B: Backend> {
    /// Sizes.
    pub dims: ModelDims,
    /// Dropout probability between layers during training.
    pub dropout: f32,
    /// Named tensors in the flat buffers.
    pub infos: Vec<ParamInfo>,
    /// Per-layer parameter offsets.
    pub layers: Vec<LayerParams>,
    /// Offset of `embed.weight` `[V, E]`.
    pub embed_off: usize,
    /// Offset of `proj.weight` `[V, H]` (followed by `proj.bias` `[V]`).
    pub proj_off: usize,
    /// Offset of `proj.bias`.
    pub proj_b_off: usize,
    /// All parameters.
    pub params: B::Buf,
    /// Their gradients (same layout).
    pub grads: B::Buf,
    /// Total number of parameters.
    pub total: usize,
    /// The input features that fill channels 1.. (set with [`Model::set_features`]).
    pub(crate) features: Option<Arc<dyn Features>>,
}

/// What a forward pass is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A training step: dropout is drawn from `dropout_seed`, and the logit gradients that
    /// [`Model::backward`] needs are kept.
    Train {
        /// Seed of this step's dropout masks (each layer mixes in its index).
        dropout_seed: u64,
    },
    /// Evaluation or generation: no dropout, no gradients.
    Eval,
}

impl<B: Backend> Model<B> {
    /// Forward over one window. `inputs` / `targets` are lane-major `[B, T]` as gyms serve them;
    /// `reset[b]` zeroes lane `b`'s carried state first. With `targets`, returns the mean
    /// cross-entropy (nats/token).
    pub fn forward(
        &self,
        be: &B,
        ws: &mut Workspace<B>,
        inputs: &[u32],
        targets: Option<&[u32]>,
        reset: &[bool],
        mode: Mode,
    ) -> KResult<Option<f64>> {
        let (t, b) = (ws.t, ws.b);
        let d = self.dims;
        self.carry_state(be, ws, reset)?;
        ws.encode_inputs(be, &d, inputs, reset)?;
        be.write_ids(&mut ws.ids, &ws.host_ids)?;
        if !ws.embed_table {
            // embed.weight is the first tensor, so the flat buffer starts with the table; the
            // C rows of a step land side by side, `[T·B, C·E]`.
            let n = t * b * d.channels;
            be.gather_rows(&self.params, d.embed, &ws.ids, n, &mut ws.x0)?;
        }
        self.layers_forward(be, ws, None, mode)?;
        let (v, rows) = (d.vocab, t * b);
        let Some(targets) = targets else {
            return Ok(None);
        };
        to_time_major(targets, t, b, d.vocab, &mut ws.host_ids)?;
        if let Some(coding) = self.target_coding() {
            // The model predicts coded ids (LPCNet's excitation), each in its step's context.
            for (id, &ctx) in ws.host_ids[..t * b].iter_mut().zip(&ws.contexts) {
                *id = coding.code(ctx, *id);
            }
        }
        be.write_ids(&mut ws.targets, &ws.host_ids[..t * b])?;
        let d_logits = match mode {
            Mode::Train { .. } => Some(&mut ws.d_logits),
            Mode::Eval => None,
        };
        let sum = be.softmax_xent(
            &ws.logits,
            rows,
            v,
            &ws.targets,
            d_logits,
            1.0 / rows as f32,
        )?;
        Ok(Some(sum / rows as f64))
    }

    /// One token through a `t = b = 1` workspace, the state carried: the per-token step of
    /// generation. With `table` (from [`Model::input_table`]) layer 0 reads its input
    /// projection from the table instead of a GEMV. The next-token logits land in the
    /// workspace ([`Workspace::read_logits`] row 0).
    pub fn step_token(
        &self,
        be: &B,
        ws: &mut Workspace<B>,
        token: u32,
        table: Option<&B::Buf>,
    ) -> KResult<()> {
        if ws.t != 1 || ws.b != 1 {
            return Err(KernelError::Shape(format!(
                "step_token needs a 1×1 workspace, got t={} b={}",
                ws.t, ws.b
            )));
        }
        let v = self.dims.vocab;
        if token as usize >= v {
            return Err(KernelError::Shape(format!(
                "token {token} is outside the vocabulary of {v}"
            )));
        }
        self.carry_state(be, ws, &[false])?;
        let (c, g) = (self.dims.channels, self.dims.gates());
        match table {
            Some(table) if c == 1 => {
                let row = token as usize * g;
                self.layers_forward(be, ws, Some((table, row)), Mode::Eval)?;
            }
            Some(table) => {
                // The step's C table rows, summed: layer 0's input projection.
                ws.encode_inputs(be, &self.dims, &[token], &[false])?;
                be.write_ids(&mut ws.ids, &ws.host_ids)?;
                let mut proj = match ws.table_scratch.take() {
                    Some(s) => s,
                    None => be.zeros(g)?,
                };
                be.gather_sum_rows(table, g, &ws.ids, c, 1, &mut proj, false)?;
                let done = self.layers_forward(be, ws, Some((&proj, 0)), Mode::Eval);
                ws.table_scratch = Some(proj);
                done?;
            }
            None => {
                ws.encode_inputs(be, &self.dims, &[token], &[false])?;
                be.write_ids(&mut ws.ids, &ws.host_ids)?;
                let (e, c) = (self.dims.embed, self.dims.channels);
                be.gather_rows(&self.params, e, &ws.ids, c, &mut ws.x0)?;
                self.layers_forward(be, ws, None, Mode::Eval)?;
            }
        }
        Ok(())
    }

    /// Sets the input features that fill channels 1..; their channel vocabularies must be the
    /// ones the model was built with ([`ModelDims::with_channels`]).
    pub fn set_features(&mut self, features: Arc<dyn Features>) -> KResult<()> {
        let want = self.dims.with_channels(features.channels());
        if want != self.dims {
            return Err(KernelError::Shape(format!(
                "the features' channels {:?} do not match the model's {} channels and {} input rows",
                features.channels(),
                self.dims.channels,
                self.dims.inputs
            )));
        }
        self.features = Some(features);
        Ok(())
    }

    /// The embedding table's blocks as `(first row, rows)`: the V token rows, then each
    /// feature channel's.
    pub fn input_blocks(&self) -> Vec<(usize, usize)> {
        let mut sizes = vec![self.dims.vocab];
        if let Some(f) = &self.features {
            sizes.extend_from_slice(f.channels());
        }
        let mut next = 0;
        (sizes.into_iter())
            .map(|n| {
                next += n;
                (next - n, n)
            })
            .collect()
    }

    /// The input features, when the model has any.
    pub fn features(&self) -> Option<&Arc<dyn Features>> {
        self.features.as_ref()
    }

    /// How the model's outputs code the next token when they are not the token itself (see
    /// [`rnngym_gyms::TargetCoding`]).
    pub fn target_coding(&self) -> Option<&dyn TargetCoding> {
        self.features.as_ref().and_then(|f| f.target_coding())
    }

    /// The mean loss over a window per token (nats), in `Mode::Eval`: the cross-entropy of
    /// [`Model::forward`], except that a model predicting coded ids is scored on the tokens
    /// their density gives ([`rnngym_gyms::TargetCoding::token_nll`]), so every model's loss
    /// is per token of the data.
    pub fn token_loss(
        &self,
        be: &B,
        ws: &mut Workspace<B>,
        inputs: &[u32],
        targets: &[u32],
        reset: &[bool],
    ) -> KResult<f64> {
        let Some(coding) = self.target_coding() else {
            let loss = self.forward(be, ws, inputs, Some(targets), reset, Mode::Eval)?;
            return Ok(loss.unwrap_or(f64::NAN));
        };
        self.forward(be, ws, inputs, None, reset, Mode::Eval)?;
        let (t, b, v) = (ws.t, ws.b, self.dims.vocab);
        let mut logits = vec![0.0f32; t * b * v];
        be.read(&ws.logits, 0, &mut logits)?;
        let mut tm = vec![0u32; t * b];
        to_time_major(targets, t, b, v, &mut tm)?;
        let mut scratch = Default::default();
        let mut sum = 0.0;
        for (row, (&tok, &ctx)) in tm.iter().zip(&ws.contexts).enumerate() {
            let z = &logits[row * v..(row + 1) * v];
            sum += row_nll(Some(coding), z, ctx, tok, &mut scratch);
        }
        Ok(sum / (t * b) as f64)
    }

    /// `[V_in, G]` layer-0 input projections of every input row: row `r` of channel `c` is
    /// `embed[r] · W_ih0[:, cE..(c+1)E]ᵀ`. A batch-1 step then adds C rows (one without
    /// features) instead of running a `G × C·E` GEMV.
    pub fn input_table(&self, be: &B) -> KResult<B::Buf> {
        self.input_table_from(be, &self.params)
    }

    /// [`Model::input_table`] of the parameters `params` (this model's layout).
    fn input_table_from(&self, be: &B, params: &B::Buf) -> KResult<B::Buf> {
        let d = self.dims;
        let (e, g, c) = (d.embed, d.gates(), d.channels);
        let mut table = be.zeros(d.inputs * g)?;
        for (ch, (base, n)) in self.input_blocks().into_iter().enumerate() {
            let mut gm = Gemm::nt(n, g, e).offsets(
                self.embed_off + base * e,
                self.layers[0].w_ih + ch * e,
                base * g,
            );
            gm.ldb = c * e;
            be.gemm(&gm, params, params, &mut table)?;
        }
        Ok(table)
    }

    /// Every layer over the workspace's window, then the logits. Layer 0 reads `ws.x0`, or
    /// with `projected = Some((buf, off))` already-projected rows of `buf`.
    fn layers_forward(
        &self,
        be: &B,
        ws: &mut Workspace<B>,
        projected: Option<(&B::Buf, usize)>,
        mode: Mode,
    ) -> KResult<()> {
        let (t, b) = (ws.t, ws.b);
        let d = self.dims;
        let h = d.hidden;
        let first = match projected {
            Some((buf, off)) => Input::Projected { buf, off },
            None => Layer0 {
                x0: &ws.x0,
                ids: ws.embed_table.then_some(&ws.ids),
                params: &self.params,
                embed_off: self.embed_off,
                vocab: d.vocab,
            }
            .input(),
        };
        for l in 0..d.layers {
            let (below, rest) = ws.layers.split_at_mut(l);
            let lb = &mut rest[0];
            let x = layer_input(below.last(), first, b * h);
            let lp = &self.layers[l];
            cell::layer::forward(be, lp, &self.params, &x, lb, &mut ws.dhs)?;
            if lb.dropout {
                let n = t * b * h;
                be.copy(&lb.hs, b * h, &mut lb.dropped, 0, n)?;
                match mode {
                    Mode::Train { dropout_seed } => {
                        let seed = hash::mix64(dropout_seed, l as u64);
                        be.dropout(&mut lb.dropped, 0, &mut lb.mask, n, self.dropout, seed)?
                    }
                    Mode::Eval => be.fill(&mut lb.mask, 0, n, 1.0)?,
                }
            }
        }
        ws.has_state = true;
        let top = &ws.layers[d.layers - 1];
        let (v, rows) = (d.vocab, t * b);
        be.broadcast_rows(&self.params, self.proj_b_off, &mut ws.logits, 0, rows, v)?;
        let g = Gemm::nt(rows, v, h)
            .offsets(b * h, self.proj_off, 0)
            .scale(1.0, 1.0);
        be.gemm(&g, &top.hs, &self.params, &mut ws.logits)
    }

    /// Backward of the last training forward: fills `self.grads` (overwriting them).
    pub fn backward(&mut self, be: &B, ws: &mut Workspace<B>) -> KResult<()> {
        let (t, b) = (ws.t, ws.b);
        let d = self.dims;
        let (h, v, rows) = (d.hidden, d.vocab, t * b);
        let top = d.layers - 1;
        // proj: d_W = d_logitsᵀ · Y, d_b = Σ rows, dY = d_logits · W.
        let g = Gemm::tn(v, h, rows).offsets(0, b * h, self.proj_off);
        be.gemm(&g, &ws.d_logits, &ws.layers[top].hs, &mut self.grads)?;
        be.sum_rows(
            &ws.d_logits,
            Rows::new(0, rows, v),
            &mut self.grads,
            self.proj_b_off,
            false,
        )?;
        let g = Gemm::nn(rows, h, v).offsets(0, self.proj_off, b * h);
        be.gemm(&g, &ws.d_logits, &self.params, &mut ws.dhs)?;
        for l in (0..d.layers).rev() {
            let (below, rest) = ws.layers.split_at_mut(l);
            let lb = &mut rest[0];
            let lp = &self.layers[l];
            {
                let first = Layer0 {
                    x0: &ws.x0,
                    ids: ws.embed_table.then_some(&ws.ids),
                    params: &self.params,
                    embed_off: self.embed_off,
                    vocab: d.vocab,
                }
                .input();
                let x = layer_input(below.last(), first, b * h);
                let (p, gr) = (&self.params, &mut self.grads);
                cell::layer::backward(be, lp, p, gr, &x, lb, &mut ws.dhs)?;
            }
            // dX = dG_x · W_ih, straight into the gradient of the layer below's output.
            let g = Gemm::nn(rows, lp.input, lp.gates).offsets(0, lp.w_ih, 0);
            match below.last_mut() {
                // d_embed = S · W_ih0 with S the per-token gate-gradient sums (cell backward
                // left them in the table): V rows instead of T·B.
                None if ws.embed_table => {
                    let ge = Gemm::nn(v, lp.input, lp.gates).offsets(0, lp.w_ih, self.embed_off);
                    be.gemm(&ge, &lb.table, &self.params, &mut self.grads)?;
                    return Ok(());
                }
                None => be.gemm(&g, &lb.gates, &self.params, &mut ws.dx0)?,
                Some(prev) => {
                    // This layer is done with `dhs`: it becomes the layer below's.
                    be.gemm(
                        &g.offsets(0, lp.w_ih, b * h),
                        &lb.gates,
                        &self.params,
                        &mut ws.dhs,
                    )?;
                    if prev.dropout {
                        be.mul_assign(&mut ws.dhs, b * h, &prev.mask, 0, rows * h)?;
                    }
                }
            }
        }
        be.fill(&mut self.grads, self.embed_off, d.inputs * d.embed, 0.0)?;
        be.scatter_add_rows(
            &ws.dx0,
            d.embed,
            &ws.ids,
            rows * d.channels,
            &mut self.grads,
            self.embed_off,
        )
    }
}

/// Where layer 0 reads from: the gathered embeddings `x0`, or (`ids` set) the embedding
/// table `params[embed_off..]` `[V, E]` with the token ids.
struct Layer0<'a, B: Backend> {
    x0: &'a B::Buf,
    ids: Option<&'a B::IBuf>,
    params: &'a B::Buf,
    embed_off: usize,
    vocab: usize,
}

impl<'a, B: Backend> Layer0<'a, B> {
    fn input(self) -> Input<'a, B> {
        match self.ids {
            Some(ids) => Input::Tokens {
                embed: self.params,
                off: self.embed_off,
                ids,
                vocab: self.vocab,
            },
            None => Input::Rows {
                buf: self.x0,
                off: 0,
            },
        }
    }
}

/// The input of a layer: `first` for layer 0, else the output of the layer below (after
/// dropout, when it has dropout).
fn layer_input<'a, B: Backend>(
    below: Option<&'a LayerBufs<B>>,
    first: Input<'a, B>,
    state_rows: usize,
) -> Input<'a, B> {
    match below {
        None => first,
        Some(prev) if prev.dropout => Input::Rows {
            buf: &prev.dropped,
            off: 0,
        },
        Some(prev) => Input::Rows {
            buf: &prev.hs,
            off: state_rows,
        },
    }
}

/// The cost in nats of token `tok` coming next under one row of logits `z`, with `ctx` the
/// lane's target context: the cross-entropy, or for a model predicting coded ids (`coding`)
/// the density its coding gives the token (what [`Model::token_loss`] averages). `scratch`
/// holds the row's exponentials and probabilities between calls.
pub(crate) fn row_nll(
    coding: Option<&dyn TargetCoding>,
    z: &[f32],
    ctx: f32,
    tok: u32,
    (exps, probs): &mut (Vec<f64>, Vec<f32>),
) -> f64 {
    exps.resize(z.len(), 0.0);
    probs.resize(z.len(), 0.0);
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for (e, &x) in exps.iter_mut().zip(z) {
        *e = f64::from(x - max).exp();
    }
    let total: f64 = exps.iter().sum();
    let Some(coding) = coding else {
        return total.ln() - f64::from(z[tok as usize] - max);
    };
    for (p, &e) in probs.iter_mut().zip(exps.iter()) {
        *p = (e / total) as f32;
    }
    coding.token_nll(ctx, probs, tok)
}
