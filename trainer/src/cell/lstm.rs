//! LSTM layer (PyTorch `nn.LSTM` semantics, gate order i, f, g, o): forward and backward over
//! one window.

use rnngym_kernels::{Backend, Cell};

use super::{input_projection, recurrence, weight_grads, Input};
use super::{LayerBufs, LayerParams};

/// Forward over `t` steps of `b` rows; reads the carried state from slot 0 of `hs` / `cs`.
pub fn forward<B: Backend>(
    be: &B,
    p: &LayerParams,
    params: &B::Buf,
    x: &Input<'_, B>,
    lb: &mut LayerBufs<B>,
    t: usize,
    b: usize,
) -> rnngym_kernels::Result<()> {
    let g = p.gates;
    be.sum_rows(params, p.b_ih, 2, g, &mut lb.bias, 0, false)?;
    let bias = (&lb.bias, 0);
    input_projection(be, p, params, x, t * b, bias, &mut lb.gates, &mut lb.table)?;
    be.recurrent_forward(&recurrence(Cell::Lstm, p, t, b), params, lb.state())
}

/// Backward over the window: `lb.dhs[1..]` holds the gradient from above; writes the gate
/// gradients into `lb.gates` and the parameter gradients into `grads`.
#[allow(clippy::too_many_arguments)]
pub fn backward<B: Backend>(
    be: &B,
    p: &LayerParams,
    params: &B::Buf,
    grads: &mut B::Buf,
    x: &Input<'_, B>,
    lb: &mut LayerBufs<B>,
    t: usize,
    b: usize,
) -> rnngym_kernels::Result<()> {
    be.recurrent_backward(&recurrence(Cell::Lstm, p, t, b), params, lb.state())?;
    weight_grads(be, p, x, lb, t * b, grads)
}
