//! The model: embedding → L recurrent layers (dropout between them) → linear → softmax.
//!
//! Parameters live in one flat buffer (so clipping and the optimizer step are single calls)
//! under PyTorch's `state_dict` names (`embed.weight`, `rnn.weight_ih_l0`, …, `proj.bias`), so
//! weights are comparable with `nn.Embedding` + `nn.LSTM`/`nn.GRU`/`nn.RNN` + `nn.Linear`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rnngym_kernels::{hash, Backend, Cell, Gemm};

use crate::cell::{self, Input, LayerBufs, LayerParams};
use crate::plan::{to_usize, WorkspacePlan};

mod params;

pub use params::{param_count, ParamInfo};

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
}

impl ModelDims {
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
}

/// Activations, gradients and the carried recurrent state for one window shape `[T, B]`.
pub struct Workspace<B: Backend> {
    /// T: time steps.
    pub t: usize,
    /// B: lanes.
    pub b: usize,
    ids: B::IBuf,
    targets: B::IBuf,
    x0: B::Buf,
    dx0: B::Buf,
    /// Per-layer buffers.
    pub layers: Vec<LayerBufs<B>>,
    /// `[T + 1, B, H]` gradient w.r.t. the hidden states of the layer being back-propagated.
    /// One buffer serves every layer: the top layer's backward consumes it, then its input
    /// gradient is written over it for the layer below (preset L: 13 MB for each layer after the
    /// first).
    pub dhs: B::Buf,
    /// `[T·B, V]` logits of the last forward.
    pub logits: B::Buf,
    d_logits: B::Buf,
    has_state: bool,
    host_ids: Vec<u32>,
    /// Layer 0 works on the `[V, G]` embedding projection table (V < T·B).
    embed_table: bool,
}

impl<B: Backend> Model<B> {
    /// A model with PyTorch's default initialisation (uniform ±1/√H for recurrent and output
    /// weights and all biases, N(0, 1) embeddings), seeded by `seed`.
    pub fn new(be: &B, dims: ModelDims, dropout: f32, seed: u64) -> KResult<Self> {
        let mut layout = params::Layout::default();
        let embed_off = layout.add(params::embed_tensor(&dims))?.off;
        let mut layers = Vec::new();
        for l in 0..dims.layers {
            let [w_ih, w_hh, b_ih, b_hh] = params::layer_tensors(&dims, l);
            let w_ih = layout.add(w_ih)?;
            let (input, gates, w_ih) = (w_ih.shape[1], w_ih.shape[0], w_ih.off);
            layers.push(LayerParams {
                input,
                hidden: dims.hidden,
                gates,
                w_ih,
                w_hh: layout.add(w_hh)?.off,
                b_ih: layout.add(b_ih)?.off,
                b_hh: layout.add(b_hh)?.off,
            });
        }
        let [proj_w, proj_b] = params::proj_tensors(&dims);
        let proj_off = layout.add(proj_w)?.off;
        let proj_b_off = layout.add(proj_b)?.off;
        let params::Layout { infos, total } = layout;

        let mut rng = StdRng::seed_from_u64(seed);
        let mut host = vec![0f32; total];
        let k = 1.0 / (dims.hidden as f32).sqrt();
        for info in &infos {
            let slot = &mut host[info.off..info.off + info.len()];
            if info.name == "embed.weight" {
                let normal = rand_distr::StandardNormal;
                slot.iter_mut()
                    .for_each(|x| *x = rng.sample::<f32, _>(normal));
            } else {
                slot.iter_mut().for_each(|x| *x = rng.random_range(-k..k));
            }
        }
        Ok(Model {
            dims,
            dropout,
            infos,
            layers,
            embed_off,
            proj_off,
            proj_b_off,
            params: be.upload(&host)?,
            grads: be.zeros(total)?,
            total,
        })
    }

    /// Re-draws every parameter uniformly from `[-scale, scale]` (char-rnn's `init_scale`).
    pub fn reinit_uniform(&mut self, be: &B, scale: f32, seed: u64) -> KResult<()> {
        let mut rng = StdRng::seed_from_u64(seed);
        let host: Vec<f32> = (0..self.total)
            .map(|_| rng.random_range(-scale..=scale))
            .collect();
        be.write(&mut self.params, 0, &host)
    }

    /// Sets every LSTM layer's forget-gate bias to `value` (in `bias_ih`; `bias_hh`'s forget
    /// block to 0) — the Jozefowicz et al. trick, which `model.forget_bias` opts into. A no-op
    /// for GRU and RNN cells, which have no forget gate.
    pub fn set_forget_bias(&mut self, be: &B, value: f32) -> KResult<()> {
        // The forget gate scales the carried cell state: only a cell with one has the gate
        // (LSTM, whose second gate block it is).
        if !self.dims.cell.has_cell_state() {
            return Ok(());
        }
        let h = self.dims.hidden;
        for lp in &self.layers {
            be.fill(&mut self.params, lp.b_ih + h, h, value)?;
            be.fill(&mut self.params, lp.b_hh + h, h, 0.0)?;
        }
        Ok(())
    }

    /// The parameter named `name`.
    pub fn info(&self, name: &str) -> Option<&ParamInfo> {
        self.infos.iter().find(|i| i.name == name)
    }

    /// Allocates a workspace for windows of `t` steps × `b` lanes. Layer 0 projects the V
    /// embedding rows instead of the T·B input rows when that is less work (V < T·B; see
    /// `cell::input_projection`).
    pub fn workspace(&self, be: &B, t: usize, b: usize) -> KResult<Workspace<B>> {
        self.workspace_with(be, t, b, WorkspacePlan::embed_table_pays(&self.dims, t, b))
    }

    /// [`Model::workspace`] with the layer-0 embedding-table path chosen explicitly (tests
    /// compare the two paths).
    pub fn workspace_with(
        &self,
        be: &B,
        t: usize,
        b: usize,
        embed_table: bool,
    ) -> KResult<Workspace<B>> {
        let plan = WorkspacePlan::new(&self.dims, t, b, self.dropout > 0.0, embed_table);
        let layers = (0..self.dims.layers)
            .map(|l| LayerBufs::new(be, &plan.layer(l)))
            .collect::<KResult<Vec<_>>>()?;
        let ids = |n: u128, what: &str| be.zeros_ids(to_usize(n, what)?);
        let zeros = |n: u128, what: &str| be.zeros(to_usize(n, what)?);
        Ok(Workspace {
            embed_table,
            t,
            b,
            ids: ids(plan.ids, "token ids")?,
            targets: ids(plan.targets, "target ids")?,
            x0: zeros(plan.x0, "embeddings")?,
            dx0: zeros(plan.dx0, "embedding gradient")?,
            layers,
            dhs: zeros(plan.dhs, "hidden-state gradient")?,
            logits: zeros(plan.logits, "logits")?,
            d_logits: zeros(plan.d_logits, "logit gradient")?,
            has_state: false,
            host_ids: vec![0; to_usize(plan.ids, "token ids")?],
        })
    }

    /// Forward over one window. `inputs` / `targets` are lane-major `[B, T]` as gyms serve them;
    /// `reset[b]` zeroes lane `b`'s carried state first. With `targets`, returns the mean
    /// cross-entropy (nats/token). `train_seed` is `Some` for a training step: dropout is drawn
    /// from it and the logit gradients that [`Model::backward`] needs are kept.
    pub fn forward(
        &self,
        be: &B,
        ws: &mut Workspace<B>,
        inputs: &[u32],
        targets: Option<&[u32]>,
        reset: &[bool],
        train_seed: Option<u64>,
    ) -> KResult<Option<f64>> {
        let (t, b) = (ws.t, ws.b);
        let d = self.dims;
        self.carry_state(be, ws, reset)?;
        to_time_major(inputs, t, b, d.vocab, &mut ws.host_ids)?;
        be.write_ids(&mut ws.ids, &ws.host_ids)?;
        if !ws.embed_table {
            // embed.weight is the first tensor, so the flat buffer starts with the table.
            be.gather_rows(&self.params, d.embed, &ws.ids, t * b, &mut ws.x0)?;
        }
        self.layers_forward(be, ws, None, train_seed)?;
        let (v, rows) = (d.vocab, t * b);
        let Some(targets) = targets else {
            return Ok(None);
        };
        to_time_major(targets, t, b, d.vocab, &mut ws.host_ids)?;
        be.write_ids(&mut ws.targets, &ws.host_ids)?;
        let d_logits = train_seed.map(|_| &mut ws.d_logits);
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
            return Err(rnngym_kernels::KernelError::Shape(format!(
                "step_token needs a 1×1 workspace, got t={} b={}",
                ws.t, ws.b
            )));
        }
        let v = self.dims.vocab;
        if token as usize >= v {
            return Err(rnngym_kernels::KernelError::Shape(format!(
                "token {token} is outside the vocabulary of {v}"
            )));
        }
        self.carry_state(be, ws, &[false])?;
        match table {
            Some(table) => {
                let row = token as usize * self.dims.gates();
                self.layers_forward(be, ws, Some((table, row)), None)?;
            }
            None => {
                be.write_ids(&mut ws.ids, &[token])?;
                be.gather_rows(&self.params, self.dims.embed, &ws.ids, 1, &mut ws.x0)?;
                self.layers_forward(be, ws, None, None)?;
            }
        }
        Ok(())
    }

    /// `[V, G]` layer-0 input projections `embed[v] · W_ih0ᵀ` of every token: a batch-1 step
    /// then adds one row instead of running a `G × E` GEMV.
    pub fn input_table(&self, be: &B) -> KResult<B::Buf> {
        let (v, e, g) = (self.dims.vocab, self.dims.embed, self.dims.gates());
        let mut table = be.zeros(v * g)?;
        let gm = Gemm::nt(v, g, e).offsets(self.embed_off, self.layers[0].w_ih, 0);
        be.gemm(&gm, &self.params, &self.params, &mut table)?;
        Ok(table)
    }

    /// Every layer over the workspace's window, then the logits. Layer 0 reads `ws.x0`, or
    /// with `projected = Some((buf, off))` already-projected rows of `buf`.
    fn layers_forward(
        &self,
        be: &B,
        ws: &mut Workspace<B>,
        projected: Option<(&B::Buf, usize)>,
        train_seed: Option<u64>,
    ) -> KResult<()> {
        let (t, b) = (ws.t, ws.b);
        let d = self.dims;
        let h = d.hidden;
        for l in 0..d.layers {
            let (below, rest) = ws.layers.split_at_mut(l);
            let lb = &mut rest[0];
            let x = match (l, projected) {
                (0, Some((buf, off))) => Input {
                    buf,
                    off,
                    projected: true,
                    ids: None,
                    vocab: 0,
                },
                _ => {
                    let src = Layer0 {
                        x0: &ws.x0,
                        ids: ws.embed_table.then_some(&ws.ids),
                        params: &self.params,
                        embed_off: self.embed_off,
                        vocab: d.vocab,
                    };
                    layer_input(below.last(), src, b * h)
                }
            };
            let lp = &self.layers[l];
            cell::layer::forward(be, lp, &self.params, &x, lb, &mut ws.dhs)?;
            if lb.dropout {
                let n = t * b * h;
                be.copy(&lb.hs, b * h, &mut lb.dropped, 0, n)?;
                match train_seed {
                    Some(seed) => {
                        let seed = hash::mix64(seed, l as u64);
                        be.dropout(&mut lb.dropped, 0, &mut lb.mask, n, self.dropout, seed)?
                    }
                    None => be.fill(&mut lb.mask, 0, n, 1.0)?,
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
            0,
            rows,
            v,
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
                let src = Layer0 {
                    x0: &ws.x0,
                    ids: ws.embed_table.then_some(&ws.ids),
                    params: &self.params,
                    embed_off: self.embed_off,
                    vocab: d.vocab,
                };
                let x = layer_input(below.last(), src, b * h);
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
        be.fill(&mut self.grads, self.embed_off, v * d.embed, 0.0)?;
        be.scatter_add_rows(
            &ws.dx0,
            d.embed,
            &ws.ids,
            rows,
            &mut self.grads,
            self.embed_off,
        )
    }

    /// Moves the final state of the previous window into slot 0 and zeroes reset lanes.
    fn carry_state(&self, be: &B, ws: &mut Workspace<B>, reset: &[bool]) -> KResult<()> {
        let (t, b, h) = (ws.t, ws.b, self.dims.hidden);
        let carry = ws.has_state;
        for lb in &mut ws.layers {
            if carry {
                be.copy_within(&mut lb.hs, t * b * h, 0, b * h)?;
                if lb.cell.has_cell_state() {
                    be.copy_within(&mut lb.cs, t * b * h, 0, b * h)?;
                }
            }
            for lane in (0..b).filter(|&i| !carry || reset.get(i).copied().unwrap_or(false)) {
                be.fill(&mut lb.hs, lane * h, h, 0.0)?;
                if lb.cell.has_cell_state() {
                    be.fill(&mut lb.cs, lane * h, h, 0.0)?;
                }
            }
        }
        Ok(())
    }
}

impl<B: Backend> Workspace<B> {
    /// Forgets the carried state: the next forward starts from zeros.
    pub fn reset_state(&mut self) {
        self.has_state = false;
    }

    /// The carried state per layer: `(h, c)` as `[B, H]` each (`c` empty for GRU / RNN).
    pub fn read_state(&self, be: &B, hidden: usize) -> KResult<Vec<(Vec<f32>, Vec<f32>)>> {
        let n = self.b * hidden;
        let slot = if self.has_state { self.t * n } else { 0 };
        self.layers
            .iter()
            .map(|lb| {
                let mut h = vec![0.0; n];
                be.read(&lb.hs, slot, &mut h)?;
                let mut c = vec![0.0; if lb.cell.has_cell_state() { n } else { 0 }];
                if !c.is_empty() {
                    be.read(&lb.cs, slot, &mut c)?;
                }
                Ok((h, c))
            })
            .collect()
    }

    /// Restores a state saved by [`Workspace::read_state`] (the next forward carries it).
    pub fn write_state(&mut self, be: &B, state: &[(Vec<f32>, Vec<f32>)]) -> KResult<()> {
        let slot = self.t * self.b * state.first().map_or(0, |s| s.0.len() / self.b.max(1));
        for (lb, (h, c)) in self.layers.iter_mut().zip(state) {
            be.write(&mut lb.hs, slot, h)?;
            if !c.is_empty() {
                be.write(&mut lb.cs, slot, c)?;
            }
        }
        self.has_state = true;
        Ok(())
    }

    /// Logits row `r` of the last forward (`[V]`), copied to the host.
    pub fn read_logits(&self, be: &B, row: usize, out: &mut [f32]) -> KResult<()> {
        be.read(&self.logits, row * out.len(), out)
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

/// The input of a layer: layer 0's source, or the output of the layer below (after dropout).
fn layer_input<'a, B: Backend>(
    below: Option<&'a LayerBufs<B>>,
    src: Layer0<'a, B>,
    state_rows: usize,
) -> Input<'a, B> {
    let plain = |buf, off| Input {
        buf,
        off,
        projected: false,
        ids: None,
        vocab: 0,
    };
    match below {
        None => match src.ids {
            Some(ids) => Input {
                buf: src.params,
                off: src.embed_off,
                projected: false,
                ids: Some(ids),
                vocab: src.vocab,
            },
            None => plain(src.x0, 0),
        },
        Some(prev) if prev.dropout => plain(&prev.dropped, 0),
        Some(prev) => plain(&prev.hs, state_rows),
    }
}

/// Lane-major `[B, T]` → time-major `[T, B]`, checking every token is below `vocab`.
fn to_time_major(src: &[u32], t: usize, b: usize, vocab: usize, out: &mut [u32]) -> KResult<()> {
    if src.len() != t * b {
        return Err(rnngym_kernels::KernelError::Shape(format!(
            "window has {} tokens, expected B×T = {b}×{t}",
            src.len()
        )));
    }
    for lane in 0..b {
        for step in 0..t {
            let tok = src[lane * t + step];
            if tok as usize >= vocab {
                return Err(rnngym_kernels::KernelError::Shape(format!(
                    "token {tok} at lane {lane}, step {step} is outside the vocabulary (V = {vocab})"
                )));
            }
            out[step * b + lane] = tok;
        }
    }
    Ok(())
}
