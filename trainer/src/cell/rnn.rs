//! Vanilla tanh RNN layer (PyTorch `nn.RNN(nonlinearity = "tanh")`): forward and backward.

use rnngym_kernels::{Backend, Cell};

use super::{input_projection, recurrence, weight_grads, Input};
use super::{LayerBufs, LayerParams};

/// Forward over `t` steps of `b` rows; reads the carried state from slot 0 of `hs`.
pub fn forward<B: Backend>(
    be: &B,
    p: &LayerParams,
    params: &B::Buf,
    x: &Input<'_, B>,
    lb: &mut LayerBufs<B>,
    t: usize,
    b: usize,
) -> rnngym_kernels::Result<()> {
    let h = p.hidden;
    be.sum_rows(params, p.b_ih, 2, h, &mut lb.bias, 0, false)?;
    let bias = (&lb.bias, 0);
    input_projection(be, p, params, x, t * b, bias, &mut lb.gates, &mut lb.table)?;
    be.recurrent_forward(&recurrence(Cell::Rnn, p, t, b), params, lb.state())
}

/// Backward over the window (see [`super::lstm::backward`]).
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
    be.recurrent_backward(&recurrence(Cell::Rnn, p, t, b), params, lb.state())?;
    weight_grads(be, p, x, lb, t * b, grads)
}
