//! Recurrent layers: forward and backward of one layer over a whole window ([`layer`]; the
//! per-cell math is in the kernels), and the shared pieces they are built from.
//!
//! Each layer's buffers live in [`LayerBufs`]: time-major `[T, B, G]` gate blocks and
//! `[T + 1, B, H]` state blocks whose slot 0 holds the state carried in from the previous
//! window, so slot `t + 1` is the output of step `t`.

pub mod layer;

use rnngym_kernels::{Backend, Cell, Gemm, KernelError, LayerState, Recurrence, Rows};

use crate::plan::{to_usize, LayerPlan};

/// Offsets of one layer's parameters inside the flat parameter buffer.
#[derive(Clone, Copy, Debug)]
pub struct LayerParams {
    /// Input size of the layer (embedding size for layer 0, H above).
    pub input: usize,
    /// Hidden size H.
    pub hidden: usize,
    /// Gate rows G (4H LSTM, 3H GRU, H RNN).
    pub gates: usize,
    /// `weight_ih` `[G, input]`.
    pub w_ih: usize,
    /// `weight_hh` `[G, H]`.
    pub w_hh: usize,
    /// `bias_ih` `[G]`, immediately followed by `bias_hh` `[G]`.
    pub b_ih: usize,
    /// `bias_hh` `[G]`.
    pub b_hh: usize,
}

/// Per-layer activations and gradients for one window shape, allocated once.
pub struct LayerBufs<B: Backend> {
    /// The layer's cell: which of the buffers below it uses.
    pub cell: Cell,
    /// T: time steps of the window.
    pub t: usize,
    /// B: rows (lanes) of the window.
    pub b: usize,
    /// Whether dropout follows this layer (`mask` and `dropped` are allocated).
    pub dropout: bool,
    /// `[T, B, G]` gate pre-activations → activations → gate gradients (GRU: the x part).
    pub gates: B::Buf,
    /// Cells that keep their recurrent gates apart (GRU): `[T, B, G]` recurrent part
    /// `h·W_hhᵀ + b_hh` → its gradient.
    pub gh: B::Buf,
    /// `[T + 1, B, H]` hidden states.
    pub hs: B::Buf,
    /// Cells with a cell state (LSTM): `[T + 1, B, H]` cell states.
    pub cs: B::Buf,
    /// Cells with a cell state (LSTM): `[B, H]` carried gradient w.r.t. the cell state.
    pub dc: B::Buf,
    /// `[G]` scratch: `b_ih + b_hh`.
    pub bias: B::Buf,
    /// `[T, B, H]` dropout mask on this layer's output (empty without dropout).
    pub mask: B::Buf,
    /// `[T, B, H]` this layer's output after dropout (empty without dropout).
    pub dropped: B::Buf,
    /// Layer 0 when its input is token ids: `[V, G]` per-token input projections (forward),
    /// then the per-token sums of the gate gradients (backward). Empty otherwise.
    pub table: B::Buf,
}

impl<B: Backend> LayerBufs<B> {
    /// The buffers the recurrent time loop works on; `dhs` is the workspace's `[T + 1, B, H]`
    /// gradient w.r.t. `hs`, which every layer uses in turn (see `Workspace::dhs`).
    pub fn state<'a>(&'a mut self, dhs: &'a mut B::Buf) -> LayerState<'a, B::Buf> {
        LayerState {
            gates: &mut self.gates,
            gh: &mut self.gh,
            hs: &mut self.hs,
            cs: &mut self.cs,
            dhs,
            dc: &mut self.dc,
        }
    }

    /// The buffers `plan` lists.
    pub fn new(be: &B, plan: &LayerPlan) -> rnngym_kernels::Result<Self> {
        let zeros = |n: u128, what: &str| be.zeros(to_usize(n, what)?);
        Ok(LayerBufs {
            cell: plan.cell,
            t: plan.t,
            b: plan.b,
            dropout: plan.dropout,
            gates: zeros(plan.window.gates, "gates")?,
            gh: zeros(plan.window.gh, "recurrent gates")?,
            hs: zeros(plan.window.hs, "hidden states")?,
            cs: zeros(plan.window.cs, "cell states")?,
            dc: zeros(plan.window.dc, "cell-state gradient")?,
            bias: zeros(plan.bias, "bias")?,
            mask: zeros(plan.mask, "dropout mask")?,
            dropped: zeros(plan.dropped, "dropout output")?,
            table: zeros(plan.table, "embedding-projection table")?,
        })
    }
}

/// Where a layer reads its input `[T·B, input]` from.
pub enum Input<'a, B: Backend> {
    /// Rows of `buf` from element `off` (the gathered embeddings, or the layer below's output).
    Rows {
        /// The buffer holding the rows.
        buf: &'a B::Buf,
        /// Element offset of row 0.
        off: usize,
    },
    /// Rows already projected (`x · W_ihᵀ`, `[rows, G]`, e.g. a row of
    /// [`Model::input_table`](crate::Model::input_table)): the layer adds them instead of
    /// multiplying. Forward only.
    Projected {
        /// The buffer holding the projected rows.
        buf: &'a B::Buf,
        /// Element offset of row 0.
        off: usize,
    },
    /// Token ids: the input rows are rows of the embedding table, and the layer projects the
    /// V table rows once instead of the T·B input rows (see `input_projection`).
    Tokens {
        /// The buffer holding the embedding table `[V, input]`.
        embed: &'a B::Buf,
        /// Element offset of the table.
        off: usize,
        /// `[rows]` token ids.
        ids: &'a B::IBuf,
        /// V, the number of table rows.
        vocab: usize,
    },
}

// Only references and sizes inside: copyable whatever `B` is (a derive would demand `B: Copy`).
impl<B: Backend> Clone for Input<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Backend> Copy for Input<'_, B> {}

/// `lb.gates = bias + x · W_ihᵀ` for all T steps in one GEMM. The bias row is `b_ih` when the
/// cell keeps its recurrent gates apart (its `b_hh` goes into `lb.gh`), else the `b_ih + b_hh`
/// the caller left in `lb.bias`; it is broadcast to every row.
///
/// With token-id input ([`Input::Tokens`], chosen when V < T·B), the product is taken over
/// the V embedding rows instead: `table = bias + E · W_ihᵀ` (`[V, G]`), then
/// `out[r] = table[ids[r]]` — the same sums, T·B / V times fewer multiply-adds (25% of a
/// 2-layer step at H = 512, V = 65).
pub(crate) fn input_projection<B: Backend>(
    be: &B,
    p: &LayerParams,
    params: &B::Buf,
    x: &Input<'_, B>,
    lb: &mut LayerBufs<B>,
) -> rnngym_kernels::Result<()> {
    let rows = lb.t * lb.b;
    let (bias, bias_off) = if lb.cell.has_recurrent_gates() {
        (params, p.b_ih)
    } else {
        (&lb.bias, 0)
    };
    let (out, table) = (&mut lb.gates, &mut lb.table);
    match *x {
        Input::Tokens {
            embed,
            off,
            ids,
            vocab,
        } => {
            be.broadcast_rows(bias, bias_off, table, 0, vocab, p.gates)?;
            let g = Gemm::nt(vocab, p.gates, p.input)
                .offsets(off, p.w_ih, 0)
                .scale(1.0, 1.0);
            be.gemm(&g, embed, params, table)?;
            be.gather_rows(table, p.gates, ids, rows, out)
        }
        Input::Projected { buf, off } => {
            be.broadcast_rows(bias, bias_off, out, 0, rows, p.gates)?;
            for r in 0..rows {
                let (src, dst) = (off + r * p.gates, r * p.gates);
                be.sum_rows(buf, Rows::new(src, 1, p.gates), out, dst, true)?;
            }
            Ok(())
        }
        Input::Rows { buf, off } => {
            be.broadcast_rows(bias, bias_off, out, 0, rows, p.gates)?;
            let g = Gemm::nt(rows, p.gates, p.input)
                .offsets(off, p.w_ih, 0)
                .scale(1.0, 1.0);
            be.gemm(&g, buf, params, out)
        }
    }
}

/// Weight gradients shared by every cell: `d_W_ih = dGᵀ·X`, `d_W_hh = dGhᵀ·H_prev`, where
/// `dG` is `lb.gates` and `dGh` is `lb.gh` for the GRU (its recurrent part has its own
/// pre-activations), `lb.gates` otherwise.
///
/// With token-id input, `X` is rows of the embedding table, so `dGᵀ·X = Sᵀ·E` where
/// `S[v] = Σ_{r: ids[r] = v} dG[r]` (`[V, G]`, left in `lb.table` for the embedding gradient).
pub(crate) fn weight_grads<B: Backend>(
    be: &B,
    p: &LayerParams,
    x: &Input<'_, B>,
    lb: &mut LayerBufs<B>,
    grads: &mut B::Buf,
) -> rnngym_kernels::Result<()> {
    let rows = lb.t * lb.b;
    let separate = lb.cell.has_recurrent_gates();
    let d_gates_x = &lb.gates;
    let d_gates_h = if separate { &lb.gh } else { &lb.gates };
    match *x {
        Input::Tokens {
            embed,
            off,
            ids,
            vocab,
        } => {
            be.fill(&mut lb.table, 0, vocab * p.gates, 0.0)?;
            be.scatter_add_rows(d_gates_x, p.gates, ids, rows, &mut lb.table, 0)?;
            let gx = Gemm::tn(p.gates, p.input, vocab)
                .offsets(0, off, p.w_ih)
                .scale(1.0, 0.0);
            be.gemm(&gx, &lb.table, embed, grads)?;
        }
        Input::Rows { buf, off } => {
            let gx = Gemm::tn(p.gates, p.input, rows)
                .offsets(0, off, p.w_ih)
                .scale(1.0, 0.0);
            be.gemm(&gx, d_gates_x, buf, grads)?;
        }
        Input::Projected { .. } => {
            return Err(KernelError::Shape(
                "a projected input has no weight gradient (it is forward only)".into(),
            ))
        }
    }
    let gh = Gemm::tn(p.gates, p.hidden, rows)
        .offsets(0, 0, p.w_hh)
        .scale(1.0, 0.0);
    be.gemm(&gh, d_gates_h, &lb.hs, grads)?;
    be.sum_rows(d_gates_x, Rows::new(0, rows, p.gates), grads, p.b_ih, false)?;
    if !separate {
        // One gradient feeds both biases: copy the sum rather than take it twice.
        return be.copy_within(grads, p.b_ih, p.b_hh, p.gates);
    }
    be.sum_rows(d_gates_h, Rows::new(0, rows, p.gates), grads, p.b_hh, false)
}

/// The window shape of layer `p` for [`Backend::recurrent_forward`] / `_backward`.
pub(crate) fn recurrence<B: Backend>(p: &LayerParams, lb: &LayerBufs<B>) -> Recurrence {
    Recurrence {
        cell: lb.cell,
        t: lb.t,
        b: lb.b,
        h: p.hidden,
        w_hh: p.w_hh,
    }
}
