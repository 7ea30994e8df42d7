//! GRU layer (PyTorch `nn.GRU` semantics, gate order r, z, n, with
//! `n = tanh(x_n + r · (W_hn h + b_hn))`): forward and backward over one window.

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
    let g = p.gates;
    // The two biases stay apart: b_hn sits inside r · (W_hn h + b_hn).
    be.broadcast_rows(params, p.b_hh, &mut lb.gh, 0, t * b, g)?;
    let bias = (params, p.b_ih);
    input_projection(be, p, params, x, t * b, bias, &mut lb.gates, &mut lb.table)?;
    be.recurrent_forward(&recurrence(Cell::Gru, p, t, b), params, lb.state())
}

/// Backward over the window (see [`super::lstm::backward`]); `lb.gh` ends up holding the
/// gradient of the recurrent pre-activations.
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
    be.recurrent_backward(&recurrence(Cell::Gru, p, t, b), params, lb.state())?;
    weight_grads(be, p, x, lb, t * b, grads)
}
