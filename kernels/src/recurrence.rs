//! The recurrent time loop of one layer over a window, as one backend operation.
//!
//! A layer's forward pass is `T` dependent steps of "recurrent GEMM, then pointwise cell";
//! its backward pass the same in reverse. [`forward_steps`] and [`backward_steps`] spell the
//! loops out with the single-step ops of [`Backend`] — they are the spec, and what a backend
//! runs unless it overrides [`Backend::recurrent_forward`] / [`Backend::recurrent_backward`]
//! (the CPU backend does: it packs `W_hh` once per window and gives each thread its own batch
//! rows for all `T` steps).

use crate::{Backend, Cell, CellDims, Gemm, Result};

/// Shape of one layer's window and where its recurrent weights are.
#[derive(Clone, Copy, Debug)]
pub struct Recurrence {
    /// The cell.
    pub cell: Cell,
    /// Time steps T.
    pub t: usize,
    /// Batch rows B.
    pub b: usize,
    /// Hidden units H.
    pub h: usize,
    /// Element offset of `weight_hh` (`[G, H]`, row-major) in the parameter buffer.
    pub w_hh: usize,
}

impl Recurrence {
    /// Gate rows G.
    pub fn g(&self) -> usize {
        self.cell.gates_per_unit() * self.h
    }
}

/// One layer's window buffers (time-major; state slot 0 holds the state carried in).
///
/// Unused buffers (GRU's `gh` for the other cells, LSTM's `cs` and `dc` for the others) may be
/// empty.
pub struct LayerState<'a, Buf> {
    /// `[T, B, G]`: forward: pre-activations with the input part and bias on entry,
    /// activations on exit; backward: gate gradients on exit.
    pub gates: &'a mut Buf,
    /// GRU: `[T, B, G]`: forward: `b_hh` on entry, `h·W_hhᵀ + b_hh` on exit; backward: the
    /// gradient of that on exit.
    pub gh: &'a mut Buf,
    /// `[T + 1, B, H]` hidden states.
    pub hs: &'a mut Buf,
    /// LSTM: `[T + 1, B, H]` cell states.
    pub cs: &'a mut Buf,
    /// `[T + 1, B, H]`: backward: the gradient from above in slots `1..`; on exit slot `s`
    /// holds the full gradient w.r.t. `hs[s]` (slot 0: w.r.t. the carried state).
    pub dhs: &'a mut Buf,
    /// LSTM: `[B, H]` gradient w.r.t. the cell state, carried between steps (zeroed first).
    pub dc: &'a mut Buf,
}

/// The spec of [`Backend::recurrent_forward`]: for each step, `pre += h_prev · W_hhᵀ` (into
/// `gh` for the GRU, `gates` otherwise), then the pointwise cell.
pub fn forward_steps<B: Backend + ?Sized>(
    be: &B,
    r: &Recurrence,
    params: &B::Buf,
    s: LayerState<'_, B::Buf>,
) -> Result<()> {
    let (b, h, g) = (r.b, r.h, r.g());
    let d = CellDims { b, h };
    for step in 0..r.t {
        let (g_off, h_prev, h_out) = (step * b * g, step * b * h, (step + 1) * b * h);
        let mm = Gemm::nt(b, g, h)
            .offsets(h_prev, r.w_hh, g_off)
            .scale(1.0, 1.0);
        match r.cell {
            Cell::Lstm => {
                be.gemm(&mm, s.hs, params, s.gates)?;
                be.lstm_fwd(d, s.gates, g_off, s.cs, h_prev, h_out, s.hs, h_out)?;
            }
            Cell::Gru => {
                be.gemm(&mm, s.hs, params, s.gh)?;
                be.gru_fwd(d, s.gates, g_off, s.gh, g_off, s.hs, h_prev, h_out)?;
            }
            Cell::Rnn => {
                be.gemm(&mm, s.hs, params, s.gates)?;
                be.rnn_fwd(d, s.gates, g_off, s.hs, h_out)?;
            }
        }
    }
    Ok(())
}

/// The spec of [`Backend::recurrent_backward`]: zeroes `dhs[0]` (and `dc`), then for each step
/// from the last, the pointwise cell backward and `dhs[s] += d_pre · W_hh`.
pub fn backward_steps<B: Backend + ?Sized>(
    be: &B,
    r: &Recurrence,
    params: &B::Buf,
    s: LayerState<'_, B::Buf>,
) -> Result<()> {
    let (b, h, g) = (r.b, r.h, r.g());
    let d = CellDims { b, h };
    be.fill(s.dhs, 0, b * h, 0.0)?;
    if r.cell == Cell::Lstm {
        be.fill(s.dc, 0, b * h, 0.0)?;
    }
    for step in (0..r.t).rev() {
        let (g_off, h_prev, h_out) = (step * b * g, step * b * h, (step + 1) * b * h);
        let mm = Gemm::nn(b, h, g)
            .offsets(g_off, r.w_hh, h_prev)
            .scale(1.0, 1.0);
        match r.cell {
            Cell::Lstm => {
                be.lstm_bwd(d, s.gates, g_off, s.cs, h_prev, h_out, s.dhs, h_out, s.dc)?;
                be.gemm(&mm, s.gates, params, s.dhs)?;
            }
            Cell::Gru => {
                be.gru_bwd(
                    d, s.gates, g_off, s.gh, g_off, s.hs, h_prev, s.dhs, h_out, h_prev,
                )?;
                be.gemm(&mm, s.gh, params, s.dhs)?;
            }
            Cell::Rnn => {
                be.rnn_bwd(d, s.gates, g_off, s.dhs, h_out)?;
                be.gemm(&mm, s.gates, params, s.dhs)?;
            }
        }
    }
    Ok(())
}
