//! One recurrent layer over a window, for every cell: the input projection of all T steps, the
//! time loop (one backend op: the cell math itself — PyTorch's `nn.LSTM` gate order i, f, g, o;
//! `nn.GRU`'s r, z, n with `n = tanh(x_n + r · (W_hn h + b_hn))`; `nn.RNN` with tanh — lives
//! in the kernels' `recurrence` spec and cell steps), and the weight gradients.

use rnngym_kernels::{Backend, Cell};

use super::{input_projection, recurrence, weight_grads, Input};
use super::{LayerBufs, LayerParams};
use crate::config::CellKind;

/// The kernels' name for a configured cell.
pub(crate) fn kernel_cell(kind: CellKind) -> Cell {
    match kind {
        CellKind::Lstm => Cell::Lstm,
        CellKind::Gru => Cell::Gru,
        CellKind::Rnn => Cell::Rnn,
    }
}

/// Forward over `t` steps of `b` rows; reads the carried state from slot 0 of `hs` (and `cs`).
/// (`dhs`, the shared hidden-state gradient, is only passed through: the forward ignores it.)
#[allow(clippy::too_many_arguments)]
pub fn forward<B: Backend>(
    be: &B,
    kind: CellKind,
    p: &LayerParams,
    params: &B::Buf,
    x: &Input<'_, B>,
    lb: &mut LayerBufs<B>,
    dhs: &mut B::Buf,
    t: usize,
    b: usize,
) -> rnngym_kernels::Result<()> {
    let (cell, g) = (kernel_cell(kind), p.gates);
    if cell == Cell::Gru {
        // The two biases stay apart: b_hn sits inside r · (W_hn h + b_hn).
        be.broadcast_rows(params, p.b_hh, &mut lb.gh, 0, t * b, g)?;
        let bias = (params, p.b_ih);
        input_projection(be, p, params, x, t * b, bias, &mut lb.gates, &mut lb.table)?;
    } else {
        // b_hh follows b_ih, so one two-row sum gives b_ih + b_hh.
        be.sum_rows(params, p.b_ih, 2, g, &mut lb.bias, 0, false)?;
        let bias = (&lb.bias, 0);
        input_projection(be, p, params, x, t * b, bias, &mut lb.gates, &mut lb.table)?;
    }
    be.recurrent_forward(&recurrence(cell, p, t, b), params, lb.state(dhs))
}

/// Backward over the window: `dhs[1..]` holds the gradient from above (it is overwritten);
/// writes the gate gradients into `lb.gates` (GRU: and `lb.gh`) and the parameter gradients
/// into `grads`.
#[allow(clippy::too_many_arguments)]
pub fn backward<B: Backend>(
    be: &B,
    kind: CellKind,
    p: &LayerParams,
    params: &B::Buf,
    grads: &mut B::Buf,
    x: &Input<'_, B>,
    lb: &mut LayerBufs<B>,
    dhs: &mut B::Buf,
    t: usize,
    b: usize,
) -> rnngym_kernels::Result<()> {
    let rec = recurrence(kernel_cell(kind), p, t, b);
    be.recurrent_backward(&rec, params, lb.state(dhs))?;
    weight_grads(be, p, x, lb, t * b, grads)
}
