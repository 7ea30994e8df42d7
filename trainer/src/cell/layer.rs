//! One recurrent layer over a window, for every cell: the input projection of all T steps, the
//! time loop (one backend op: the cell math itself — PyTorch's `nn.LSTM` gate order i, f, g, o;
//! `nn.GRU`'s r, z, n with `n = tanh(x_n + r · (W_hn h + b_hn))`; `nn.RNN` with tanh — lives
//! in the kernels' `recurrence` spec and cell steps), and the weight gradients.

use rnngym_kernels::{Backend, Rows};

use super::{input_projection, recurrence, weight_grads, Input};
use super::{LayerBufs, LayerParams};

/// Forward over the window of `lb`; reads the carried state from slot 0 of `hs` (and `cs`).
/// (`dhs`, the shared hidden-state gradient, is only passed through: the forward ignores it.)
pub fn forward<B: Backend>(
    be: &B,
    p: &LayerParams,
    params: &B::Buf,
    x: &Input<'_, B>,
    lb: &mut LayerBufs<B>,
    dhs: &mut B::Buf,
) -> rnngym_kernels::Result<()> {
    let (rows, g) = (lb.t * lb.b, p.gates);
    if lb.cell.has_recurrent_gates() {
        // The two biases stay apart: b_hn sits inside r · (W_hn h + b_hn).
        be.broadcast_rows(params, p.b_hh, &mut lb.gh, 0, rows, g)?;
    } else {
        // b_hh follows b_ih, so one two-row sum gives b_ih + b_hh.
        be.sum_rows(params, Rows::new(p.b_ih, 2, g), &mut lb.bias, 0, false)?;
    }
    input_projection(be, p, params, x, lb)?;
    be.recurrent_forward(&recurrence(p, lb), params, lb.state(dhs))
}

/// Backward over the window: `dhs[1..]` holds the gradient from above (it is overwritten);
/// writes the gate gradients into `lb.gates` (GRU: and `lb.gh`) and the parameter gradients
/// into `grads`.
pub fn backward<B: Backend>(
    be: &B,
    p: &LayerParams,
    params: &B::Buf,
    grads: &mut B::Buf,
    x: &Input<'_, B>,
    lb: &mut LayerBufs<B>,
    dhs: &mut B::Buf,
) -> rnngym_kernels::Result<()> {
    be.recurrent_backward(&recurrence(p, lb), params, lb.state(dhs))?;
    weight_grads(be, p, x, lb, grads)
}
